//! What the CLI writes: the one way to standard error, and the text forms of keys and times.

use std::fmt::Display;
use std::io::Write;

use chrono::{DateTime, Local, Utc};
use keyward_core::{CopyReport, KeySummary, Plan};

/// Writes one line to standard error, and ignores a failure to do so: a closed or full standard
/// error loses the line, nothing more (`eprintln!` panics instead, exit 101, even after the work
/// is done). Every message of the CLI goes through here.
pub fn to_stderr(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// A time in the local zone to the minute, or `none` for no time.
pub fn local(at: Option<DateTime<Utc>>, none: &str) -> String {
    at.map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| none.to_owned())
}

pub fn print_keys(out: &mut impl Write, keys: &[KeySummary]) -> std::io::Result<()> {
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
pub fn print_plans(out: &mut impl Write, plans: &[Plan]) -> std::io::Result<()> {
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
pub fn print_migration(
    out: &mut impl Write,
    report: &CopyReport,
    seconds: f64,
) -> std::io::Result<()> {
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
pub fn print_sql(out: &mut impl Write, statements: &[String]) -> std::io::Result<()> {
    for statement in statements {
        writeln!(out, "{statement};")?;
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
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
