use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::error::IpcResult;
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
    /// Who makes the changes: the operating-system user on SQLite, the database login on
    /// PostgreSQL. Owns keys created without choosing an owner.
    pub current_user: String,
    /// Which engine holds the keys: from the location itself, so it is known (and the error
    /// screen can speak of a server or a file) even when the database could not be opened.
    pub backend: keyward_core::BackendKind,
    /// What the operator may do, as the database enforces it (`None` when it could not be read).
    pub operator_role: Option<keyward_core::OperatorRole>,
    /// What the UI offers this operator, decided from the role: the UI hides the rest and shows
    /// why, and reads nothing else to decide.
    pub permissions: keyward_core::Permissions,
    /// The list as the window first shows it ([`first_page_query`]), answered here so the first
    /// page does not wait for another call after this one; `None` when it could not be read
    /// (the list then asks, and shows why).
    pub first_page: Option<keyward_core::KeyPage>,
}

/// The Keys screen's first request: no search or filter, newest first, one page of the UI's
/// size (`PAGE_SIZE` in the generated `ui/src/bindings/rules.ts`).
pub fn first_page_query() -> keyward_core::ListQuery {
    keyward_core::ListQuery {
        limit: keyward_core::DEFAULT_PAGE_SIZE,
        ..keyward_core::ListQuery::default()
    }
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
    let operator_role = match state.store() {
        Ok(store) => store.operator_role().await.ok(),
        Err(_) => None,
    };
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        database_path: state.location.shown(),
        database_error: state.database_error(),
        clipboard_clear_seconds: u32::try_from(state.clipboard_clear_secs().await)
            .unwrap_or(u32::MAX),
        read_only: state.store().is_ok_and(|store| store.is_read_only()),
        current_user: state.store().map_or_else(
            |_| keyward_core::current_os_user(),
            |store| store.actor().to_owned(),
        ),
        // From the location, so it is known whether or not the database opened.
        backend: keyward_store::Location::of(&state.location.path).kind(),
        operator_role,
        permissions: keyward_core::Permissions::of(operator_role),
        first_page: match state.store() {
            Ok(store) => store.list_keys(&first_page_query()).await.ok(),
            Err(_) => None,
        },
    })
}

/// A number that changes whenever anyone commits a change to the keys, owners, plans or
/// settings (another administrator, the CLI, this window). The UI polls it while visible and
/// reloads what it shows when it moves; `null` when the database cannot tell.
#[tauri::command]
pub async fn change_counter(state: State<'_, AppState>) -> IpcResult<Option<u64>> {
    Ok(state.store()?.change_counter().await?)
}
