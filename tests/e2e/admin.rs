//! Administration in the real window: per-owner limits, bulk revoke, editing, filters, and the
//! Owners, Audit log and Settings screens.

use crate::driver::App;

fn id_of(token: &str) -> &str {
    token.split('_').nth(1).expect("token id")
}

fn create(app: &App, args: &[&str]) -> String {
    let mut all = vec!["keys", "create"];
    all.extend_from_slice(args);
    let out = app.cli(&all);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn is_enabled(app: &App, css: &str) -> bool {
    app.find(css)
        .await
        .is_enabled()
        .await
        .expect("enabled state")
}

#[tokio::test]
async fn at_the_limit_the_create_button_is_disabled_and_says_why() {
    let app = App::launch(&[]).await;
    assert!(app.cli(&["owners", "create", "Alice"]).status.success());
    for i in 0..5 {
        create(&app, &["--name", &format!("alice {i}"), "--owner", "Alice"]);
    }
    app.client.refresh().await.expect("reload");
    app.find("tr[data-key-id]").await;

    app.click("#create-key-btn").await;
    app.find("#key-name-input")
        .await
        .send_keys("sixth")
        .await
        .expect("type");
    app.find("#owner-select")
        .await
        .select_by_value("Alice")
        .await
        .expect("choose Alice");
    let reason = app
        .text_until("#limit-reason", |t| t.contains("revoke one first"))
        .await;
    assert_eq!(
        reason.trim(),
        "Alice has 5 of 5 active keys — revoke one first."
    );
    assert!(
        !is_enabled(&app, "#create-submit-btn").await,
        "Create must be disabled"
    );
    app.screenshot("10-create-at-limit").await;

    app.click("#override-limit-checkbox").await;
    assert!(
        is_enabled(&app, "#create-submit-btn").await,
        "the override enables Create"
    );
    app.click("#create-submit-btn").await;
    app.text_until("#secret-value", |t| !t.is_empty()).await;
    let owners = app.cli(&["owners", "list"]);
    assert!(String::from_utf8_lossy(&owners.stdout).contains("6 / 5"));
    app.close().await;
}

#[tokio::test]
async fn bulk_revoke_three_keys_and_the_cli_sees_each_revoked() {
    let app = App::launch(&[]).await;
    let tokens: Vec<String> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|name| create(&app, &["--name", name]))
        .collect();
    let already = create(&app, &["--name", "delta"]);
    assert!(app
        .cli(&["keys", "revoke", id_of(&already)])
        .status
        .success());
    let keep = create(&app, &["--name", "keep me"]);
    app.client.refresh().await.expect("reload");

    for token in tokens.iter().chain([&already]) {
        app.click(&format!(
            "tr[data-key-id=\"{}\"] input.row-select",
            id_of(token)
        ))
        .await;
    }
    app.text_until("#bulk-bar", |t| t.contains("4 selected"))
        .await;
    app.click("#bulk-revoke-btn").await;
    app.text_until("#bulk-revoke-dialog", |t| t.contains("gamma"))
        .await;
    let will_stop = app
        .client
        .find_all(fantoccini::Locator::Css("#bulk-revoke-dialog li.will-stop"))
        .await
        .expect("list");
    assert_eq!(
        will_stop.len(),
        3,
        "exactly the three active keys stop working"
    );
    let already_listed = app
        .client
        .find_all(fantoccini::Locator::Css(
            "#bulk-revoke-dialog li.already-revoked",
        ))
        .await
        .expect("list");
    assert_eq!(already_listed.len(), 1);
    app.screenshot("11-bulk-revoke-dialog").await;
    app.click("#bulk-revoke-confirm-btn").await;
    for token in &tokens {
        let row = format!("tr[data-key-id=\"{}\"] .status-badge", id_of(token));
        app.text_until(&row, |t| t == "Revoked").await;
        let verdict = app.cli(&["verify", token]);
        assert_eq!(String::from_utf8_lossy(&verdict.stdout).trim(), "REVOKED");
    }
    let verdict = app.cli(&["verify", &keep]);
    assert_eq!(
        verdict.status.code(),
        Some(0),
        "an unselected key still works"
    );
    app.close().await;
}

