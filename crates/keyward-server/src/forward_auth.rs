//! `/v1/forward-auth` for gateways (nginx `auth_request`, Traefik ForwardAuth, Envoy
//! `ext_authz`): the client's own key from `Authorization: Bearer` or `X-API-Key`, required
//! scopes from repeated `?scope=` and from `X-Keyward-Scope` headers (comma-separated and/or
//! repeated; both sources add up). The answer is the status and headers:
//!
//! - 200 with `X-Keyward-Key-Id`, `X-Keyward-Owner`, `X-Keyward-Scopes` (comma-separated);
//! - 401 missing, malformed, not found, revoked or expired; 403 a scope is missing;
//! - 429 with `Retry-After` and the IETF `RateLimit` / `RateLimit-Policy` headers; nginx turns
//!   any status but 2xx/401/403 into a 500, so `?mode=nginx` answers 403 instead;
//! - always `X-Keyward-Code`.
//!
//! The same check answers below the path, `/v1/forward-auth/{*rest}`: Envoy's HTTP `ext_authz`
//! appends the client's path and query to its `path_prefix`, so there the query string is the
//! client's and is ignored (a client must not add or change requirements); scopes come from
//! the header only, which Envoy's `headers_to_add` sets.
//!
//! Any method is answered: nginx and Envoy send the client's own. No caller key is needed: the
//! gateway forwards the client's.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_core::{validate_scope, SecretToken};

use crate::auth::{bearer, BearerError, MAX_KEY_BYTES};
use crate::check::{check, Checked, Code, Required};
use crate::limiter::{PlanCheck, PlanVerdict, Window};
use crate::problem::{Flavor, Problem};
use crate::v1::MAX_SCOPES;
use crate::{refuse, request_id, ServerState};

const CODE: HeaderName = HeaderName::from_static("x-keyward-code");
const KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
const OWNER: HeaderName = HeaderName::from_static("x-keyward-owner");
const SCOPES: HeaderName = HeaderName::from_static("x-keyward-scopes");
const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// Required scopes set by the gateway (Envoy's `headers_to_add`), added to any `?scope=`.
const SCOPE: HeaderName = HeaderName::from_static("x-keyward-scope");

/// The path Keyward answers at, and below which (`PATH/…`) a gateway may append the client's.
pub const PATH: &str = "/v1/forward-auth";

/// Whether `path` is forward-auth's: exactly [`PATH`] or below it.
pub fn is_forward_auth(path: &str) -> bool {
    path.strip_prefix(PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    scopes: Vec<String>,
    nginx: bool,
}

fn invalid_scope(source: &str) -> Problem {
    Problem::bad_request(
        "invalid_scope",
        format!("{source} is not a scope: use 1 to 64 letters, digits, ':', '.', '_' or '-'."),
    )
}

impl Params {
    /// Adds `scope` once; refuses past [`MAX_SCOPES`] at once, so a huge list costs nothing.
    fn require(&mut self, scope: &str) -> Result<(), Problem> {
        if self.scopes.iter().any(|s| s == scope) {
            return Ok(());
        }
        if self.scopes.len() == MAX_SCOPES {
            return Err(Problem::bad_request(
                "too_many_scopes",
                format!(
                    "At most {MAX_SCOPES} scopes (scope parameters and X-Keyward-Scope items)."
                ),
            ));
        }
        self.scopes.push(scope.to_owned());
        Ok(())
    }
}

/// `?scope=a&scope=b&mode=nginx` (the query is ours only on the exact path; pass `None` for
/// the client's) and every `X-Keyward-Scope: a, b`. Other parameters are ignored: a gateway
/// may add its own.
fn params(query: Option<&str>, headers: &HeaderMap) -> Result<Params, Problem> {
    let mut out = Params::default();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*name {
            "scope" => {
                if validate_scope(&value).is_err() {
                    return Err(invalid_scope("A scope parameter"));
                }
                out.require(&value)?;
            }
            "mode" if value == "nginx" => out.nginx = true,
            "mode" => {
                return Err(Problem::bad_request(
                    "invalid_mode",
                    "mode may only be nginx (403 instead of 429, which nginx cannot pass on).",
                ))
            }
            _ => {}
        }
    }
    for value in headers.get_all(SCOPE) {
        let text = value
            .to_str()
            .map_err(|_| invalid_scope("An X-Keyward-Scope header"))?;
        // A comma-separated list, as HTTP allows for a repeated header; empty items are skipped.
        for scope in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if validate_scope(scope).is_err() {
                return Err(invalid_scope("An item of X-Keyward-Scope"));
            }
            out.require(scope)?;
        }
    }
    Ok(out)
}

