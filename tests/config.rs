//! The app's security configuration, read from the files that ship it. Each check fails when a
//! later change loosens it.

use serde_json::Value;

fn read_json(path: &str) -> Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_content_security_policy_is_strict() {
    let conf = read_json("tauri.conf.json");
    let csp = &conf["app"]["security"]["csp"];
    let script_src = csp["script-src"].as_str().expect("script-src is set");
    for banned in [
        "unsafe-eval",
        "unsafe-inline",
        "data:",
        "blob:",
        "*",
        "http:",
        "https:",
    ] {
        assert!(
            !script_src.contains(banned),
            "script-src allows {banned}: {script_src}"
        );
    }
    assert_eq!(csp["default-src"], "'self'");
    assert_eq!(csp["object-src"], "'none'");
    assert_eq!(
        conf["app"]["withGlobalTauri"], false,
        "window.__TAURI__ must stay off"
    );
    assert!(
        conf["app"]["security"]["dangerousDisableAssetCspModification"].is_null(),
        "Tauri must keep adding its script hashes to the CSP"
    );
}

#[test]
fn the_window_may_call_only_our_commands_and_write_the_clipboard() {
    let capability = read_json("capabilities/default.json");
    assert_eq!(capability["windows"], serde_json::json!(["main"]));
    let permissions = capability["permissions"].as_array().expect("permissions");
    for permission in permissions {
        let name = permission
            .as_str()
            .expect("plain permission names only, no scopes");
        let ours = name.starts_with("allow-") && !name.contains(':');
        let allowed = ours || name == "clipboard-manager:allow-write-text";
        assert!(allowed, "the window must not be granted {name}");
    }
    assert!(
        !permissions
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains(":allow-read"))),
        "the window must never read the clipboard"
    );
}

#[test]
fn devtools_stay_out_of_release_builds_and_tauri_is_recent() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    let tauri_line = manifest
        .lines()
        .find(|l| l.starts_with("tauri = "))
        .expect("tauri dependency");
    assert!(
        !tauri_line.contains("devtools"),
        "the devtools feature opens devtools in release: {tauri_line}"
    );

    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"tauri\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .expect("tauri in Cargo.lock");
    let parts: Vec<u32> = version.split('.').filter_map(|n| n.parse().ok()).collect();
    assert!(
        parts >= vec![2, 11, 1],
        "tauri {version} is older than 2.11.1"
    );
    assert_eq!(parts[0], 2, "tauri 2 is the supported major version");
}
