use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A built binary of this workspace, next to the test executable's own folder
/// (`target/debug/deps/..`). `make test` builds the whole workspace before the tests run.
pub fn workspace_binary(name: &str) -> PathBuf {
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

/// Runs `keyward-cli --db <db> <args>`.
pub fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(workspace_binary("keyward-cli"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("KEYWARD_DB")
        .output()
        .expect("keyward-cli runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A fresh folder for one test's database, removed when dropped.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keys.db");
    (dir, db)
}
