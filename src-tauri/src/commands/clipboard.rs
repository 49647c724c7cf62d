use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::state::AppState;

/// Clears the clipboard if it still holds a secret this session showed. Something the user
/// copied since then is left alone.
pub fn clear_if_secret<R: Runtime>(app: &AppHandle<R>) -> bool {
    let state = app.state::<AppState>();
    let holds_secret = app
        .clipboard()
        .read_text()
        .is_ok_and(|text| state.clipboard.holds_secret(&text));
    holds_secret && app.clipboard().clear().is_ok()
}

/// The UI calls this right after it copied a key: the clipboard is checked and cleared once the
/// configured number of seconds has passed.
#[tauri::command]
pub async fn clipboard_copied<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<(), ()> {
    let delay = Duration::from_secs(state.clipboard_clear_secs().await);
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(delay).await;
        clear_if_secret(&app);
    });
    Ok(())
}
