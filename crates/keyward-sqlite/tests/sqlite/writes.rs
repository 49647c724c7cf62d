//! Writes as SQLite does them: taken names found from unique violations (and the transaction
//! still usable after one), short waits for bookkeeping, rows no Keyward wrote, quota upserts.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Duration as Span;
use keyward_core::backend::{Backend, SeedKeyRecord, UseRecorded};
use keyward_core::plans::{PlanLimits, Quota, QuotaPeriod};
use keyward_core::servers::{CodeCounts, ServerReport};
use keyward_core::Error;
use sqlx::{ConnectOptions, SqliteConnection};

use super::{add_key, fresh, new_key, now};

/// A connection of another program on the same file, for raw SQL.
async fn other_connection(path: &Path) -> SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .expect("connect")
}

async fn run(db: &mut SqliteConnection, sql: &str) {
    sqlx::raw_sql(sql).execute(&mut *db).await.expect(sql);
}

fn limits(quota: u64, per: QuotaPeriod) -> PlanLimits {
    PlanLimits {
        rate_per_second: Some(10),
        burst: Some(20),
        quota: Some(Quota { limit: quota, per }),
    }
}

#[tokio::test]
async fn taken_names_and_ids_are_answers_and_the_transaction_goes_on() {
    let (_dir, backend) = fresh().await;
    let mut tx = backend.begin_write().await.expect("begin");
    let ada = tx.insert_owner("Ada", now()).await.expect("insert");
    assert!(ada.is_some());
    // Owners' names are unique whatever the case of their ASCII letters.
    assert_eq!(tx.insert_owner("ADA", now()).await.expect("taken"), None);
    let bob = tx
        .insert_owner("Bob", now())
        .await
        .expect("insert")
        .expect("new");
    assert!(!tx.rename_owner(bob, "ada").await.expect("taken"));
    assert!(tx.rename_owner(bob, "Robert").await.expect("renamed"));
    assert_eq!(
        tx.find_owner("Robert", "robert").await.expect("find"),
        Some((bob, "Robert".to_owned()))
    );

    assert!(tx
        .insert_plan("Pro", &limits(100, QuotaPeriod::Day), now())
        .await
        .expect("plan"));
    assert!(!tx
        .insert_plan("PRO", &limits(5, QuotaPeriod::Day), now())
        .await
        .expect("taken"));
    let pro = tx.plan("Pro").await.expect("read").expect("made");
    assert!(!tx
        .update_plan(pro.id, "Unlimited", &limits(1, QuotaPeriod::Week))
        .await
        .expect("taken"));
    assert!(tx
        .update_plan(pro.id, "Team", &limits(1, QuotaPeriod::Week))
        .await
        .expect("renamed"));

    let key = new_key("TAKENID001", "first", bob, pro.id);
    assert!(tx.insert_key(&key).await.expect("insert"));
    assert!(!tx.insert_key(&key).await.expect("taken id"));
    tx.commit().await.expect("commit");

    let owners: Vec<String> = backend
        .owners(now())
        .await
        .expect("owners")
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(owners, ["Ada", "Robert"]);
    let team = backend.plan("team").await.expect("read").expect("renamed");
    assert_eq!(team.keys, Some(1));
    let read = team.limits.limits().expect("limits");
    assert_eq!(read, limits(1, QuotaPeriod::Week));
}

