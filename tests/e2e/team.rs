//! A team's database in the real window: the header names PostgreSQL and who is logged in, keys
//! created and revoked by another process show within a second (PostgreSQL's notifications, and
//! on SQLite `PRAGMA data_version`), a server that cannot be used gets the full-screen
//! explanation, and a manager's login is offered only what it may do.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::driver::{cli_at, free_port, App};
use crate::pg_setup::{new_database, psql, server_url, url_as};

/// How soon another process's change must show: the app polls twice a second.
const LIVE: Duration = Duration::from_secs(1);

/// `keyward-cli --db <db> --json keys create --name <name>`: the new key's id.
fn create_with_cli(db: &Path, name: &str) -> String {
    let out = cli_at(db, &["--json", "keys", "create", "--name", name]);
    assert!(out.status.success(), "{out:?}");
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    created["key"]["id"].as_str().expect("id").to_owned()
}

fn revoke_with_cli(db: &Path, id: &str) {
    let out = cli_at(db, &["keys", "revoke", id]);
    assert!(out.status.success(), "{out:?}");
}

/// Polls the row of key `id` (in one script call, every 20 ms) until its text satisfies
/// `accept`; how long that took. Fails after 10 s.
async fn row_shows(app: &App, id: &str, accept: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    let script = format!(
        "const row = document.querySelector('tr[data-key-id=\"{id}\"]'); \
         return row ? row.textContent : null;"
    );
    let mut last = serde_json::Value::Null;
    while start.elapsed() < Duration::from_secs(10) {
        last = app.js(&script).await;
        if last.as_str().is_some_and(&accept) {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the row of {id} never showed what was expected; last {last:?}");
}

/// Polls the text of the element `#id` as the DOM holds it (`textContent`, trimmed) until
/// `accept` holds. WebDriver's own element text leaves out whatever its visibility rules judge
/// hidden, which in these flex headers varied from run to run.
async fn dom_text_until(app: &App, id: &str, accept: impl Fn(&str) -> bool) -> String {
    let script = format!(
        "const e = document.getElementById('{id}'); return e ? e.textContent.trim() : null;"
    );
    let start = Instant::now();
    let mut last = serde_json::Value::Null;
    while start.elapsed() < Duration::from_secs(15) {
        last = app.js(&script).await;
        if let Some(text) = last.as_str().filter(|t| accept(t)) {
            return text.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("#{id} never matched; last {last:?}");
}

/// Another process creates a key, then revokes it, while the app shows the list: each shows
/// within a second, without touching the window.
async fn follows_another_process(app: &App, db: &Path, shot: &str) {
    let id = create_with_cli(db, "Made elsewhere");
    let shown = row_shows(app, &id, |t| {
        t.contains("Made elsewhere") && t.contains("Active")
    })
    .await;
    eprintln!("{shot}: a key created by the CLI showed after {shown:?}");
    assert!(shown <= LIVE, "the new key took {shown:?} to show");
    app.screenshot(&format!("{shot}-created-elsewhere")).await;

    revoke_with_cli(db, &id);
    let shown = row_shows(app, &id, |t| t.contains("Revoked")).await;
    eprintln!("{shot}: a revocation by the CLI showed after {shown:?}");
    assert!(shown <= LIVE, "the revocation took {shown:?} to show");
    app.screenshot(&format!("{shot}-revoked-elsewhere")).await;
}

#[tokio::test]
async fn on_postgresql_the_header_says_so_and_other_administrators_changes_show_live() {
    let (_name, db) = new_database();
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::launch_on(dir, db.clone(), &[]).await;

    dom_text_until(&app, "header-backend", |t| t == "PostgreSQL").await;
    app.find("#empty-state").await;
    app.screenshot("team-01-postgres-header").await;
    let location = dom_text_until(&app, "header-location", |t| !t.is_empty()).await;
    assert_eq!(location, db.display().to_string());
    // The test server's superuser: the database login, not the operating-system user.
    dom_text_until(&app, "header-operator", |t| t.starts_with("postgres")).await;

    follows_another_process(&app, &db, "team-02-postgres").await;
    app.close().await;
}

#[tokio::test]
async fn on_a_sqlite_file_another_processs_changes_show_live_too() {
    let app = App::launch(&[]).await;
    dom_text_until(&app, "header-backend", |t| t == "SQLite file").await;
    assert!(
        app.client
            .find(fantoccini::Locator::Css("#header-operator"))
            .await
            .is_err(),
        "no login to show for a file"
    );
    // A key to start with, so the list (not the empty state) is on screen and keeps its place.
    let first = create_with_cli(&app.db, "Already there");
    row_shows(&app, &first, |t| t.contains("Already there")).await;
    let db = app.db.clone();
    follows_another_process(&app, &db, "team-03-sqlite").await;

    // With a key's details open and a row ticked, another change arrives: the list takes it in
    // behind the panel, and the panel, the focus and the selection stay.
    let first_row = format!("tr[data-key-id=\"{first}\"]");
    app.click(&format!("{first_row} input.row-select")).await;
    app.click(&format!("{first_row} button.key-name-link"))
        .await;
    dom_text_until(&app, "key-details-title", |t| t == "Already there").await;
    let focused = "return document.activeElement && document.activeElement.id";
    let before = app.js(focused).await;
    let third = create_with_cli(&db, "Third one");
    row_shows(&app, &third, |t| t.contains("Third one")).await;
    app.find("#key-details").await;
    assert_eq!(app.js(focused).await, before, "focus moved");
    dom_text_until(&app, "bulk-bar", |t| t.contains("1 selected")).await;
    app.screenshot("team-03-sqlite-panel-kept").await;
    app.close().await;
}

/// The app started on `url` shows the full-screen explanation holding `words`, with the
/// address as shown (no password anywhere on the page).
async fn explains(url: String, words: &[&str], shot: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::launch_on(dir, PathBuf::from(&url), &[]).await;
    let text = app
        .text_until("#error-screen", |t| words.iter().all(|w| t.contains(w)))
        .await;
    assert!(
        text.to_lowercase().contains("postgresql database"),
        "{text}"
    );
    let shown = dom_text_until(&app, "error-screen-path", |t| !t.is_empty()).await;
    assert!(!shown.contains("hunter2"), "{shown}");
    let page = app.js("return document.body.innerText").await;
    assert!(
        !page.to_string().contains("hunter2"),
        "the password is on screen: {page}"
    );
    app.screenshot(shot).await;
    app.close().await;
}

#[tokio::test]
async fn a_server_that_cannot_be_used_gets_the_full_screen_explanation() {
    // Nothing listens on the port.
    let closed = format!(
        "postgres://keyward:hunter2@127.0.0.1:{}/keyward",
        free_port()
    );
    explains(
        closed,
        &["cannot be reached", "nothing accepts connections"],
        "team-04-unreachable",
    )
    .await;

    // A login the server does not know.
    let (name, db) = new_database();
    let server = server_url();
    let host = server.rsplit('@').next().expect("host:port");
    let stranger = format!("postgres://nobody:hunter2@{host}/{name}");
    explains(
        stranger,
        &["refused the login of \"nobody\""],
        "team-05-login-refused",
    )
    .await;

    // A database a newer Keyward upgraded: an upgrade step this build does not know.
    let out = cli_at(&db, &["keys", "list"]);
    assert!(out.status.success(), "{out:?}");
    psql(
        &name,
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, \
         execution_time) VALUES (9999, 'from the future', now(), true, '\\x00', 1)",
    );
    let newer = format!("postgres://postgres:hunter2@{host}/{name}");
    explains(newer, &["newer version of Keyward"], "team-06-newer-schema").await;
}

fn cli_ok(db: &Path, args: &[&str]) {
    let out = cli_at(db, args);
    assert!(out.status.success(), "{args:?}: {out:?}");
}

#[tokio::test]
async fn a_manager_and_a_verifier_are_offered_only_what_their_role_allows() {
    let (name, db) = new_database();
    cli_ok(&db, &["keys", "list"]);
    cli_ok(&db, &["team", "init"]);
    cli_ok(&db, &["team", "add", "carol", "--role", "manager"]);
    cli_ok(&db, &["team", "add", "vera", "--role", "verifier"]);
    let carol = url_as("carol", &name);
    cli_ok(&carol, &["keys", "create", "--name", "Carol's deploy key"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::launch_on(dir, carol, &[]).await;
    dom_text_until(&app, "header-role", |t| t == "Manager").await;
    app.find("tr[data-key-id]").await;
    // A manager creates keys, for themselves only and never past the limit.
    app.click("#create-key-btn").await;
    dom_text_until(&app, "owner-fixed", |t| t.contains("carol (you)")).await;
    dom_text_until(&app, "owner-fixed-reason", |t| {
        t == "Managers create and manage their own keys only."
    })
    .await;
    app.screenshot("team-07-manager-create-dialog").await;
    app.click("#create-cancel-btn").await;
    app.gone("#create-dialog").await;

    app.click("#nav-settings").await;
    dom_text_until(&app, "settings-role-notice", |t| {
        t == "Only admins can change settings."
    })
    .await;
    app.gone("#save-settings-btn").await;
    app.screenshot("team-08-manager-settings").await;
    app.click("#settings-section-plans").await;
    app.find("tr.plan-row").await;
    app.gone("#new-plan-btn").await;

    app.click("#nav-owners").await;
    dom_text_until(&app, "owners-role-notice", |t| {
        t == "Only admins can change owners."
    })
    .await;
    app.gone("#create-owner-btn").await;
    app.screenshot("team-08-manager-owners").await;
    app.close().await;

    // A verifier (what a verify server runs as) looks, and changes nothing.
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::launch_on(dir, url_as("vera", &name), &[]).await;
    dom_text_until(&app, "header-role", |t| t == "Verifier").await;
    app.find("tr[data-key-id]").await;
    dom_text_until(&app, "keys-role-notice", |t| {
        t == "Only admins and managers can change keys."
    })
    .await;
    app.gone("#create-key-btn").await;
    app.gone("[data-action=\"revoke\"]").await;
    app.screenshot("team-09-verifier-keys").await;
    app.click("button.key-name-link").await;
    dom_text_until(&app, "details-role-notice", |t| {
        t == "Only admins and managers can change keys."
    })
    .await;
    app.gone("#edit-key-btn").await;
    dom_text_until(&app, "history-refused", |t| {
        t == "Only admins and managers can read the audit log."
    })
    .await;
    app.screenshot("team-10-verifier-details").await;
    app.click("#close-details-btn").await;
    app.gone("#key-details").await;
    app.click("#nav-audit").await;
    dom_text_until(&app, "audit-role-notice", |t| {
        t == "Only admins and managers can read the audit log."
    })
    .await;
    app.screenshot("team-11-verifier-audit").await;
    // Nothing on the way failed out loud: no error banner.
    let banner = app
        .js("return document.getElementById('error-banner')?.textContent ?? null")
        .await;
    assert_eq!(banner, serde_json::Value::Null, "{banner}");
    app.close().await;
}
