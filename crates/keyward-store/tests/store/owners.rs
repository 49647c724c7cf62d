//! Owners: unique names, renames, and the per-owner limit on active keys, also against
//! concurrent writers.

use keyward_core::{Error, ExpiryChoice, KeyUpdate, ListQuery, NewKey};

use crate::harness::Db;

async fn an_owner_is_limited_to_five_active_keys_unless_overridden(db: Db) {
    let store = db.open().await;
    store.create_owner("Alice").await.expect("owner");
    let mut ids = Vec::new();
    for i in 0..5 {
        let key = store
            .create_key(NewKey::named(format!("k{i}")).owned_by("alice"))
            .await
            .expect("under the limit");
        ids.push(key.key.id);
    }
    let refused = store
        .create_key(NewKey::named("sixth").owned_by("Alice"))
        .await
        .expect_err("at the limit");
    assert_eq!(
        refused.to_string(),
        "Alice has 5 of 5 active keys — revoke one first."
    );
    assert_eq!(
        store.get_owner("alice").await.expect("owner").active_keys,
        5
    );

    let mut forced = NewKey::named("sixth");
    forced.owner = Some("Alice".into());
    forced.override_limit = true;
    let forced = store.create_key(forced).await.expect("override");
    let created = store
        .audit_events(Some(&forced.key.id))
        .await
        .expect("audit");
    assert!(created[0].details.contains("\"limit_overridden\":true"));

    store.revoke_keys(&ids[..2]).await.expect("revoke two");
    store
        .create_key(NewKey::named("room again").owned_by("Alice"))
        .await
        .expect("revoked keys do not count");
}

async fn expired_keys_do_not_count_against_the_limit(db: Db) {
    let store = db.open().await;
    store.create_owner("Bob").await.expect("owner");
    for _ in 0..5 {
        store
            .create_key(
                NewKey::named("short")
                    .owned_by("Bob")
                    .expiring(ExpiryChoice::Days(7)),
            )
            .await
            .expect("create");
    }
    db.clock.advance(chrono::Duration::days(8));
    store
        .create_key(NewKey::named("new").owned_by("Bob"))
        .await
        .expect("expired keys free their slots");
}

async fn moving_a_key_to_an_owner_at_the_limit_needs_the_override(db: Db) {
    let store = db.open().await;
    store.create_owner("Full").await.expect("owner");
    let mut settings = store.settings().await.expect("settings");
    settings.owner_key_limit = 1;
    store.update_settings(settings).await.expect("save");
    store
        .create_key(NewKey::named("only").owned_by("Full"))
        .await
        .expect("create");
    let mover = store
        .create_key(NewKey::named("mover"))
        .await
        .expect("create");
    let update = KeyUpdate {
        owner: Some("Full".into()),
        ..KeyUpdate::default()
    };
    let refused = store
        .update_key(&mover.key.id, update.clone())
        .await
        .expect_err("limit");
    assert!(matches!(
        refused,
        Error::LimitReached {
            active: 1,
            limit: 1,
            ..
        }
    ));
    let forced = KeyUpdate {
        override_limit: true,
        ..update
    };
    assert_eq!(
        store
            .update_key(&mover.key.id, forced)
            .await
            .expect("forced")
            .owner,
        "Full"
    );
}

async fn owners_are_unique_regardless_of_case_and_can_be_renamed(db: Db) {
    let store = db.open().await;
    store.create_owner("Dana").await.expect("owner");
    let dup = store.create_owner(" dana ").await.expect_err("duplicate");
    assert_eq!(dup.to_string(), "An owner named \"dana\" already exists.");
    store
        .create_key(NewKey::named("k").owned_by("Dana"))
        .await
        .expect("create");
    let renamed = store
        .rename_owner("DANA", "Dana Scully")
        .await
        .expect("rename");
    assert_eq!(
        (renamed.name.as_str(), renamed.total_keys),
        ("Dana Scully", 1)
    );
    let page = store
        .list_keys(&ListQuery {
            owner: Some("dana scully".into()),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.total, 1);
    assert!(matches!(
        store.rename_owner("ghost", "x").await,
        Err(Error::OwnerNotFound(_))
    ));
    let unknown = store.create_key(NewKey::named("k").owned_by("ghost")).await;
    assert_eq!(
        unknown.expect_err("unknown owner").to_string(),
        "No owner named \"ghost\" exists. Create the owner first."
    );
}

/// Names are stored composed (NFC) with single spaces, so an accented name is found however its
/// accents were typed, by every lookup: creating, assigning, getting, filtering the list. Case is
/// ignored for ASCII letters only, on both backends (SQLite's NOCASE; PostgreSQL's `lower()` on
/// "C"-collated text, whatever the server's locale), so names that differ in the case of another
/// letter are different owners.
async fn accented_owner_names_are_found_however_they_were_typed(db: Db) {
    let store = db.open().await;
    let created = store.create_owner("Zoë  Ångström").await.expect("owner");
    assert_eq!(created.name, "Zoë Ångström", "one space, composed");
    let decomposed = "zoe\u{308} A\u{30a}NGSTRo\u{308}M";
    let again = store
        .create_owner(decomposed)
        .await
        .expect_err("the same name");
    assert!(again.to_string().contains("already exists"), "{again}");
    store
        .create_key(NewKey::named("k").owned_by(decomposed))
        .await
        .expect("create");
    assert_eq!(
        store.get_owner(decomposed).await.expect("found").total_keys,
        1
    );
    for typed in [decomposed, "ZOë ÅNGSTRöM", " zoë   Ångström "] {
        let page = store
            .list_keys(&ListQuery {
                owner: Some(typed.into()),
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(page.total, 1, "{typed:?}");
    }
    let other = store
        .create_owner("ZOË ÅNGSTRÖM")
        .await
        .expect("only ASCII letters are the same in either case");
    assert_eq!(other.total_keys, 0);
    assert_eq!(store.list_owners().await.expect("owners").len(), 2);
}

async fn two_writers_cannot_pass_the_limit_together(db: Db) {
    let store = db.open().await;
    store.create_owner("Race").await.expect("owner");
    let other = db.store_at(db.clock.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.create_key(NewKey::named(format!("r{i}")).owned_by("Race"))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(Error::LimitReached { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(store.get_owner("Race").await.expect("owner").active_keys, 5);
}

on_both_backends!(
    an_owner_is_limited_to_five_active_keys_unless_overridden,
    expired_keys_do_not_count_against_the_limit,
    moving_a_key_to_an_owner_at_the_limit_needs_the_override,
    owners_are_unique_regardless_of_case_and_can_be_renamed,
    accented_owner_names_are_found_however_they_were_typed,
    two_writers_cannot_pass_the_limit_together,
);
