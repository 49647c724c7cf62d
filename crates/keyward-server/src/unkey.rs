//! `POST /v2/keys.verifyKey`, wire-compatible with Unkey's v2 endpoint, so Unkey's clients work
//! by changing only their base URL. From Unkey's OpenAPI spec
//! (`svc/api/openapi/spec/paths/v2/keys/verifyKey/*.yaml`) and handler
//! (`svc/api/routes/v2_keys_verify_key/handler.go`):
//!
//! - Request: `key` (1–512 characters) required; `permissions` a query string (1–1000);
//!   `tags`, `credits`, `ratelimits`, `migrationId` accepted and (for now) ignored; `apiId`,
//!   dropped from v2's schema but still sent by older clients, accepted and ignored; any other
//!   field refused (`additionalProperties: false`).
//! - Every verdict is HTTP 200 with `{ meta: { requestId }, data: { valid, code, … } }`. `data`
//!   holds only fields of `V2KeysVerifyKeyResponseData`; as Unkey's handler does, NOT_FOUND
//!   carries `valid` and `code` alone, `expires` (Unix ms) only for a key that expires, `name`
//!   only when not empty, `ratelimits` only when a limit was checked.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::authorize;
use crate::body::read_json;
use crate::check::{check, Checked, Code, Required};
use crate::limiter::Window;
use crate::permissions;
use crate::problem::{unkey_types, Flavor, Problem};
use crate::{refuse, request_id, ServerState};

/// Unkey's `key.maxLength`.
pub const MAX_KEY_LEN: usize = 512;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // Accepted for compatibility; plans may use `credits` and `ratelimits`.
struct VerifyKeyRequest {
    key: String,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(default)]
    api_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    credits: Option<Credits>,
    #[serde(default)]
    ratelimits: Option<Vec<RatelimitRequest>>,
    #[serde(default)]
    migration_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Credits {
    cost: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RatelimitRequest {
    name: String,
    #[serde(default)]
    cost: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    duration: Option<u64>,
}

/// `VerifyKeyRatelimitData`: every field required, nothing else allowed.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RatelimitData {
    pub exceeded: bool,
    pub id: String,
    pub name: String,
    pub limit: u64,
    pub duration: u64,
    pub reset: i64,
    pub remaining: u64,
    pub auto_apply: bool,
}

/// `V2KeysVerifyKeyResponseData`, restricted to what Keyward can fill.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseData {
    pub valid: bool,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimits: Option<Vec<RatelimitData>>,
}

fn ratelimit(window: Window, exceeded: bool) -> RatelimitData {
    RatelimitData {
        exceeded,
        id: window.id,
        name: window.name,
        limit: window.limit,
        duration: window.window_ms,
        reset: window.reset_at_ms,
        remaining: window.remaining,
        auto_apply: true,
    }
}

/// Unkey's `data` for a check.
pub fn response_data(checked: Checked) -> ResponseData {
    let Some(key) = checked.key else {
        return ResponseData {
            valid: false,
            code: checked.code.unkey(),
            key_id: None,
            name: None,
            expires: None,
            credits: None,
            enabled: None,
            permissions: None,
            ratelimits: None,
        };
    };
    let (ratelimits, credits) = match checked.plan {
        Some(plan) => {
            let rate_exceeded = checked.code == Code::RateLimited;
            let credits = plan.quota.as_ref().map(|q| q.remaining);
            let limits: Vec<RatelimitData> = plan
                .rate
                .into_iter()
                .map(|w| ratelimit(w, rate_exceeded))
                .collect();
            ((!limits.is_empty()).then_some(limits), credits)
        }
        None => (None, None),
    };
    ResponseData {
        valid: checked.code == Code::Valid,
        code: checked.code.unkey(),
        key_id: Some(key.id),
        name: (!key.name.is_empty()).then_some(key.name),
        expires: key.expires_at.map(|at| at.timestamp_millis()),
        credits,
        enabled: Some(checked.code != Code::Revoked),
        permissions: Some(key.scopes),
        ratelimits,
    }
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct VerifyKeyResponse<'a> {
    meta: Meta<'a>,
    data: ResponseData,
}

fn validate(request: &VerifyKeyRequest) -> Result<Option<permissions::Query>, Problem> {
    if request.key.is_empty() || request.key.len() > MAX_KEY_LEN {
        return Err(Problem::invalid_field(
            "body.key",
            format!("must be 1 to {MAX_KEY_LEN} characters long"),
        ));
    }
    if let Some(tags) = &request.tags {
        if tags.len() > 20 || tags.iter().any(|t| t.is_empty() || t.len() > 512) {
            return Err(Problem::invalid_field(
                "body.tags",
                "must hold at most 20 tags of 1 to 512 characters",
            ));
        }
    }
    let Some(text) = &request.permissions else {
        return Ok(None);
    };
    if text.is_empty() {
        return Err(Problem::invalid_field(
            "body.permissions",
            "must not be empty",
        ));
    }
    permissions::parse(text).map(Some).map_err(|detail| {
        let mut problem = Problem::invalid_field("body.permissions", detail.clone());
        problem.detail = format!("Syntax error in permission query: {detail}");
        problem.slug = "permissions_query_syntax_error";
        problem.unkey_type = unkey_types::QUERY_SYNTAX;
        problem
    })
}

