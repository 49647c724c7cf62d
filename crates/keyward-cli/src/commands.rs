//! One function per command: the core call, then its answer through `output`.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use keyward_core::{
    CreatedKey, DbLocation, Error, KeySummary, ListQuery, OperatorRole, Owner, Store, MAX_PAGE_SIZE,
};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::{normalize_id, KeyCreate, KeyEdit, KeyList, PlanCreate, PlanEdit, TeamRoleArg};
use crate::input::read_token;
use crate::output::{self, to_stderr, LoginAdded};
use crate::Failure;

type Done = Result<ExitCode, Failure>;

/// `keys create`: the token is written and flushed before anything else. If that fails (a closed
/// pipe, a full disk), nobody has the key, so it is deleted again rather than left active and
/// counting against its owner's limit.
pub async fn create_key(store: &Store, args: KeyCreate, json: bool, out: &mut impl Write) -> Done {
    let created = store.create_key(args.new_key()).await?;
    if let Err(error) = output::created_key(out, json, &created) {
        return Err(forget_unshown_key(store, &created, &error).await);
    }
    output::created_note(json, &created.key);
    Ok(ExitCode::SUCCESS)
}

/// Deletes a key whose token could not be written, and says so; if even that fails, gives its id
/// so it can be revoked. Exit 141 when standard output was closed, 2 otherwise.
async fn forget_unshown_key(
    store: &Store,
    created: &CreatedKey,
    error: &std::io::Error,
) -> Failure {
    let key = &created.key;
    match store.delete_keys(std::slice::from_ref(&key.id)).await {
        Ok(_) => to_stderr(format_args!(
            "keyward-cli: The new key could not be written to standard output ({error}), so it \
             was deleted again; nothing is left to revoke."
        )),
        Err(e) => to_stderr(format_args!(
            "keyward-cli: The new key could not be written to standard output ({error}), and it \
             could not be deleted either ({e}). Revoke it: keyward-cli keys revoke {}_{}",
            key.prefix, key.id
        )),
    }
    if error.kind() == ErrorKind::BrokenPipe {
        Failure::Reported(141)
    } else {
        Failure::Reported(2)
    }
}

/// Pages through the list until `limit` keys (or all of them) are read.
async fn list_all(
    store: &Store,
    mut query: ListQuery,
    limit: Option<u32>,
) -> Result<Vec<KeySummary>, Error> {
    let mut keys = Vec::new();
    loop {
        let wanted = limit.map_or(MAX_PAGE_SIZE, |l| {
            l.saturating_sub(query.offset).min(MAX_PAGE_SIZE)
        });
        if wanted == 0 {
            return Ok(keys);
        }
        query.limit = wanted;
        let page = store.list_keys(&query).await?;
        let got = u32::try_from(page.keys.len()).unwrap_or(u32::MAX);
        keys.extend(page.keys);
        query.offset = query.offset.saturating_add(got);
        // A search's total may be only a lower bound; a short page is the end either way.
        if got < wanted || (page.total_exact && query.offset >= page.total) {
            return Ok(keys);
        }
    }
}

pub async fn list_keys(store: &Store, args: KeyList, json: bool, out: &mut impl Write) -> Done {
    let keys = list_all(store, args.query(), args.limit).await?;
    output::keys(out, json, &keys)?;
    Ok(ExitCode::SUCCESS)
}

