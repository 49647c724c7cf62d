//! Verify servers as the app sees them: each running server on a database writes a row about
//! itself (where it listens, since when, what it answered) when it starts and every few seconds
//! after ([`crate::Store::report_verify_server`]), so the app can show whether one is running.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A server that has not written its row for this long is taken as gone (killed, or its machine
/// off): it reports every [`SERVER_REPORT_EVERY`].
pub const SERVER_SEEN_WITHIN: Duration = Duration::seconds(15);

/// How often a running server writes its row.
pub const SERVER_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Verifications by code (`VALID`, `REVOKED`, `RATE_LIMITED`, …); codes with none may be absent.
pub type CodeCounts = BTreeMap<String, u64>;

/// A verify server running on this database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VerifyServer {
    /// Random per start (`srv_…`).
    pub id: String,
    /// What it listens on, as `127.0.0.1:8787`.
    pub address: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    /// Its last report; a running server reports every 5 seconds.
    pub last_seen: DateTime<Utc>,
    /// Verifications by code over the last minute.
    #[ts(type = "Record<string, number>")]
    pub last_minute: CodeCounts,
    /// Verifications by code since it started.
    #[ts(type = "Record<string, number>")]
    pub since_start: CodeCounts,
}

/// What a server writes about itself at start and in each report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    pub id: String,
    pub address: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub last_minute: CodeCounts,
    pub since_start: CodeCounts,
}
