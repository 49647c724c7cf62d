use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{count, from_millis, to_millis, Store, WriteTx};
use crate::error::Result;
use crate::models::{AuditEvent, AuditPage, AuditQuery, MAX_PAGE_SIZE};

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    key_id: Option<String>,
    details: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: count(r.seq),
            at: from_millis(r.at),
            actor: r.actor,
            action: r.action,
            key_id: r.key_id,
            details: r.details,
        }
    }
}

const FILTER: &str = "WHERE (?1 IS NULL OR key_id = ?1) AND (?2 IS NULL OR action = ?2)";

impl Store {
    /// Writes one audit row inside the caller's transaction, so the change and its record commit
    /// or fail together. `details` never holds a secret.
    pub(crate) async fn audit(
        &self,
        tx: &mut WriteTx,
        at: DateTime<Utc>,
        action: &str,
        key_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, key_id, details) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(to_millis(at))
        .bind(&self.actor)
        .bind(action)
        .bind(key_id)
        .bind(details.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// One key's history (or the whole log), oldest first.
    pub async fn audit_events(&self, key_id: Option<&str>) -> Result<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT seq, at, actor, action, key_id, details FROM audit_log {FILTER} ORDER BY seq"
        ))
        .bind(key_id)
        .bind(None::<String>)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    /// A page of the audit log, newest first, filtered by key and action.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage> {
        let limit = match query.limit {
            0 => 50,
            n => n.min(MAX_PAGE_SIZE),
        };
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT seq, at, actor, action, key_id, details FROM audit_log {FILTER} \
             ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
        ))
        .bind(&query.key_id)
        .bind(&query.action)
        .bind(limit)
        .bind(query.offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM audit_log {FILTER}"))
            .bind(&query.key_id)
            .bind(&query.action)
            .fetch_one(&self.pool)
            .await?;
        Ok(AuditPage {
            events: rows.into_iter().map(AuditEvent::from).collect(),
            total: count(total),
            offset: query.offset,
        })
    }

    /// Every event matching the query's filters (paging ignored), oldest first, for export.
    pub async fn audit_export(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT seq, at, actor, action, key_id, details FROM audit_log {FILTER} ORDER BY seq"
        ))
        .bind(&query.key_id)
        .bind(&query.action)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }
}

fn csv_field(text: &str) -> String {
    // Quote every field, double inner quotes, and defuse spreadsheet formulas.
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The events as CSV with a header row: seq, at (UTC, RFC 3339), actor, action, key_id, details.
pub fn audit_csv(events: &[AuditEvent]) -> String {
    let mut out = String::from("seq,at,actor,action,key_id,details\n");
    for e in events {
        let fields = [
            e.seq.to_string(),
            e.at.to_rfc3339(),
            e.actor.clone(),
            e.action.clone(),
            e.key_id.clone().unwrap_or_default(),
            e.details.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_every_field_and_defuses_formulas() {
        let event = AuditEvent {
            seq: 7,
            at: chrono::DateTime::UNIX_EPOCH,
            actor: "=cmd|' /C calc'!A0".into(),
            action: "key_created".into(),
            key_id: None,
            details: r#"{"name":"say \"hi\""}"#.into(),
        };
        let csv = audit_csv(&[event]);
        let row = csv.lines().nth(1).expect("one row");
        assert_eq!(
            row,
            r#""7","1970-01-01T00:00:00+00:00","'=cmd|' /C calc'!A0","key_created","","{""name"":""say \""hi\""""}""#
        );
    }
}
