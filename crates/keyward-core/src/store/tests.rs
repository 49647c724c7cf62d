use super::*;
use crate::clock::ManualClock;
use crate::models::*;
use crate::secret::SecretToken;

async fn store_at(dir: &tempfile::TempDir, clock: ManualClock) -> Store {
    let options = StoreOptions {
        clock: Arc::new(clock),
        actor: "admin".into(),
    };
    Store::open_with(&dir.path().join("k.db"), options)
        .await
        .expect("open")
}

/// What `verify` answers for `token` with no scopes asked for.
async fn verdict(store: &Store, token: &SecretToken) -> Verdict {
    store.verify(token, &[]).await.expect("verify")
}

async fn fresh() -> (tempfile::TempDir, Store, ManualClock) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(Utc::now());
    let store = store_at(&dir, clock.clone()).await;
    (dir, store, clock)
}

/// With the pool closed, any database read fails; a malformed token must still get its
/// verdict, which proves it was rejected before touching the database.
#[tokio::test]
async fn malformed_tokens_are_rejected_without_a_database_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("k.db")).await.expect("open");
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

#[test]
fn the_creator_is_the_account_running_the_process() {
    let user = current_os_user();
    assert_ne!(user, "unknown");
    #[cfg(unix)]
    assert_eq!(Some(user), account_of_this_process());
}

#[tokio::test]
async fn revoking_is_all_or_nothing_and_audited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("k.db")).await.expect("open");
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

