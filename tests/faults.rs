//! The CLI on a database that cannot be used normally: not a database, damaged, read-only,
//! locked by another writer, in a missing or unwritable folder, on a full disk. Each must end
//! with a plain-words message and exit 2 (read-only: reads work, changes exit 2), and the file
//! must be left exactly as it was.
//!
//! Some cases need root (`chattr`, `mount`); they fail loudly rather than pass when the
//! machinery is missing. Every mount and immutable flag is undone by a drop guard, even on panic.

use std::time::{Duration, Instant};

use crate::fault_setup::{fill_disk, settle, Immutable, Mounted, WriteLockHolder};
use crate::util::{assert_broken, cli, create_key, key_count, snapshot, stdout, temp_db};

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let (dir, db) = temp_db();
    // Deterministic noise (xorshift), not an SQLite header.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&db, &noise).expect("write noise");
    let before = snapshot(dir.path());

    for args in [
        &["keys", "list"][..],
        &["keys", "create", "--name", "x"][..],
    ] {
        assert_broken(&cli(&db, args), &["not a keyward database", "untouched"]);
    }
    assert_eq!(
        snapshot(dir.path()),
        before,
        "the file or its folder changed"
    );
}

#[test]
fn a_damaged_database_is_refused_and_never_written() {
    let (dir, db) = temp_db();
    for i in 0..3 {
        create_key(&db, &format!("key {i}"), &["--expires", "30d"]);
    }
    settle(&db);
    let mut bytes = std::fs::read(&db).expect("read db");
    assert!(bytes.len() > 8192, "db too small to damage page 2");
    bytes[4096..4196].fill(0xA5);
    std::fs::write(&db, &bytes).expect("damage db");
    let before = snapshot(dir.path());

    for args in [
        &["keys", "list"][..],
        &["keys", "create", "--name", "x"][..],
        &[
            "backup",
            dir.path().join("copy.db").to_str().expect("utf-8"),
        ][..],
    ] {
        assert_broken(
            &cli(&db, args),
            &["is damaged", "left untouched", "restore it from a backup"],
        );
    }
    // No backup, no -wal/-shm, the bytes as they were.
    assert_eq!(
        snapshot(dir.path()),
        before,
        "the file or its folder changed"
    );
}

#[test]
fn an_immutable_file_opens_read_only_and_refuses_every_change() {
    let (dir, db) = temp_db();
    let token = create_key(&db, "kept", &["--expires", "30d"]);
    settle(&db);
    let id = token.split('_').nth(1).expect("token id").to_owned();
    let _guard = Immutable::set(&db);
    let before = std::fs::read(&db).expect("read db");

    assert_eq!(key_count(&db), 1);
    let verified = cli(&db, &["verify", &token]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(stdout(&verified).starts_with("VALID"), "{verified:?}");

    for args in [
        &["keys", "create", "--name", "new"][..],
        &["keys", "revoke", &id][..],
        &["keys", "delete", &id][..],
    ] {
        assert_broken(
            &cli(&db, args),
            &["read-only", "nothing can be changed", "writable copy"],
        );
    }
    assert_eq!(std::fs::read(&db).expect("read db"), before, "file changed");
    assert_eq!(key_count(&db), 1);
    drop(dir);
}

#[test]
fn a_database_on_a_read_only_mount_opens_read_only_without_side_files() {
    let (dir, db) = temp_db();
    let token = create_key(&db, "kept", &["--expires", "30d"]);
    settle(&db);
    let view = dir.path().join("ro");
    let source = dir.path().join("data");
    std::fs::create_dir(&source).expect("data folder");
    std::fs::rename(&db, source.join("keys.db")).expect("move db");
    let before = snapshot(&source);
    let _mount = Mounted::read_only_view_of(&source, &view);
    let ro_db = view.join("keys.db");

    assert_eq!(key_count(&ro_db), 1);
    let verified = cli(&ro_db, &["verify", &token]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert_broken(
        &cli(&ro_db, &["keys", "create", "--name", "new"]),
        &["read-only", "nothing can be changed"],
    );
    assert_eq!(snapshot(&source), before, "the file or its folder changed");
}

#[test]
fn a_writer_holding_the_lock_makes_a_change_fail_in_plain_words() {
    let (_dir, db) = temp_db();
    create_key(&db, "first", &["--expires", "30d"]);
    let holder = WriteLockHolder::take(&db, 8);

    let started = Instant::now();
    let out = cli(&db, &["keys", "create", "--name", "blocked"]);
    let waited = started.elapsed();
    drop(holder);

    assert_broken(&out, &["another program is writing", "nothing was changed"]);
    assert!(waited < Duration::from_secs(7), "took {waited:?}");
    assert_eq!(key_count(&db), 1, "nothing may be stored");
}

#[test]
fn a_missing_folder_is_named_and_not_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("does-not-exist");
    let db = missing.join("k.db");
    assert_broken(
        &cli(&db, &["keys", "list"]),
        &["does-not-exist", "does not exist"],
    );
    assert!(!missing.exists(), "the folder was created");
}

#[test]
fn an_unwritable_folder_is_named_and_nothing_is_created_in_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("locked");
    std::fs::create_dir(&folder).expect("folder");
    let _guard = Immutable::set(&folder);
    let db = folder.join("k.db");
    assert_broken(
        &cli(&db, &["keys", "create", "--name", "x"]),
        &["cannot be written", "writable folder"],
    );
    assert!(snapshot(&folder).is_empty(), "something was created");
}

#[test]
fn a_full_disk_fails_a_change_in_plain_words_and_keeps_the_database_usable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("disk");
    // Room for a new database while it is made (its write-ahead log holds every migration's
    // pages until the checkpoint: more than 512 kB since migration 0009), then filled up.
    let _mount = Mounted::tmpfs(&disk, "1m");
    let db = disk.join("keys.db");
    create_key(&db, "before", &["--expires", "30d"]);
    settle(&db);

    // Fill every remaining byte.
    let filler = disk.join("filler");
    fill_disk(&filler);
    let before = std::fs::read(&db).expect("read db");

    let out = cli(&db, &["keys", "create", "--name", "too much"]);
    assert_broken(&out, &["disk", "full", "free some space"]);
    assert_eq!(std::fs::read(&db).expect("read db"), before, "file changed");

    std::fs::remove_file(&filler).expect("free space");
    assert_eq!(key_count(&db), 1, "the database is still whole");
}