#[tokio::test]
async fn an_owner_is_found_by_the_stored_form_first_then_as_typed() {
    let (_dir, backend) = fresh().await;
    let composed = "Zo\u{e9}";
    let decomposed = "Zoe\u{301}";
    let mut tx = backend.begin_write().await.expect("begin");
    // Stored before names were normalised: only the name as typed finds it.
    let old = tx
        .insert_owner(decomposed, now())
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(
        tx.find_owner(composed, decomposed).await.expect("find"),
        Some((old, decomposed.to_owned()))
    );
    // Both exist: the stored (canonical) form wins.
    let new = tx
        .insert_owner(composed, now())
        .await
        .expect("insert")
        .expect("new");
    assert_eq!(
        tx.find_owner(composed, decomposed).await.expect("find"),
        Some((new, composed.to_owned()))
    );
    assert_eq!(tx.find_owner("zoe", "zoe").await.expect("find"), None);
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_changes_nothing() {
    let (_dir, backend) = fresh().await;
    {
        let mut tx = backend.begin_write().await.expect("begin");
        tx.insert_owner("Gone", now()).await.expect("insert");
        tx.put_setting("owner_key_limit", "9").await.expect("put");
    }
    assert!(backend.owners(now()).await.expect("owners").is_empty());
    assert!(backend.settings_rows().await.expect("settings").is_empty());
}

#[tokio::test]
async fn a_default_plan_that_does_not_exist_is_refused_and_the_default_stays() {
    let (_dir, backend) = fresh().await;
    let mut tx = backend.begin_write().await.expect("begin");
    let refused = tx.set_default_plan(4242).await.expect_err("no such plan");
    assert!(
        refused.to_string().contains("Nothing was changed"),
        "{refused}"
    );
    drop(tx);
    let plans = backend.plans().await.expect("plans");
    assert!(plans.iter().any(|p| p.is_default));
}

#[tokio::test]
async fn a_use_is_recorded_while_the_key_is_active_and_never_waits_long() {
    let (dir, backend) = fresh().await;
    add_key(&backend, "USEDKEY001", "used").await;
    match backend.record_use("USEDKEY001", now()).await.expect("use") {
        UseRecorded::Active(key) => assert_eq!(key.last_used_at, Some(now())),
        other => panic!("not recorded: {other:?}"),
    }

    let mut other = other_connection(&dir.path().join("k.db")).await;
    run(&mut other, "BEGIN IMMEDIATE").await;
    let started = Instant::now();
    let busy = backend.record_use("USEDKEY001", now()).await.expect("busy");
    assert!(matches!(busy, UseRecorded::Busy), "{busy:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    run(&mut other, "ROLLBACK").await;
    // Every pooled connection waits as long as before for other writers.
    run(&mut other, "BEGIN IMMEDIATE").await;
    let release = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        run(&mut other, "ROLLBACK").await;
    };
    // Four writers at once take all four pooled connections, the one that recorded the use too.
    let write = || async {
        let tx = backend.begin_write().await.expect("waits, then writes");
        tx.commit().await.expect("commit");
    };
    tokio::join!(release, write(), write(), write(), write());

    let mut tx = backend.begin_write().await.expect("begin");
    tx.revoke_key("USEDKEY001", now()).await.expect("revoke");
    tx.commit().await.expect("commit");
    let later = now() + Span::minutes(5);
    let gone = backend.record_use("USEDKEY001", later).await.expect("use");
    assert!(matches!(gone, UseRecorded::NotActive), "{gone:?}");
    let kept = backend
        .key("USEDKEY001")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.last_used_at, Some(now()));
}

fn report(id: &str) -> ServerReport {
    ServerReport {
        id: id.into(),
        address: "127.0.0.1:8787".into(),
        pid: 4242,
        started_at: now(),
        last_minute: CodeCounts::from([("VALID".into(), 5)]),
        since_start: CodeCounts::from([("VALID".into(), 7), ("REVOKED".into(), 1)]),
    }
}

#[tokio::test]
async fn a_busy_database_skips_the_servers_report() {
    let (dir, backend) = fresh().await;
    let forget = now() - Span::days(7);
    let mut other = other_connection(&dir.path().join("k.db")).await;
    run(&mut other, "BEGIN IMMEDIATE").await;
    let started = Instant::now();
    let written = backend
        .report_server(&report("srv_busy"), now(), forget)
        .await
        .expect("no error");
    assert!(!written);
    assert!(started.elapsed() < Duration::from_secs(2));
    run(&mut other, "ROLLBACK").await;
    assert!(backend
        .report_server(&report("srv_busy"), now(), forget)
        .await
        .expect("report"));
    let listed = backend
        .servers(now() - Span::seconds(15))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].since_start["REVOKED"], 1);
    assert_eq!(listed[0].last_seen, now());
}

#[tokio::test]
async fn a_key_whose_scopes_no_keyward_wrote_fails_in_plain_words() {
    let (dir, backend) = fresh().await;
    add_key(&backend, "BADSCOPES1", "damaged").await;
    let mut other = other_connection(&dir.path().join("k.db")).await;
    run(
        &mut other,
        "UPDATE api_keys SET scopes = 'read, write' WHERE id = 'BADSCOPES1'",
    )
    .await;
    let failed = backend.key("BADSCOPES1").await.expect_err("unreadable");
    match failed {
        Error::Unavailable(words) => {
            assert!(words.contains("BADSCOPES1"), "{words}");
            assert!(words.contains("Nothing was changed"), "{words}");
        }
        other => panic!("not unavailable: {other:?}"),
    }
    let query = keyward_core::ListQuery::default();
    assert!(matches!(
        backend.list_keys(&super::request(&query, now())).await,
        Err(Error::Unavailable(_))
    ));
}

