//! Opening a database file safely, whatever path a person typed: the checks made before SQLite
//! touches the file, how Keyward recognises its own files, and the upgrade of an older schema
//! (with a backup first), done once however many processes open the file at the same moment.
//!
//! Nothing here writes to a file until it is known to be new or Keyward's own: another
//! application's SQLite file is refused untouched, without even a `-wal` or `-shm` beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use super::MIGRATOR;
use crate::error::{explain_sqlite_code, sqlite_code, Error, Result};

/// Written into the header of every Keyward database (`PRAGMA application_id`, migration 0005):
/// "KWRD" in ASCII. Files from before it are recognised by their migrations table instead.
pub(super) const APPLICATION_ID: i64 = 0x4B57_5244;

/// How long an open waits for another Keyward process that is creating or upgrading the same
/// database. An upgrade of 100,000 keys takes seconds, not minutes.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(60);

/// How the database file can be used, found out before SQLite touches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Writable,
    /// The file exists but cannot be written. `immutable` when its folder cannot take the
    /// `-wal`/`-shm` side files either: SQLite then reads the main file without any locking.
    ReadOnly {
        immutable: bool,
    },
}

/// What a file holds, found out by reading it only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Contents {
    /// An empty file (or an SQLite database with nothing in it): Keyward may create its schema.
    New,
    /// A Keyward database; the migration versions applied to it, all known to this version.
    Ours { applied: Vec<i64> },
    /// A Keyward database with schema changes this version does not know: it can be copied
    /// (`keyward-cli backup`), not used.
    Newer,
}

impl Contents {
    /// Whether this version has schema changes the file lacks.
    pub(super) fn pending(&self) -> bool {
        let applied: &[i64] = match self {
            Self::New => &[],
            Self::Ours { applied } => applied,
            Self::Newer => return false,
        };
        MIGRATOR.iter().any(|m| !applied.contains(&m.version))
    }
}

/// The words for a refused path: what it is and what to do instead.
fn refuse(message: String) -> Error {
    Error::Unavailable(message)
}

/// Turns what a person typed into the path of a regular file (or of a file still to be made):
/// absolute, so SQLite never reads it as a `file:` URI or `:memory:`, and with a link replaced
/// by its target, so the side files SQLite makes sit beside the real file.
///
/// Refused with plain words: an empty path, SQLite addresses (`:memory:`, `file:…`), a link whose
/// target does not exist, and anything that is not a regular file (a folder, a named pipe, a
/// device, a socket), which is never opened, so a pipe cannot hang the caller.
pub(super) fn checked_path(typed: &Path) -> Result<PathBuf> {
    let shown = typed.display();
    let text = typed.to_string_lossy();
    if text.trim().is_empty() {
        return Err(refuse(
            "No database path was given. Give the path of a key database file, such as \
             ~/keys/keyward.db."
                .into(),
        ));
    }
    if text == ":memory:" || text.starts_with("file:") {
        return Err(refuse(format!(
            "\"{shown}\" is an SQLite address, not a file path. Keyward keeps keys in a file: \
             give its path, such as ./keyward.db."
        )));
    }
    let absolute = std::path::absolute(typed).map_err(|e| {
        refuse(format!(
            "The path {shown} could not be used ({}).",
            io_words(&e)
        ))
    })?;
    let resolved = match std::fs::symlink_metadata(&absolute) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(&absolute) {
            Ok(target) => target,
            Err(_) => {
                let target = std::fs::read_link(&absolute)
                    .map(|t| t.display().to_string())
                    .unwrap_or_else(|_| "a place that does not exist".into());
                return Err(refuse(format!(
                    "{shown} is a link to {target}, which does not exist. Keyward does not \
                     create a database through a link: give the path of the file itself, or \
                     make the link point to an existing key database."
                )));
            }
        },
        _ => absolute,
    };
    match std::fs::metadata(&resolved) {
        Ok(meta) if meta.is_file() => Ok(resolved),
        Ok(meta) if meta.is_dir() => Err(refuse(format!(
            "{shown} is a folder, not a key database file. Choose a file instead."
        ))),
        Ok(meta) => Err(refuse(format!(
            "{shown} is {}, not a regular file, so it cannot hold a key database. It was left \
             untouched; choose a file instead.",
            special_file_kind(&meta)
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(resolved),
        Err(e) => Err(refuse(format!(
            "The key database {shown} could not be read ({}).",
            io_words(&e)
        ))),
    }
}

#[cfg(unix)]
fn special_file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_meta: &std::fs::Metadata) -> &'static str {
    "a special file"
}

