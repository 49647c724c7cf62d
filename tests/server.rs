//! The verify server (crates/keyward-server), started in process on a free port over a real
//! SQLite file and spoken to over real HTTP; keys are created and revoked with the real
//! `keyward-cli`, as an admin would while the server runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use keyward_core::{
    Clock, ManualClock, NewKey, NewPlan, PlanLimits, Quota, QuotaPeriod, Store, StoreOptions,
};
use keyward_server::plans::FakeRelativeClock;
use keyward_server::{PlanLimiter, ServerState};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::server_setup::{database_with_caller, header, http, revoke, status_and_json, Served};
use crate::util::{cli, create_key, key_id, keys_and_audit, temp_db};

struct Server {
    base: String,
    addr: std::net::SocketAddr,
    clock: ManualClock,
    /// The rate limiter's clock: stands still until advanced.
    rates: FakeRelativeClock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    store: Store,
    db: PathBuf,
    http: reqwest::Client,
    /// A key holding `keyward:verify`: the caller's own.
    root: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let (dir, db, root) = database_with_caller();
    launch(dir, db, root, Utc::now()).await
}

/// A server on `db` whose store's clock stands at `now` and whose rate limiter runs on a fake
/// clock (both advanced by the tests).
async fn launch(
    dir: tempfile::TempDir,
    db: PathBuf,
    root: String,
    now: chrono::DateTime<Utc>,
) -> Server {
    let clock = ManualClock::new(now);
    let store = keyward_store::open_with(
        &db,
        StoreOptions {
            clock: std::sync::Arc::new(clock.clone()),
            ..StoreOptions::default()
        },
    )
    .await
    .expect("open the server's store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let rates = FakeRelativeClock::default();
    let config = keyward_server::Config {
        listen: addr,
        ..keyward_server::Config::default()
    };
    let state = ServerState::new(store.clone(), config).with_limiter(std::sync::Arc::new(
        PlanLimiter::with_clock(store.clone(), rates.clone()),
    ));
    let handle = tokio::spawn(keyward_server::serve_with(state, listener, async move {
        let _ = stopped.await;
    }));
    Server {
        base: format!("http://{addr}"),
        addr,
        clock,
        rates,
        stop: Some(stop),
        handle,
        store,
        db,
        http: http(),
        root,
        _dir: dir,
    }
}

impl Server {
    async fn post(&self, path: &str, auth: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        status_and_json(request.send().await.expect("request")).await
    }

    /// `POST path` with the root key, returning the status and the JSON body.
    async fn call(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let auth = format!("Bearer {}", self.root);
        self.post(path, Some(&auth), &body).await
    }

    async fn raw(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.root))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET /v1/forward-auth{tail}`: `tail` is our own query (`?scope=read`) or, as Envoy
    /// asks, the client's path and query appended (`/orders/42?x=1`).
    async fn forward(&self, tail: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .get(format!("{}/v1/forward-auth{tail}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request")
    }

    async fn stop(self) {
        let _ = self.shut().await;
    }

    /// Stops the server gracefully, keeping its database: the folder, the file and the root key.
    async fn shut(mut self) -> (tempfile::TempDir, PathBuf, String) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.handle
            .await
            .expect("server task")
            .expect("server stopped cleanly");
        self.store.close().await;
        (self._dir, self.db, self.root)
    }

    /// Stops the server gracefully and starts a new one on the same file.
    async fn restart(self) -> Server {
        let now = self.clock.now();
        let (dir, db, root) = self.shut().await;
        launch(dir, db, root, now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_verify_answers_each_verdict_and_a_revocation_at_the_very_next_request() {
    let server = start().await;
    let token = create_key(
        &server.db,
        "billing",
        &["--scope", "read", "--expires", "30d"],
    );

    let (status, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["code"], "VALID");
    assert!(body["request_id"]
        .as_str()
        .is_some_and(|r| r.starts_with("req_")));
    let key = &body["key"];
    assert_eq!(key["id"], key_id(&token));
    assert_eq!(key["name"], "billing");
    assert_eq!(key["role"], "standard");
    assert_eq!(key["scopes"], json!(["read"]));
    assert!(key["owner"].as_str().is_some_and(|o| !o.is_empty()));
    assert!(key["expires_at"].as_str().is_some());
    assert_eq!(
        (&body["rate"], &body["quota"]),
        (&Value::Null, &Value::Null)
    );

    let (_, forbidden) = server
        .call(
            "/v1/verify",
            json!({ "key": token, "scopes": ["read", "write"] }),
        )
        .await;
    assert_eq!(forbidden["code"], "FORBIDDEN");
    assert_eq!(forbidden["valid"], false);
    assert_eq!(forbidden["missing_scopes"], json!(["write"]));
    assert_eq!(forbidden["key"]["id"], key_id(&token));

    let (_, malformed) = server
        .call("/v1/verify", json!({ "key": "not-a-key" }))
        .await;
    assert_eq!(
        (&malformed["code"], &malformed["key"]),
        (&json!("MALFORMED"), &Value::Null)
    );

    let gone = create_key(&server.db, "deleted", &[]);
    assert!(cli(&server.db, &["keys", "delete", key_id(&gone)])
        .status
        .success());
    let (_, not_found) = server.call("/v1/verify", json!({ "key": gone })).await;
    assert_eq!(
        (&not_found["code"], &not_found["key"]),
        (&json!("NOT_FOUND"), &Value::Null)
    );

    // Revoked with the CLI; the very next request says so, without waiting.
    revoke(&server.db, &token);
    let (status, revoked) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["code"], "REVOKED");
    assert_eq!(revoked["key"]["name"], "billing");

    let soon = create_key(&server.db, "short", &["--expires", "7d"]);
    server.clock.advance(chrono::Duration::days(8));
    let (_, expired) = server.call("/v1/verify", json!({ "key": soon })).await;
    assert_eq!(expired["code"], "EXPIRED");
    assert_eq!(expired["key"]["id"], key_id(&soon));
    server.stop().await;
}

fn assert_unkey_envelope(body: &Value) {
    let top: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(top, ["data", "meta"], "{body}");
    let meta: Vec<&String> = body["meta"].as_object().expect("meta").keys().collect();
    assert_eq!(meta, ["requestId"]);
    assert!(body["meta"]["requestId"]
        .as_str()
        .is_some_and(|r| r.starts_with("req_")));
    for field in body["data"].as_object().expect("data").keys() {
        assert!(
            keyward_server::unkey::RESPONSE_DATA_FIELDS.contains(&field.as_str()),
            "{field} in {body}"
        );
    }
    assert!(body["data"]["valid"].is_boolean() && body["data"]["code"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unkey_endpoint_answers_in_unkeys_envelope() {
    let server = start().await;
    let reader = create_key(
        &server.db,
        "reader",
        &["--scope", "read", "--expires", "30d"],
    );
    let writer = create_key(
        &server.db,
        "writer",
        &["--scope", "read", "--scope", "write", "--expires", "never"],
    );
    let path = "/v2/keys.verifyKey";

    let (status, body) = server
        .call(path, json!({ "key": reader, "apiId": "api_ignored" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_unkey_envelope(&body);
    let data = &body["data"];
    assert_eq!(
        (&data["valid"], &data["code"], &data["keyId"], &data["name"]),
        (
            &json!(true),
            &json!("VALID"),
            &json!(key_id(&reader)),
            &json!("reader")
        )
    );
    assert_eq!(data["permissions"], json!(["read"]));
    assert_eq!(data["enabled"], true);
    let expires = data["expires"].as_i64().expect("Unix ms");
    let in_30_days = (Utc::now() + chrono::Duration::days(30)).timestamp_millis();
    assert!(
        (expires - in_30_days).abs() < 120_000,
        "{expires} vs {in_30_days}"
    );

    let query = "read AND (write OR admin)";
    let (_, denied) = server
        .call(path, json!({ "key": reader, "permissions": query }))
        .await;
    assert_unkey_envelope(&denied);
    assert_eq!(denied["data"]["code"], "INSUFFICIENT_PERMISSIONS");
    assert_eq!(denied["data"]["valid"], false);
    let (_, allowed) = server
        .call(path, json!({ "key": writer, "permissions": query }))
        .await;
    assert_eq!(allowed["data"]["code"], "VALID");
    assert!(allowed["data"].get("expires").is_none(), "{allowed}");
    let (_, precedence) = server
        .call(
            path,
            json!({ "key": reader, "permissions": "write AND admin OR read" }),
        )
        .await;
    assert_eq!(precedence["data"]["code"], "VALID");

    for key in ["not-a-key".to_owned(), format!("{reader}x")] {
        let (status, missing) = server.call(path, json!({ "key": key })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            missing,
            json!({ "meta": missing["meta"], "data": { "valid": false, "code": "NOT_FOUND" } })
        );
    }

    let (status, syntax) = server
        .call(path, json!({ "key": reader, "permissions": "read AND" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(syntax["error"]["status"], 400);
    assert_eq!(
        syntax["error"]["type"],
        "https://unkey.com/docs/errors/user/bad_request/permissions_query_syntax_error"
    );
    assert_eq!(syntax["error"]["errors"][0]["location"], "body.permissions");

    revoke(&server.db, &reader);
    let (_, disabled) = server.call(path, json!({ "key": reader })).await;
    assert_unkey_envelope(&disabled);
    assert_eq!(disabled["data"]["code"], "DISABLED");
    assert_eq!(disabled["data"]["enabled"], false);
    assert_eq!(disabled["data"]["keyId"], key_id(&reader));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_callers_get_unkeys_400_401_and_403() {
    let server = start().await;
    let client = create_key(&server.db, "client", &["--scope", "read"]);
    let body = json!({ "key": client });
    let retired_root = create_key(&server.db, "old gateway", &["--scope", "keyward:verify"]);
    revoke(&server.db, &retired_root);

    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (
            None,
            400,
            "https://unkey.com/docs/errors/unkey/authentication/missing",
        ),
        (
            Some(format!("Basic {client}")),
            400,
            "https://unkey.com/docs/errors/unkey/authentication/malformed",
        ),
        (
            Some("Bearer ".into()),
            400,
            "https://unkey.com/docs/errors/unkey/authentication/malformed",
        ),
        (
            Some("Bearer kw_unknown".into()),
            401,
            "https://unkey.com/docs/errors/unkey/authentication/key_not_found",
        ),
        (
            Some(format!("Bearer {retired_root}")),
            401,
            "https://unkey.com/docs/errors/unkey/authentication/key_not_found",
        ),
        (
            Some(format!("Bearer {client}")),
            403,
            "https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions",
        ),
    ];
    for (auth, status, kind) in &cases {
        let (got, answer) = server
            .post("/v2/keys.verifyKey", auth.as_deref(), &body)
            .await;
        assert_eq!(got.as_u16(), *status, "{auth:?}: {answer}");
        let top: Vec<&String> = answer.as_object().expect("object").keys().collect();
        assert_eq!(top, ["error", "meta"], "{answer}");
        assert!(answer["meta"]["requestId"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_")));
        let error = &answer["error"];
        assert_eq!(
            (&error["status"], &error["type"]),
            (&json!(status), &json!(kind))
        );
        let mut fields: Vec<&String> = error.as_object().expect("error").keys().collect();
        fields.sort();
        let expected: &[&str] = if *status == 400 {
            &["detail", "errors", "status", "title", "type"]
        } else {
            &["detail", "status", "title", "type"]
        };
        assert_eq!(fields, expected, "{answer}");
        assert!(
            !answer.to_string().contains(&client),
            "a key was echoed: {answer}"
        );

        // Keyward's own endpoint: the same statuses in its own envelope.
        let (got, own) = server.post("/v1/verify", auth.as_deref(), &body).await;
        assert_eq!(got.as_u16(), *status, "{auth:?}: {own}");
        let top: Vec<&String> = own.as_object().expect("object").keys().collect();
        assert_eq!(top, ["error"], "{own}");
        assert_eq!(own["error"]["status"], json!(status));
    }

    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::BAD_REQUEST);
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(&client)
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::FORBIDDEN);
    server.call("/v1/verify", json!({ "key": client })).await;
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(&server.root)
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(header(&metrics, "content-type").starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("keyward_verifications_total{endpoint=\"v1\",code=\"VALID\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("keyward_verification_duration_seconds_count 1"),
        "{text}"
    );
    // The root key was hashed once, then found in the verify cache for every later call.
    let sample = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert!(sample("keyward_verify_cache_hits_total") >= 1, "{text}");
    assert!(sample("keyward_verify_cache_misses_total") >= 1, "{text}");
    server.stop().await;
}

/// A server and a client's key with `read` and `models:chat`, with its `Bearer` header value.
async fn start_with_web_app_key() -> (Server, String, String) {
    let server = start().await;
    let token = create_key(
        &server.db,
        "web app",
        &["--scope", "read", "--scope", "models:chat"],
    );
    let bearer = format!("Bearer {token}");
    (server, token, bearer)
}

/// The same answers at `/v1/forward-auth` (nginx, Traefik) and below it, where Envoy's HTTP
/// `ext_authz` appends the client's path and query to its `path_prefix`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_answers_gateways_with_status_and_headers() {
    let (server, token, bearer) = start_with_web_app_key().await;
    let auth = ("authorization", bearer.as_str());

    for tail in ["?scope=read", "/", "/orders/42?x=1"] {
        let ok = server.forward(tail, &[auth]).await;
        assert_eq!(ok.status(), StatusCode::OK, "{tail}");
        assert_eq!(header(&ok, "x-keyward-code"), "VALID", "{tail}");
        assert_eq!(header(&ok, "x-keyward-key-id"), key_id(&token), "{tail}");
        assert!(!header(&ok, "x-keyward-owner").is_empty(), "{tail}");
        assert_eq!(header(&ok, "x-keyward-scopes"), "models:chat,read");
    }

    let api_key = server
        .forward(
            "?scope=read&scope=models%3Achat&mode=nginx",
            &[("x-api-key", &token)],
        )
        .await;
    assert_eq!(api_key.status(), StatusCode::OK);
    // nginx and Envoy forward the client's method.
    for tail in ["", "/orders"] {
        let post = server
            .http
            .post(format!("{}/v1/forward-auth{tail}", server.base))
            .header("x-api-key", &token)
            .send()
            .await
            .expect("post");
        assert_eq!(post.status(), StatusCode::OK, "{tail}");
    }

    for (tail, scope) in [("?scope=write", ""), ("/orders/42", "write")] {
        let forbidden = server
            .forward(tail, &[auth, ("x-keyward-scope", scope)])
            .await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "{tail}");
        assert_eq!(header(&forbidden, "x-keyward-code"), "FORBIDDEN");
        assert!(header(&forbidden, "x-keyward-key-id").is_empty());
    }

    for tail in ["", "/orders/42"] {
        for (headers, code) in [
            (vec![], "MISSING"),
            (vec![("authorization", "Basic abc")], "MALFORMED"),
            (vec![("x-api-key", "nope")], "MALFORMED"),
            (vec![("authorization", "Bearer kw_x")], "MALFORMED"),
        ] {
            let response = server.forward(tail, &headers).await;
            let what = format!("{tail} {headers:?}");
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(header(&response, "x-keyward-code"), code, "{what}");
            assert_eq!(header(&response, "www-authenticate"), "Bearer");
        }
    }

    revoke(&server.db, &token);
    for tail in ["", "/orders/42"] {
        let revoked = server.forward(tail, &[("x-api-key", &token)]).await;
        assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED, "{tail}");
        assert_eq!(header(&revoked, "x-keyward-code"), "REVOKED");
    }

    let bad_mode = server
        .forward("?mode=traefik", &[("x-api-key", &token)])
        .await;
    assert_eq!(bad_mode.status(), StatusCode::BAD_REQUEST);
    // A path that only starts like forward-auth's is not it.
    let other = server.forward("x", &[auth]).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

/// Required scopes come from `?scope=` on the exact path and from `X-Keyward-Scope` (what
/// Envoy's `headers_to_add` sets); below the path the query string is the client's and requires
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_scopes_come_from_the_header_never_from_a_clients_query() {
    let (server, _, bearer) = start_with_web_app_key().await;
    let auth = ("authorization", bearer.as_str());

    // The client's `scope=admin` adds no requirement, nor is its `mode` or a bad scope checked;
    // on the exact path the same `?scope=admin` is ours.
    for (tail, status) in [
        ("/orders/42?scope=admin", StatusCode::OK),
        (
            "/a/b%20c?scope=admin&scope=a%20b&mode=traefik",
            StatusCode::OK,
        ),
        ("?scope=admin", StatusCode::FORBIDDEN),
    ] {
        let response = server.forward(tail, &[auth]).await;
        assert_eq!(response.status(), status, "{tail}");
    }

    // Comma-separated and/or repeated; on the exact path they add to `?scope=`.
    for (tail, scopes, status) in [
        ("/orders/42", &["read, models:chat"][..], StatusCode::OK),
        ("/orders/42", &["read", "write"][..], StatusCode::FORBIDDEN),
        ("/orders/42?scope=write", &["read"][..], StatusCode::OK),
        ("?scope=read", &["models:chat"][..], StatusCode::OK),
        ("?scope=read", &["write"][..], StatusCode::FORBIDDEN),
        ("?scope=write", &["read"][..], StatusCode::FORBIDDEN),
        ("/orders", &["read, a b"][..], StatusCode::BAD_REQUEST),
    ] {
        let mut headers = vec![auth];
        headers.extend(scopes.iter().map(|s| ("x-keyward-scope", *s)));
        let response = server.forward(tail, &headers).await;
        assert_eq!(response.status(), status, "{tail} {scopes:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_writes_nothing_and_the_server_keeps_serving() {
    use reqwest::Method;
    let server = start().await;
    let token = create_key(&server.db, "client", &["--scope", "read"]);
    let before = keys_and_audit(&server.db).await.1;

    let huge_key = format!(r#"{{"key":"{}"}}"#, "k".repeat(100 * 1024));
    let long_key = format!(r#"{{"key":"{}"}}"#, "k".repeat(2048));
    let megabyte = vec![b' '; 1024 * 1024];
    let unknown = format!(r#"{{"key":"{token}","scope":["read"]}}"#);
    let cases: Vec<(Method, &str, Vec<u8>, u16, &str)> = vec![
        (
            Method::POST,
            "/v1/verify",
            b"not json".to_vec(),
            400,
            "not valid JSON",
        ),
        (Method::POST, "/v1/verify", b"".to_vec(), 400, "empty"),
        (
            Method::POST,
            "/v1/verify",
            br#"{"key": 7}"#.to_vec(),
            400,
            "body.key",
        ),
        (
            Method::POST,
            "/v1/verify",
            br#"{"key":"x","scopes":"read"}"#.to_vec(),
            400,
            "body.scopes",
        ),
        (
            Method::POST,
            "/v1/verify",
            br#"["x"]"#.to_vec(),
            400,
            "JSON object",
        ),
        (
            Method::POST,
            "/v1/verify",
            unknown.into_bytes(),
            400,
            "does not take",
        ),
        (
            Method::POST,
            "/v1/verify",
            br#"{"key":"x","scopes":["a b"]}"#.to_vec(),
            400,
            "body.scopes[0]",
        ),
        (
            Method::POST,
            "/v1/verify",
            megabyte.clone(),
            413,
            "larger than",
        ),
        (
            Method::POST,
            "/v1/verify",
            huge_key.clone().into_bytes(),
            413,
            "larger than",
        ),
        (
            Method::POST,
            "/v1/verify",
            long_key.clone().into_bytes(),
            400,
            "bytes long",
        ),
        (
            Method::POST,
            "/v1/verify?key=x",
            br#"{"key":"x"}"#.to_vec(),
            400,
            "query string",
        ),
        (
            Method::GET,
            "/v1/verify",
            vec![],
            405,
            "does not answer GET",
        ),
        (
            Method::DELETE,
            "/v1/verify",
            vec![],
            405,
            "does not answer DELETE",
        ),
        (
            Method::POST,
            "/v1/nothing",
            vec![],
            404,
            "nothing at /v1/nothing",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey",
            b"{".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey",
            br#"{"key":""}"#.to_vec(),
            400,
            "body.key",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey",
            br#"{"key":"x","scopes":[]}"#.to_vec(),
            400,
            "does not take",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey",
            megabyte,
            413,
            "larger than",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey",
            huge_key.into_bytes(),
            413,
            "larger than",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey",
            long_key.into_bytes(),
            400,
            "body.key",
        ),
        (
            Method::POST,
            "/v2/keys.verifyKey?x=1",
            br#"{"key":"x"}"#.to_vec(),
            400,
            "query string",
        ),
        (
            Method::PUT,
            "/v2/keys.verifyKey",
            vec![],
            405,
            "does not answer PUT",
        ),
        (
            Method::POST,
            "/healthz",
            vec![],
            405,
            "does not answer POST",
        ),
    ];
    for (method, path, body, status, words) in cases {
        let response = server.raw(method.clone(), path, body).await;
        let got = response.status().as_u16();
        let allow = header(&response, "allow").to_owned();
        let text = response.text().await.expect("body");
        assert_eq!(got, status, "{method} {path}: {text}");
        let answer: Value = serde_json::from_str(&text).expect("a JSON problem body");
        assert_eq!(answer["error"]["status"], json!(status), "{text}");
        assert!(answer["error"]["title"].is_string() && answer["error"]["type"].is_string());
        assert!(
            answer["error"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains(words)),
            "{method} {path}: {text}"
        );
        assert_eq!(
            answer.get("meta").is_some(),
            path.starts_with("/v2/"),
            "{text}"
        );
        assert!(
            !text.contains(&token) && !text.contains("kkkkkkkk"),
            "echoed: {text}"
        );
        if status == 405 {
            assert!(!allow.is_empty(), "405 without Allow");
        }
    }

    // Still serving, and nothing was written.
    let (status, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!((status, &body["code"]), (StatusCode::OK, &json!("VALID")));
    assert_eq!(keys_and_audit(&server.db).await.1, before);
    server.stop().await;
}

/// Sends a request whose body arrives only after the shutdown signal: the server must finish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_a_request_in_flight_finish() {
    let mut server = start().await;
    let token = create_key(&server.db, "client", &[]);
    let body = format!(r#"{{"key":"{token}"}}"#);
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.root,
        body.len()
    );
    let (first, rest) = body.split_at(5);
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(first.as_bytes()).expect("first bytes");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let _ = server.stop.take().expect("running").send(());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !server.handle.is_finished(),
        "stopped before the request finished"
    );
    // No new connection is taken once stopping.
    let refused = server
        .http
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "a new request was served while stopping");

    stream.write_all(rest.as_bytes()).expect("rest");
    let answer = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
    .await
    .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""code":"VALID""#), "{answer}");
    server.stop().await;
}

/// Damages the database under the running server: every page but the first of the main file
/// (checkpointed first, so it holds every row) is overwritten with garbage, and another
/// connection commits a change to page 1, so each connection of the server drops its page cache
/// and reads the garbage. `restore` writes the bytes back and commits again (SQLite re-reads
/// pages only once a commit tells it the file changed: any write does, as in real life).
struct Damage {
    db: PathBuf,
    original: Vec<u8>,
    writer: sqlx::SqliteConnection,
}

impl Damage {
    async fn apply(db: &Path) -> Self {
        use sqlx::ConnectOptions;
        let mut writer = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .connect()
            .await
            .expect("a second connection");
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut writer)
            .await
            .expect("checkpoint");
        assert_eq!(busy, 0, "checkpoint blocked");
        let original = std::fs::read(db).expect("read db");
        let garbage = vec![0xA5; original.len() - 4096];
        Self::write_at(db, &garbage);
        Self::commit(&mut writer, 7).await;
        Self {
            db: db.to_owned(),
            original,
            writer,
        }
    }

    fn write_at(db: &Path, pages: &[u8]) {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(db)
            .expect("open db");
        file.seek(SeekFrom::Start(4096)).expect("seek");
        file.write_all(pages).expect("write pages");
    }

    async fn commit(writer: &mut sqlx::SqliteConnection, version: u32) {
        sqlx::query(&format!("PRAGMA user_version = {version}"))
            .execute(writer)
            .await
            .expect("commit to page 1");
    }

    async fn restore(mut self) {
        Self::write_at(&self.db, &self.original[4096..]);
        Self::commit(&mut self.writer, 0).await;
        sqlx::Connection::close(self.writer).await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_database_answers_503_in_plain_words_then_recovers() {
    let server = start().await;
    let token = create_key(&server.db, "client", &["--scope", "read"]);
    let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(body["code"], "VALID");
    let health = format!("{}/healthz", server.base);
    let ok = server.http.get(&health).send().await.expect("healthz");
    assert_eq!(ok.status(), StatusCode::OK);

    let damage = Damage::apply(&server.db).await;
    let (status, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("damaged")),
        "{body}"
    );
    let (status, unkey) = server
        .call("/v2/keys.verifyKey", json!({ "key": token }))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{unkey}");
    assert!(unkey["meta"]["requestId"].is_string(), "{unkey}");
    let forward = server.forward("", &[("x-api-key", &token)]).await;
    assert_eq!(forward.status(), StatusCode::SERVICE_UNAVAILABLE);
    let sick = server.http.get(&health).send().await.expect("healthz");
    assert_eq!(sick.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(sick.text().await.expect("text").contains("damaged"));

    damage.restore().await;
    let (status, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::OK, &json!("VALID")),
        "{body}"
    );
    let ok = server.http.get(&health).send().await.expect("healthz");
    assert_eq!(ok.status(), StatusCode::OK);
    server.stop().await;
}

/// A key on a new plan `name`, made through the store (as the app makes them); returns the token.
async fn key_on_plan(
    server: &Server,
    name: &str,
    rate: Option<(u32, u32)>,
    quota: Option<u64>,
) -> String {
    make_key_on_plan(&server.store, name, rate, quota).await
}

async fn make_key_on_plan(
    store: &Store,
    name: &str,
    rate: Option<(u32, u32)>,
    quota: Option<u64>,
) -> String {
    store
        .create_plan(NewPlan {
            name: name.into(),
            limits: PlanLimits {
                rate_per_second: rate.map(|r| r.0),
                burst: rate.map(|r| r.1),
                quota: quota.map(|limit| Quota {
                    limit,
                    per: QuotaPeriod::Day,
                }),
            },
        })
        .await
        .expect("plan");
    let created = store
        .create_key(NewKey {
            plan: Some(name.into()),
            ..NewKey::named(format!("client on {name}"))
        })
        .await
        .expect("key on the plan");
    created.token.expose().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_3_refuses_the_4th_immediate_check_then_refills() {
    let server = start().await;
    let token = key_on_plan(&server, "Burst 3", Some((1, 3)), None).await;
    for remaining in [2, 1, 0] {
        let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
        assert_eq!(body["code"], "VALID", "{body}");
        assert_eq!(
            (&body["rate"]["limit"], &body["rate"]["remaining"]),
            (&json!(3), &json!(remaining)),
            "{body}"
        );
        assert_eq!(body["quota"], Value::Null);
    }
    let (status, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["code"], &body["valid"]),
        (&json!("RATE_LIMITED"), &json!(false)),
        "{body}"
    );
    assert_eq!(body["key"]["id"], key_id(&token));
    assert_eq!(body["rate"]["remaining"], 0);
    let reset =
        chrono::DateTime::parse_from_rfc3339(body["rate"]["reset_at"].as_str().expect("reset"))
            .expect("a time");
    assert_eq!(
        reset.timestamp_millis(),
        server.clock.now().timestamp_millis() + 1000
    );

    // Refused checks take no cell: the gateways see the same.
    let limited = server.forward("", &[("x-api-key", &token)]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "x-keyward-code"), "RATE_LIMITED");
    assert_eq!(header(&limited, "retry-after"), "1");
    assert_eq!(header(&limited, "ratelimit-policy"), "\"burst\";q=3;w=3");
    assert_eq!(header(&limited, "ratelimit"), "\"burst\";r=0;t=1");
    let nginx = server
        .forward(
            "?mode=nginx",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(nginx.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&nginx, "x-keyward-code"), "RATE_LIMITED");
    // Below the path (Envoy) the 429 is the same; the client's `mode=nginx` changes nothing.
    let envoy = server
        .forward("/orders?mode=nginx", &[("x-api-key", &token)])
        .await;
    assert_eq!(envoy.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&envoy, "x-keyward-code"), "RATE_LIMITED");
    let (status, unkey) = server
        .call("/v2/keys.verifyKey", json!({ "key": token }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_unkey_envelope(&unkey);
    let data = &unkey["data"];
    assert_eq!(
        (&data["code"], &data["valid"]),
        (&json!("RATE_LIMITED"), &json!(false))
    );
    let limit = &data["ratelimits"][0];
    assert_eq!(
        (
            &limit["exceeded"],
            &limit["limit"],
            &limit["remaining"],
            &limit["duration"]
        ),
        (&json!(true), &json!(3), &json!(0), &json!(3000)),
        "{unkey}"
    );

    // One second later (the limiter's clock, no sleep) one more fits, and only one.
    server.rates.advance(Duration::from_secs(1));
    let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(body["code"], "VALID", "{body}");
    let ok = server.forward("", &[("x-api-key", &token)]).await;
    assert_eq!(ok.status(), StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_of_5_a_day_answers_usage_exceeded_until_midnight() {
    let server = start().await;
    let token = key_on_plan(&server, "Five a day", None, Some(5)).await;
    let midnight = QuotaPeriod::Day.next_start(server.clock.now());
    for remaining in (0..5).rev() {
        let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
        assert_eq!(body["code"], "VALID", "{body}");
        assert_eq!(
            (&body["quota"]["limit"], &body["quota"]["remaining"]),
            (&json!(5), &json!(remaining)),
            "{body}"
        );
        assert_eq!(body["rate"], Value::Null);
    }
    let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(
        (&body["code"], &body["valid"]),
        (&json!("USAGE_EXCEEDED"), &json!(false)),
        "{body}"
    );
    assert_eq!(body["quota"]["remaining"], 0);
    let reset =
        chrono::DateTime::parse_from_rfc3339(body["quota"]["reset_at"].as_str().expect("reset"))
            .expect("a time");
    assert_eq!(reset, midnight);

    let (_, unkey) = server
        .call("/v2/keys.verifyKey", json!({ "key": token }))
        .await;
    assert_unkey_envelope(&unkey);
    assert_eq!(
        (
            &unkey["data"]["code"],
            &unkey["data"]["valid"],
            &unkey["data"]["credits"]
        ),
        (&json!("USAGE_EXCEEDED"), &json!(false), &json!(0)),
        "{unkey}"
    );
    let refused = server.forward("", &[("x-api-key", &token)]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "x-keyward-code"), "USAGE_EXCEEDED");
    // Whole seconds, rounded up.
    let to_midnight = ((midnight - server.clock.now()).num_milliseconds() + 999) / 1000;
    assert_eq!(header(&refused, "retry-after"), to_midnight.to_string());
    assert_eq!(header(&refused, "ratelimit-policy"), "\"day\";q=5;w=86400");
    let nginx = server
        .forward("?mode=nginx", &[("x-api-key", &token)])
        .await;
    assert_eq!(nginx.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&nginx, "x-keyward-code"), "USAGE_EXCEEDED");

    // A new day: the key is valid again, and the refusals spent nothing of it.
    server.clock.set(midnight);
    let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
    assert_eq!(body["code"], "VALID", "{body}");
    assert_eq!(body["quota"]["remaining"], 4);
    server.stop().await;
}

/// Polls the running servers `store` lists until `done` holds (reports come every 5 s).
async fn servers_until(
    store: &Store,
    done: impl Fn(&[keyward_core::servers::VerifyServer]) -> bool,
) -> Vec<keyward_core::servers::VerifyServer> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = store.verify_servers().await.expect("list servers");
        if done(&listed) {
            return listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the servers never became what was expected: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_counts_survive_a_restart_and_the_server_reports_itself() {
    let server = start().await;
    let token = key_on_plan(&server, "Ten a day", None, Some(10)).await;
    let listed = servers_until(&server.store, |s| s.len() == 1).await;
    let first = listed[0].clone();
    assert_eq!(first.address, server.addr.to_string());
    assert_eq!(first.pid, std::process::id());
    for _ in 0..4 {
        let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
        assert_eq!(body["code"], "VALID", "{body}");
    }
    // The next report counts them.
    let valid = |s: &keyward_core::servers::VerifyServer| {
        (
            s.since_start.get("VALID").copied(),
            s.last_minute.get("VALID").copied(),
        )
    };
    servers_until(&server.store, |s| {
        s.len() == 1 && valid(&s[0]) == (Some(4), Some(4))
    })
    .await;

    // Stopped gracefully (counts written), a new server on the same file continues the count;
    // the first one's row says it stopped.
    let server = server.restart().await;
    let listed = servers_until(&server.store, |s| s.len() == 1 && s[0].id != first.id).await;
    assert_eq!(listed[0].address, server.addr.to_string());
    for remaining in [5, 4, 3] {
        let (_, body) = server.call("/v1/verify", json!({ "key": token })).await;
        assert_eq!(body["code"], "VALID", "{body}");
        assert_eq!(body["quota"]["remaining"], remaining, "{body}");
    }
    let id = key_id(&token).to_owned();
    let (dir, db, _) = server.shut().await;
    let store = keyward_store::open(&db).await.expect("reopen");
    let usage = store
        .quota_usage(&id)
        .await
        .expect("usage")
        .expect("a quota");
    assert_eq!(usage.used, 7);
    assert!(store.verify_servers().await.expect("list").is_empty());
    store.close().await;
    drop(dir);
}

/// `keyward-cli serve` killed with SIGKILL in the middle of a stream of checks: the counts it
/// had not written yet are lost, and no more than the last second's (the flush interval, plus
/// half a second for the write itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_at_most_the_last_seconds_counts() {
    use std::time::Instant;

    let (_dir, db) = temp_db();
    let store = keyward_store::open(&db).await.expect("open");
    let token = make_key_on_plan(&store, "Big", None, Some(1_000_000)).await;
    store.close().await;
    let id = key_id(&token).to_owned();

    let served = Served::start(&db, "127.0.0.1:0").await;
    let watcher = keyward_store::open(&db)
        .await
        .expect("open beside the server");
    let pid = served.child.id();
    servers_until(&watcher, |s| s.iter().any(|s| s.pid == pid)).await;

    let http = http();
    let url = format!("{}/v1/forward-auth", served.base);
    let started = Instant::now();
    let mut answered = Vec::new();
    while started.elapsed() < Duration::from_millis(2500) {
        let response = http
            .get(&url)
            .header("x-api-key", &token)
            .send()
            .await
            .expect("check");
        assert_eq!(response.status(), StatusCode::OK);
        answered.push(Instant::now());
    }
    let killed_at = Instant::now();
    let (status, log) = served.stop_with("KILL");
    assert_eq!(status.code(), None, "killed, not exited: {log:?}");

    let n = answered.len() as u64;
    let last_second = answered
        .iter()
        .filter(|at| killed_at.duration_since(**at) < Duration::from_millis(1500))
        .count() as u64;
    watcher.close().await;
    let store = keyward_store::open(&db)
        .await
        .expect("reopen after the crash");
    let stored = store
        .quota_usage(&id)
        .await
        .expect("usage")
        .expect("quota")
        .used;
    eprintln!("crash: {n} checks answered, {stored} stored, {last_second} in the last 1.5 s");
    assert!(stored <= n, "stored {stored} of {n}");
    assert!(
        stored + last_second >= n,
        "stored {stored} of {n}: lost more than the {last_second} of the last second"
    );
    // The killed server never said it stopped: it is listed until its last report is 15 s old.
    assert!(store
        .verify_servers()
        .await
        .expect("list")
        .iter()
        .any(|s| s.pid == pid));
    store.close().await;
    let later = keyward_store::open_with(
        &db,
        StoreOptions {
            clock: std::sync::Arc::new(ManualClock::new(
                Utc::now() + chrono::Duration::seconds(16),
            )),
            ..StoreOptions::default()
        },
    )
    .await
    .expect("open later");
    assert!(later.verify_servers().await.expect("list").is_empty());
    later.close().await;
}
