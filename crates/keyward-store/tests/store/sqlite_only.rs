//! What only SQLite has: a connection pool that can be closed under a store. (Backups of the
//! file, before an upgrade and on demand, are tested in `keyward-sqlite`'s own tests.) Named `sqlite_only::sqlite::…` so that
//! `cargo test -p keyward-store sqlite::` runs these with the rest of the SQLite side.

use keyward_core::{ExpiryChoice, NewKey, SecretToken, Verdict};

use crate::harness::Db;

/// With the pool closed, any database read fails; a malformed token must still get its
/// verdict, which proves it was rejected before touching the database.
async fn malformed_tokens_are_rejected_without_a_database_read(db: Db) {
    let store = db.open().await;
    let created = store
        .create_key(NewKey::named("probe").expiring(ExpiryChoice::Never))
        .await
        .expect("create");
    let good = created.token.expose().to_owned();
    store.close().await;

    let mut typo: Vec<char> = good.chars().collect();
    typo[20] = if typo[20] == 'x' { 'y' } else { 'x' };
    for bad in [
        typo.into_iter().collect::<String>(),
        "kw_nope".into(),
        String::new(),
    ] {
        let verdict = store.verify(&SecretToken::from(bad), &[]).await;
        assert_eq!(verdict.expect("no database needed"), Verdict::Malformed);
    }
    assert!(
        store.verify(&SecretToken::from(good), &[]).await.is_err(),
        "a well-formed token needs the database, which is closed"
    );
}

mod sqlite {
    backend_test!(
        sqlite,
        malformed_tokens_are_rejected_without_a_database_read
    );
}
