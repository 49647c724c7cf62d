//! Opening a PostgreSQL database: the address, one connection to look at what the database holds
//! and bring its schema up to date, then the pool every later query uses.
//!
//! The password comes from the URL, else `PGPASSWORD`, else the passfile (`PGPASSFILE` or
//! `~/.pgpass`, ignored unless only its owner may read it), as libpq does: sqlx's
//! `PgConnectOptions` already reads all three, so nothing here does. It also takes `PGHOST`,
//! `PGPORT`, `PGUSER` and `PGDATABASE` for what the URL leaves out.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use keyward_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use crate::errors::{Address, DbResult, LOCK_NOT_AVAILABLE};
use crate::PgBackend;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections per process: a desktop app or one verify server needs a few, and a team's server
/// has to serve everyone's (PostgreSQL's default limit is 100).
const POOL_SIZE: u32 = 5;
/// How long connecting may take before the server counts as unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// A pooled connection idle longer than this is checked before it is used again.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(30);
/// How long opening waits for another process that is setting up or upgrading the same database
/// (and how long an upgrade's statements wait for locks) before giving up.
const SETUP_WAIT: &str = "30s";
/// Serialises looking at and upgrading one database across processes; advisory locks are per
/// database already, so one constant number does ("KWRD").
const SETUP_LOCK: i64 = 0x4B57_5244;

/// Opens the Keyward database at `url` (`postgres://user@host:port/database`), creating its
/// tables in an empty database and upgrading them in one an older Keyward made. A database of
/// another program, or one a newer Keyward made, is refused and left untouched.
pub async fn open(url: &str) -> Result<PgBackend> {
    let options = connect_options(url)?;
    let at = Arc::new(Address::of(&options));
    let mut conn = match tokio::time::timeout(CONNECT_WAIT, options.connect()).await {
        Ok(connected) => connected.db(&at)?,
        Err(_) => {
            return Err(Error::Unavailable(format!(
                "The PostgreSQL server at {} did not answer within {} seconds. Check that it is \
                 running and that this computer can reach it; nothing was changed.",
                at.server(),
                CONNECT_WAIT.as_secs()
            )))
        }
    };
    let prepared = async {
        prepare(&mut conn, &at).await?;
        // The role the server logged in, which is what its permissions apply to (the name
        // asked for, unless the server maps it).
        let (login,): (String,) = sqlx::query_as("SELECT session_user::text")
            .fetch_one(&mut conn)
            .await
            .db(&at)?;
        Ok::<_, Error>(login)
    }
    .await;
    // Ending the session also releases the setup lock, whatever happened above.
    let _ = conn.close().await;
    let login = prepared?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(CONNECT_WAIT)
        // No JIT: it compiles a query whose estimated cost is high (a deep page of the list
        // sorted by status), adding tens of milliseconds to a query that runs in one. Set once
        // per connection rather than as a startup option, which poolers such as PgBouncer
        // refuse.
        // No parallel workers either: starting them costs more than a page (a walk of the
        // list's index for a short search took 115 ms with two workers, 1 ms without).
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET jit = off; SET max_parallel_workers_per_gather = 0")
                    .await
                    .map(|_| ())
            })
        })
        // sqlx pings every connection it hands out: a second round trip for every query, half
        // of a cached verify. Only a connection idle for a while may have been dropped by the
        // server or the network meanwhile, so only such a one is checked first.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > CHECK_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options);
    Ok(PgBackend {
        pool,
        at,
        login,
        changes: Default::default(),
    })
}

/// The options for `url`, refused in plain words (never repeating it: it may hold a password).
fn connect_options(url: &str) -> Result<PgConnectOptions> {
    let invalid = || {
        Error::InvalidInput(
            "The PostgreSQL address is not valid; write it as \
             postgres://USER@HOST:PORT/DATABASE. Nothing was changed."
                .into(),
        )
    };
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        return Err(invalid());
    }
    let options = PgConnectOptions::from_str(url).map_err(|_| invalid())?;
    // Shown in pg_stat_activity, so an administrator can tell Keyward's sessions apart.
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name("keyward"),
    })
}

/// What the database holds, as far as opening it goes.
#[derive(Debug, PartialEq, Eq)]
enum Contents {
    /// Nothing yet (or only sqlx's bookkeeping table, from a first start that stopped early).
    New,
    Ours {
        pending: bool,
    },
    /// Tables of another program; one of them, to name it.
    Foreign(String),
    /// Has this upgrade step, which this build does not know (or knows differently).
    Newer(i64),
    /// This upgrade step did not finish.
    Unfinished(i64),
}

