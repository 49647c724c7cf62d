//! The commands as the UI calls them: through Tauri's IPC on a mock runtime, with the real store.

use keyward_app::commands::audit::{write_audit_export, ExportFormat};
use keyward_app::AppState;
use keyward_core::{DbLocation, Store};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

fn app_with(
    store: Result<Store, String>,
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
    let store = tauri::async_runtime::block_on(Store::open(&db)).expect("open");
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
fn an_unusable_database_is_reported_not_crashed_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("broken.db");
    let (_app, window) = app_with(Err("The file is damaged.".into()), &db);
    let info = invoke(&window, "app_info", json!({})).expect("app_info always answers");
    assert_eq!(info["database_error"], "The file is damaged.");
    let list = invoke(&window, "list_keys", json!({ "query": {} })).expect_err("no store");
    assert_eq!(
        list,
        json!({ "kind": "database_unavailable", "message": "The file is damaged." })
    );
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
    let store =
        tauri::async_runtime::block_on(Store::open(&dir.path().join("ipc.db"))).expect("open");
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
