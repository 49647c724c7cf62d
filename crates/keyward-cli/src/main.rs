//! `keyward-cli`: Keyward without a window, on the same core and the same database as the app.
//!
//! Exit codes: 0 success (for `verify`: the key is valid); 1 a refusal (`verify`: not valid; an
//! unknown key id); 2 a usage or storage error; 141 standard output was closed before everything
//! was written (`keyward-cli keys list | head`).

// Every line of output goes through the one locked `out` handed to `run`, so a reader closing the
// pipe surfaces as an `io::Error` that `main` turns into a quiet exit. `println!` would panic.
#![deny(clippy::print_stdout)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use keyward_core::{
    resolve_db_location, Error, ExpiryChoice, KeyStatus, KeySummary, ListQuery, NewKey, Role,
    SecretToken, Store, Verdict, MAX_PAGE_SIZE,
};
use zeroize::Zeroize;

#[derive(Parser)]
#[command(
    name = "keyward-cli",
    version,
    about = "Issue, list, revoke and verify Keyward API keys"
)]
struct Cli {
    /// The key database [default: $KEYWARD_DB, else the app's database in your data folder]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, list, revoke or delete keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a complete copy of the database to PATH (which must not exist yet)
    Backup { path: PathBuf },
    /// List, create or rename owners (the people or services keys belong to)
    #[command(subcommand)]
    Owners(OwnersCommand),
    /// Tools for developing and testing Keyward itself
    #[command(subcommand)]
    Dev(DevCommand),
    /// Check a key: prints VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED or FORBIDDEN; exits 0 only
    /// when valid
    Verify {
        /// The full key, or "-" to read it from standard input (keeps it out of `ps`)
        token: String,
        /// A scope the key must have (repeatable); a valid key without it is FORBIDDEN
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Add COUNT made-up keys (and owners for them) to try the app at scale. Seeded keys are
    /// marked as such and never verify
    Seed {
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        count: u32,
    },
}

#[derive(Subcommand)]
enum OwnersCommand {
    /// List owners with their active and total keys
    List,
    /// Add an owner
    Create { name: String },
    /// Rename an owner; their keys follow
    Rename { from: String, to: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Issue a new key; the key is printed once, on standard output
    Create {
        #[arg(long)]
        name: String,
        /// `30d` (any number of days), a date `YYYY-MM-DD` (the end of that day, local time), or `never`
        #[arg(long, default_value = "90d", value_parser = parse_expiry)]
        expires: ExpiryChoice,
        /// Who the key belongs to (an existing owner) [default: you]
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, value_enum, default_value = "standard")]
        role: RoleArg,
        /// A permitted scope from the catalogue (repeatable)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Never record when the key was last used
        #[arg(long)]
        no_usage_tracking: bool,
        /// Create it even if the owner is at the active-key limit (recorded in the audit log)
        #[arg(long)]
        override_limit: bool,
    },
    /// List keys, newest first
    List {
        /// Only keys whose name or id contains this text
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only this owner's keys
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Only active keys that expire within this many days
        #[arg(long, value_name = "DAYS")]
        expiring_within: Option<u32>,
        /// Show at most this many keys
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Revoke keys at once and for good: anything using them stops working
    Revoke {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Delete keys permanently (their audit history is kept)
    Delete {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Standard,
    Admin,
    Project,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Standard => Self::Standard,
            RoleArg::Admin => Self::Admin,
            RoleArg::Project => Self::Project,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Active,
    Expired,
    Revoked,
}

impl From<StatusArg> for KeyStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Active => Self::Active,
            StatusArg::Expired => Self::Expired,
            StatusArg::Revoked => Self::Revoked,
        }
    }
}

/// Turns `30d`, `2027-01-31` or `never` into an expiry choice.
fn parse_expiry(text: &str) -> Result<ExpiryChoice, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(ExpiryChoice::Never);
    }
    if let Some(days) = text.strip_suffix('d') {
        return days
            .parse::<u32>()
            .map(ExpiryChoice::Days)
            .map_err(|_| format!("\"{text}\" is not a number of days; write it like 30d"));
    }
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| shaped)
        .ok_or(())
        .map_err(|_| {
            format!(
            "\"{text}\" is not an expiry; use a number of days (30d), a date (2027-01-31) or never"
        )
        })?;
    Ok(ExpiryChoice::Until(end_of_local_day(date)?))
}

