use crate::backend::AuditFilter;
use crate::error::Result;
use crate::models::{AuditEvent, AuditPage, AuditQuery, MAX_PAGE_SIZE};

use super::{count, Store};

impl Store {
    /// One key's history (or the whole log), oldest first.
    pub async fn audit_events(&self, key_id: Option<&str>) -> Result<Vec<AuditEvent>> {
        self.backend
            .audit_events(&AuditFilter {
                key_id,
                action: None,
            })
            .await
    }

    /// A page of the audit log, newest first, filtered by key and action.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage> {
        let limit = match query.limit {
            0 => 50,
            n => n.min(MAX_PAGE_SIZE),
        };
        let filter = AuditFilter {
            key_id: query.key_id.as_deref(),
            action: query.action.as_deref(),
        };
        let (events, total) = self
            .backend
            .audit_page(&filter, limit, query.offset)
            .await?;
        Ok(AuditPage {
            events,
            total: count(total),
            offset: query.offset,
        })
    }

    /// Every event matching the query's filters (paging ignored), oldest first, for export.
    pub async fn audit_export(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        self.backend
            .audit_events(&AuditFilter {
                key_id: query.key_id.as_deref(),
                action: query.action.as_deref(),
            })
            .await
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
