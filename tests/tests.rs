//! Integration tests across the core and the CLI, on real SQLite files. One binary, as in ripgrep.

mod cli;
mod config;
mod ipc;
mod secrets;
mod util;
