//! Keyward's SQLite backend: the keys in one local file, for one person.
//!
//! - [`open()`] checks the path, recognises the file (new, Keyward's, a newer Keyward's, another
//!   program's, damaged), backs an older schema up and upgrades it, and opens read-only when the
//!   file cannot be written.
//! - [`SqliteBackend`] is the core's [`keyward_core::backend::Backend`] on that file.
//! - [`backup_file`] copies a database no store has open.
//! - `changes`: the change counter of live views (`PRAGMA data_version`, then the audit log).
//!
//! Every rule (validation, limits, audit details, the verify order) is the core's; this crate
//! only reads and writes rows, and turns SQLite's failures into the core's plain words.

mod audit;
mod backend;
mod backup;
mod busy;
mod changes;
mod error;
mod files;
mod inspect;
mod keys;
mod list;
mod list_sql;
mod open;
mod open_errors;
mod open_lock;
mod owners;
mod plans;
mod quota;
mod rows;
mod search;
mod seed;
mod servers;
mod settings;
mod snapshot;
mod verify;
mod write_tx;

pub use backend::SqliteBackend;
pub use backup::backup_file;
pub use open::open;