/// An I/O error in words, without the `(os error N)` tail.
pub(super) fn io_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// The folder a database file lives in.
pub(super) fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// A side file SQLite keeps beside `path`: `-wal`, `-shm`.
fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the `-wal` beside `path` holds changes not yet in the main file: then only a normal
/// (locking) read sees the database as it is.
pub(super) fn wal_has_data(path: &Path) -> bool {
    std::fs::metadata(side_file(path, "-wal")).is_ok_and(|m| m.len() > 0)
}

/// Creates a new file for Keyward's data, readable and writable by its owner only (keys,
/// owners and the audit log belong to their user). Fails if anything is there already, a link
/// included, so nothing that exists is ever overwritten.
pub(super) fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Held while one process inspects, creates or upgrades a database, so that any number of
/// processes opening the same file at once each do their part once: the first creates or
/// upgrades it, the others then find it ready.
///
/// It is an advisory lock (`flock`) on the database's folder, not on the file: SQLite's own
/// locks on the file are POSIX locks, which closing any other handle on the same file would
/// silently release.
pub(super) struct OpenLock(Option<std::fs::File>);

impl OpenLock {
    pub(super) async fn acquire(path: &Path) -> Result<Self> {
        // A folder that cannot be opened for reading cannot be locked; the checks that follow
        // still hold, only two processes creating the same file at once could then collide.
        let Ok(folder) = std::fs::File::open(folder_of(path)) else {
            return Ok(Self(None));
        };
        let started = std::time::Instant::now();
        loop {
            match folder.try_lock() {
                Ok(()) => return Ok(Self(Some(folder))),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < OPEN_LOCK_WAIT => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::TryAgain(format!(
                        "Another Keyward program has been preparing the key database {} for \
                         over a minute. Try again in a moment; nothing was changed.",
                        path.display()
                    )))
                }
                // A file system without advisory locks: carry on without one.
                Err(std::fs::TryLockError::Error(_)) => return Ok(Self(None)),
            }
        }
    }
}

impl Drop for OpenLock {
    fn drop(&mut self) {
        if let Some(folder) = self.0.take() {
            let _ = folder.unlock();
        }
    }
}

/// Whether the failure of a write attempt means "you may not write here" (permissions, an
/// immutable file, a read-only file system) rather than some other problem.
fn is_write_refused(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::PermissionDenied
        || matches!(error.raw_os_error(), Some(1) | Some(13) | Some(30))
}

/// Checks the folder and the file (a path from [`checked_path`]) without changing either: a
/// missing or unwritable folder is refused with plain words; a missing file is created empty and
/// owner-only; an existing file that cannot be written is opened read-only.
/// Also says whether it created the file.
pub(super) fn check_access(path: &Path) -> Result<(Access, bool)> {
    let shown = path.display();
    let folder = folder_of(path);
    if !folder.is_dir() {
        return Err(refuse(format!(
            "The folder {} for the key database does not exist. Create it, or choose another \
             location for the database.",
            folder.display()
        )));
    }
    match create_private_file(path) {
        Ok(_) => return Ok((Access::Writable, true)),
        // Someone else's, or made a moment ago by another process: look at it below.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if is_write_refused(&e) => {
            return Err(refuse(format!(
                "The folder {} cannot be written, so the key database {shown} cannot be \
                 created there. Choose a writable folder, or ask for write access to it.",
                folder.display()
            )))
        }
        Err(e) => {
            return Err(refuse(format!(
                "The key database {shown} could not be created ({}).",
                io_words(&e)
            )))
        }
    }
    // Exists: it was checked to be a regular file, but a link or a pipe may have been put there
    // since; look again without following links, and never open anything but a regular file.
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        refuse(format!(
            "The key database {shown} could not be read ({}).",
            io_words(&e)
        ))
    })?;
    if !meta.is_file() {
        return Err(refuse(format!(
            "{shown} changed while it was being opened (it is no longer a regular file). It was \
             left untouched; try again."
        )));
    }
    // Opening for writing without truncating changes nothing, not even the times.
    let file_writable = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => true,
        Err(e) if is_write_refused(&e) => false,
        Err(e) => {
            return Err(refuse(format!(
                "The key database {shown} could not be opened ({}).",
                io_words(&e)
            )))
        }
    };
    let folder_writable = folder_accepts_files(folder);
    let access = if file_writable && folder_writable {
        Access::Writable
    } else {
        // Without a writable folder SQLite cannot create the side files it needs for a WAL
        // database; read the main file as it is then, unless a leftover -wal holds committed
        // changes that only a normal (locking) read would see.
        Access::ReadOnly {
            immutable: !folder_writable && !wal_has_data(path),
        }
    };
    Ok((access, false))
}