#[tokio::test]
async fn quota_counts_add_up_within_a_period_and_start_again_in_the_next() {
    let (dir, backend) = fresh().await;
    add_key(&backend, "METERED001", "metered").await;
    let id = "METERED001".to_owned();
    let unlimited = backend.quota(&id).await.expect("quota").expect("a key");
    assert_eq!(unlimited.limits.limits().expect("limits").quota, None);
    assert!(backend.quota("NOSUCHKEY1").await.expect("quota").is_none());
    let mut other = other_connection(&dir.path().join("k.db")).await;
    run(
        &mut other,
        "INSERT INTO plans (name, quota, quota_period, created_at) VALUES ('Weekly', 10, 'week', 0); \
         UPDATE api_keys SET plan_id = (SELECT id FROM plans WHERE name = 'Weekly');",
    )
    .await;

    let week = QuotaPeriod::Week.start_of(now());
    let after = backend
        .add_quota_usage(&[(id.clone(), week, 3), (id.clone(), week, 4)])
        .await
        .expect("add");
    assert_eq!(after.last(), Some(&(id.clone(), week, 7)));
    let stored = backend.quota(&id).await.expect("quota").expect("a key");
    assert_eq!((stored.period_start, stored.used), (Some(week), Some(7)));

    // The next week starts from its own count; a late batch for the week before is dropped.
    let next = week + Span::days(7);
    backend
        .add_quota_usage(&[(id.clone(), next, 2)])
        .await
        .expect("add");
    let late = backend
        .add_quota_usage(&[(id.clone(), week, 5)])
        .await
        .expect("late");
    assert_eq!(late, [(id.clone(), next, 2)]);

    // Counts for a deleted key are skipped, and its counter goes with it.
    let mut tx = backend.begin_write().await.expect("begin");
    tx.delete_key(&id).await.expect("delete");
    tx.commit().await.expect("commit");
    let after = backend
        .add_quota_usage(&[(id.clone(), next, 1)])
        .await
        .expect("add");
    assert!(after.is_empty());
}

fn seed_key(id: &str, owner: usize) -> SeedKeyRecord {
    SeedKeyRecord {
        id: id.into(),
        name: "made up".into(),
        owner,
        role: "standard".into(),
        scopes: Vec::new(),
        track_usage: true,
        secret_last4: "abcd".into(),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

#[tokio::test]
async fn seeded_keys_never_verify_and_a_clashing_id_is_skipped() {
    let (_dir, backend) = fresh().await;
    add_key(&backend, "REALKEY001", "real").await;
    let mut tx = backend.begin_write().await.expect("begin");
    let mut taken = tx.owner_names().await.expect("names");
    assert_eq!(taken.drain().collect::<Vec<_>>(), ["ada"]);
    let owners = tx
        .insert_owners(&["Seed One".into(), "Seed Two".into()], now())
        .await
        .expect("owners");
    assert_eq!(owners.len(), 2);
    let refused = tx
        .insert_seed_keys(&[seed_key("SEEDKEY003", 2)], &owners, "kw", "$x")
        .await
        .expect_err("no third owner");
    assert!(matches!(refused, Error::InvalidInput(_)), "{refused:?}");
    let inserted = tx
        .insert_seed_keys(
            &[seed_key("SEEDKEY001", 1), seed_key("REALKEY001", 0)],
            &owners,
            "kw",
            "$x",
        )
        .await
        .expect("seed");
    assert_eq!(inserted.into_iter().collect::<Vec<_>>(), ["SEEDKEY001"]);
    tx.commit().await.expect("commit");

    let seeded = backend
        .key("SEEDKEY001")
        .await
        .expect("read")
        .expect("made");
    assert_eq!(
        (seeded.owner.as_str(), seeded.created_by.as_str()),
        ("Seed Two", keyward_core::SEED_CREATED_BY)
    );
    assert_eq!(seeded.plan.as_deref(), Some(keyward_core::UNLIMITED_PLAN));
    assert!(backend
        .key_to_verify("SEEDKEY001")
        .await
        .expect("read")
        .is_none());
    let real = backend
        .key_to_verify("REALKEY001")
        .await
        .expect("read")
        .expect("verifiable");
    assert_eq!(real.secret_hash, "$argon2id$not-a-real-hash");
    assert_eq!(real.limits, Default::default());
}
