//! A fresh database per test, on either backend, and the few things tests need around it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_core::{BackendKind, ManualClock, SecretToken, Store, StoreOptions, Verdict};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;

/// The actor tests ask for. SQLite records it; PostgreSQL records its login instead, so
/// assertions about who did something compare with [`Store::actor`].
pub const ACTOR: &str = "admin";

/// The superuser URL (without a database) of the server the PostgreSQL tests use.
const PG_SERVER_VAR: &str = "KEYWARD_TEST_PG";

/// Numbers this process's PostgreSQL databases, so parallel tests never pick the same name.
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// One test's database: a new SQLite file or a new PostgreSQL database, and the clock its
/// stores run on. Nothing is dropped afterwards: the SQLite file goes with its temporary
/// folder, the PostgreSQL cluster is thrown away after the run.
pub struct Db {
    kind: BackendKind,
    /// The SQLite file, or the PostgreSQL database's URL.
    location: PathBuf,
    /// Every store [`Db::open`] makes reads this clock; clones share its time.
    pub clock: ManualClock,
    /// Holds the SQLite file until the test ends (kept on PostgreSQL too, for one shape).
    _dir: tempfile::TempDir,
}

/// Now, on a whole millisecond: SQLite keeps milliseconds and PostgreSQL microseconds, so times
/// from this clock read back unchanged from either.
fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is representable")
}

/// The PostgreSQL server to test on. Fails, never skips: a run without a server would look green
/// while testing only half of the store.
pub fn pg_server() -> String {
    match std::env::var(PG_SERVER_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => panic!(
            "{PG_SERVER_VAR} is not set, so the PostgreSQL store tests have no server. Run them \
             through `make unit-tests` or `scripts/with-postgres cargo test -p keyward-store` \
             (both start a throwaway server), or set {PG_SERVER_VAR} to a superuser URL without \
             a database, e.g. postgres://postgres@127.0.0.1:5432. For the SQLite side alone: \
             `cargo test -p keyward-store sqlite::`."
        ),
    }
}

/// `server` (a URL without a database, maybe with `?options`) pointing at `database`.
fn with_database(server: &str, database: &str) -> String {
    match server.split_once('?') {
        Some((base, options)) => format!("{}/{database}?{options}", base.trim_end_matches('/')),
        None => format!("{server}/{database}"),
    }
}

