//! Opening a database: a new one is set up once however many processes open it at once; one of
//! another program or of a newer Keyward is refused and left untouched; the password never shows.

use keyward_core::backend::{Backend, BackendKind};
use keyward_core::Error;
use sqlx::Connection;

use crate::common::{connect, new_database, open_new, schema_of, server_url};

#[tokio::test]
async fn a_new_database_gets_its_tables_the_search_extension_and_the_unlimited_plan() {
    let (name, url) = new_database().await;
    let backend = keyward_postgres::open(&url).await.expect("open");
    assert_eq!(backend.kind(), BackendKind::Postgres);
    assert!(!backend.is_read_only());
    let (relations, applied, extensions) = schema_of(&url).await;
    for table in [
        "owners",
        "plans",
        "api_keys",
        "settings",
        "audit_log",
        "quota_usage",
        "verify_servers",
        "api_keys_search_trgm",
        "api_keys_unsearchable",
    ] {
        assert!(
            relations.iter().any(|r| r == table),
            "{table}: {relations:?}"
        );
    }
    assert_eq!(
        applied.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (1..=migration_files()).collect::<Vec<i64>>(),
        "every migration, once"
    );
    assert!(extensions.iter().any(|e| e == "pg_trgm"), "{extensions:?}");
    let plans = backend.plans().await.expect("plans");
    assert_eq!(plans.len(), 1);
    assert_eq!(
        (plans[0].name.as_str(), plans[0].is_default, plans[0].keys),
        ("Unlimited", true, Some(0))
    );
    assert!(backend.location().ends_with(&format!("/{name}")));
    assert_eq!(backend.login(), "postgres");
    // Never a JIT compilation in the middle of an interactive query.
    let (jit,): (String,) = sqlx::query_as("SHOW jit")
        .fetch_one(backend.pool())
        .await
        .expect("show");
    assert_eq!(jit, "off");
    backend.close().await;

    // Opening it again changes nothing.
    let again = keyward_postgres::open(&url).await.expect("reopen");
    assert_eq!(schema_of(&url).await.1, applied);
    again.close().await;
}

/// How many migrations this build has: one file each in `migrations/`, numbered from 1.
fn migration_files() -> i64 {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    std::fs::read_dir(folder)
        .expect("migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count() as i64
}

#[tokio::test]
async fn eight_processes_opening_a_new_database_at_once_set_it_up_once() {
    let (_, url) = new_database().await;
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { keyward_postgres::open(&url).await })
        })
        .collect();
    for open in opens {
        let backend = open.await.expect("task").expect("every open succeeds");
        backend.close().await;
    }
    let (_, applied, _) = schema_of(&url).await;
    assert_eq!(applied.len() as i64, migration_files());
    // The migration that makes "Unlimited" ran once.
    let mut db = connect(&url).await;
    let (plans,): (i64,) = sqlx::query_as("SELECT count(*) FROM plans")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(plans, 1);
    let _ = db.close().await;
}

fn refused(result: keyward_core::Result<keyward_postgres::PgBackend>, words: &str) -> String {
    match result {
        Err(Error::Unavailable(message)) => {
            assert!(message.contains(words), "{message:?} lacks {words:?}");
            assert!(message.contains("Nothing was changed"), "{message:?}");
            message
        }
        other => panic!("expected a refusal saying {words:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_a_newer_keyward_made_is_refused_untouched() {
    let (backend, url) = open_new().await;
    backend.close().await;
    let mut db = connect(&url).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 1)",
    )
    .execute(&mut db)
    .await
    .expect("a newer migration");
    let before = schema_of(&url).await;
    refused(
        keyward_postgres::open(&url).await,
        "newer version of Keyward",
    );
    assert_eq!(schema_of(&url).await, before);

    // A known step whose contents differ is as unknown.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 9999")
        .execute(&mut db)
        .await
        .expect("delete");
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x01' WHERE version = 2")
        .execute(&mut db)
        .await
        .expect("update");
    let before = schema_of(&url).await;
    refused(
        keyward_postgres::open(&url).await,
        "newer version of Keyward",
    );
    assert_eq!(schema_of(&url).await, before);
    let _ = db.close().await;
}

#[tokio::test]
async fn a_database_of_another_program_is_refused_untouched() {
    let (name, url) = new_database().await;
    let mut db = connect(&url).await;
    sqlx::query("CREATE TABLE customers (id serial PRIMARY KEY, name text)")
        .execute(&mut db)
        .await
        .expect("a foreign table");
    let before = schema_of(&url).await;
    let message = refused(keyward_postgres::open(&url).await, "Keyward did not make");
    assert!(
        message.contains(&name) && message.contains("customers"),
        "{message}"
    );
    assert_eq!(
        schema_of(&url).await,
        before,
        "no extension, no table was added"
    );

    // Another sqlx program's migrations are not ours either.
    let (_, url) = new_database().await;
    let mut other = connect(&url).await;
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
         checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations VALUES (20240101000000, 'init', now(), true, '\\x00', 1)",
    )
    .execute(&mut other)
    .await
    .expect("another program's migrations");
    let before = schema_of(&url).await;
    refused(keyward_postgres::open(&url).await, "Keyward did not make");
    assert_eq!(schema_of(&url).await, before);
    let _ = other.close().await;
    let _ = db.close().await;
}

