//! Whatever path a person types as `--db`, and whatever is at it: links, pipes, devices, SQLite
//! addresses, another program's database, a newer Keyward's, many processes opening one file at
//! once. Each is refused in plain words with nothing changed, or opened exactly once.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyward_core::Verdict;

use crate::fault_setup::{must, WriteLockHolder};
use crate::util::{
    assert_broken, cli, cli_command, snapshot, stderr, stdout, temp_db, workspace_binary,
};

/// `keyward-cli <args>` in `dir`, with no `--db` of its own.
fn cli_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(workspace_binary("keyward-cli"))
        .current_dir(dir)
        .args(args)
        .env_remove("KEYWARD_DB")
        .output()
        .expect("keyward-cli runs")
}

/// `count` processes of `keyward-cli --db <db> <args>` started together; their outputs.
fn side_by_side(db: &Path, count: usize, args: &[&str]) -> Vec<Output> {
    let children: Vec<_> = (0..count)
        .map(|_| {
            cli_command(db, args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().expect("output"))
        .collect()
}

/// Runs python3 with `script` and `args` (sqlite3 as another program would use it).
fn python(script: &str, args: &[&str]) {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    must("python3", &all);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// A Keyward database as the version before migration `first_missing` made it.
async fn older_keyward_database(path: &Path, first_missing: i64) {
    use sqlx::ConnectOptions;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/keyward-sqlite/migrations");
    let all = sqlx::migrate::Migrator::new(source)
        .await
        .expect("migrations");
    let older = sqlx::migrate::Migrator {
        migrations: all
            .iter()
            .filter(|m| m.version < first_missing)
            .cloned()
            .collect(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .expect("connect");
    older.run_direct(&mut db).await.expect("older schema");
    sqlx::query("INSERT INTO owners (name, created_at) VALUES ('alice', 0)")
        .execute(&mut db)
        .await
        .expect("an owner");
    sqlx::Connection::close(db).await.expect("close");
}

fn migration_versions(db: &Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\n\
             c=sqlite3.connect(sys.argv[1])\n\
             print(','.join(str(v) for (v,) in c.execute('SELECT version FROM _sqlx_migrations ORDER BY version')))",
            db.to_str().expect("utf-8"),
        ])
        .output()
        .expect("python3");
    stdout(&out)
}

/// Every SQLite migration this build has, as [`migration_versions`] lists them: read from the
/// migrations folder, so a new migration needs no change here.
fn every_migration() -> String {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/keyward-sqlite/migrations");
    let mut versions: Vec<u64> = std::fs::read_dir(folder)
        .expect("the migrations folder")
        .filter_map(|entry| {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            let (version, _) = name.strip_suffix(".sql")?.split_once('_')?;
            version.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    let versions: Vec<String> = versions.iter().map(u64::to_string).collect();
    versions.join(",")
}

#[test]
fn links_that_lead_nowhere_and_files_that_are_not_files_are_refused() {
    let (dir, db) = temp_db();
    let dangling = dir.path().join("dangling.db");
    std::os::unix::fs::symlink(dir.path().join("missing/target.db"), &dangling).expect("link");
    assert_broken(
        &cli(&dangling, &["keys", "list"]),
        &["is a link to", "does not exist"],
    );

    let fifo = dir.path().join("pipe.db");
    must("mkfifo", &[fifo.to_str().expect("utf-8")]);
    let mut child = cli_command(&fifo, &["keys", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("keyward-cli hung on a named pipe");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_broken(
        &child.wait_with_output().expect("output"),
        &["a named pipe"],
    );

    // A device: nothing written beside it (for /dev/null, SQLite would make /dev/null-journal).
    let journal = Path::new("/dev/null-journal");
    let had_journal = journal.exists();
    assert_broken(
        &cli(Path::new("/dev/null"), &["keys", "list"]),
        &["a device"],
    );
    if !had_journal && journal.exists() {
        let _ = std::fs::remove_file(journal);
        panic!("a journal was written beside /dev/null");
    }

    assert_broken(&cli(dir.path(), &["keys", "list"]), &["is a folder"]);
    assert_eq!(snapshot(dir.path()).len(), 2, "only the link and the pipe");

    // A link to a real key database works, and the database's side files sit beside the target.
    assert!(cli(&db, &["owners", "create", "alice"]).status.success());
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &link).expect("link");
    let listed = cli(&link, &["owners", "list"]);
    assert!(stdout(&listed).contains("alice"), "{listed:?}");
    assert!(!dir.path().join("link.db-wal").exists());
}

#[test]
fn sqlite_addresses_are_not_paths() {
    let dir = tempfile::tempdir().expect("dir");
    for address in [
        ":memory:",
        "file:x.db",
        "file:x.db?mode=memory",
        "file::memory:",
    ] {
        assert_broken(
            &cli_in(dir.path(), &["--db", address, "keys", "list"]),
            &["is an SQLite address, not a file path"],
        );
    }
    let (_keep, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "alice"]).status.success());
    for address in [":memory:", "file:copy.db"] {
        let out = cli_in(
            dir.path(),
            &["--db", db.to_str().expect("utf-8"), "backup", address],
        );
        assert_eq!(out.status.code(), Some(2), "backup {address}: {out:?}");
        assert!(stderr(&out).contains("not a file path"), "{out:?}");
    }
    assert!(
        snapshot(dir.path()).is_empty(),
        "{:?}",
        snapshot(dir.path()).keys()
    );
}

#[test]
fn another_programs_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let notes = dir.path().join("notes.db");
    python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         c.execute('CREATE TABLE notes (body TEXT)')\n\
         c.execute(\"INSERT INTO notes VALUES ('hello')\")\n\
         c.commit()",
        &[notes.to_str().expect("utf-8")],
    );
    // One with tables named like ours, and one that used sqlx's migrations table for itself.
    let lookalike = dir.path().join("lookalike.db");
    python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         c.execute('CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)')\n\
         c.execute('CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT, installed_on TEXT, success BOOLEAN, checksum BLOB, execution_time BIGINT)')\n\
         c.execute(\"INSERT INTO _sqlx_migrations VALUES (1, 'init', '', 1, x'00', 0)\")\n\
         c.commit()",
        &[lookalike.to_str().expect("utf-8")],
    );
    let before = snapshot(dir.path());
    for file in [&notes, &lookalike] {
        for args in [
            &["keys", "list"][..],
            &["owners", "create", "bob"],
            &["verify", "x"],
        ] {
            assert_broken(
                &cli(file, args),
                &["is not a Keyward database", "untouched"],
            );
        }
        let copy = dir.path().join("copy.db");
        assert_eq!(
            cli(file, &["backup", copy.to_str().expect("utf-8")])
                .status
                .code(),
            Some(2)
        );
    }
    assert_eq!(snapshot(dir.path()), before, "a file was changed or added");
}

#[test]
fn many_processes_creating_one_new_database_each_succeed_once() {
    let (_dir, db) = temp_db();
    for out in side_by_side(&db, 40, &["owners", "list"]) {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(migration_versions(&db), every_migration());
    let header = std::fs::read(&db).expect("read");
    assert_eq!(&header[68..72], b"KWRD", "the application id marks it ours");
}

#[tokio::test]
async fn an_older_database_is_upgraded_once_with_one_owner_only_backup() {
    let (dir, db) = temp_db();
    older_keyward_database(&db, 5).await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for out in side_by_side(&db, 8, &["owners", "list"]) {
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("alice"));
    }
    let backups: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().contains(".before-migration-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(mode(&backups[0]), 0o600, "the copy is its owner's only");
    assert_eq!(migration_versions(&backups[0]), "1,2,3,4");
    assert_eq!(migration_versions(&db), every_migration());
}

#[test]
fn keys_and_their_copies_belong_to_their_user() {
    let (dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "alice"]).status.success());
    assert_eq!(mode(&db), 0o600);
    let copy = dir.path().join("copy.db");
    let out = cli(&db, &["backup", copy.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&copy), 0o600);
    // A copy is never wider than owner-only, even of a file someone made wider.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let second = dir.path().join("second.db");
    assert!(cli(&db, &["backup", second.to_str().expect("utf-8")])
        .status
        .success());
    assert_eq!(mode(&second), 0o600);
    // The side files SQLite makes take the database's mode.
    let store_dir = tempfile::tempdir().expect("dir");
    let fresh = store_dir.path().join("fresh.db");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = keyward_store::open(&fresh).await.expect("open");
        for side in ["fresh.db", "fresh.db-wal", "fresh.db-shm"] {
            assert_eq!(mode(&store_dir.path().join(side)), 0o600, "{side}");
        }
        store.close().await;
    });
}

