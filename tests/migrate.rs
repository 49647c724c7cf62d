//! `keyward-cli migrate-to`: a whole database copied to another backend and back, keys still
//! answering as they did, and every refusal leaving both databases as they were.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use keyward_core::{
    AuditEvent, ExpiryChoice, ManualClock, NewKey, NewPlan, PlanLimits, Quota, QuotaPeriod,
    StoreOptions,
};
use serde_json::Value;

use crate::pg_setup::new_database;
use crate::server_setup::revoke;
use crate::util::{cli, create_key, key_id, keys_and_audit, list_keys, stderr, stdout, temp_db};

/// One token of each kind, and what `verify` must answer for it (with its `--scope`s).
struct Tokens(Vec<(String, Vec<&'static str>, &'static str)>);

/// A database holding what a team's has: owners, a plan, changed settings, a valid, a revoked,
/// an expired and a scoped key, a quota counter, and the audit rows all of that wrote.
async fn populate(db: &Path) -> Tokens {
    let store = keyward_store::open(db).await.expect("open");
    let mut settings = store.settings().await.expect("settings");
    settings.owner_key_limit = 9;
    settings.default_expiry_days = 30;
    settings.scope_catalogue.push("deploy:write".into());
    store.update_settings(settings).await.expect("settings");
    for owner in ["Ada Lovelace", "Grace Hopper"] {
        store.create_owner(owner).await.expect("owner");
    }
    let limits = PlanLimits {
        rate_per_second: Some(5),
        burst: Some(10),
        quota: Some(Quota {
            limit: 1000,
            per: QuotaPeriod::Day,
        }),
    };
    store
        .create_plan(NewPlan {
            name: "Pro".into(),
            limits,
        })
        .await
        .expect("plan");
    store.close().await;

    // Made ten days ago for one day: expired now.
    let past = StoreOptions {
        clock: Arc::new(ManualClock::new(Utc::now() - Duration::days(10))),
        actor: "earlier".into(),
    };
    let then = keyward_store::open_with(db, past).await.expect("open");
    let expired = then
        .create_key(NewKey {
            expiry: ExpiryChoice::Days(1),
            ..NewKey::named("short lived").owned_by("Grace Hopper")
        })
        .await
        .expect("expired key");
    then.close().await;

    let valid = create_key(db, "billing", &["--owner", "Ada Lovelace", "--plan", "Pro"]);
    let revoked = create_key(db, "old deploy", &["--owner", "Grace Hopper"]);
    revoke(db, &revoked);
    let scoped = create_key(
        db,
        "deployer",
        &["--scope", "deploy:write", "--expires", "never"],
    );

    let store = keyward_store::open(db).await.expect("open");
    let counted = store
        .add_quota_usage(&[(
            key_id(&valid).to_owned(),
            QuotaPeriod::Day.start_of(Utc::now()),
            3,
        )])
        .await
        .expect("quota");
    assert_eq!(counted.len(), 1);
    store.close().await;

    Tokens(vec![
        (valid, vec![], "VALID"),
        (revoked, vec![], "REVOKED"),
        (expired.token.expose().to_owned(), vec![], "EXPIRED"),
        (scoped.clone(), vec!["deploy:write"], "VALID"),
        (scoped, vec!["keyward:verify"], "FORBIDDEN"),
    ])
}

/// `keyward-cli --db FROM --json migrate-to TO`: the exit code and the report (or `Null`).
fn migrate(from: &Path, to: &Path) -> (Option<i32>, Value, String) {
    let to = to.to_str().expect("a UTF-8 location");
    let out = cli(from, &["--json", "migrate-to", to]);
    let report = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
    (out.status.code(), report, stderr(&out))
}

/// Every key as the list shows it, the audit log, the plans and the settings, as JSON.
async fn contents(db: &Path) -> (Value, Vec<AuditEvent>, Value) {
    let (keys, audit) = keys_and_audit(db).await;
    let store = keyward_store::open(db).await.expect("open");
    let rest = serde_json::json!({
        "plans": store.list_plans().await.expect("plans"),
        "settings": store.settings().await.expect("settings"),
        "owners": store.list_owners().await.expect("owners"),
    });
    store.close().await;
    (serde_json::to_value(keys).expect("json"), audit, rest)
}

fn verdict(db: &Path, token: &str, scopes: &[&str]) -> String {
    let mut args = vec!["--json", "verify", token];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let out = cli(db, &args);
    let answer: Value = serde_json::from_str(&stdout(&out)).expect("a verdict");
    answer["verdict"].as_str().expect("verdict").to_owned()
}