/// `keys edit`: the key after the change, as `keys list` shows it.
pub async fn edit_key(store: &Store, edit: KeyEdit, json: bool, out: &mut impl Write) -> Done {
    let id = normalize_id(&edit.id);
    let key = store.update_key(&id, edit.update()).await?;
    output::key(out, json, &key)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke_keys(store: &Store, ids: &[String], json: bool, out: &mut impl Write) -> Done {
    let ids: Vec<String> = ids.iter().map(|id| normalize_id(id)).collect();
    let outcome = store.revoke_keys(&ids).await?;
    output::revoked(out, json, &outcome)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn delete_keys(store: &Store, ids: &[String], json: bool, out: &mut impl Write) -> Done {
    let ids: Vec<String> = ids.iter().map(|id| normalize_id(id)).collect();
    let deleted = store.delete_keys(&ids).await?;
    output::keys_deleted(out, json, deleted)?;
    Ok(ExitCode::SUCCESS)
}

// `plans ...`: the core checks every name and number; these print the plans it returns.

pub async fn list_plans(store: &Store, json: bool, out: &mut impl Write) -> Done {
    output::plans(out, json, &store.list_plans().await?)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn create_plan(
    store: &Store,
    args: PlanCreate,
    json: bool,
    out: &mut impl Write,
) -> Done {
    let plan = store.create_plan(args.new_plan()).await?;
    output::plan(out, json, &plan)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the plan, then writes it back with what the edit gives.
pub async fn edit_plan(store: &Store, edit: &PlanEdit, json: bool, out: &mut impl Write) -> Done {
    let current = store.get_plan(&edit.plan).await?;
    let plan = store
        .update_plan(&current.name, edit.changed(&current))
        .await?;
    output::plan(out, json, &plan)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn delete_plan(store: &Store, name: &str, json: bool, out: &mut impl Write) -> Done {
    store.delete_plan(name).await?;
    output::plan_deleted(out, json, name.trim())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn default_plan(store: &Store, name: &str, json: bool, out: &mut impl Write) -> Done {
    let plan = store.set_default_plan(name).await?;
    output::plan(out, json, &plan)?;
    Ok(ExitCode::SUCCESS)
}

// `owners ...`: each prints the owners it read or changed.

pub async fn list_owners(store: &Store, json: bool, out: &mut impl Write) -> Done {
    let owners = store.list_owners().await?;
    show_owners(store, &owners, json, out).await
}

pub async fn create_owner(store: &Store, name: &str, json: bool, out: &mut impl Write) -> Done {
    let owner = store.create_owner(name).await?;
    show_owners(store, &[owner], json, out).await
}

pub async fn rename_owner(
    store: &Store,
    from: &str,
    to: &str,
    json: bool,
    out: &mut impl Write,
) -> Done {
    let owner = store.rename_owner(from, to).await?;
    show_owners(store, &[owner], json, out).await
}

/// The table shows active keys against the limit, read only for it.
async fn show_owners(store: &Store, owners: &[Owner], json: bool, out: &mut impl Write) -> Done {
    let limit = if json {
        None
    } else {
        Some(store.settings().await?.owner_key_limit)
    };
    output::owners(out, owners, limit)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn seed(store: &Store, count: u32, json: bool, out: &mut impl Write) -> Done {
    let started = std::time::Instant::now();
    let report = store.seed_keys(count).await?;
    output::seeded(out, json, &report, started.elapsed().as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(
    store: &Store,
    token: String,
    scopes: &[String],
    json: bool,
    out: &mut impl Write,
) -> Done {
    let token = read_token(token)?;
    let verdict = store.verify(&token, scopes).await?;
    output::verdict(out, json, &verdict)?;
    Ok(if verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub async fn backup(from: &Path, to: &Path, json: bool, out: &mut impl Write) -> Done {
    keyward_store::backup_file(from, to).await?;
    output::backed_up(out, json, from, to)?;
    Ok(ExitCode::SUCCESS)
}

/// `migrate-to`: copies the store at `from` into `dest` (each opened as any store is; a new
/// `dest` file is created). A missing source file is refused rather than created: copying an
/// empty database made by a typo would leave `dest` no longer empty. The core refuses a `dest`
/// that is not empty, or is the source itself, in words that say nothing was changed: those
/// refusals exit 1; a storage failure exits 2.
pub async fn migrate_to(from: &Path, dest: &Path, json: bool, out: &mut impl Write) -> Done {
    if let keyward_store::Location::File(file) = keyward_store::Location::of(from) {
        if !file.exists() {
            return Err(Failure::Refused(format!(
                "There is no key database at {}, so there is nothing to copy; nothing was \
                 changed. Name the database to copy with --db or KEYWARD_DB.",
                file.display()
            )));
        }
    }
    let started = std::time::Instant::now();
    // A new file made for the copy is removed again if the copy does not happen, so a refusal
    // leaves the folder as it was.
    let new_file = match keyward_store::Location::of(dest) {
        keyward_store::Location::File(file) if std::fs::symlink_metadata(file).is_err() => {
            Some(file.to_owned())
        }
        _ => None,
    };
    let source = keyward_store::open(from).await?;
    let copied = copy_into(&source, dest).await;
    source.close().await;
    if let (Err(_), Some(file)) = (&copied, &new_file) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut side = file.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
    }
    let report = copied.map_err(|error| match error {
        Error::InvalidInput(words) => Failure::Refused(words),
        other => Failure::from(other),
    })?;
    output::migrated(out, json, &report, started.elapsed().as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the store at `dest` and copies `source` into it; `dest` is closed again either way.
async fn copy_into(source: &Store, dest: &Path) -> keyward_core::Result<keyward_core::CopyReport> {
    let target = keyward_store::open(dest).await?;
    let copied = source.copy_into(&target).await;
    target.close().await;
    copied
}

// `team init` / `team add`: the SQL run goes to standard output, in order, as it ran; what it
// means (and how to give a new login a password) to standard error. Never takes a password: a
// command line is visible to every user of the machine (`ps`) and kept in shell histories.

pub async fn team_init(location: &DbLocation, json: bool, out: &mut impl Write) -> Done {
    let sql = keyward_store::team::init(&location.path).await?;
    output::team_ready(out, json, &sql, &location.shown())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn team_add(
    location: &DbLocation,
    login: &str,
    role: TeamRoleArg,
    json: bool,
    out: &mut impl Write,
) -> Done {
    let role = OperatorRole::from(role);
    let added = keyward_store::team::add(&location.path, login, role).await?;
    let done = LoginAdded {
        login,
        role,
        added: &added,
        shown: &location.shown(),
    };
    output::login_added(out, json, &done)?;
    Ok(ExitCode::SUCCESS)
}

/// `serve`: the verify server (crates/keyward-server) on this store until SIGTERM or SIGINT.
/// The server logs its start and stop lines; requests in flight finish before this returns,
/// and `run` then closes the store.
pub async fn serve(store: &Store, listen: SocketAddr) -> Done {
    // Before binding, so a signal sent as soon as the port answers is not lost.
    let cannot = |e: std::io::Error| {
        Failure::Broken(format!("Could not watch for stop signals: {}", plain(&e)))
    };
    let mut term = signal(SignalKind::terminate()).map_err(cannot)?;
    let mut int = signal(SignalKind::interrupt()).map_err(cannot)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Broken(bind_error(listen, &e)))?;
    let config = keyward_server::Config {
        listen: listener
            .local_addr()
            .map_err(|e| Failure::Broken(bind_error(listen, &e)))?,
        ..keyward_server::Config::default()
    };
    if let Some(warning) = config.exposure_warning() {
        to_stderr(format_args!("keyward-cli: warning: {warning}"));
    }
    let state = keyward_server::ServerState::new(store.clone(), config);
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    keyward_server::serve_with(state, listener, stop)
        .await
        .map_err(|e| Failure::Broken(format!("The verify server failed: {}", plain(&e))))?;
    Ok(ExitCode::SUCCESS)
}

/// Why `address` cannot be listened on, in plain words.
fn bind_error(address: SocketAddr, error: &std::io::Error) -> String {
    let why = match error.kind() {
        ErrorKind::AddrInUse => "another program is already listening there. Stop it, or choose \
                                 another port with --listen"
            .to_owned(),
        ErrorKind::AddrNotAvailable => "that address is not one of this machine's. Use \
                                        127.0.0.1 (this machine only), 0.0.0.0 (every network) \
                                        or an address this machine has"
            .to_owned(),
        ErrorKind::PermissionDenied => "ports below 1024 need administrator rights. Choose \
                                        a port from 1024 up, such as 8787"
            .to_owned(),
        _ => plain(error),
    };
    format!("Could not listen on {address}: {why}.")
}

/// An I/O error's words without Rust's "(os error N)" tail.
fn plain(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
