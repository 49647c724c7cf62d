//! Accessibility in the real window: every screen, dialog and state passes axe-core with no
//! violations (one line per screen in the output: `axe <screen>: 0 violations`), a key is
//! created, copied and revoked with the keyboard alone, and the focused control always shows.

use std::path::PathBuf;

use fantoccini::key::Key;

use crate::driver::{cli_at, App};
use crate::fault_setup::{Immutable, WriteLockHolder};

fn id_of(token: &str) -> &str {
    token.split('_').nth(1).expect("token id")
}

/// `keyward-cli keys create <args>`, which must succeed; returns the token.
fn create(app: &App, args: &[&str]) -> String {
    let mut all = vec!["keys", "create"];
    all.extend_from_slice(args);
    let out = app.cli(&all);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn row(token: &str) -> String {
    format!("tr[data-key-id=\"{}\"]", id_of(token))
}

/// Replaces what `css` holds with `text`.
async fn fill(app: &App, css: &str, text: &str) {
    let field = app.find(css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn select(app: &App, css: &str, value: &str) {
    app.find(css)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
}

/// The Keys screen in each of its states, and every dialog it opens.
#[tokio::test]
async fn every_keys_screen_and_dialog_passes_axe() {
    let app = App::launch(&[]).await;
    app.find("#empty-create-key-btn").await;
    app.axe("keys: empty list").await;

    // The create dialog: as it opens, with the name refused, and each kind of expiry.
    app.click("#create-key-btn").await;
    let name = app.find("#key-name-input").await;
    app.text_until("#plan-select", |t| t.contains("Unlimited"))
        .await;
    app.axe("create dialog: empty").await;
    name.send_keys("x").await.expect("type");
    app.press(Key::Backspace).await;
    app.text_until("#name-error", |t| !t.is_empty()).await;
    app.axe("create dialog: name error").await;
    app.screenshot("a11y-01-create-name-error").await;
    select(&app, "#expiry-select", "never").await;
    app.find("#never-warning").await;
    app.axe("create dialog: no expiry").await;
    select(&app, "#expiry-select", "date").await;
    app.find("#expiry-date-input").await;
    app.axe("create dialog: expiry date").await;
    select(&app, "#expiry-select", "30").await;
    name.send_keys("Billing service").await.expect("type");
    app.click("#create-submit-btn").await;

    // The secret dialog: masked, then shown and copied, then asking before it closes.
    app.text_until("#secret-value", |t| !t.is_empty()).await;
    app.axe("secret dialog: masked").await;
    app.click("#reveal-toggle-btn").await;
    app.click("#copy-btn").await;
    app.text_until("#copy-btn", |t| t.contains("Copied")).await;
    app.axe("secret dialog: shown and copied").await;
    app.click("#secret-done-btn").await;
    app.find("#secret-close-confirm").await;
    app.axe("secret dialog: asks before closing").await;
    app.screenshot("a11y-02-secret-close-confirm").await;
    app.click("#secret-close-confirm-btn").await;
    app.gone("#secret-dialog").await;

    // A list with an owner at their limit, a key that expires soon and a revoked one.
    assert!(app.cli(&["owners", "create", "Alice"]).status.success());
    for i in 0..5 {
        create(&app, &["--name", &format!("Alice {i}"), "--owner", "Alice"]);
    }
    let soon = create(&app, &["--name", "Search indexer", "--expires", "5d"]);
    let revoked = create(&app, &["--name", "Old deploy bot"]);
    assert!(app
        .cli(&["keys", "revoke", id_of(&revoked)])
        .status
        .success());
    app.client.refresh().await.expect("reload");
    app.text_until(&format!("{} .status-badge", row(&revoked)), |t| {
        t == "Revoked"
    })
    .await;
    app.find(&format!("{} .expires-soon-badge", row(&soon)))
        .await;
    app.axe("keys: list with keys").await;
    app.screenshot("a11y-03-list").await;

    app.find("#search-input")
        .await
        .send_keys("no such key")
        .await
        .expect("type");
    app.find("#no-results").await;
    app.axe("keys: search with no results").await;
    app.screenshot("a11y-04-no-results").await;
    app.click("#clear-search-btn").await;
    app.find(&row(&soon)).await;

    select(&app, "#owner-filter", "Alice").await;
    app.find("#owner-usage-counter").await;
    app.click("#expiring-soon-filter").await;
    app.find("#no-results").await;
    app.axe("keys: filtered by owner and expiry").await;
    app.click("#expiring-soon-filter").await;
    select(&app, "#owner-filter", "").await;
    app.find(&row(&soon)).await;

    // The details panel: reading, editing, and a revoked key.
    app.click(&format!("{} button.key-name-link", row(&soon)))
        .await;
    app.text_until("#key-history", |t| t.contains("Created"))
        .await;
    app.axe("key details").await;
    app.click("#edit-key-btn").await;
    app.find("#edit-name-input").await;
    app.axe("key details: editing").await;
    app.screenshot("a11y-05-details-editing").await;
    app.click("#cancel-edit-btn").await;
    app.click("#close-details-btn").await;
    app.gone("#key-details").await;
    app.click(&format!("{} button.key-name-link", row(&revoked)))
        .await;
    app.find("#read-only-notice").await;
    app.axe("key details: revoked key").await;
    app.click("#close-details-btn").await;
    app.gone("#key-details").await;

    // One key's revoke and delete confirmations.
    app.click(&format!("{} button[data-action=\"revoke\"]", row(&soon)))
        .await;
    app.find("#revoke-dialog").await;
    app.axe("revoke dialog").await;
    app.click("#revoke-cancel-btn").await;
    app.gone("#revoke-dialog").await;
    app.click(&format!("{} button[data-action=\"delete\"]", row(&soon)))
        .await;
    app.find("#delete-dialog").await;
    app.axe("delete dialog").await;
    app.click("#delete-cancel-btn").await;
    app.gone("#delete-dialog").await;

    // A selection, and what revoking or deleting it would do.
    for token in [&soon, &revoked] {
        app.click(&format!("{} input.row-select", row(token))).await;
    }
    app.text_until("#bulk-bar", |t| t.contains("2 selected"))
        .await;
    app.axe("keys: two selected").await;
    app.click("#bulk-revoke-btn").await;
    app.find("#bulk-revoke-dialog li.already-revoked").await;
    app.axe("bulk revoke preview").await;
    app.screenshot("a11y-06-bulk-revoke").await;
    app.click("#bulk-revoke-cancel-btn").await;
    app.gone("#bulk-revoke-dialog").await;
    app.click("#bulk-delete-btn").await;
    app.find("#bulk-delete-dialog").await;
    app.axe("bulk delete preview").await;
    app.click("#bulk-delete-cancel-btn").await;
    app.gone("#bulk-delete-dialog").await;
    app.click("#bulk-clear-btn").await;
    app.gone("#bulk-bar").await;

    // Creating a sixth key for Alice: the limit and the override.
    app.click("#create-key-btn").await;
    app.find("#key-name-input")
        .await
        .send_keys("sixth")
        .await
        .expect("type");
    select(&app, "#owner-select", "Alice").await;
    app.find("#limit-reason").await;
    app.axe("create dialog: owner at the limit").await;
    app.press(Key::Escape).await;
    app.gone("#create-dialog").await;
    app.close().await;
}

/// Owners, the audit log, the verify server and Settings with its plans, in their states.
#[tokio::test]
async fn every_admin_screen_and_dialog_passes_axe() {
    let app = App::launch(&[]).await;
    assert!(app.cli(&["owners", "create", "Alice"]).status.success());
    let token = create(&app, &["--name", "audited", "--owner", "Alice"]);
    assert!(app.cli(&["keys", "revoke", id_of(&token)]).status.success());
    app.client.refresh().await.expect("reload");
    app.find(&row(&token)).await;

    app.click("#nav-owners").await;
    app.text_until("#owners-view", |t| t.contains("Alice"))
        .await;
    app.axe("owners").await;
    app.click("#create-owner-btn").await;
    app.text_until("#new-owner-message", |t| t.contains("name first"))
        .await;
    app.axe("owners: add refused").await;
    app.click("tr.owner-row[data-owner=\"Alice\"] [data-action=\"rename-owner\"]")
        .await;
    app.find("#rename-owner-input").await;
    app.axe("owners: renaming").await;
    app.screenshot("a11y-07-owners-renaming").await;
    app.press(Key::Escape).await;
    app.gone("#rename-owner-input").await;

    app.click("#nav-audit").await;
    app.text_until("#audit-view", |t| t.contains("Key revoked"))
        .await;
    app.axe("audit log").await;
    app.screenshot("a11y-08-audit").await;
    fill(&app, "#audit-key-filter", "kw_0000000000").await;
    app.text_until("#audit-count", |t| t == "No events").await;
    app.axe("audit log: no matches").await;

    app.click("#nav-server").await;
    app.text_until("#server-state", |t| t == "Not running")
        .await;
    app.axe("server: not running").await;
    app.click("#server-advanced").await;
    fill(&app, "#server-listen-input", "0.0.0.0:8787").await;
    app.find("#server-exposure-warning").await;
    app.axe("server: exposure warning").await;
    let port = crate::driver::free_port();
    fill(&app, "#server-listen-input", &format!("127.0.0.1:{port}")).await;
    app.gone("#server-exposure-warning").await;
    app.click("#server-toggle-btn").await;
    app.text_until("#server-state", |t| t.starts_with("Running at"))
        .await;
    app.find("#server-counts").await;
    app.axe("server: running").await;
    app.screenshot("a11y-09-server-running").await;
    app.click("#server-toggle-btn").await;
    app.text_until("#server-state", |t| t == "Not running")
        .await;

    app.click("#nav-settings").await;
    app.find("#setting-owner-limit").await;
    app.axe("settings").await;
    fill(&app, "#setting-owner-limit", "0").await;
    fill(&app, "#new-scope-input", "no spaces allowed").await;
    app.click("#add-scope-btn").await;
    app.click("#save-settings-btn").await;
    app.find("#limit-help.field-error").await;
    app.find("#scope-help.field-error").await;
    app.axe("settings: invalid values").await;
    app.screenshot("a11y-10-settings-invalid").await;
    app.click("#discard-settings-btn").await;

    app.click("#settings-section-plans").await;
    app.text_until("tr.plan-row[data-plan=\"Unlimited\"] .default-badge", |t| {
        t == "Default"
    })
    .await;
    app.axe("settings: plans").await;
    app.click("#new-plan-btn").await;
    app.find("#plan-name-input").await;
    app.axe("plan dialog: new").await;
    app.click("#plan-rate-toggle").await;
    app.click("#plan-quota-toggle").await;
    app.find("#plan-quota-per").await;
    app.click("#plan-save-btn").await;
    app.find("#plan-name-error").await;
    app.axe("plan dialog: limits and a name error").await;
    app.screenshot("a11y-11-plan-dialog-error").await;
    app.click("#plan-cancel-btn").await;
    app.gone("#plan-dialog").await;
    app.click("tr.plan-row[data-plan=\"Unlimited\"] [data-action=\"delete-plan\"]")
        .await;
    app.find("#delete-plan-dialog").await;
    app.axe("delete plan dialog").await;
    app.click("#delete-plan-confirm-btn").await;
    app.find("#delete-plan-text[role=\"alert\"]").await;
    app.axe("delete plan dialog: refused").await;
    app.click("#delete-plan-cancel-btn").await;
    app.gone("#delete-plan-dialog").await;
    app.close().await;
}

/// A database the app cannot use: the error screen, the read-only banner, the error banner.
#[tokio::test]
async fn the_error_screen_and_banners_pass_axe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("notes.db");
    std::fs::write(&db, "not a database\n".repeat(500)).expect("write");
    let app = App::launch_on(dir, db, &[]).await;
    app.find("#error-screen").await;
    app.axe("error screen").await;
    app.close().await;

    let (dir, db) = database_with_a_key();
    let guard = Immutable::set(&db);
    let app = App::launch_on(dir, db, &[]).await;
    app.find("#read-only-banner").await;
    app.find("button.key-name-link").await;
    app.axe("keys: read-only").await;
    app.click("#nav-settings").await;
    app.find("#setting-owner-limit").await;
    app.axe("settings: read-only").await;
    app.screenshot("a11y-12-settings-read-only").await;
    app.close().await;
    drop(guard);

    let (dir, db) = database_with_a_key();
    let holder = WriteLockHolder::take(&db, 60);
    let app = App::launch_on(dir, db, &[]).await;
    app.find("button.key-name-link").await;
    app.submit_new_key("Not stored").await;
    app.find("#error-banner").await;
    app.axe("create dialog: error banner").await;
    app.screenshot("a11y-13-error-banner").await;
    drop(holder);
    app.close().await;
}

/// A database with one key in a fresh folder.
fn database_with_a_key() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keys.db");
    let out = cli_at(&db, &["keys", "create", "--name", "kept safe"]);
    assert!(out.status.success(), "{out:?}");
    (dir, db)
}

/// Asserts that the focused element shows a focus ring, and returns it.
async fn ring_on(app: &App, what: &str) -> String {
    let focused = app.focused().await;
    let ring = app.focus_ring().await;
    ring.unwrap_or_else(|| panic!("{what}: the focused {focused} shows no focus"))
}

/// The walking product without the mouse: Tab to Create key, type a name, choose 30 days with
/// the arrow keys, create; show and copy the key from the secret dialog; close it; Tab to the
/// new key's Revoke and confirm; then delete it. Every step is a key press, every control reached
/// shows its focus, and focus never falls back to the page when a change takes its control away.
#[tokio::test]
async fn create_copy_and_revoke_a_key_with_the_keyboard_alone() {
    let app = App::launch(&[("KEYWARD_CLIPBOARD_CLEAR_SECS", "600")]).await;
    app.find("#empty-create-key-btn").await;

    app.tab_to("#create-key-btn", 12).await;
    ring_on(&app, "Create key").await;
    app.press(Key::Enter).await;
    app.find("#create-dialog").await;
    assert!(
        app.focus_is("#key-name-input").await,
        "the dialog opens on the name, not {}",
        app.focused().await
    );
    app.type_text("Typed, not clicked").await;
    app.tab_to("#expiry-select", 20).await;
    ring_on(&app, "Expires").await;
    // 90 days is preselected; one up is 30 days.
    app.press(Key::Up).await;
    app.text_until("#expiry-hint", |t| t.contains("Expires on"))
        .await;
    let expiry = app
        .js("return document.getElementById('expiry-select').value")
        .await;
    assert_eq!(expiry, "60", "Up from 90 days");
    app.press(Key::Up).await;
    let expiry = app
        .js("return document.getElementById('expiry-select').value")
        .await;
    assert_eq!(expiry, "30", "Up again");
    app.tab_to("#create-submit-btn", 10).await;
    ring_on(&app, "Create key (submit)").await;
    app.press(Key::Enter).await;

    // The secret dialog opens on Copy; Show is one Tab round away (Tab stays in the dialog).
    app.text_until("#secret-value", |t| !t.is_empty()).await;
    assert!(
        app.focus_is("#copy-btn").await,
        "the secret dialog opens on Copy, not {}",
        app.focused().await
    );
    app.tab_to("#reveal-toggle-btn", 4).await;
    app.press(Key::Space).await;
    let token = app
        .text_until("#secret-value", |t| t.starts_with("kw_") && t.len() > 40)
        .await;
    app.tab_to("#copy-btn", 4).await;
    ring_on(&app, "Copy").await;
    app.screenshot("a11y-20-keyboard-copy-focused").await;
    app.press(Key::Enter).await;
    app.text_until("#copy-btn", |t| t.contains("Copied")).await;
    assert_eq!(
        crate::driver::x_clipboard().as_deref(),
        Some(token.as_str()),
        "the X clipboard holds the key"
    );
    let verdict = app.cli(&["verify", &token]);
    assert!(
        String::from_utf8_lossy(&verdict.stdout).starts_with("VALID"),
        "{verdict:?}"
    );

    // Done asks first and focuses "Go back"; the next Tab is Close.
    app.tab_to("#secret-done-btn", 4).await;
    app.press(Key::Enter).await;
    app.find("#secret-close-confirm").await;
    assert!(app.focus_is("#secret-close-back-btn").await);
    app.tab_to("#secret-close-confirm-btn", 2).await;
    ring_on(&app, "Close").await;
    app.press(Key::Enter).await;
    app.gone("#secret-dialog").await;
    assert!(
        app.focus_is("#create-key-btn").await,
        "focus goes back to Create key, not {}",
        app.focused().await
    );

    // On through the toolbar and the table to the new key's Revoke.
    let row = row(&token);
    let revoke = format!("{row} button[data-action=\"revoke\"]");
    app.find(&revoke).await;
    app.tab_to(&revoke, 30).await;
    ring_on(&app, "Revoke in the row").await;
    app.screenshot("a11y-21-keyboard-revoke-focused").await;
    app.press(Key::Enter).await;
    app.find("#revoke-dialog").await;
    assert!(app.focus_is("#revoke-cancel-btn").await, "Cancel first");
    app.tab_to("#revoke-confirm-btn", 2).await;
    ring_on(&app, "Revoke key (confirm)").await;
    app.press(Key::Enter).await;
    app.gone("#revoke-dialog").await;
    app.text_until(&format!("{row} .status-badge"), |t| t == "Revoked")
        .await;
    let verdict = app.cli(&["verify", &token]);
    assert!(
        String::from_utf8_lossy(&verdict.stdout).starts_with("REVOKED"),
        "{verdict:?}"
    );
    // The row's Revoke button went with the change; focus stays in the row, on its name.
    let name = format!("{row} button.key-name-link");
    let start = std::time::Instant::now();
    while !app.focus_is(&name).await {
        assert!(
            start.elapsed() < crate::driver::WAIT,
            "focus after revoking is on {}, not the key's row",
            app.focused().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ring_on(&app, "the revoked key's name").await;
    app.screenshot("a11y-22-keyboard-revoked").await;

    // Deleting it empties the list, which takes the row away: focus goes to Create key.
    app.tab_to(&format!("{row} button[data-action=\"delete\"]"), 3)
        .await;
    app.press(Key::Enter).await;
    app.find("#delete-dialog").await;
    app.tab_to("#delete-confirm-btn", 2).await;
    app.press(Key::Enter).await;
    app.find("#empty-state").await;
    let start = std::time::Instant::now();
    while !app.focus_is("#empty-create-key-btn").await {
        assert!(
            start.elapsed() < crate::driver::WAIT,
            "focus after deleting the last key is on {}",
            app.focused().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.close().await;
}

/// Tabs through `screen` from where focus is until it comes round again (or `limit` stops),
/// asserting that every control reached shows its focus. Returns the stops.
async fn every_tab_stop_shows_focus(app: &App, screen: &str, limit: usize) -> Vec<String> {
    let mut stops: Vec<String> = Vec::new();
    for _ in 0..limit {
        app.press(Key::Tab).await;
        let focused = app.focused().await;
        if stops.first() == Some(&focused) || focused == "body" {
            break;
        }
        let ring = app
            .focus_ring()
            .await
            .unwrap_or_else(|| panic!("{screen}: {focused} shows no focus"));
        assert!(
            ring.starts_with(":focus-visible") || focused.starts_with("input"),
            "{screen}: {focused} shows focus only without :focus-visible: {ring}"
        );
        stops.push(focused);
    }
    crate::driver::report(&format!(
        "focus {screen}: {} tab stops, each shows its focus",
        stops.len()
    ));
    assert!(stops.len() > 1, "{screen}: only {stops:?}");
    stops
}

/// Every Tab stop on every screen, and in the dialogs, shows where the keyboard is.
#[tokio::test]
async fn focus_is_visible_on_every_tab_stop() {
    let app = App::launch(&[]).await;
    assert!(app.cli(&["owners", "create", "Alice"]).status.success());
    let token = create(&app, &["--name", "focus me", "--owner", "Alice"]);
    create(&app, &["--name", "and me", "--expires", "5d"]);
    app.client.refresh().await.expect("reload");
    app.find(&row(&token)).await;

    let stops = every_tab_stop_shows_focus(&app, "keys", 60).await;
    for expected in [
        "#nav-owners",
        "#create-key-btn",
        "#search-input",
        "#expiring-soon-filter",
        "#select-all",
        "row-select",
        "key-name-link",
        "[data-action=revoke]",
    ] {
        assert!(
            stops.iter().any(|s| s.contains(expected)),
            "keys: {expected} was not a Tab stop: {stops:?}"
        );
    }
    app.tab_to("#expiring-soon-filter", 40).await;
    app.screenshot("a11y-29-focus-filter-toggle").await;
    app.tab_to(&format!("{} input.row-select", row(&token)), 40)
        .await;
    app.screenshot("a11y-30-focus-row-checkbox").await;
    app.tab_to(&format!("{} button.key-name-link", row(&token)), 3)
        .await;
    app.screenshot("a11y-31-focus-key-name").await;

    // The create dialog, its fields and buttons.
    app.tab_to("#create-key-btn", 60).await;
    app.press(Key::Enter).await;
    app.find("#create-dialog").await;
    every_tab_stop_shows_focus(&app, "create dialog", 40).await;
    app.tab_to("#role-select", 40).await;
    app.screenshot("a11y-32-focus-select").await;
    app.press(Key::Escape).await;
    app.gone("#create-dialog").await;

    // The details panel.
    app.tab_to(&format!("{} button.key-name-link", row(&token)), 60)
        .await;
    app.press(Key::Enter).await;
    app.text_until("#key-history", |t| t.contains("Created"))
        .await;
    every_tab_stop_shows_focus(&app, "key details", 20).await;
    app.press(Key::Escape).await;
    app.gone("#key-details").await;

    for (tab, screen) in [
        ("#nav-owners", "owners"),
        ("#nav-audit", "audit log"),
        ("#nav-server", "server"),
        ("#nav-settings", "settings"),
    ] {
        app.tab_to(tab, 60).await;
        app.press(Key::Enter).await;
        app.find(&format!("{tab}[aria-current=\"page\"]")).await;
        every_tab_stop_shows_focus(&app, screen, 60).await;
    }
    app.tab_to("#settings-section-plans", 60).await;
    app.screenshot("a11y-33-focus-section-tab").await;
    app.press(Key::Enter).await;
    app.find("#new-plan-btn").await;
    every_tab_stop_shows_focus(&app, "settings: plans", 60).await;
    app.tab_to("#new-plan-btn", 60).await;
    app.press(Key::Enter).await;
    app.find("#plan-dialog").await;
    every_tab_stop_shows_focus(&app, "plan dialog", 30).await;
    app.tab_to("#plan-rate-toggle", 30).await;
    app.screenshot("a11y-34-focus-checkbox").await;
    app.press(Key::Escape).await;
    app.gone("#plan-dialog").await;
    app.close().await;
}
