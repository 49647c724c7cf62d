//! Counters for `/metrics` (Prometheus text format, written by hand) and `/healthz`.
//!
//! - `keyward_verifications_total{endpoint,code}`: checks answered, by endpoint and verdict;
//! - `keyward_verification_failures_total{endpoint}`: checks the database could not answer;
//! - `keyward_verification_duration_seconds`: a latency histogram of answered checks;
//! - `keyward_verify_cache_hits_total` / `keyward_verify_cache_misses_total`: checks that
//!   skipped argon2 because the core's verify cache held the token, and those that hashed
//!   (`Store::verify_cache_stats`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::authorize;
use crate::check::Code;
use crate::problem::{Flavor, Problem};
use crate::{refuse, request_id, ServerState};

/// The endpoints that check keys, in the order they are shown.
pub const ENDPOINTS: [&str; 3] = ["v1", "v2", "forward_auth"];

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What the server has answered since it started. Lock-free; shared by every request.
pub struct Metrics {
    started: Instant,
    by_code: [[AtomicU64; Code::ALL.len()]; ENDPOINTS.len()],
    failures: [AtomicU64; ENDPOINTS.len()],
    /// Cumulative counts per bucket, then +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            by_code: Default::default(),
            failures: Default::default(),
            buckets: Default::default(),
            sum_micros: AtomicU64::new(0),
        }
    }
}

fn endpoint_index(endpoint: &str) -> usize {
    ENDPOINTS.iter().position(|e| *e == endpoint).unwrap_or(0)
}

impl Metrics {
    pub fn record(&self, endpoint: &str, code: Code, took: Duration) {
        self.by_code[endpoint_index(endpoint)][code.index()].fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn record_failure(&self, endpoint: &str) {
        self.failures[endpoint_index(endpoint)].fetch_add(1, Ordering::Relaxed);
    }

    /// Checks answered with `code`, over every endpoint (for the app's Server screen).
    pub fn count(&self, code: Code) -> u64 {
        self.by_code
            .iter()
            .map(|row| row[code.index()].load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP keyward_verifications_total Key checks answered, by endpoint and verdict."
        );
        let _ = writeln!(out, "# TYPE keyward_verifications_total counter");
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for code in Code::ALL {
                let n = self.by_code[e][code.index()].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "keyward_verifications_total{{endpoint=\"{endpoint}\",code=\"{}\"}} {n}",
                    code.as_str()
                );
            }
        }
        let _ = writeln!(out, "# HELP keyward_verification_failures_total Key checks the database could not answer (503).");
        let _ = writeln!(out, "# TYPE keyward_verification_failures_total counter");
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            let n = self.failures[e].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keyward_verification_failures_total{{endpoint=\"{endpoint}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP keyward_verification_duration_seconds Time to answer a key check."
        );
        let _ = writeln!(
            out,
            "# TYPE keyward_verification_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keyward_verification_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "keyward_verification_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "keyward_verification_duration_seconds_sum {sum}");
        let _ = writeln!(
            out,
            "keyward_verification_duration_seconds_count {cumulative}"
        );
        let _ = writeln!(
            out,
            "# HELP keyward_uptime_seconds Seconds since the server started."
        );
        let _ = writeln!(out, "# TYPE keyward_uptime_seconds gauge");
        let _ = writeln!(
            out,
            "keyward_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        out
    }
}

/// The verify cache's counters, `(hits, misses)` as `Store::verify_cache_stats` gives them.
pub fn render_cache(out: &mut String, (hits, misses): (u64, u64)) {
    let _ = writeln!(
        out,
        "# HELP keyward_verify_cache_hits_total Checks that skipped argon2: the token was in the verify cache."
    );
    let _ = writeln!(out, "# TYPE keyward_verify_cache_hits_total counter");
    let _ = writeln!(out, "keyward_verify_cache_hits_total {hits}");
    let _ = writeln!(
        out,
        "# HELP keyward_verify_cache_misses_total Checks that ran argon2: the token was not in the verify cache."
    );
    let _ = writeln!(out, "# TYPE keyward_verify_cache_misses_total counter");
    let _ = writeln!(out, "keyward_verify_cache_misses_total {misses}");
}

/// `GET /metrics`, for a caller whose key holds `keyward:verify`.
pub async fn metrics(State(state): State<ServerState>, request: Request) -> Response {
    let id = request_id(&request);
    if let Err(problem) = authorize(&state, request.headers()).await {
        return refuse(problem, Flavor::Keyward, &id);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = state.metrics.render();
            render_cache(&mut text, state.store.verify_cache_stats());
            text
        },
    )
        .into_response()
}

/// `GET /healthz`: 200 when the database answers a read, 503 with the core's words when not.
pub async fn healthz(State(state): State<ServerState>, request: Request) -> Response {
    let id = request_id(&request);
    match state.store.settings().await {
        Ok(_) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok\n",
        )
            .into_response(),
        Err(e) => {
            let mut problem = Problem::from_core(&e);
            if problem.status != StatusCode::SERVICE_UNAVAILABLE {
                problem.status = StatusCode::SERVICE_UNAVAILABLE;
            }
            refuse(problem, Flavor::Keyward, &id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_codes_and_buckets() {
        let m = Metrics::default();
        m.record("v1", Code::Valid, Duration::from_micros(300));
        m.record("v2", Code::Revoked, Duration::from_millis(30));
        m.record("forward_auth", Code::Valid, Duration::from_secs(9));
        m.record_failure("v1");
        let text = m.render();
        assert!(text.contains("keyward_verifications_total{endpoint=\"v1\",code=\"VALID\"} 1"));
        assert!(text.contains("keyward_verifications_total{endpoint=\"v2\",code=\"REVOKED\"} 1"));
        assert!(text.contains("keyward_verification_failures_total{endpoint=\"v1\"} 1"));
        assert!(text.contains("keyward_verification_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("keyward_verification_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("keyward_verification_duration_seconds_bucket{le=\"2.5\"} 2"));
        assert!(text.contains("keyward_verification_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("keyward_verification_duration_seconds_count 3"));
        assert_eq!(m.count(Code::Valid), 2);
        let mut text = text;
        render_cache(&mut text, (7, 3));
        assert!(text.contains("\nkeyward_verify_cache_hits_total 7\n"));
        assert!(text.contains("\nkeyward_verify_cache_misses_total 3\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