/// Whether a new file can be created in `folder` (a probe file, removed at once).
fn folder_accepts_files(folder: &Path) -> bool {
    let probe = folder.join(format!(".keyward-write-check-{}", std::process::id()));
    match create_private_file(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => !is_write_refused(&e),
    }
}

/// Why one look at a file refused it. A `Suspect` refusal (broken pages, or no database at
/// all) may be a torn read when the look took no lock, so it is confirmed by one that takes part
/// in SQLite's locking before anyone is told.
enum Refusal {
    Suspect(Error),
    Final(Error),
}

impl Refusal {
    fn from_sqlite(path: &Path, error: sqlx::Error) -> Self {
        match sqlite_code(&error) {
            Some(11 | 26) => Self::Suspect(explain_open_error(path, error)),
            _ => Self::Final(explain_open_error(path, error)),
        }
    }

    fn into_error(self) -> Error {
        match self {
            Self::Suspect(e) | Self::Final(e) => e,
        }
    }
}

/// Reads what `path` holds without writing anything: not even a side file, unless a `-wal`
/// with data shows the file is in use (then a normal read-only connection, which shares it).
pub(super) async fn inspect(path: &Path) -> Result<Contents> {
    let shown = path.display();
    let size = std::fs::metadata(path).map(|m| m.len()).map_err(|e| {
        refuse(format!(
            "The key database {shown} could not be read ({}).",
            io_words(&e)
        ))
    })?;
    if size == 0 {
        return Ok(Contents::New);
    }
    let lock_free = !wal_has_data(path);
    match look(path, lock_free).await {
        Ok(contents) => Ok(contents),
        Err(Refusal::Suspect(_)) if lock_free => {
            // The lock-free (immutable) read can meet pages another process is checkpointing
            // into the file at that moment, which look broken. Look again with a read that
            // waits for such writers; remove whatever side file that look made for a file that
            // is really broken, so the folder stays as it was.
            let had = [side_file(path, "-wal"), side_file(path, "-shm")]
                .map(|side| (side.exists(), side));
            let again = look(path, false).await;
            if again.is_err() {
                for (existed, side) in had {
                    if !existed {
                        let _ = std::fs::remove_file(side);
                    }
                }
            }
            again.map_err(Refusal::into_error)
        }
        Err(refusal) => Err(refusal.into_error()),
    }
}

/// One look at the file: what it holds, and for Keyward's own, `PRAGMA quick_check` (here
/// rather than on the pool: a damaged file is refused before any connection that could write,
/// or leave a -wal beside it, exists).
async fn look(path: &Path, lock_free: bool) -> Result<Contents, Refusal> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(lock_free)
        .busy_timeout(OPEN_LOCK_WAIT)
        .disable_statement_logging();
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| Refusal::from_sqlite(path, e))?;
    let mut found = read_contents(&mut db, path).await;
    if let Ok(Contents::Ours { .. }) = found {
        if let Err(refusal) = check_integrity(&mut db, path).await {
            found = Err(refusal);
        }
    }
    let _ = db.close().await;
    found
}

