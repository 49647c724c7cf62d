//! The server reports itself in the database (`verify_servers`) so the desktop app can show it:
//! once at start, every [`SERVER_REPORT_EVERY`] with its verifications by code (over the last
//! minute and since start), and as stopped on a clean shutdown. A report the database cannot
//! take (another writer holds it, a read-only file) is skipped silently; it runs beside the
//! requests and never delays one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use keyward_core::servers::{CodeCounts, ServerReport, SERVER_REPORT_EVERY};
use keyward_core::Store;
use rand::Rng;
use tokio::sync::watch;

use crate::check::Code;
use crate::metrics::Metrics;

const MINUTE: Duration = Duration::from_secs(60);

type Totals = [u64; Code::ALL.len()];

/// This server's row.
pub(crate) struct Reporter {
    store: Store,
    metrics: Arc<Metrics>,
    id: String,
    address: String,
    started_at: DateTime<Utc>,
    /// Totals at each report of the last minute, oldest first.
    history: VecDeque<(Instant, Totals)>,
}

fn server_id() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let tail: String = (0..16)
        .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
        .collect();
    format!("srv_{tail}")
}

fn counts(totals: &Totals, since: Option<&Totals>) -> CodeCounts {
    Code::ALL
        .iter()
        .enumerate()
        .filter_map(|(i, code)| {
            let n = totals[i].saturating_sub(since.map_or(0, |s| s[i]));
            (n > 0).then(|| (code.as_str().to_owned(), n))
        })
        .collect()
}

impl Reporter {
    pub(crate) fn new(store: Store, metrics: Arc<Metrics>, address: SocketAddr) -> Self {
        Self {
            started_at: store.now(),
            store,
            metrics,
            id: server_id(),
            address: address.to_string(),
            history: VecDeque::new(),
        }
    }

    fn totals(&self) -> Totals {
        let mut totals = [0; Code::ALL.len()];
        for (i, code) in Code::ALL.iter().enumerate() {
            totals[i] = self.metrics.count(*code);
        }
        totals
    }

    /// This moment's report; remembers the totals for the last-minute counts.
    fn report(&mut self) -> ServerReport {
        let now = Instant::now();
        let totals = self.totals();
        while self
            .history
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > MINUTE)
        {
            self.history.pop_front();
        }
        // Before a minute has passed, everything since start is the last minute.
        let minute_ago = self.history.front().map(|(_, t)| t);
        let report = ServerReport {
            id: self.id.clone(),
            address: self.address.clone(),
            pid: std::process::id(),
            started_at: self.started_at,
            last_minute: counts(&totals, minute_ago),
            since_start: counts(&totals, None),
        };
        self.history.push_back((now, totals));
        report
    }

    /// Reports now and every few seconds until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) -> Self {
        let mut every = tokio::time::interval(SERVER_REPORT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let report = self.report();
                    // Skipped when the database is busy or read-only: the next one tries again.
                    let _ = self.store.report_verify_server(&report).await;
                }
                _ = stop.changed() => return self,
            }
        }
    }

    /// The clean stop: the row says stopped, so the app no longer lists this server.
    pub(crate) async fn stopped(self) {
        let _ = self.store.verify_server_stopped(&self.id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leave_out_codes_with_none() {
        let mut totals = [0; Code::ALL.len()];
        totals[Code::Valid.index()] = 7;
        totals[Code::RateLimited.index()] = 2;
        let mut before = [0; Code::ALL.len()];
        before[Code::Valid.index()] = 5;
        before[Code::RateLimited.index()] = 2;
        assert_eq!(
            counts(&totals, None),
            CodeCounts::from([("VALID".into(), 7), ("RATE_LIMITED".into(), 2)])
        );
        assert_eq!(
            counts(&totals, Some(&before)),
            CodeCounts::from([("VALID".into(), 2)])
        );
        assert!(server_id().starts_with("srv_"));
    }
}
