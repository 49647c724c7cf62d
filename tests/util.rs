use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keyward_core::{AuditEvent, KeySummary, ListQuery, MAX_PAGE_SIZE};

/// A built binary of this workspace, next to the test executable's own folder
/// (`target/debug/deps/..`). `make test` builds the whole workspace before the tests run.
///
/// `KEYWARD_TEST_CLI` runs the tests against another build of `keyward-cli` instead, to check
/// that a new test fails without the change it tests.
pub fn workspace_binary(name: &str) -> PathBuf {
    if let Some(other) = std::env::var_os("KEYWARD_TEST_CLI").filter(|_| name == "keyward-cli") {
        return PathBuf::from(other);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}

/// `keyward-cli --db <db> <args>`, ready to run (to give it other standard streams).
pub fn cli_command(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(workspace_binary("keyward-cli"));
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("KEYWARD_DB");
    command
}

/// Runs `keyward-cli --db <db> <args>`.
pub fn cli(db: &Path, args: &[&str]) -> Output {
    cli_command(db, args).output().expect("keyward-cli runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every key (up to a page of 200) and the whole audit log, read through the core.
pub async fn keys_and_audit(db: &Path) -> (Vec<KeySummary>, Vec<AuditEvent>) {
    let store = keyward_store::open(db).await.expect("open");
    let keys = store
        .list_keys(&ListQuery {
            limit: MAX_PAGE_SIZE,
            ..ListQuery::default()
        })
        .await
        .expect("list")
        .keys;
    let events = store.audit_events(None).await.expect("audit");
    store.close().await;
    (keys, events)
}

/// A fresh folder for one test's database, removed when dropped.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keys.db");
    (dir, db)
}
