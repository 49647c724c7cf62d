//! The desktop shell: opens the store, registers the commands, runs the window.

// The app logs through `log`, which never panics; `eprintln!` panics when standard error cannot
// be written (a launcher that closed it, a full disk).
#![deny(clippy::print_stderr)]

pub mod commands;
mod error;
// Only writes ui/src/bindings/rules.ts, from its test.
#[cfg(test)]
mod rules;
mod state;

use keyward_core::resolve_db_location;
use tauri::{Manager, RunEvent};

pub use error::{ErrorKind, IpcError};
pub use state::AppState;

/// Writes one line of the app's log to standard error. A standard error that cannot be written
/// loses the line; the app carries on.
pub(crate) fn log(message: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "keyward: {message}");
}

/// `KEYWARD_CLIPBOARD_CLEAR_SECS` replaces the clipboard delay from Settings, so the real-window
/// tests need not wait 30 s.
fn clipboard_clear_override() -> Option<u64> {
    std::env::var("KEYWARD_CLIPBOARD_CLEAR_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&secs| secs > 0)
}

/// Opens the database named by `KEYWARD_DB`, or the default one. A failure does not stop the app:
/// it is kept and shown to the user, so there is never a blank window.
pub async fn open_state() -> AppState {
    let location = resolve_db_location(None);
    let store = match location.prepare() {
        Err(e) => Err(IpcError::new(
            ErrorKind::DatabaseUnavailable,
            format!(
                "The folder for the key database, {}, could not be created: {e}",
                location.shown()
            ),
        )),
        // Whatever the failure, the database cannot be used: the full-screen explanation, in
        // the core's words (a refused login, a server that cannot be reached, a newer schema).
        Ok(()) => keyward_store::open(&location.path)
            .await
            .map_err(|e| IpcError::new(ErrorKind::DatabaseUnavailable, e.to_string())),
    };
    if let Err(reason) = &store {
        log(&reason.message);
    }
    AppState::new(store, location, clipboard_clear_override())
}

/// Adds Keyward's plugins, state and commands to `base` (the real builder, or Tauri's mock one in
/// tests).
pub fn builder<R: tauri::Runtime>(base: tauri::Builder<R>, state: AppState) -> tauri::Builder<R> {
    base.plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::app::app_info,
            commands::app::quit_app,
            commands::app::secret_on_screen,
            commands::app::change_counter,
            commands::keys::list_keys,
            commands::keys::get_key,
            commands::keys::check_name,
            commands::keys::create_key,
            commands::keys::revoke_keys,
            commands::keys::delete_keys,
            commands::keys::update_key,
            commands::keys::key_history,
            commands::owners::list_owners,
            commands::owners::create_owner,
            commands::owners::rename_owner,
            commands::plans::list_plans,
            commands::plans::create_plan,
            commands::plans::update_plan,
            commands::plans::delete_plan,
            commands::plans::set_default_plan,
            commands::plans::get_quota_usage,
            commands::settings::get_settings,
            commands::settings::update_settings,
            commands::audit::audit_page,
            commands::audit::export_audit,
            commands::clipboard::clipboard_copied,
            commands::probe::app_ready,
            commands::server::check_listen,
            commands::server::start_server,
            commands::server::stop_server,
            commands::server::server_status,
        ])
}

// generate_context! expands to code that calls process::exit; that is Tauri's, not ours.
#[allow(clippy::disallowed_methods)]
fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!()
}

/// Brings the main window to the front: what a second launch does instead of opening a second
/// window on the same keys.
fn focus_main_window<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Closing the window would lose a key shown only once: the secret dialog asks instead, as its
/// own Close does (it listens for this event). Run as our own script, so no event permission is
/// granted to the page.
fn ask_before_closing_on_a_secret<R: tauri::Runtime>(window: &tauri::Window<R>) {
    if let Some(webview) = window.app_handle().get_webview_window(window.label()) {
        let _ = webview.eval("window.dispatchEvent(new Event('keyward-close-requested'))");
    }
}

/// Saves the window's size and position shortly after it changes, so they survive even a crash
/// or a kill (the plugin alone saves only on a normal close). One save per burst of events.
fn remember_window_soon<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tauri_plugin_window_state::{AppHandleExt, StateFlags};
    static PENDING: AtomicBool = AtomicBool::new(false);
    if PENDING.swap(true, Ordering::SeqCst) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        PENDING.store(false, Ordering::SeqCst);
        if let Err(e) = app.save_window_state(StateFlags::all()) {
            log(format_args!("could not remember the window size: {e}"));
        }
    });
}

/// A logout, a shutdown or `kill` ends the app with SIGTERM (a terminal with SIGINT or SIGHUP).
/// Leaving through Tauri's normal exit instead of dying keeps the promise to clear the clipboard
/// on quit: a clipboard manager may hold a copy of a key that outlives the app.
#[cfg(unix)]
async fn exit_on_termination_signal<R: tauri::Runtime>(app: tauri::AppHandle<R>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log("cannot watch for termination signals");
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        _ = hangup.recv() => {}
    }
    app.exit(0);
}

pub fn run() {
    commands::probe::mark_start();
    let state = tauri::async_runtime::block_on(open_state());
    // Only the real app claims the single-instance name and remembers its window: the IPC tests
    // build several apps in one process from `builder`. Without a D-Bus session bus the plugin
    // logs a warning and the app starts normally.
    let base = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            focus_main_window(app)
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .on_window_event(|window, event| match event {
            tauri::WindowEvent::Resized(_) | tauri::WindowEvent::Moved(_) => {
                remember_window_soon(window.app_handle());
            }
            tauri::WindowEvent::CloseRequested { api, .. }
                if window.state::<AppState>().refuse_close_for_secret() =>
            {
                api.prevent_close();
                ask_before_closing_on_a_secret(window);
            }
            // The server started from the Server screen lives no longer than the window.
            tauri::WindowEvent::Destroyed if window.label() == "main" => {
                commands::server::stop_on_exit(window.app_handle());
            }
            _ => {}
        });
    let app = match builder(base, state).build(context()) {
        Ok(app) => app,
        Err(e) => {
            log(format_args!("the window could not be created: {e}"));
            return;
        }
    };
    #[cfg(unix)]
    tauri::async_runtime::spawn(exit_on_termination_signal(app.handle().clone()));
    // On ExitRequested, not Exit: the clipboard plugin drops its clipboard on Exit, before this
    // handler would run. Keyward never cancels an exit, so every quit passes here. A server
    // started from the app stops here too, gracefully: requests in flight finish.
    app.run(|handle, event| {
        if let RunEvent::ExitRequested { .. } = event {
            commands::clipboard::clear_if_secret(handle);
            commands::server::stop_on_exit(handle);
        }
    });
}
