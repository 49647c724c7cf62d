//! What the CLI writes: every answer, as text or (with `--json`) as JSON, and the one way to
//! standard error. The commands decide what happened; this says it.

use std::fmt::Display;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Local, Utc};
use keyward_core::{
    CopyReport, CreatedKey, KeySummary, OperatorRole, Owner, Plan, RevokeOutcome, SeedReport,
    Verdict,
};
use keyward_store::team::TeamAdded;
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::Failure;

/// Writes one line to standard error, and ignores a failure to do so: a closed or full standard
/// error loses the line, nothing more (`eprintln!` panics instead, exit 101, even after the work
/// is done). Every message of the CLI goes through here.
pub fn to_stderr(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// A time in the local zone to the minute, or `none` for no time.
fn local(at: Option<DateTime<Utc>>, none: &str) -> String {
    at.map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| none.to_owned())
}

/// `value` as indented JSON, on its own lines.
fn pretty(out: &mut impl Write, value: &(impl Serialize + ?Sized)) -> Result<(), Failure> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// `value` as indented JSON with `--json`, else in its `text` form.
fn answer<W: Write, T: Serialize + ?Sized>(
    out: &mut W,
    json: bool,
    value: &T,
    text: impl FnOnce(&mut W, &T) -> std::io::Result<()>,
) -> Result<(), Failure> {
    if json {
        pretty(out, value)
    } else {
        Ok(text(out, value)?)
    }
}

/// `value` as JSON on one line.
fn line(out: &mut impl Write, value: &(impl Serialize + ?Sized)) -> Result<(), Failure> {
    writeln!(out, "{}", serde_json::to_string(value)?)?;
    Ok(())
}

/// `keys create`: the token alone (or the whole key as JSON), flushed at once, since it is the
/// only copy there will be. The caller deletes the key again if this fails.
pub fn created_key(out: &mut impl Write, json: bool, created: &CreatedKey) -> std::io::Result<()> {
    if json {
        let text = serde_json::to_string_pretty(created).map_err(std::io::Error::other)?;
        write_secret(out, &Zeroizing::new(text))
    } else {
        write_secret(out, created.token.expose())
    }
}

fn write_secret(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out, "{text}")?;
    out.flush()
}

/// `keys create`, after the token was written: what was made, on standard error (the token
/// stays alone on standard output, for scripts).
pub fn created_note(json: bool, key: &KeySummary) {
    if !json {
        to_stderr(format_args!(
            "Created \"{}\" ({}_{}), expires {}. Copy the key above now: it is shown only once.",
            key.name,
            key.prefix,
            key.id,
            local(key.expires_at, "never"),
        ));
    }
}

/// `keys list`.
pub fn keys(out: &mut impl Write, json: bool, keys: &[KeySummary]) -> Result<(), Failure> {
    answer(out, json, keys, print_keys)
}

/// `keys edit`: the key after the change, as `keys list` shows it.
pub fn key(out: &mut impl Write, json: bool, key: &KeySummary) -> Result<(), Failure> {
    answer(out, json, key, |out, key| {
        print_keys(out, std::slice::from_ref(key))
    })
}

/// `keys revoke`.
pub fn revoked(out: &mut impl Write, json: bool, outcome: &RevokeOutcome) -> Result<(), Failure> {
    answer(out, json, outcome, |out, outcome| {
        for id in &outcome.revoked {
            writeln!(out, "Revoked {id}")?;
        }
        for id in &outcome.already_revoked {
            writeln!(out, "{id} was already revoked")?;
        }
        Ok(())
    })
}

/// `keys delete`.
pub fn keys_deleted(out: &mut impl Write, json: bool, deleted: u32) -> Result<(), Failure> {
    if json {
        line(out, &json!({ "deleted": deleted }))
    } else {
        Ok(writeln!(out, "Deleted {deleted} key(s)")?)
    }
}

