//! `keyward-cli plans ...`, `keys create --plan` and `keys edit`, through the real binary.

use std::path::Path;

use serde_json::Value;

use crate::util::{cli, create_key, json, key_id, keys_and_audit, stderr, stdout, temp_db};

fn ok(db: &Path, args: &[&str]) -> String {
    let out = cli(db, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    stdout(&out)
}

/// The row of the table for `name` (plan or key), split on runs of spaces.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{table}"))
}

fn plans(db: &Path) -> Value {
    json(&cli(db, &["--json", "plans", "list"]))
}

/// A new key on `plan` (or the default plan); its id.
fn key(db: &Path, name: &str, plan: Option<&str>) -> String {
    let plan: &[&str] = match plan {
        Some(plan) => &["--plan", plan],
        None => &[],
    };
    key_id(&create_key(db, name, plan)).to_owned()
}

#[test]
fn a_plan_is_created_listed_edited_made_default_and_deleted() {
    let (_dir, db) = temp_db();
    let table = ok(&db, &["plans", "list"]);
    assert_eq!(
        table.lines().next().map(|l| l.split_whitespace().collect()),
        Some(vec!["NAME", "RATE", "BURST", "QUOTA", "KEYS", "DEFAULT"])
    );
    assert_eq!(
        row(&table, "Unlimited"),
        ["Unlimited", "-", "-", "-", "0", "yes"]
    );

    let created = ok(
        &db,
        &[
            "plans", "create", "Pro", "--rate", "10", "--burst", "20", "--quota", "1000", "--per",
            "day",
        ],
    );
    assert_eq!(
        row(&created, "Pro"),
        ["Pro", "10/s", "20", "1,000/day", "0"]
    );
    let quota_only = json(&cli(
        &db,
        &[
            "--json", "plans", "create", "Free", "--quota", "50", "--per", "month",
        ],
    ));
    assert_eq!(quota_only["name"], "Free");
    assert_eq!(quota_only["rate_per_second"], Value::Null);
    assert_eq!(
        quota_only["quota"],
        serde_json::json!({ "limit": 50, "per": "month" })
    );
    // A rate alone gets a second's worth as its burst (the core's rule).
    let rate_only = json(&cli(
        &db,
        &["--json", "plans", "create", "Fast", "--rate", "7"],
    ));
    assert_eq!(
        (
            rate_only["rate_per_second"].as_u64(),
            rate_only["burst"].as_u64()
        ),
        (Some(7), Some(7))
    );
    assert_eq!(rate_only["quota"], Value::Null);

    let listed = plans(&db);
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["Fast", "Free", "Pro", "Unlimited"]);

    // Only what is named changes.
    let edited = ok(&db, &["plans", "edit", "Pro", "--burst", "50"]);
    assert_eq!(row(&edited, "Pro"), ["Pro", "10/s", "50", "1,000/day", "0"]);
    let edited = ok(
        &db,
        &[
            "plans",
            "edit",
            "pro",
            "--name",
            "Premium",
            "--no-rate",
            "--quota",
            "5",
            "--per",
            "week",
        ],
    );
    assert_eq!(
        row(&edited, "Premium"),
        ["Premium", "-", "-", "5/week", "0"]
    );
    let edited = json(&cli(
        &db,
        &[
            "--json",
            "plans",
            "edit",
            "Premium",
            "--no-quota",
            "--rate",
            "3",
        ],
    ));
    assert_eq!(
        (
            &edited["name"],
            &edited["rate_per_second"],
            &edited["burst"],
            &edited["quota"]
        ),
        (
            &Value::from("Premium"),
            &Value::from(3),
            &Value::from(3),
            &Value::Null
        )
    );

    let default = ok(&db, &["plans", "default", "Premium"]);
    assert_eq!(row(&default, "Premium").last(), Some(&"yes"));
    let table = ok(&db, &["plans", "list"]);
    assert_eq!(row(&table, "Unlimited"), ["Unlimited", "-", "-", "-", "0"]);
    assert_eq!(key(&db, "on the default", None).len(), 10);
    let (keys, _) = tokio_block(keys_and_audit(&db));
    assert_eq!(keys[0].plan, "Premium");

    // A plan no key uses and that is not the default is deleted, and is gone.
    let deleted = cli(&db, &["plans", "delete", "Free", "--json"]);
    assert_eq!(json(&deleted), serde_json::json!({ "deleted": "Free" }));
    assert_eq!(
        ok(&db, &["plans", "delete", "Fast"]),
        "Deleted plan \"Fast\""
    );
    let names: Vec<String> = plans(&db)
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["Premium", "Unlimited"]);

    let (_, audit) = tokio_block(keys_and_audit(&db));
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| a.contains("plan"))
        .collect();
    for action in [
        "plan_created",
        "plan_updated",
        "default_plan_changed",
        "plan_deleted",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}

