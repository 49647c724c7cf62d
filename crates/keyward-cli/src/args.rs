//! The command line: clap's types, and the parsing of values clap does not know (expiries, ids).

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use keyward_core::{
    ExpiryChoice, KeyStatus, KeyUpdate, ListQuery, NewKey, NewPlan, OperatorRole, Plan, PlanLimits,
    Quota, QuotaPeriod, Role,
};

#[derive(Parser)]
#[command(
    name = "keyward-cli",
    version,
    about = "Issue, list, revoke and verify Keyward API keys"
)]
pub struct Cli {
    /// The key database [default: $KEYWARD_DB, else the app's database in your data folder]
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a complete copy of the database to PATH (which must not exist yet)
    ///
    /// Reads the file as it is: nothing is upgraded, and a newer Keyward's database can be
    /// copied too. The copy is readable by you only
    Backup { path: PathBuf },
    /// Copy this database into DEST, a new SQLite file or an empty PostgreSQL database
    /// (postgres://…): keys with their hashes, owners, plans, settings, the audit log and quota
    /// counters
    ///
    /// This database must exist; DEST must hold no keys, owners or audit rows. The copy is one
    /// transaction there (all of it or nothing), is read back and counted, and this database is
    /// left as it was. Keys issued here keep working there; point --db or KEYWARD_DB at DEST to
    /// use it. Exits 1 when DEST is refused (not empty, or this very database)
    MigrateTo {
        /// A SQLite file path or a postgres:// URL
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Set up who may do what on a PostgreSQL key database: Keyward's roles, enforced by
    /// PostgreSQL (grants and row-level security)
    #[command(subcommand)]
    Team(TeamCommand),
    #[command(flatten)]
    OnStore(StoreCommand),
}

#[derive(Subcommand)]
pub enum TeamCommand {
    /// Create the roles keyward_admin, keyward_manager and keyward_verifier where missing, and
    /// (re)apply what each may do; prints the SQL it runs
    ///
    /// Run it as the database's owner or a superuser (creating the roles needs CREATEROLE), and
    /// again after upgrading Keyward. Running it again is safe: it replaces Keyward's policies
    /// with the current ones
    Init,
    /// Give LOGIN one Keyward role (and no other); prints the SQL it runs
    ///
    /// A login that does not exist is created without a password: set one in psql with
    /// \password LOGIN (never on a command line)
    Add {
        /// The PostgreSQL login (user name)
        login: String,
        /// admin: everything. manager: only keys they own, up to the limit, no override, no
        /// settings or plans. verifier: what `serve` needs
        #[arg(long, value_enum)]
        role: TeamRoleArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TeamRoleArg {
    Admin,
    Manager,
    Verifier,
}

impl From<TeamRoleArg> for OperatorRole {
    fn from(role: TeamRoleArg) -> Self {
        match role {
            TeamRoleArg::Admin => Self::Admin,
            TeamRoleArg::Manager => Self::Manager,
            TeamRoleArg::Verifier => Self::Verifier,
        }
    }
}

/// The commands that open the database as a store (creating or upgrading it as needed).
#[derive(Subcommand)]
pub enum StoreCommand {
    /// Create, list, edit, revoke or delete keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List, create, edit or delete usage plans (rate, burst and quota), and choose the default
    #[command(subcommand)]
    Plans(PlansCommand),
    /// List, create or rename owners (the people or services keys belong to)
    #[command(subcommand)]
    Owners(OwnersCommand),
    /// Tools for developing and testing Keyward itself
    #[command(subcommand)]
    Dev(DevCommand),
    /// Check a key: prints VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED or FORBIDDEN; exits 0 only
    /// when valid
    Verify {
        /// The full key, or "-" to read it from standard input (keeps it out of `ps`): its first
        /// line, at most 1024 bytes
        token: String,
        /// A scope the key must have (repeatable); a valid key without it is FORBIDDEN
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Run the verify server (POST /v1/verify, POST /v2/keys.verifyKey, GET /v1/forward-auth,
    /// /healthz, /metrics) on this database until SIGTERM or Ctrl+C
    ///
    /// Requests in flight finish before it exits 0. Callers of the verify endpoints send their own
    /// key, holding the scope keyward:verify, as `Authorization: Bearer <key>`
    Serve {
        /// The address and port to listen on. Anything but loopback is reachable from other
        /// machines, in plain HTTP: put it behind TLS
        #[arg(long, env = "KEYWARD_LISTEN", value_name = "ADDRESS:PORT",
              default_value_t = keyward_server::DEFAULT_LISTEN, value_parser = parse_listen)]
        listen: SocketAddr,
    },
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Add COUNT made-up keys (and owners for them) to try the app at scale. Seeded keys are
    /// marked as such and never verify
    Seed {
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        count: u32,
    },
}

#[derive(Subcommand)]
pub enum OwnersCommand {
    /// List owners with their active and total keys
    List,
    /// Add an owner
    Create { name: String },
    /// Rename an owner; their keys follow
    Rename { from: String, to: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue a new key; the key is printed once, on standard output
    Create(KeyCreate),
    /// Change a key's name, owner, role, scopes, plan, expiry or usage tracking; what is not
    /// given stays as it is. Prints the key as `keys list` does
    Edit(KeyEdit),
    /// List keys, newest first
    List(KeyList),
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

// `keys create`.
#[derive(Args)]
pub struct KeyCreate {
    #[arg(long)]
    pub name: String,
    /// `30d` (any number of days), a date `YYYY-MM-DD` (the end of that day, local time), or `never`
    #[arg(long, default_value = "90d", value_parser = parse_expiry)]
    pub expires: ExpiryChoice,
    /// Who the key belongs to (an existing owner) [default: you]
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long, value_enum, default_value = "standard")]
    pub role: RoleArg,
    /// A permitted scope from the catalogue (repeatable)
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Never record when the key was last used
    #[arg(long)]
    pub no_usage_tracking: bool,
    /// Create it even if the owner is at the active-key limit (recorded in the audit log)
    #[arg(long)]
    pub override_limit: bool,
    /// Its usage plan [default: the default plan]
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
}

impl KeyCreate {
    /// The new key for the core.
    pub fn new_key(self) -> NewKey {
        NewKey {
            name: self.name,
            owner: self.owner,
            role: self.role.into(),
            scopes: self.scopes,
            track_usage: !self.no_usage_tracking,
            expiry: self.expires,
            override_limit: self.override_limit,
            plan: self.plan,
        }
    }
}

// `keys list`.
#[derive(Args)]
pub struct KeyList {
    /// Only keys whose name or id contains this text
    #[arg(long)]
    pub search: Option<String>,
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only this owner's keys
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Only active keys that expire within this many days
    #[arg(long, value_name = "DAYS")]
    pub expiring_within: Option<u32>,
    /// Show at most this many keys
    #[arg(long)]
    pub limit: Option<u32>,
}

impl KeyList {
    /// The core's query for the first page (the command pages on up to `limit`).
    pub fn query(&self) -> ListQuery {
        ListQuery {
            search: self.search.clone(),
            status: self.status.map(Into::into),
            owner: self.owner.clone(),
            role: self.role.map(Into::into),
            expiring_within_days: self.expiring_within,
            ..ListQuery::default()
        }
    }
}

// `keys edit`.
#[derive(Args)]
pub struct KeyEdit {
    /// The key's id, alone (`3fJk9QzP0a`) or as lists show it (`kw_3fJk9QzP0a`)
    #[arg(value_name = "ID")]
    pub id: String,
    /// A new name
    #[arg(long)]
    pub name: Option<String>,
    /// Move it to another existing owner
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Replace its scopes with these (repeatable)
    #[arg(long = "scope", value_name = "SCOPE", conflicts_with = "no_scopes")]
    pub scopes: Vec<String>,
    /// Remove all its scopes
    #[arg(long)]
    pub no_scopes: bool,
    /// Move it to another usage plan
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// A new expiry, counted from now: `30d`, a date `YYYY-MM-DD` (the end of that day, local
    /// time), or `never`
    #[arg(long, value_parser = parse_expiry)]
    pub expires: Option<ExpiryChoice>,
    /// Whether to record when the key was last used
    #[arg(long, value_enum, value_name = "on|off")]
    pub track_usage: Option<Switch>,
    /// Move it even if the new owner is at the active-key limit (recorded in the audit log)
    #[arg(long)]
    pub override_limit: bool,
}

impl KeyEdit {
    /// The change for the core: what was not given is `None`, left as it is.
    pub fn update(self) -> KeyUpdate {
        KeyUpdate {
            name: self.name,
            owner: self.owner,
            role: self.role.map(Into::into),
            scopes: (self.no_scopes || !self.scopes.is_empty()).then_some(self.scopes),
            track_usage: self.track_usage.map(|s| matches!(s, Switch::On)),
            expiry: self.expires,
            override_limit: self.override_limit,
            plan: self.plan,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Subcommand)]
pub enum PlansCommand {
    /// List plans with their limits, how many keys use each, and the default for new keys
    List,
    /// Make a plan. Without --rate it has no rate limit; without --quota, no quota
    Create(PlanCreate),
    /// Change a plan; what is not given stays as it is. Keys on it follow at once
    Edit(PlanEdit),
    /// Delete a plan that no key uses and that is not the default
    Delete { name: String },
    /// Make this plan the one new keys get
    Default { name: String },
}

// `plans create`.
#[derive(Args)]
pub struct PlanCreate {
    pub name: String,
    /// Sustained requests per second
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// How many requests may come at once above the rate [default: the rate]
    #[arg(long, value_name = "N", requires = "rate")]
    pub burst: Option<u32>,
    /// At most N requests per period (with --per)
    #[arg(long, value_name = "N", requires = "per")]
    pub quota: Option<u64>,
    /// The quota's period; periods start at 00:00 UTC, weeks on Monday
    #[arg(long, value_enum, requires = "quota")]
    pub per: Option<PeriodArg>,
}

impl PlanCreate {
    /// The new plan for the core.
    pub fn new_plan(self) -> NewPlan {
        NewPlan {
            name: self.name,
            limits: PlanLimits {
                rate_per_second: self.rate,
                burst: self.burst,
                quota: self
                    .quota
                    .zip(self.per)
                    .map(|(limit, per)| quota(limit, per)),
            },
        }
    }
}

// `plans edit`.
#[derive(Args)]
pub struct PlanEdit {
    /// The plan to change
    #[arg(value_name = "NAME")]
    pub plan: String,
    /// Rename it
    #[arg(long = "name", value_name = "NEW")]
    pub new_name: Option<String>,
    /// Sustained requests per second
    #[arg(long, value_name = "N", conflicts_with = "no_rate")]
    pub rate: Option<u32>,
    /// How many requests may come at once above the rate
    #[arg(long, value_name = "N", conflicts_with = "no_rate")]
    pub burst: Option<u32>,
    /// Remove the rate limit (and its burst)
    #[arg(long)]
    pub no_rate: bool,
    /// At most N requests per period (with --per)
    #[arg(long, value_name = "N", requires = "per", conflicts_with = "no_quota")]
    pub quota: Option<u64>,
    /// The quota's period; periods start at 00:00 UTC, weeks on Monday
    #[arg(long, value_enum, requires = "quota", conflicts_with = "no_quota")]
    pub per: Option<PeriodArg>,
    /// Remove the quota
    #[arg(long)]
    pub no_quota: bool,
}

impl PlanEdit {
    /// The plan after this edit: each field given replaces the current one.
    pub fn changed(&self, current: &Plan) -> NewPlan {
        NewPlan {
            name: self
                .new_name
                .clone()
                .unwrap_or_else(|| current.name.clone()),
            limits: self.limits(&current.limits),
        }
    }

    fn limits(&self, current: &PlanLimits) -> PlanLimits {
        let (rate_per_second, burst) = if self.no_rate {
            (None, None)
        } else {
            (
                self.rate.or(current.rate_per_second),
                self.burst.or(current.burst),
            )
        };
        let quota = match (self.no_quota, self.quota, self.per) {
            (true, _, _) => None,
            (false, Some(limit), Some(per)) => Some(quota(limit, per)),
            _ => current.quota,
        };
        PlanLimits {
            rate_per_second,
            burst,
            quota,
        }
    }
}

/// A quota from its two arguments.
fn quota(limit: u64, per: PeriodArg) -> Quota {
    Quota {
        limit,
        per: per.into(),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
    Month,
}

impl From<PeriodArg> for QuotaPeriod {
    fn from(period: PeriodArg) -> Self {
        match period {
            PeriodArg::Day => Self::Day,
            PeriodArg::Week => Self::Week,
            PeriodArg::Month => Self::Month,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
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
pub enum StatusArg {
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
pub fn parse_expiry(text: &str) -> Result<ExpiryChoice, String> {
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

/// An IP address and a port: `127.0.0.1:8787`, `0.0.0.0:8787`, `[::1]:8787`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix("localhost:") {
        return parse_listen(&format!("127.0.0.1:{port}"));
    }
    text.parse().map_err(|_| {
        format!(
            "\"{text}\" is not an address and port to listen on; write it like 127.0.0.1:8787, \
             0.0.0.0:8787 or [::1]:8787"
        )
    })
}

/// Accepts a bare id (`3fJk9QzP0a`) or the form lists show (`kw_3fJk9QzP0a`).
pub fn normalize_id(text: &str) -> String {
    let text = text.trim();
    match text.split('_').collect::<Vec<_>>().as_slice() {
        [_prefix, id, ..] => (*id).to_owned(),
        _ => text.to_owned(),
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
    fn listen_addresses_parse() {
        assert_eq!(
            parse_listen("127.0.0.1:8787"),
            Ok(keyward_server::DEFAULT_LISTEN)
        );
        assert_eq!(
            parse_listen("localhost:9000").map(|a| a.to_string()),
            Ok("127.0.0.1:9000".to_owned())
        );
        assert!(parse_listen("[::1]:8787").is_ok_and(|a| a.ip().is_loopback()));
        for bad in [
            "",
            "8787",
            "127.0.0.1",
            "127.0.0.1:99999",
            "example.com:80",
            "::1:8787",
        ] {
            let error = parse_listen(bad).expect_err(bad);
            assert!(error.contains("127.0.0.1:8787"), "{error}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    fn plan_edit(args: &[&str]) -> PlanEdit {
        let mut all = vec!["keyward-cli", "plans", "edit", "Pro"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).map(|cli| cli.command) {
            Ok(Command::OnStore(StoreCommand::Plans(PlansCommand::Edit(edit)))) => edit,
            _ => panic!("plans edit {args:?} does not parse"),
        }
    }

    #[test]
    fn a_plan_edit_keeps_what_it_does_not_name() {
        let current = PlanLimits {
            rate_per_second: Some(10),
            burst: Some(20),
            quota: Some(Quota {
                limit: 1000,
                per: QuotaPeriod::Day,
            }),
        };
        assert_eq!(plan_edit(&[]).limits(&current), current);
        assert_eq!(
            plan_edit(&["--burst", "5"]).limits(&current),
            PlanLimits {
                burst: Some(5),
                ..current.clone()
            }
        );
        assert_eq!(
            plan_edit(&["--no-rate", "--quota", "7", "--per", "week"]).limits(&current),
            PlanLimits {
                rate_per_second: None,
                burst: None,
                quota: Some(Quota {
                    limit: 7,
                    per: QuotaPeriod::Week
                }),
            }
        );
        assert_eq!(
            plan_edit(&["--no-quota", "--rate", "3"]).limits(&current),
            PlanLimits {
                rate_per_second: Some(3),
                burst: Some(20),
                quota: None,
            }
        );
        for conflicting in [
            &["--rate", "1", "--no-rate"][..],
            &["--quota", "1"],
            &["--per", "day"],
            &["--quota", "1", "--per", "day", "--no-quota"],
        ] {
            let mut all = vec!["keyward-cli", "plans", "edit", "Pro"];
            all.extend_from_slice(conflicting);
            assert!(Cli::try_parse_from(all).is_err(), "{conflicting:?}");
        }
    }

    #[test]
    fn a_key_edit_changes_only_what_it_names() {
        let edit = |args: &[&str]| {
            let mut all = vec!["keyward-cli", "keys", "edit", "kw_3fJk9QzP0a"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all).map(|cli| cli.command) {
                Ok(Command::OnStore(StoreCommand::Keys(KeysCommand::Edit(edit)))) => edit.update(),
                _ => panic!("keys edit {args:?} does not parse"),
            }
        };
        let nothing = edit(&[]);
        assert!(nothing.scopes.is_none() && nothing.plan.is_none() && nothing.expiry.is_none());
        assert_eq!(edit(&["--no-scopes"]).scopes, Some(Vec::new()));
        assert_eq!(
            edit(&["--scope", "read", "--scope", "write"]).scopes,
            Some(vec!["read".to_owned(), "write".to_owned()])
        );
        assert_eq!(edit(&["--track-usage", "off"]).track_usage, Some(false));
        assert_eq!(edit(&["--plan", "Pro"]).plan.as_deref(), Some("Pro"));
    }

    #[test]
    fn ids_are_accepted_with_or_without_prefix() {
        assert_eq!(normalize_id("kw_3fJk9QzP0a"), "3fJk9QzP0a");
        assert_eq!(normalize_id("3fJk9QzP0a"), "3fJk9QzP0a");
        assert_eq!(normalize_id(" kw_3fJk9QzP0a_…x9Qa "), "3fJk9QzP0a");
    }
}
