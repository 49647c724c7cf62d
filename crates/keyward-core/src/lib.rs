//! Keyward's core: everything the desktop app and the CLI do, with no UI dependency.
//!
//! - [`token`]: the key format, generation and parsing.
//! - [`hash`]: argon2id hashing of secrets.
//! - [`store`]: every rule about keys, verification and the audit log, over a
//!   [`backend::Backend`] (SQLite or PostgreSQL, in their own crates).
//! - [`models`]: the types shared with the CLI and, through ts-rs, with the UI.
//! - [`plans`]: usage plans (rate, burst, quota) and their periods.
//! - [`permissions`]: what the UI offers an operator of each database role.

pub mod backend;
pub mod clock;
pub mod error;
pub mod hash;
pub mod models;
pub mod names;
pub mod paths;
pub mod permissions;
pub mod plans;
pub mod secret;
pub mod servers;
pub mod store;
pub mod token;

pub use backend::{BackendKind, ListQueryPlan, OperatorRole};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use models::*;
pub use paths::{resolve_db_location, DbLocation};
pub use permissions::Permissions;
pub use plans::{
    validate_limits, NewPlan, Plan, PlanLimits, Quota, QuotaPeriod, QuotaUsage, UNLIMITED_PLAN,
};
pub use secret::{fingerprint, Fingerprint, SecretToken};
pub use store::{
    audit_csv, current_os_user, validate_settings, SeedReport, Store, StoreOptions,
    SEED_CREATED_BY, SEED_PURPOSES, SEED_SERVICES,
};
pub use store::{CopyCounts, CopyReport};
