//! The commands as the UI calls them: through Tauri's IPC on a mock runtime, with the real store.

use keyward_app::commands::audit::{write_audit_export, ExportFormat};
use keyward_app::{AppState, ErrorKind, IpcError};
use keyward_core::{DbLocation, Store};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

fn app_with(
    store: Result<Store, IpcError>,
    db: &std::path::Path,
) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let location = DbLocation {
        path: db.to_owned(),
        is_default: false,
    };
    let app = keyward_app::builder(mock_builder(), AppState::new(store, location, None))
        .build(mock_context(noop_assets()))
        .expect("app");
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("window");
    (app, window)
}

/// The app on a new, empty database in a temporary folder (kept alive by the returned guard).
fn app_on_fresh_db() -> (
    tempfile::TempDir,
    App<MockRuntime>,
    WebviewWindow<MockRuntime>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("ipc.db");
    let store = tauri::async_runtime::block_on(keyward_store::open(&db)).expect("open");
    let (app, window) = app_with(Ok(store), &db);
    (dir, app, window)
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    tauri::test::get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("json body"))
}

#[test]
fn create_list_and_revoke_through_ipc() {
    let (_dir, _app, window) = app_on_fresh_db();

    let created = invoke(
        &window,
        "create_key",
        json!({ "input": { "name": "via ipc", "expiry": { "kind": "days", "value": 7 } } }),
    )
    .expect("created");
    let token = created["token"]
        .as_str()
        .expect("the token crosses once, here");
    let id = created["key"]["id"].as_str().expect("id");
    assert!(token.starts_with(&format!("kw_{id}_")));
    assert!(
        !created["key"].to_string().contains(&token[14..]),
        "the summary must not carry the secret"
    );

    let page = invoke(
        &window,
        "list_keys",
        json!({ "query": { "search": "via" } }),
    )
    .expect("list");
    assert_eq!(page["total"], 1);
    assert_eq!(page["keys"][0]["status"], "active");
    assert!(
        !page.to_string().contains(&token[14..]),
        "lists never carry secrets"
    );

    let outcome = invoke(&window, "revoke_keys", json!({ "ids": [id] })).expect("revoke");
    assert_eq!(outcome["revoked"][0], id);
    let key = invoke(&window, "get_key", json!({ "id": id })).expect("get");
    assert_eq!(key["status"], "revoked");
}

#[test]
fn errors_cross_as_kind_and_message() {
    let (_dir, _app, window) = app_on_fresh_db();

    let bad = invoke(&window, "create_key", json!({ "input": { "name": "  " } }))
        .expect_err("an empty name is refused");
    assert_eq!(
        bad,
        json!({ "kind": "invalid_input", "message": "Give the key a name." })
    );

    let gone =
        invoke(&window, "revoke_keys", json!({ "ids": ["AAAAAAAAAA"] })).expect_err("unknown");
    assert_eq!(gone["kind"], "not_found");
}

#[test]
fn name_checks_give_the_core_answer_as_the_user_types() {
    let (_dir, _app, window) = app_on_fresh_db();

    let fine = invoke(
        &window,
        "check_name",
        json!({ "name": "  Jose\u{301}  deploy " }),
    )
    .expect("check_name always answers");
    assert_eq!(
        fine,
        json!({ "problem": null, "name": "Jos\u{E9} deploy", "length": 11, "max": 50 })
    );

    // A Persian name that needs its ZERO WIDTH NON-JOINER, and an "alice" that hides one.
    let persian = "\u{639}\u{644}\u{6CC}\u{200C}\u{631}\u{636}\u{627}";
    let answer = invoke(&window, "check_name", json!({ "name": persian })).expect("answer");
    assert_eq!(answer["problem"], Value::Null);
    assert_eq!(answer["name"], persian);
    let answer = invoke(&window, "check_name", json!({ "name": "ali\u{200C}ce" })).expect("answer");
    assert_eq!(
        answer["problem"],
        "The name contains an invisible or text-direction character; remove it."
    );

    // The same words create_key refuses with.
    let long = "x".repeat(51);
    let answer = invoke(&window, "check_name", json!({ "name": long })).expect("answer");
    assert_eq!(answer["length"], 51);
    let refused =
        invoke(&window, "create_key", json!({ "input": { "name": long } })).expect_err("too long");
    assert_eq!(answer["problem"], refused["message"]);
    let empty = invoke(&window, "check_name", json!({ "name": "" })).expect("answer");
    assert_eq!(
        empty,
        json!({ "problem": "Give the key a name.", "name": "", "length": 0, "max": 50 })
    );
}

