//! Made-up keys for trying the app, the list and verification at scale (`keyward-cli dev seed`).
//!
//! Seeding must be fast (100,000 keys in seconds), so it does not run argon2 per key: every seeded
//! row carries one PHC string, hashed once per run from a random secret that is then dropped, so
//! no one can know a seeded key's secret. On top of that, rows are marked `seeded = 1` and
//! [`Store::verify`] refuses them outright.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use super::Store;
use crate::backend::{SeedKeyRecord, WriteTx};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{KeyStatus, Role, Settings, EXPIRY_PRESET_DAYS};
use crate::token::{self, ID_LEN, SECRET_LEN};

/// Recorded as "created by" on every seeded key, next to the `seeded` column.
pub const SEED_CREATED_BY: &str = "seed";

/// Keys per new owner. With [`ACTIVE_PERCENT`] of keys meant to be active and none past one
/// below the per-owner limit (4 of 5), an owner has 3 active keys on average, so the limit stays
/// plausible without thousands of owners at it. 100,000 keys gives 12,500 owners.
const KEYS_PER_OWNER: u32 = 8;

/// The status mix, in percent of keys, and the one place it is stated (the README points here):
/// 45 are made active, 35 expired, and the other 20 revoked. A key meant to be active whose owner
/// already has as many active keys as the cap allows is made expired instead, so with the default
/// limit about 38% end up active and 42% expired (a test below checks those two numbers).
const ACTIVE_PERCENT: u32 = 45;
/// See [`ACTIVE_PERCENT`].
const EXPIRED_PERCENT: u32 = 35;

/// How far back seeded keys were created.
const HISTORY_DAYS: i64 = 730;

/// What [`Store::seed_keys`] added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub keys: u32,
    pub owners: u32,
    pub active: u32,
    pub expired: u32,
    pub revoked: u32,
}

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Aiko",
    "Alejandro",
    "Amara",
    "Anders",
    "Anika",
    "Arjun",
    "Astrid",
    "Beatriz",
    "Bilal",
    "Camille",
    "Carlos",
    "Chen",
    "Chiara",
    "Dara",
    "Dmitri",
    "Elena",
    "Emeka",
    "Emil",
    "Fatima",
    "Felix",
    "Freya",
    "Gabriel",
    "Hana",
    "Hassan",
    "Ingrid",
    "Isaac",
    "Ivana",
    "Jamal",
    "Jana",
    "Javier",
    "Jonas",
    "Julia",
    "Kai",
    "Kenji",
    "Lars",
    "Leila",
    "Lena",
    "Liam",
    "Lucia",
    "Mateo",
    "Maya",
    "Mei",
    "Mira",
    "Nadia",
    "Nia",
    "Nikolai",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Oskar",
    "Paula",
    "Priya",
    "Rafael",
    "Rania",
    "Ravi",
    "Rosa",
    "Samir",
    "Sara",
    "Sofia",
    "Sven",
    "Tariq",
    "Tomas",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoe",
];

const LAST_NAMES: &[&str] = &[
    "Abebe",
    "Andersson",
    "Bauer",
    "Becker",
    "Bianchi",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Gonzalez",
    "Haddad",
    "Hansen",
    "Hoffmann",
    "Ivanova",
    "Jensen",
    "Kaur",
    "Khan",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Perez",
    "Petrov",
    "Popescu",
    "Ricci",
    "Rossi",
    "Santos",
    "Schmidt",
    "Schneider",
    "Silva",
    "Singh",
    "Sato",
    "Tanaka",
    "Torres",
    "Wagner",
    "Wang",
    "Weber",
    "Yamamoto",
    "Yilmaz",
    "Zhang",
    "Zimmermann",
];

/// The services a made-up key's name starts with; backends' own tests make their rows from
/// these too.
pub const SEED_SERVICES: &[&str] = &[
    "billing-api",
    "checkout",
    "search-indexer",
    "mobile-app",
    "web-frontend",
    "data-warehouse",
    "CI pipeline",
    "Grafana",
    "nightly-backup",
    "support-portal",
    "recommendations",
    "payments",
    "inventory-sync",
    "email-sender",
    "analytics",
    "auth-gateway",
    "partner-feed",
    "reporting",
    "chat-assistant",
    "image-resizer",
    "ledger",
    "notifications",
    "crm-export",
    "fraud-scoring",
    "order-service",
    "pricing",
    "shipping-labels",
    "status-page",
    "feature-flags",
    "log-shipper",
];

