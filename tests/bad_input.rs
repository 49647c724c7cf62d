//! Bad input through the real CLI: each is refused with a message saying what to fix, the exit
//! code the README documents (2 bad input, 1 unknown id or owner or an invalid key), and nothing
//! is stored: the keys and the whole audit log are the same afterwards.

use std::path::Path;

use crate::util::{cli, create_key, key_id, keys_and_audit, list_keys, stderr, stdout, temp_db};

fn create_ok(db: &Path, name: &str) -> String {
    create_key(db, name, &["--expires", "30d", "--override-limit"])
}

/// The local date `days` from today, as the CLI expects it.
fn local_date(days: i64) -> String {
    (chrono::Local::now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn invalid_input_is_refused_with_a_reason_and_leaves_nothing_behind() {
    let (_dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "Alice"]).status.success());
    let token = create_ok(&db, "existing");
    let id = key_id(&token).to_owned();
    let before = keys_and_audit(&db).await;
    assert_eq!(before.0.len(), 1);

    let long = "x".repeat(51);
    let long_multibyte = "é".repeat(51);
    let yesterday = local_date(-1);
    let name_cases: Vec<(&str, &str)> = vec![
        ("", "Give the key a name."),
        ("   ", "Give the key a name."),
        ("\t \n", "Give the key a name."),
        (&long, "51 characters long; use at most 50"),
        (&long_multibyte, "51 characters long; use at most 50"),
        ("tab\there", "control character"),
        ("new\nline", "control character"),
        ("bell\u{7}", "control character"),
        ("del\u{7f}", "control character"),
        ("esc\u{1b}[31mred", "control character"),
        ("x\u{202E}gnp.exe", "invisible or text-direction"),
        ("zero\u{200B}width", "invisible or text-direction"),
        ("bom\u{FEFF}name", "invisible or text-direction"),
        ("rtl\u{2067}isolate", "invisible or text-direction"),
    ];
    let mut cases: Vec<(Vec<String>, i32, &str)> = name_cases
        .into_iter()
        .map(|(name, why)| {
            (
                vec!["keys".into(), "create".into(), "--name".into(), name.into()],
                2,
                why,
            )
        })
        .collect();
    let expiry_cases: Vec<(&str, &str)> = vec![
        ("2001-01-01", "must be in the future"),
        (&yesterday, "must be in the future"),
        ("2027-02-30", "is not an expiry"),
        ("2027-13-01", "is not an expiry"),
        ("27-01-01", "expiry"),
        ("2027/01/01", "is not an expiry"),
        ("31-01-2027", "is not an expiry"),
        ("tomorrow", "is not an expiry"),
        ("", "is not an expiry"),
        ("0d", "between 1 and 3650 days"),
        ("3651d", "between 1 and 3650 days"),
        ("-1d", "is not a number of days"),
        ("1.5d", "is not a number of days"),
        ("99999999999d", "is not a number of days"),
        ("d", "is not a number of days"),
        ("30", "is not an expiry"),
    ];
    for (expires, why) in expiry_cases {
        cases.push((
            vec![
                "keys".into(),
                "create".into(),
                "--name".into(),
                "ok".into(),
                // `--expires=VALUE`, so values starting with '-' reach the expiry parser.
                format!("--expires={expires}"),
            ],
            2,
            why,
        ));
    }
    let more: Vec<(Vec<&str>, i32, &str)> = vec![
        // Unknown owners: refused (1), naming the owner.
        (
            vec!["keys", "create", "--name", "ok", "--owner", "Nobody"],
            1,
            "No owner named \"Nobody\"",
        ),
        (
            vec!["keys", "create", "--name", "ok", "--owner", "Alice\u{202E}"],
            1,
            "No owner named",
        ),
        (
            vec!["keys", "create", "--name", "ok", "--scope", "admin:all"],
            2,
            "admin:all",
        ),
        (
            vec!["keys", "create", "--name", "ok", "--role", "root"],
            2,
            "root",
        ),
        // Written with a space, a negative expiry reads as an unknown flag: still a usage error.
        (
            vec!["keys", "create", "--name", "ok", "--expires", "-1d"],
            2,
            "unexpected argument '-1'",
        ),
        (vec!["owners", "create", ""], 2, "Give the owner a name."),
        (
            vec!["owners", "create", "bad\u{7}owner"],
            2,
            "control character",
        ),
        (
            vec!["owners", "rename", "Nobody", "Somebody"],
            1,
            "No owner named \"Nobody\"",
        ),
        // Unknown ids: refused (1), all or nothing even next to a real id.
        (
            vec!["keys", "revoke", "AAAAAAAAAA"],
            1,
            "No key with the id AAAAAAAAAA",
        ),
        (
            vec!["keys", "revoke", &id, "kw_AAAAAAAAAA"],
            1,
            "No key with the id AAAAAAAAAA",
        ),
        (
            vec!["keys", "revoke", "'; DROP TABLE api_keys;--"],
            1,
            "No key",
        ),
        (vec!["keys", "revoke", "%"], 1, "No key"),
        (vec!["keys", "revoke", ""], 1, "No key"),
        (
            vec!["keys", "delete", "AAAAAAAAAA"],
            1,
            "No key with the id AAAAAAAAAA",
        ),
        (
            vec!["keys", "delete", "AAAAAAAAAA", &id],
            1,
            "No key with the id AAAAAAAAAA",
        ),
        (vec!["keys", "delete", "kw_"], 1, "No key"),
        (vec!["keys", "delete", "*"], 1, "No key"),
    ];
    for (args, code, why) in more {
        cases.push((args.into_iter().map(String::from).collect(), code, why));
    }

    for (args, code, why) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(&db, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: expected {why:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            stdout(&out).is_empty(),
            "{args:?} printed on stdout: {out:?}"
        );
        assert_eq!(
            keys_and_audit(&db).await,
            before,
            "{args:?} changed the keys or the audit log"
        );
    }

    // Tokens of many wrong shapes: MALFORMED, exit 1, no database change (not even last use).
    let good = token.as_str();
    let mut flipped_check: Vec<char> = good.chars().collect();
    let last = flipped_check.len() - 1;
    flipped_check[last] = if flipped_check[last] == 'A' { 'B' } else { 'A' };
    let flipped_check: String = flipped_check.into_iter().collect();
    let long_token = format!("kw_{}_{}", "A".repeat(10), "a".repeat(10_000));
    let bad_tokens: Vec<String> = vec![
        String::new(),
        " ".into(),
        "kw".into(),
        "kw_".into(),
        "kw__".into(),
        "kw_AAAAAAAAAA_".into(),
        format!("kw_{id}"),
        flipped_check,
        good.to_uppercase(),
        good.replacen("kw_", "KW_", 1),
        good.replacen("kw_", "k_", 1),
        format!("x{good}"),
        format!("{good}x"),
        good[..good.len() - 1].to_owned(),
        good.replace('_', "-"),
        good.replacen('_', "__", 1),
        format!("{good}_"),
        format!("{}é", &good[..good.len() - 1]),
        format!("{}\u{200B}{}", &good[..10], &good[10..]),
        good.chars().rev().collect(),
        long_token,
        "<script>alert(1)</script>".into(),
        "'; DROP TABLE api_keys;--".into(),
    ];
    for bad in &bad_tokens {
        let out = cli(&db, &["verify", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {out:?}");
        assert_eq!(stdout(&out), "MALFORMED", "{bad:?}");
        let json = cli(&db, &["--json", "verify", bad]);
        assert_eq!(json.status.code(), Some(1), "{bad:?}: {json:?}");
        assert_eq!(stdout(&json), r#"{"verdict":"MALFORMED"}"#, "{bad:?}");
    }
    assert_eq!(
        keys_and_audit(&db).await,
        before,
        "verify changed something"
    );
}

/// Names that look dangerous but are valid are stored exactly as typed and listed back verbatim.
#[tokio::test]
async fn odd_but_valid_names_are_stored_and_listed_verbatim() {
    let (_dir, db) = temp_db();
    let names = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "Robert'); DROP TABLE api_keys;--",
        "{{7*7}} ${jndi:ldap://x/a}",
        "%s%n%x %",
        "=cmd|' /C calc'!A0",
        "漢字 😀 é ümlaut",
        "a_b_%_\\_'\"",
        &"é".repeat(50),
    ];
    let mut ids = Vec::new();
    for name in names {
        let token = create_ok(&db, name);
        ids.push(key_id(&token).to_owned());
    }
    let keys = list_keys(&db, &[]);
    assert_eq!(keys.len(), names.len());
    for (name, id) in names.iter().zip(&ids) {
        let key = keys.iter().find(|k| &k.id == id).expect("listed");
        assert_eq!(key.name, *name);
        // Searching for the exact name finds it (LIKE wildcards in it are literal).
        let found = list_keys(&db, &["--search", name]);
        assert!(
            found.iter().any(|k| &k.id == id),
            "searching for {name:?} did not find it"
        );
    }
    // Leading and trailing spaces are trimmed; the rest is kept.
    let token = create_ok(&db, "  padded name \t");
    let id = key_id(&token);
    let store = keyward_store::open(&db).await.expect("open");
    assert_eq!(store.get_key(id).await.expect("get").name, "padded name");
    store.close().await;
}

/// The CLI's expiry parsing never panics: 64 arbitrary strings (fixed seed) give exit 0 or 2,
/// and exit 2 always comes with a message.
#[test]
fn arbitrary_expiry_arguments_never_panic() {
    let (_dir, db) = temp_db();
    let alphabet: Vec<char> = "0123456789-dD/ .:+neverNEVER\u{e9}\u{202E}\u{0}x"
        .chars()
        .collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut inputs: Vec<String> = vec![
        "9999-12-31".into(),
        "262143-01-01".into(),
        "+262142-12-31".into(),
        "-0001-01-01".into(),
        "0000-00-00".into(),
        "4294967295d".into(),
        "4294967296d".into(),
        "+5d".into(),
        " 7d ".into(),
        "NEVER".into(),
    ];
    while inputs.len() < 64 {
        let len = usize::try_from(next() % 14).expect("small");
        let text: String = (0..len)
            .map(|_| alphabet[usize::try_from(next()).expect("fits") % alphabet.len()])
            .filter(|c| *c != '\0')
            .collect();
        inputs.push(text);
    }
    let mut codes = [0usize; 3];
    for (i, expires) in inputs.iter().enumerate() {
        let out = cli(
            &db,
            &[
                "keys",
                "create",
                "--name",
                &format!("p{i}"),
                &format!("--expires={expires}"),
                "--override-limit",
            ],
        );
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{expires:?}: {err}");
        match out.status.code() {
            Some(0) => codes[0] += 1,
            Some(2) => {
                codes[2] += 1;
                assert!(
                    err.contains("keyward-cli") || err.contains("error"),
                    "{err}"
                );
            }
            other => panic!("{expires:?}: exit {other:?}: {err}"),
        }
    }
    eprintln!(
        "arbitrary expiries: {} accepted, {} refused",
        codes[0], codes[2]
    );
}

/// Every numeric argument at u32 and i64 extremes: never a panic (exit 101). Out of the argument's
/// type or range: exit 2 with words, nothing changed. In range however large: a sensible answer
/// (expiring within 4294967295 days is every key that expires at all).
#[tokio::test]
async fn numeric_arguments_at_their_extremes_never_panic() {
    let (_dir, db) = temp_db();
    let expiring = create_ok(&db, "expiring");
    let expiring_id = key_id(&expiring).to_owned();
    let never = cli(
        &db,
        &["keys", "create", "--name", "forever", "--expires", "never"],
    );
    assert_eq!(never.status.code(), Some(0), "{never:?}");
    let before = keys_and_audit(&db).await;

    let listed = |args: &[&str]| -> Vec<String> {
        list_keys(&db, args).into_iter().map(|k| k.name).collect()
    };
    for days in ["4294967295", "100000000", "95000000", "3650"] {
        assert_eq!(
            listed(&["--expiring-within", days]),
            ["expiring"],
            "expiring within {days} days"
        );
    }
    assert!(listed(&["--expiring-within", "0"]).is_empty());
    assert_eq!(listed(&["--limit", "4294967295"]).len(), 2);
    assert_eq!(listed(&["--limit", "1"]).len(), 1);
    assert!(listed(&["--limit", "0"]).is_empty());
    let text = cli(&db, &["keys", "list", "--expiring-within", "4294967295"]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    assert!(stdout(&text).contains(&expiring_id), "{}", stdout(&text));

    let refused: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["keys", "list", "--expiring-within", "4294967296"],
            "invalid value",
        ),
        (
            vec!["keys", "list", "--expiring-within", "9223372036854775807"],
            "invalid value",
        ),
        (
            vec!["keys", "list", "--expiring-within=-9223372036854775808"],
            "invalid value",
        ),
        (
            vec!["keys", "list", "--expiring-within=-1"],
            "invalid value",
        ),
        (
            vec!["keys", "list", "--limit", "4294967296"],
            "invalid value",
        ),
        (
            vec!["keys", "list", "--limit", "18446744073709551616"],
            "invalid value",
        ),
        (vec!["keys", "list", "--limit=-1"], "invalid value"),
        (
            vec!["keys", "create", "--name", "x", "--expires=4294967295d"],
            "between 1 and 3650 days",
        ),
        (
            vec!["keys", "create", "--name", "x", "--expires=3651d"],
            "between 1 and 3650 days",
        ),
        (
            vec!["keys", "create", "--name", "x", "--expires=4294967296d"],
            "is not a number of days",
        ),
        (
            vec![
                "keys",
                "create",
                "--name",
                "x",
                "--expires=9223372036854775807d",
            ],
            "is not a number of days",
        ),
        (
            vec!["keys", "create", "--name", "x", "--expires=9999-12-31"],
            "within 10 years",
        ),
        (
            vec!["dev", "seed", "--count", "4294967295"],
            "invalid value",
        ),
        (vec!["dev", "seed", "--count", "10000001"], "invalid value"),
        (vec!["dev", "seed", "--count", "0"], "invalid value"),
        (
            vec!["dev", "seed", "--count=-9223372036854775808"],
            "invalid value",
        ),
    ];
    for (args, why) in &refused {
        let out = cli(&db, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: expected {why:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: {out:?}");
    }
    assert_eq!(
        keys_and_audit(&db).await,
        before,
        "a refusal changed something"
    );
}
