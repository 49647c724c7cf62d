//! One function per command: the core call, then the text or JSON answer on `out`.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use keyward_core::{
    CreatedKey, DbLocation, Error, KeySummary, ListQuery, NewKey, NewPlan, OperatorRole, Plan,
    PlanLimits, Store, Verdict, MAX_PAGE_SIZE,
};
use tokio::signal::unix::{signal, SignalKind};
use zeroize::Zeroizing;

use crate::args::{
    normalize_id, quota, KeyEdit, OwnersCommand, PlanEdit, PlansCommand, TeamCommand,
};
use crate::input::read_token;
use crate::output::{local, print_keys, print_migration, print_plans, print_sql, to_stderr};
use crate::Failure;

/// `keys create`: the token is written and flushed before anything else. If that fails (a closed
/// pipe, a full disk), nobody has the key, so it is deleted again rather than left active and
/// counting against its owner's limit.
pub async fn create_key(
    store: &Store,
    new: NewKey,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let created = store.create_key(new).await?;
    let shown = if json {
        match serde_json::to_string_pretty(&created) {
            Ok(text) => write_secret(out, &Zeroizing::new(text)),
            Err(e) => Err(std::io::Error::other(e)),
        }
    } else {
        write_secret(out, created.token.expose())
    };
    if let Err(error) = shown {
        return Err(forget_unshown_key(store, &created, &error).await);
    }
    if !json {
        to_stderr(format_args!(
            "Created \"{}\" ({}_{}), expires {}. Copy the key above now: it is shown only once.",
            created.key.name,
            created.key.prefix,
            created.key.id,
            local(created.key.expires_at, "never"),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn write_secret(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out, "{text}")?;
    out.flush()
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

pub async fn list_keys(
    store: &Store,
    query: ListQuery,
    limit: Option<u32>,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let keys = list_all(store, query, limit).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&keys)?)?;
    } else {
        print_keys(out, &keys)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys edit`: the key after the change, as `keys list` shows it.
pub async fn edit_key(
    store: &Store,
    edit: KeyEdit,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let id = normalize_id(&edit.id);
    let key = store.update_key(&id, edit.update()).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&key)?)?;
    } else {
        print_keys(out, std::slice::from_ref(&key))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `plans ...`: the core checks every name and number; this prints the plans it returns.
pub async fn plans(
    store: &Store,
    command: PlansCommand,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let plan = match command {
        PlansCommand::List => {
            let plans = store.list_plans().await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&plans)?)?;
            } else {
                print_plans(out, &plans)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        PlansCommand::Create {
            name,
            rate,
            burst,
            quota: limit,
            per,
        } => {
            let limits = PlanLimits {
                rate_per_second: rate,
                burst,
                quota: limit.zip(per).map(|(limit, per)| quota(limit, per)),
            };
            store.create_plan(NewPlan { name, limits }).await?
        }
        PlansCommand::Edit(edit) => edit_plan(store, &edit).await?,
        PlansCommand::Delete { name } => {
            store.delete_plan(&name).await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "deleted": name.trim() }))?;
            } else {
                writeln!(out, "Deleted plan \"{}\"", name.trim())?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        PlansCommand::Default { name } => store.set_default_plan(&name).await?,
    };
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        print_plans(out, std::slice::from_ref(&plan))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the plan, then writes it back with what the edit gives.
async fn edit_plan(store: &Store, edit: &PlanEdit) -> Result<Plan, Error> {
    let current = store.get_plan(&edit.plan).await?;
    let changed = NewPlan {
        name: edit
            .new_name
            .clone()
            .unwrap_or_else(|| current.name.clone()),
        limits: edit.limits(&current.limits),
    };
    store.update_plan(&current.name, changed).await
}

pub async fn revoke_keys(
    store: &Store,
    ids: &[String],
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let ids: Vec<String> = ids.iter().map(|id| normalize_id(id)).collect();
    let outcome = store.revoke_keys(&ids).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
    } else {
        for id in &outcome.revoked {
            writeln!(out, "Revoked {id}")?;
        }
        for id in &outcome.already_revoked {
            writeln!(out, "{id} was already revoked")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn delete_keys(
    store: &Store,
    ids: &[String],
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let ids: Vec<String> = ids.iter().map(|id| normalize_id(id)).collect();
    let deleted = store.delete_keys(&ids).await?;
    if json {
        writeln!(out, "{}", serde_json::json!({ "deleted": deleted }))?;
    } else {
        writeln!(out, "Deleted {deleted} key(s)")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn backup(
    from: &Path,
    to: &Path,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    keyward_store::backup_file(from, to).await?;
    if json {
        writeln!(out, "{}", serde_json::json!({ "backup": to }))?;
    } else {
        writeln!(out, "Backed up {} to {}", from.display(), to.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn owners(
    store: &Store,
    command: OwnersCommand,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let owners = match command {
        OwnersCommand::List => store.list_owners().await?,
        OwnersCommand::Create { name } => vec![store.create_owner(&name).await?],
        OwnersCommand::Rename { from, to } => vec![store.rename_owner(&from, &to).await?],
    };
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&owners)?)?;
    } else {
        let limit = store.settings().await?.owner_key_limit;
        writeln!(out, "{:<30} {:>8} {:>6}", "OWNER", "ACTIVE", "TOTAL")?;
        for owner in owners {
            writeln!(
                out,
                "{:<30} {:>8} {:>6}",
                owner.name,
                format!("{} / {limit}", owner.active_keys),
                owner.total_keys
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn seed(
    store: &Store,
    count: u32,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let started = std::time::Instant::now();
    let report = store.seed_keys(count).await?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut shown = serde_json::to_value(&report)?;
        shown["seconds"] = serde_json::json!(seconds);
        writeln!(out, "{shown}")?;
    } else {
        writeln!(
            out,
            "Seeded {} keys ({} active, {} expired, {} revoked) for {} new owners in \
             {seconds:.2} s",
            report.keys, report.active, report.expired, report.revoked, report.owners
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `migrate-to`: copies the store at `from` into `dest` (each opened as any store is; a new
/// `dest` file is created). A missing source file is refused rather than created: copying an
/// empty database made by a typo would leave `dest` no longer empty. The core refuses a `dest`
/// that is not empty, or is the source itself, in words that say nothing was changed: those
/// refusals exit 1; a storage failure exits 2.
pub async fn migrate_to(
    from: &Path,
    dest: &Path,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
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
    let copied = match keyward_store::open(dest).await {
        Ok(target) => {
            let copied = source.copy_into(&target).await;
            target.close().await;
            copied
        }
        Err(error) => Err(error),
    };
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
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut shown = serde_json::to_value(&report)?;
        shown["seconds"] = serde_json::json!(seconds);
        writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
    } else {
        print_migration(out, &report, seconds)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `team init` / `team add`: the SQL run goes to standard output, in order, as it ran; what it
/// means (and how to give a new login a password) to standard error. Never takes a password: a
/// command line is visible to every user of the machine (`ps`) and kept in shell histories.
pub async fn team(
    location: &DbLocation,
    command: TeamCommand,
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let shown = location.shown();
    match command {
        TeamCommand::Init => {
            let sql = keyward_store::team::init(&location.path).await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "sql": sql }))?;
                return Ok(ExitCode::SUCCESS);
            }
            print_sql(out, &sql)?;
            to_stderr(format_args!(
                "Keyward's roles are set up on {shown}. Give each login one: keyward-cli team \
                 add LOGIN --role admin|manager|verifier"
            ));
        }
        TeamCommand::Add { login, role } => {
            let role = OperatorRole::from(role);
            let added = keyward_store::team::add(&location.path, &login, role).await?;
            if json {
                let shown_role = serde_json::to_value(role)?;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "login": login, "role": shown_role,
                        "created_login": added.created_login, "sql": added.sql,
                    })
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            print_sql(out, &added.sql)?;
            let words = role_words(role);
            if added.sql.is_empty() {
                to_stderr(format_args!(
                    "{login} is {words} on {shown} already; nothing was changed."
                ));
            } else {
                to_stderr(format_args!("{login} is now {words} on {shown}."));
            }
            if added.created_login {
                // Quoted as psql reads it, so a login with spaces or a `;` is one argument.
                let quoted = keyward_store::team::quoted(&login);
                to_stderr(format_args!(
                    "The login {login} was created without a password. Set one in psql with \
                     \\password {quoted} (or ALTER ROLE ... PASSWORD, typed in psql, never on a \
                     command line), unless the server lets it log in another way (pg_hba.conf)."
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn role_words(role: OperatorRole) -> &'static str {
    match role {
        OperatorRole::Admin => "an administrator",
        OperatorRole::Manager => "a key manager",
        OperatorRole::Verifier => "a verifier",
    }
}

pub async fn verify(
    store: &Store,
    token: String,
    scopes: &[String],
    json: bool,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let token = read_token(token)?;
    let verdict = store.verify(&token, scopes).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&verdict)?)?;
    } else {
        match &verdict {
            Verdict::Valid { key } => writeln!(
                out,
                "VALID {} \"{}\" owner {}, role {}, scopes [{}], expires {}",
                key.id,
                key.name,
                key.owner,
                key.role.as_str(),
                key.scopes.join(", "),
                local(key.expires_at, "never")
            )?,
            Verdict::Forbidden { missing } => {
                writeln!(out, "FORBIDDEN (missing scope: {})", missing.join(", "))?
            }
            other => writeln!(out, "{}", other.label())?,
        }
    }
    Ok(if verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `serve`: the verify server (crates/keyward-server) on this store until SIGTERM or SIGINT.
/// The server logs its start and stop lines; requests in flight finish before this returns,
/// and `run` then closes the store.
pub async fn serve(store: &Store, listen: SocketAddr) -> Result<ExitCode, Failure> {
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
