//! The Server screen: start and stop a verify server in this app, and see every server on this
//! database (the app's own, and `keyward-cli serve` in other processes).

use keyward_core::servers::VerifyServer;
use serde::Serialize;
use tauri::{Manager, State};
use ts_rs::TS;

use crate::error::IpcResult;
use crate::state::{exposure_warning, parse_listen, AppState};

/// What the Server screen shows.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ServerStatus {
    /// The server this app started, with its verifications by code; `None` when not running.
    pub running: Option<VerifyServer>,
    /// Its warning when other machines can reach it (keys in plain HTTP).
    pub warning: Option<String>,
    /// Servers on this database in other processes (`keyward-cli serve`, a systemd unit), seen
    /// in the last 15 seconds. The app cannot stop them.
    pub others: Vec<VerifyServer>,
    /// Where a server listens unless told otherwise (`127.0.0.1:8787`).
    pub default_listen: String,
}

/// The core's reading of an address as it is typed: where a server would listen, or the problem
/// with it, and the exposure warning to show before starting there.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ListenCheck {
    pub address: Option<String>,
    pub problem: Option<String>,
    pub warning: Option<String>,
}

#[tauri::command]
pub fn check_listen(listen: String) -> ListenCheck {
    let parsed = parse_listen(&listen);
    ListenCheck {
        address: parsed.as_ref().ok().map(ToString::to_string),
        warning: parsed.as_ref().ok().and_then(|a| exposure_warning(*a)),
        problem: parsed.err(),
    }
}

/// Starts a server on the open database at `listen` (default 127.0.0.1:8787). An address other
/// machines can reach needs `allow_exposed`, sent once the UI has shown the warning.
#[tauri::command]
pub async fn start_server(
    state: State<'_, AppState>,
    listen: Option<String>,
    allow_exposed: Option<bool>,
) -> IpcResult<ServerStatus> {
    let listen = listen.unwrap_or_default();
    (state.server)
        .start(state.store()?, &listen, allow_exposed == Some(true))
        .await?;
    status(&state).await
}

/// Stops the app's server gracefully: requests in flight finish first.
#[tauri::command]
pub async fn stop_server(state: State<'_, AppState>) -> IpcResult<ServerStatus> {
    state.server.stop().await;
    status(&state).await
}

#[tauri::command]
pub async fn server_status(state: State<'_, AppState>) -> IpcResult<ServerStatus> {
    status(&state).await
}

/// The app's own server, from its counters, and the others from the core's registry, where
/// every running server reports itself (the app's own too, under this process's id).
async fn status(state: &AppState) -> IpcResult<ServerStatus> {
    let others = state.store()?.verify_servers().await?;
    let running = state.server.status().await;
    Ok(ServerStatus {
        warning: running
            .as_ref()
            .and_then(|s| exposure_warning(s.address.parse().ok()?)),
        running,
        others: others
            .into_iter()
            .filter(|s| s.pid != std::process::id())
            .collect(),
        default_listen: keyward_server::DEFAULT_LISTEN.to_string(),
    })
}

/// Stops the app's server, letting requests in flight finish: when the app quits and when its
/// window closes. Waits at most a few seconds.
pub fn stop_on_exit<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let state = app.state::<AppState>();
    tauri::async_runtime::block_on(state.server.stop());
}