#[tokio::test]
async fn an_owner_is_limited_to_five_active_keys_unless_overridden() {
    let (_dir, store, _) = fresh().await;
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

#[tokio::test]
async fn expired_keys_do_not_count_against_the_limit() {
    let (_dir, store, clock) = fresh().await;
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
    clock.advance(chrono::Duration::days(8));
    store
        .create_key(NewKey::named("new").owned_by("Bob"))
        .await
        .expect("expired keys free their slots");
}

#[tokio::test]
async fn scopes_come_from_the_catalogue_and_verify_enforces_them() {
    let (_dir, store, _) = fresh().await;
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
    assert_eq!((key.owner.as_str(), key.role), ("admin", Role::Project));
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

#[tokio::test]
async fn untracked_keys_never_record_last_used() {
    let (_dir, store, _) = fresh().await;
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

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute_and_never_hides_a_revocation() {
    let (_dir, store, clock) = fresh().await;
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
    let first = clock.now();
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(
        last_used().await.timestamp_millis(),
        first.timestamp_millis()
    );

    clock.advance(verify::LAST_USED_PRECISION - chrono::Duration::seconds(1));
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(
        last_used().await.timestamp_millis(),
        first.timestamp_millis()
    );

    clock.advance(chrono::Duration::seconds(1));
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(
        last_used().await.timestamp_millis(),
        clock.now().timestamp_millis()
    );

    // The next check writes nothing, yet still reads the revocation.
    store
        .revoke_keys(std::slice::from_ref(&created.key.id))
        .await
        .expect("revoke");
    assert_eq!(verdict(&store, &created.token).await, Verdict::Revoked);
}

#[tokio::test]
async fn editing_changes_only_what_was_asked_and_revoked_keys_are_read_only() {
    let (_dir, store, _) = fresh().await;
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
    assert!(
        updated
            .details
            .contains("\"owner\":{\"from\":\"admin\",\"to\":\"Carol\"}"),
        "{}",
        updated.details
    );
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

#[tokio::test]
async fn moving_a_key_to_an_owner_at_the_limit_needs_the_override() {
    let (_dir, store, _) = fresh().await;
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

#[tokio::test]
async fn owners_are_unique_regardless_of_case_and_can_be_renamed() {
    let (_dir, store, _) = fresh().await;
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

#[tokio::test]
async fn settings_are_validated_stored_and_audited() {
    let (_dir, store, _) = fresh().await;
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

#[tokio::test]
async fn the_list_filters_by_owner_role_and_expiry_and_sorts_any_column() {
    let (_dir, store, _) = fresh().await;
    store.create_owner("Eve").await.expect("owner");
    let mut soon = NewKey::named("b soon")
        .owned_by("Eve")
        .expiring(ExpiryChoice::Days(7));
    soon.role = Role::Admin;
    store.create_key(soon).await.expect("create");
    store
        .create_key(NewKey::named("a later").expiring(ExpiryChoice::Days(30)))
        .await
        .expect("create");
    store
        .create_key(NewKey::named("C never").expiring(ExpiryChoice::Never))
        .await
        .expect("create");

    let names = |page: KeyPage| page.keys.into_iter().map(|k| k.name).collect::<Vec<_>>();
    let by = |q: ListQuery| {
        let store = store.clone();
        async move { store.list_keys(&q).await.expect("list") }
    };
    let soon_only = by(ListQuery {
        expiring_within_days: Some(7),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(soon_only), ["b soon"]);
    let admins = by(ListQuery {
        role: Some(Role::Admin),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(admins), ["b soon"]);
    let eves = by(ListQuery {
        owner: Some("EVE".into()),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(eves.total, 1);
    let by_name = by(ListQuery {
        sort: SortColumn::Name,
        descending: false,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(by_name), ["a later", "b soon", "C never"]);
    let by_expiry = by(ListQuery {
        sort: SortColumn::Expires,
        descending: false,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(by_expiry), ["b soon", "a later", "C never"]);
    let by_owner = by(ListQuery {
        sort: SortColumn::Owner,
        descending: false,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(by_owner.keys[0].owner, "admin");
}

#[tokio::test]
async fn two_writers_cannot_pass_the_limit_together() {
    let (dir, store, clock) = fresh().await;
    store.create_owner("Race").await.expect("owner");
    let other = store_at(&dir, clock).await;
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

#[tokio::test]
async fn an_existing_database_is_backed_up_before_a_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    // A database made by the first release: only migration 0001 applied, with one key in it.
    let first_only = dir.path().join("first-migration");
    std::fs::create_dir(&first_only).expect("dir");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_init.sql"),
        first_only.join("0001_init.sql"),
    )
    .expect("copy");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.expect("pool");
        sqlx::migrate::Migrator::new(first_only.as_path())
            .await
            .expect("migrator")
            .run(&pool)
            .await
            .expect("0001");
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, name, secret_last4, secret_hash, created_at, \
             created_by) VALUES ('AAAAAAAAAA', 'kw', 'old key', 'abcd', 'x', 0, 'me')",
        )
        .execute(&pool)
        .await
        .expect("insert");
        pool.close().await;
    }

    let store = Store::open(&db).await.expect("open and migrate");
    let key = store.get_key("AAAAAAAAAA").await.expect("kept");
    assert_eq!(
        (key.name.as_str(), key.owner.as_str()),
        ("old key", "Unassigned")
    );
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("old.db.before-migration-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    // The backup is the old schema with the old data.
    let backup = dir.path().join(&backups[0]);
    let pool =
        SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&backup))
            .await
            .expect("backup opens");
    let (name,): (String,) = sqlx::query_as("SELECT name FROM api_keys")
        .fetch_one(&pool)
        .await
        .expect("old row");
    assert_eq!(name, "old key");
    let owner_column: Option<(String,)> =
        sqlx::query_as("SELECT name FROM pragma_table_info('api_keys') WHERE name = 'owner_id'")
            .fetch_optional(&pool)
            .await
            .expect("pragma");
    assert!(owner_column.is_none(), "the backup predates the migration");

    // Opening again migrates nothing, so no second backup.
    store.close().await;
    Store::open(&db).await.expect("reopen");
    let count = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("before-migration"))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_backup_on_demand_is_a_complete_database_and_never_overwrites() {
    let (dir, store, _) = fresh().await;
    store
        .create_key(NewKey::named("backed up"))
        .await
        .expect("create");
    let dest = dir.path().join("copy.db");
    store.backup(&dest).await.expect("backup");
    let copy = Store::open(&dest)
        .await
        .expect("the backup opens as a store");
    assert_eq!(
        copy.list_keys(&ListQuery::default())
            .await
            .expect("list")
            .total,
        1
    );
    let again = store.backup(&dest).await.expect_err("exists");
    assert!(again.to_string().contains("already exists"));
}

/// Many verifications run while the key is revoked. Any verification that started after the
/// revoke committed must not be valid, even though argon2 takes tens of milliseconds per check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_verification_succeeds_after_the_revoke_commits() {
    let (_dir, store, _) = fresh().await;
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

#[tokio::test]
async fn a_cached_verification_still_reads_revocation_and_deletion_from_the_database() {
    let (_dir, store, _) = fresh().await;
    let created = store
        .create_key(NewKey::named("cached"))
        .await
        .expect("create");
    assert!(verdict(&store, &created.token).await.is_valid());
    assert_eq!(store.verified.len(), 1);
    // A clone shares the cache, and a second check is a hit: nothing new is remembered.
    let clone = store.clone();
    assert!(verdict(&clone, &created.token).await.is_valid());
    assert_eq!(store.verified.len(), 1);

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
    store
        .delete_keys(std::slice::from_ref(&other.key.id))
        .await
        .expect("delete");
    assert_eq!(verdict(&store, &other.token).await, Verdict::NotFound);
}

#[tokio::test]
async fn a_cached_verification_expires_when_the_clock_crosses_the_expiry() {
    let (_dir, store, clock) = fresh().await;
    let created = store
        .create_key(NewKey::named("short").expiring(ExpiryChoice::Days(7)))
        .await
        .expect("create");
    clock.advance(chrono::Duration::days(7) - chrono::Duration::seconds(1));
    assert!(verdict(&store, &created.token).await.is_valid());
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(verdict(&store, &created.token).await, Verdict::Expired);
}

#[tokio::test]
async fn wrong_secrets_are_never_cached_and_the_cache_stays_bounded() {
    let (_dir, store, _) = fresh().await;
    let store = store.with_verify_cache_capacity(2);
    let mut tokens = Vec::new();
    for name in ["one", "two", "three"] {
        let created = store
            .create_key(NewKey::named(name).expiring(ExpiryChoice::Never))
            .await
            .expect("create");
        let forged = crate::token::generate_token("kw", &created.key.id).expect("forge");
        assert_eq!(verdict(&store, &forged.token).await, Verdict::NotFound);
        tokens.push(created.token);
    }
    assert_eq!(store.verified.len(), 0, "a failed check is not remembered");
    for token in &tokens {
        assert!(verdict(&store, token).await.is_valid());
    }
    assert_eq!(store.verified.len(), 2);
    // The oldest entry was dropped; its key simply costs a hash again.
    assert!(verdict(&store, &tokens[0]).await.is_valid());
    assert_eq!(store.verified.len(), 2);
}

#[tokio::test]
async fn search_finds_any_substring_of_the_name_or_handle_and_follows_renames_and_deletes() {
    let (_dir, store, _) = fresh().await;
    let billing = store
        .create_key(NewKey::named("Billing-API \"prod\" 100%"))
        .await
        .expect("create");
    store
        .create_key(NewKey::named("reporting"))
        .await
        .expect("create");
    let search = |term: &str| {
        let (store, term) = (store.clone(), term.to_owned());
        async move {
            let page = store
                .list_keys(&ListQuery {
                    search: Some(term),
                    ..ListQuery::default()
                })
                .await
                .expect("list");
            assert_eq!(page.total as usize, page.keys.len());
            let mut names: Vec<String> = page.keys.into_iter().map(|k| k.name).collect();
            names.sort();
            names
        }
    };
    let name = "Billing-API \"prod\" 100%";
    for term in [
        "ling-a", "BILLING", "\"prod\"", "100%", "porting", "r", "%", "0%",
    ] {
        let expected: Vec<&str> = [name, "reporting"]
            .into_iter()
            .filter(|n| n.to_lowercase().contains(&term.to_lowercase()))
            .collect();
        assert_eq!(search(term).await, expected, "{term:?}");
    }
    let handle = format!("kw_{}", &billing.key.id[..5]);
    assert_eq!(search(&handle).await, [name]);
    assert_eq!(search(&billing.key.id[3..9]).await, [name]);

    store
        .update_key(
            &billing.key.id,
            KeyUpdate {
                name: Some("ledger".into()),
                ..KeyUpdate::default()
            },
        )
        .await
        .expect("rename");
    assert!(search("billing").await.is_empty());
    assert_eq!(search("edge").await, ["ledger"]);
    store
        .delete_keys(std::slice::from_ref(&billing.key.id))
        .await
        .expect("delete");
    assert!(search("edge").await.is_empty());
    assert!(search(&handle).await.is_empty());
}

/// Every filter and every sort reads an index: the plan never scans the whole key table.
#[tokio::test]
async fn every_list_filter_and_sort_reads_an_index() {
    let (_dir, store, clock) = fresh().await;
    store.seed_keys(2_000).await.expect("seed");
    let owner = store.list_owners().await.expect("owners")[0].name.clone();
    // Counts for some keys, so that the usage sort has both of its parts.
    let day = crate::plans::QuotaPeriod::Day.start_of(clock.now());
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM api_keys LIMIT 300")
        .fetch_all(&store.pool)
        .await
        .expect("ids");
    let counts: Vec<_> = ids
        .into_iter()
        .zip(1..)
        .map(|((id,), n)| (id, day, n % 40))
        .collect();
    store.add_quota_usage(&counts).await.expect("usage");
    let filters = [
        ListQuery::default(),
        // Few matches: fetched and sorted.
        ListQuery {
            search: Some("billing".into()),
            ..ListQuery::default()
        },
        // Every key matches: the sort's index is walked instead.
        ListQuery {
            search: Some("kw_".into()),
            ..ListQuery::default()
        },
        // Too short for trigrams: LIKE while walking the sort's index.
        ListQuery {
            search: Some("bi".into()),
            ..ListQuery::default()
        },
        ListQuery {
            status: Some(KeyStatus::Active),
            ..ListQuery::default()
        },
        ListQuery {
            status: Some(KeyStatus::Expired),
            ..ListQuery::default()
        },
        ListQuery {
            status: Some(KeyStatus::Revoked),
            ..ListQuery::default()
        },
        ListQuery {
            owner: Some(owner),
            ..ListQuery::default()
        },
        ListQuery {
            role: Some(Role::Admin),
            ..ListQuery::default()
        },
        ListQuery {
            expiring_within_days: Some(7),
            ..ListQuery::default()
        },
    ];
    let sorts = [
        SortColumn::Name,
        SortColumn::Owner,
        SortColumn::Role,
        SortColumn::Status,
        SortColumn::Expires,
        SortColumn::LastUsed,
        SortColumn::Usage,
    ];
    let mut queries: Vec<ListQuery> = filters.to_vec();
    for sort in sorts {
        for descending in [true, false] {
            queries.push(ListQuery {
                sort,
                descending,
                ..ListQuery::default()
            });
        }
    }
    // Usage with every filter too: its two parts each keep an index.
    queries.extend(filters.iter().map(|filter| ListQuery {
        sort: SortColumn::Usage,
        ..filter.clone()
    }));
    for query in queries {
        let plan = store.list_query_plan(&query).await.expect("plan");
        for line in plan.page.iter().chain(&plan.count) {
            let scans_the_table = (line.starts_with("SCAN k")
                || line.starts_with("SCAN u")
                || line.starts_with("SCAN api_keys")
                || line.starts_with("SCAN quota_usage"))
                && !line.contains("INDEX");
            assert!(!scans_the_table, "{query:?}\n{plan:#?}");
        }
        // One owner's keys, those expiring this week and a few search matches are found from
        // their own index and sorted instead.
        let few = query.search.as_deref() == Some("billing")
            || query.owner.is_some()
            || query.expiring_within_days.is_some();
        if query.sort == SortColumn::Usage && !few {
            // Counted keys in count order from their index, the others in creation order:
            // only the two parts' first offset + limit rows are sorted, never every key.
            assert!(
                plan.page
                    .iter()
                    .any(|l| l.starts_with("SEARCH u USING INDEX quota_usage_by_used")),
                "{query:?}\n{plan:#?}"
            );
            // The only sorts are of each part's rows (after `SCAN (subquery-n)`), to merge them.
            let sorts_inside_a_part = plan.page.windows(2).any(|pair| {
                pair[1].contains("TEMP B-TREE") && !pair[0].starts_with("SCAN (subquery-")
            });
            assert!(!sorts_inside_a_part, "{query:?}\n{plan:#?}");
        }
        // In list order already: no sort of the whole table for one page. (A few search
        // matches, one owner's keys and the keys expiring this week are sorted; so are the
        // first offset + limit keys of each status, for the status sort.)
        if !few && query.sort != SortColumn::Status && query.sort != SortColumn::Usage {
            assert!(
                !plan
                    .page
                    .iter()
                    .any(|l| l == "USE TEMP B-TREE FOR ORDER BY"),
                "{query:?}\n{plan:#?}"
            );
        }
    }
}

/// Page after page, every sort gives exactly the order its definition says, with no key twice
/// and none missing, across the boundaries between statuses too.
#[tokio::test]
async fn every_sort_pages_through_all_keys_in_the_defined_order() {
    let (_dir, store, _) = fresh().await;
    store.seed_keys(300).await.expect("seed");
    let now = store.now();
    let all = store
        .list_keys(&ListQuery {
            limit: 200,
            ..ListQuery::default()
        })
        .await
        .expect("list");
    let mut all = all.keys;
    all.extend(
        store
            .list_keys(&ListQuery {
                limit: 200,
                offset: 200,
                ..ListQuery::default()
            })
            .await
            .expect("list")
            .keys,
    );
    assert_eq!(all.len(), 300);
    let rank = |k: &KeySummary| match k.status {
        KeyStatus::Active => 0,
        KeyStatus::Expired => 1,
        KeyStatus::Revoked => 2,
    };
    for sort in [
        SortColumn::Created,
        SortColumn::Name,
        SortColumn::Owner,
        SortColumn::Role,
        SortColumn::Status,
        SortColumn::Expires,
        SortColumn::LastUsed,
        SortColumn::Usage,
    ] {
        for descending in [true, false] {
            let mut expected = all.clone();
            expected.sort_by(|a, b| {
                let lead = match sort {
                    // No key has a quota count here (see the next test for those).
                    SortColumn::Created | SortColumn::Usage => std::cmp::Ordering::Equal,
                    SortColumn::Name => a
                        .name
                        .to_ascii_lowercase()
                        .cmp(&b.name.to_ascii_lowercase()),
                    SortColumn::Owner => a
                        .owner
                        .to_ascii_lowercase()
                        .cmp(&b.owner.to_ascii_lowercase()),
                    SortColumn::Role => a.role.as_str().cmp(b.role.as_str()),
                    SortColumn::Status => rank(a).cmp(&rank(b)),
                    SortColumn::Expires => a
                        .expires_at
                        .map_or(i64::MAX, |t| t.timestamp_millis())
                        .cmp(&b.expires_at.map_or(i64::MAX, |t| t.timestamp_millis())),
                    SortColumn::LastUsed => a
                        .last_used_at
                        .map_or(0, |t| t.timestamp_millis())
                        .cmp(&b.last_used_at.map_or(0, |t| t.timestamp_millis())),
                };
                let order = lead
                    .then(a.created_at.cmp(&b.created_at))
                    .then(a.id.cmp(&b.id));
                if descending {
                    order.reverse()
                } else {
                    order
                }
            });
            let mut paged = Vec::new();
            for offset in (0..300).step_by(40) {
                let page = store
                    .list_keys(&ListQuery {
                        sort,
                        descending,
                        offset,
                        limit: 40,
                        ..ListQuery::default()
                    })
                    .await
                    .expect("list");
                assert_eq!(page.total, 300);
                paged.extend(page.keys.into_iter().map(|k| k.id));
            }
            let expected: Vec<String> = expected.into_iter().map(|k| k.id).collect();
            assert_eq!(paged, expected, "{sort:?} descending {descending} at {now}");
        }
    }
}

/// The usage sort orders keys by their count in their plan's current period, as the details
/// panel shows it: a count from an ended period, or kept from a plan without a quota, is 0.
/// Equal counts go by id; keys at 0 by creation time. Filters apply to both parts.
#[tokio::test]
async fn the_usage_sort_orders_keys_by_their_count_this_period() {
    use crate::plans::{NewPlan, PlanLimits, Quota, QuotaPeriod};
    use std::collections::HashMap;

    let (_dir, store, clock) = fresh().await;
    for (name, per) in [("Daily", QuotaPeriod::Day), ("Monthly", QuotaPeriod::Month)] {
        let limits = PlanLimits {
            rate_per_second: None,
            burst: None,
            quota: Some(Quota { limit: 1000, per }),
        };
        store
            .create_plan(NewPlan {
                name: name.into(),
                limits,
            })
            .await
            .expect("plan");
    }
    // (name, plan, count added, for which period: 0 = this one, 1 = the one before)
    let keys = [
        ("busy", "Daily", 9, 0),
        ("tied-1", "Daily", 5, 0),
        ("tied-2", "Monthly", 5, 0),
        ("tied-3", "Daily", 5, 0),
        ("yesterday", "Daily", 100, 1),
        ("was-metered", "Unlimited", 50, 0),
        ("unchecked", "Daily", 0, 0),
        ("zero", "Daily", 0, 0),
        ("one", "Monthly", 1, 0),
        ("revoked", "Daily", 7, 0),
        ("unlimited", "Unlimited", 0, 0),
    ];
    let mut ids = HashMap::new();
    for (name, plan, _, _) in keys {
        let created = store
            .create_key(NewKey {
                plan: Some(plan.into()),
                override_limit: true,
                ..NewKey::named(name).expiring(ExpiryChoice::Never)
            })
            .await
            .expect("create");
        ids.insert(name, created.key.id);
        clock.advance(chrono::Duration::milliseconds(10));
    }
    store
        .revoke_keys(&[ids["revoked"].clone()])
        .await
        .expect("revoke");
    let now = clock.now();
    let counts: Vec<_> = keys
        .iter()
        .filter(|(name, ..)| *name != "unchecked")
        .map(|&(name, plan, used, ago)| {
            let per = if plan == "Monthly" {
                QuotaPeriod::Month
            } else {
                QuotaPeriod::Day
            };
            let start = per.start_of(now) - chrono::Duration::days(ago);
            (ids[name].clone(), start, used)
        })
        .collect();
    store.add_quota_usage(&counts).await.expect("usage");

    // What the details panel says each key has used (nothing for a plan without a quota).
    let mut used = HashMap::new();
    for (name, ..) in keys {
        let usage = store.quota_usage(&ids[name]).await.expect("usage");
        used.insert(ids[name].clone(), usage.map_or(0, |u| u.used));
    }
    assert_eq!(used[&ids["yesterday"]], 0);
    assert_eq!(used[&ids["was-metered"]], 0);

    let all = store
        .list_keys(&ListQuery {
            limit: 200,
            ..ListQuery::default()
        })
        .await
        .expect("list")
        .keys;
    for status in [None, Some(KeyStatus::Active)] {
        for descending in [true, false] {
            let mut expected: Vec<&KeySummary> = all
                .iter()
                .filter(|k| status.is_none_or(|s| k.status == s))
                .collect();
            expected.sort_by(|a, b| {
                let (ua, ub) = (used[&a.id], used[&b.id]);
                let order = ua.cmp(&ub).then(if ua > 0 && ub > 0 {
                    a.id.cmp(&b.id)
                } else {
                    a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))
                });
                if descending {
                    order.reverse()
                } else {
                    order
                }
            });
            let expected: Vec<&str> = expected.iter().map(|k| k.name.as_str()).collect();
            // Pages of 2, so page boundaries fall inside and between the parts.
            let mut paged = Vec::new();
            for offset in (0..keys.len() as u32).step_by(2) {
                let page = store
                    .list_keys(&ListQuery {
                        sort: SortColumn::Usage,
                        descending,
                        status,
                        offset,
                        limit: 2,
                        ..ListQuery::default()
                    })
                    .await
                    .expect("list");
                assert_eq!(page.total as usize, expected.len());
                paged.extend(page.keys.into_iter().map(|k| k.name));
            }
            assert_eq!(paged, expected, "{status:?} descending {descending}");
        }
    }
    // Spelled out once, most used first.
    let first: Vec<String> = store
        .list_keys(&ListQuery {
            sort: SortColumn::Usage,
            limit: 6,
            ..ListQuery::default()
        })
        .await
        .expect("list")
        .keys
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(first[..2], ["busy", "revoked"]);
    let mut tied = first[2..5].to_vec();
    tied.sort();
    assert_eq!(tied, ["tied-1", "tied-2", "tied-3"]);
    assert_eq!(first[5], "one");
}
