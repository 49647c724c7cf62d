//! The real `keyward-cli serve` as a process, and what talks to it from outside: plain HTTP, a
//! real nginx in front of a service (`auth_request` to `/v1/forward-auth?mode=nginx`, config in
//! `tests/nginx-forward-auth.conf`), and Unkey's official TypeScript SDK (`tests/unkey-sdk/`).
//! `make test` installs nginx and the SDK; a missing one fails the test, nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::server_setup::{
    database_with_caller, free_port, header, http, revoke, status_and_json, wait_at_most, Served,
    PATIENCE,
};
use crate::util::{cli, create_key, key_id, stderr, stdout, temp_db};

impl Served {
    async fn verify_v1(&self, caller: &str, key: &str, scopes: &[&str]) -> Value {
        let response = http()
            .post(format!("{}/v1/verify", self.base))
            .bearer_auth(caller)
            .json(&json!({ "key": key, "scopes": scopes }))
            .send()
            .await
            .expect("POST /v1/verify");
        let (status, verdict) = status_and_json(response).await;
        assert_eq!(status, StatusCode::OK, "{verdict}");
        verdict
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_verifies_over_http_and_stops_cleanly_on_sigterm() {
    let (_dir, db, caller) = database_with_caller();
    let key = create_key(&db, "billing-api", &["--scope", "read"]);
    let served = Served::start(&db, "127.0.0.1:0").await;
    assert!(
        served.log.iter().all(|l| !l.contains("warning")),
        "{:?}",
        served.log
    );

    let valid = served.verify_v1(&caller, &key, &["read"]).await;
    assert_eq!(valid["valid"], true, "{valid}");
    assert_eq!(valid["code"], "VALID");
    assert_eq!(valid["key"]["id"], key_id(&key));
    assert_eq!(valid["key"]["name"], "billing-api");
    let forbidden = served.verify_v1(&caller, &key, &["write"]).await;
    assert_eq!(forbidden["code"], "FORBIDDEN", "{forbidden}");

    // Revoked with the CLI while the server runs: the very next request says so.
    revoke(&db, &key);
    let revoked = served.verify_v1(&caller, &key, &[]).await;
    assert_eq!(revoked["code"], "REVOKED", "{revoked}");

    let (status, log) = served.stop_with("TERM");
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {log:?}");
    assert!(
        log.iter().any(|l| l.ends_with("stopped")),
        "a stop line: {log:?}"
    );
    let all = log.join("\n");
    for secret in [&key, &caller] {
        assert!(!all.contains(secret.as_str()), "a key in the log: {all}");
    }
    // The store was closed: its WAL was checkpointed and removed.
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "{} still holds data after a clean stop",
        wal.display()
    );
    let after = cli(&db, &["keys", "list", "--json"]);
    assert!(
        after.status.success(),
        "the database is usable after: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_on_ctrl_c_and_warns_beyond_loopback() {
    let (_dir, db, _caller) = database_with_caller();
    let served = Served::start(&db, "0.0.0.0:0").await;
    let warning = served
        .log
        .iter()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("no exposure warning: {:?}", served.log));
    assert!(warning.contains("TLS"), "{warning}");
    let (status, log) = served.stop_with("INT");
    assert_eq!(status.code(), Some(0), "exit after SIGINT: {log:?}");
    assert!(log.iter().any(|l| l.ends_with("stopped")), "{log:?}");
}

#[test]
fn serve_refuses_a_taken_or_invalid_address_in_plain_words() {
    let (_dir, db) = temp_db();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("address").to_string();
    let out = cli(&db, &["serve", "--listen", &addr]);
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&addr) && said.contains("already"), "{said}");
    assert!(!said.contains("os error"), "{said}");

    for bad in ["nonsense", "127.0.0.1", "127.0.0.1:99999"] {
        let out = cli(&db, &["serve", "--listen", bad]);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {said}");
        assert!(
            said.contains("write it like 127.0.0.1:8787"),
            "{bad}: {said}"
        );
    }
    // An address this machine does not have (TEST-NET-1, RFC 5737).
    let out = cli(&db, &["serve", "--listen", "192.0.2.1:8787"]);
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("not one of this machine's"), "{said}");
    assert!(!said.contains("os error"), "{said}");
}

