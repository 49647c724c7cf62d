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
        use keyward_core::Error as E;
        match error {
            E::InvalidInput(message) => Self::new(ErrorKind::InvalidInput, message),
            e @ (E::OwnerNotFound(_) | E::KeyRevoked) => {
                Self::new(ErrorKind::InvalidInput, e.to_string())
            }
            e @ E::LimitReached { .. } => Self::new(ErrorKind::LimitReached, e.to_string()),
            e @ E::ReadOnly(_) => Self::new(ErrorKind::ReadOnly, e.to_string()),
            e @ E::KeyNotFound(_) => Self::new(ErrorKind::NotFound, e.to_string()),
            E::Unavailable(message) => Self::new(ErrorKind::DatabaseUnavailable, message),
            // The banner shows the message and the app stays usable, as for any other failure;
            // only the words are more helpful than the generic ones.
            E::TryAgain(message) => Self::new(ErrorKind::Internal, message),
            // The database refused the operator's login (PostgreSQL roles and row policies):
            // its words, in the banner. The UI hides what the role may not do beforehand.
            E::NotPermitted(message) => Self::new(ErrorKind::Internal, message),
            other => {
                crate::log(&other);
                Self::new(
                    ErrorKind::Internal,
                    "Something went wrong while saving or reading keys. Nothing was changed; \
                     try again.",
                )
            }
        }
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
