//! Live views: the change counter follows what other processes commit, skips what views need
//! not reload for, and counts a lost listening connection as a change.

use std::time::Duration;

use chrono::Duration as Days;
use keyward_core::backend::{AuditRecord, Backend};
use keyward_postgres::PgBackend;

use crate::common::{now, open_new};

/// Waits (up to 5 s) for the counter to pass `before`.
async fn changed_since(backend: &PgBackend, before: u64) -> bool {
    for _ in 0..100 {
        let now = backend
            .change_counter()
            .await
            .expect("counter")
            .expect("counted");
        if now > before {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn counter(backend: &PgBackend) -> u64 {
    backend
        .change_counter()
        .await
        .expect("counter")
        .expect("counted")
}

#[tokio::test]
async fn the_counter_follows_other_processes_commits_and_survives_a_lost_connection() {
    let (viewer, url) = open_new().await;
    let writer = keyward_postgres::open(&url).await.expect("open");
    let start = counter(&viewer).await;

    // A change committed elsewhere.
    let mut tx = writer.begin_write().await.expect("begin");
    let owner = tx
        .insert_owner("Ada", now())
        .await
        .expect("owner")
        .expect("new");
    tx.audit(&AuditRecord {
        at: now(),
        actor: "ada",
        action: "owner_created",
        key_id: None,
        details: "{}".into(),
    })
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert!(
        changed_since(&viewer, start).await,
        "no notification arrived"
    );

    // Rolled back: nothing to see.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let settled = counter(&viewer).await;
    let mut tx = writer.begin_write().await.expect("begin");
    tx.rename_owner(owner, "Grace").await.expect("rename");
    drop(tx);
    // A key's last use, written by every check that is due: not a change to reload for.
    let mut tx = writer.begin_write().await.expect("begin");
    let plan = tx.default_plan().await.expect("plan");
    assert!(tx
        .insert_key(&keyward_core::backend::NewKeyRecord {
            id: "AAAAAAAAAA".into(),
            prefix: "kw".into(),
            name: "bot".into(),
            owner_id: owner,
            role: "standard".into(),
            scopes: vec![],
            track_usage: true,
            secret_last4: "abcd".into(),
            secret_hash: "x".into(),
            created_at: now(),
            created_by: "ada".into(),
            expires_at: None,
            plan_id: plan.id,
        })
        .await
        .expect("key"));
    tx.commit().await.expect("commit");
    assert!(
        changed_since(&viewer, settled).await,
        "the new key was not noticed"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let settled = counter(&viewer).await;
    writer
        .record_use("AAAAAAAAAA", now() + Days::minutes(1))
        .await
        .expect("use");
    writer
        .add_quota_usage(&[("AAAAAAAAAA".into(), now(), 1)])
        .await
        .expect("count");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        counter(&viewer).await,
        settled,
        "bookkeeping counted as a change"
    );

    // The listening session is cut off (a restart, a network drop): that counts, and changes
    // after it are still noticed.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(writer.pool())
    .await
    .expect("terminate");
    assert!(
        changed_since(&viewer, settled).await,
        "the lost connection was not counted"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let settled = counter(&viewer).await;
    let mut tx = writer.begin_write().await.expect("begin");
    tx.revoke_key("AAAAAAAAAA", now()).await.expect("revoke");
    tx.commit().await.expect("commit");
    assert!(changed_since(&viewer, settled).await, "not listening again");

    viewer.close().await;
    writer.close().await;
}