/// What a made-up key is for, the second half of its name.
pub const SEED_PURPOSES: &[&str] = &[
    "production",
    "staging",
    "dev",
    "read-only",
    "deploy",
    "metrics",
    "integration tests",
    "eu-west",
    "us-east",
    "sandbox",
    "load test",
    "local laptop",
    "cron job",
    "migration",
];

/// One made-up key before it is written.
struct SeedRow {
    /// What the row was made to be at the seed's time (a test checks that it is).
    status: KeyStatus,
    id: String,
    name: String,
    owner: usize,
    role: Role,
    scopes: Vec<String>,
    track_usage: bool,
    secret_last4: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

fn between(rng: &mut StdRng, from: i64, to: i64) -> i64 {
    if to <= from {
        from
    } else {
        rng.gen_range(from..to)
    }
}

/// Owner names that look like people ("Maya K. Lopez"), none already taken (compared without
/// case, as owners are). About 200,000 combinations; past that a number is added.
fn owner_names(rng: &mut StdRng, count: usize, taken: &mut HashSet<String>) -> Vec<String> {
    let mut names = Vec::with_capacity(count);
    let mut attempt = 0u64;
    while names.len() < count {
        attempt += 1;
        let mut name = format!(
            "{} {}. {}",
            FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())],
            char::from(b'A' + rng.gen_range(0..26u8)),
            LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())]
        );
        // Random names collide more often as the combinations run out; a suffix always helps.
        if attempt > 4 * count as u64 {
            name = format!("{name} {attempt}");
        }
        if taken.insert(name.to_lowercase()) {
            names.push(name);
        }
    }
    names
}

/// The status a new key should end up with, in the mix of [`ACTIVE_PERCENT`], with no owner
/// above `active_cap` active keys.
fn pick_status(rng: &mut StdRng, owner_active: &mut u32, active_cap: u32) -> KeyStatus {
    let roll = rng.gen_range(0..100);
    if roll < ACTIVE_PERCENT && *owner_active < active_cap {
        *owner_active += 1;
        KeyStatus::Active
    } else if roll < ACTIVE_PERCENT + EXPIRED_PERCENT {
        KeyStatus::Expired
    } else {
        KeyStatus::Revoked
    }
}

/// Expiry for a key created at `created` that must be active at `now`: a preset still running,
/// a date in the future, or never.
fn active_expiry(rng: &mut StdRng, created: i64, now: i64) -> Option<i64> {
    let day = Duration::days(1).num_milliseconds();
    let running: Vec<i64> = EXPIRY_PRESET_DAYS
        .iter()
        .map(|&d| created + i64::from(d) * day)
        .filter(|&at| at > now)
        .collect();
    match rng.gen_range(0..10) {
        0..=6 if !running.is_empty() => Some(running[rng.gen_range(0..running.len())]),
        0..=7 => Some(now + rng.gen_range(1..540) * day),
        _ => None,
    }
}

/// Expiry already past at `now`: a preset that ran out, or a date between creation and now.
fn past_expiry(rng: &mut StdRng, created: i64, now: i64) -> i64 {
    let day = Duration::days(1).num_milliseconds();
    let over: Vec<i64> = EXPIRY_PRESET_DAYS
        .iter()
        .map(|&d| created + i64::from(d) * day)
        .filter(|&at| at <= now)
        .collect();
    if !over.is_empty() && rng.gen_bool(0.8) {
        over[rng.gen_range(0..over.len())]
    } else {
        between(rng, created + 1, now)
    }
}