/// Debian's nginx as a child process (not a daemon) with its own prefix, configuration, pid
/// and logs in a temporary folder; SIGQUIT (graceful), then SIGTERM, on drop.
struct Nginx {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn binary() -> PathBuf {
        ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect(
                "nginx is not installed: `make test` installs it (Debian package nginx, via \
                 scripts/ensure-apt); or run `apt-get install nginx`",
            )
    }

    /// nginx on a free loopback port, checking every request with Keyward at `keyward`
    /// (`127.0.0.1:PORT`) and passing it to a second server block standing in for a service.
    async fn start(keyward: &str) -> Self {
        let dir = tempfile::tempdir().expect("nginx folder");
        let port = free_port();
        let upstream = free_port();
        let config = include_str!("nginx-forward-auth.conf")
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@UPSTREAM@", &upstream.to_string())
            .replace("@KEYWARD@", keyward);
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let prefix = format!("{}/", dir.path().display());
        let child = Command::new(Self::binary())
            .args(["-p", &prefix, "-c"])
            .arg(&file)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        nginx.wait_listening(port, upstream).await;
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    async fn wait_listening(&mut self, port: u16, upstream: u16) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            let up = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
            if up(port) && up(upstream) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port} and {upstream}: {}",
                self.error_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn get(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = http().get(format!("{}/orders/42", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("GET through nginx")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        for signal in ["QUIT", "TERM"] {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(self.child.id().to_string())
                .status();
            if wait_at_most(&mut self.child, Duration::from_secs(5)).is_some() {
                return;
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_lets_valid_keys_through_and_refuses_the_rest() {
    let (_dir, db, _caller) = database_with_caller();
    let owner = cli(&db, &["owners", "create", "Billing Team"]);
    assert!(owner.status.success(), "{}", stderr(&owner));
    let reader = create_key(
        &db,
        "orders-reader",
        &["--owner", "Billing Team", "--scope", "read"],
    );
    let no_scope = create_key(&db, "no-scope", &[]);
    let revoked = create_key(&db, "old", &["--scope", "read"]);
    revoke(&db, &revoked);

    let served = Served::start(&db, "127.0.0.1:0").await;
    let nginx = Nginx::start(&served.addr).await;
    let bearer = |token: &str| format!("Bearer {token}");

    // A valid key with the scope: through to the service, which learns who is calling; an
    // X-Keyward-Owner the client sends itself is replaced.
    let ok = nginx
        .get(&[
            ("authorization", &bearer(&reader)),
            ("x-keyward-owner", "someone else"),
        ])
        .await;
    assert_eq!(ok.status(), StatusCode::OK, "{}", nginx.error_log());
    let body = ok.text().await.expect("body");
    let expected = format!(
        "upstream ok: key {} of Billing Team, scopes read",
        key_id(&reader)
    );
    assert_eq!(body.trim(), expected);
    // X-API-Key works as well.
    let api_key = nginx.get(&[("x-api-key", &reader)]).await;
    assert_eq!(api_key.status(), StatusCode::OK);

    // No key, a revoked key, a made-up key: 401 with Keyward's code.
    for (headers, code) in [
        (vec![], "MISSING"),
        (vec![("authorization", bearer(&revoked))], "REVOKED"),
        (vec![("authorization", bearer("kw_nothing"))], "MALFORMED"),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let refused = nginx.get(&headers).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(header(&refused, "x-keyward-code"), code);
        assert_eq!(header(&refused, "www-authenticate"), "Bearer");
        let body = refused.text().await.expect("body");
        assert!(!body.contains("upstream ok"), "{code}: {body}");
    }

    // A valid key without the location's scope: 403.
    let forbidden = nginx.get(&[("authorization", &bearer(&no_scope))]).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&forbidden, "x-keyward-code"), "FORBIDDEN");

    // Revoked while nginx and the server run: the very next request is refused.
    revoke(&db, &reader);
    let now_revoked = nginx.get(&[("authorization", &bearer(&reader))]).await;
    assert_eq!(now_revoked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&now_revoked, "x-keyward-code"), "REVOKED");

    drop(nginx);
    let (status, log) = served.stop_with("TERM");
    assert_eq!(status.code(), Some(0), "{log:?}");
}

/// Runs `tests/unkey-sdk/verify.mjs` (Unkey's `@unkey/api`, unchanged but for its `serverURL`)
/// and returns the JSON line it prints.
fn unkey_sdk(base: &str, root_key: &str, key: &str, permissions: Option<&str>) -> Value {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/unkey-sdk");
    assert!(
        folder.join("node_modules/@unkey/api/package.json").exists(),
        "Unkey's SDK is not installed in {}: `make test` installs it (npm ci there)",
        folder.display()
    );
    let mut command = Command::new("node");
    command
        .arg(folder.join("verify.mjs"))
        .current_dir(&folder)
        .env("KEYWARD_URL", base)
        .env("KEYWARD_ROOT_KEY", root_key)
        .env("KEYWARD_KEY", key)
        .env_remove("KEYWARD_PERMISSIONS");
    if let Some(permissions) = permissions {
        command.env("KEYWARD_PERMISSIONS", permissions);
    }
    let out = command
        .output()
        .expect("node runs (Node.js 20 or later on PATH)");
    assert!(out.status.success(), "verify.mjs: {}", stderr(&out));
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("verify.mjs printed no JSON ({e}): {}", stdout(&out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unkeys_official_sdk_verifies_keys_against_keyward() {
    let (_dir, db, caller) = database_with_caller();
    let key = create_key(&db, "sdk-checked", &["--scope", "read"]);
    let not_allowed = create_key(&db, "no-verify-scope", &["--scope", "read"]);
    let served = Served::start(&db, "127.0.0.1:0").await;

    let valid = unkey_sdk(&served.base, &caller, &key, None);
    assert_eq!(valid["ok"], true, "{valid}");
    let data = &valid["result"]["data"];
    assert_eq!(data["valid"], true, "{valid}");
    assert_eq!(data["code"], "VALID");
    assert_eq!(data["keyId"], key_id(&key));
    assert_eq!(data["name"], "sdk-checked");
    let request_id = valid["result"]["meta"]["requestId"].as_str().unwrap_or("");
    assert!(request_id.starts_with("req_"), "{valid}");

    let allowed = unkey_sdk(&served.base, &caller, &key, Some("read OR admin"));
    assert_eq!(allowed["result"]["data"]["code"], "VALID", "{allowed}");
    let lacking = unkey_sdk(&served.base, &caller, &key, Some("read AND write"));
    assert_eq!(
        lacking["result"]["data"]["code"], "INSUFFICIENT_PERMISSIONS",
        "{lacking}"
    );

    revoke(&db, &key);
    let disabled = unkey_sdk(&served.base, &caller, &key, None);
    assert_eq!(disabled["ok"], true, "{disabled}");
    assert_eq!(disabled["result"]["data"]["valid"], false);
    assert_eq!(disabled["result"]["data"]["code"], "DISABLED", "{disabled}");

    // A root key Keyward does not know: the SDK's own error for 401.
    let unknown_root = unkey_sdk(&served.base, &key, &not_allowed, None);
    assert_eq!(unknown_root["ok"], false, "{unknown_root}");
    assert_eq!(
        unknown_root["error"]["name"], "UnauthorizedErrorResponse",
        "{unknown_root}"
    );
    assert_eq!(unknown_root["error"]["statusCode"], 401);
    assert_eq!(unknown_root["error"]["data"]["error"]["status"], 401);

    // A valid key without keyward:verify as the root key: the SDK's error for 403.
    let not_root = unkey_sdk(&served.base, &not_allowed, &caller, None);
    assert_eq!(
        not_root["error"]["name"], "ForbiddenErrorResponse",
        "{not_root}"
    );
    assert_eq!(not_root["error"]["statusCode"], 403);

    let (status, log) = served.stop_with("TERM");
    assert_eq!(status.code(), Some(0), "{log:?}");
}
