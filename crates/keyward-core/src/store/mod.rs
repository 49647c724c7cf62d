//! The one SQLite file: opening it safely, and every read and write of keys and audit rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{FromRow, Sqlite, Transaction};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{
    AuditEvent, CreatedKey, KeyPage, KeyStatus, KeySummary, ListQuery, NewKey, RevokeOutcome,
    Verdict, VerifiedKey, MAX_PAGE_SIZE,
};
use crate::secret::SecretToken;
use crate::token::{self, masked, parse_token, DEFAULT_PREFIX};

const DEFAULT_PAGE_SIZE: u32 = 50;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open a [`Store`]: the clock and the name written as the actor of every change.
pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    pub actor: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            actor: current_os_user(),
        }
    }
}

/// The operating-system user running this process, recorded as "created by" and in the audit log.
/// The account of the real uid comes first: environment variables can be missing (a process
/// started by a service or a test driver) or set to anything.
pub fn current_os_user() -> String {
    account_of_this_process()
        .or_else(|| {
            ["USER", "USERNAME", "LOGNAME"]
                .iter()
                .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(unix)]
fn account_of_this_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid && !fields[0].is_empty())
            .then(|| fields[0].to_owned())
    })
}

#[cfg(not(unix))]
fn account_of_this_process() -> Option<String> {
    None
}

/// The key database. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    actor: String,
    path: PathBuf,
}

