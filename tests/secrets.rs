use std::collections::{HashMap, HashSet};

use keyward_core::{audit_csv, CreatedKey, ExpiryChoice, KeyUpdate, NewKey};

use crate::util::temp_db;

const CREATIONS: usize = 1000;
const TASKS: usize = 4;

/// Which of `needles` (all of one length) occur in `haystack`: one pass over the haystack with a
/// hash lookup per window, fast enough for thousands of needles over megabytes.
fn occurring(haystack: &[u8], needles: &[&[u8]]) -> HashSet<usize> {
    let Some(len) = needles.first().map(|n| n.len()) else {
        return HashSet::new();
    };
    assert!(needles.iter().all(|n| n.len() == len));
    let index: HashMap<&[u8], usize> = needles.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    haystack
        .windows(len)
        .filter_map(|w| index.get(w).copied())
        .collect()
}

/// The first and the last 16 characters of each key's secret. Any leak of the token, the secret
/// or its first 16 characters contains the first of these.
fn secret_halves(created: &[CreatedKey]) -> Vec<&[u8]> {
    created
        .iter()
        .flat_map(|key| {
            let token = key.token.expose().as_bytes();
            let secret = &token[token.len() - 38..token.len() - 6];
            [&secret[..16], &secret[16..]]
        })
        .collect()
}

/// After 1000 creations, no token or secret (nor its first 16 characters) is in the database file,
/// its -wal and -shm, a backup, the audit export (CSV and JSON), the `Debug` of any `CreatedKey`,
/// or the errors a revoked key's update returns; while the public ids are there (so the scan is
/// really reading the data).
#[tokio::test]
async fn no_token_or_secret_is_stored_exported_or_printed_after_1000_creations() {
    let started = std::time::Instant::now();
    let (dir, db) = temp_db();
    let store = keyward_store::open(&db).await.expect("open");
    let mut settings = store.settings().await.expect("settings");
    settings.owner_key_limit = 1000; // the most a setting allows
    store
        .update_settings(settings)
        .await
        .expect("raise the per-owner limit");
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut created = Vec::new();
                for i in (t..CREATIONS).step_by(TASKS) {
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
                created
            })
        })
        .collect();
    let mut created = Vec::with_capacity(CREATIONS);
    for task in tasks {
        created.extend(task.await.expect("task"));
    }
    assert_eq!(created.len(), CREATIONS);
    let created_in = started.elapsed();

    // Errors from a revoked key's update, and the Debug of every CreatedKey.
    let revoked = &created[0];
    store
        .revoke_keys(std::slice::from_ref(&revoked.key.id))
        .await
        .expect("revoke");
    let mut printed = String::new();
    for update in [
        KeyUpdate {
            name: Some("renamed".into()),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            name: Some(revoked.token.expose().to_owned()),
            ..KeyUpdate::default()
        },
        KeyUpdate::default(),
    ] {
        let error = store
            .update_key(&revoked.key.id, update)
            .await
            .expect_err("a revoked key cannot be changed");
        printed.push_str(&format!("{error:?}\n{error}\n"));
    }
    for key in &created {
        printed.push_str(&format!("{key:?}\n{:?} {}\n", key.token, key.token));
    }

    // Read while the store is open, so the WAL has not been checkpointed away.
    let db_bytes = std::fs::read(&db).expect("db file");
    let wal = std::fs::read(db.with_extension("db-wal")).expect("the -wal file exists in WAL mode");
    assert!(!wal.is_empty(), "the WAL should hold the recent writes");
    let shm = std::fs::read(db.with_extension("db-shm")).unwrap_or_default();
    let backup_path = dir.path().join("backup.db");
    store.backup(&backup_path).await.expect("backup");
    let backup = std::fs::read(&backup_path).expect("backup file");
    let events = store.audit_events(None).await.expect("audit");
    assert!(events.len() > CREATIONS, "{} audit rows", events.len());
    let csv = audit_csv(&events);
    let json = serde_json::to_string(&events).expect("json");

    let halves = secret_halves(&created);
    // The scanner finds a token where there is one.
    assert_eq!(
        occurring(created[1].token.expose().as_bytes(), &halves),
        HashSet::from([2, 3])
    );
    let ids: Vec<&[u8]> = created.iter().map(|k| k.key.id.as_bytes()).collect();
    let csv = csv.into_bytes();
    let json = json.into_bytes();
    let printed_bytes = printed.as_bytes();
    for (what, bytes, holds_ids) in [
        ("the database file", &db_bytes[..], false),
        ("the -wal file", &wal[..], false),
        ("the -shm file", &shm[..], false),
        ("the backup", &backup[..], true),
        ("the audit CSV", &csv[..], true),
        ("the audit JSON", &json[..], true),
        ("Debug/Display output", printed_bytes, true),
    ] {
        let leaked = occurring(bytes, &halves);
        assert!(
            leaked.is_empty(),
            "{} secret fragments are in {what}, e.g. of key {}",
            leaked.len(),
            created[*leaked.iter().next().expect("one") / 2].key.id
        );
        if holds_ids {
            assert_eq!(
                occurring(bytes, &ids).len(),
                CREATIONS,
                "every public id should be in {what}"
            );
        }
    }
    // The live files together hold every id (each page is in the file or the WAL).
    let live = [&db_bytes[..], &wal[..]].concat();
    assert_eq!(occurring(&live, &ids).len(), CREATIONS);
    assert!(printed.contains("redacted"));
    store.close().await;
    eprintln!(
        "secrets: {CREATIONS} creations in {created_in:?}, whole test {:?}",
        started.elapsed()
    );
}
