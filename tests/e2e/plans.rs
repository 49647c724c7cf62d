//! Usage plans in the real window: a plan made in Settings → Plans, chosen in the Create dialog,
//! shown with its quota usage in the key's details.

use crate::driver::App;

/// Replaces what `css` holds with `text`.
async fn fill(app: &App, css: &str, text: &str) {
    let field = app.find(css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

#[tokio::test]
async fn a_plan_made_in_settings_is_chosen_for_a_new_key_and_its_usage_shows() {
    let app = App::launch(&[]).await;

    app.click("#nav-settings").await;
    // The verify server's own scope is always offered, and cannot be removed.
    let reserved = ".scope-chip[data-scope=\"keyward:verify\"]";
    app.text_until(reserved, |t| t.contains("RESERVED")).await;
    app.gone(&format!("{reserved} button")).await;
    app.screenshot("44-settings-reserved-scope").await;
    app.click("#settings-section-plans").await;
    app.text_until("tr.plan-row[data-plan=\"Unlimited\"] .default-badge", |t| {
        t == "Default"
    })
    .await;
    app.click("#new-plan-btn").await;
    fill(&app, "#plan-name-input", "Starter").await;
    app.click("#plan-rate-toggle").await;
    fill(&app, "#plan-rate-input", "10").await;
    fill(&app, "#plan-burst-input", "20").await;
    app.click("#plan-quota-toggle").await;
    fill(&app, "#plan-quota-input", "1000").await;
    app.find("#plan-quota-per")
        .await
        .select_by_value("day")
        .await
        .expect("per day");
    app.screenshot("40-plan-dialog").await;
    app.click("#plan-save-btn").await;
    app.gone("#plan-dialog").await;
    app.text_until("#plans-message", |t| t == "Created plan Starter.")
        .await;
    // The row as a person reads it: name, rate, quota, keys (WebDriver's text of a table cell
    // comes back empty in WebKitWebDriver, so the page's own innerText is read).
    let cells = app
        .js(
            "return [...document.querySelectorAll('tr.plan-row[data-plan=\"Starter\"] td')]\
             .slice(0, 4).map((td) => td.innerText.trim())",
        )
        .await;
    assert_eq!(
        cells,
        serde_json::json!(["Starter", "10/s, burst 20", "1,000 per day", "0"])
    );
    app.screenshot("41-plans").await;

    app.click("#nav-keys").await;
    app.click("#create-key-btn").await;
    app.find("#key-name-input")
        .await
        .send_keys("metered")
        .await
        .expect("type name");
    app.text_until("#plan-select", |t| t.contains("Starter"))
        .await;
    app.find("#plan-select")
        .await
        .select_by_value("Starter")
        .await
        .expect("choose Starter");
    app.text_until("#plan-help", |t| t.contains("1,000 per day"))
        .await;
    app.screenshot("42-create-with-plan").await;
    app.click("#create-submit-btn").await;
    app.text_until("#secret-value", |t| !t.is_empty()).await;
    app.click("#secret-done-btn").await;
    app.click("#secret-close-confirm-btn").await;
    app.gone("#secret-dialog").await;

    app.click("tr[data-key-id] button.key-name-link").await;
    app.text_until("#key-plan", |t| t == "Starter").await;
    let usage = app
        .text_until("#key-usage", |t| t.starts_with("0 / 1,000 today"))
        .await;
    assert_eq!(usage, "0 / 1,000 today, resets at 00:00 UTC");
    app.text_until("#key-history", |t| t.contains("Created by"))
        .await;
    app.screenshot("43-key-details-plan").await;
    app.close().await;
}