#[tokio::test]
async fn edit_a_keys_owner_in_the_details_panel() {
    let app = App::launch(&[]).await;
    for owner in ["Alice", "Bob"] {
        assert!(app.cli(&["owners", "create", owner]).status.success());
    }
    let token = create(
        &app,
        &[
            "--name",
            "reassign me",
            "--owner",
            "Alice",
            "--scope",
            "read",
        ],
    );
    app.client.refresh().await.expect("reload");
    let row = format!("tr[data-key-id=\"{}\"]", id_of(&token));
    app.click(&format!("{row} button.key-name-link")).await;
    app.text_until("#key-details", |t| t.contains("Alice"))
        .await;
    app.click("#edit-key-btn").await;
    app.find("#edit-owner-select")
        .await
        .select_by_value("Bob")
        .await
        .expect("choose Bob");
    app.screenshot("12-edit-key").await;
    app.click("#save-key-btn").await;
    app.text_until("#key-details", |t| t.contains("Bob")).await;
    app.text_until("#key-history", |t| t.contains("Bob")).await;
    app.screenshot("13-key-details").await;

    let listed = app.cli(&["--json", "keys", "list", "--owner", "Bob"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(id_of(&token)));
    let verdict = app.cli(&["--json", "verify", &token]);
    assert!(String::from_utf8_lossy(&verdict.stdout).contains("\"owner\":\"Bob\""));
    app.close().await;
}

#[tokio::test]
async fn filter_keys_that_expire_within_seven_days() {
    let app = App::launch(&[]).await;
    let soon = create(&app, &["--name", "expires soon", "--expires", "5d"]);
    let later = create(&app, &["--name", "expires later", "--expires", "30d"]);
    app.client.refresh().await.expect("reload");
    let soon_row = format!("tr[data-key-id=\"{}\"]", id_of(&soon));
    let later_row = format!("tr[data-key-id=\"{}\"]", id_of(&later));
    app.find(&later_row).await;
    app.text_until(&format!("{soon_row} .expires-soon-badge"), |t| {
        t.contains("Expires soon")
    })
    .await;
    app.click("#expiring-soon-filter").await;
    app.gone(&later_row).await;
    app.find(&soon_row).await;
    app.screenshot("14-expires-within-7-days").await;
    app.close().await;
}

#[tokio::test]
async fn the_owners_audit_and_settings_screens() {
    let app = App::launch(&[]).await;
    assert!(app.cli(&["owners", "create", "Alice"]).status.success());
    let token = create(&app, &["--name", "audited", "--owner", "Alice"]);
    assert!(app.cli(&["keys", "revoke", id_of(&token)]).status.success());
    app.client.refresh().await.expect("reload");

    app.click("#nav-owners").await;
    app.text_until("#owners-view", |t| t.contains("Alice"))
        .await;
    app.screenshot("15-owners").await;

    app.click("#nav-audit").await;
    app.text_until("#audit-view", |t| t.contains("Key revoked"))
        .await;
    app.screenshot("16-audit-log").await;

    app.click("#nav-settings").await;
    let limit = app.find("#setting-owner-limit").await;
    limit.clear().await.expect("clear");
    limit.send_keys("3").await.expect("type");
    app.click("#save-settings-btn").await;
    app.text_until("#settings-saved", |t| t.contains("saved"))
        .await;
    app.screenshot("17-settings").await;
    // The saved limit is in the database: the CLI reports Alice's usage against 3.
    let owners = app.cli(&["owners", "list"]);
    let owners = String::from_utf8_lossy(&owners.stdout).to_string();
    assert!(owners.contains("0 / 3"), "{owners}");
    app.close().await;
}
