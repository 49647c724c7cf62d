//! Error bodies. Keyward's own endpoints answer `{ "error": { title, detail, status, type } }`
//! (RFC 9457 problem details, wrapped); the Unkey-compatible endpoint answers Unkey's envelope
//! `{ "meta": { "requestId" }, "error": { title, detail, status, type, errors? } }`, with the
//! `errors` list Unkey's `BadRequestErrorDetails` requires on 400, 408 and 413.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::RequestId;

/// Which envelope an error is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Keyward,
    Unkey,
}

/// One field that failed validation (Unkey's `ValidationError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub location: String,
    pub message: String,
}

/// A refused or failed request: the status, a short title, the plain words and a stable type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
    /// Keyward's own problem type (`urn:keyward:problem:<slug>`), used on Keyward's endpoints.
    pub slug: &'static str,
    /// Unkey's error type, a documentation URL, used on the Unkey endpoint.
    pub unkey_type: &'static str,
    pub errors: Vec<FieldError>,
    /// Seconds to send as `Retry-After` (503 for a passing database condition).
    pub retry_after: Option<u64>,
}

/// Unkey's documentation URL for an error code (`pkg/codes/codes.go`, `Code.DocsURL`).
pub mod unkey_types {
    pub const INVALID_INPUT: &str = "https://unkey.com/docs/errors/unkey/application/invalid_input";
    pub const BODY_UNREADABLE: &str =
        "https://unkey.com/docs/errors/user/bad_request/request_body_unreadable";
    pub const BODY_TOO_LARGE: &str =
        "https://unkey.com/docs/errors/user/bad_request/request_body_too_large";
    pub const QUERY_SYNTAX: &str =
        "https://unkey.com/docs/errors/user/bad_request/permissions_query_syntax_error";
    pub const AUTH_MISSING: &str = "https://unkey.com/docs/errors/unkey/authentication/missing";
    pub const AUTH_MALFORMED: &str = "https://unkey.com/docs/errors/unkey/authentication/malformed";
    pub const KEY_NOT_FOUND: &str =
        "https://unkey.com/docs/errors/unkey/authentication/key_not_found";
    pub const INSUFFICIENT_PERMISSIONS: &str =
        "https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions";
    pub const NOT_FOUND: &str = "https://unkey.com/docs/errors/unkey/data/route_not_found";
    pub const UNEXPECTED: &str = "https://unkey.com/docs/errors/unkey/application/unexpected_error";
    pub const UNAVAILABLE: &str =
        "https://unkey.com/docs/errors/unkey/application/service_unavailable";
}

impl Problem {
    pub fn new(
        status: StatusCode,
        title: &'static str,
        slug: &'static str,
        unkey_type: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            slug,
            unkey_type,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A request whose body or query could not be accepted: 400.
    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        let unkey_type = if slug == "unreadable_body" {
            unkey_types::BODY_UNREADABLE
        } else {
            unkey_types::INVALID_INPUT
        };
        Self::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            slug,
            unkey_type,
            detail,
        )
    }

    /// A 400 naming the field at fault (`body.key`).
    pub fn invalid_field(location: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::bad_request("invalid_input", format!("{location}: {message}"));
        problem.errors.push(FieldError {
            location: location.to_owned(),
            message,
        });
        problem
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large",
            "body_too_large",
            unkey_types::BODY_TOO_LARGE,
            format!("The request body is larger than {limit} bytes."),
        )
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "not_found",
            unkey_types::NOT_FOUND,
            format!("There is nothing at {path}."),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "method_not_allowed",
            unkey_types::INVALID_INPUT,
            format!("{path} does not answer {method}."),
        )
    }

    /// What the core said when the database could not answer: its own plain words.
    pub fn from_core(error: &keyward_core::Error) -> Self {
        use keyward_core::ErrorKind;
        match error.kind() {
            ErrorKind::TryAgain => {
                let mut problem = Self::unavailable(error.to_string());
                problem.retry_after = Some(1);
                problem
            }
            ErrorKind::Unavailable => Self::unavailable(error.to_string()),
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "internal",
                unkey_types::UNEXPECTED,
                error.to_string(),
            ),
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "database_unavailable",
            unkey_types::UNAVAILABLE,
            detail,
        )
    }

    /// The JSON body in `flavor`'s envelope.
    pub fn body(&self, flavor: Flavor, request_id: &RequestId) -> Value {
        match flavor {
            Flavor::Keyward => json!({
                "error": {
                    "title": self.title,
                    "detail": self.detail,
                    "status": self.status.as_u16(),
                    "type": format!("urn:keyward:problem:{}", self.slug),
                }
            }),
            Flavor::Unkey => {
                let mut error = json!({
                    "title": self.title,
                    "detail": self.detail,
                    "status": self.status.as_u16(),
                    "type": self.unkey_type,
                });
                // BadRequestErrorDetails (400, and Unkey's 408 and 413) requires `errors`.
                if matches!(self.status.as_u16(), 400 | 408 | 413) {
                    error["errors"] = json!(self.errors);
                }
                json!({ "meta": { "requestId": request_id.as_str() }, "error": error })
            }
        }
    }

    pub fn into_response(self, flavor: Flavor, request_id: &RequestId) -> Response {
        let body = self.body(flavor, request_id);
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A problem with the envelope already chosen, for handlers to return with `?`.
#[derive(Debug)]
pub struct Refusal {
    pub problem: Problem,
    pub flavor: Flavor,
    pub request_id: RequestId,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if self.problem.status.is_server_error() {
            crate::log(&format!(
                "{} {}: {}",
                self.request_id.as_str(),
                self.problem.status.as_u16(),
                self.problem.detail
            ));
        }
        self.problem.into_response(self.flavor, &self.request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> RequestId {
        RequestId("req_test".into())
    }

    #[test]
    fn keyward_bodies_hold_exactly_the_four_fields() {
        let body = Problem::bad_request("bad_json", "not JSON").body(Flavor::Keyward, &id());
        assert_eq!(
            body,
            json!({ "error": { "title": "Bad Request", "detail": "not JSON", "status": 400,
                               "type": "urn:keyward:problem:bad_json" } })
        );
    }

    #[test]
    fn unkey_bodies_follow_its_envelope() {
        let body = Problem::invalid_field("body.key", "is required").body(Flavor::Unkey, &id());
        assert_eq!(body["meta"], json!({ "requestId": "req_test" }));
        assert_eq!(body["error"]["status"], 400);
        assert_eq!(body["error"]["type"], unkey_types::INVALID_INPUT);
        assert_eq!(
            body["error"]["errors"],
            json!([{ "location": "body.key", "message": "is required" }])
        );
        // 401 and 403 use BaseError, which has no `errors` and allows no other field.
        let unauthorized = Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "unknown_root_key",
            unkey_types::KEY_NOT_FOUND,
            "no",
        )
        .body(Flavor::Unkey, &id());
        let fields: Vec<&String> = unauthorized["error"]
            .as_object()
            .expect("object")
            .keys()
            .collect();
        assert_eq!(fields, ["detail", "status", "title", "type"]);
    }

    #[test]
    fn core_errors_keep_their_words() {
        let busy = Problem::from_core(&keyward_core::Error::TryAgain("wait".into()));
        assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.detail, "wait");
        assert_eq!(busy.retry_after, Some(1));
        let gone = Problem::from_core(&keyward_core::Error::Unavailable("damaged".into()));
        assert_eq!(gone.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(gone.retry_after, None);
        let other = Problem::from_core(&keyward_core::Error::Hashing("x".into()));
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
