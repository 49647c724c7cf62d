//! What PostgreSQL does differently from SQLite underneath the trait: row locks instead of one
//! write lock, aborted transactions after a failed statement, short lock waits. The rules built
//! on these (the limit, audit, verify) are tested through the core's store on both backends.

use std::time::{Duration, Instant};

use chrono::Duration as Days;
use keyward_core::backend::{
    AuditFilter, AuditRecord, Backend, KeyChange, NewKeyRecord, UseRecorded,
};
use keyward_core::servers::ServerReport;
use keyward_core::{PlanLimits, Quota, QuotaPeriod};
use keyward_postgres::PgBackend;

use crate::common::{now, open_new, seed};

fn new_key(id: &str, owner_id: i64, plan_id: i64) -> NewKeyRecord {
    NewKeyRecord {
        id: id.to_owned(),
        prefix: "kw".into(),
        name: format!("key {id}"),
        owner_id,
        role: "standard".into(),
        scopes: vec!["read".into(), "keyward:verify".into()],
        track_usage: true,
        secret_last4: "abcd".into(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: now(),
        created_by: "alice".into(),
        expires_at: Some(now() + Days::days(30)),
        plan_id,
    }
}

/// An owner and one key of theirs, committed.
async fn owner_with_key(backend: &PgBackend, owner: &str, key: &str) -> i64 {
    let mut tx = backend.begin_write().await.expect("begin");
    let owner_id = tx
        .insert_owner(owner, now())
        .await
        .expect("owner")
        .expect("new");
    let plan = tx.default_plan().await.expect("default plan");
    assert!(tx
        .insert_key(&new_key(key, owner_id, plan.id))
        .await
        .expect("key"));
    tx.commit().await.expect("commit");
    owner_id
}

#[tokio::test]
async fn a_second_writer_for_the_same_owner_waits_until_the_first_commits() {
    let (backend, _) = open_new().await;
    let owner_id = owner_with_key(&backend, "alice", "AAAAAAAAA1").await;
    let backend = std::sync::Arc::new(backend);

    let mut first = backend.begin_write().await.expect("begin");
    let (found, name) = first
        .find_owner("ALICE", "alice")
        .await
        .expect("find")
        .expect("alice");
    assert_eq!((found, name.as_str()), (owner_id, "alice"));
    assert_eq!(
        first
            .active_key_count(owner_id, now())
            .await
            .expect("count"),
        1
    );

    let second = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let mut tx = backend.begin_write().await.expect("begin");
            tx.find_owner("alice", "alice").await.expect("find");
            let count = tx.active_key_count(owner_id, now()).await.expect("count");
            tx.commit().await.expect("commit");
            count
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second writer did not wait");
    let plan = first.default_plan().await.expect("plan");
    assert!(first
        .insert_key(&new_key("AAAAAAAAA2", owner_id, plan.id))
        .await
        .expect("insert"));
    first.commit().await.expect("commit");
    // It counts the first writer's key: the limit cannot be passed twice with one slot.
    assert_eq!(second.await.expect("task"), 2);

    // active_key_count alone locks too (a revived key counts without find_owner).
    let mut first = backend.begin_write().await.expect("begin");
    first
        .active_key_count(owner_id, now())
        .await
        .expect("count");
    let second = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let mut tx = backend.begin_write().await.expect("begin");
            tx.active_key_count(owner_id, now()).await.expect("count")
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second count did not wait");
    drop(first);
    assert_eq!(second.await.expect("task"), 2);
}

#[tokio::test]
async fn a_taken_name_or_id_leaves_the_transaction_usable() {
    let (backend, _) = open_new().await;
    let alice = owner_with_key(&backend, "alice", "BBBBBBBBB1").await;
    let mut tx = backend.begin_write().await.expect("begin");
    let plan = tx.default_plan().await.expect("plan");
    assert_eq!(plan.keys, None, "not counted inside a write");
    assert!(!tx
        .insert_key(&new_key("BBBBBBBBB1", alice, plan.id))
        .await
        .expect("a clash is not an error"));
    // ASCII case is ignored, other letters' case is not (as SQLite's NOCASE).
    assert_eq!(tx.insert_owner("ALICE", now()).await.expect("owner"), None);
    let emile = tx
        .insert_owner("Émile", now())
        .await
        .expect("owner")
        .expect("new");
    assert!(tx
        .insert_owner("émile", now())
        .await
        .expect("owner")
        .is_some());
    assert!(!tx.rename_owner(emile, "Alice").await.expect("rename"));
    assert!(tx.rename_owner(emile, "Emile").await.expect("rename"));
    let limits = PlanLimits {
        rate_per_second: None,
        burst: None,
        quota: None,
    };
    assert!(!tx
        .insert_plan("unlimited", &limits, now())
        .await
        .expect("plan"));
    assert!(tx.insert_plan("Gold", &limits, now()).await.expect("plan"));
    let gold = tx.plan("GOLD").await.expect("plan").expect("gold");
    assert!(!tx
        .update_plan(gold.id, "Unlimited", &limits)
        .await
        .expect("update"));
    assert!(tx
        .update_plan(gold.id, "Platinum", &limits)
        .await
        .expect("update"));
    // Still usable after every clash: the key goes in and everything commits.
    assert!(tx
        .insert_key(&new_key("BBBBBBBBB2", emile, gold.id))
        .await
        .expect("insert"));
    assert_eq!(tx.plan_key_count(gold.id).await.expect("count"), 1);
    tx.audit(&AuditRecord {
        at: now(),
        actor: "alice",
        action: "key_created",
        key_id: Some("BBBBBBBBB2"),
        details: r#"{"name": "x",  "plan":"Platinum"}"#.into(),
    })
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    let key = backend
        .key("BBBBBBBBB2")
        .await
        .expect("key")
        .expect("saved");
    assert_eq!(
        (key.owner.as_str(), key.plan.as_deref()),
        ("Emile", Some("Platinum"))
    );
    assert_eq!(key.scopes, ["read", "keyward:verify"]);
    // The audit row reads back exactly as written (json, not jsonb).
    let events = backend
        .audit_events(&AuditFilter {
            key_id: Some("BBBBBBBBB2"),
            action: None,
        })
        .await
        .expect("audit");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details, r#"{"name": "x",  "plan":"Platinum"}"#);
}

#[tokio::test]
async fn recording_a_use_marks_active_keys_and_gives_up_quickly_on_a_held_row() {
    let (backend, _) = open_new().await;
    owner_with_key(&backend, "alice", "CCCCCCCCC1").await;
    let later = now() + Days::minutes(5);
    match backend.record_use("CCCCCCCCC1", later).await.expect("use") {
        UseRecorded::Active(key) => assert_eq!(key.last_used_at, Some(later)),
        other => panic!("expected the row after the write, got {other:?}"),
    }
    // Past its expiry: not active, nothing written.
    let expired_at = now() + Days::days(31);
    assert!(matches!(
        backend
            .record_use("CCCCCCCCC1", expired_at)
            .await
            .expect("use"),
        UseRecorded::NotActive
    ));
    assert!(matches!(
        backend.record_use("nosuchkey0", later).await.expect("use"),
        UseRecorded::NotActive
    ));

    // Another writer holds the row (an edit in progress): given up after about 200 ms.
    let mut editing = backend.begin_write().await.expect("begin");
    editing.key("CCCCCCCCC1").await.expect("lock the key");
    let started = Instant::now();
    assert!(matches!(
        backend.record_use("CCCCCCCCC1", later).await.expect("use"),
        UseRecorded::Busy
    ));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    editing
        .revoke_key("CCCCCCCCC1", later)
        .await
        .expect("revoke");
    editing.commit().await.expect("commit");
    assert!(matches!(
        backend.record_use("CCCCCCCCC1", later).await.expect("use"),
        UseRecorded::NotActive
    ));
    let key = backend
        .key("CCCCCCCCC1")
        .await
        .expect("key")
        .expect("there");
    assert_eq!(key.last_used_at, Some(now() + Days::minutes(5)));
}

#[tokio::test]
async fn verification_never_reads_seeded_keys_and_reads_the_plan_with_the_key() {
    let (backend, _) = open_new().await;
    let rows = seed(&backend, 3, 1).await;
    assert!(backend.key(&rows[0].id).await.expect("key").is_some());
    assert!(backend
        .key_to_verify(&rows[0].id)
        .await
        .expect("verify")
        .is_none());

    let owner = owner_with_key(&backend, "bob", "DDDDDDDDD1").await;
    let mut tx = backend.begin_write().await.expect("begin");
    let daily = PlanLimits {
        rate_per_second: Some(5),
        burst: Some(20),
        quota: Some(Quota {
            limit: 1_000,
            per: QuotaPeriod::Day,
        }),
    };
    assert!(tx.insert_plan("Daily", &daily, now()).await.expect("plan"));
    let plan = tx.plan("daily").await.expect("plan").expect("found");
    tx.update_key(
        "DDDDDDDDD1",
        &KeyChange {
            name: "renamed".into(),
            search_text: keyward_core::names::key_search_text("renamed", "kw", "DDDDDDDDD1"),
            owner_id: owner,
            role: "admin".into(),
            scopes: vec![],
            track_usage: false,
            expires_at: None,
            plan_id: Some(plan.id),
        },
    )
    .await
    .expect("update");
    tx.set_default_plan(plan.id).await.expect("default");
    assert_eq!(tx.default_plan().await.expect("default").name, "Daily");
    tx.commit().await.expect("commit");

    let stored = backend
        .key_to_verify("DDDDDDDDD1")
        .await
        .expect("verify")
        .expect("found");
    assert_eq!(stored.limits.limits().expect("limits"), daily);
    assert_eq!(
        (
            stored.key.name.as_str(),
            stored.key.role.as_str(),
            stored.key.expires_at
        ),
        ("renamed", "admin", None)
    );
    let plans = backend.plans().await.expect("plans");
    let names: Vec<(&str, bool, Option<i64>)> = plans
        .iter()
        .map(|p| (p.name.as_str(), p.is_default, p.keys))
        .collect();
    assert_eq!(
        names,
        [("Daily", true, Some(1)), ("Unlimited", false, Some(3))]
    );
}

#[tokio::test]
async fn quota_counts_add_up_replace_or_drop_by_period_and_skip_deleted_keys() {
    let (backend, _) = open_new().await;
    owner_with_key(&backend, "carol", "EEEEEEEEE1").await;
    owner_with_key(&backend, "dave", "EEEEEEEEE2").await;
    let today = QuotaPeriod::Day.start_of(now());
    let yesterday = today - Days::days(1);
    let id = |s: &str| s.to_owned();
    let after = backend
        .add_quota_usage(&[
            (id("EEEEEEEEE2"), today, 3),
            (id("EEEEEEEEE1"), today, 3),
            (id("EEEEEEEEE1"), today, 4),
            (id("gone000000"), today, 9),
        ])
        .await
        .expect("add");
    assert_eq!(
        after,
        [(id("EEEEEEEEE2"), today, 3), (id("EEEEEEEEE1"), today, 7)]
    );
    // A late count of a finished period is dropped; a newer period starts from its own count.
    let after = backend
        .add_quota_usage(&[(id("EEEEEEEEE1"), yesterday, 50)])
        .await
        .expect("late");
    assert_eq!(after, [(id("EEEEEEEEE1"), today, 7)]);
    let tomorrow = today + Days::days(1);
    let after = backend
        .add_quota_usage(&[
            (id("EEEEEEEEE1"), tomorrow, 2),
            (id("EEEEEEEEE1"), today, 5),
        ])
        .await
        .expect("next day");
    assert_eq!(after, [(id("EEEEEEEEE1"), tomorrow, 2)]);
    let quota = backend
        .quota("EEEEEEEEE1")
        .await
        .expect("quota")
        .expect("key");
    assert_eq!((quota.period_start, quota.used), (Some(tomorrow), Some(2)));

    // A deleted key's counter goes with it, and its later counts are skipped.
    let mut tx = backend.begin_write().await.expect("begin");
    tx.delete_key("EEEEEEEEE1").await.expect("delete");
    tx.commit().await.expect("commit");
    assert!(backend.quota("EEEEEEEEE1").await.expect("quota").is_none());
    let after = backend
        .add_quota_usage(&[(id("EEEEEEEEE1"), tomorrow, 1)])
        .await
        .expect("add");
    assert!(after.is_empty());
}

#[tokio::test]
async fn settings_audit_pages_and_server_reports_read_back() {
    let (backend, _) = open_new().await;
    let mut tx = backend.begin_write().await.expect("begin");
    tx.put_setting("key_prefix", "\"acme\"").await.expect("put");
    tx.put_setting("key_prefix", "\"kw\"")
        .await
        .expect("put again");
    tx.put_setting("owner_key_limit", "7").await.expect("put");
    for n in 0..5 {
        let key = format!("FFFFFFFFF{n}");
        tx.audit(&AuditRecord {
            at: now() + Days::seconds(n),
            actor: "alice",
            action: if n % 2 == 0 {
                "key_created"
            } else {
                "key_revoked"
            },
            key_id: Some(&key),
            details: "{}".into(),
        })
        .await
        .expect("audit");
    }
    tx.commit().await.expect("commit");
    let mut settings = backend.settings_rows().await.expect("settings");
    settings.sort();
    assert_eq!(
        settings,
        [
            ("key_prefix".to_owned(), "\"kw\"".to_owned()),
            ("owner_key_limit".to_owned(), "7".to_owned())
        ]
    );
    let created = AuditFilter {
        key_id: None,
        action: Some("key_created"),
    };
    let (page, total) = backend.audit_page(&created, 2, 1).await.expect("page");
    assert_eq!(total, 3);
    let keys: Vec<_> = page.iter().filter_map(|e| e.key_id.as_deref()).collect();
    assert_eq!(keys, ["FFFFFFFFF2", "FFFFFFFFF0"], "newest first");
    let all = backend
        .audit_events(&AuditFilter::default())
        .await
        .expect("all");
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");

    let report = ServerReport {
        id: "srv_test".into(),
        address: "127.0.0.1:8787".into(),
        pid: 4242,
        started_at: now(),
        last_minute: [("VALID".to_owned(), 3)].into(),
        since_start: [("VALID".to_owned(), 30), ("REVOKED".to_owned(), 1)].into(),
    };
    let seen = now() + Days::seconds(5);
    assert!(backend
        .report_server(&report, seen, seen - Days::days(7))
        .await
        .expect("report"));
    let servers = backend.servers(now()).await.expect("servers");
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].since_start, report.since_start);
    assert_eq!((servers[0].pid, servers[0].last_seen), (4242, seen));

    // Another writer holds the row: the report is skipped after a short wait.
    let mut holder = backend.pool().begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM verify_servers WHERE id = 'srv_test' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .expect("lock");
    let started = Instant::now();
    assert!(!backend
        .report_server(&report, seen, seen - Days::days(7))
        .await
        .expect("report"));
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(holder);

    backend
        .server_stopped("srv_test", seen + Days::seconds(1))
        .await
        .expect("stopped");
    assert!(backend.servers(now()).await.expect("servers").is_empty());
}