#[test]
fn a_newer_keywards_database_says_so_and_can_still_be_copied() {
    let (dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "alice"]).status.success());
    python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         c.execute(\"INSERT INTO _sqlx_migrations VALUES (99, 'from the future', '2030-01-01', 1, x'01', 0)\")\n\
         c.commit()",
        &[db.to_str().expect("utf-8")],
    );
    let before = std::fs::read(&db).expect("read");
    assert_broken(
        &cli(&db, &["keys", "list"]),
        &["made by a newer version of Keyward", "untouched"],
    );
    let copy = dir.path().join("copy.db");
    let out = cli(&db, &["backup", copy.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        migration_versions(&copy),
        format!("{},99", every_migration())
    );
    assert_eq!(std::fs::read(&db).expect("read"), before);

    // An upgrade that did not finish, and a copy to a folder that does not exist.
    python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         c.execute('DELETE FROM _sqlx_migrations WHERE version = 99')\n\
         c.execute('UPDATE _sqlx_migrations SET success = 0 WHERE version = 5')\n\
         c.commit()",
        &[db.to_str().expect("utf-8")],
    );
    assert_broken(
        &cli(&db, &["keys", "list"]),
        &["did not finish", "before-migration"],
    );
    let nowhere = dir.path().join("missing/copy.db");
    assert_broken(
        &cli(&db, &["backup", nowhere.to_str().expect("utf-8")]),
        &["does not exist"],
    );
}

