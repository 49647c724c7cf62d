//! The one error shape that crosses IPC: `{ kind, message }`. A kind exists only where the UI
//! does something different for it; everything else is `internal`, with details logged here.

use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorKind {
    /// The form shows the message next to the field; nothing was stored.
    InvalidInput,
    /// The key is gone (deleted elsewhere): the UI refreshes the list.
    NotFound,
    /// The owner is at the active-key limit: the UI explains and offers the admin override.
    LimitReached,
    /// The database opened read-only: the UI disables every change and says why.
    ReadOnly,
    /// The database cannot be used at all: the UI shows a full-screen explanation.
    DatabaseUnavailable,
    Internal,
}

#[cfg(test)]
impl ErrorKind {
    /// Every kind, for the UI's check of what it is given (`ERROR_KINDS` in the generated
    /// `ui/src/bindings/rules.ts`). The match below fails to compile when a kind is added here
    /// and not there.
    pub const ALL: [ErrorKind; 6] = [
        Self::InvalidInput,
        Self::NotFound,
        Self::LimitReached,
        Self::ReadOnly,
        Self::DatabaseUnavailable,
        Self::Internal,
    ];

    pub(crate) fn listed(self) -> bool {
        match self {
            Self::InvalidInput
            | Self::NotFound
            | Self::LimitReached
            | Self::ReadOnly
            | Self::DatabaseUnavailable
            | Self::Internal => Self::ALL.contains(&self),
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct IpcError {
    pub kind: ErrorKind,
    pub message: String,
}

impl IpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<keyward_core::Error> for IpcError {
    fn from(error: keyward_core::Error) -> Self {
        use keyward_core::ErrorKind as Core;
        let kind = match error.kind() {
            Core::InvalidInput | Core::Conflict => ErrorKind::InvalidInput,
            Core::LimitReached => ErrorKind::LimitReached,
            Core::ReadOnly => ErrorKind::ReadOnly,
            Core::NotFound => ErrorKind::NotFound,
            Core::Unavailable => ErrorKind::DatabaseUnavailable,
            // The banner shows the core's words and the app stays usable, as for any other
            // failure: a passing condition (try again), or the database refusing the operator's
            // login (PostgreSQL roles; the UI hides what the role may not do beforehand).
            Core::TryAgain | Core::NotPermitted => ErrorKind::Internal,
            Core::Internal => {
                crate::log(&error);
                return Self::new(
                    ErrorKind::Internal,
                    "Something went wrong while saving or reading keys. Nothing was changed; \
                     try again.",
                );
            }
        };
        Self::new(kind, error.to_string())
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
