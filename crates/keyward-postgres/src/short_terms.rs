//! Search terms of one or two characters, which hold no trigram: looked up first in the index
//! of every key's one- and two-character pieces (migration 0005), as SQLite's search looks every
//! term up in its index of pairs. Few matches are then fetched by key and sorted; many are found
//! by walking the sort's index, testing each row's text, as longer common terms are.

use keyward_core::backend::ListRequest;
use keyward_core::Result;
use sqlx::PgPool;

use crate::errors::{Address, DbResult};

/// Terms shorter than this hold no trigram.
pub(crate) const TRIGRAM_CHARS: usize = 3;

/// What the pieces' index found for a short term.
#[derive(Debug, Clone)]
pub(crate) struct ShortMatches {
    /// How many keys hold the term, counted up to the request's count limit.
    pub(crate) counted: i64,
    /// All of them, when there are fewer than the limit: the page then takes its keys from
    /// these (`k.seq = ANY(…)`), so the index is read once per list call.
    pub(crate) all: Option<Vec<i64>>,
}

/// Counts a short term's matches in the pieces' index, up to the count limit; `None` for no
/// search or a longer term.
pub(crate) async fn look_up(
    pool: &PgPool,
    at: &Address,
    request: &ListRequest<'_>,
) -> Result<Option<ShortMatches>> {
    let Some(term) = request
        .search
        .as_deref()
        .filter(|t| t.chars().count() < TRIGRAM_CHARS)
    else {
        return Ok(None);
    };
    let limit = request.count_limit.unwrap_or(i64::MAX);
    let (seqs,): (Vec<i64>,) = sqlx::query_as(
        "SELECT ARRAY(SELECT g.seq FROM api_keys_short_grams g \
         WHERE g.grams @> ARRAY[$1::text] LIMIT $2)",
    )
    // Planned for its own term, as the list's statements are: a plan cached for any term would
    // read the whole index for "e" as it does for "zq".
    .persistent(false)
    .bind(term)
    .bind(limit)
    .fetch_one(pool)
    .await
    .db(at)?;
    let counted = i64::try_from(seqs.len()).unwrap_or(i64::MAX);
    Ok(Some(ShortMatches {
        counted,
        all: (counted < limit).then_some(seqs),
    }))
}
