use keyward_core::Owner;
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

#[tauri::command]
pub async fn list_owners(state: State<'_, AppState>) -> IpcResult<Vec<Owner>> {
    Ok(state.store()?.list_owners().await?)
}

#[tauri::command]
pub async fn create_owner(state: State<'_, AppState>, name: String) -> IpcResult<Owner> {
    Ok(state.store()?.create_owner(&name).await?)
}

#[tauri::command]
pub async fn rename_owner(
    state: State<'_, AppState>,
    from: String,
    to: String,
) -> IpcResult<Owner> {
    Ok(state.store()?.rename_owner(&from, &to).await?)
}