fn make_row(
    rng: &mut StdRng,
    owner: usize,
    status: KeyStatus,
    catalogue: &[String],
    now: i64,
) -> SeedRow {
    let day = Duration::days(1).num_milliseconds();
    let created_at = between(rng, now - HISTORY_DAYS * day, now - 60_000);
    let (expires_at, revoked_at) = match status {
        KeyStatus::Active => (active_expiry(rng, created_at, now), None),
        KeyStatus::Expired => (Some(past_expiry(rng, created_at, now)), None),
        KeyStatus::Revoked => {
            let expires_at = if rng.gen_bool(0.5) {
                active_expiry(rng, created_at, now)
            } else {
                Some(past_expiry(rng, created_at, now))
            };
            let end = expires_at.map_or(now, |at| at.min(now));
            (expires_at, Some(between(rng, created_at + 1, end)))
        }
    };
    let track_usage = rng.gen_bool(0.9);
    let last_used_at = (track_usage && rng.gen_bool(0.75)).then(|| {
        let end = [Some(now), expires_at, revoked_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        between(rng, created_at, end)
    });
    let role = match rng.gen_range(0..10) {
        0..=6 => Role::Standard,
        7..=8 => Role::Project,
        _ => Role::Admin,
    };
    let scopes: Vec<&String> = catalogue.iter().filter(|_| rng.gen_bool(0.4)).collect();
    let mut name = format!(
        "{} {}",
        SEED_SERVICES[rng.gen_range(0..SEED_SERVICES.len())],
        SEED_PURPOSES[rng.gen_range(0..SEED_PURPOSES.len())]
    );
    if rng.gen_bool(0.3) {
        name.push_str(&format!(" #{}", rng.gen_range(2..100)));
    }
    SeedRow {
        status,
        id: token::random_base62_from(rng, ID_LEN),
        name,
        owner,
        role,
        scopes: scopes.into_iter().cloned().collect(),
        track_usage,
        secret_last4: token::random_base62_from(rng, 4),
        created_at,
        expires_at,
        revoked_at,
        last_used_at,
    }
}

fn record(row: &SeedRow) -> SeedKeyRecord {
    SeedKeyRecord {
        id: row.id.clone(),
        name: row.name.clone(),
        owner: row.owner,
        role: row.role.as_str().to_owned(),
        scopes: row.scopes.clone(),
        track_usage: row.track_usage,
        secret_last4: row.secret_last4.clone(),
        created_at: from_millis(row.created_at),
        expires_at: row.expires_at.map(from_millis),
        revoked_at: row.revoked_at.map(from_millis),
        last_used_at: row.last_used_at.map(from_millis),
    }
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `count` made-up keys for `owner_count` owners, in creation order, as real keys arrive (the
/// list's indexes then grow at one end). One below the limit is the most active keys an owner
/// gets, so creating a key for any seeded owner still works.
fn made_up_rows(
    rng: &mut StdRng,
    count: u32,
    owner_count: usize,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<SeedRow> {
    let active_cap = settings.owner_key_limit.saturating_sub(1).max(1);
    let mut owner_active = vec![0u32; owner_count];
    let now_ms = now.timestamp_millis();
    let mut rows: Vec<SeedRow> = (0..count)
        .map(|_| {
            let owner = rng.gen_range(0..owner_count);
            let status = pick_status(rng, &mut owner_active[owner], active_cap);
            make_row(rng, owner, status, &settings.scope_catalogue, now_ms)
        })
        .collect();
    rows.sort_by_key(|r| r.created_at);
    rows
}

/// What was added: the rows the database took, by status. A random id that clashes with an
/// existing one (about one in 10^8 at 100,000 keys) was skipped, and is not counted.
fn tally(rows: &[SeedRow], inserted: &HashSet<String>, owners: usize) -> SeedReport {
    let mut report = SeedReport {
        keys: u32::try_from(inserted.len()).unwrap_or(u32::MAX),
        owners: u32::try_from(owners).unwrap_or(u32::MAX),
        active: 0,
        expired: 0,
        revoked: 0,
    };
    for row in rows.iter().filter(|r| inserted.contains(&r.id)) {
        match row.status {
            KeyStatus::Active => report.active += 1,
            KeyStatus::Expired => report.expired += 1,
            KeyStatus::Revoked => report.revoked += 1,
        }
    }
    report
}

impl Store {
    /// Adds `count` made-up keys (and owners for them) in one transaction with one
    /// `keys_seeded` audit row. For trying the app at scale, never for real use: seeded keys are
    /// marked (`seeded`, created by [`SEED_CREATED_BY`]) and never verify.
    pub async fn seed_keys(&self, count: u32) -> Result<SeedReport> {
        self.ensure_writable()?;
        if count == 0 {
            return Err(Error::InvalidInput("Seed at least one key.".into()));
        }
        let now = self.clock.now();
        let settings = self.settings().await?;
        let mut rng = StdRng::from_entropy();
        // The one hash every seeded row carries: of a secret nobody ever sees.
        let unknown_secret = zeroize::Zeroizing::new(token::random_base62(SECRET_LEN));
        let phc = hash::hash_secret(unknown_secret).await?;

        let mut tx = self.begin_write().await?;
        let owner_ids = seed_owners(&mut *tx, &mut rng, count, now).await?;
        let rows = made_up_rows(&mut rng, count, owner_ids.len(), &settings, now);
        // All in one call: each backend splits it into statements its own way, and does once
        // what a bulk insert needs once (SQLite: a larger page cache; PostgreSQL: fresh
        // statistics for the planner), which per batch would be repeated or, on PostgreSQL,
        // stop once the table looked big enough to the planner.
        let records: Vec<SeedKeyRecord> = rows.iter().map(record).collect();
        let inserted = tx
            .insert_seed_keys(&records, &owner_ids, &settings.key_prefix, &phc)
            .await?;
        let report = tally(&rows, &inserted, owner_ids.len());
        if report.keys == 0 {
            return Err(Error::Unavailable(
                "Seeding stopped: the database refused every made-up key.".into(),
            ));
        }
        self.audit(&mut *tx, now, "keys_seeded", None, json!(report))
            .await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// New owners for `count` keys, [`KEYS_PER_OWNER`] each, with names not yet taken; their ids.
async fn seed_owners(
    tx: &mut dyn WriteTx,
    rng: &mut StdRng,
    count: u32,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let mut taken = tx.owner_names().await?;
    let owner_count = count.div_ceil(KEYS_PER_OWNER) as usize;
    let names = owner_names(rng, owner_count, &mut taken);
    // Owners came before their oldest keys.
    let owners_since = now - Duration::days(HISTORY_DAYS + 30);
    tx.insert_owners(&names, owners_since).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_rows_have_the_status_they_were_made_for() {
        let mut rng = StdRng::seed_from_u64(7);
        let now = Utc::now();
        let now_ms = now.timestamp_millis();
        let catalogue = vec!["read".to_owned(), "write".to_owned()];
        for status in [KeyStatus::Active, KeyStatus::Expired, KeyStatus::Revoked] {
            for _ in 0..2_000 {
                let row = make_row(&mut rng, 0, status, &catalogue, now_ms);
                let derived = KeyStatus::derive(
                    now,
                    row.expires_at.map(from_millis),
                    row.revoked_at.map(from_millis),
                );
                assert_eq!(derived, status);
                assert_eq!(row.status, status);
                assert!(row.created_at < now_ms);
                assert!(row
                    .last_used_at
                    .is_none_or(|at| at >= row.created_at && at <= now_ms));
                assert!(row.revoked_at.is_none_or(|at| at > row.created_at));
                assert!(
                    crate::models::validate_name(&row.name).is_ok(),
                    "{}",
                    row.name
                );
            }
        }
    }

    /// The mix [`ACTIVE_PERCENT`] states, at the default limit, within a point.
    #[test]
    fn the_status_mix_is_the_one_documented() {
        let mut rng = StdRng::seed_from_u64(3);
        let keys: u32 = 40_000;
        let owners = keys.div_ceil(KEYS_PER_OWNER) as usize;
        let rows = made_up_rows(&mut rng, keys, owners, &Settings::default(), Utc::now());
        let percent = |status: KeyStatus| {
            let n = rows.iter().filter(|r| r.status == status).count();
            n as f64 * 100.0 / f64::from(keys)
        };
        let mix = [
            percent(KeyStatus::Active),
            percent(KeyStatus::Expired),
            percent(KeyStatus::Revoked),
        ];
        for (got, stated) in mix.into_iter().zip([38.0, 42.0, 20.0]) {
            assert!((got - stated).abs() <= 1.0, "{mix:?}");
        }
    }

    #[test]
    fn owner_names_are_new_and_unique_even_past_the_combinations() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut taken: HashSet<String> = HashSet::from(["ada a. abebe".to_owned()]);
        let names = owner_names(&mut rng, 5_000, &mut taken);
        let unique: HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(unique.len(), 5_000);
        assert!(
            !unique.contains("ada a. abebe"),
            "a taken name was handed out again"
        );
    }
}