/// The first moment after `date` ends, in local time, as UTC.
fn end_of_local_day(date: NaiveDate) -> Result<DateTime<Utc>, String> {
    let next = date
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| format!("{date} is too far in the future"))?;
    Local
        .from_local_datetime(&next)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{date} does not exist in the local time zone"))
}

/// Accepts a bare id (`3fJk9QzP0a`) or the form lists show (`kw_3fJk9QzP0a`).
fn normalize_id(text: &str) -> String {
    let text = text.trim();
    match text.split('_').collect::<Vec<_>>().as_slice() {
        [_prefix, id, ..] => (*id).to_owned(),
        _ => text.to_owned(),
    }
}

fn local(at: Option<DateTime<Utc>>, none: &str) -> String {
    at.map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| none.to_owned())
}

enum Failure {
    /// Exit 1: the request was understood and refused.
    Refused(String),
    /// Exit 2: bad usage, or the database could not be used.
    Broken(String),
    /// Whoever read standard output stopped reading: not an error to report.
    OutputClosed,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::KeyNotFound(_)
            | Error::OwnerNotFound(_)
            | Error::LimitReached { .. }
            | Error::KeyRevoked => Self::Refused(error.to_string()),
            // A database that cannot be used (damaged, locked, full disk, missing folder) or
            // that is read-only: a storage error, exit 2, with the core's plain-words message.
            Error::Unavailable(_) | Error::TryAgain(_) | Error::ReadOnly(_) => {
                Self::Broken(error.to_string())
            }
            other => Self::Broken(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        // Rust ignores SIGPIPE, so a closed pipe arrives here as an error instead of ending the
        // process; reading standard input never fails this way, so this is always standard output.
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Self::OutputClosed;
        }
        Self::Broken(error.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Self {
        Self::Broken(error.to_string())
    }
}

fn print_keys(out: &mut impl Write, keys: &[KeySummary]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<14} {:<30} {:<16} {:<8} {:<8} {:<16} {:<16} {:<16}",
        "ID", "NAME", "OWNER", "ROLE", "STATUS", "CREATED", "EXPIRES", "LAST USED"
    )?;
    for key in keys {
        writeln!(
            out,
            "{:<14} {:<30} {:<16} {:<8} {:<8} {:<16} {:<16} {:<16}",
            format!("{}_{}", key.prefix, key.id),
            key.name,
            key.owner,
            key.role.as_str(),
            key.status.as_str(),
            local(Some(key.created_at), ""),
            local(key.expires_at, "never"),
            local(key.last_used_at, "never"),
        )?;
    }
    Ok(())
}

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
        query.offset += got;
        if got < wanted || query.offset >= page.total {
            return Ok(keys);
        }
    }
}