fn tokio_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

#[tokio::test]
async fn a_plan_in_use_or_the_default_is_not_deleted() {
    let (_dir, db) = temp_db();
    ok(
        &db,
        &["plans", "create", "Pro", "--rate", "10", "--burst", "20"],
    );
    key(&db, "first", Some("Pro"));
    key(&db, "second", Some("pro"));
    let before = (plans(&db), keys_and_audit(&db).await);

    let refused = cli(&db, &["plans", "delete", "Pro"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        stderr(&refused).contains("used by 2 keys; move them to another plan first"),
        "{refused:?}"
    );
    assert_eq!(stdout(&refused), "");
    let default = cli(&db, &["plans", "delete", "Unlimited"]);
    assert_eq!(default.status.code(), Some(2), "{default:?}");
    assert!(
        stderr(&default).contains("is the default for new keys"),
        "{default:?}"
    );
    let unknown = cli(&db, &["plans", "delete", "Gold"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(
        stderr(&unknown).contains("no plan named \"Gold\""),
        "{unknown:?}"
    );

    assert_eq!((plans(&db), keys_and_audit(&db).await), before);
    let table = ok(&db, &["plans", "list"]);
    assert_eq!(row(&table, "Pro"), ["Pro", "10/s", "20", "-", "2"]);
}

#[tokio::test]
async fn keys_are_created_on_a_plan_and_moved_by_keys_edit() {
    let (_dir, db) = temp_db();
    ok(
        &db,
        &["plans", "create", "Pro", "--quota", "1000", "--per", "day"],
    );
    let id = key(&db, "billing", Some("Pro"));
    let other = key(&db, "default one", None);

    let list = ok(&db, &["keys", "list"]);
    let header: Vec<&str> = list
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "NAME", "OWNER", "ROLE", "PLAN", "STATUS", "CREATED", "EXPIRES", "LAST", "USED"]
    );
    assert_eq!(row(&list, &format!("kw_{id}"))[4], "Pro");
    assert_eq!(row(&list, &format!("kw_{other}"))[5], "Unlimited");

    // With the prefix or without; the answer is the key as `keys list` shows it.
    let moved = ok(
        &db,
        &["keys", "edit", &format!("kw_{id}"), "--plan", "Unlimited"],
    );
    assert_eq!(moved.lines().count(), 2, "{moved}");
    assert_eq!(row(&moved, &format!("kw_{id}"))[4], "Unlimited");
    let back = json(&cli(&db, &["--json", "keys", "edit", &id, "--plan", "pro"]));
    assert_eq!(
        (&back["id"], &back["plan"]),
        (&Value::from(id.as_str()), &Value::from("Pro"))
    );
    assert_eq!(row(&ok(&db, &["plans", "list"]), "Pro")[4], "1");

    let (keys, audit) = keys_and_audit(&db).await;
    assert_eq!(
        keys.iter().find(|k| k.id == id).map(|k| k.plan.as_str()),
        Some("Pro")
    );
    let created = audit
        .iter()
        .find(|e| e.action == "key_created" && e.key_id.as_deref() == Some(&id))
        .expect("created row");
    let details: Value = serde_json::from_str(&created.details).expect("json");
    assert_eq!(details["plan"], "Pro");
    let moves: Vec<Value> = audit
        .iter()
        .filter(|e| e.action == "key_updated" && e.key_id.as_deref() == Some(&id))
        .map(|e| serde_json::from_str::<Value>(&e.details).expect("json")["plan"].clone())
        .collect();
    assert_eq!(
        moves,
        [
            serde_json::json!({ "from": "Pro", "to": "Unlimited" }),
            serde_json::json!({ "from": "Unlimited", "to": "Pro" }),
        ]
    );

    // An unknown plan: exit 2 with the core's words, the key stays where it is.
    let before = keys_and_audit(&db).await;
    for args in [
        vec!["keys", "edit", id.as_str(), "--plan", "Gold"],
        vec!["keys", "create", "--name", "lost", "--plan", "Gold"],
    ] {
        let refused = cli(&db, &args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {refused:?}");
        assert!(
            stderr(&refused).contains("There is no plan named \"Gold\""),
            "{refused:?}"
        );
        assert_eq!(stdout(&refused), "");
    }
    assert_eq!(keys_and_audit(&db).await, before);
}

#[tokio::test]
async fn keys_edit_changes_only_what_it_names() {
    let (_dir, db) = temp_db();
    let id = key(&db, "old name", None);
    let edited = json(&cli(
        &db,
        &[
            "--json",
            "keys",
            "edit",
            &id,
            "--name",
            "new name",
            "--role",
            "admin",
            "--scope",
            "read",
            "--scope",
            "write",
            "--expires",
            "never",
            "--track-usage",
            "off",
        ],
    ));
    assert_eq!(edited["name"], "new name");
    assert_eq!(edited["role"], "admin");
    assert_eq!(edited["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(edited["expires_at"], Value::Null);
    assert_eq!(edited["track_usage"], false);
    assert_eq!(edited["plan"], "Unlimited");

    let edited = json(&cli(
        &db,
        &[
            "--json",
            "keys",
            "edit",
            &format!("kw_{id}"),
            "--no-scopes",
            "--expires",
            "30d",
        ],
    ));
    assert_eq!(edited["scopes"], serde_json::json!([]));
    assert_eq!(
        (&edited["name"], &edited["role"]),
        (&Value::from("new name"), &Value::from("admin"))
    );
    assert!(edited["expires_at"].is_string(), "{edited}");
    let text = ok(&db, &["keys", "edit", &id, "--role", "project"]);
    assert_eq!(
        row(&text, &format!("kw_{id}"))[..3],
        [format!("kw_{id}").as_str(), "new", "name"]
    );
    assert!(text.contains("project"), "{text}");

    // Refusals change nothing: an unknown scope or id, a bad expiry, a revoked key.
    let before = keys_and_audit(&db).await;
    for (args, code) in [
        (vec!["keys", "edit", id.as_str(), "--scope", "nonsense"], 2),
        (vec!["keys", "edit", "AAAAAAAAAA", "--name", "x"], 1),
        (vec!["keys", "edit", id.as_str(), "--expires", "0d"], 2),
        (
            vec!["keys", "edit", id.as_str(), "--expires", "yesterday"],
            2,
        ),
        (
            vec![
                "keys",
                "edit",
                id.as_str(),
                "--scope",
                "read",
                "--no-scopes",
            ],
            2,
        ),
        (
            vec!["keys", "edit", id.as_str(), "--track-usage", "maybe"],
            2,
        ),
        (vec!["keys", "edit", id.as_str(), "--name", ""], 2),
    ] {
        let refused = cli(&db, &args);
        assert_eq!(refused.status.code(), Some(code), "{args:?}: {refused:?}");
        assert!(!stderr(&refused).contains("panicked"), "{refused:?}");
    }
    assert_eq!(keys_and_audit(&db).await, before);
    ok(&db, &["keys", "revoke", &id]);
    let revoked = cli(&db, &["keys", "edit", &id, "--name", "again"]);
    assert_eq!(revoked.status.code(), Some(1), "{revoked:?}");
    assert!(stderr(&revoked).contains("revoked"), "{revoked:?}");
}

#[tokio::test]
async fn numbers_at_the_extremes_are_refused_without_a_panic_or_a_change() {
    let (_dir, db) = temp_db();
    ok(
        &db,
        &["plans", "create", "Pro", "--rate", "10", "--burst", "20"],
    );
    ok(
        &db,
        &["plans", "create", "Quota", "--quota", "10", "--per", "week"],
    );
    let before = (plans(&db), keys_and_audit(&db).await);
    let refusals: &[(&[&str], &str)] = &[
        // The core's range, in its words.
        (
            &["plans", "create", "X", "--rate", "0"],
            "The rate must be between 1 and 1000000",
        ),
        (
            &["plans", "create", "X", "--rate", "1000001"],
            "The rate must be between",
        ),
        (
            &["plans", "create", "X", "--rate", "4294967295"],
            "The rate must be between",
        ),
        (
            &["plans", "create", "X", "--rate", "1", "--burst", "0"],
            "The burst must be between",
        ),
        (
            &[
                "plans",
                "create",
                "X",
                "--rate",
                "1",
                "--burst",
                "4294967295",
            ],
            "The burst must be between",
        ),
        (
            &["plans", "create", "X", "--quota", "0", "--per", "day"],
            "The quota must be between",
        ),
        (
            &[
                "plans",
                "create",
                "X",
                "--quota",
                "18446744073709551615",
                "--per",
                "day",
            ],
            "The quota must be between",
        ),
        (
            &["plans", "edit", "Pro", "--rate", "0"],
            "The rate must be between",
        ),
        (
            &["plans", "edit", "Quota", "--burst", "5"],
            "A burst needs a rate",
        ),
        (
            &["plans", "edit", "Pro", "--quota", "0", "--per", "month"],
            "The quota must be between",
        ),
        (
            &["plans", "edit", "Gold", "--rate", "5"],
            "no plan named \"Gold\"",
        ),
        (
            &["plans", "edit", "Pro", "--name", "Quota"],
            "already exists",
        ),
        (&["plans", "create", "pro"], "already exists"),
        (&["plans", "create", ""], "Give the plan a name"),
        (&["plans", "default", "Gold"], "no plan named \"Gold\""),
        // What clap cannot parse or pair, in its words.
        (
            &["plans", "create", "X", "--rate", "4294967296"],
            "invalid value '4294967296' for '--rate",
        ),
        (
            &["plans", "create", "X", "--rate", "-1"],
            "unexpected argument '-1'",
        ),
        (
            &[
                "plans",
                "create",
                "X",
                "--rate",
                "1",
                "--burst",
                "4294967296",
            ],
            "--burst",
        ),
        (
            &[
                "plans",
                "create",
                "X",
                "--quota",
                "18446744073709551616",
                "--per",
                "day",
            ],
            "--quota",
        ),
        (&["plans", "create", "X", "--burst", "5"], "--rate"),
        (&["plans", "create", "X", "--quota", "5"], "--per"),
        (
            &["plans", "create", "X", "--rate=-1"],
            "invalid value '-1' for '--rate",
        ),
        (&["plans", "create", "X", "--per", "day"], "--quota"),
        (
            &["plans", "create", "X", "--quota", "5", "--per", "year"],
            "year",
        ),
        (
            &["plans", "edit", "Pro", "--rate", "5", "--no-rate"],
            "--no-rate",
        ),
        (
            &[
                "plans",
                "edit",
                "Pro",
                "--quota",
                "5",
                "--per",
                "day",
                "--no-quota",
            ],
            "--no-quota",
        ),
    ];
    for (args, words) in refusals {
        let out = cli(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let said = stderr(&out);
        assert!(said.contains(words), "{args:?}: {said}");
        assert!(!said.contains("panicked"), "{args:?}: {said}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert_eq!((plans(&db), keys_and_audit(&db).await), before);

    // The largest numbers the core takes are taken.
    let max = json(&cli(
        &db,
        &[
            "--json",
            "plans",
            "create",
            "Max",
            "--rate",
            "1000000",
            "--burst",
            "1000000",
            "--quota",
            "1000000000000",
            "--per",
            "month",
        ],
    ));
    assert_eq!(max["quota"]["limit"], 1_000_000_000_000_u64);
    let table = ok(&db, &["plans", "list"]);
    assert_eq!(
        row(&table, "Max"),
        [
            "Max",
            "1,000,000/s",
            "1,000,000",
            "1,000,000,000,000/month",
            "0"
        ]
    );
}