/// The unfiltered list's total comes from `key_totals` (migration 0004), kept by triggers: it
/// must equal a real count after single inserts, a bulk seed, deletes and a rolled-back insert.
#[tokio::test]
async fn the_kept_key_total_matches_a_real_count_through_every_kind_of_write() {
    let (backend, url) = open_new().await;
    let totals = |url: String| async move {
        let mut db = crate::common::connect(&url).await;
        let (kept,): (i64,) = sqlx::query_as("SELECT keys FROM key_totals")
            .fetch_one(&mut db)
            .await
            .expect("kept total");
        let (counted,): (i64,) = sqlx::query_as("SELECT count(*) FROM api_keys")
            .fetch_one(&mut db)
            .await
            .expect("count");
        (kept, counted)
    };
    let listed = || async {
        let query = keyward_core::ListQuery::default();
        backend
            .list_keys(&crate::common::request(&query, now()))
            .await
            .expect("list")
            .total
    };
    owner_with_key(&backend, "Ada", "k1").await;
    owner_with_key(&backend, "Bo", "k2").await;
    assert_eq!(totals(url.clone()).await, (2, 2));
    seed(&backend, 1_000, 10).await;
    assert_eq!(totals(url.clone()).await, (1_002, 1_002));
    assert_eq!(listed().await, 1_002);

    let mut tx = backend.begin_write().await.expect("begin");
    tx.delete_key("k1").await.expect("delete");
    tx.commit().await.expect("commit");
    // An insert rolled back adds nothing.
    let mut tx = backend.begin_write().await.expect("begin");
    let plan = tx.default_plan().await.expect("plan");
    let owner = tx.find_owner("Bo", "Bo").await.expect("find").expect("Bo");
    assert!(tx
        .insert_key(&new_key("k3", owner.0, plan.id))
        .await
        .expect("insert"));
    drop(tx);
    assert_eq!(totals(url.clone()).await, (1_001, 1_001));
    assert_eq!(listed().await, 1_001);

    // The list's total is the kept one (not a count of the table): set it wrong on purpose and
    // the list says so.
    let mut db = crate::common::connect(&url).await;
    sqlx::query("UPDATE key_totals SET keys = 7")
        .execute(&mut db)
        .await
        .expect("set");
    assert_eq!(listed().await, 7);
}