/// `plans list`.
pub fn plans(out: &mut impl Write, json: bool, plans: &[Plan]) -> Result<(), Failure> {
    answer(out, json, plans, print_plans)
}

/// `plans create`, `edit` and `default`: the plan as it is now.
pub fn plan(out: &mut impl Write, json: bool, plan: &Plan) -> Result<(), Failure> {
    answer(out, json, plan, |out, plan| {
        print_plans(out, std::slice::from_ref(plan))
    })
}

/// `plans delete`.
pub fn plan_deleted(out: &mut impl Write, json: bool, name: &str) -> Result<(), Failure> {
    if json {
        line(out, &json!({ "deleted": name }))
    } else {
        Ok(writeln!(out, "Deleted plan \"{name}\"")?)
    }
}

/// `owners ...`: as JSON, or as a table of each owner's active keys against the per-owner limit
/// (`None` with `--json`, where it is not shown).
pub fn owners(out: &mut impl Write, owners: &[Owner], limit: Option<u32>) -> Result<(), Failure> {
    let Some(limit) = limit else {
        return pretty(out, owners);
    };
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
    Ok(())
}

/// `dev seed`: how many keys of each status, and how long it took.
pub fn seeded(
    out: &mut impl Write,
    json: bool,
    report: &SeedReport,
    seconds: f64,
) -> Result<(), Failure> {
    if json {
        let mut shown = serde_json::to_value(report)?;
        shown["seconds"] = json!(seconds);
        return line(out, &shown);
    }
    writeln!(
        out,
        "Seeded {} keys ({} active, {} expired, {} revoked) for {} new owners in {seconds:.2} s",
        report.keys, report.active, report.expired, report.revoked, report.owners
    )?;
    Ok(())
}

/// `verify`: the verdict (and, for a valid key, what it is).
pub fn verdict(out: &mut impl Write, json: bool, verdict: &Verdict) -> Result<(), Failure> {
    if json {
        return line(out, verdict);
    }
    match verdict {
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
    Ok(())
}

/// `backup`.
pub fn backed_up(out: &mut impl Write, json: bool, from: &Path, to: &Path) -> Result<(), Failure> {
    if json {
        line(out, &json!({ "backup": to }))
    } else {
        Ok(writeln!(
            out,
            "Backed up {} to {}",
            from.display(),
            to.display()
        )?)
    }
}

/// `migrate-to`: the counts read back from the destination.
pub fn migrated(
    out: &mut impl Write,
    json: bool,
    report: &CopyReport,
    seconds: f64,
) -> Result<(), Failure> {
    if json {
        let mut shown = serde_json::to_value(report)?;
        shown["seconds"] = json!(seconds);
        return pretty(out, &shown);
    }
    print_migration(out, report, seconds)?;
    Ok(())
}

/// `team init`: the SQL it ran, and what to do next (on standard error).
pub fn team_ready(
    out: &mut impl Write,
    json: bool,
    sql: &[String],
    shown: &str,
) -> Result<(), Failure> {
    if json {
        return line(out, &json!({ "sql": sql }));
    }
    print_sql(out, sql)?;
    to_stderr(format_args!(
        "Keyward's roles are set up on {shown}. Give each login one: keyward-cli team add LOGIN \
         --role admin|manager|verifier"
    ));
    Ok(())
}

/// What `team add` did, and where.
pub struct LoginAdded<'a> {
    pub login: &'a str,
    pub role: OperatorRole,
    pub added: &'a TeamAdded,
    /// The database, as it may be shown (no password).
    pub shown: &'a str,
}

