use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::driver::{click_window_close_button, x_clipboard, App};

const CLEAR_SECS: u64 = 3;

fn is_token(text: &str) -> bool {
    let parts: Vec<&str> = text.split('_').collect();
    parts.len() == 3
        && parts[0] == "kw"
        && parts[1].len() == 10
        && parts[2].len() == 38
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The walking product: create a 30-day key, see it once, copy it, verify it with the CLI against
/// the same database, watch the clipboard clear, then revoke it in the UI and see the CLI agree.
#[tokio::test]
async fn create_copy_verify_and_revoke_a_key() {
    let clear = CLEAR_SECS.to_string();
    let app = App::launch(&[("KEYWARD_CLIPBOARD_CLEAR_SECS", &clear)]).await;

    app.find("#empty-create-key-btn").await;
    app.screenshot("01-list-empty").await;

    app.click("#create-key-btn").await;
    let name = app.find("#key-name-input").await;
    assert_eq!(
        app.find("#expiry-select")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("90"),
        "the expiry defaults to 90 days"
    );
    name.send_keys("Billing service").await.expect("type name");
    app.find("#expiry-select")
        .await
        .select_by_value("30")
        .await
        .expect("choose 30 days");
    app.screenshot("02-create-dialog").await;
    app.click("#create-submit-btn").await;

    // The secret dialog: masked first, the full key on reveal.
    let masked = app.text_until("#secret-value", |t| !t.is_empty()).await;
    app.screenshot("03-secret-dialog-masked").await;
    app.click("#reveal-toggle-btn").await;
    let token = app.text_until("#secret-value", is_token).await;
    let secret = &token[14..];
    assert!(
        !masked.contains(secret),
        "the masked view showed the secret: {masked}"
    );
    assert!(
        !masked.contains(&secret[..8]),
        "the masked view showed part of the secret"
    );

    app.click("#copy-btn").await;
    let copied_at = Instant::now();
    app.text_until("#copy-btn", |t| t.contains("Copied")).await;
    assert_eq!(
        x_clipboard().as_deref(),
        Some(token.as_str()),
        "the X clipboard holds the key"
    );

    // The same database, read by the headless CLI while the app runs.
    let verdict = app.cli(&["--json", "verify", &token]);
    assert_eq!(verdict.status.code(), Some(0), "{verdict:?}");
    let verdict: serde_json::Value = serde_json::from_slice(&verdict.stdout).expect("json");
    assert_eq!(verdict["verdict"], "VALID");
    assert_eq!(verdict["key"]["name"], "Billing service");
    let expires: DateTime<Utc> = verdict["key"]["expires_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("the key expires");
    let days = (expires - Utc::now()).num_hours() as f64 / 24.0;
    assert!(
        (29.9..=30.0).contains(&days),
        "expires in {days} days, expected 30"
    );

    // The clipboard is cleared once the timeout passes, because it still holds the key.
    let start = Instant::now();
    while x_clipboard().as_deref() == Some(token.as_str()) {
        assert!(
            start.elapsed() < Duration::from_secs(CLEAR_SECS + 10),
            "the clipboard still holds the key"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        copied_at.elapsed() >= Duration::from_secs(CLEAR_SECS - 1),
        "cleared after {:?}, before the {CLEAR_SECS} s timeout",
        copied_at.elapsed()
    );

    // Closing asks first; going back keeps the dialog.
    app.click("#secret-done-btn").await;
    app.text_until("#secret-close-confirm", |t| {
        t.contains("won't see this key again")
    })
    .await;
    app.screenshot("04-secret-close-confirm").await;
    app.click("#secret-close-back-btn").await;
    app.find("#secret-value").await;
    app.click("#secret-done-btn").await;
    app.click("#secret-close-confirm-btn").await;
    app.gone("#secret-dialog").await;

    let id = &token[3..13];
    let row = format!("tr[data-key-id=\"{id}\"]");
    app.text_until(&format!("{row} .status-badge"), |t| t == "Active")
        .await;
    app.screenshot("05-list-with-key").await;
    // textContent, not the rendered text: it includes hidden text too, so the secret check is
    // stricter (and WebKitWebDriver's rendered text skips the ellipsized name cell).
    let row_text = app
        .find(&row)
        .await
        .prop("textContent")
        .await
        .expect("textContent")
        .unwrap_or_default();
    assert!(row_text.contains("Billing service"), "{row_text}");
    assert!(!row_text.contains(secret), "the list shows the secret");

    app.click(&format!("{row} button[data-action=\"revoke\"]"))
        .await;
    app.text_until("#revoke-dialog", |t| t.contains("stops working"))
        .await;
    app.screenshot("06-revoke-dialog").await;
    app.click("#revoke-confirm-btn").await;
    app.text_until(&format!("{row} .status-badge"), |t| t == "Revoked")
        .await;
    app.screenshot("07-list-revoked").await;

    let verdict = app.cli(&["verify", &token]);
    assert_eq!(verdict.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&verdict.stdout).trim(), "REVOKED");
    app.close().await;
}

/// Creates a key, copies it, and lets a second process take its own copy of the clipboard, as a
/// clipboard manager does, so the content would outlive the app. Returns the key.
async fn copy_a_key_as_a_clipboard_manager_sees_it(app: &App) -> String {
    app.submit_new_key("Deploy bot").await;
    app.click("#copy-btn").await;
    app.text_until("#copy-btn", |t| t.contains("Copied")).await;
    let token = x_clipboard().expect("the key was copied");
    assert!(is_token(&token), "{token}");
    let manager = std::process::Command::new("sh")
        .args([
            "-c",
            "xclip -o -selection clipboard | xclip -i -selection clipboard",
        ])
        .status()
        .expect("xclip");
    assert!(manager.success());
    assert_eq!(x_clipboard().as_deref(), Some(token.as_str()));
    token
}

/// Whether process `pid` still runs (a zombie counts as gone: WebKitWebDriver reaps it later).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

async fn wait_until_gone(pid: u32) {
    let start = Instant::now();
    while running(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the app did not quit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Quitting clears a copied key from the clipboard, even where a clipboard manager has taken a
/// copy that would outlive the app. The quit here is SIGTERM, as at logout; closing the window
/// leaves through the same exit.
#[tokio::test]
async fn quitting_clears_a_copied_key_from_the_clipboard() {
    let app = App::launch(&[("KEYWARD_CLIPBOARD_CLEAR_SECS", "600")]).await;
    let token = copy_a_key_as_a_clipboard_manager_sees_it(&app).await;
    let pid = app.pid();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_until_gone(pid).await;
    assert_ne!(
        x_clipboard().as_deref(),
        Some(token.as_str()),
        "the key is still in the clipboard after quitting"
    );
}

/// Ctrl+Q quits, and clears the clipboard on the way out; but while a new key is on screen it
/// first asks, as closing that dialog does, and the app stays open.
#[tokio::test]
async fn ctrl_q_asks_while_a_key_is_shown_then_quits_and_clears_the_clipboard() {
    let app = App::launch(&[("KEYWARD_CLIPBOARD_CLEAR_SECS", "600")]).await;
    let token = copy_a_key_as_a_clipboard_manager_sees_it(&app).await;
    let pid = app.pid();
    app.press_ctrl('q').await.expect("Ctrl+Q");
    app.find("#secret-close-confirm-btn").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(running(pid), "Ctrl+Q quit with a new key on screen");
    app.screenshot("27-ctrl-q-while-key-shown").await;

    app.click("#secret-close-confirm-btn").await;
    app.gone("#secret-dialog").await;
    // The window closes while WebDriver still answers for the key presses, so its answer is an
    // error; the process going away is what counts.
    let _ = app.press_ctrl('q').await;
    wait_until_gone(pid).await;
    assert_ne!(
        x_clipboard().as_deref(),
        Some(token.as_str()),
        "the key is still in the clipboard after Ctrl+Q"
    );
}

/// The window's close button while a new key is on screen: the window stays and the dialog asks
/// "you won't see it again", as its own Close does. Closing again is the answer: the window goes
/// (so a page that cannot ask never traps it).
#[tokio::test]
async fn closing_the_window_while_a_key_is_shown_asks_first() {
    let app = App::launch(&[]).await;
    app.submit_new_key("Close me").await;
    app.find("#secret-dialog").await;
    let pid = app.pid();

    assert_eq!(click_window_close_button(pid), 1, "the app's window");
    app.find("#secret-close-confirm-btn").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(running(pid), "the window closed with a new key on screen");
    app.screenshot("28-close-window-while-key-shown").await;

    click_window_close_button(pid);
    wait_until_gone(pid).await;
}

/// Keys made elsewhere show up; search narrows the list in SQL; delete asks, then removes the key.
#[tokio::test]
async fn search_and_delete_a_key_created_by_the_cli() {
    let app = App::launch(&[]).await;
    app.find("#empty-create-key-btn").await;
    let mut tokens = Vec::new();
    for name in ["Nightly backup", "Search indexer"] {
        let out = app.cli(&["keys", "create", "--name", name, "--expires", "never"]);
        assert!(out.status.success(), "{out:?}");
        tokens.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let backup_id = &tokens[0][3..13];
    let indexer_id = &tokens[1][3..13];

    app.client.refresh().await.expect("reload");
    app.find(&format!("tr[data-key-id=\"{indexer_id}\"]")).await;
    app.find("#search-input")
        .await
        .send_keys("backup")
        .await
        .expect("type");
    app.gone(&format!("tr[data-key-id=\"{indexer_id}\"]")).await;
    let row = format!("tr[data-key-id=\"{backup_id}\"]");
    app.find(&row).await;
    app.screenshot("08-search").await;

    app.click(&format!("{row} button[data-action=\"delete\"]"))
        .await;
    app.text_until("#delete-dialog", |t| {
        t.to_lowercase().contains("permanently")
    })
    .await;
    app.screenshot("09-delete-dialog").await;
    app.click("#delete-confirm-btn").await;
    app.gone(&row).await;

    let listed = app.cli(&["--json", "keys", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        !listed.contains(backup_id),
        "the deleted key is still in the database"
    );
    assert!(listed.contains(indexer_id));
    app.close().await;
}