#[test]
fn an_unusable_database_is_reported_not_crashed_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("broken.db");
    let damaged = IpcError::new(ErrorKind::DatabaseUnavailable, "The file is damaged.");
    let (_app, window) = app_with(Err(damaged), &db);
    let info = invoke(&window, "app_info", json!({})).expect("app_info always answers");
    assert_eq!(info["database_error"], "The file is damaged.");
    let list = invoke(&window, "list_keys", json!({ "query": {} })).expect_err("no store");
    assert_eq!(
        list,
        json!({ "kind": "database_unavailable", "message": "The file is damaged." })
    );
    // Checking a name needs no database.
    let check = invoke(&window, "check_name", json!({ "name": "a" })).expect("no store needed");
    assert_eq!(check["problem"], Value::Null);
}

#[test]
fn the_audit_log_exports_to_csv_and_json_files() {
    let (dir, _app, window) = app_on_fresh_db();
    let input = json!({ "input": { "name": "=HYPERLINK(\"x\")", "owner": null, "role": "admin",
        "scopes": ["read"], "track_usage": true, "expiry": { "kind": "days", "value": 30 },
        "override_limit": false } });
    let created = invoke(&window, "create_key", input).expect("create");
    let id = created["key"]["id"].as_str().expect("id").to_owned();
    let token = created["token"].as_str().expect("token").to_owned();
    invoke(&window, "revoke_keys", json!({ "ids": [id] })).expect("revoke");

    // The command opens a save dialog first, which a mock runtime cannot show; what it writes is
    // tested here through the same function it calls.
    let store = tauri::async_runtime::block_on(keyward_store::open(&dir.path().join("ipc.db")))
        .expect("open");
    let export = |query: keyward_core::AuditQuery, path: &std::path::Path, format| {
        tauri::async_runtime::block_on(write_audit_export(&store, &query, path, format))
    };
    let csv_path = dir.path().join("audit.csv");
    let query = keyward_core::AuditQuery {
        key_id: Some(id.clone()),
        ..Default::default()
    };
    let written = export(query.clone(), &csv_path, ExportFormat::Csv).expect("csv export");
    assert_eq!(written, 2, "created and revoked");
    let csv = std::fs::read_to_string(&csv_path).expect("csv file");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "seq,at,actor,action,key_id,details");
    assert!(
        lines[1].contains("\"key_created\"") && lines[2].contains("\"key_revoked\""),
        "{csv}"
    );
    assert!(
        !csv.contains(",\"=HYPERLINK"),
        "formulas are defused in spreadsheets"
    );

    let json_path = dir.path().join("audit.json");
    let revocations = keyward_core::AuditQuery {
        action: Some("key_revoked".into()),
        ..Default::default()
    };
    export(revocations, &json_path, ExportFormat::Json).expect("json export");
    let events: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json"))
        .expect("valid json");
    assert_eq!(events.as_array().map(Vec::len), Some(1));
    assert_eq!(events[0]["action"], "key_revoked");

    for file in [&csv_path, &json_path] {
        let text = std::fs::read_to_string(file).expect("read");
        assert!(!text.contains(&token[14..]), "exports never hold a secret");
    }
    let missing = dir.path().join("no-such-folder").join("audit.csv");
    let refused = export(query, &missing, ExportFormat::Csv).expect_err("unwritable path");
    assert!(refused.message.starts_with("Could not save"), "{refused:?}");
}

