//! The app on a database it cannot use normally: it explains what happened and what to do, never
//! shows a blank window, and never modifies the file.

use std::path::{Path, PathBuf};

use crate::driver::{cli_at, App};
use crate::fault_setup::{fill_disk, settle, Immutable, Mounted, WriteLockHolder};

/// A fingerprint of the file (length and hash), or None when it does not exist.
fn file_bytes(path: &Path) -> Option<(usize, u64)> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some((bytes.len(), hasher.finish()))
}

/// Creates one key in `db` with the CLI, which closes the database again.
fn create_a_key(db: &Path) {
    let out = cli_at(db, &["keys", "create", "--name", "kept safe"]);
    assert!(out.status.success(), "{out:?}");
}

/// A database with one key in a fresh folder.
fn database_with_a_key() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keys.db");
    create_a_key(&db);
    (dir, db)
}

/// How many keys the CLI lists (the first page holds them all in these tests).
fn key_count(db: &Path) -> Option<usize> {
    let listed = cli_at(db, &["--json", "keys", "list"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).ok()?;
    listed.as_array().map(Vec::len)
}

async fn shows_error_screen(dir: tempfile::TempDir, db: PathBuf, words: &[&str], shot: &str) {
    let before = file_bytes(&db);
    let app = App::launch_on(dir, db.clone(), &[]).await;
    let text = app
        .text_until("#error-screen", |t| words.iter().all(|w| t.contains(w)))
        .await;
    assert!(
        text.contains(&db.display().to_string()),
        "names the file: {text}"
    );
    app.screenshot(shot).await;
    // Compare before closing: closing drops the temporary folder.
    assert_eq!(file_bytes(&db), before, "the file must be left untouched");
    app.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("notes.db");
    std::fs::write(
        &db,
        "shopping list: milk, eggs, and not a database at all\n".repeat(200),
    )
    .expect("write");
    shows_error_screen(
        dir,
        db,
        &["not a Keyward database"],
        "20-error-not-a-database",
    )
    .await;
}

#[tokio::test]
async fn a_damaged_database_is_explained_and_left_alone() {
    let (dir, db) = database_with_a_key();
    let mut bytes = std::fs::read(&db).expect("read");
    assert!(bytes.len() > 8192, "the database has several pages");
    bytes[4096..4196].fill(0xA5);
    std::fs::write(&db, &bytes).expect("damage");
    shows_error_screen(dir, db, &["damaged", "backup"], "21-error-damaged").await;
}

#[tokio::test]
async fn a_missing_folder_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("no-such-folder").join("keys.db");
    shows_error_screen(
        dir,
        db.clone(),
        &["does not exist"],
        "22-error-missing-folder",
    )
    .await;
    assert!(
        !db.parent().expect("parent").exists(),
        "the folder must not be created"
    );
}

#[tokio::test]
async fn a_read_only_database_opens_with_changes_disabled() {
    let (dir, db) = database_with_a_key();
    let before = file_bytes(&db);
    let _guard = Immutable::set(&db);
    let app = App::launch_on(dir, db.clone(), &[]).await;
    app.text_until("#read-only-banner", |t| t.contains("Read-only"))
        .await;
    let name = app.find("button.key-name-link").await;
    let shown = name.prop("textContent").await.expect("textContent");
    assert_eq!(
        shown.as_deref().map(str::trim),
        Some("kept safe"),
        "the keys are listed"
    );
    let create = app.find("#create-key-btn").await;
    assert!(
        !create.is_enabled().await.expect("state"),
        "Create must be disabled"
    );
    app.screenshot("23-read-only").await;
    assert_eq!(file_bytes(&db), before, "the file must be left untouched");
    app.close().await;
}

#[tokio::test]
async fn an_unwritable_folder_is_explained_and_nothing_is_created_in_it() {
    // The folder lives outside the app's temporary folder, so the guard can unlock it before
    // it is removed.
    let outer = tempfile::tempdir().expect("temp dir");
    let folder = outer.path().join("locked");
    std::fs::create_dir(&folder).expect("folder");
    let _guard = Immutable::set(&folder);
    shows_error_screen(
        tempfile::tempdir().expect("temp dir"),
        folder.join("keys.db"),
        &["cannot be written", "writable folder"],
        "24-error-unwritable-folder",
    )
    .await;
    assert_eq!(
        std::fs::read_dir(&folder).expect("folder").count(),
        0,
        "something was created in the folder"
    );
}

/// Tries to create a key in the open app and waits for the banner to say why it could not, in
/// words containing every one of `words`.
async fn creating_a_key_fails_with(app: &App, words: &[&str], shot: &str) {
    app.submit_new_key("Not stored").await;
    app.text_until("#error-banner", |t| {
        words.iter().all(|w| t.to_lowercase().contains(w))
    })
    .await;
    // The dialog stays, so the same key can be created once the cause has passed.
    app.find("#create-dialog").await;
    app.screenshot(shot).await;
}

#[tokio::test]
async fn another_writer_holding_the_lock_is_explained_and_nothing_is_lost() {
    let (dir, db) = database_with_a_key();
    let holder = WriteLockHolder::take(&db, 60);
    let app = App::launch_on(dir, db.clone(), &[]).await;
    // Reading still works while another program writes (WAL).
    app.find("button.key-name-link").await;
    creating_a_key_fails_with(
        &app,
        &["another program is writing", "nothing was changed"],
        "25-error-locked",
    )
    .await;
    drop(holder);
    assert_eq!(
        key_count(&db),
        Some(1),
        "only the key from before is stored"
    );
    app.close().await;
}

#[tokio::test]
async fn a_full_disk_is_explained_and_the_database_stays_whole() {
    let outer = tempfile::tempdir().expect("temp dir");
    let disk = outer.path().join("disk");
    // Room for a new database while it is made (its write-ahead log holds every migration's
    // pages until the checkpoint: more than 512 kB since migration 0009), then filled up.
    let _mount = Mounted::tmpfs(&disk, "1m");
    let db = disk.join("keys.db");
    create_a_key(&db);
    settle(&db);
    let filler = disk.join("filler");
    fill_disk(&filler);

    shows_error_screen(
        tempfile::tempdir().expect("temp dir"),
        db.clone(),
        &["disk", "full", "Free some space"],
        "26-error-disk-full",
    )
    .await;
    std::fs::remove_file(&filler).expect("free space");
    assert_eq!(key_count(&db), Some(1), "the database is still whole");
}
