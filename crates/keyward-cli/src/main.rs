//! `keyward-cli`: Keyward without a window, on the same core and the same database as the app.
//!
//! Exit codes: 0 success (for `verify`: the key is valid); 1 a refusal (`verify`: not valid; an
//! unknown key id); 2 a usage or storage error (bad input, such as an unknown plan); 141 standard
//! output was closed before everything was written (`keyward-cli keys list | head`).
//!
//! `args` holds clap's types, `commands` one function per command, `output` the printing, `input`
//! the bounded read of `verify -`.

// Every line of output goes through the one locked `out` handed to `run`, so a reader closing the
// pipe surfaces as an `io::Error` that `main` turns into a quiet exit. `println!` would panic.
#![deny(clippy::print_stdout)]
// Every message goes through `output::to_stderr`, which ignores a standard error that cannot be
// written. `eprintln!` would panic (exit 101), even after a key was created and printed.
#![deny(clippy::print_stderr)]

mod args;
mod commands;
mod input;
mod output;

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use clap::Parser;
use keyward_core::{resolve_db_location, Error, Store};

use crate::args::{
    Cli, Command, DevCommand, KeysCommand, OwnersCommand, PlansCommand, StoreCommand, TeamCommand,
};
use crate::output::to_stderr;

pub enum Failure {
    /// Exit 1: the request was understood and refused.
    Refused(String),
    /// Exit 2: bad usage, or the database could not be used.
    Broken(String),
    /// Whoever read standard output stopped reading: not an error to report.
    OutputClosed,
    /// What went wrong is already on standard error: exit with this code.
    Reported(u8),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        use keyward_core::ErrorKind as Core;
        match error.kind() {
            // Refused: the request was understood, and the data or the database's roles say no.
            Core::NotFound | Core::Conflict | Core::LimitReached | Core::NotPermitted => {
                Self::Refused(error.to_string())
            }
            // A usage error, or a database that cannot be used (damaged, locked, full disk,
            // missing folder, read-only): exit 2, with the core's plain-words message.
            Core::InvalidInput
            | Core::ReadOnly
            | Core::Unavailable
            | Core::TryAgain
            | Core::Internal => Self::Broken(error.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    /// Only writing to standard output reaches here (`verify -` reports its own read errors).
    fn from(error: std::io::Error) -> Self {
        // Rust ignores SIGPIPE, so a closed pipe arrives here as an error instead of ending the
        // process.
        if error.kind() == ErrorKind::BrokenPipe {
            return Self::OutputClosed;
        }
        Self::Broken(format!("Could not write to standard output: {error}"))
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Self {
        Self::Broken(error.to_string())
    }
}

async fn run(cli: Cli, out: &mut impl Write) -> Result<ExitCode, Failure> {
    let location = resolve_db_location(cli.db);
    location.prepare().map_err(|e| {
        Failure::Broken(format!("Could not create {}: {e}", location.path.display()))
    })?;
    let json = cli.json;
    let done = match cli.command {
        Command::Backup { path } => commands::backup(&location.path, &path, json, out).await,
        Command::MigrateTo { dest } => commands::migrate_to(&location.path, &dest, json, out).await,
        Command::Team(TeamCommand::Init) => commands::team_init(&location, json, out).await,
        Command::Team(TeamCommand::Add { login, role }) => {
            commands::team_add(&location, &login, role, json, out).await
        }
        Command::OnStore(command) => {
            let store = keyward_store::open(&location.path).await?;
            let done = flushed(run_on_store(&store, command, json, out).await, out);
            store.close().await;
            return done;
        }
    };
    flushed(done, out)
}

/// A command's outcome once standard output is flushed: a write that fails there fails it too.
fn flushed(done: Result<ExitCode, Failure>, out: &mut impl Write) -> Result<ExitCode, Failure> {
    done.and_then(|code| out.flush().map(|()| code).map_err(Failure::from))
}

/// The commands on an opened store, one line each: `args` turns arguments into what the core
/// takes, `commands` runs them, `output` prints.
async fn run_on_store(
    store: &Store,
    command: StoreCommand,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    match command {
        StoreCommand::Keys(command) => match command {
            KeysCommand::Create(args) => commands::create_key(store, args, json, out).await,
            KeysCommand::List(args) => commands::list_keys(store, args, json, out).await,
            KeysCommand::Edit(edit) => commands::edit_key(store, edit, json, out).await,
            KeysCommand::Revoke { ids } => commands::revoke_keys(store, &ids, json, out).await,
            KeysCommand::Delete { ids } => commands::delete_keys(store, &ids, json, out).await,
        },
        StoreCommand::Plans(command) => match command {
            PlansCommand::List => commands::list_plans(store, json, out).await,
            PlansCommand::Create(args) => commands::create_plan(store, args, json, out).await,
            PlansCommand::Edit(edit) => commands::edit_plan(store, &edit, json, out).await,
            PlansCommand::Delete { name } => commands::delete_plan(store, &name, json, out).await,
            PlansCommand::Default { name } => commands::default_plan(store, &name, json, out).await,
        },
        StoreCommand::Owners(command) => match command {
            OwnersCommand::List => commands::list_owners(store, json, out).await,
            OwnersCommand::Create { name } => commands::create_owner(store, &name, json, out).await,
            OwnersCommand::Rename { from, to } => {
                commands::rename_owner(store, &from, &to, json, out).await
            }
        },
        StoreCommand::Dev(DevCommand::Seed { count }) => {
            commands::seed(store, count, json, out).await
        }
        StoreCommand::Verify { token, scopes } => {
            commands::verify(store, token, &scopes, json, out).await
        }
        StoreCommand::Serve { listen } => commands::serve(store, listen).await,
    }
}

/// clap's help, version or usage error. Help and version go to standard output, which may fail
/// like any other output.
fn clap_exit(error: &clap::Error) -> ExitCode {
    let printed = error.print();
    if error.use_stderr() {
        return ExitCode::from(2);
    }
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(e) => {
            to_stderr(format_args!(
                "keyward-cli: Could not write to standard output: {e}"
            ));
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            to_stderr(format_args!("keyward-cli: could not start: {e}"));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli, &mut std::io::stdout().lock())) {
        Ok(code) => code,
        // 128 + SIGPIPE, what a shell reports for `ls` in `ls | head`, rather than 0: output was
        // lost (a new key's only copy, a `verify` verdict), so `set -o pipefail` scripts must not
        // read success, and 1 and 2 already mean a refusal and an error.
        Err(Failure::OutputClosed) => ExitCode::from(141),
        Err(Failure::Reported(code)) => ExitCode::from(code),
        Err(Failure::Refused(message)) => {
            to_stderr(format_args!("keyward-cli: {message}"));
            ExitCode::from(1)
        }
        Err(Failure::Broken(message)) => {
            to_stderr(format_args!("keyward-cli: {message}"));
            ExitCode::from(2)
        }
    }
}
