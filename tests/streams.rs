//! The CLI's standard streams when they misbehave: an endless standard input for `verify -`, a
//! standard output or error that cannot be written (`/dev/full`: ENOSPC; a pipe whose reader is
//! gone: EPIPE). Never a panic (exit 101), and never a key that nobody saw left active.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{cli, cli_command, create_key, keys_and_audit, stderr, stdout, temp_db};

fn dev_full() -> File {
    OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full")
}

/// A pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer
}

/// Waits for `child` at most `limit`; kills it and fails the test if it is still running.
fn finish_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn verify_reads_a_bounded_first_line_from_standard_input() {
    let (_dir, db) = temp_db();
    let token = create_key(&db, "piped", &[]);
    let limit = Duration::from_secs(15);

    // An endless stream without a newline, from a file and from a pipe that is never closed.
    let zeros = cli_command(&db, &["verify", "-"])
        .stdin(File::open("/dev/zero").expect("/dev/zero"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut endless = cli_command(&db, &["verify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = endless.stdin.take().expect("stdin");
    input.write_all(&[b'y'; 4096]).expect("write");
    for (out, what) in [
        (finish_within(zeros, limit, "verify - < /dev/zero"), "zeros"),
        (
            finish_within(endless, limit, "verify - on an open pipe"),
            "y",
        ),
    ] {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains("longer than 1024 bytes") && err.contains("nothing was checked"),
            "{what}: {err}"
        );
        assert!(stdout(&out).is_empty(), "{what}: {out:?}");
    }
    drop(input);

    // The first line is the key; trailing spaces and whatever follows it are ignored.
    let mut piped = cli_command(&db, &["verify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = piped.stdin.take().expect("stdin");
    input
        .write_all(format!("{token} \r\nnot read\n").as_bytes())
        .expect("write");
    drop(input);
    let out = finish_within(piped, limit, "verify -");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).starts_with("VALID"), "{out:?}");
}

#[tokio::test]
async fn a_failing_standard_error_is_never_a_panic() {
    let (_dir, db) = temp_db();
    let created = cli_command(&db, &["keys", "create", "--name", "quiet"])
        .stderr(dev_full())
        .output()
        .expect("runs");
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let token = stdout(&created);
    let verified = cli(&db, &["verify", &token]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");

    // Refusals and errors whose message is lost keep their exit codes.
    for (args, code) in [
        (vec!["keys", "revoke", "AAAAAAAAAA"], 1),
        (vec!["keys", "create", "--name", ""], 2),
        (vec!["keys", "list", "--limit", "x"], 2),
    ] {
        let out = cli_command(&db, &args)
            .stderr(dev_full())
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    }
    let (keys, _) = keys_and_audit(&db).await;
    assert_eq!(keys.len(), 1);
}

/// `keys create` whose token cannot be written: the key is deleted again (with its audit row),
/// stderr says so, and the exit code tells a closed pipe (141) from any other failure (2).
#[tokio::test]
async fn a_key_that_could_not_be_shown_does_not_exist() {
    for json in [false, true] {
        let (_dir, db) = temp_db();
        let mut args = vec!["keys", "create", "--name", "unseen"];
        if json {
            args.insert(0, "--json");
        }
        let cases: Vec<(Stdio, Stdio, Option<i32>, &str)> = vec![
            (dev_full().into(), Stdio::piped(), Some(2), "No space left"),
            (
                closed_pipe().into(),
                Stdio::piped(),
                Some(141),
                "Broken pipe",
            ),
            // Nothing can be said at all: still deleted, still no panic.
            (dev_full().into(), dev_full().into(), Some(2), ""),
        ];
        for (out_to, err_to, code, why) in cases {
            let out = cli_command(&db, &args)
                .stdout(out_to)
                .stderr(err_to)
                .output()
                .expect("runs");
            let err = stderr(&out);
            assert_eq!(out.status.code(), code, "json {json}, {why}: {err}");
            assert!(err.contains(why), "{why}: {err}");
            if !why.is_empty() {
                assert!(
                    err.contains("could not be written to standard output")
                        && err.contains("deleted again"),
                    "{err}"
                );
            }
        }
        let (keys, audit) = keys_and_audit(&db).await;
        assert!(keys.is_empty(), "json {json}: left behind: {keys:?}");
        let created: Vec<_> = audit
            .iter()
            .filter(|e| e.action == "key_created")
            .filter_map(|e| e.key_id.clone())
            .collect();
        let deleted: Vec<_> = audit
            .iter()
            .filter(|e| e.action == "key_deleted")
            .filter_map(|e| e.key_id.clone())
            .collect();
        assert_eq!(created.len(), 3, "{audit:?}");
        assert_eq!(created, deleted, "each key deleted again: {audit:?}");

        // The owner's limit is untouched: the default of 5 still allows 5 keys.
        for n in 0..5 {
            create_key(&db, &format!("k{n}"), &[]);
        }
    }
}
