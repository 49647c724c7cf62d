//! Crash harness: `keyward-cli keys create` is killed with SIGKILL at random moments, 200 times,
//! on one database. After every kill the file passes `PRAGMA integrity_check`, every key a process
//! reported (printed) is stored, and key rows and `key_created` audit rows match one to one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyward_core::{ListQuery, Store, MAX_PAGE_SIZE};

use crate::util::{cli, stdout, workspace_binary};

const RUNS: usize = 200;
const MAX_DELAY_MS: u64 = 120;

/// A small xorshift generator, seeded from the clock (printed, so a failure can be replayed with
/// `KEYWARD_CRASH_SEED`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Starts `PRAGMA integrity_check` in a separate process (python3's sqlite3: a fresh connection
/// that runs WAL recovery on what the killed process left); [`integrity`] waits for its answer.
fn start_integrity_check(db: &Path) -> std::process::Child {
    // The system interpreter starts faster than a version-manager shim found first on PATH.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    Command::new(python)
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             print('\\n'.join(r[0] for r in c.execute('PRAGMA integrity_check')))",
        ])
        .arg(db)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs")
}

fn integrity(check: std::process::Child) -> String {
    let out = check.wait_with_output().expect("integrity_check");
    assert!(
        out.status.success(),
        "integrity_check failed to run: {out:?}"
    );
    stdout(&out)
}

/// Every key row (name by id) and every `key_created` audit row's key id.
async fn snapshot(store: &Store) -> (BTreeMap<String, String>, Vec<String>) {
    let mut keys = BTreeMap::new();
    let mut query = ListQuery {
        limit: MAX_PAGE_SIZE,
        ..ListQuery::default()
    };
    loop {
        let page = store.list_keys(&query).await.expect("list");
        let got = u32::try_from(page.keys.len()).expect("page size");
        for key in page.keys {
            assert!(
                keys.insert(key.id.clone(), key.name).is_none(),
                "a key was listed twice: {}",
                key.id
            );
        }
        query.offset += got;
        if got == 0 || query.offset >= page.total {
            break;
        }
    }
    let created: Vec<String> = store
        .audit_events(None)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "key_created")
        .map(|e| e.key_id.expect("a key_created row names its key"))
        .collect();
    (keys, created)
}

/// How long one uncontested `keys create` takes, to spread the kills over the whole run.
fn calibrate(db: &Path) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|i| {
            let start = Instant::now();
            let out = cli(
                db,
                &[
                    "keys",
                    "create",
                    "--name",
                    &format!("calibrate{i}"),
                    "--expires",
                    "never",
                    "--override-limit",
                ],
            );
            assert!(out.status.success(), "{out:?}");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[1]
}

#[tokio::test]
async fn sigkill_during_create_never_corrupts_loses_or_orphans_a_key() {
    let started = Instant::now();
    let (_dir, db) = crate::util::temp_db();
    let run_time = calibrate(&db);
    // Kill moments from 0 up to 1.6 times a whole run (at most 120 ms), so some land before
    // the commit, some during it and some after it.
    let max_delay = u64::try_from(run_time.as_millis() * 16 / 10)
        .unwrap_or(MAX_DELAY_MS)
        .clamp(20, MAX_DELAY_MS);
    let seed = std::env::var("KEYWARD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
                | 1
        });
    let mut rng = Rng(seed);
    eprintln!(
        "crash harness: seed {seed}, one create takes {run_time:?}, kills at 0..={max_delay} ms"
    );

    let mut reported: BTreeMap<String, String> = BTreeMap::new(); // id -> name
    let (mut n_reported, mut n_unreported_landed, mut n_lost, mut n_exited) = (0, 0, 0, 0);
    // One reader throughout; python3 opens the file afresh after every kill.
    let store = keyward_store::open(&db).await.expect("open");
    let (mut known, _) = snapshot(&store).await;
    for i in 0..RUNS {
        let name = format!("crash{i}");
        let mut child = Command::new(workspace_binary("keyward-cli"))
            .arg("--db")
            .arg(&db)
            .args([
                "keys",
                "create",
                "--name",
                &name,
                "--expires",
                "never",
                "--override-limit",
            ])
            .env_remove("KEYWARD_DB")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn keyward-cli");
        let delay = rng.next() % (max_delay + 1);
        std::thread::sleep(Duration::from_millis(delay));
        // SIGKILL on Unix. If the process already finished this only reaps nothing.
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.success() {
            n_exited += 1;
        }
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read stdout");
        let token = out.trim();
        assert!(
            !status.success() || !token.is_empty(),
            "run {i}: exited 0 without printing the key"
        );
        if !token.is_empty() {
            // The CLI prints the token only after the commit, and prints it whole.
            let id = token
                .split('_')
                .nth(1)
                .unwrap_or_else(|| panic!("run {i}: not a key on stdout: {token:?}"));
            reported.insert(id.to_owned(), name.clone());
        }

        let check = start_integrity_check(&db);
        let (keys, created) = snapshot(&store).await;
        assert_eq!(integrity(check), "ok", "run {i} (killed at {delay} ms)");

        for (id, name) in &reported {
            assert_eq!(
                keys.get(id),
                Some(name),
                "run {i} (killed at {delay} ms): a reported key is missing"
            );
        }
        let created_set: BTreeSet<&String> = created.iter().collect();
        assert_eq!(
            created_set.len(),
            created.len(),
            "run {i}: a key_created row is duplicated"
        );
        assert_eq!(
            keys.keys().collect::<BTreeSet<_>>(),
            created_set,
            "run {i} (killed at {delay} ms): key rows and key_created audit rows differ"
        );
        // At most this run's key is new, and it has this run's name.
        let new: Vec<(&String, &String)> = keys
            .iter()
            .filter(|(id, _)| !known.contains_key(*id))
            .collect();
        assert!(new.len() <= 1, "run {i}: more than one new key: {new:?}");
        assert!(
            keys.len() >= known.len(),
            "run {i}: a key disappeared after a kill"
        );
        match (new.first(), token.is_empty()) {
            (Some((_, landed)), _) => {
                assert_eq!(*landed, &name, "run {i}");
                if token.is_empty() {
                    n_unreported_landed += 1;
                } else {
                    n_reported += 1;
                }
            }
            (None, true) => n_lost += 1,
            (None, false) => panic!("run {i}: a key was reported but not stored"),
        }
        known = keys;
    }
    store.close().await;
    // A fresh open (and its migration check) works on what the last kill left.
    let reopened = keyward_store::open(&db)
        .await
        .expect("reopen after the last kill");
    assert_eq!(snapshot(&reopened).await.0, known);
    reopened.close().await;
    eprintln!(
        "crash harness: {RUNS} kills in {:?}: {n_reported} reported and stored, \
         {n_unreported_landed} stored but killed before printing, {n_lost} not stored \
         (killed before the commit); {n_exited} had already exited 0",
        started.elapsed()
    );
    assert_eq!(n_reported + n_unreported_landed + n_lost, RUNS);
    // The spread of kill moments must have exercised both sides of the commit.
    assert!(n_lost > 0, "no kill landed before the commit");
    assert!(n_reported > 0, "no run got as far as printing its key");
}
