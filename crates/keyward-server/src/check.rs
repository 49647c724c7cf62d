//! One check of a presented key, shared by every endpoint: the core's verdict, the permissions,
//! then the plan. Nothing here caches anything: the core reads the key's row on every call.

use std::time::Instant;

use keyward_core::token::parse_token;
use keyward_core::{SecretToken, Verdict, VerifiedKey};

use crate::limiter::{PlanCheck, PlanVerdict};
use crate::permissions::Query;
use crate::ServerState;

/// Every answer a check can give, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Valid,
    Malformed,
    NotFound,
    Revoked,
    Expired,
    Forbidden,
    RateLimited,
    UsageExceeded,
}

impl Code {
    pub const ALL: [Code; 8] = [
        Code::Valid,
        Code::Malformed,
        Code::NotFound,
        Code::Revoked,
        Code::Expired,
        Code::Forbidden,
        Code::RateLimited,
        Code::UsageExceeded,
    ];

    /// Keyward's word for it (`/v1/verify`, `X-Keyward-Code`, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::Forbidden => "FORBIDDEN",
            Self::RateLimited => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
        }
    }

    /// Unkey's `data.code`: a malformed key is one that does not exist, a revoked one is
    /// disabled, missing scopes are missing permissions.
    pub fn unkey(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Malformed | Self::NotFound => "NOT_FOUND",
            Self::Revoked => "DISABLED",
            Self::Expired => "EXPIRED",
            Self::Forbidden => "INSUFFICIENT_PERMISSIONS",
            Self::RateLimited => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// What a request requires of the key.
pub enum Required<'a> {
    /// Every one of these scopes (`/v1/verify`, forward-auth).
    Scopes(&'a [String]),
    /// An Unkey permission query.
    Query(&'a Query),
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub code: Code,
    /// The key, for every code but MALFORMED and NOT_FOUND (and a key deleted meanwhile): only
    /// someone holding the whole key ever gets here.
    pub key: Option<VerifiedKey>,
    /// Required scopes the key lacks (FORBIDDEN).
    pub missing: Vec<String>,
    /// The plan's limits (after VALID, RATE_LIMITED or USAGE_EXCEEDED).
    pub plan: Option<PlanCheck>,
}

/// The key behind a token the core refused after reading it (revoked, expired): its id is in
/// the token, so one more read finds it.
async fn key_of(
    state: &ServerState,
    token: &SecretToken,
) -> keyward_core::Result<Option<VerifiedKey>> {
    let Some(id) = parse_token(token.expose()).map(|p| p.id.to_owned()) else {
        return Ok(None);
    };
    state.store.describe_key(&id).await
}

/// Checks `token` against `required`, then the plan, recording the answer in the metrics.
pub async fn check(
    state: &ServerState,
    endpoint: &'static str,
    token: &SecretToken,
    required: Required<'_>,
) -> keyward_core::Result<Checked> {
    let started = Instant::now();
    let result = run(state, token, required).await;
    match &result {
        Ok(checked) => state
            .metrics
            .record(endpoint, checked.code, started.elapsed()),
        Err(_) => state.metrics.record_failure(endpoint),
    }
    result
}

async fn run(
    state: &ServerState,
    token: &SecretToken,
    required: Required<'_>,
) -> keyward_core::Result<Checked> {
    // An AND-only query is a list of required scopes: the core checks it, as for /v1/verify.
    let (scopes, query): (Vec<String>, Option<&Query>) = match required {
        Required::Scopes(list) => (list.to_vec(), None),
        Required::Query(q) => match q.conjunction() {
            Some(list) => (list, None),
            None => (Vec::new(), Some(q)),
        },
    };
    let verdict = state.store.verify(token, &scopes).await?;
    let (code, missing) = match verdict {
        Verdict::Valid { key } => {
            if let Some(q) = query.filter(|q| !q.allows(&key.scopes)) {
                let missing = q
                    .named()
                    .into_iter()
                    .filter(|p| !key.scopes.contains(p))
                    .collect();
                return Ok(Checked {
                    code: Code::Forbidden,
                    key: Some(key),
                    missing,
                    plan: None,
                });
            }
            return plan_step(state, key).await;
        }
        Verdict::Malformed => (Code::Malformed, Vec::new()),
        Verdict::NotFound => (Code::NotFound, Vec::new()),
        Verdict::Revoked => (Code::Revoked, Vec::new()),
        Verdict::Expired => (Code::Expired, Vec::new()),
        Verdict::Forbidden { missing } => (Code::Forbidden, missing),
    };
    let key = match code {
        Code::Malformed | Code::NotFound => None,
        _ => key_of(state, token).await?,
    };
    Ok(Checked {
        code,
        key,
        missing,
        plan: None,
    })
}

async fn plan_step(state: &ServerState, key: VerifiedKey) -> keyward_core::Result<Checked> {
    let plan = state.limiter.check(&key).await?;
    let code = match plan.verdict {
        PlanVerdict::Allowed => Code::Valid,
        PlanVerdict::RateLimited { .. } => Code::RateLimited,
        PlanVerdict::UsageExceeded { .. } => Code::UsageExceeded,
    };
    Ok(Checked {
        code,
        key: Some(key),
        missing: Vec::new(),
        plan: Some(plan),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unkey_codes_follow_the_mapping() {
        let pairs: Vec<(&str, &str)> = Code::ALL.iter().map(|c| (c.as_str(), c.unkey())).collect();
        assert_eq!(
            pairs,
            [
                ("VALID", "VALID"),
                ("MALFORMED", "NOT_FOUND"),
                ("NOT_FOUND", "NOT_FOUND"),
                ("REVOKED", "DISABLED"),
                ("EXPIRED", "EXPIRED"),
                ("FORBIDDEN", "INSUFFICIENT_PERMISSIONS"),
                ("RATE_LIMITED", "RATE_LIMITED"),
                ("USAGE_EXCEEDED", "USAGE_EXCEEDED"),
            ]
        );
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.index(), i);
        }
    }
}
