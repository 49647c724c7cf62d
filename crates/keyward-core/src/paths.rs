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
