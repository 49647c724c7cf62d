//! `POST /v1/verify`: Keyward's own answer. Always HTTP 200 with the verdict for a well-formed
//! request from an allowed caller:
//!
//! ```json
//! { "request_id": "req_…", "valid": true, "code": "VALID",
//!   "key": { "id", "name", "owner", "role", "scopes", "expires_at" },
//!   "missing_scopes": [], "rate": null, "quota": null }
//! ```
//!
//! `key` is `null` for MALFORMED and NOT_FOUND; `rate` and `quota` (`limit`, `remaining`,
//! `reset_at`) are filled by a usage plan.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use keyward_core::{validate_scope, SecretToken, VerifiedKey};
use serde::{Deserialize, Serialize};

use crate::auth::{authorize, MAX_KEY_BYTES};
use crate::body::read_json;
use crate::check::{check, Required};
use crate::limiter::Window;
use crate::problem::{Flavor, Problem};
use crate::{refuse, request_id, ServerState};

/// At most this many required scopes in one request.
pub const MAX_SCOPES: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    key: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct KeyOut {
    id: String,
    name: String,
    owner: String,
    role: keyward_core::Role,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<VerifiedKey> for KeyOut {
    fn from(key: VerifiedKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            owner: key.owner,
            role: key.role,
            scopes: key.scopes,
            expires_at: key.expires_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct WindowOut {
    limit: u64,
    remaining: u64,
    reset_at: Option<DateTime<Utc>>,
}

impl From<Window> for WindowOut {
    fn from(w: Window) -> Self {
        Self {
            limit: w.limit,
            remaining: w.remaining,
            reset_at: Utc.timestamp_millis_opt(w.reset_at_ms).single(),
        }
    }
}

#[derive(Debug, Serialize)]
struct VerifyResponse {
    request_id: String,
    valid: bool,
    code: &'static str,
    key: Option<KeyOut>,
    missing_scopes: Vec<String>,
    rate: Option<WindowOut>,
    quota: Option<WindowOut>,
}

/// Checks what a request asks for before anything is verified.
fn validate(request: &VerifyRequest) -> Result<(), Problem> {
    if request.key.len() > MAX_KEY_BYTES {
        return Err(Problem::invalid_field(
            "body.key",
            format!(
                "is {} bytes long; a Keyward key is under 100, and nothing over {MAX_KEY_BYTES} \
                 is checked",
                request.key.len()
            ),
        ));
    }
    if request.scopes.len() > MAX_SCOPES {
        return Err(Problem::invalid_field(
            "body.scopes",
            format!("has {} scopes; at most {MAX_SCOPES}", request.scopes.len()),
        ));
    }
    for (i, scope) in request.scopes.iter().enumerate() {
        if validate_scope(scope).is_err() {
            return Err(Problem::invalid_field(
                &format!("body.scopes[{i}]"),
                "is not a scope: use 1 to 64 letters, digits, ':', '.', '_' or '-'",
            ));
        }
    }
    Ok(())
}

pub async fn verify(State(state): State<ServerState>, request: Request) -> Response {
    let id = request_id(&request);
    let (parts, body) = request.into_parts();
    if let Err(problem) = authorize(&state, &parts.headers).await {
        return refuse(problem, Flavor::Keyward, &id);
    }
    let parsed = read_json::<VerifyRequest>(
        &parts.uri,
        &parts.headers,
        body,
        state.config.max_body_bytes,
    )
    .await
    .and_then(|r| validate(&r).map(|()| r));
    let request = match parsed {
        Ok(r) => r,
        Err(problem) => return refuse(problem, Flavor::Keyward, &id),
    };
    let token = SecretToken::from(request.key);
    let checked = match check(&state, "v1", &token, Required::Scopes(&request.scopes)).await {
        Ok(c) => c,
        Err(e) => return refuse(Problem::from_core(&e), Flavor::Keyward, &id),
    };
    let (rate, quota) = match checked.plan {
        Some(plan) => (plan.rate.map(Into::into), plan.quota.map(Into::into)),
        None => (None, None),
    };
    Json(VerifyResponse {
        request_id: id.as_str().to_owned(),
        valid: checked.code == crate::check::Code::Valid,
        code: checked.code.as_str(),
        key: checked.key.map(Into::into),
        missing_scopes: checked.missing,
        rate,
        quota,
    })
    .into_response()
}