/// `PRAGMA quick_check`: refuses a damaged file.
async fn check_integrity(db: &mut SqliteConnection, path: &Path) -> Result<(), Refusal> {
    let rows: std::result::Result<Vec<(String,)>, sqlx::Error> =
        sqlx::query_as("PRAGMA quick_check")
            .fetch_all(&mut *db)
            .await;
    let damaged = match rows {
        Ok(rows) => !(rows.len() == 1 && rows[0].0 == "ok"),
        Err(e) if matches!(sqlite_code(&e), Some(11) | Some(26)) => true,
        Err(e) => return Err(Refusal::Final(explain_open_error(path, e))),
    };
    if damaged {
        return Err(Refusal::Suspect(refuse(damaged_message(path))));
    }
    Ok(())
}

/// The migration table's rows: version, checksum, and whether it finished.
type MigrationRow = (i64, Vec<u8>, bool);

async fn read_contents(db: &mut SqliteConnection, path: &Path) -> Result<Contents, Refusal> {
    let objects: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *db)
    .await
    .map_err(|e| Refusal::from_sqlite(path, e))?;
    let (application_id,): (i64,) = sqlx::query_as("PRAGMA application_id")
        .fetch_one(&mut *db)
        .await
        .map_err(|e| Refusal::from_sqlite(path, e))?;
    if objects.is_empty() && application_id == 0 {
        return Ok(Contents::New);
    }
    let has_migrations = objects.iter().any(|(name,)| name == "_sqlx_migrations");
    let rows: Vec<MigrationRow> = if has_migrations {
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *db)
            .await
            .map_err(|e| match sqlite_code(&e) {
                Some(11 | 26) => Refusal::Suspect(refuse(damaged_message(path))),
                // A table of that name that is not sqlx's: another program's.
                _ => Refusal::Final(not_ours(path)),
            })?
    } else {
        Vec::new()
    };
    // Before migration 0005 Keyward left the application id at 0: its files are known by the
    // first migration, recorded with this very checksum.
    let first = MIGRATOR.iter().next();
    let ours = application_id == APPLICATION_ID
        || (application_id == 0
            && first.is_some_and(|m| {
                rows.iter()
                    .any(|(v, sum, _)| *v == m.version && sum.as_slice() == &*m.checksum)
            }));
    if !ours {
        return Err(Refusal::Final(not_ours(path)));
    }
    let known = |version: i64, sum: &[u8]| {
        MIGRATOR
            .iter()
            .any(|m| m.version == version && &*m.checksum == sum)
    };
    if rows.iter().any(|(v, sum, _)| !known(*v, sum)) {
        return Ok(Contents::Newer);
    }
    if rows.iter().any(|(_, _, success)| !success) {
        return Err(Refusal::Final(refuse(format!(
            "An earlier upgrade of the key database {} did not finish, so Keyward will not use \
             it. Restore the copy made before that upgrade (the file named {}.before-migration-… \
             beside it); this file was left untouched.",
            path.display(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))));
    }
    Ok(Contents::Ours {
        applied: rows.into_iter().map(|(v, _, _)| v).collect(),
    })
}

fn not_ours(path: &Path) -> Error {
    refuse(format!(
        "The file {} is not a Keyward database (it belongs to another program). It was left \
         untouched; choose the right file, or a new file name to start a new key database.",
        path.display()
    ))
}

pub(super) fn made_by_newer(path: &Path) -> Error {
    refuse(format!(
        "The key database {} was made by a newer version of Keyward, so this version cannot \
         use it. Update Keyward to open it; it was left untouched. (keyward-cli backup can \
         still copy it.)",
        path.display()
    ))
}

/// Before a schema change to a database that holds data, copies it next to itself
/// (`keyward.db.before-migration-20261122T104500.db`, owner-only), so a failed or unwanted
/// upgrade loses nothing.
pub(super) async fn backup_before_migrating(
    pool: &SqlitePool,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyward.db".into());
    let stamp = now.format("%Y%m%dT%H%M%S");
    let cannot = |why: String| {
        Error::Unavailable(format!(
            "Keyward needs to update the key database {}, but could not back it up first \
             ({why}). Nothing was changed.",
            path.display()
        ))
    };
    // Another upgrade in the same second (of a copy of this file, say) must not collide.
    for attempt in 0..100 {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let backup = path.with_file_name(format!("{name}.before-migration-{stamp}{suffix}.db"));
        match vacuum_into(pool, &backup).await {
            Ok(()) => return Ok(backup),
            Err(VacuumError::Exists) => continue,
            Err(VacuumError::Failed(why)) => return Err(cannot(why)),
        }
    }
    Err(cannot("too many backups with the same time".into()))
}

