//! Export and import (`keyward-cli migrate-to`): a copy reads back the same, ids and all; a
//! database that holds rows, or a snapshot that cannot be stored, changes nothing.

use chrono::Duration;
use keyward_core::backend::{AuditRecord, Backend, NewKeyRecord};
use keyward_core::{Error, ListQuery, PlanLimits};
use keyward_postgres::PgBackend;

use crate::common::{now, open_new, request, seed};

/// A database with settings, owners, a second plan, real keys (one revoked), seeded keys, audit
/// rows and a quota counter.
async fn filled() -> PgBackend {
    let (backend, _) = open_new().await;
    seed(&backend, 20, 3).await;
    let mut tx = backend.begin_write().await.expect("begin");
    tx.put_setting("owner_key_limit", "7")
        .await
        .expect("setting");
    tx.put_setting("scope_catalogue", "[\"read\", \"write\"]")
        .await
        .expect("setting");
    let owner = tx
        .insert_owner("Ada", now())
        .await
        .expect("owner")
        .expect("new");
    let limits = PlanLimits {
        rate_per_second: Some(5),
        burst: Some(10),
        quota: None,
    };
    assert!(tx.insert_plan("Pro", &limits, now()).await.expect("plan"));
    let pro = tx.plan("Pro").await.expect("read").expect("made");
    for id in ["AAAAAAAAAA", "BBBBBBBBBB"] {
        let key = NewKeyRecord {
            id: id.into(),
            prefix: "acme".into(),
            name: format!("deploy bot {id}"),
            owner_id: owner,
            role: "project".into(),
            scopes: vec!["read".into(), "write".into()],
            track_usage: true,
            secret_last4: "wxyz".into(),
            secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: now(),
            created_by: "ada".into(),
            expires_at: Some(now() + Duration::days(30)),
            plan_id: pro.id,
        };
        assert!(tx.insert_key(&key).await.expect("key"));
        tx.audit(&AuditRecord {
            at: now(),
            actor: "ada",
            action: "key_created",
            key_id: Some(id),
            details: "{\"name\": \"deploy\"}".into(),
        })
        .await
        .expect("audit");
    }
    tx.revoke_key("BBBBBBBBBB", now() + Duration::hours(1))
        .await
        .expect("revoke");
    tx.commit().await.expect("commit");
    backend
        .add_quota_usage(&[("AAAAAAAAAA".into(), now(), 3)])
        .await
        .expect("counter");
    backend
}

#[tokio::test]
async fn a_copy_reads_back_the_same_and_lists_and_searches_the_same() {
    let source = filled().await;
    let (dest, _) = open_new().await;
    let snapshot = source.export().await.expect("export");
    assert_eq!(snapshot.keys.len(), 22);
    assert_eq!(snapshot.plans.len(), 2, "Unlimited and Pro");
    dest.import(&snapshot).await.expect("import");
    let copied = dest.export().await.expect("read back");
    assert_eq!(format!("{snapshot:?}"), format!("{copied:?}"));

    for query in [
        ListQuery::default(),
        ListQuery {
            search: Some("acme_BBB".into()),
            ..ListQuery::default()
        },
    ] {
        let from = source
            .list_keys(&request(&query, now()))
            .await
            .expect("list");
        let to = dest.list_keys(&request(&query, now())).await.expect("list");
        assert_eq!(format!("{:?}", from.keys), format!("{:?}", to.keys));
        assert_eq!(from.total, to.total);
    }

    // New rows take ids and numbers after the copied ones.
    let mut tx = dest.begin_write().await.expect("begin");
    let owner = tx.insert_owner("Grace", now()).await.expect("owner");
    let last_owner = copied.owners.iter().map(|o| o.0).max().expect("owners");
    assert_eq!(owner, Some(last_owner + 1));
    tx.audit(&AuditRecord {
        at: now(),
        actor: "grace",
        action: "owner_created",
        key_id: None,
        details: "{}".into(),
    })
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    let audit = dest.audit_events(&Default::default()).await.expect("audit");
    let last_seq = copied.audit.iter().map(|e| e.seq).max().expect("rows");
    assert_eq!(audit.last().map(|e| e.seq), Some(last_seq + 1));
}

#[tokio::test]
async fn a_database_with_rows_is_refused_and_left_as_it_was() {
    let source = filled().await;
    let dest = filled().await;
    let before = format!("{:?}", dest.export().await.expect("export"));
    let snapshot = source.export().await.expect("export");
    let refused = dest.import(&snapshot).await.expect_err("not empty");
    assert!(matches!(refused, Error::InvalidInput(_)), "{refused:?}");
    assert!(
        refused.to_string().contains("nothing was changed"),
        "{refused}"
    );
    assert!(refused.to_string().contains(&dest.location()), "{refused}");
    assert_eq!(
        before,
        format!("{:?}", dest.export().await.expect("export"))
    );
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_stored_leaves_nothing_behind() {
    let source = filled().await;
    let (dest, _) = open_new().await;
    let before = format!("{:?}", dest.export().await.expect("export"));
    let mut snapshot = source.export().await.expect("export");
    // A key of an owner that is not in the snapshot: the foreign key refuses it, after the
    // settings, plans and owners went in in the same transaction.
    snapshot.keys[21].key.owner_id = 424_242;
    assert!(dest.import(&snapshot).await.is_err());
    assert_eq!(
        before,
        format!("{:?}", dest.export().await.expect("export"))
    );

    // A key without a plan (possible only in an old SQLite file) is named, not guessed at.
    let mut snapshot = source.export().await.expect("export");
    snapshot.keys[3].plan_id = None;
    let refused = dest.import(&snapshot).await.expect_err("no plan");
    assert!(
        refused.to_string().contains(&snapshot.keys[3].key.id),
        "{refused}"
    );
    assert_eq!(
        before,
        format!("{:?}", dest.export().await.expect("export"))
    );
}
