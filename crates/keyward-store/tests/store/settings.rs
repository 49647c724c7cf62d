//! Settings: validated, tidied, stored, audited.

use keyward_core::{AuditEvent, NewKey, Settings, VERIFY_SCOPE};

use crate::harness::{verdict, Db};

async fn settings_are_validated_stored_and_audited(db: Db) {
    let store = db.open().await;
    assert_eq!(
        store.settings().await.expect("defaults"),
        Settings::default()
    );
    let settings = Settings {
        key_prefix: "acme".into(),
        scope_catalogue: vec!["write".into(), " read ".into(), "read".into()],
        ..Settings::default()
    };
    let saved = store.update_settings(settings).await.expect("save");
    // Tidied, and the reserved scope stays even when it was left out.
    assert_eq!(saved.scope_catalogue, [VERIFY_SCOPE, "read", "write"]);
    // Stored, not just returned: another store on the database reads the same.
    let elsewhere = db.store_at(db.clock.clone()).await;
    assert_eq!(elsewhere.settings().await.expect("read back"), saved);
    let created = store
        .create_key(NewKey::named("acme key"))
        .await
        .expect("create");
    assert!(created.token.expose().starts_with("acme_"));
    assert!(verdict(&store, &created.token).await.is_valid());

    for bad in [
        Settings {
            key_prefix: "A!".into(),
            ..Settings::default()
        },
        Settings {
            owner_key_limit: 0,
            ..Settings::default()
        },
        Settings {
            default_expiry_days: 45,
            ..Settings::default()
        },
        Settings {
            clipboard_clear_seconds: 1,
            ..Settings::default()
        },
        Settings {
            scope_catalogue: vec!["has space".into()],
            ..Settings::default()
        },
    ] {
        assert!(store.update_settings(bad).await.is_err());
    }
    assert_eq!(store.settings().await.expect("unchanged"), saved);
    let changes: Vec<AuditEvent> = store
        .audit_events(None)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "settings_changed")
        .collect();
    assert_eq!(changes.len(), 1, "only the valid change is recorded");
    assert!(changes[0].details.contains("acme"));
}

on_both_backends!(settings_are_validated_stored_and_audited);
