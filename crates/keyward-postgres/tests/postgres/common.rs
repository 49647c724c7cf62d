//! A fresh database per test on the throwaway server `scripts/with-postgres` starts, and made-up
//! rows to fill it with.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_core::backend::{Backend, ListRequest, SeedKeyRecord};
use keyward_core::ListQuery;
use keyward_postgres::PgBackend;
use sqlx::{Connection, PgConnection};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The test server's superuser URL, without a database. Fails, never skips: a green run
/// without a server would have tested nothing.
pub fn server_url() -> String {
    match std::env::var("KEYWARD_TEST_PG") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => panic!(
            "KEYWARD_TEST_PG is not set, so these tests have no PostgreSQL server. Run them \
             through `scripts/with-postgres cargo test -p keyward-postgres` (it starts a \
             throwaway server), or set KEYWARD_TEST_PG to a superuser URL without a database, \
             e.g. postgres://postgres@127.0.0.1:5432."
        ),
    }
}

/// A new, empty database with a name no other test or run uses; its name and URL.
pub async fn new_database() -> (String, String) {
    let name = format!(
        "kw_pg_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_micros() % 1_000_000_000
    );
    let mut admin = connect(&format!("{}/postgres", server_url())).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    let url = format!("{}/{name}", server_url());
    (name, url)
}

pub async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("connect")
}

/// A new database, opened.
pub async fn open_new() -> (PgBackend, String) {
    let (_, url) = new_database().await;
    let backend = keyward_postgres::open(&url).await.expect("open");
    (backend, url)
}

/// The relations of the public schema and the migrations recorded: what "untouched" compares.
pub async fn schema_of(url: &str) -> (Vec<String>, Vec<(i64, Vec<u8>)>, Vec<String>) {
    let mut db = connect(url).await;
    let relations: Vec<(String,)> = sqlx::query_as(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut db)
    .await
    .expect("relations");
    let has_record = relations.iter().any(|(r,)| r == "_sqlx_migrations");
    let applied: Vec<(i64, Vec<u8>)> = if has_record {
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut db)
            .await
            .expect("migrations")
    } else {
        Vec::new()
    };
    let extensions: Vec<(String,)> =
        sqlx::query_as("SELECT extname::text FROM pg_extension ORDER BY 1")
            .fetch_all(&mut db)
            .await
            .expect("extensions");
    let _ = db.close().await;
    (
        relations.into_iter().map(|(r,)| r).collect(),
        applied,
        extensions.into_iter().map(|(e,)| e).collect(),
    )
}

/// A fixed "now" for made-up rows: whole seconds, so every time reads back unchanged.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 12, 0, 0)
        .single()
        .expect("a date")
}

/// A small deterministic generator: the same rows on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn base62(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(62) as usize]))
            .collect()
    }
}

/// Shorter than the core seed's lists (`keyward_core::SEED_SERVICES`), so that in a small seed
/// every case these tests look for occurs (`100% uptime` and `nightly_backup` for literal
/// wildcards, an accented name).
const SERVICES: &[&str] = &[
    "billing-api",
    "checkout",
    "search-indexer",
    "Mobile app",
    "web-frontend",
    "data warehouse",
    "Grafana",
    "nightly_backup",
    "100% uptime",
    "Ébène",
    "zeta",
    "alpha",
];
const PURPOSES: &[&str] = &[
    "production",
    "staging",
    "dev",
    "read-only",
    "deploy",
    "eu-west",
];

/// `count` made-up keys over `owners` owners: a mix of statuses, roles, expiries (some never),
/// last uses (some never) and creation times with ties, as the list must order them.
pub fn seed_rows(rng: &mut Rng, count: usize, owners: usize) -> Vec<SeedKeyRecord> {
    let now = now();
    (0..count)
        .map(|n| {
            // Minutes, so that some keys share a creation time and ties are broken by id.
            let created_at = now - Duration::minutes(rng.below(700 * 24 * 60) as i64 / 7 * 7);
            let expires_at = match rng.below(10) {
                0..=2 => None,
                3..=6 => Some(now + Duration::days(1 + rng.below(400) as i64)),
                _ => Some(created_at + Duration::days(1 + rng.below(30) as i64)),
            };
            let revoked_at = rng
                .chance(25)
                .then(|| created_at + Duration::hours(1 + rng.below(100) as i64));
            let last_used_at = rng
                .chance(60)
                .then(|| created_at + Duration::minutes(rng.below(10_000) as i64));
            SeedKeyRecord {
                id: rng.base62(10),
                name: if n % 997 == 0 {
                    // Rare, for searches that match a handful of keys.
                    format!("Quarterly payroll export {n}")
                } else {
                    format!(
                        "{} {}",
                        SERVICES[rng.below(SERVICES.len() as u64) as usize],
                        PURPOSES[rng.below(PURPOSES.len() as u64) as usize]
                    )
                },
                owner: rng.below(owners as u64) as usize,
                role: ["standard", "standard", "project", "admin"][rng.below(4) as usize]
                    .to_owned(),
                scopes: ["read", "write", "keyward:verify"]
                    .iter()
                    .filter(|_| rng.chance(40))
                    .map(|s| (*s).to_owned())
                    .collect(),
                track_usage: rng.chance(90),
                secret_last4: rng.base62(4),
                created_at,
                expires_at,
                revoked_at,
                last_used_at,
            }
        })
        .collect()
}

/// Owner names that sort differently with and without case, and one with an accent.
pub fn owner_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| match i % 4 {
            0 => format!("alice {i}"),
            1 => format!("Bob {i}"),
            2 => format!("Émile {i}"),
            _ => format!("_team {i}"),
        })
        .collect()
}

/// Seeds `count` keys over `owners` new owners in one transaction.
pub async fn seed(backend: &PgBackend, count: usize, owners: usize) -> Vec<SeedKeyRecord> {
    let rows = seed_rows(&mut Rng::new(count as u64), count, owners);
    let mut tx = backend.begin_write().await.expect("begin");
    let ids = tx
        .insert_owners(&owner_names(owners), now() - Duration::days(800))
        .await
        .expect("owners");
    let inserted = tx
        .insert_seed_keys(
            &rows,
            &ids,
            "kw",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        )
        .await
        .expect("seed");
    tx.commit().await.expect("commit");
    // Random ids could clash; these seeds never do.
    assert_eq!(inserted.len(), rows.len());
    rows
}

/// A list request as the core makes it from `query`.
pub fn request(query: &ListQuery, now: DateTime<Utc>) -> ListRequest<'_> {
    ListRequest::new(query, now)
}
