//! What the commands share: the store (or why it could not be opened) and the clipboard watch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use keyward_core::{fingerprint, DbLocation, Fingerprint, Store};

use crate::error::{ErrorKind, IpcError, IpcResult};

pub struct AppState {
    /// `Err` holds the plain-words reason the database could not be opened; the UI shows it.
    store: Result<Store, String>,
    pub location: DbLocation,
    pub clipboard: ClipboardWatch,
    /// A new key's secret is on screen (the UI says so): closing the window asks first.
    secret_on_screen: AtomicBool,
    /// Closing was already refused once for the key on screen: the next close goes through.
    close_refused: AtomicBool,
}

impl AppState {
    /// `clear_after_override` replaces the clipboard delay from Settings (the tests shorten it).
    pub fn new(
        store: Result<Store, String>,
        location: DbLocation,
        clear_after_override: Option<u64>,
    ) -> Self {
        Self {
            store,
            location,
            clipboard: ClipboardWatch::new(clear_after_override),
            secret_on_screen: AtomicBool::new(false),
            close_refused: AtomicBool::new(false),
        }
    }

    pub fn set_secret_on_screen(&self, shown: bool) {
        self.secret_on_screen.store(shown, Ordering::Relaxed);
        self.close_refused.store(false, Ordering::Relaxed);
    }

    /// Whether closing the window now should be refused so the UI can ask about the key on
    /// screen. Only the first time: closing again is the answer, and a page that cannot ask
    /// (hung, or broken) must never make the window impossible to close.
    pub fn refuse_close_for_secret(&self) -> bool {
        self.secret_on_screen.load(Ordering::Relaxed)
            && !self.close_refused.swap(true, Ordering::Relaxed)
    }

    /// Seconds before a copied key is cleared from the clipboard: Settings, unless overridden.
    pub async fn clipboard_clear_secs(&self) -> u64 {
        if let Some(secs) = self.clipboard.clear_after_override {
            return secs;
        }
        match self.store() {
            Ok(store) => store.settings().await.map_or(
                u64::from(keyward_core::DEFAULT_CLIPBOARD_CLEAR_SECONDS),
                |s| u64::from(s.clipboard_clear_seconds),
            ),
            Err(_) => u64::from(keyward_core::DEFAULT_CLIPBOARD_CLEAR_SECONDS),
        }
    }

    pub fn store(&self) -> IpcResult<&Store> {
        self.store
            .as_ref()
            .map_err(|reason| IpcError::new(ErrorKind::DatabaseUnavailable, reason.clone()))
    }

    pub fn database_error(&self) -> Option<String> {
        self.store.as_ref().err().cloned()
    }
}

/// Remembers SHA-256 fingerprints of the secrets this session has shown, so the clipboard can be
/// cleared later only if it still holds one of them, without keeping any secret in memory.
pub struct ClipboardWatch {
    fingerprints: Mutex<Vec<Fingerprint>>,
    clear_after_override: Option<u64>,
}

impl ClipboardWatch {
    fn new(clear_after_override: Option<u64>) -> Self {
        Self {
            fingerprints: Mutex::new(Vec::new()),
            clear_after_override,
        }
    }

    pub fn remember(&self, secret: &str) {
        let print = fingerprint(secret);
        self.fingerprints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(print);
    }

    pub fn holds_secret(&self, clipboard_text: &str) -> bool {
        let print = fingerprint(clipboard_text);
        self.fingerprints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&print)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AppState {
        let location = DbLocation {
            path: "unused.db".into(),
            is_default: false,
        };
        AppState::new(Err("not opened".into()), location, None)
    }

    #[test]
    fn closing_is_refused_once_per_key_on_screen_and_never_without_one() {
        let state = state();
        assert!(!state.refuse_close_for_secret(), "no key on screen");
        state.set_secret_on_screen(true);
        assert!(state.refuse_close_for_secret(), "the first close asks");
        assert!(!state.refuse_close_for_secret(), "closing again closes");
        state.set_secret_on_screen(false);
        assert!(!state.refuse_close_for_secret(), "the key was put away");
        state.set_secret_on_screen(true);
        assert!(state.refuse_close_for_secret(), "a new key asks again");
    }
}
