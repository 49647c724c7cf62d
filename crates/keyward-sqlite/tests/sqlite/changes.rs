//! Live views: the change counter notices what any connection commits (another process's, and
//! this one's own pool), and skips what a verify server's bookkeeping writes.

use chrono::Duration;
use keyward_core::backend::{AuditRecord, Backend};
use keyward_sqlite::SqliteBackend;

use crate::{add_key, now, open_at};

async fn counter(backend: &SqliteBackend) -> u64 {
    backend
        .change_counter()
        .await
        .expect("counter")
        .expect("SQLite counts changes")
}

/// A change as the store makes it: a row and its audit row, in one transaction.
async fn rename_with_audit(backend: &SqliteBackend, from: &str, to: &str) {
    let mut tx = backend.begin_write().await.expect("begin");
    let (id, _) = tx
        .find_owner(from, from)
        .await
        .expect("find")
        .expect("owner");
    assert!(tx.rename_owner(id, to).await.expect("rename"));
    tx.audit(&AuditRecord {
        at: now(),
        actor: "ada",
        action: "owner_renamed",
        key_id: None,
        details: "{}".into(),
    })
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn the_counter_follows_every_connections_changes_but_not_bookkeeping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("k.db");
    let viewer = open_at(&file).await;
    // Another process on the same file: a backend with its own pool.
    let other = open_at(&file).await;
    let start = counter(&viewer).await;
    assert_eq!(counter(&viewer).await, start, "nothing happened");

    add_key(&other, "AAAAAAAAAA", "bot").await;
    rename_with_audit(&other, "Ada", "Grace").await;
    let after_other = counter(&viewer).await;
    assert!(after_other > start, "another process's change was missed");
    assert_eq!(counter(&viewer).await, after_other, "counted once");

    // This process's own change, through the viewer's own pool.
    rename_with_audit(&viewer, "Grace", "Ada").await;
    let after_own = counter(&viewer).await;
    assert!(
        after_own > after_other,
        "this process's own change was missed"
    );

    // A key's last use and quota counts commit too, but change nothing the app shows.
    assert!(matches!(
        other
            .record_use("AAAAAAAAAA", now() + Duration::minutes(2))
            .await
            .expect("use"),
        keyward_core::backend::UseRecorded::Active(_)
    ));
    other
        .add_quota_usage(&[("AAAAAAAAAA".into(), now(), 3)])
        .await
        .expect("quota");
    // A rolled-back change is not a change either.
    let mut tx = other.begin_write().await.expect("begin");
    tx.audit(&AuditRecord {
        at: now(),
        actor: "ada",
        action: "owner_renamed",
        key_id: None,
        details: "{}".into(),
    })
    .await
    .expect("audit");
    drop(tx);
    assert_eq!(counter(&viewer).await, after_own, "bookkeeping counted");

    // Closing drops the watching connection with the pool; nothing is left open on the file.
    viewer.close().await;
    other.close().await;
}