/// `team add`: the SQL it ran, then, on standard error, what the login is now and how to give a
/// new login a password (never on a command line).
pub fn login_added(out: &mut impl Write, json: bool, done: &LoginAdded<'_>) -> Result<(), Failure> {
    let LoginAdded {
        login,
        role,
        added,
        shown,
    } = *done;
    if json {
        let shown_role = serde_json::to_value(role)?;
        return line(
            out,
            &json!({
                "login": login, "role": shown_role,
                "created_login": added.created_login, "sql": added.sql,
            }),
        );
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
        let quoted = keyward_store::team::quoted(login);
        to_stderr(format_args!(
            "The login {login} was created without a password. Set one in psql with \\password \
             {quoted} (or ALTER ROLE ... PASSWORD, typed in psql, never on a command line), \
             unless the server lets it log in another way (pg_hba.conf)."
        ));
    }
    Ok(())
}

fn role_words(role: OperatorRole) -> &'static str {
    match role {
        OperatorRole::Admin => "an administrator",
        OperatorRole::Manager => "a key manager",
        OperatorRole::Verifier => "a verifier",
    }
}

fn print_keys(out: &mut impl Write, keys: &[KeySummary]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<14} {:<30} {:<16} {:<8} {:<12} {:<8} {:<16} {:<16} {:<16}",
        "ID", "NAME", "OWNER", "ROLE", "PLAN", "STATUS", "CREATED", "EXPIRES", "LAST USED"
    )?;
    for key in keys {
        writeln!(
            out,
            "{:<14} {:<30} {:<16} {:<8} {:<12} {:<8} {:<16} {:<16} {:<16}",
            format!("{}_{}", key.prefix, key.id),
            key.name,
            key.owner,
            key.role.as_str(),
            key.plan,
            key.status.as_str(),
            local(Some(key.created_at), ""),
            local(key.expires_at, "never"),
            local(key.last_used_at, "never"),
        )?;
    }
    Ok(())
}

/// Plans as a table: a limit a plan does not have shows as `-`.
fn print_plans(out: &mut impl Write, plans: &[Plan]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:>11} {:>9} {:>20} {:>6}  DEFAULT",
        "NAME", "RATE", "BURST", "QUOTA", "KEYS"
    )?;
    for plan in plans {
        let limits = &plan.limits;
        writeln!(
            out,
            "{:<24} {:>11} {:>9} {:>20} {:>6}  {}",
            plan.name,
            limits
                .rate_per_second
                .map_or_else(|| "-".to_owned(), |r| format!("{}/s", grouped(r.into()))),
            limits
                .burst
                .map_or_else(|| "-".to_owned(), |b| grouped(b.into())),
            limits.quota.map_or_else(
                || "-".to_owned(),
                |q| format!("{}/{}", grouped(q.limit), q.per.as_str())
            ),
            plan.keys,
            if plan.is_default { "yes" } else { "" },
        )?;
    }
    Ok(())
}

/// What `migrate-to` copied, as read back from the destination.
fn print_migration(out: &mut impl Write, report: &CopyReport, seconds: f64) -> std::io::Result<()> {
    let copied = &report.destination;
    writeln!(
        out,
        "Copied {} to {} in {seconds:.2} s:",
        report.from, report.to
    )?;
    for (what, n) in [
        ("keys", copied.keys),
        ("owners", copied.owners),
        ("plans", copied.plans),
        ("settings", copied.settings),
        ("quota counters", copied.quota_counters),
    ] {
        writeln!(out, "  {what:<15} {:>11}", grouped(n))?;
    }
    writeln!(
        out,
        "  {:<15} {:>11}  ({} copied, 1 recording this move)",
        "audit rows",
        grouped(copied.audit),
        grouped(report.source.audit)
    )?;
    writeln!(
        out,
        "Read back from {}: every count matches. {} was not changed; point --db or KEYWARD_DB \
         at the copy to use it.",
        report.to, report.from
    )
}

/// SQL statements as psql takes them: each ended by `;`, in the order they ran.
fn print_sql(out: &mut impl Write, statements: &[String]) -> std::io::Result<()> {
    for statement in statements {
        writeln!(out, "{statement};")?;
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (123_456, "123,456"),
            (1_000_000_000_000, "1,000,000,000,000"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(grouped(n), text);
        }
    }
}
