use keyward_core::{ExpiryChoice, NewKey, Store};

use crate::util::temp_db;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// After 100 creations, neither the database file nor its write-ahead log holds any token or
/// secret, while they do hold the public ids (so the scan is really reading the data).
#[tokio::test]
async fn the_database_and_its_wal_hold_no_token_or_secret_after_100_creations() {
    let (_dir, db) = temp_db();
    let store = Store::open(&db).await.expect("open");
    let mut settings = store.settings().await.expect("settings");
    settings.owner_key_limit = 1000;
    store
        .update_settings(settings)
        .await
        .expect("raise the per-owner limit");
    let mut created = Vec::new();
    for i in 0..100 {
        let expiry = if i % 3 == 0 {
            ExpiryChoice::Never
        } else {
            ExpiryChoice::Days(30)
        };
        created.push(
            store
                .create_key(NewKey::named(format!("service {i}")).expiring(expiry))
                .await
                .expect("create"),
        );
    }

    // Read while the store is open, so the WAL has not been checkpointed away.
    let mut bytes = std::fs::read(&db).expect("db file");
    let wal = std::fs::read(db.with_extension("db-wal")).expect("the -wal file exists in WAL mode");
    assert!(!wal.is_empty(), "the WAL should hold the recent writes");
    bytes.extend_from_slice(&wal);
    if let Ok(shm) = std::fs::read(db.with_extension("db-shm")) {
        bytes.extend_from_slice(&shm);
    }

    let mut ids_seen = 0;
    for key in &created {
        let token = key.token.expose();
        let secret = &token[token.len() - 38..token.len() - 6];
        assert!(
            !contains(&bytes, token.as_bytes()),
            "a token reached the database files"
        );
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "a secret reached the database files"
        );
        // Half the secret must not be there either: no partial leak.
        assert!(
            !contains(&bytes, &secret.as_bytes()[..16]),
            "part of a secret leaked"
        );
        if contains(&bytes, key.key.id.as_bytes()) {
            ids_seen += 1;
        }
    }
    assert_eq!(
        ids_seen, 100,
        "every public id should be in the files we scanned"
    );
    store.close().await;
}
