use std::collections::BTreeMap;
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

/// `keyward-cli keys create --name NAME ARGS…` (`--scope`, `--expires`, `--owner`, …), which must
/// succeed; returns the token.
pub fn create_key(db: &Path, name: &str, args: &[&str]) -> String {
    let mut all = vec!["keys", "create", "--name", name];
    all.extend_from_slice(args);
    let out = cli(db, &all);
    assert_eq!(out.status.code(), Some(0), "keys create {name:?}: {out:?}");
    stdout(&out)
}

/// The key id inside a token (`kw_<id>_<secret>`).
pub fn key_id(token: &str) -> &str {
    token.split('_').nth(1).expect("a key has an id")
}

/// `keyward-cli --json keys list ARGS…`, which must succeed: the keys it lists.
pub fn list_keys(db: &Path, args: &[&str]) -> Vec<KeySummary> {
    let mut all = vec!["--json", "keys", "list"];
    all.extend_from_slice(args);
    let out = cli(db, &all);
    assert_eq!(out.status.code(), Some(0), "keys list {args:?}: {out:?}");
    serde_json::from_str(&stdout(&out)).expect("a JSON list of keys")
}

/// How many keys `keys list` shows.
pub fn key_count(db: &Path) -> usize {
    list_keys(db, &[]).len()
}

/// The JSON on standard output of a command that must have succeeded.
pub fn json(output: &Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_str(&stdout(output)).expect("JSON on standard output")
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

/// Every entry in `dir` with its length and a hash of its bytes (other than files: none), so a
/// change to any file, or a new entry, shows up, and a failing comparison prints little.
pub fn snapshot(dir: &Path) -> BTreeMap<String, (usize, u64)> {
    use std::hash::{Hash, Hasher};
    std::fs::read_dir(dir)
        .expect("read folder")
        .map(|entry| {
            let entry = entry.expect("folder entry");
            let bytes = if entry.file_type().expect("type").is_file() {
                std::fs::read(entry.path()).expect("read file")
            } else {
                Vec::new()
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            (
                entry.file_name().to_string_lossy().into_owned(),
                (bytes.len(), hasher.finish()),
            )
        })
        .collect()
}

/// Words that belong to SQLite or sqlx, never to a message for a person.
const INTERNAL_WORDS: [&str; 6] = [
    "code:",
    "_sqlx_migrations",
    "resolved migrations",
    "error returned from database",
    "os error",
    "unable to open",
];

/// Exit 2 with one `keyward-cli: ` message on standard error that holds every one of `words`
/// (in any case) and none of SQLite's or sqlx's own.
pub fn assert_broken(output: &Output, words: &[&str]) {
    assert_eq!(output.status.code(), Some(2), "expected exit 2: {output:?}");
    let said = stderr(output);
    assert!(said.starts_with("keyward-cli: "), "{said}");
    for word in words {
        assert!(
            said.to_lowercase().contains(&word.to_lowercase()),
            "the message should say {word:?}: {said}"
        );
    }
    for word in INTERNAL_WORDS {
        assert!(!said.contains(word), "internal {word:?} in {said:?}");
    }
}

/// A fresh folder for one test's database, removed when dropped.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keys.db");
    (dir, db)
}
