//! Tauri commands: each takes state, calls the core, and maps the error. No logic lives here.

pub mod app;
pub mod audit;
pub mod clipboard;
pub mod keys;
pub mod owners;
pub mod plans;
pub mod probe;
pub mod server;
pub mod settings;
