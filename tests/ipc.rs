//! The commands as the UI calls them: through Tauri's IPC on a mock runtime, with the real store.

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
    let app = keyward_app::builder(mock_builder(), AppState::new(store, location, 30))
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
