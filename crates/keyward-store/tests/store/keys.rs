//! Creating, editing and revoking keys, and who is recorded as doing it.

use std::sync::Arc;

use keyward_core::{BackendKind, Error, KeyStatus, KeyUpdate, NewKey, StoreOptions};

use crate::harness::{verdict, Db, ACTOR};

async fn revoking_is_all_or_nothing_and_audited(db: Db) {
    let store = db.open().await;
    let key = store.create_key(NewKey::named("a")).await.expect("create");
    let ids = vec![key.key.id.clone(), "0000000000".into()];
    assert!(matches!(
        store.revoke_keys(&ids).await,
        Err(Error::KeyNotFound(id)) if id == "0000000000"
    ));
    assert_eq!(
        store.get_key(&key.key.id).await.expect("get").status,
        KeyStatus::Active
    );
    let outcome = store
        .revoke_keys(&[key.key.id.clone(), key.key.id.clone()])
        .await
        .expect("revoke");
    assert_eq!(outcome.revoked, vec![key.key.id.clone()]);
    // owner_created (the creator, on first use), key_created, key_revoked
    let actions: Vec<String> = store
        .audit_events(None)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["owner_created", "key_created", "key_revoked"]);
}

async fn editing_changes_only_what_was_asked_and_revoked_keys_are_read_only(db: Db) {
    let store = db.open().await;
    store.create_owner("Carol").await.expect("owner");
    let created = store
        .create_key(NewKey::named("old name"))
        .await
        .expect("create");
    let id = created.key.id.clone();
    let update = KeyUpdate {
        name: Some("new name".into()),
        owner: Some("carol".into()),
        ..KeyUpdate::default()
    };
    let edited = store.update_key(&id, update).await.expect("update");
    assert_eq!(
        (edited.name.as_str(), edited.owner.as_str()),
        ("new name", "Carol")
    );
    assert_eq!(
        edited.masked, created.key.masked,
        "the secret and prefix never change"
    );
    assert!(verdict(&store, &created.token).await.is_valid());

    let events = store.audit_events(Some(&id)).await.expect("audit");
    let updated = events
        .iter()
        .find(|e| e.action == "key_updated")
        .expect("audited");
    // The key's first owner is its creator: the actor (a login on PostgreSQL).
    let moved = format!(
        "\"owner\":{{\"from\":{},\"to\":\"Carol\"}}",
        serde_json::json!(store.actor())
    );
    assert!(updated.details.contains(&moved), "{}", updated.details);
    assert!(
        !updated.details.contains("role"),
        "unchanged fields are not listed"
    );

    store
        .revoke_keys(std::slice::from_ref(&id))
        .await
        .expect("revoke");
    let refused = store
        .update_key(
            &id,
            KeyUpdate {
                name: Some("again".into()),
                ..KeyUpdate::default()
            },
        )
        .await
        .expect_err("read-only");
    assert!(matches!(refused, Error::KeyRevoked));
    let missing_owner = KeyUpdate {
        owner: Some("nobody".into()),
        ..KeyUpdate::default()
    };
    let other = store.create_key(NewKey::named("x")).await.expect("create");
    assert!(matches!(
        store.update_key(&other.key.id, missing_owner).await,
        Err(Error::OwnerNotFound(_))
    ));
}

/// With the default options the author of every change is the operating-system account running
/// the process on SQLite, and the database login on PostgreSQL, where an actor asked for is
/// ignored: the database decides what that login may do, so the audit names it.
async fn the_creator_is_the_account_running_the_process_or_the_database_login(db: Db) {
    let expected = db.expected_default_actor().await;
    assert!(
        !expected.is_empty() && expected != "unknown",
        "{expected:?}"
    );
    let store = db
        .open_with(StoreOptions {
            clock: Arc::new(db.clock.clone()),
            ..StoreOptions::default()
        })
        .await;
    assert_eq!(store.actor(), expected);
    let created = store
        .create_key(NewKey::named("mine"))
        .await
        .expect("create");
    assert_eq!(created.key.created_by, expected);
    assert_eq!(created.key.owner, expected, "the creator owns it");
    for event in store.audit_events(None).await.expect("audit") {
        assert_eq!(event.actor, expected, "{event:?}");
    }

    let asked = db.open().await;
    let wanted = match db.kind() {
        BackendKind::Sqlite => ACTOR.to_owned(),
        BackendKind::Postgres => expected,
    };
    assert_eq!(asked.actor(), wanted);
    let created = asked
        .create_key(NewKey::named("theirs"))
        .await
        .expect("create");
    assert_eq!(created.key.created_by, wanted);
}

on_both_backends!(
    revoking_is_all_or_nothing_and_audited,
    editing_changes_only_what_was_asked_and_revoked_keys_are_read_only,
    the_creator_is_the_account_running_the_process_or_the_database_login,
);