/// A move that worked: exit 0, the destination's counts are the source's plus the move's own
/// audit row, and that row is the last one, saying where the keys came from.
async fn check_move(from: &Path, to: &Path) {
    let (before_keys, before_audit, before_rest) = contents(from).await;
    let (code, report, err) = migrate(from, to);
    assert_eq!(code, Some(0), "{err}");
    let (source, dest) = (&report["source"], &report["destination"]);
    for count in ["keys", "owners", "plans", "settings", "quota_counters"] {
        assert_eq!(source[count], dest[count], "{count}: {report}");
    }
    assert_eq!(source["keys"], 4, "{report}");
    assert_eq!(source["owners"], 3, "Ada, Grace and the OS user: {report}");
    assert_eq!(source["plans"], 2, "{report}");
    assert_eq!(source["quota_counters"], 1, "{report}");
    let copied = source["audit"].as_u64().expect("count");
    assert_eq!(dest["audit"].as_u64(), Some(copied + 1), "{report}");
    assert_eq!(copied, before_audit.len() as u64);

    // The source is untouched, and the destination reads the same, plus the move's row.
    let (keys, audit, rest) = contents(from).await;
    assert_eq!(
        (&keys, &audit, &rest),
        (&before_keys, &before_audit, &before_rest)
    );
    let (keys, audit, rest) = contents(to).await;
    assert_eq!(keys, before_keys);
    assert_eq!(rest, before_rest);
    let (moved, copied_log) = audit.split_last().expect("rows");
    assert_eq!(to_millis(copied_log), to_millis(&before_audit));
    assert_eq!(moved.action, "store_migrated");
    assert_eq!(moved.seq, before_audit.last().map_or(0, |e| e.seq) + 1);
    let details: Value = serde_json::from_str(&moved.details).expect("json");
    assert_eq!(details["from"], report["from"]);
    assert_eq!(details["keys"], 4);
}

/// The events with their times to the millisecond: SQLite stores no finer, so a row written on
/// PostgreSQL (microseconds) reads back a fraction of a millisecond earlier from a SQLite copy.
fn to_millis(events: &[AuditEvent]) -> Vec<AuditEvent> {
    events
        .iter()
        .map(|e| AuditEvent {
            at: DateTime::from_timestamp_millis(e.at.timestamp_millis()).expect("a time"),
            ..e.clone()
        })
        .collect()
}

fn check_verdicts(tokens: &Tokens, dbs: &[&Path]) {
    for (token, scopes, expected) in &tokens.0 {
        for db in dbs {
            assert_eq!(
                verdict(db, token, scopes),
                *expected,
                "{} with {scopes:?} on {}",
                key_id(token),
                db.display()
            );
        }
    }
}

fn search(db: &Path, term: &str) -> usize {
    list_keys(db, &["--search", term]).len()
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_to_postgres_and_back_keeps_every_key_answering_the_same() {
    let (dir, a) = temp_db();
    let tokens = populate(&a).await;
    let (_name, b) = new_database();
    let c = dir.path().join("back.db");

    check_move(&a, &b).await;
    check_move(&b, &c).await;
    // The search indexes hold the copied keys.
    for db in [&a, &b, &c] {
        assert_eq!(search(db, "deploy"), 2, "{}", db.display());
    }
    // Verified last: a use writes `last_used_at`, which the comparisons above read.
    check_verdicts(&tokens, &[&a, &b, &c]);

    // New rows on the copies take ids after the copied ones.
    for db in [&b, &c] {
        let out = cli(db, &["owners", "create", "Margaret Hamilton"]);
        assert!(out.status.success(), "{}", stderr(&out));
        create_key(db, "after the move", &["--owner", "Margaret Hamilton"]);
        create_key(db, "on the plan", &["--plan", "Pro"]);
        let (_, audit, _) = contents(db).await;
        let seqs: Vec<u32> = audit.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_to_sqlite_works_too() {
    let (dir, a) = temp_db();
    let tokens = populate(&a).await;
    let copy = dir.path().join("copy.db");
    check_move(&a, &copy).await;
    assert_eq!(search(&copy, "billing"), 1);
    check_verdicts(&tokens, &[&a, &copy]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_with_rows_is_refused_and_nothing_changes() {
    let (dir, a) = temp_db();
    populate(&a).await;
    let taken = dir.path().join("taken.db");
    create_key(&taken, "already here", &[]);
    let (_name, pg) = new_database();
    let out = cli(&pg, &["owners", "create", "Someone"]);
    assert!(out.status.success(), "{}", stderr(&out));

    for dest in [&taken, &pg] {
        let before = (contents(&a).await, contents(dest).await);
        let (code, report, err) = migrate(&a, dest);
        assert_eq!(code, Some(1), "{report} {err}");
        assert!(err.contains("already holds"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(before, (contents(&a).await, contents(dest).await));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_is_not_copied_onto_itself() {
    let (dir, a) = temp_db();
    populate(&a).await;
    let before = contents(&a).await;
    let spelled = dir.path().join(".").join("keys.db");
    for dest in [&a, &spelled] {
        let (code, _, err) = migrate(&a, dest);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("the same key database"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
    }
    assert_eq!(before, contents(&a).await);
}

#[test]
fn a_missing_source_is_refused_without_creating_either_file() {
    let (dir, missing) = temp_db();
    let dest = dir.path().join("dest.db");
    let (code, _, err) = migrate(&missing, &dest);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nothing to copy"), "{err}");
    assert!(!missing.exists() && !dest.exists());
}