#[test]
fn plans_are_listed_made_changed_defaulted_and_deleted_through_ipc() {
    let (_dir, _app, window) = app_on_fresh_db();

    let plans = invoke(&window, "list_plans", json!({})).expect("list");
    assert_eq!(plans[0]["name"], "Unlimited");
    assert_eq!(plans[0]["is_default"], true);
    assert_eq!(plans[0]["rate_per_second"], Value::Null);
    assert_eq!(plans[0]["quota"], Value::Null);

    let plan = json!({ "name": "Starter", "rate_per_second": 10, "burst": 20,
        "quota": { "limit": 1000, "per": "day" } });
    let made = invoke(&window, "create_plan", json!({ "plan": plan })).expect("create");
    assert_eq!(made["name"], "Starter");
    assert_eq!(made["burst"], 20);
    assert_eq!(made["quota"], json!({ "limit": 1000, "per": "day" }));
    assert_eq!(made["keys"], 0);

    // A number the core refuses comes back as its words, for the field.
    let bad = json!({ "name": "Broken", "rate_per_second": null, "burst": 5, "quota": null });
    let refused = invoke(&window, "create_plan", json!({ "plan": bad })).expect_err("no rate");
    assert_eq!(refused["kind"], "invalid_input");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("burst")),
        "{refused}"
    );

    let changed = json!({ "name": "Starter", "rate_per_second": 5, "burst": null,
        "quota": { "limit": 50, "per": "week" } });
    let edited = invoke(
        &window,
        "update_plan",
        json!({ "name": "Starter", "plan": changed }),
    )
    .expect("update");
    assert_eq!(edited["rate_per_second"], 5);
    assert_eq!(
        edited["burst"], 5,
        "a rate without a burst gets a second's worth"
    );
    assert_eq!(edited["quota"]["per"], "week");

    let default =
        invoke(&window, "set_default_plan", json!({ "name": "Starter" })).expect("default");
    assert_eq!(default["is_default"], true);

    // A key made without a plan gets the default; its usage starts at 0 of the quota.
    let created = invoke(
        &window,
        "create_key",
        json!({ "input": { "name": "metered" } }),
    )
    .expect("create key");
    assert_eq!(created["key"]["plan"], "Starter");
    let id = created["key"]["id"].as_str().expect("id").to_owned();
    let usage = invoke(&window, "get_quota_usage", json!({ "id": id })).expect("usage");
    assert_eq!(usage["used"], 0);
    assert_eq!(usage["limit"], 50);
    assert_eq!(usage["per"], "week");
    assert!(usage["resets_at"]
        .as_str()
        .is_some_and(|t| t.ends_with("T00:00:00Z")));

    // Deleting a plan in use says how many keys use it; moving the key frees it.
    let in_use = invoke(&window, "delete_plan", json!({ "name": "Starter" })).expect_err("in use");
    assert_eq!(in_use["kind"], "invalid_input");
    assert!(
        in_use["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 key")),
        "{in_use}"
    );
    let moved = invoke(
        &window,
        "update_key",
        json!({ "id": id, "update": { "plan": "Unlimited" } }),
    )
    .expect("move the key");
    assert_eq!(moved["plan"], "Unlimited");
    let none = invoke(&window, "get_quota_usage", json!({ "id": id })).expect("usage");
    assert_eq!(none, Value::Null, "no quota, no usage");
    invoke(&window, "set_default_plan", json!({ "name": "Unlimited" })).expect("default back");
    invoke(&window, "delete_plan", json!({ "name": "Starter" })).expect("delete");
    let plans = invoke(&window, "list_plans", json!({})).expect("list");
    assert_eq!(plans.as_array().map(Vec::len), Some(1));

    let gone =
        invoke(&window, "get_quota_usage", json!({ "id": "AAAAAAAAAA" })).expect_err("no key");
    assert_eq!(gone["kind"], "not_found");
}

