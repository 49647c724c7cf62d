//! Integration tests across the core and the CLI, on real SQLite files. One binary, as in ripgrep.

mod bad_input;
mod cli;
mod config;
mod crash;
mod fault_setup;
mod faults;
mod ipc;
mod scale;
mod secrets;
mod util;
