//! The start-up probe for the whole-process benchmark (`scripts/bench-startup`). The UI calls
//! `app_ready` once, after the first page of keys has been painted. It does nothing unless
//! `KEYWARD_STARTUP_PROBE` is set, so a normal launch is unaffected.

use std::sync::OnceLock;
use std::time::Instant;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Called first thing in `run()`, so the figure covers opening the database and the window.
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// Prints `keyward-ready-ms <ms since run() began> page-ms <ms since the page began loading>
/// dom-ms <ms until its document and script had loaded> steps <command=sent-answered,…,frame=ms>`
/// (each command's first call, and when the frame rendering the first page began) and quits, or
/// stays open when the variable is `stay` (the benchmark then measures memory with the list on
/// screen). The first minus the second is the native part: database, plugins, window.
#[tauri::command]
pub fn app_ready<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    page_ms: f64,
    dom_ms: f64,
    steps: Option<String>,
) {
    let Ok(mode) = std::env::var("KEYWARD_STARTUP_PROBE") else {
        return;
    };
    let ms = STARTED
        .get()
        .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
    let steps = steps.unwrap_or_default();
    println!("keyward-ready-ms {ms:.1} page-ms {page_ms:.1} dom-ms {dom_ms:.1} steps {steps}");
    if mode != "stay" {
        app.exit(0);
    }
}
