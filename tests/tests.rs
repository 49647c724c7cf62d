//! Integration tests across the core and the CLI, on real SQLite files and a real PostgreSQL
//! server. One binary, as in ripgrep.

mod bad_input;
mod cli;
mod config;
mod crash;
mod fault_setup;
mod faults;
mod gateway;
mod ipc;
mod migrate;
mod names;
mod opening;
mod pg_setup;
mod plans_cli;
mod scale;
mod secrets;
mod server;
mod server_setup;
mod streams;
mod team_roles;
mod teams;
mod util;