/// Under the setup lock: looks at the database, then creates or upgrades the schema if that is
/// what it needs. sqlx's migrator takes an advisory lock of its own too, but only around the
/// migrations, not around the look before them; ours covers both, so of several processes
/// opening a new database at once, exactly one creates the tables and the others find them made.
async fn prepare(conn: &mut PgConnection, at: &Address) -> Result<()> {
    let waited = |e: sqlx::Error| match crate::errors::sqlstate(&e).as_deref() {
        Some(LOCK_NOT_AVAILABLE) => Error::TryAgain(format!(
            "Another Keyward is setting up or upgrading the key database at {}. Try again in a \
             moment; nothing was changed.",
            at.url()
        )),
        _ => at.explain(e),
    };
    sqlx::query(&format!("SET lock_timeout = '{SETUP_WAIT}'"))
        .execute(&mut *conn)
        .await
        .db(at)?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SETUP_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(waited)?;
    match inspect(conn, at).await? {
        Contents::Ours { pending: false } => crate::search_text::fill_missing(conn, at).await,
        Contents::New | Contents::Ours { pending: true } => {
            // `run_direct`, not `run`: `run` takes an `Acquire`, and its future is then not
            // `Send` for every lifetime, so `open` could not be spawned on a runtime.
            MIGRATOR.run_direct(&mut *conn).await.map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e)
                | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => {
                    match crate::errors::sqlstate(&e).as_deref() {
                        Some("42501") => cannot_create(at, &e),
                        _ => waited(e),
                    }
                }
                other => Error::Unavailable(format!(
                    "The key database at {} could not be brought up to date ({other}); nothing \
                     was changed.",
                    at.url()
                )),
            })?;
            crate::search_text::fill_missing(conn, at).await
        }
        Contents::Foreign(table) => Err(Error::Unavailable(format!(
            "The database \"{}\" on the PostgreSQL server at {} already holds tables that \
             Keyward did not make (such as \"{table}\"), so Keyward will not use it. Nothing was \
             changed; give Keyward a database of its own (for example: createdb keyward).",
            at.database,
            at.server()
        ))),
        Contents::Newer(version) => Err(Error::Unavailable(format!(
            "The key database at {} was made by a newer version of Keyward (it has upgrade \
             {version}, which this version does not know). Nothing was changed; install that \
             version of Keyward, or a later one, on this computer.",
            at.url()
        ))),
        Contents::Unfinished(version) => Err(Error::Unavailable(format!(
            "An upgrade of the key database at {} did not finish (step {version}), so Keyward \
             will not use it. Nothing was changed; restore it from a dump made before the \
             upgrade.",
            at.url()
        ))),
    }
}

fn cannot_create(at: &Address, e: &sqlx::Error) -> Error {
    let said = e
        .as_database_error()
        .map(|d| d.message().trim_end_matches('.').to_owned())
        .unwrap_or_default();
    Error::NotPermitted(format!(
        "Your database login \"{}\" may not create Keyward's tables in \"{}\" ({said}). Ask an \
         administrator to start Keyward once as the database's owner; nothing was changed.",
        at.user, at.database
    ))
}

/// A login that may connect but not read Keyward's tables: not one of the team's yet.
fn no_access(at: &Address, e: sqlx::Error) -> Error {
    match crate::errors::sqlstate(&e).as_deref() {
        Some("42501") => {
            let said = e
                .as_database_error()
                .map(|d| d.message().trim_end_matches('.').to_owned())
                .unwrap_or_default();
            Error::NotPermitted(format!(
                "Your database login \"{}\" has no access to the key database \"{}\" on the \
                 PostgreSQL server at {} ({said}). Ask an administrator to give it a Keyward \
                 role; nothing was changed.",
                at.user,
                at.database,
                at.server()
            ))
        }
        _ => at.explain(e),
    }
}

/// Reads what the database holds without changing anything: the relations in the schema new
/// tables would go to, and sqlx's record of the migrations applied.
async fn inspect(conn: &mut PgConnection, at: &Address) -> Result<Contents> {
    let relations: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
         ORDER BY c.relname",
    )
    .fetch_all(&mut *conn)
    .await
    .db(at)?;
    let mut others = relations
        .into_iter()
        .map(|(name,)| name)
        .filter(|name| name != "_sqlx_migrations");
    let has_record: Option<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relname = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await
    .db(at)?;
    let applied: Vec<(i64, Vec<u8>, bool)> = match has_record {
        None => Vec::new(),
        Some(_) => sqlx::query_as(
            "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| no_access(at, e))?,
    };
    let Some((first_version, first_checksum, _)) = applied.first() else {
        return Ok(match others.next() {
            None => Contents::New,
            Some(table) => Contents::Foreign(table),
        });
    };
    let ours = MIGRATOR
        .iter()
        .next()
        .is_some_and(|m| m.version == *first_version && *m.checksum == **first_checksum);
    if !ours {
        return Ok(Contents::Foreign("_sqlx_migrations".into()));
    }
    for (version, checksum, success) in &applied {
        if !success {
            return Ok(Contents::Unfinished(*version));
        }
        let known = MIGRATOR
            .iter()
            .any(|m| m.version == *version && *m.checksum == **checksum);
        if !known {
            return Ok(Contents::Newer(*version));
        }
    }
    let pending = MIGRATOR
        .iter()
        .any(|m| !applied.iter().any(|(version, ..)| *version == m.version));
    Ok(Contents::Ours { pending })
}