fn read_token(arg: String) -> Result<SecretToken, Failure> {
    if arg != "-" {
        return Ok(SecretToken::from(arg));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let token = SecretToken::from(line.trim().to_owned());
    line.zeroize();
    Ok(token)
}

async fn run(cli: Cli, out: &mut impl Write) -> Result<ExitCode, Failure> {
    let location = resolve_db_location(cli.db);
    location.prepare().map_err(|e| {
        Failure::Broken(format!("Could not create {}: {e}", location.path.display()))
    })?;
    let store = Store::open(&location.path).await?;
    let code = match cli.command {
        Command::Keys(KeysCommand::Create {
            name,
            expires,
            owner,
            role,
            scopes,
            no_usage_tracking,
            override_limit,
        }) => {
            let new = NewKey {
                name,
                owner,
                role: role.into(),
                scopes,
                track_usage: !no_usage_tracking,
                expiry: expires,
                override_limit,
            };
            let created = store.create_key(new).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&created)?)?;
            } else {
                writeln!(out, "{}", created.token.expose())?;
                eprintln!(
                    "Created \"{}\" ({}_{}), expires {}. Copy the key above now: it is shown only once.",
                    created.key.name,
                    created.key.prefix,
                    created.key.id,
                    local(created.key.expires_at, "never"),
                );
            }
            ExitCode::SUCCESS
        }
        Command::Keys(KeysCommand::List {
            search,
            status,
            owner,
            role,
            expiring_within,
            limit,
        }) => {
            let query = ListQuery {
                search,
                status: status.map(KeyStatus::from),
                owner,
                role: role.map(Role::from),
                expiring_within_days: expiring_within,
                ..ListQuery::default()
            };
            let keys = list_all(&store, query, limit).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&keys)?)?;
            } else {
                print_keys(out, &keys)?;
            }
            ExitCode::SUCCESS
        }
        Command::Keys(KeysCommand::Revoke { ids }) => {
            let ids: Vec<String> = ids.iter().map(|id| normalize_id(id)).collect();
            let outcome = store.revoke_keys(&ids).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
            } else {
                for id in &outcome.revoked {
                    writeln!(out, "Revoked {id}")?;
                }
                for id in &outcome.already_revoked {
                    writeln!(out, "{id} was already revoked")?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Keys(KeysCommand::Delete { ids }) => {
            let ids: Vec<String> = ids.iter().map(|id| normalize_id(id)).collect();
            let deleted = store.delete_keys(&ids).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::json!({ "deleted": deleted }))?;
            } else {
                writeln!(out, "Deleted {deleted} key(s)")?;
            }
            ExitCode::SUCCESS
        }
        Command::Backup { path } => {
            store.backup(&path).await?;
            if cli.json {
                writeln!(out, "{}", serde_json::json!({ "backup": path }))?;
            } else {
                writeln!(
                    out,
                    "Backed up {} to {}",
                    location.path.display(),
                    path.display()
                )?;
            }
            ExitCode::SUCCESS
        }
        Command::Owners(command) => {
            let owners = match command {
                OwnersCommand::List => store.list_owners().await?,
                OwnersCommand::Create { name } => vec![store.create_owner(&name).await?],
                OwnersCommand::Rename { from, to } => vec![store.rename_owner(&from, &to).await?],
            };
            if cli.json {
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
            ExitCode::SUCCESS
        }
        Command::Dev(DevCommand::Seed { count }) => {
            let started = std::time::Instant::now();
            let report = store.seed_keys(count).await?;
            let seconds = started.elapsed().as_secs_f64();
            if cli.json {
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
            ExitCode::SUCCESS
        }
        Command::Verify { token, scopes } => {
            let token = read_token(token)?;
            let verdict = store.verify(&token, &scopes).await?;
            if cli.json {
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
            if verdict.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    };
    out.flush()?;
    store.close().await;
    Ok(code)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keyward-cli: could not start: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli, &mut std::io::stdout().lock())) {
        Ok(code) => code,
        // 128 + SIGPIPE, what a shell reports for `ls` in `ls | head`, rather than 0: output was
        // lost (a new key's only copy, a `verify` verdict), so `set -o pipefail` scripts must not
        // read success, and 1 and 2 already mean a refusal and an error.
        Err(Failure::OutputClosed) => ExitCode::from(141),
        Err(Failure::Refused(message)) => {
            eprintln!("keyward-cli: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Broken(message)) => {
            eprintln!("keyward-cli: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_arguments_parse() {
        assert_eq!(parse_expiry("30d"), Ok(ExpiryChoice::Days(30)));
        assert_eq!(parse_expiry("never"), Ok(ExpiryChoice::Never));
        assert!(matches!(
            parse_expiry("2030-01-31"),
            Ok(ExpiryChoice::Until(_))
        ));
        for bad in [
            "",
            "30",
            "d",
            "-3d",
            "2030-13-01",
            "tomorrow",
            "27-01-01",
            "2030-1-1",
        ] {
            assert!(parse_expiry(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_accepted_with_or_without_prefix() {
        assert_eq!(normalize_id("kw_3fJk9QzP0a"), "3fJk9QzP0a");
        assert_eq!(normalize_id("3fJk9QzP0a"), "3fJk9QzP0a");
        assert_eq!(normalize_id(" kw_3fJk9QzP0a_…x9Qa "), "3fJk9QzP0a");
    }
}
