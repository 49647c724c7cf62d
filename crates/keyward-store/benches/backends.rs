//! SQLite against PostgreSQL, side by side in one run: a page of 50 (with and without a search)
//! at 100,000 keys, creating a key, and a cached verify. Each measurement alternates between the
//! two backends run by run, so other load on the machine hits both alike. Goal: PostgreSQL within
//! 2× of SQLite for a page and a cached verify on loopback.
//!
//! `make bench-backends` (a throwaway PostgreSQL server that flushes every commit, as SQLite's
//! synchronous=FULL does; `KEYWARD_TEST_PG` names it).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use keyward_core::{ExpiryChoice, ListQuery, NewKey, SecretToken, SortColumn, Store};

#[path = "../../../benches/common/mod.rs"]
mod common;
use common::percentile;

const KEYS: u32 = 100_000;
const PAGE_RUNS: usize = 400;
const VERIFY_RUNS: usize = 4_000;
const CREATE_RUNS: usize = 40;
const BENCH_DB: &str = "kw_bench_backends";

struct Backend {
    label: &'static str,
    store: Store,
    token: SecretToken,
}

/// Runs `sql` on the benchmark's PostgreSQL server, database `database`, with psql.
fn psql(database: &str, sql: &str) {
    let server = std::env::var("KEYWARD_TEST_PG")
        .expect("KEYWARD_TEST_PG is not set: run `make bench-backends`");
    let done = Command::new("psql")
        .arg(format!("{server}/{database}"))
        .args(["-X", "-q", "-c", sql])
        .status()
        .expect("psql runs");
    assert!(done.success(), "{sql}");
}

fn postgres_database() -> PathBuf {
    let server = std::env::var("KEYWARD_TEST_PG")
        .expect("KEYWARD_TEST_PG is not set: run `make bench-backends`");
    psql("postgres", &format!("CREATE DATABASE {BENCH_DB}"));
    PathBuf::from(format!("{server}/{BENCH_DB}"))
}

async fn seeded(label: &'static str, location: PathBuf) -> Backend {
    let store = keyward_store::open(&location).await.expect("open");
    let started = std::time::Instant::now();
    let report = store.seed_keys(KEYS).await.expect("seed");
    println!(
        "{label}: seeded {} keys in {:.1} s",
        report.keys,
        started.elapsed().as_secs_f64()
    );
    let created = store
        .create_key(NewKey::named("bench").expiring(ExpiryChoice::Never))
        .await
        .expect("create");
    // The first check runs argon2 and records the use; later ones are cached reads.
    assert!(store
        .verify(&created.token, &[])
        .await
        .expect("verify")
        .is_valid());
    Backend {
        label,
        store,
        token: created.token,
    }
}

/// Runs `run` on each backend in turn, `times` rounds, and prints medians, p95s and the ratio.
fn side_by_side<F>(
    runtime: &tokio::runtime::Runtime,
    what: &str,
    backends: &[Backend],
    times: usize,
    run: F,
) where
    F: for<'a> Fn(&'a Backend) -> Boxed<'a>,
{
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(times); backends.len()];
    for _ in 0..times {
        for (at, backend) in backends.iter().enumerate() {
            let started = std::time::Instant::now();
            runtime.block_on(run(backend));
            samples[at].push(started.elapsed());
        }
    }
    let medians: Vec<Duration> = samples.iter().map(|s| percentile(s, 0.5)).collect();
    let line: Vec<String> = backends
        .iter()
        .zip(&samples)
        .map(|(b, s)| {
            format!(
                "{} p50 {:>8.3} ms p95 {:>8.3} ms",
                b.label,
                percentile(s, 0.5).as_secs_f64() * 1e3,
                percentile(s, 0.95).as_secs_f64() * 1e3
            )
        })
        .collect();
    println!(
        "{what:<34} {} | ratio {:.2}",
        line.join(" | "),
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
}

/// One run's future, borrowing the backend it runs on.
type Boxed<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

fn page(query: ListQuery) -> impl for<'a> Fn(&'a Backend) -> Boxed<'a> {
    move |backend: &Backend| {
        // Cloned per run (a few strings): the future then borrows only the backend.
        let query = query.clone();
        Box::pin(async move {
            backend.store.list_keys(&query).await.expect("list");
        })
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let backends = runtime.block_on(async {
        vec![
            seeded("sqlite", dir.path().join("bench.db")).await,
            seeded("postgres", postgres_database()).await,
        ]
    });
    // What autovacuum does within a minute of a bulk insert: the visibility map that lets
    // PostgreSQL count and page from its indexes alone. (SQLite has nothing to catch up on.)
    psql(BENCH_DB, "VACUUM ANALYZE");
    println!("medians of interleaved runs; ratio = postgres / sqlite");
    let search = |term: &str| ListQuery {
        search: Some(term.to_owned()),
        limit: 50,
        ..ListQuery::default()
    };
    let pages = [
        ("page: newest first", ListQuery::default()),
        ("page: search \"production\"", search("production")),
        ("page: search \"billing\"", search("billing")),
        ("page: search \"bi\"", search("bi")),
        ("page: search \"zq\" (~1 in 100 keys)", search("zq")),
        ("page: search \"e\" (one character)", search("e")),
        ("page: search \"ü\" (no key)", search("ü")),
        (
            "page: sorted by name",
            ListQuery {
                sort: SortColumn::Name,
                ..ListQuery::default()
            },
        ),
    ];
    for (what, query) in pages {
        side_by_side(&runtime, what, &backends, PAGE_RUNS, page(query));
    }
    side_by_side(
        &runtime,
        "verify (cached)",
        &backends,
        VERIFY_RUNS,
        |b| -> Boxed<'_> {
            Box::pin(async move {
                let verdict = b.store.verify(&b.token, &[]).await.expect("verify");
                assert!(verdict.is_valid());
            })
        },
    );
    side_by_side(
        &runtime,
        "create key",
        &backends,
        CREATE_RUNS,
        |b| -> Boxed<'_> {
            Box::pin(async move {
                b.store
                    .create_key(NewKey {
                        override_limit: true,
                        ..NewKey::named("bench").expiring(ExpiryChoice::Days(90))
                    })
                    .await
                    .expect("create");
            })
        },
    );
    runtime.block_on(async {
        for backend in &backends {
            backend.store.close().await;
        }
    });
}
