//! The baseline for `scripts/bench-startup`: the smallest Tauri app with a window of Keyward's
//! size showing a trivial page, served the way Keyward's UI is (embedded assets on tauri://, with
//! the same CSP). Two frames after its page is in the document it prints
//! the line Keyward's `app_ready` probe prints (`keyward-ready-ms <ms since main began> page-ms ..
//! dom-ms ..`) and quits; with `KEYWARD_STARTUP_PROBE=stay` it stays open so its memory can be read.

use std::time::Instant;

use tauri::Manager;

// generate_context! expands to code that calls process::exit; that is Tauri's, not ours.
#[allow(clippy::disallowed_methods)]
fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!("examples/bare-window/tauri.conf.json")
}

fn main() {
    let started = Instant::now();
    let stay = std::env::var("KEYWARD_STARTUP_PROBE").is_ok_and(|mode| mode == "stay");
    // The page signals "painted" by navigating to a made-up address; catching that needs no IPC,
    // so the baseline carries no command handler at all.
    let ready = tauri::plugin::Builder::<tauri::Wry>::new("bare-ready")
        .on_navigation(move |webview, url| {
            if url.host_str() != Some("ready.invalid") {
                return true;
            }
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(key, _)| key == name)
                    .and_then(|(_, value)| value.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let (page_ms, dom_ms) = (query("page-ms"), query("dom-ms"));
            println!("keyward-ready-ms {ms:.1} page-ms {page_ms:.1} dom-ms {dom_ms:.1}");
            if !stay {
                webview.app_handle().exit(0);
            }
            false
        })
        .build();
    if let Err(e) = tauri::Builder::default().plugin(ready).run(context()) {
        eprintln!("bare_window: {e}");
    }
}
