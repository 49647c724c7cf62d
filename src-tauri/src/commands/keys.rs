use keyward_core::{
    AuditEvent, CreatedKey, KeyPage, KeySummary, KeyUpdate, ListQuery, NameCheck, NewKey,
    RevokeOutcome,
};
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

#[tauri::command]
pub async fn list_keys(state: State<'_, AppState>, query: ListQuery) -> IpcResult<KeyPage> {
    Ok(state.store()?.list_keys(&query).await?)
}

#[tauri::command]
pub async fn get_key(state: State<'_, AppState>, id: String) -> IpcResult<KeySummary> {
    Ok(state.store()?.get_key(&id).await?)
}

/// The core's answer about a key name as it is typed (no store needed, so it answers even when
/// the database cannot be opened).
#[tauri::command]
pub async fn check_name(name: String) -> NameCheck {
    NameCheck::key(&name)
}

#[tauri::command]
pub async fn create_key(state: State<'_, AppState>, input: NewKey) -> IpcResult<CreatedKey> {
    let created = state.store()?.create_key(input).await?;
    state.clipboard.remember(created.token.expose());
    Ok(created)
}

#[tauri::command]
pub async fn revoke_keys(state: State<'_, AppState>, ids: Vec<String>) -> IpcResult<RevokeOutcome> {
    Ok(state.store()?.revoke_keys(&ids).await?)
}

#[tauri::command]
pub async fn delete_keys(state: State<'_, AppState>, ids: Vec<String>) -> IpcResult<u32> {
    Ok(state.store()?.delete_keys(&ids).await?)
}

#[tauri::command]
pub async fn update_key(
    state: State<'_, AppState>,
    id: String,
    update: KeyUpdate,
) -> IpcResult<KeySummary> {
    Ok(state.store()?.update_key(&id, update).await?)
}

/// One key's audit history, oldest first.
#[tauri::command]
pub async fn key_history(state: State<'_, AppState>, id: String) -> IpcResult<Vec<AuditEvent>> {
    Ok(state.store()?.audit_events(Some(&id)).await?)
}
