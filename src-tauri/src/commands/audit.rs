use std::path::{Path, PathBuf};

use keyward_core::{audit_csv, AuditPage, AuditQuery, Store};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;
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

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }
}

/// Where an export was saved, and how many events it holds.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ExportResult {
    pub path: String,
    pub count: u32,
}

#[tauri::command]
pub async fn audit_page(state: State<'_, AppState>, query: AuditQuery) -> IpcResult<AuditPage> {
    Ok(state.store()?.audit_page(&query).await?)
}

/// Asks where to save (the dialog is opened from Rust, so the window needs no dialog or file
/// permission), then writes every event matching the query's filters there. `None` when the user
/// cancels.
#[tauri::command]
pub async fn export_audit<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    query: AuditQuery,
    format: ExportFormat,
) -> IpcResult<Option<ExportResult>> {
    let store = state.store()?;
    let extension = format.extension();
    let today = store.now().format("%Y-%m-%d");
    // Blocking is fine here: async commands run off the main thread, which shows the dialog.
    let picked = app
        .dialog()
        .file()
        .set_title("Export audit log")
        .set_file_name(format!("keyward-audit-{today}.{extension}"))
        .add_filter(extension.to_uppercase(), &[extension])
        .blocking_save_file();
    let Some(picked) = picked else {
        return Ok(None);
    };
    let path: PathBuf = picked.into_path().map_err(|e| {
        IpcError::new(
            ErrorKind::InvalidInput,
            format!("That location cannot be used: {e}"),
        )
    })?;
    let count = write_audit_export(store, &query, &path, format).await?;
    Ok(Some(ExportResult {
        path: path.display().to_string(),
        count,
    }))
}

/// Writes every event matching the query's filters (paging ignored) to `path`, returning how many.
pub async fn write_audit_export(
    store: &Store,
    query: &AuditQuery,
    path: &Path,
    format: ExportFormat,
) -> IpcResult<u32> {
    let events = store.audit_export(query).await?;
    let text = match format {
        ExportFormat::Csv => audit_csv(&events),
        ExportFormat::Json => serde_json::to_string_pretty(&events)
            .map_err(|e| IpcError::new(ErrorKind::Internal, e.to_string()))?,
    };
    std::fs::write(path, text).map_err(|e| {
        IpcError::new(
            ErrorKind::InvalidInput,
            format!("Could not save {}: {e}", path.display()),
        )
    })?;
    Ok(u32::try_from(events.len()).unwrap_or(u32::MAX))
}
