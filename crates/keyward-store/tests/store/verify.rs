//! Verification: scopes, last use, revocation racing checks, and the verify cache.

use std::sync::Arc;

use chrono::Duration;
use keyward_core::token::generate_token;
use keyward_core::{ExpiryChoice, NewKey, Role, Verdict};

use crate::harness::{verdict, Db};

/// How often a key's last use is written (keyward-core's `LAST_USED_PRECISION`, which is
/// private): the behaviour this file pins down.
const LAST_USED_PRECISION: Duration = Duration::seconds(60);

async fn scopes_come_from_the_catalogue_and_verify_enforces_them(db: Db) {
    let store = db.open().await;
    let mut key = NewKey::named("chatbot");
    key.scopes = vec!["models:chat".into(), "read".into()];
    key.role = Role::Project;
    let created = store.create_key(key).await.expect("create");

    let mut unknown = NewKey::named("bad");
    unknown.scopes = vec!["admin:everything".into()];
    let refused = store
        .create_key(unknown)
        .await
        .expect_err("not in catalogue");
    assert!(
        refused.to_string().contains("not in the catalogue"),
        "{refused}"
    );

    let verdict = store
        .verify(&created.token, &["read".into()])
        .await
        .expect("verify");
    let Verdict::Valid { key } = verdict else {
        panic!("expected valid, got {verdict:?}");
    };
    assert_eq!(
        (key.owner.as_str(), key.role),
        (store.actor(), Role::Project)
    );
    assert_eq!(key.scopes, ["models:chat", "read"]);

    let forbidden = store
        .verify(&created.token, &["read".into(), "write".into()])
        .await
        .expect("verify");
    assert_eq!(
        forbidden,
        Verdict::Forbidden {
            missing: vec!["write".into()]
        }
    );

    // Revoked beats forbidden.
    store
        .revoke_keys(std::slice::from_ref(&created.key.id))
        .await
        .expect("revoke");
    let verdict = store
        .verify(&created.token, &["write".into()])
        .await
        .expect("verify");
    assert_eq!(verdict, Verdict::Revoked);
}

async fn untracked_keys_never_record_last_used(db: Db) {
    let store = db.open().await;
    let mut quiet = NewKey::named("quiet");
    quiet.track_usage = false;
    let quiet = store.create_key(quiet).await.expect("create");
    let loud = store
        .create_key(NewKey::named("loud"))
        .await
        .expect("create");
    for key in [&quiet, &loud] {
        assert!(verdict(&store, &key.token).await.is_valid());
    }
    assert_eq!(
        store
            .get_key(&quiet.key.id)
            .await
            .expect("get")
            .last_used_at,
        None
    );
    assert!(store
        .get_key(&loud.key.id)
        .await
        .expect("get")
        .last_used_at
        .is_some());
}

async fn last_use_is_written_at_most_once_a_minute_and_never_hides_a_revocation(db: Db) {
    let store = db.open().await;
    let clock = &db.clock;
    let created = store
        .create_key(NewKey::named("busy"))
        .await
        .expect("create");
    let last_used = || async {
        store
            .get_key(&created.key.id)
            .await
            .expect("get")
            .last_used_at
            .expect("a use was recorded")
    };
    let first = store.now();
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(
        last_used().await.timestamp_millis(),
        first.timestamp_millis()
    );

    clock.advance(LAST_USED_PRECISION - Duration::seconds(1));
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(
        last_used().await.timestamp_millis(),
        first.timestamp_millis()
    );

    clock.advance(Duration::seconds(1));
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(
        last_used().await.timestamp_millis(),
        store.now().timestamp_millis()
    );

    // The next check writes nothing, yet still reads the revocation.
    store
        .revoke_keys(std::slice::from_ref(&created.key.id))
        .await
        .expect("revoke");
    assert_eq!(verdict(&store, &created.token).await, Verdict::Revoked);
}

