//! A fresh PostgreSQL database for one test, on the throwaway server `make test` starts
//! (`scripts/with-postgres` exports `KEYWARD_TEST_PG`, a superuser URL without a database).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The test server's superuser URL. Fails (never skips) without one.
pub fn server_url() -> String {
    std::env::var("KEYWARD_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
        .expect(
            "KEYWARD_TEST_PG is not set: run the PostgreSQL tests through `make test`, or \
             `scripts/with-postgres cargo test --test tests`",
        )
}

/// Runs SQL on the server's `postgres` database as the superuser, with psql.
pub fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(format!("{}/{database}", server_url()))
        .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-t", "-A", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A new, empty database; its URL as the `--db` location (a `Path`, as the CLI takes it).
pub fn new_database() -> (String, PathBuf) {
    let name = format!(
        "kw_it_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    psql("postgres", &format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", server_url());
    (name, PathBuf::from(url))
}

/// The URL of `database` as `login` (the test server trusts every local login, so no password).
pub fn url_as(login: &str, database: &str) -> PathBuf {
    let url = server_url();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    PathBuf::from(format!("{scheme}://{login}@{host}/{database}"))
}

/// Runs `sql` on `database` as `login` with psql, whatever happens: errors come back with their
/// SQLSTATE (`ERROR:  42501: …`) on standard error, and command tags (`UPDATE 0`) on standard
/// output.
pub fn psql_as(login: &str, database: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .arg(url_as(login, database))
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
            "-X",
            "-t",
            "-A",
        ])
        .args(["-c", sql])
        .output()
        .expect("psql runs")
}
