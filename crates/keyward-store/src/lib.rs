//! Opens the key store a location names, with the backend it needs: a file path is SQLite
//! (`keyward-sqlite`), a `postgres://` or `postgresql://` URL is PostgreSQL (`keyward-postgres`).
//! The app, the CLI and `keyward-cli serve` all open their store here, so `--db`, `KEYWARD_DB`
//! and the app's setting mean the same everywhere.

pub mod team;

use std::path::Path;
use std::sync::Arc;

use keyward_core::{BackendKind, Result, Store, StoreOptions};

/// What a database location names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location<'a> {
    /// A SQLite file.
    File(&'a Path),
    /// A PostgreSQL URL (it may hold a password: never print it; `Store::location` shows it
    /// without).
    Postgres(&'a str),
}

impl<'a> Location<'a> {
    /// A path is a file unless it is a PostgreSQL URL. Only those two schemes are read as URLs;
    /// any other text is a file name (SQLite's own `file:` URIs are refused when opened).
    pub fn of(location: &'a Path) -> Self {
        match location.to_str() {
            Some(url) if is_postgres_url(url) => Self::Postgres(url),
            _ => Self::File(location),
        }
    }

    /// The backend this location opens, known before (and whether or not) it opens.
    pub fn kind(&self) -> BackendKind {
        match self {
            Self::File(_) => BackendKind::Sqlite,
            Self::Postgres(_) => BackendKind::Postgres,
        }
    }
}

/// Whether `text` is a PostgreSQL URL (`postgres://` or `postgresql://`, any case).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Opens the store at `location` with the default clock, the OS user as the author of changes
/// on SQLite and the database login on PostgreSQL.
pub async fn open(location: &Path) -> Result<Store> {
    open_with(location, StoreOptions::default()).await
}

/// [`open`] with a given clock and actor. On PostgreSQL the actor is always the database
/// login: the database enforces what that login may do, so the audit names it.
pub async fn open_with(location: &Path, options: StoreOptions) -> Result<Store> {
    match Location::of(location) {
        Location::File(path) => {
            let backend = keyward_sqlite::open(path, options.clock.now()).await?;
            Ok(Store::new(Arc::new(backend), options))
        }
        Location::Postgres(url) => {
            let backend = keyward_postgres::open(url).await?;
            let options = StoreOptions {
                actor: backend.login().to_owned(),
                ..options
            };
            Ok(Store::new(Arc::new(backend), options))
        }
    }
}

/// Copies the SQLite database at `source` to the new file `dest` without opening it as a store
/// (nothing is upgraded; a newer Keyward's file can be copied too). PostgreSQL databases are
/// backed up with `pg_dump`.
pub async fn backup_file(source: &Path, dest: &Path) -> Result<()> {
    match Location::of(source) {
        Location::File(path) => keyward_sqlite::backup_file(path, dest).await,
        Location::Postgres(_) => Err(keyward_core::Error::InvalidInput(
            "A PostgreSQL database is backed up with pg_dump (for example pg_dump --format=custom \
             --file=keys.dump DBNAME); Keyward's backup copies SQLite files. Nothing was written."
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_are_urls() {
        for url in [
            "postgres://u@h/db",
            "postgresql://h:5432/db",
            "POSTGRES://h/db",
        ] {
            assert!(matches!(
                Location::of(Path::new(url)),
                Location::Postgres(_)
            ));
        }
        for path in [
            "keys.db",
            "/tmp/postgres/keys.db",
            "postgres:/x",
            "file:keys.db",
            "./postgres://x",
        ] {
            assert!(matches!(Location::of(Path::new(path)), Location::File(_)));
        }
    }
}
