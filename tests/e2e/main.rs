//! Real-window tests: the debug app under Xvfb, driven through tauri-driver and WebKitWebDriver.
//! Each flow saves screenshots under `target/screenshots/`. Run with `--test-threads=1`: the X
//! clipboard is shared.

mod a11y;
mod admin;
mod driver;
// Shared with the CLI fault tests, which use all of it; this binary uses part.
#[allow(dead_code)]
#[path = "../fault_setup.rs"]
mod fault_setup;
mod faults;
mod flows;
mod instance;
mod payloads;
// Shared with the integration tests; this binary uses part.
#[allow(dead_code)]
#[path = "../pg_setup.rs"]
mod pg_setup;
mod plans;
mod scale;
mod server;
mod team;