/// The presented key: `Authorization: Bearer` first, else `X-API-Key`.
fn presented(headers: &HeaderMap) -> Result<SecretToken, Code> {
    match bearer(headers) {
        Ok(token) => return Ok(token),
        Err(BearerError::Malformed) => return Err(Code::Malformed),
        Err(BearerError::Missing) => {}
    }
    let value = headers.get(API_KEY).ok_or(Code::NotFound)?;
    let text = value.to_str().map_err(|_| Code::Malformed)?.trim();
    if text.is_empty() {
        return Err(Code::NotFound);
    }
    Ok(SecretToken::from(text.to_owned()))
}

fn set(response: &mut Response, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// The IETF httpapi rate-limit headers for a window: `RateLimit-Policy: "burst";q=100;w=60`
/// and `RateLimit: "burst";r=50;t=30`.
fn rate_limit_headers(response: &mut Response, window: &Window, now_ms: i64) {
    let name = window.name.replace(['"', '\\'], "");
    let w = window.window_ms.div_ceil(1000).max(1);
    let t = u64::try_from(window.reset_at_ms.saturating_sub(now_ms))
        .unwrap_or(0)
        .div_ceil(1000);
    set(
        response,
        HeaderName::from_static("ratelimit-policy"),
        &format!("\"{name}\";q={};w={w}", window.limit),
    );
    set(
        response,
        HeaderName::from_static("ratelimit"),
        &format!("\"{name}\";r={};t={t}", window.remaining),
    );
}

/// The answer to a check; `now_ms` (the store's clock) is what `RateLimit`'s `t` counts from.
fn answer(checked: Checked, nginx: bool, now_ms: i64) -> Response {
    let code = checked.code;
    let status = match code {
        Code::Valid => StatusCode::OK,
        Code::Malformed | Code::NotFound | Code::Revoked | Code::Expired => {
            StatusCode::UNAUTHORIZED
        }
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::RateLimited | Code::UsageExceeded if nginx => StatusCode::FORBIDDEN,
        Code::RateLimited | Code::UsageExceeded => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut response = status.into_response();
    set(&mut response, CODE, code.as_str());
    if status == StatusCode::UNAUTHORIZED {
        set(&mut response, header::WWW_AUTHENTICATE, "Bearer");
    }
    if let Some(key) = checked.key.filter(|_| code == Code::Valid) {
        set(&mut response, KEY_ID, &key.id);
        // Header values must be visible ASCII: a name outside it is percent-encoded.
        set(&mut response, OWNER, &encode(&key.owner));
        set(&mut response, SCOPES, &key.scopes.join(","));
    }
    if let Some(plan) = &checked.plan {
        plan_headers(&mut response, plan, now_ms);
    }
    response
}

fn plan_headers(response: &mut Response, plan: &PlanCheck, now_ms: i64) {
    // The window that refused (or, when allowed, the one with less left) is the one a client
    // needs to see.
    let window = match plan.verdict {
        PlanVerdict::RateLimited { .. } => plan.rate.as_ref().or(plan.quota.as_ref()),
        PlanVerdict::UsageExceeded { .. } => plan.quota.as_ref().or(plan.rate.as_ref()),
        PlanVerdict::Allowed => match (&plan.rate, &plan.quota) {
            (Some(rate), Some(quota)) if quota.remaining < rate.remaining => Some(quota),
            (rate, quota) => rate.as_ref().or(quota.as_ref()),
        },
    };
    if let Some(window) = window {
        rate_limit_headers(response, window, now_ms);
    }
    if let Some(seconds) = plan.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// Percent-encodes everything but visible ASCII other than `%`, so any owner name fits a header.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/v1/forward-auth`: the query string is Keyward's own (`scope`, `mode`).
pub async fn forward_auth(State(state): State<ServerState>, request: Request) -> Response {
    let query = request.uri().query().map(str::to_owned);
    run(&state, request, query.as_deref()).await
}

/// `/v1/forward-auth/{*rest}`, as Envoy's `ext_authz` asks: the rest of the path and the query
/// string are the client's request, so the query is ignored and only the header gives scopes.
pub async fn forward_auth_appended(State(state): State<ServerState>, request: Request) -> Response {
    run(&state, request, None).await
}

async fn run(state: &ServerState, request: Request, query: Option<&str>) -> Response {
    let id = request_id(&request);
    let now_ms = state.store.now().timestamp_millis();
    let params = match params(query, request.headers()) {
        Ok(p) => p,
        Err(problem) => return refuse(problem, Flavor::Keyward, &id),
    };
    let token = match presented(request.headers()) {
        Ok(t) if t.expose().len() <= MAX_KEY_BYTES => t,
        Ok(_) => return answer(bare(Code::Malformed), params.nginx, now_ms),
        Err(Code::NotFound) => {
            let mut response = answer(bare(Code::NotFound), params.nginx, now_ms);
            set(&mut response, CODE, "MISSING");
            return response;
        }
        Err(code) => return answer(bare(code), params.nginx, now_ms),
    };
    match check(
        state,
        "forward_auth",
        &token,
        Required::Scopes(&params.scopes),
    )
    .await
    {
        Ok(checked) => answer(checked, params.nginx, now_ms),
        Err(e) => refuse(Problem::from_core(&e), Flavor::Keyward, &id),
    }
}

fn bare(code: Code) -> Checked {
    Checked {
        code,
        key: None,
        missing: Vec::new(),
        plan: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scope_headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(SCOPE, HeaderValue::from_str(value).expect("header value"));
        }
        headers
    }

    #[test]
    fn scopes_repeat_and_mode_is_checked() {
        let none = HeaderMap::new();
        let p = params(Some("scope=read&scope=models%3Achat&mode=nginx&x=1"), &none).expect("ok");
        assert_eq!(p.scopes, ["read", "models:chat"]);
        assert!(p.nginx);
        assert_eq!(params(None, &none).expect("ok"), Params::default());
        assert!(params(Some("mode=traefik"), &none).is_err());
        assert!(params(Some("scope=a%20b"), &none).is_err());
    }

    #[test]
    fn scope_headers_are_lists_and_add_to_the_query() {
        let headers = scope_headers(&["read, models:chat", "write,,", "read"]);
        let p = params(Some("scope=admin&scope=write"), &headers).expect("ok");
        assert_eq!(p.scopes, ["admin", "write", "read", "models:chat"]);
        assert_eq!(
            params(None, &headers).expect("ok").scopes,
            ["read", "models:chat", "write"]
        );
        assert!(params(None, &scope_headers(&["read, a b"])).is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(params(None, &scope_headers(&[&many.join(",")])).is_err());
    }

    #[test]
    fn forward_auth_paths() {
        for path in [
            "/v1/forward-auth",
            "/v1/forward-auth/",
            "/v1/forward-auth/a/b",
        ] {
            assert!(is_forward_auth(path), "{path}");
        }
        for path in ["/v1/forward-authx", "/v1/forward", "/v1/verify"] {
            assert!(!is_forward_auth(path), "{path}");
        }
    }

    fn limited() -> Checked {
        Checked {
            code: Code::RateLimited,
            key: None,
            missing: vec![],
            plan: Some(PlanCheck {
                verdict: PlanVerdict::RateLimited {
                    retry_after: Duration::from_millis(1500),
                },
                rate: Some(Window {
                    id: "rl_burst".into(),
                    name: "burst".into(),
                    limit: 100,
                    remaining: 0,
                    window_ms: 60_000,
                    reset_at_ms: chrono::Utc::now().timestamp_millis() + 30_000,
                }),
                quota: None,
            }),
        }
    }

    #[test]
    fn rate_limited_is_429_or_403_for_nginx() {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let r = answer(limited(), false, now_ms);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers()["ratelimit-policy"], "\"burst\";q=100;w=60");
        let limit = r.headers()["ratelimit"].to_str().expect("ascii");
        assert!(limit.starts_with("\"burst\";r=0;t="), "{limit}");
        assert_eq!(r.headers()["x-keyward-code"], "RATE_LIMITED");
        let nginx = answer(limited(), true, now_ms);
        assert_eq!(nginx.status(), StatusCode::FORBIDDEN);
        assert_eq!(nginx.headers()["x-keyward-code"], "RATE_LIMITED");
    }

    #[test]
    fn owner_names_fit_a_header() {
        assert_eq!(encode("Ann Lee"), "Ann Lee");
        assert_eq!(encode("Zoë 100%"), "Zo%C3%AB 100%25");
    }
}
