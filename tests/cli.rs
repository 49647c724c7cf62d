use chrono::{Duration, Utc};
use keyward_core::{KeyStatus, ManualClock, SecretToken, StoreOptions, Verdict};

use crate::util::{cli, create_key, key_id, list_keys, stderr, stdout, temp_db};

#[test]
fn a_key_created_with_the_cli_verifies_until_it_is_revoked() {
    let (_dir, db) = temp_db();
    let token = create_key(&db, "billing service", &["--expires", "30d"]);

    let valid = cli(&db, &["verify", &token]);
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    assert!(stdout(&valid).starts_with("VALID"), "{valid:?}");

    let id = key_id(&token);
    let revoke = cli(&db, &["keys", "revoke", id]);
    assert!(revoke.status.success(), "{revoke:?}");

    let revoked = cli(&db, &["--json", "verify", &token]);
    assert_eq!(revoked.status.code(), Some(1));
    let verdict: Verdict = serde_json::from_str(&stdout(&revoked)).expect("json verdict");
    assert_eq!(verdict, Verdict::Revoked);

    // Revocation cannot be undone: revoking again changes nothing and it stays revoked.
    let again = cli(&db, &["--json", "keys", "revoke", id]);
    assert!(stdout(&again).contains("already_revoked"), "{again:?}");
}

