//! The caller of the verify endpoints and `/metrics`: `Authorization: Bearer <a Keyward key>`
//! holding the reserved scope `keyward:verify`. Unkey's statuses: a missing or malformed header
//! is 400, an unknown (or revoked, expired) key 401, a key without the scope 403.

use axum::http::{header, HeaderMap, StatusCode};
use keyward_core::{SecretToken, Verdict};

use crate::problem::{unkey_types, Problem};
use crate::{ServerState, VERIFY_SCOPE};

/// A key longer than this is not looked at: Keyward keys are under 100 characters.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a presented `Authorization` header gave no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    Malformed,
}

/// The key in `Authorization: Bearer <key>`, as Unkey reads it (`pkg/zen/auth.go`): the
/// header trimmed, the `Bearer ` prefix required, the rest trimmed and not empty.
pub fn bearer(headers: &HeaderMap) -> Result<SecretToken, BearerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(BearerError::Missing);
    };
    let text = value.to_str().map_err(|_| BearerError::Malformed)?.trim();
    if text.is_empty() {
        return Err(BearerError::Missing);
    }
    let rest = text
        .strip_prefix("Bearer ")
        .ok_or(BearerError::Malformed)?
        .trim();
    if rest.is_empty() {
        return Err(BearerError::Malformed);
    }
    Ok(SecretToken::from(rest.to_owned()))
}

/// Checks the caller's own key; `Ok` when it may verify keys.
pub async fn authorize(state: &ServerState, headers: &HeaderMap) -> Result<(), Problem> {
    let root = bearer(headers).map_err(|e| match e {
        BearerError::Missing => Problem::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "authorization_missing",
            unkey_types::AUTH_MISSING,
            "Send your service's own Keyward key as `Authorization: Bearer <key>`; it needs \
             the scope keyward:verify.",
        ),
        BearerError::Malformed => Problem::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "authorization_malformed",
            unkey_types::AUTH_MALFORMED,
            "Your authorization header is not `Bearer <key>`.",
        ),
    })?;
    let unknown = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "unknown_root_key",
            unkey_types::KEY_NOT_FOUND,
            "The key in the Authorization header is not a valid Keyward key (unknown, revoked \
             or expired).",
        )
    };
    if root.expose().len() > MAX_KEY_BYTES {
        return Err(unknown());
    }
    let required = [VERIFY_SCOPE.to_owned()];
    match state.store.verify(&root, &required).await {
        Ok(Verdict::Valid { .. }) => Ok(()),
        Ok(Verdict::Forbidden { .. }) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Insufficient Permissions",
            "root_key_not_allowed",
            unkey_types::INSUFFICIENT_PERMISSIONS,
            format!(
                "The key in the Authorization header lacks the scope {VERIFY_SCOPE}, which \
                 checking keys requires. An admin can add it to that key."
            ),
        )),
        Ok(_) => Err(unknown()),
        Err(e) => Err(Problem::from_core(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn bearer_reads_like_unkey() {
        assert_eq!(bearer(&HeaderMap::new()).err(), Some(BearerError::Missing));
        assert_eq!(bearer(&with("   ")).err(), Some(BearerError::Missing));
        assert_eq!(
            bearer(&with("Basic abc")).err(),
            Some(BearerError::Malformed)
        );
        assert_eq!(
            bearer(&with("bearer abc")).err(),
            Some(BearerError::Malformed)
        );
        assert_eq!(
            bearer(&with("Bearer    ")).err(),
            Some(BearerError::Malformed)
        );
        let token = bearer(&with("  Bearer  kw_x  ")).expect("token");
        assert_eq!(token.expose(), "kw_x");
    }
}