/// The Server screen's commands: a real verify server in the app's process, on its store.
#[test]
fn the_app_starts_a_verify_server_reports_its_counts_and_stops_it() {
    let (dir, _app, window) = app_on_fresh_db();
    let http = reqwest::Client::new();
    let get = |url: String| tauri::async_runtime::block_on(http.get(url).send());

    let idle = invoke(&window, "server_status", json!({})).expect("status");
    assert_eq!(idle["running"], Value::Null);
    assert_eq!(idle["others"], json!([]));
    assert_eq!(idle["default_listen"], "127.0.0.1:8787");

    // The address as typed: the default, a bad one, and one other machines could reach.
    let default = invoke(&window, "check_listen", json!({ "listen": " " })).expect("check");
    assert_eq!(
        default,
        json!({ "address": "127.0.0.1:8787", "problem": null, "warning": null })
    );
    let port_only = invoke(&window, "check_listen", json!({ "listen": "9100" })).expect("check");
    assert_eq!(port_only["address"], "127.0.0.1:9100");
    let bad = invoke(&window, "check_listen", json!({ "listen": "my laptop" })).expect("check");
    assert!(
        bad["problem"]
            .as_str()
            .is_some_and(|p| p.contains("127.0.0.1:8787")),
        "{bad}"
    );
    let open = invoke(&window, "check_listen", json!({ "listen": "0.0.0.0:0" })).expect("check");
    assert!(
        open["warning"].as_str().is_some_and(|w| w.contains("TLS")),
        "{open}"
    );

    // Refused in plain words: a bad address, another machine's reach without the warning shown,
    // a port in use.
    let refused = invoke(&window, "start_server", json!({ "listen": "my laptop" }))
        .expect_err("not an address");
    assert_eq!(refused["kind"], "invalid_input");
    let refused = invoke(&window, "start_server", json!({ "listen": "0.0.0.0:0" }))
        .expect_err("exposure not accepted");
    assert_eq!(refused["kind"], "invalid_input");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("TLS")),
        "{refused}"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken_at = taken.local_addr().expect("address").to_string();
    let refused =
        invoke(&window, "start_server", json!({ "listen": taken_at })).expect_err("port in use");
    assert_eq!(refused["kind"], "invalid_input");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("already in use")),
        "{refused}"
    );
    drop(taken);

    // Started on a free port: running, answering, counting.
    let started =
        invoke(&window, "start_server", json!({ "listen": "127.0.0.1:0" })).expect("start");
    let address = started["running"]["address"]
        .as_str()
        .expect("the port the system chose")
        .to_owned();
    assert!(
        address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
        "{address}"
    );
    assert_eq!(started["running"]["pid"], std::process::id());
    assert_eq!(started["warning"], Value::Null);
    let again = invoke(&window, "start_server", json!({})).expect_err("one at a time");
    assert!(
        again["message"]
            .as_str()
            .is_some_and(|m| m.contains(&address)),
        "{again}"
    );

    let health = get(format!("http://{address}/healthz")).expect("the server answers");
    assert!(health.status().is_success(), "{health:?}");

    let create = |name: &str, scopes: &[&str]| {
        let input = json!({ "input": { "name": name, "scopes": scopes } });
        let created = invoke(&window, "create_key", input).expect("create");
        created["token"].as_str().expect("token").to_owned()
    };
    let root = create("gateway", &["keyward:verify"]);
    let key = create("customer", &[]);
    let verify = |key: &str| {
        let request = http
            .post(format!("http://{address}/v1/verify"))
            .bearer_auth(&root)
            .json(&json!({ "key": key }));
        tauri::async_runtime::block_on(async { request.send().await?.json::<Value>().await })
            .expect("a verdict")
    };
    assert_eq!(verify(&key)["code"], "VALID");
    assert_eq!(verify(&key)["code"], "VALID");
    assert_eq!(verify("not a key")["code"], "MALFORMED");

    let status = invoke(&window, "server_status", json!({})).expect("status");
    let running = &status["running"];
    assert_eq!(running["address"], address.as_str());
    assert_eq!(running["last_minute"]["VALID"], 2, "{status}");
    assert_eq!(running["since_start"]["VALID"], 2);
    assert_eq!(running["last_minute"]["MALFORMED"], 1);
    assert_eq!(running["last_minute"]["REVOKED"], 0);
    assert!(running["started_at"].as_str().is_some(), "{status}");
    assert!(
        status["others"]
            .as_array()
            .is_some_and(|others| others.iter().all(|s| s["pid"] != std::process::id())),
        "the app's own server is not listed among the others: {status}"
    );

    // A server in another process (here: its report, as `keyward-cli serve` writes it) is listed.
    let elsewhere = tauri::async_runtime::block_on(keyward_store::open(&dir.path().join("ipc.db")))
        .expect("a second handle, as another process has");
    let report = keyward_core::servers::ServerReport {
        id: "srv_elsewhere".into(),
        address: "127.0.0.1:9999".into(),
        pid: std::process::id() + 1,
        started_at: chrono::Utc::now(),
        last_minute: [("VALID".to_owned(), 4)].into(),
        since_start: [("VALID".to_owned(), 9)].into(),
    };
    assert!(
        tauri::async_runtime::block_on(elsewhere.report_verify_server(&report)).expect("report")
    );
    let status = invoke(&window, "server_status", json!({})).expect("status");
    assert_eq!(
        status["others"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
    assert_eq!(status["others"][0]["address"], "127.0.0.1:9999");
    assert_eq!(status["others"][0]["last_minute"]["VALID"], 4);
    tauri::async_runtime::block_on(elsewhere.close());

    // Stopped: gone from the status, and the port refuses connections.
    let stopped = invoke(&window, "stop_server", json!({})).expect("stop");
    assert_eq!(stopped["running"], Value::Null);
    let refused = get(format!("http://{address}/healthz")).expect_err("nobody listens");
    assert!(refused.is_connect(), "{refused:?}");
    // Stopping again is harmless.
    invoke(&window, "stop_server", json!({})).expect("stop again");
}

#[test]
fn the_change_counter_moves_for_changes_from_any_process_and_this_window() {
    let (dir, _app, window) = app_on_fresh_db();
    let counter = || {
        invoke(&window, "change_counter", json!({}))
            .expect("change_counter")
            .as_u64()
            .expect("SQLite counts changes")
    };
    let start = counter();
    assert_eq!(counter(), start, "nothing changed");

    // Another process on the same file: the CLI, or a second app.
    let other = tauri::async_runtime::block_on(keyward_store::open(&dir.path().join("ipc.db")))
        .expect("open");
    let created = tauri::async_runtime::block_on(
        other.create_key(keyward_core::NewKey::named("from elsewhere")),
    )
    .expect("created");
    let after_other = counter();
    assert_ne!(after_other, start, "another process's new key was missed");
    tauri::async_runtime::block_on(other.close());

    // A use recorded by a check is not a change to show.
    let checked = tauri::async_runtime::block_on(async {
        let store = keyward_store::open(&dir.path().join("ipc.db")).await?;
        let verdict = store.verify(&created.token, &[]).await;
        store.close().await;
        verdict
    })
    .expect("verified");
    assert!(matches!(checked, keyward_core::Verdict::Valid { .. }));
    assert_eq!(
        counter(),
        after_other,
        "recording a use counted as a change"
    );

    // This window's own change counts too (the views then reload once more, which is harmless).
    let id = created.key.id.clone();
    invoke(&window, "revoke_keys", json!({ "ids": [id] })).expect("revoke");
    assert_ne!(
        counter(),
        after_other,
        "this window's own change was missed"
    );
}

#[test]
fn the_change_counter_of_an_unusable_database_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("broken.db");
    let damaged = IpcError::new(ErrorKind::DatabaseUnavailable, "The file is damaged.");
    let (_app, window) = app_with(Err(damaged), &db);
    let refused = invoke(&window, "change_counter", json!({})).expect_err("no store");
    assert_eq!(refused["kind"], "database_unavailable");
    let info = invoke(&window, "app_info", json!({})).expect("app_info");
    assert_eq!(info["backend"], "sqlite", "known from the location alone");
    assert_eq!(info["permissions"]["change_settings"], Value::Null);
}
