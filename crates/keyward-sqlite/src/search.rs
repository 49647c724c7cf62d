//! The key list's search: any substring of the name or of the handle (`kw_3fJk9QzP0a`),
//! ignoring case. Three characters or more are looked up in the FTS5 trigram index of
//! migration 0004; shorter terms, which no trigram holds, fall back to LIKE.

use sqlx::sqlite::SqlitePool;

use keyward_core::backend::ListRequest;
use keyward_core::Result;

use crate::error::OrDb;

/// Searches shorter than this many characters cannot use the trigram index and read every row.
const TRIGRAM_CHARS: usize = 3;

/// How the list's search term is matched.
pub(crate) enum Search {
    /// Three or more characters: the trigram index has already found the matching rows. They are
    /// passed back as a JSON array of rowids, so the index is read once per list call.
    Indexed {
        matched: i64,
        rowids: String,
        /// Whether to read the sort's index in order and keep matching rows until the page is
        /// full, rather than fetch every match and sort them.
        walk: bool,
    },
    /// One or two characters, which no trigram holds: LIKE over every row.
    Scan(String),
}

impl Search {
    /// Runs the search part of a list query: the trigram index for three or more characters.
    pub(crate) async fn run(pool: &SqlitePool, request: &ListRequest<'_>) -> Result<Option<Self>> {
        // The core gives the term in names' stored form, so "é" typed either way finds them.
        let Some(term) = request.search.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if term.chars().count() < TRIGRAM_CHARS {
            return Ok(Some(Self::Scan(like_pattern(term))));
        }
        // seq grows with every key, so MAX(seq) is a cheap stand-in for how many there are.
        let (matched, rowids, keys): (i64, String, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), json_group_array(rowid), (SELECT MAX(seq) FROM api_keys) \
             FROM api_keys_search WHERE api_keys_search MATCH ?",
        )
        .bind(trigram_match(term))
        .fetch_one(pool)
        .await
        .db()?;
        Ok(Some(Self::Indexed {
            walk: Self::walk(
                matched,
                keys.unwrap_or(0),
                request.query.offset,
                request.limit,
            ),
            matched,
            rowids,
        }))
    }

    /// Fetching and sorting every match costs about one row read per match; walking the sort's
    /// index costs one cheaper probe per row walked, and a page needs about
    /// (offset + limit) × keys / matches of them. Walk when that is the smaller.
    fn walk(matched: i64, keys: i64, offset: u32, limit: u32) -> bool {
        let rows_to_walk = (i128::from(offset) + i128::from(limit)) * i128::from(keys);
        rows_to_walk < 4 * i128::from(matched) * i128::from(matched)
    }
}

/// The FTS5 query for a substring of the name or the handle: one quoted phrase (quotes inside
/// doubled), which the trigram tokenizer matches anywhere, ignoring case.
fn trigram_match(term: &str) -> String {
    format!("{{name handle}} : \"{}\"", term.replace('"', "\"\""))
}

/// LIKE's pattern for a literal substring: its wildcards in the term are escaped.
fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_wildcards_in_a_term_are_literal() {
        assert_eq!(
            trigram_match(r#"say "hi""#),
            r#"{name handle} : "say ""hi""""#
        );
        assert_eq!(like_pattern(r"5%_\"), r"%5\%\_\\%");
    }

    #[test]
    fn many_matches_walk_the_sort_index_and_few_are_fetched_and_sorted() {
        // Every one of 100,000 keys matches: a page of 50 is found by walking 50 rows.
        assert!(Search::walk(100_000, 100_000, 0, 50));
        // Ten matches among 100,000 keys: walking would read about half a million rows.
        assert!(!Search::walk(10, 100_000, 0, 50));
    }
}