impl Db {
    /// A new, empty SQLite file (created by the first store that opens it).
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            kind: BackendKind::Sqlite,
            location: dir.path().join("k.db"),
            clock: ManualClock::new(start_time()),
            _dir: dir,
        }
    }

    /// A new, empty PostgreSQL database with a name no other test (or run) uses.
    pub async fn postgres() -> Self {
        let server = pg_server();
        let name = format!(
            "kw_{}_{}_{:08x}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut admin = PgConnection::connect(&with_database(&server, "postgres"))
            .await
            .unwrap_or_else(|e| {
                panic!("cannot connect to the test server {PG_SERVER_VAR}={server}: {e}")
            });
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        admin.close().await.expect("close the admin connection");
        Self {
            kind: BackendKind::Postgres,
            location: PathBuf::from(with_database(&server, &name)),
            clock: ManualClock::new(start_time()),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// A store on this database with the shared clock and actor [`ACTOR`].
    pub async fn open(&self) -> Store {
        self.store_at(self.clock.clone()).await
    }

    /// Another store on the same database (its own connections and verify cache), as a second
    /// process would open it.
    pub async fn store_at(&self, clock: ManualClock) -> Store {
        self.open_with(StoreOptions {
            clock: Arc::new(clock),
            actor: ACTOR.into(),
        })
        .await
    }

    pub async fn open_with(&self, options: StoreOptions) -> Store {
        keyward_store::open_with(&self.location, options)
            .await
            .unwrap_or_else(|e| panic!("open {:?}: {e}", self.kind))
    }

    /// A connection of its own to the database, outside any store.
    pub async fn connect(&self) -> Raw {
        match self.kind {
            BackendKind::Sqlite => {
                let options = SqliteConnectOptions::new().filename(&self.location);
                Raw::Sqlite(
                    SqliteConnection::connect_with(&options)
                        .await
                        .expect("a direct SQLite connection"),
                )
            }
            BackendKind::Postgres => Raw::Postgres(
                PgConnection::connect(self.location.to_str().expect("a URL is text"))
                    .await
                    .expect("a direct PostgreSQL connection"),
            ),
        }
    }

    /// Runs one statement outside any store, as another program (or an older Keyward) would.
    pub async fn execute(&self, sql: &str) {
        match self.connect().await {
            Raw::Sqlite(mut db) => sqlx::query(sql).execute(&mut db).await.map(|_| ()),
            Raw::Postgres(mut db) => sqlx::query(sql).execute(&mut db).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// How many rows `table` holds: for what the store keeps but never shows (rows it cleared).
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (rows,): (i64,) = match self.connect().await {
            Raw::Sqlite(mut db) => sqlx::query_as(&sql).fetch_one(&mut db).await,
            Raw::Postgres(mut db) => sqlx::query_as(&sql).fetch_one(&mut db).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows
    }

    /// Who a store opened with the default options records as the author of changes: the
    /// operating-system account running the tests on SQLite, the database login on PostgreSQL.
    /// Found here without Keyward's code (`id -un`, `current_user`), to check it.
    pub async fn expected_default_actor(&self) -> String {
        match self.kind {
            BackendKind::Sqlite => {
                let out = std::process::Command::new("id")
                    .arg("-un")
                    .output()
                    .expect("id -un runs");
                assert!(out.status.success(), "id -un: {out:?}");
                String::from_utf8(out.stdout)
                    .expect("an account name is text")
                    .trim()
                    .to_owned()
            }
            BackendKind::Postgres => {
                let Raw::Postgres(mut db) = self.connect().await else {
                    panic!("a PostgreSQL database gives a PostgreSQL connection")
                };
                let (login,): (String,) = sqlx::query_as("SELECT current_user::text")
                    .fetch_one(&mut db)
                    .await
                    .expect("current_user");
                login
            }
        }
    }
}

/// A direct database connection (see [`Db::connect`]).
pub enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Another writer, mid-transaction, holding what writing a server's row needs, until
/// [`HeldLock::release`].
pub struct HeldLock(Raw);

impl Db {
    /// Starts another writer that holds server `id`'s row: SQLite's write lock (one writer
    /// at a time for the whole file), PostgreSQL's lock on that row (writers of other rows
    /// do not wait for each other there).
    pub async fn hold_server_row(&self, id: &str) -> HeldLock {
        let mut raw = self.connect().await;
        match &mut raw {
            Raw::Sqlite(db) => {
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *db)
                    .await
                    .expect("hold the write lock");
            }
            Raw::Postgres(db) => {
                sqlx::query("BEGIN").execute(&mut *db).await.expect("begin");
                let locked = sqlx::query("SELECT id FROM verify_servers WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_all(&mut *db)
                    .await
                    .expect("lock the row");
                assert_eq!(locked.len(), 1, "no row for server {id} to hold");
            }
        }
        HeldLock(raw)
    }
}

impl HeldLock {
    pub async fn release(self) {
        let rolled_back = match self.0 {
            Raw::Sqlite(mut db) => sqlx::query("ROLLBACK").execute(&mut db).await.map(drop),
            Raw::Postgres(mut db) => sqlx::query("ROLLBACK").execute(&mut db).await.map(drop),
        };
        rolled_back.expect("release the lock");
    }
}

/// What `verify` answers for `token` with no scopes asked for.
pub async fn verdict(store: &Store, token: &SecretToken) -> Verdict {
    store.verify(token, &[]).await.expect("verify")
}
