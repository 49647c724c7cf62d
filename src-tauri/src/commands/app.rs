use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::state::AppState;

/// What the UI needs at start-up: where the data is, and whether it could be opened.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    pub database_path: String,
    /// Why the database could not be opened, in plain words; the UI shows it full-screen.
    pub database_error: Option<String>,
    pub clipboard_clear_seconds: u32,
    /// The database could only be opened read-only (the file or its folder cannot be written):
    /// the UI shows why and disables every change. Listing and checking keys still work.
    pub read_only: bool,
    /// The operating-system user, who owns keys created without choosing an owner.
    pub current_user: String,
}

/// Ctrl+Q. Quits the way closing the window does, so the clipboard is cleared on the way out.
#[tauri::command]
pub fn quit_app<R: tauri::Runtime>(app: tauri::AppHandle<R>) {
    app.exit(0);
}

/// The UI says whether a new key's secret is on screen; while it is, closing the window asks
/// "you won't see it again" instead of closing (see `lib.rs`).
#[tauri::command]
pub fn secret_on_screen(state: State<'_, AppState>, shown: bool) {
    state.set_secret_on_screen(shown);
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, ()> {
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        database_path: state.location.path.display().to_string(),
        database_error: state.database_error(),
        clipboard_clear_seconds: u32::try_from(state.clipboard_clear_secs().await)
            .unwrap_or(u32::MAX),
        read_only: state.store().is_ok_and(|store| store.is_read_only()),
        current_user: keyward_core::current_os_user(),
    })
}
