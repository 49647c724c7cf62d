use std::path::PathBuf;

use keyward_core::{audit_csv, AuditPage, AuditQuery};
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

use crate::error::{ErrorKind, IpcError, IpcResult};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[tauri::command]
pub async fn audit_page(state: State<'_, AppState>, query: AuditQuery) -> IpcResult<AuditPage> {
    Ok(state.store()?.audit_page(&query).await?)
}

/// Writes every event matching the query's filters to `path` (chosen in the save dialog), and
/// returns how many were written.
#[tauri::command]
pub async fn export_audit(
    state: State<'_, AppState>,
    query: AuditQuery,
    path: PathBuf,
    format: ExportFormat,
) -> IpcResult<u32> {
    let events = state.store()?.audit_export(&query).await?;
    let text = match format {
        ExportFormat::Csv => audit_csv(&events),
        ExportFormat::Json => serde_json::to_string_pretty(&events)
            .map_err(|e| IpcError::new(ErrorKind::Internal, e.to_string()))?,
    };
    std::fs::write(&path, text).map_err(|e| {
        IpcError::new(
            ErrorKind::InvalidInput,
            format!("Could not save {}: {e}", path.display()),
        )
    })?;
    Ok(u32::try_from(events.len()).unwrap_or(u32::MAX))
}
