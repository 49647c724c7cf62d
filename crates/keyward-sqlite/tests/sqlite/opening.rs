//! Opening files: what is made, what is recognised and refused untouched, upgrades with a
//! backup first, read-only files, and backups on demand.

use std::collections::BTreeMap;
use std::path::Path;

use keyward_core::backend::{Backend, BackendKind};
use keyward_core::{Error, UNLIMITED_PLAN};
use sqlx::ConnectOptions;

use super::{add_key, fresh, now, open_at};

/// Every file in `dir` with its bytes: to show that a refusal left the folder as it was.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

fn unavailable(error: Error) -> String {
    match error {
        Error::Unavailable(words) => words,
        other => panic!("not unavailable: {other:?}"),
    }
}

async fn refusal(path: &Path) -> String {
    unavailable(
        keyward_sqlite::open(path, now())
            .await
            .expect_err("refused"),
    )
}

/// An SQLite file made by sqlx directly, with whatever `sql` makes in it.
async fn sqlite_file(path: &Path, sql: &str) {
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .expect("connect");
    sqlx::raw_sql(sql).execute(&mut db).await.expect("sql");
    sqlx::Connection::close(db).await.expect("close");
}

#[tokio::test]
async fn a_new_file_is_made_owner_only_with_the_default_plan() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("new.db");
    let backend = open_at(&path).await;
    assert_eq!(backend.kind(), BackendKind::Sqlite);
    assert_eq!(backend.location(), path.display().to_string());
    assert!(!backend.is_read_only());
    let plans = backend.plans().await.expect("plans");
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].name, UNLIMITED_PLAN);
    assert!(plans[0].is_default);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    backend.close().await;
    // The closing checkpoint moved everything into the file.
    let wal = dir.path().join("new.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0));
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
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
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

    let backend = open_at(&db).await;
    let key = backend
        .key("AAAAAAAAAA")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (key.name.as_str(), key.owner.as_str(), key.plan.as_deref()),
        ("old key", "Unassigned", Some(UNLIMITED_PLAN))
    );
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("old.db.before-migration-20261129T150000"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    // The backup is the old schema with the old data.
    let backup = dir.path().join(&backups[0]);
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&backup))
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
    pool.close().await;

    // Opening again migrates nothing, so no second backup.
    backend.close().await;
    open_at(&db).await.close().await;
    let count = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("before-migration"))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn another_programs_files_are_refused_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let theirs = dir.path().join("notes.db");
    sqlite_file(
        &theirs,
        "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');",
    )
    .await;
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database, but long enough to look like a header or two. ".repeat(4),
    )
    .expect("write");
    let before = snapshot(dir.path());

    let words = refusal(&theirs).await;
    assert!(words.contains("not a Keyward database"), "{words}");
    assert!(words.contains("belongs to another program"), "{words}");
    let words = refusal(&text).await;
    assert!(words.contains("not an SQLite database at all"), "{words}");
    // Not even a -wal or -shm beside them.
    assert_eq!(snapshot(dir.path()), before);
}

#[tokio::test]
async fn a_newer_keywards_database_is_refused_and_can_still_be_copied() {
    let (dir, backend) = fresh().await;
    add_key(&backend, "NEWERKEY01", "from the future").await;
    backend.close().await;
    let path = dir.path().join("k.db");
    sqlite_file(
        &path,
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, \
         execution_time) VALUES (99990101, 'from a newer Keyward', CURRENT_TIMESTAMP, 1, \
         x'00', 0);",
    )
    .await;
    let words = refusal(&path).await;
    assert!(words.contains("newer version of Keyward"), "{words}");

    let copy = dir.path().join("copy.db");
    keyward_sqlite::backup_file(&path, &copy)
        .await
        .expect("a newer database can be copied");
    let words = refusal(&copy).await;
    assert!(words.contains("newer version of Keyward"), "{words}");
}

