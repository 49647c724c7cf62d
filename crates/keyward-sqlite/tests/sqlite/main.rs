//! What is particular to the SQLite backend, through `keyward_sqlite::open` and the core's
//! `Backend` trait: opening and recognising files, backups, the list's query plans, SQLite's
//! unique violations and busy waits. The rules (limits, audit rows, verify order) are tested
//! through the core's `Store`, on every backend. One binary, as in the root crate.

mod changes;
mod list;
mod opening;
mod writes;

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use keyward_core::backend::{Backend, ListRequest, NewKeyRecord, SeedKeyRecord};
use keyward_core::ListQuery;
use keyward_sqlite::SqliteBackend;

/// A fixed time, so that every run makes the same keys: a Sunday afternoon.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T15:00:00Z")
        .expect("a time")
        .with_timezone(&Utc)
}

async fn open_at(path: &Path) -> SqliteBackend {
    keyward_sqlite::open(path, now()).await.expect("open")
}

async fn fresh() -> (tempfile::TempDir, SqliteBackend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = open_at(&dir.path().join("k.db")).await;
    (dir, backend)
}

/// The list request the core makes of `query` at `at`.
fn request(query: &ListQuery, at: DateTime<Utc>) -> ListRequest<'_> {
    ListRequest::new(query, at)
}

/// A new key's row for `owner_id` on `plan_id`, made at `now()`.
fn new_key(id: &str, name: &str, owner_id: i64, plan_id: i64) -> NewKeyRecord {
    NewKeyRecord {
        id: id.into(),
        prefix: "kw".into(),
        name: name.into(),
        owner_id,
        role: "standard".into(),
        scopes: vec!["keys:read".into()],
        track_usage: true,
        secret_last4: "abcd".into(),
        secret_hash: "$argon2id$not-a-real-hash".into(),
        created_at: now(),
        created_by: "admin".into(),
        expires_at: None,
        plan_id,
    }
}

/// Writes one key owned by "Ada" (made if missing) on the default plan; its id.
async fn add_key(backend: &SqliteBackend, id: &str, name: &str) {
    let mut tx = backend.begin_write().await.expect("begin");
    let owner = match tx.find_owner("Ada", "Ada").await.expect("find") {
        Some((id, _)) => id,
        None => tx
            .insert_owner("Ada", now())
            .await
            .expect("insert")
            .expect("a new name"),
    };
    let plan = tx.default_plan().await.expect("default plan").id;
    assert!(tx
        .insert_key(&new_key(id, name, owner, plan))
        .await
        .expect("insert key"));
    tx.commit().await.expect("commit");
}

use keyward_core::{SEED_PURPOSES as PURPOSES, SEED_SERVICES as SERVICES};
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A ten-character id of `n`, in base62 like real ids.
fn id_of(n: usize) -> String {
    let mut n = n + 1_000_000;
    (0..10)
        .map(|_| {
            let c = BASE62[n % 62];
            n /= 62;
            char::from(c)
        })
        .collect()
}

/// `count` made-up keys with eight per owner, through the seed's bulk inserts: a third active,
/// a third expired, a third revoked, created over the last `count` hours, in creation order.
async fn seed(backend: &SqliteBackend, count: usize) {
    let at = now();
    let mut tx = backend.begin_write().await.expect("begin");
    let owners: Vec<String> = (0..count.div_ceil(8))
        .map(|n| format!("Owner {n:05}"))
        .collect();
    let owner_ids = tx.insert_owners(&owners, at).await.expect("owners");
    let keys: Vec<SeedKeyRecord> = (0..count)
        .map(|n| {
            let created_at = at - Duration::hours(i64::try_from(count - n).unwrap_or(0));
            SeedKeyRecord {
                id: id_of(n),
                name: format!(
                    "{} {}",
                    SERVICES[n % SERVICES.len()],
                    PURPOSES[n % PURPOSES.len()]
                ),
                owner: n % owners.len(),
                role: ["standard", "project", "admin"][n % 3].into(),
                scopes: vec!["keys:read".into()],
                track_usage: n % 10 != 0,
                secret_last4: "abcd".into(),
                created_at,
                expires_at: match n % 3 {
                    0 => Some(at + Duration::days(i64::try_from(n % 40).unwrap_or(0) + 1)),
                    1 => Some(created_at + Duration::minutes(30)),
                    _ => None,
                },
                revoked_at: (n % 3 == 2).then_some(created_at + Duration::minutes(1)),
                last_used_at: (n % 4 == 0).then_some(created_at + Duration::seconds(5)),
            }
        })
        .collect();
    let inserted = tx
        .insert_seed_keys(&keys, &owner_ids, "kw", "$argon2id$nobody-knows")
        .await
        .expect("seed keys");
    assert_eq!(inserted.len(), count);
    tx.commit().await.expect("commit");
}
