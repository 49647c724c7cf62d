//! The Server screen: start a verify server from the app, check a key with curl as a service
//! would, watch the count move, stop it; and closing the window stops it too.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::driver::{binary, click_window_close_button, free_port, App};

/// What the brief's service does: `curl -s -X POST …/v1/verify` with its own key as the bearer.
fn curl_verify(port: u16, root: &str, key: &str) -> std::process::Output {
    Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            &format!("http://127.0.0.1:{port}/v1/verify"),
        ])
        .args(["-H", &format!("Authorization: Bearer {root}")])
        .args(["-d", &serde_json::json!({ "key": key }).to_string()])
        .output()
        .expect("curl runs")
}

fn verdict(port: u16, root: &str, key: &str) -> String {
    let out = curl_verify(port, root, key);
    assert!(out.status.success(), "{out:?}");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    body["code"].as_str().unwrap_or_default().to_owned()
}

fn token(app: &App, args: &[&str]) -> String {
    let out = app.cli(args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits until nothing listens on `port` any more.
async fn wait_until_closed(port: u16, why: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "{why}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_on(app: &App, port: u16) {
    app.click("#server-toggle-btn").await;
    app.text_until("#server-state", |t| {
        t.starts_with(&format!("Running at http://127.0.0.1:{port} since "))
    })
    .await;
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the server listens on {port}"
    );
}

#[tokio::test]
async fn start_the_server_verify_with_curl_see_the_count_and_stop() {
    let app = App::launch(&[]).await;
    app.find("#empty-create-key-btn").await;
    app.click("#nav-server").await;
    app.text_until("#server-state", |t| t == "Not running")
        .await;
    app.text_until("#no-other-servers", |t| t.contains("keyward-cli serve"))
        .await;
    app.screenshot("server-01-not-running").await;

    // Every network: the warning first, and Start waits until it is acknowledged.
    app.click("#server-advanced").await;
    let input = app.find("#server-listen-input").await;
    input.send_keys("0.0.0.0:8787").await.expect("type");
    app.text_until("#server-exposure-warning", |t| t.contains("behind TLS"))
        .await;
    let start = app.find("#server-toggle-btn").await;
    assert!(
        !start.is_enabled().await.expect("enabled?"),
        "Start before the warning was read"
    );
    app.screenshot("server-02-exposure-warning").await;

    // A free port on this machine only, typed into the address field as a person would.
    let port = free_port();
    input.clear().await.expect("clear");
    input
        .send_keys(&format!("127.0.0.1:{port}"))
        .await
        .expect("type the address");
    app.gone("#server-exposure-warning").await;
    app.text_until("#server-curl", |t| {
        t.contains(&format!("http://127.0.0.1:{port}/v1/verify"))
    })
    .await;
    start_on(&app, port).await;
    app.text_until("#count-VALID", |t| t == "0").await;

    // The service's own key holds keyward:verify; the customer's key is the one it checks.
    let root = token(
        &app,
        &[
            "keys",
            "create",
            "--name",
            "Billing gateway",
            "--scope",
            "keyward:verify",
            "--expires",
            "never",
        ],
    );
    let key = token(&app, &["keys", "create", "--name", "Customer A"]);
    assert_eq!(verdict(port, &root, &key), "VALID");
    assert_eq!(verdict(port, &root, &key), "VALID");
    let revoked = app.cli(&["keys", "revoke", &key[3..13]]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(verdict(port, &root, &key), "REVOKED");

    app.text_until("#count-VALID", |t| t == "2").await;
    app.text_until("#count-REVOKED", |t| t == "1").await;
    app.screenshot("server-03-running-with-counts").await;

    // A server in another process on the same database (`keyward-cli serve`) is listed,
    // read-only, and goes from the list when it stops.
    let other_port = free_port();
    let mut other = Command::new(binary("keyward-cli"))
        .arg("--db")
        .arg(&app.db)
        .args(["serve", "--listen", &format!("127.0.0.1:{other_port}")])
        .stderr(Stdio::null())
        .spawn()
        .expect("keyward-cli serve");
    let other_url = format!("http://127.0.0.1:{other_port}");
    app.text_until("#other-servers", |t| t.contains(&other_url))
        .await;
    assert_eq!(verdict(other_port, &root, &root), "VALID");
    app.text_until("#other-servers", |t| t.contains("VALID 1"))
        .await;
    app.js("document.getElementById('other-servers').scrollIntoView(); return null")
        .await;
    app.screenshot("server-04-other-server-listed").await;
    let stopped = Command::new("kill")
        .args(["-TERM", &other.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    assert!(other.wait().expect("serve exits").success());
    app.find("#no-other-servers").await;
    // The app's own server was not listed among the others.
    app.text_until("#server-state", |t| t.starts_with("Running at"))
        .await;

    app.click("#server-toggle-btn").await;
    app.text_until("#server-state", |t| t == "Not running")
        .await;
    wait_until_closed(port, "Stop left the server listening").await;
    let refused = curl_verify(port, &root, &key);
    assert_eq!(refused.status.code(), Some(7), "curl: connection refused");

    // Started again, then the window closed: the server goes with the app.
    start_on(&app, port).await;
    let pid = app.pid();
    assert_eq!(click_window_close_button(pid), 1, "the app's window");
    wait_until_closed(port, "closing the window left the server listening").await;
}
