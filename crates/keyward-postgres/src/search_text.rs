//! Keys' search text (migration 0005) for the rows the migration could not fold itself.

use keyward_core::names::key_search_text;
use keyward_core::Result;
use sqlx::PgConnection;

use crate::errors::{Address, DbResult};

/// Writes the search text of keys that have none: after migration 0005, those whose names SQL
/// could not fold (not ASCII); later none, since every write sets it, so this is one look into
/// an empty index. Only a login that may write the column does it (a verifier may not, and a
/// key manager sees only its own keys).
pub(crate) async fn fill_missing(conn: &mut PgConnection, at: &Address) -> Result<()> {
    let missing: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT seq, name, prefix, id FROM api_keys WHERE search_text IS NULL \
         AND has_column_privilege('api_keys', 'search_text', 'UPDATE')",
    )
    .fetch_all(&mut *conn)
    .await
    .db(at)?;
    if missing.is_empty() {
        return Ok(());
    }
    let (seqs, texts): (Vec<i64>, Vec<String>) = missing
        .iter()
        .map(|(seq, name, prefix, id)| (*seq, key_search_text(name, prefix, id)))
        .unzip();
    sqlx::query(
        "UPDATE api_keys SET search_text = v.text \
         FROM unnest($1::bigint[], $2::text[]) AS v(seq, text) WHERE api_keys.seq = v.seq",
    )
    .bind(seqs)
    .bind(texts)
    .execute(conn)
    .await
    .db(at)?;
    Ok(())
}