pub async fn verify_key(State(state): State<ServerState>, request: Request) -> Response {
    let id = request_id(&request);
    let (parts, body) = request.into_parts();
    if let Err(problem) = authorize(&state, &parts.headers).await {
        return refuse(problem, Flavor::Unkey, &id);
    }
    let parsed = read_json::<VerifyKeyRequest>(
        &parts.uri,
        &parts.headers,
        body,
        state.config.max_body_bytes,
    )
    .await
    .and_then(|r| validate(&r).map(|q| (r.key, q)));
    let (key, query) = match parsed {
        Ok(p) => p,
        Err(problem) => return refuse(problem, Flavor::Unkey, &id),
    };
    let token = keyward_core::SecretToken::from(key);
    let required = match &query {
        Some(q) => Required::Query(q),
        None => Required::Scopes(&[]),
    };
    let checked = match check(&state, "v2", &token, required).await {
        Ok(c) => c,
        Err(e) => return refuse(Problem::from_core(&e), Flavor::Unkey, &id),
    };
    Json(VerifyKeyResponse {
        meta: Meta {
            request_id: id.as_str(),
        },
        data: response_data(checked),
    })
    .into_response()
}

/// The names `data` may hold (`V2KeysVerifyKeyResponseData.properties` in Unkey's spec): Unkey's
/// SDKs refuse anything else, so the tests check every answer against this one list.
pub const RESPONSE_DATA_FIELDS: &[&str] = &[
    "valid",
    "code",
    "keyId",
    "name",
    "meta",
    "expires",
    "credits",
    "enabled",
    "permissions",
    "roles",
    "identity",
    "ratelimits",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Whether every field of `data` is one Unkey's schema has.
    fn fits_unkey_schema(data: &Value) -> bool {
        data.as_object().is_some_and(|fields| {
            fields.contains_key("valid")
                && fields.contains_key("code")
                && fields
                    .keys()
                    .all(|k| RESPONSE_DATA_FIELDS.contains(&k.as_str()))
        })
    }
    use crate::limiter::{PlanCheck, PlanVerdict};
    use keyward_core::{Role, VerifiedKey};
    use std::time::Duration;

    fn key() -> VerifiedKey {
        VerifiedKey {
            id: "3fJk9QzP0a".into(),
            name: "ci".into(),
            owner: "alice".into(),
            role: Role::Standard,
            scopes: vec!["read".into()],
            expires_at: chrono::DateTime::from_timestamp_millis(1_735_689_600_000),
            plan: keyward_core::UNLIMITED_PLAN.into(),
            limits: keyward_core::PlanLimits {
                rate_per_second: None,
                burst: None,
                quota: None,
            },
        }
    }

    #[test]
    fn not_found_carries_valid_and_code_alone() {
        for code in [Code::Malformed, Code::NotFound] {
            let data = response_data(Checked {
                code,
                key: None,
                missing: vec![],
                plan: None,
            });
            let json = serde_json::to_value(&data).expect("json");
            assert_eq!(
                json,
                serde_json::json!({ "valid": false, "code": "NOT_FOUND" })
            );
        }
    }

    #[test]
    fn a_revoked_key_is_disabled_with_its_details() {
        let data = response_data(Checked {
            code: Code::Revoked,
            key: Some(key()),
            missing: vec![],
            plan: None,
        });
        let json = serde_json::to_value(&data).expect("json");
        assert_eq!(
            json,
            serde_json::json!({ "valid": false, "code": "DISABLED", "keyId": "3fJk9QzP0a",
                "name": "ci", "expires": 1_735_689_600_000_i64, "enabled": false,
                "permissions": ["read"] })
        );
        assert!(fits_unkey_schema(&json));
    }

    #[test]
    fn rate_limits_use_unix_milliseconds() {
        let window = Window {
            id: "rl_burst_plan".into(),
            name: "burst".into(),
            limit: 10,
            remaining: 0,
            window_ms: 1000,
            reset_at_ms: 1_800_000_000_000,
        };
        let data = response_data(Checked {
            code: Code::RateLimited,
            key: Some(key()),
            missing: vec![],
            plan: Some(PlanCheck {
                verdict: PlanVerdict::RateLimited {
                    retry_after: Duration::from_millis(300),
                },
                rate: Some(window),
                quota: None,
            }),
        });
        let json = serde_json::to_value(&data).expect("json");
        assert_eq!(json["code"], "RATE_LIMITED");
        assert_eq!(
            json["ratelimits"],
            serde_json::json!([{ "exceeded": true, "id": "rl_burst_plan", "name": "burst",
                "limit": 10, "duration": 1000, "reset": 1_800_000_000_000_i64, "remaining": 0,
                "autoApply": true }])
        );
        assert!(fits_unkey_schema(&json));
    }

    #[test]
    fn apiid_is_accepted_and_other_fields_are_not() {
        let ok: Result<VerifyKeyRequest, _> =
            serde_json::from_str(r#"{"key":"k","apiId":"api_1","permissions":"a OR b"}"#);
        assert!(ok.is_ok());
        let bad: Result<VerifyKeyRequest, _> = serde_json::from_str(r#"{"key":"k","scopes":[]}"#);
        assert!(bad.is_err());
    }
}
