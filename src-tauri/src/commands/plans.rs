use keyward_core::{NewPlan, Plan, QuotaUsage};
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

#[tauri::command]
pub async fn list_plans(state: State<'_, AppState>) -> IpcResult<Vec<Plan>> {
    Ok(state.store()?.list_plans().await?)
}

#[tauri::command]
pub async fn create_plan(state: State<'_, AppState>, plan: NewPlan) -> IpcResult<Plan> {
    Ok(state.store()?.create_plan(plan).await?)
}

#[tauri::command]
pub async fn update_plan(
    state: State<'_, AppState>,
    name: String,
    plan: NewPlan,
) -> IpcResult<Plan> {
    Ok(state.store()?.update_plan(&name, plan).await?)
}

#[tauri::command]
pub async fn delete_plan(state: State<'_, AppState>, name: String) -> IpcResult<()> {
    Ok(state.store()?.delete_plan(&name).await?)
}

#[tauri::command]
pub async fn set_default_plan(state: State<'_, AppState>, name: String) -> IpcResult<Plan> {
    Ok(state.store()?.set_default_plan(&name).await?)
}

/// The key's use of its plan's quota this period; `None` when the plan has no quota.
#[tauri::command]
pub async fn get_quota_usage(
    state: State<'_, AppState>,
    id: String,
) -> IpcResult<Option<QuotaUsage>> {
    Ok(state.store()?.quota_usage(&id).await?)
}
