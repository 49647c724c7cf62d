//! The app on a database it cannot use normally: it explains what happened and what to do, never
//! shows a blank window, and never modifies the file.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::driver::{binary, App};

/// A fingerprint of the file (length and hash), or None when it does not exist.
fn file_bytes(path: &Path) -> Option<(usize, u64)> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some((bytes.len(), hasher.finish()))
}

/// A database with one key, made by the CLI and closed, in a fresh folder.
fn database_with_a_key() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keys.db");
    let out = Command::new(binary("keyward-cli"))
        .arg("--db")
        .arg(&db)
        .args(["keys", "create", "--name", "kept safe"])
        .output()
        .expect("keyward-cli");
    assert!(out.status.success(), "{out:?}");
    (dir, db)
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

/// Root ignores permissions; the immutable flag stops even root from writing.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Self {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chattr +i {} failed: this test needs root and chattr",
            path.display()
        );
        Self(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
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