pub(super) enum VacuumError {
    /// Something is at the destination already; it was not touched.
    Exists,
    /// In words, for a sentence.
    Failed(String),
}

/// Writes a consistent copy of the database to `dest`, a new owner-only file.
pub(super) async fn vacuum_into<'c, E>(db: E, dest: &Path) -> Result<(), VacuumError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let file = create_private_file(dest).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => VacuumError::Exists,
        _ => VacuumError::Failed(io_words(&e)),
    })?;
    drop(file);
    // Absolute, so SQLite cannot take it for a URI; the empty file just made is one SQLite
    // accepts as the target of VACUUM INTO, and keeps its owner-only mode.
    let target = std::path::absolute(dest)
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned));
    let Some(target) = target else {
        let _ = std::fs::remove_file(dest);
        return Err(VacuumError::Failed(
            "the path must be valid UTF-8".to_owned(),
        ));
    };
    match sqlx::query("VACUUM INTO ?").bind(target).execute(db).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(dest);
            let why = sqlite_code(&e)
                .and_then(explain_sqlite_code)
                .map(|w| w.trim_end_matches('.').to_owned())
                .unwrap_or_else(|| "SQLite could not write the copy".to_owned());
            Err(VacuumError::Failed(why))
        }
    }
}

/// Explains an SQLite failure at open time in words a person can act on.
pub(super) fn explain_open_error(path: &Path, error: sqlx::Error) -> Error {
    let shown = path.display();
    let message = match sqlite_code(&error) {
        Some(26) => format!(
            "The file {shown} is not a Keyward database (it is not an SQLite database at all). \
             It was left untouched; choose the right file, or restore it from a backup."
        ),
        Some(11) => damaged_message(path),
        Some(14) => format!(
            "The database {shown} could not be opened. Check that its folder exists and that you \
             may write to it."
        ),
        Some(8) => format!(
            "The database {shown} is read-only, so it cannot be prepared for use. Open a writable \
             copy instead."
        ),
        Some(5) | Some(6) => format!(
            "Another program is writing to the key database {shown}. Try again in a moment; \
             nothing was changed."
        ),
        // SQLite reports a full disk as SQLITE_FULL only for some writes; growing the -shm file
        // or the journal fails as a plain I/O error. Look at the disk itself.
        Some(10) | Some(13) if super::disk_is_full(path) => format!(
            "{} (Database: {shown})",
            explain_sqlite_code(13).unwrap_or_default()
        ),
        Some(code) => match explain_sqlite_code(code) {
            Some(words) => format!("{words} (Database: {shown})"),
            None => format!(
                "The database {shown} could not be opened (SQLite reported error {code}); it \
                 was left untouched."
            ),
        },
        None => match &error {
            sqlx::Error::Io(e) => format!(
                "The database {shown} could not be opened ({}).",
                io_words(e)
            ),
            _ => format!("The database {shown} could not be opened; it was left untouched."),
        },
    };
    Error::Unavailable(message)
}

pub(super) fn damaged_message(path: &Path) -> String {
    format!(
        "The key database {} is damaged: SQLite's integrity check found broken pages, so Keyward \
         will not use it. It was left untouched; restore it from a backup (keyward-cli backup \
         makes one), or move it aside to start a new database.",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_addresses_and_empty_paths_are_not_paths() {
        for typed in ["", "  ", ":memory:", "file:x.db", "file:x?mode=memory"] {
            let refused = checked_path(Path::new(typed)).expect_err(typed);
            assert!(matches!(refused, Error::Unavailable(_)), "{typed}");
        }
    }

    #[test]
    fn a_relative_path_becomes_absolute() {
        let path = checked_path(Path::new("some-new-file.db")).expect("a path");
        assert!(path.is_absolute());
        assert!(path.ends_with("some-new-file.db"));
    }

    #[test]
    fn io_words_drop_the_os_error_number() {
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(io_words(&e), "Permission denied");
    }
}
