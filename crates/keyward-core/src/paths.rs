//! Where the database lives: the same default for the app and the CLI.

use std::path::PathBuf;

/// The app identifier from `tauri.conf.json`; the data directory is named after it.
pub const APP_IDENTIFIER: &str = "io.keyward.desktop";
pub const DB_FILE_NAME: &str = "keyward.db";
pub const DB_ENV_VAR: &str = "KEYWARD_DB";

/// Which database to open, and whether it is the default one (whose folder we may create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbLocation {
    pub path: PathBuf,
    pub is_default: bool,
}

/// `explicit` (a `--db` flag) wins, then `KEYWARD_DB`, then
/// `~/.local/share/io.keyward.desktop/keyward.db` (the platform data directory).
pub fn resolve_db_location(explicit: Option<PathBuf>) -> DbLocation {
    let from_env = std::env::var_os(DB_ENV_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    match explicit.or(from_env) {
        Some(path) => DbLocation {
            path,
            is_default: false,
        },
        None => DbLocation {
            path: dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join(APP_IDENTIFIER)
                .join(DB_FILE_NAME),
            is_default: true,
        },
    }
}

impl DbLocation {
    /// The location for people: a path as it is, a URL without its password (`user:secret@`
    /// becomes `user@`), so headers, logs and errors never show one.
    pub fn shown(&self) -> String {
        without_password(&self.path.to_string_lossy())
    }

    /// Creates the default data folder on first use. A path the user named is left alone: a
    /// missing folder there is more likely a typo than a wish.
    pub fn prepare(&self) -> std::io::Result<()> {
        match self.path.parent() {
            Some(parent) if self.is_default && !parent.as_os_str().is_empty() => {
                // Owner-only, like the database in it.
                let mut folder = std::fs::DirBuilder::new();
                folder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
                folder.create(parent)
            }
            _ => Ok(()),
        }
    }
}

/// `scheme://user:password@host/…` without `:password`; anything else unchanged.
pub fn without_password(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    // The authority ends at the first '/', '?' or '#'; its userinfo at the last '@' in it.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{}", without_password_parameter(tail))
}

/// A URL's path and query without a `password=` parameter (libpq accepts one there too).
fn without_password_parameter(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            !pair
                .split('=')
                .next()
                .is_some_and(|key| key.eq_ignore_ascii_case("password"))
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_never_show() {
        for (given, shown) in [
            (
                "postgres://kw:s3cr%40t@db:5432/keys",
                "postgres://kw@db:5432/keys",
            ),
            ("postgres://kw:p@ss@db/keys", "postgres://kw@db/keys"),
            (
                "postgresql://kw@db/keys?sslmode=require",
                "postgresql://kw@db/keys?sslmode=require",
            ),
            ("postgres://db/keys", "postgres://db/keys"),
            ("/home/a/keyward.db", "/home/a/keyward.db"),
            (
                "postgres://kw@db/k?password=y&sslmode=require",
                "postgres://kw@db/k?sslmode=require",
            ),
            ("postgres://kw@db/k?PASSWORD=y", "postgres://kw@db/k"),
        ] {
            assert_eq!(without_password(given), shown);
        }
    }
}
