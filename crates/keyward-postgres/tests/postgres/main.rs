//! What the PostgreSQL backend does underneath the trait: opening, SQL, locks, notifications,
//! snapshots. One test binary with one shared helper module (`common`), as in ripgrep; the
//! rules built on top are tested on both backends in `keyward-store`'s suite.

mod changes;
mod common;
mod list_order;
mod open;
mod query_plans;
mod snapshot;
mod writes;
