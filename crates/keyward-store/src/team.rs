//! Teams on a PostgreSQL key database: `keyward-cli team init` and `team add`. On PostgreSQL the
//! operator is the database login, and the database enforces what its Keyward role allows
//! (`keyward-postgres/src/team_sql.rs`). A SQLite file has no logins: whoever may write the
//! file may do everything, so both are refused there.

use std::path::Path;

use keyward_core::backend::OperatorRole;
use keyward_core::{Error, Result};
pub use keyward_postgres::{quoted, TeamAdded};

use crate::Location;

/// The PostgreSQL URL of `location`, or why teams cannot be set up there.
fn postgres_url(location: &Path) -> Result<&str> {
    match Location::of(location) {
        Location::Postgres(url) => Ok(url),
        Location::File(path) => Err(Error::InvalidInput(format!(
            "Teams need PostgreSQL; {} is a SQLite file, where whoever may write the file may do \
             everything. Point --db or KEYWARD_DB at a postgres:// database (keyward-cli \
             migrate-to copies this one there). Nothing was changed.",
            path.display()
        ))),
    }
}

/// Opens the database at `location` (creating or upgrading its tables, as any opening does) and
/// sets up Keyward's roles on it; the statements run, in order.
pub async fn init(location: &Path) -> Result<Vec<String>> {
    let backend = keyward_postgres::open(postgres_url(location)?).await?;
    let ran = backend.team_init().await;
    keyward_core::backend::Backend::close(&backend).await;
    ran
}

/// Gives `login` the Keyward role `role` on the database at `location`, creating the login
/// (without a password) if it does not exist.
pub async fn add(location: &Path, login: &str, role: OperatorRole) -> Result<TeamAdded> {
    let backend = keyward_postgres::open(postgres_url(location)?).await?;
    let added = backend.team_add(login, role).await;
    keyward_core::backend::Backend::close(&backend).await;
    added
}