#[tokio::test]
async fn what_is_not_a_file_path_is_refused_in_plain_words() {
    let dir = tempfile::tempdir().expect("dir");
    for typed in [":memory:", "file:keys.db?mode=memory"] {
        let words = refusal(Path::new(typed)).await;
        assert!(words.contains("SQLite address"), "{words}");
    }
    let words = refusal(dir.path()).await;
    assert!(words.contains("is a folder"), "{words}");
    let words = refusal(&dir.path().join("missing").join("k.db")).await;
    assert!(words.contains("does not exist"), "{words}");
    assert!(
        snapshot(dir.path()).is_empty(),
        "nothing was made on the way"
    );
}

#[tokio::test]
async fn a_backup_on_demand_is_a_complete_database_and_never_overwrites() {
    let (dir, backend) = fresh().await;
    add_key(&backend, "BACKEDUP01", "backed up").await;
    let dest = dir.path().join("copy.db");
    backend.backup(&dest).await.expect("backup");
    let copy = open_at(&dest).await;
    assert!(copy.key("BACKEDUP01").await.expect("read").is_some());
    let again = backend.backup(&dest).await.expect_err("exists");
    assert!(
        matches!(&again, Error::InvalidInput(words) if words.contains("already exists")),
        "{again:?}"
    );
    let nowhere = backend
        .backup(&dir.path().join("missing").join("copy.db"))
        .await
        .expect_err("no folder");
    assert!(nowhere.to_string().contains("does not exist"), "{nowhere}");
}

#[tokio::test]
async fn only_a_keyward_database_with_data_is_copied_by_backup_file() {
    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("copy.db");
    let missing = keyward_sqlite::backup_file(&dir.path().join("none.db"), &dest)
        .await
        .expect_err("missing");
    assert!(unavailable(missing).contains("nothing to back up"));
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("empty file");
    let refused = keyward_sqlite::backup_file(&empty, &dest)
        .await
        .expect_err("empty");
    assert!(unavailable(refused).contains("is empty"));
    assert!(!dest.exists());
}

/// Makes `path` unwritable for as long as it lives: by its mode, or, for root (whom modes do
/// not stop), by the immutable attribute where the file system has one. `None` when neither
/// works here.
struct Unwritable(std::path::PathBuf, bool);

impl Unwritable {
    #[cfg(unix)]
    fn make(path: &Path) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        if Self::refused(path) {
            return Some(Self(path.to_owned(), false));
        }
        let chattr = |flag: &str| {
            std::process::Command::new("chattr")
                .arg(flag)
                .arg(path)
                .status()
                .is_ok_and(|s| s.success())
        };
        let immutable = Self(path.to_owned(), chattr("+i"));
        (immutable.1 && Self::refused(path)).then_some(immutable)
    }

    fn refused(path: &Path) -> bool {
        std::fs::OpenOptions::new().write(true).open(path).is_err()
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_that_cannot_be_written_opens_read_only_and_refuses_every_change() {
    let (dir, backend) = fresh().await;
    add_key(&backend, "READONLY01", "kept").await;
    backend.close().await;
    let path = dir.path().join("k.db");
    let Some(_unwritable) = Unwritable::make(&path) else {
        eprintln!("skipped: no way to make a file unwritable for this user here");
        return;
    };
    let backend = open_at(&path).await;
    assert!(backend.is_read_only());
    assert!(backend.key("READONLY01").await.expect("read").is_some());
    let read_only = |e: Error| matches!(e, Error::ReadOnly(at) if at == path.display().to_string());
    assert!(read_only(
        backend.begin_write().await.err().expect("refused")
    ));
    assert!(read_only(
        backend
            .record_use("READONLY01", now())
            .await
            .expect_err("refused")
    ));
    let day = keyward_core::QuotaPeriod::Day.start_of(now());
    assert!(read_only(
        backend
            .add_quota_usage(&[("READONLY01".into(), day, 1)])
            .await
            .expect_err("refused")
    ));
    assert!(read_only(
        backend
            .server_stopped("srv_x", now())
            .await
            .expect_err("refused")
    ));
    // A copy can still be made, and is writable.
    let copy = dir.path().join("copy.db");
    backend.backup(&copy).await.expect("backup");
    assert!(!open_at(&copy).await.is_read_only());
}