/// Many verifications run while the key is revoked. Any verification that started after the
/// revoke committed must not be valid, even though argon2 takes tens of milliseconds per check.
async fn no_verification_succeeds_after_the_revoke_commits(db: Db) {
    let store = db.open().await;
    let created = store
        .create_key(NewKey::named("raced"))
        .await
        .expect("create");
    let token = created.token.clone();
    let revoked_at: Arc<std::sync::OnceLock<std::time::Instant>> = Arc::default();

    let mut checkers = Vec::new();
    for _ in 0..6 {
        let (store, token, revoked_at) = (store.clone(), token.clone(), revoked_at.clone());
        checkers.push(tokio::spawn(async move {
            let mut late_valid = 0;
            let mut checks = 0;
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
            while std::time::Instant::now() < deadline {
                let started = std::time::Instant::now();
                let verdict = verdict(&store, &token).await;
                checks += 1;
                let after_revoke = revoked_at.get().is_some_and(|at| started > *at);
                if after_revoke && verdict.is_valid() {
                    late_valid += 1;
                }
            }
            (late_valid, checks)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    store
        .revoke_keys(std::slice::from_ref(&created.key.id))
        .await
        .expect("revoke");
    revoked_at.set(std::time::Instant::now()).expect("set once");
    let mut total_checks = 0;
    for checker in checkers {
        let (late_valid, checks) = checker.await.expect("join");
        assert_eq!(
            late_valid, 0,
            "a verification started after the revoke was valid"
        );
        total_checks += checks;
    }
    assert!(
        total_checks > 12,
        "the race needs many checks, ran {total_checks}"
    );
    assert_eq!(verdict(&store, &token).await, Verdict::Revoked);
}

/// The cache's counters stand in for its size here (it is private to the core): a check that
/// hashes is a miss, one that skips argon2 a hit.
async fn a_cached_verification_still_reads_revocation_and_deletion_from_the_database(db: Db) {
    let store = db.open().await;
    let created = store
        .create_key(NewKey::named("cached"))
        .await
        .expect("create");
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(store.verify_cache_stats(), (0, 1), "the first check hashes");
    // A clone shares the cache, and a second check is a hit.
    let clone = store.clone();
    assert!(verdict(&clone, &created.token).await.is_valid());
    assert_eq!(store.verify_cache_stats(), (1, 1));

    store
        .revoke_keys(std::slice::from_ref(&created.key.id))
        .await
        .expect("revoke");
    assert_eq!(verdict(&store, &created.token).await, Verdict::Revoked);

    let other = store
        .create_key(NewKey::named("deleted"))
        .await
        .expect("create");
    assert!(verdict(&store, &other.token).await.is_valid());
    assert!(verdict(&store, &other.token).await.is_valid());
    let (hits, _) = store.verify_cache_stats();
    store
        .delete_keys(std::slice::from_ref(&other.key.id))
        .await
        .expect("delete");
    assert_eq!(verdict(&store, &other.token).await, Verdict::NotFound);
    assert_eq!(
        store.verify_cache_stats().0,
        hits,
        "a deleted key is not found before the cache is asked"
    );
}

async fn a_cached_verification_expires_when_the_clock_crosses_the_expiry(db: Db) {
    let store = db.open().await;
    let created = store
        .create_key(NewKey::named("short").expiring(ExpiryChoice::Days(7)))
        .await
        .expect("create");
    db.clock.advance(Duration::days(7) - Duration::seconds(1));
    assert!(verdict(&store, &created.token).await.is_valid());
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(store.verify_cache_stats().0, 1, "cached");
    db.clock.advance(Duration::seconds(2));
    assert_eq!(verdict(&store, &created.token).await, Verdict::Expired);
}

/// A store whose cache holds two tokens: failures are never remembered, and the oldest entry goes
/// first when a third is added.
async fn wrong_secrets_are_never_cached_and_the_cache_stays_bounded(db: Db) {
    let store = db.open().await.with_verify_cache_capacity(2);
    let mut tokens = Vec::new();
    for name in ["one", "two", "three"] {
        let created = store
            .create_key(NewKey::named(name).expiring(ExpiryChoice::Never))
            .await
            .expect("create");
        // The right id with another secret: the row is found, argon2 refuses it.
        let forged = generate_token("kw", &created.key.id).expect("forge");
        for _ in 0..2 {
            assert_eq!(verdict(&store, &forged.token).await, Verdict::NotFound);
        }
        tokens.push(created.token);
    }
    assert_eq!(
        store.verify_cache_stats(),
        (0, 6),
        "a failed check is not remembered: checking it again hashes again"
    );
    for token in &tokens {
        assert!(verdict(&store, token).await.is_valid());
    }
    assert_eq!(store.verify_cache_stats(), (0, 9));
    // The first token's entry made room for the third: it simply costs a hash again, and then
    // the second token's entry is the oldest to go.
    assert!(verdict(&store, &tokens[0]).await.is_valid());
    assert_eq!(store.verify_cache_stats(), (0, 10));
    assert!(verdict(&store, &tokens[2]).await.is_valid());
    assert!(verdict(&store, &tokens[0]).await.is_valid());
    assert_eq!(store.verify_cache_stats(), (2, 10));
    assert!(verdict(&store, &tokens[1]).await.is_valid());
    assert_eq!(store.verify_cache_stats(), (2, 11));
}

on_both_backends!(
    scopes_come_from_the_catalogue_and_verify_enforces_them,
    untracked_keys_never_record_last_used,
    last_use_is_written_at_most_once_a_minute_and_never_hides_a_revocation,
    no_verification_succeeds_after_the_revoke_commits(multi_thread),
    a_cached_verification_still_reads_revocation_and_deletion_from_the_database,
    a_cached_verification_expires_when_the_clock_crosses_the_expiry,
    wrong_secrets_are_never_cached_and_the_cache_stays_bounded,
);