#[test]
fn verify_reads_the_token_from_stdin_and_reports_each_failure() {
    let (_dir, db) = temp_db();
    let token = create_key(&db, "stdin", &["--expires", "7d"]);
    let mut child = std::process::Command::new(crate::util::workspace_binary("keyward-cli"))
        .args(["--db", db.to_str().expect("utf-8 path"), "verify", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    writeln!(child.stdin.take().expect("stdin"), "{token}").expect("write token");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let mut wrong_secret: Vec<char> = token.chars().collect();
    let at = token.len() - 10;
    wrong_secret[at] = if wrong_secret[at] == 'a' { 'b' } else { 'a' };
    let wrong_secret: String = wrong_secret.into_iter().collect();
    let malformed = cli(&db, &["verify", &wrong_secret]);
    assert_eq!(
        (malformed.status.code(), stdout(&malformed).as_str()),
        (Some(1), "MALFORMED")
    );

    let unknown = cli(&db, &["verify", "kw_AAAAAAAAAA_"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[tokio::test]
async fn a_wrong_secret_for_a_real_id_is_not_found() {
    let (_dir, db) = temp_db();
    let token = create_key(&db, "impostor target", &["--expires", "30d"]);
    let id = key_id(&token);
    // A well-formed token (valid checksum) for the same id but another secret.
    let forged = keyward_core::token::generate_token("kw", id).expect("forge");
    let store = keyward_store::open(&db).await.expect("open");
    assert_eq!(
        store.verify(&forged.token, &[]).await.expect("verify"),
        Verdict::NotFound
    );
}

#[tokio::test]
async fn crossing_the_expiry_with_an_injected_clock_makes_the_key_expired() {
    let (_dir, db) = temp_db();
    let token = SecretToken::from(create_key(&db, "short lived", &["--expires", "7d"]));

    let clock = ManualClock::new(Utc::now() + Duration::days(7) - Duration::minutes(1));
    let options = StoreOptions {
        clock: std::sync::Arc::new(clock.clone()),
        actor: "test".into(),
    };
    let store = keyward_store::open_with(&db, options).await.expect("open");
    assert!(store.verify(&token, &[]).await.expect("verify").is_valid());

    clock.advance(Duration::minutes(2));
    assert_eq!(
        store.verify(&token, &[]).await.expect("verify"),
        Verdict::Expired
    );
    store.close().await;

    // The CLI, on the real clock, still sees it valid, and it recorded the use made above.
    let keys = list_keys(&db, &[]);
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert!(keys[0].last_used_at.is_some(), "{keys:?}");
}

#[test]
fn list_searches_and_filters_in_sql_and_delete_is_permanent() {
    let (_dir, db) = temp_db();
    let a = create_key(&db, "Deploy bot", &["--expires", "30d"]);
    create_key(&db, "reporting", &["--expires", "never"]);
    let id_a = key_id(&a);

    let keys = list_keys(&db, &["--search", "deploy"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].id, id_a);

    let by_id = cli(
        &db,
        &["--json", "keys", "list", "--search", &format!("kw_{id_a}")],
    );
    assert!(stdout(&by_id).contains(id_a));

    assert!(cli(&db, &["keys", "revoke", id_a]).status.success());
    assert_eq!(list_keys(&db, &["--status", "revoked"]).len(), 1);

    assert!(cli(&db, &["keys", "delete", &format!("kw_{id_a}")])
        .status
        .success());
    let all = cli(&db, &["--json", "keys", "list"]);
    assert!(!stdout(&all).contains(id_a), "deleted key still listed");
    assert_eq!(cli(&db, &["verify", &a]).status.code(), Some(1));
}

#[test]
fn bad_input_is_refused_in_plain_words_and_nothing_is_stored() {
    let (_dir, db) = temp_db();
    let cases: [(&[&str], &str); 4] = [
        (&["keys", "create", "--name", "   "], "Give the key a name."),
        (
            &["keys", "create", "--name", &"x".repeat(51)],
            "use at most 50",
        ),
        (
            &["keys", "create", "--name", "ok", "--expires", "2001-01-01"],
            "must be in the future",
        ),
        (
            &["keys", "create", "--name", "ok", "--expires", "soon"],
            "is not an expiry",
        ),
    ];
    for (args, expected) in cases {
        let out = cli(&db, args);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains(expected), "{args:?}: {said}");
    }
    let unknown = cli(&db, &["keys", "revoke", "AAAAAAAAAA"]);
    assert_eq!(unknown.status.code(), Some(1));
    let all = cli(&db, &["--json", "keys", "list"]);
    assert_eq!(stdout(&all), "[]");
}

#[tokio::test]
async fn every_change_writes_one_audit_row_in_the_same_transaction() {
    let (_dir, db) = temp_db();
    let token = create_key(&db, "audited", &["--expires", "30d"]);
    let id = key_id(&token).to_owned();
    assert!(cli(&db, &["keys", "revoke", &id]).status.success());
    assert!(cli(&db, &["keys", "delete", &id]).status.success());
    let store = keyward_store::open(&db).await.expect("open");
    let events = store.audit_events(Some(&id)).await.expect("audit");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key_created", "key_revoked", "key_deleted"]);
    let all = store.audit_events(None).await.expect("audit");
    assert_eq!(
        all.len(),
        4,
        "the creator became an owner on first use: {all:?}"
    );
    assert!(events
        .iter()
        .all(|e| !e.details.contains(token.split('_').nth(2).expect("secret"))));
}

#[test]
fn owners_roles_and_scopes_through_the_cli() {
    let (_dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "Alice"]).status.success());
    let dup = cli(&db, &["owners", "create", "alice"]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(stderr(&dup).contains("already exists"));

    let out = cli(
        &db,
        &[
            "keys",
            "create",
            "--name",
            "chat",
            "--owner",
            "Alice",
            "--role",
            "project",
            "--scope",
            "models:chat",
            "--scope",
            "read",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let token = stdout(&out);

    let valid = cli(&db, &["--json", "verify", &token, "--scope", "read"]);
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&valid)).expect("json");
    assert_eq!(verdict["key"]["owner"], "Alice");
    assert_eq!(verdict["key"]["role"], "project");
    assert_eq!(
        verdict["key"]["scopes"],
        serde_json::json!(["models:chat", "read"])
    );

    let forbidden = cli(&db, &["verify", &token, "--scope", "write"]);
    assert_eq!(forbidden.status.code(), Some(1));
    assert_eq!(stdout(&forbidden), "FORBIDDEN (missing scope: write)");

    let unknown_owner = cli(&db, &["keys", "create", "--name", "x", "--owner", "Nobody"]);
    assert_eq!(unknown_owner.status.code(), Some(1));
    assert!(stderr(&unknown_owner).contains("No owner named \"Nobody\""));

    assert!(cli(&db, &["owners", "rename", "alice", "Alice Liddell"])
        .status
        .success());
    let keys = list_keys(&db, &["--owner", "alice liddell"]);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].owner, "Alice Liddell");
}

#[test]
fn the_limit_refuses_with_the_reason_and_the_override_is_audited() {
    let (_dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "Bob"]).status.success());
    for i in 0..5 {
        let out = cli(
            &db,
            &[
                "keys",
                "create",
                "--name",
                &format!("b{i}"),
                "--owner",
                "Bob",
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let refused = cli(&db, &["keys", "create", "--name", "b5", "--owner", "Bob"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr(&refused).trim(),
        "keyward-cli: Bob has 5 of 5 active keys — revoke one first."
    );
    let forced = cli(
        &db,
        &[
            "--json",
            "keys",
            "create",
            "--name",
            "b5",
            "--owner",
            "Bob",
            "--override-limit",
        ],
    );
    assert!(forced.status.success(), "{forced:?}");
    let owners = cli(&db, &["owners", "list"]);
    assert!(stdout(&owners).contains("6 / 5"), "{}", stdout(&owners));
}

/// Two processes creating keys for one owner at the same time never pass the limit: the count
/// and the insert share one `BEGIN IMMEDIATE` transaction.
#[test]
fn two_processes_creating_at_once_never_exceed_the_limit() {
    let (_dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "Racer"]).status.success());
    let spawn = |i: usize| {
        std::process::Command::new(crate::util::workspace_binary("keyward-cli"))
            .arg("--db")
            .arg(&db)
            .args([
                "keys",
                "create",
                "--name",
                &format!("r{i}"),
                "--owner",
                "Racer",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    // Two waves of processes started together, so several are always racing.
    let mut codes = Vec::new();
    for wave in 0..2 {
        let children: Vec<_> = (0..4).map(|i| spawn(wave * 4 + i)).collect();
        for mut child in children {
            codes.push(child.wait().expect("wait").code());
        }
    }
    let created = codes.iter().filter(|c| **c == Some(0)).count();
    let refused = codes.iter().filter(|c| **c == Some(1)).count();
    assert_eq!((created, refused), (5, 3), "exit codes {codes:?}");
    let keys = list_keys(&db, &["--owner", "Racer", "--status", "active"]);
    assert_eq!(keys.len(), 5);
}

/// `keyward-cli keys list | head -1` on a large database: the reader goes away long before the
/// list ends, and the CLI must stop as quietly as `ls | head` does.
#[test]
fn a_reader_closing_the_pipe_early_ends_the_cli_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let (_dir, db) = temp_db();
    // Far more text than a pipe holds (64 KiB on Linux), so the CLI is still writing when the
    // reader leaves.
    let seed = cli(&db, &["dev", "seed", "--count", "2000"]);
    assert!(seed.status.success(), "{seed:?}");

    for args in [&["keys", "list"][..], &["--json", "keys", "list"][..]] {
        let mut child = Command::new(crate::util::workspace_binary("keyward-cli"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .env_remove("KEYWARD_DB")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0_u8; 64];
        stdout.read_exact(&mut first).expect("the list starts");
        drop(stdout);

        let out = child.wait_with_output().expect("wait");
        let said = stderr(&out);
        assert!(!said.contains("panicked"), "{args:?}: {said}");
        assert!(said.trim().is_empty(), "{args:?}: not quiet: {said}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {out:?}");
    }
}