/// Splices `password` into the test server's URL as `user:password@`.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').expect("a user in KEYWARD_TEST_PG");
    format!("{scheme}://{user}:{password}@{host}")
}

#[tokio::test]
async fn the_password_never_appears_in_the_location_debug_output_or_errors() {
    const PASSWORD: &str = "Sesame-0pen-4ll";
    let (_, url) = new_database().await;
    // The test server trusts every login, so the password is sent nowhere it matters; what
    // counts is that Keyward never repeats it.
    let backend = keyward_postgres::open(&with_password(&url, PASSWORD))
        .await
        .expect("open");
    assert!(
        !backend.location().contains(PASSWORD),
        "{}",
        backend.location()
    );
    assert!(backend
        .location()
        .starts_with("postgres://postgres@127.0.0.1:"));
    assert!(!format!("{backend:?}").contains(PASSWORD));
    let backup = backend
        .backup(std::path::Path::new("/tmp/never-written.dump"))
        .await
        .expect_err("refused");
    assert!(matches!(backup, Error::InvalidInput(_)));
    assert!(backup.to_string().contains("pg_dump"), "{backup}");
    assert!(!backup.to_string().contains(PASSWORD));
    backend.close().await;

    let no_such = with_password(&format!("{}/no_such_database_here", server_url()), PASSWORD);
    let missing = keyward_postgres::open(&no_such)
        .await
        .expect_err("no database");
    assert!(matches!(missing, Error::Unavailable(_)), "{missing:?}");
    assert!(missing
        .to_string()
        .contains("no database named \"no_such_database_here\""));
    assert!(!missing.to_string().contains(PASSWORD) && !format!("{missing:?}").contains(PASSWORD));

    // Nothing listens on port 1.
    let closed = format!("postgres://someone:{PASSWORD}@127.0.0.1:1/keys");
    let unreachable = keyward_postgres::open(&closed)
        .await
        .expect_err("unreachable");
    assert!(
        unreachable
            .to_string()
            .contains("The PostgreSQL server at 127.0.0.1:1 cannot be reached"),
        "{unreachable}"
    );
    assert!(!format!("{unreachable:?}").contains(PASSWORD));

    for bad in [
        format!("postgres://someone:{PASSWORD}@127.0.0.1:notaport/keys"),
        format!("mysql://someone:{PASSWORD}@127.0.0.1/keys"),
    ] {
        let invalid = keyward_postgres::open(&bad).await.expect_err("invalid");
        assert!(matches!(invalid, Error::InvalidInput(_)), "{invalid:?}");
        assert!(!format!("{invalid:?}").contains(PASSWORD));
    }
}

#[tokio::test]
async fn a_login_without_the_right_to_create_tables_is_told_so_and_nothing_is_made() {
    let (name, url) = new_database().await;
    let mut admin = connect(&url).await;
    let role = format!("{name}_reader");
    sqlx::raw_sql(&format!(
        "CREATE ROLE {role} LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
         REVOKE CREATE ON DATABASE {name} FROM PUBLIC"
    ))
    .execute(&mut admin)
    .await
    .expect("a login without rights");
    let as_reader = url.replacen("postgres@", &format!("{role}@"), 1);
    let before = schema_of(&url).await;
    match keyward_postgres::open(&as_reader).await {
        Err(Error::NotPermitted(message)) => {
            assert!(message.contains(&role), "{message}");
            assert!(message.contains("nothing was changed"), "{message}");
        }
        other => panic!("expected NotPermitted, got {other:?}"),
    }
    assert_eq!(schema_of(&url).await, before);

    // Once the owner has made the tables, the same login opens the database: nothing is pending,
    // so nothing is created. (Reading the migrations' record is all opening needs.)
    keyward_postgres::open(&url)
        .await
        .expect("the owner sets it up")
        .close()
        .await;
    sqlx::raw_sql(&format!(
        "GRANT SELECT ON _sqlx_migrations, plans TO {role}; \
         GRANT SELECT, INSERT, UPDATE ON api_keys, owners, audit_log TO {role}"
    ))
    .execute(&mut admin)
    .await
    .expect("grant");
    let before = schema_of(&url).await;
    let backend = keyward_postgres::open(&as_reader)
        .await
        .expect("open as the reader");
    assert_eq!(backend.login(), role);
    assert_eq!(backend.plans().await.expect("plans").len(), 1);
    backend.close().await;
    assert_eq!(schema_of(&url).await, before);
    let _ = admin.close().await;
}

#[tokio::test]
async fn connections_the_server_dropped_are_replaced_after_at_most_one_failed_call_each() {
    let (backend, url) = open_new().await;
    assert!(backend.key("nosuchkey0").await.expect("read").is_none());
    // The server ends every session of this database (a restart, an administrator).
    let mut admin = connect(&format!("{}/postgres", server_url())).await;
    let database = url.rsplit('/').next().expect("a name").to_owned();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&database)
    .execute(&mut admin)
    .await
    .expect("terminate");
    let _ = admin.close().await;
    let mut failures = 0;
    for _ in 0..10 {
        match backend.key("nosuchkey0").await {
            Ok(found) => {
                assert!(found.is_none());
                break;
            }
            Err(e) => {
                assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
                failures += 1;
            }
        }
    }
    assert!(failures <= 1, "{failures} failed calls");
    assert!(backend.key("nosuchkey0").await.expect("read").is_none());
    backend.close().await;
}