#[test]
fn a_file_with_tables_but_no_keyward_history_is_not_taken_for_a_new_one() {
    let (dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "alice"]).status.success());
    python(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1])\n\
         c.execute('PRAGMA application_id = 0')\n\
         c.execute('DROP TABLE _sqlx_migrations')\n\
         c.execute('PRAGMA wal_checkpoint(TRUNCATE)')\n\
         c.commit()",
        &[db.to_str().expect("utf-8")],
    );
    let before = snapshot(dir.path());
    assert_broken(
        &cli(&db, &["owners", "list"]),
        &["is not a Keyward database"],
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[tokio::test]
async fn a_check_answers_and_commands_end_promptly_while_another_writer_holds_the_lock() {
    let (_dir, db) = temp_db();
    let created = cli(
        &db,
        &["keys", "create", "--name", "svc", "--expires", "30d"],
    );
    assert!(created.status.success(), "{created:?}");
    let token = stdout(&created);
    let _holder = WriteLockHolder::take(&db, 30);

    let started = Instant::now();
    let out = cli(&db, &["verify", &token]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("VALID"), "{out:?}");
    let listed = cli(&db, &["keys", "list"]);
    assert!(listed.status.success(), "{listed:?}");
    // Both waited out neither the 5 s busy timeout nor a closing checkpoint.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );

    let store = keyward_store::open(&db).await.expect("open");
    let secret = keyward_core::SecretToken::from(token);
    assert!(matches!(
        store.verify(&secret, &[]).await.expect("verify"),
        Verdict::Valid { .. }
    ));
    store.close().await;
}

/// Processes creating keys side by side each checkpoint the WAL into the file as they close; one
/// opening at that moment must not take the pages being copied for a damaged database. (Before
/// the fix, about one open in 200 was refused as "damaged"; this makes 400.)
#[test]
fn opening_while_others_write_and_checkpoint_is_never_taken_for_damage() {
    let (_dir, db) = temp_db();
    assert!(cli(&db, &["owners", "list"]).status.success());
    let mut refused = Vec::new();
    for _ in 0..100 {
        let args = ["keys", "create", "--name", "k", "--override-limit"];
        for out in side_by_side(&db, 4, &args) {
            if !out.status.success() {
                refused.push(stderr(&out));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "{} refused: {:?}",
        refused.len(),
        refused.first()
    );
}
