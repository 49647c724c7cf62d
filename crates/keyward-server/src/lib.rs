//! Keyward's verify server: services written in any language, behind any gateway, check Keyward
//! keys over HTTP against the same SQLite file the app and the CLI use.
//!
//! - `POST /v1/verify` ([`v1`]): Keyward's own answer, always HTTP 200 with the verdict.
//! - `POST /v2/keys.verifyKey` ([`unkey`]): wire-compatible with Unkey's v2 endpoint.
//! - `GET /v1/forward-auth` and `/v1/forward-auth/{*rest}` ([`forward_auth`]): for nginx
//!   `auth_request`, Traefik ForwardAuth and Envoy `ext_authz` (which appends the client's path);
//!   the answer is in the status code and `X-Keyward-*` headers.
//! - `GET /healthz` and `GET /metrics` ([`metrics`]).
//!
//! Every check goes through [`check`]: the core's `Store::verify` (MALFORMED → NOT_FOUND →
//! REVOKED → EXPIRED → FORBIDDEN, the row read on every call, so a revocation acts on the very
//! next request), then the plan step ([`limiter::Limiter`]: RATE_LIMITED → USAGE_EXCEEDED),
//! enforced by [`plans::PlanLimiter`]. A key is never written to a response or a log line.
//!
//! While it runs, the server writes its quota counts every second ([`plans::FLUSH_EVERY`]) and
//! reports itself in the database every few seconds (`verify_servers`, for the app).

pub mod auth;
mod body;
pub mod check;
pub mod forward_auth;
pub mod limiter;
pub mod metrics;
pub mod permissions;
pub mod plans;
pub mod problem;
mod report;
pub mod unkey;
pub mod v1;

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use keyward_core::Store;
use rand::Rng;
use tower_http::timeout::TimeoutLayer;

pub use limiter::{Limiter, PlanCheck, PlanVerdict, Unlimited, Window};
pub use metrics::Metrics;
pub use plans::{PlanLimiter, FLUSH_EVERY};
use problem::{Flavor, Problem};

/// Where the server listens when nothing else is asked: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);

/// The reserved scope a caller's own key needs to use the verify endpoints and `/metrics`
/// (the core keeps it in the scope catalogue).
pub use keyward_core::VERIFY_SCOPE;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on (what `keyward-cli serve --listen` sets).
    pub listen: SocketAddr,
    /// Request bodies larger than this are refused with 413 before they are parsed.
    pub max_body_bytes: usize,
    /// A request that takes longer than this is answered 503 (the database stayed locked).
    pub request_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The warning to print when the server listens beyond this machine, `None` on loopback.
    pub fn exposure_warning(&self) -> Option<String> {
        (!self.listen.ip().is_loopback()).then(|| {
            format!(
                "listening on {}, which other machines can reach: keys travel in plain HTTP, so \
                 put the server behind TLS (a reverse proxy) or listen on 127.0.0.1",
                self.listen
            )
        })
    }
}

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub(crate) store: Store,
    pub(crate) limiter: Arc<dyn Limiter>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: Arc<Config>,
}

impl ServerState {
    /// A server on `store` that enforces every key's usage plan ([`PlanLimiter`], rates on the
    /// monotonic clock).
    pub fn new(store: Store, config: Config) -> Self {
        Self {
            limiter: Arc::new(PlanLimiter::new(store.clone())),
            store,
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(config),
        }
    }