#[derive(FromRow)]
struct KeyRow {
    id: String,
    prefix: String,
    name: String,
    secret_last4: String,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

const KEY_COLUMNS: &str = "id, prefix, name, secret_last4, created_at, created_by, expires_at, \
                           revoked_at, last_used_at";

/// The status of a row, in SQL, so that filtering by status happens in the query. `?` is now.
const STATUS_SQL: &str = "CASE WHEN revoked_at IS NOT NULL THEN 'revoked' \
     WHEN expires_at IS NOT NULL AND expires_at <= ?1 THEN 'expired' ELSE 'active' END";

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    key_id: Option<String>,
    details: String,
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl KeyRow {
    fn into_summary(self, now: DateTime<Utc>) -> KeySummary {
        let expires_at = self.expires_at.map(from_millis);
        let revoked_at = self.revoked_at.map(from_millis);
        KeySummary {
            masked: masked(&self.prefix, &self.id, &self.secret_last4),
            status: KeyStatus::derive(now, expires_at, revoked_at),
            id: self.id,
            prefix: self.prefix,
            name: self.name,
            created_at: from_millis(self.created_at),
            created_by: self.created_by,
            expires_at,
            revoked_at,
            last_used_at: self.last_used_at.map(from_millis),
        }
    }
}

/// Explains an SQLite failure at open time in words a person can act on.
fn explain_open_error(path: &Path, error: sqlx::Error) -> Error {
    let shown = path.display();
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    let message = match code {
        Some(26) | Some(11) => format!(
            "The file {shown} is not a Keyward database, or it is damaged. It was left untouched; \
             restore it from a backup or choose another file."
        ),
        Some(14) => format!(
            "The database {shown} could not be opened. Check that its folder exists and that you \
             may write to it."
        ),
        Some(8) => format!("The database {shown} is read-only, so keys cannot be changed."),
        Some(5) | Some(6) => {
            format!("The database {shown} is locked by another program. Close it and try again.")
        }
        _ => format!("The database {shown} could not be opened: {error}"),
    };
    Error::Unavailable(message)
}

impl Store {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, StoreOptions::default()).await
    }

    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect)
            .await
            .map_err(|e| explain_open_error(path, e))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(inner) => explain_open_error(path, inner),
                other => Error::Migration(other),
            })?;
        Ok(Self {
            pool,
            clock: options.clock,
            actor: options.actor,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Closes the pool, checkpointing the WAL into the main file.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction that takes the write lock up front, so two processes never both read
    /// and then both write on stale data.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn audit(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        at: DateTime<Utc>,
        action: &str,
        key_id: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, key_id, details) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(to_millis(at))
        .bind(&self.actor)
        .bind(action)
        .bind(key_id)
        .bind(details.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Issues a new key. The returned token is the only copy of the secret there will ever be.
    pub async fn create_key(&self, new: NewKey) -> Result<CreatedKey> {
        let name = crate::models::validate_name(&new.name)?;
        let now = self.clock.now();
        let expires_at = new.expiry.expires_at(now)?;
        // Ids are random over 62^10: a clash is astronomically rare, but must not be an error.
        for _ in 0..3 {
            let generated = token::generate_token(DEFAULT_PREFIX, &token::generate_id())?;
            // Hash before taking the write lock: argon2 takes tens of milliseconds and other
            // writers should not wait for it.
            let phc = hash::hash_secret(generated.secret()).await?;
            match self
                .insert_key(&generated, &name, now, expires_at, &phc)
                .await
            {
                Err(Error::Database(e)) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    return Ok(CreatedKey {
                        key: self.get_key(&generated.id).await?,
                        token: generated.token,
                    })
                }
            }
        }
        Err(Error::Unavailable(
            "Could not find a free key id after three tries; try again.".into(),
        ))
    }

    async fn insert_key(
        &self,
        generated: &token::GeneratedToken,
        name: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        phc: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, name, secret_last4, secret_hash, created_at, \
             created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&generated.id)
        .bind(DEFAULT_PREFIX)
        .bind(name)
        .bind(&generated.secret_last4)
        .bind(phc)
        .bind(to_millis(now))
        .bind(&self.actor)
        .bind(expires_at.map(to_millis))
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            now,
            "key_created",
            &generated.id,
            json!({ "name": name, "expires_at": expires_at }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of keys, newest first, searched and filtered in SQL.
    pub async fn list_keys(&self, query: &ListQuery) -> Result<KeyPage> {
        let now = self.clock.now();
        let limit = match query.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let pattern = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let escaped = s
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("%{escaped}%")
            });
        let status = query.status.map(KeyStatus::as_str);
        let filter = format!(
            "WHERE (?2 IS NULL OR name LIKE ?2 ESCAPE '\\' OR (prefix || '_' || id) LIKE ?2 ESCAPE '\\') \
             AND (?3 IS NULL OR {STATUS_SQL} = ?3)"
        );
        let rows: Vec<KeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys {filter} \
             ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5"
        ))
        .bind(to_millis(now))
        .bind(&pattern)
        .bind(status)
        .bind(limit)
        .bind(query.offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM api_keys {filter}"))
            .bind(to_millis(now))
            .bind(&pattern)
            .bind(status)
            .fetch_one(&self.pool)
            .await?;
        Ok(KeyPage {
            keys: rows.into_iter().map(|r| r.into_summary(now)).collect(),
            total: u32::try_from(total).unwrap_or(u32::MAX),
            offset: query.offset,
        })
    }

    pub async fn get_key(&self, id: &str) -> Result<KeySummary> {
        let row: Option<KeyRow> =
            sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| r.into_summary(self.clock.now()))
            .ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    /// Fails with [`Error::KeyNotFound`] naming the first id that does not exist, so a bulk
    /// action never half-happens.
    async fn require_keys(
        tx: &mut Transaction<'static, Sqlite>,
        ids: &[String],
    ) -> Result<Vec<(String, Option<i64>, String)>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<(String, Option<i64>, String)> =
                sqlx::query_as("SELECT id, revoked_at, name FROM api_keys WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
            found.push(row.ok_or_else(|| Error::KeyNotFound(id.clone()))?);
        }
        Ok(found)
    }

    fn dedup(ids: &[String]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .map(|id| id.trim().to_owned())
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    /// Revokes keys at once and for good. All or nothing: an unknown id changes nothing.
    pub async fn revoke_keys(&self, ids: &[String]) -> Result<RevokeOutcome> {
        let ids = Self::dedup(ids);
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let mut outcome = RevokeOutcome::default();
        for (id, revoked_at, name) in Self::require_keys(&mut tx, &ids).await? {
            if revoked_at.is_some() {
                outcome.already_revoked.push(id);
                continue;
            }
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(to_millis(now))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            self.audit(&mut tx, now, "key_revoked", &id, json!({ "name": name }))
                .await?;
            outcome.revoked.push(id);
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Deletes keys permanently; their audit history stays. All or nothing.
    pub async fn delete_keys(&self, ids: &[String]) -> Result<u32> {
        let ids = Self::dedup(ids);
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        for (id, _, name) in Self::require_keys(&mut tx, &ids).await? {
            sqlx::query("DELETE FROM api_keys WHERE id = ?")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            self.audit(&mut tx, now, "key_deleted", &id, json!({ "name": name }))
                .await?;
        }
        tx.commit().await?;
        Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
    }

    /// Checks a presented key. Order: MALFORMED → NOT_FOUND → REVOKED → EXPIRED; the first
    /// failure wins. A valid key gets its last-used time set.
    pub async fn verify(&self, token: &SecretToken) -> Result<Verdict> {
        let Some(parsed) = parse_token(token.expose()) else {
            return Ok(Verdict::Malformed);
        };
        let stored: Option<(String, String)> =
            sqlx::query_as("SELECT prefix, secret_hash FROM api_keys WHERE id = ?")
                .bind(parsed.id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((prefix, phc)) = stored else {
            return Ok(Verdict::NotFound);
        };
        let secret = zeroize::Zeroizing::new(parsed.secret.to_owned());
        if prefix != parsed.prefix || !hash::verify_secret(secret, phc).await? {
            return Ok(Verdict::NotFound);
        }

        // Status is read after the slow hash check, in the same statement that records the use,
        // so a revocation that commits while argon2 runs still wins.
        let now = self.clock.now();
        let used = sqlx::query(
            "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?1)",
        )
        .bind(to_millis(now))
        .bind(parsed.id)
        .execute(&self.pool)
        .await?;
        let key = self.get_key(parsed.id).await;
        Ok(match key {
            Err(Error::KeyNotFound(_)) => Verdict::NotFound,
            Err(other) => return Err(other),
            Ok(key) if used.rows_affected() == 1 => Verdict::Valid {
                key: VerifiedKey {
                    id: key.id,
                    name: key.name,
                    expires_at: key.expires_at,
                },
            },
            Ok(key) if key.revoked_at.is_some() => Verdict::Revoked,
            Ok(_) => Verdict::Expired,
        })
    }

    /// The audit log, oldest first; only one key's events when `key_id` is given.
    pub async fn audit_events(&self, key_id: Option<&str>) -> Result<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT seq, at, actor, action, key_id, details FROM audit_log \
             WHERE ?1 IS NULL OR key_id = ?1 ORDER BY seq",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                seq: u32::try_from(r.seq).unwrap_or(u32::MAX),
                at: from_millis(r.at),
                actor: r.actor,
                action: r.action,
                key_id: r.key_id,
                details: r.details,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ExpiryChoice;

    /// With the pool closed, any database read fails; a malformed token must still get its
    /// verdict, which proves it was rejected before touching the database.
    #[tokio::test]
    async fn malformed_tokens_are_rejected_without_a_database_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("k.db")).await.expect("open");
        let created = store
            .create_key(NewKey {
                name: "probe".into(),
                expiry: ExpiryChoice::Never,
            })
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
            let verdict = store.verify(&SecretToken::from(bad)).await;
            assert_eq!(verdict.expect("no database needed"), Verdict::Malformed);
        }
        assert!(
            store.verify(&SecretToken::from(good)).await.is_err(),
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
        let key = store
            .create_key(NewKey {
                name: "a".into(),
                expiry: ExpiryChoice::default(),
            })
            .await
            .expect("create");
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
        assert_eq!(store.audit_events(None).await.expect("audit").len(), 2);
    }
}
