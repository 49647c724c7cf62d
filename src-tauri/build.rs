// Declaring our commands makes tauri-build generate an `allow-<command>` permission for each, so
// capabilities/default.json can grant exactly these and nothing else.
const COMMANDS: &[&str] = &[
    "app_info",
    "list_keys",
    "get_key",
    "check_name",
    "create_key",
    "revoke_keys",
    "delete_keys",
    "clipboard_copied",
    "update_key",
    "key_history",
    "list_owners",
    "create_owner",
    "rename_owner",
    "list_plans",
    "create_plan",
    "update_plan",
    "delete_plan",
    "set_default_plan",
    "get_quota_usage",
    "get_settings",
    "update_settings",
    "audit_page",
    "export_audit",
    "app_ready",
    "quit_app",
    "secret_on_screen",
    "check_listen",
    "start_server",
    "stop_server",
    "server_status",
    "change_counter",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri-build failed: {e:#}");
    }
}