    /// Enforces usage plans with `limiter` after every valid verdict.
    pub fn with_limiter(mut self, limiter: Arc<dyn Limiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// The counters `/metrics` shows (for the app's Server screen, later).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// A request's id (`req_` and 22 base62 characters), sent back as `X-Request-Id` and in Unkey's
/// `meta.requestId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub(crate) String);

impl RequestId {
    pub fn generate() -> Self {
        const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::thread_rng();
        let tail: String = (0..22)
            .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
            .collect();
        Self(format!("req_{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One line to standard error. Never panics, even when standard error is closed.
pub(crate) fn log(line: &str) {
    let _ = writeln!(std::io::stderr(), "keyward-server: {line}");
}

/// The envelope errors on `path` are written in.
pub(crate) fn flavor_of(path: &str) -> Flavor {
    if path.starts_with("/v2/") {
        Flavor::Unkey
    } else {
        Flavor::Keyward
    }
}

/// The routes, with request ids, the timeout and problem bodies for every error.
pub fn router(state: ServerState) -> Router {
    let timeout = state.config.request_timeout;
    Router::new()
        .route("/v1/verify", post(v1::verify))
        .route("/v2/keys.verifyKey", post(unkey::verify_key))
        // nginx auth_request and Envoy ext_authz send the client's own method; Envoy appends
        // the client's path (and query) to its path_prefix, `/` included.
        .route(forward_auth::PATH, any(forward_auth::forward_auth))
        .route(
            "/v1/forward-auth/",
            any(forward_auth::forward_auth_appended),
        )
        .route(
            "/v1/forward-auth/{*rest}",
            any(forward_auth::forward_auth_appended),
        )
        .route("/healthz", get(metrics::healthz))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::from_fn(request_envelope))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    let id = request_id(&request);
    Problem::not_found(request.uri().path()).into_response(Flavor::Keyward, &id)
}

async fn method_not_allowed(State(_): State<ServerState>, request: Request) -> Response {
    let id = request_id(&request);
    let path = request.uri().path();
    let allow = match path {
        "/v1/verify" | "/v2/keys.verifyKey" => "POST",
        _ => "GET, HEAD",
    };
    let mut response = Problem::method_not_allowed(request.method().as_str(), path)
        .into_response(flavor_of(path), &id);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

pub(crate) fn request_id(request: &Request) -> RequestId {
    request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate)
}

/// Gives every request an id, sends it back as `X-Request-Id`, and turns any error answer that
/// is not JSON yet (the timeout's 503, a rejection from axum itself) into a problem body.
async fn request_envelope(mut request: Request, next: Next) -> Response {
    let id = RequestId::generate();
    request.extensions_mut().insert(id.clone());
    let path = request.uri().path().to_owned();
    let head = request.method() == Method::HEAD;
    let mut response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_error = status.is_client_error() || status.is_server_error();
    if is_error && !is_json && !head && !forward_auth::is_forward_auth(&path) {
        let kept = response.headers().clone();
        response = bare_error(status, &path, &id);
        for name in [header::ALLOW, header::RETRY_AFTER] {
            if let Some(value) = kept.get(&name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// A problem body for an error answered without one (the timeout, axum's own rejections).
fn bare_error(status: StatusCode, path: &str, id: &RequestId) -> Response {
    let problem = if status == StatusCode::SERVICE_UNAVAILABLE {
        Problem::unavailable(
            "The server did not answer in time: the key database may be locked or slow. Try \
             again in a moment.",
        )
    } else {
        let reason = status.canonical_reason().unwrap_or("Error");
        Problem::new(
            status,
            reason,
            "http_error",
            problem::unkey_types::UNEXPECTED,
            reason,
        )
    };
    if status.is_server_error() {
        log(&format!(
            "{} {} {}",
            id.as_str(),
            status.as_u16(),
            problem.detail
        ));
    }
    problem.into_response(flavor_of(path), id)
}

/// Serves `store` on `listener` until `shutdown` completes; requests already in flight then
/// finish before this returns. Usage plans are enforced ([`PlanLimiter`]; see [`serve_with`] for
/// another limiter).
pub async fn serve(
    store: Store,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = Config {
        listen: listener.local_addr()?,
        ..Config::default()
    };
    serve_with(ServerState::new(store, config), listener, shutdown).await
}

/// [`serve`] with a prepared state: a limiter, other limits. Logs one line when it starts and
/// one when it stops. The store stays open: closing it is the caller's.
///
/// Beside the requests, two tasks run until the server stops: one writes the limiter's counts
/// every [`FLUSH_EVERY`], one reports the server in the database. When `shutdown` completes,
/// requests in flight finish, the tasks end (never in the middle of a write), the counts are
/// written one last time and the server's row is marked stopped.
pub async fn serve_with(
    state: ServerState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    log(&format!(
        "listening on http://{address} (database {})",
        state.store.location()
    ));
    let limiter = Arc::clone(&state.limiter);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(flush_every_second(Arc::clone(&limiter), stopping.clone()));
    let reporter = report::Reporter::new(state.store.clone(), Arc::clone(&state.metrics), address);
    let reporting = tokio::spawn(reporter.run(stopping));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop.send(true);
    let _ = flusher.await;
    let flushed = limiter.flush().await;
    if let Ok(reporter) = reporting.await {
        reporter.stopped().await;
    }
    match (&served, &flushed) {
        (Err(e), _) => log(&format!("stopped with an error: {e}")),
        (Ok(()), Err(e)) => log(&format!("stopped; saving usage counts failed: {e}")),
        (Ok(()), Ok(())) => log("stopped"),
    }
    served
}

/// Writes the limiter's counts every [`FLUSH_EVERY`] until `stop` turns true. A failed write
/// keeps the counts for the next one; it is logged once, and so is the recovery.
async fn flush_every_second(
    limiter: Arc<dyn Limiter>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(FLUSH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = every.tick() => match limiter.flush().await {
                Ok(()) if failing => {
                    failing = false;
                    log("usage counts are saved again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    log(&format!("saving usage counts failed, will retry every second: {e}"));
                }
                Err(_) => {}
            },
            _ = stop.changed() => return,
        }
    }
}

/// An error answer for a request that reached a handler.
pub(crate) fn refuse(problem: Problem, flavor: Flavor, id: &RequestId) -> Response {
    problem::Refusal {
        problem,
        flavor,
        request_id: id.clone(),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_req_and_base62() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        let tail = a.as_str().strip_prefix("req_").expect("req_ prefix");
        assert_eq!(tail.len(), 22);
        assert!(tail.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn only_loopback_is_quiet() {
        assert!(Config::default().exposure_warning().is_none());
        let open = Config {
            listen: "0.0.0.0:8787".parse().expect("address"),
            ..Config::default()
        };
        assert!(open.exposure_warning().is_some_and(|w| w.contains("TLS")));
    }
}
