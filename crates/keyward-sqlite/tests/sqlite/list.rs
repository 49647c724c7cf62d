//! The key list's searches: each way (pair index fetched or walked, or counted to a bound) finds the
//! same keys.
//! That every filter and sort reads an index is checked on both backends, through the store
//! (`crates/keyward-store/tests/store/query_plans.rs`).

use keyward_core::backend::Backend;
use keyward_core::{KeyStatus, ListQuery};

use super::{fresh, now, request, seed};

/// The ids and total a search finds, 200 at a time.
async fn search(backend: &impl Backend, term: &str) -> (Vec<String>, i64) {
    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let query = ListQuery {
            search: Some(term.into()),
            limit: 200,
            offset,
            ..ListQuery::default()
        };
        let page = backend
            .list_keys(&request(&query, now()))
            .await
            .expect("list");
        let done = page.keys.len() < 200;
        ids.extend(page.keys.into_iter().map(|k| k.id));
        if done {
            return (ids, page.total);
        }
        offset += 200;
    }
}

/// Whether each search way finds exactly the keys whose name or handle holds the term.
#[tokio::test]
async fn fetched_walked_and_scanned_searches_find_every_match_once() {
    let (_dir, backend) = fresh().await;
    seed(&backend, 600).await;
    let everything = ListQuery {
        limit: 200,
        ..ListQuery::default()
    };
    let mut all = Vec::new();
    for offset in [0, 200, 400] {
        let page = ListQuery {
            offset,
            ..everything.clone()
        };
        all.extend(
            backend
                .list_keys(&request(&page, now()))
                .await
                .expect("list")
                .keys,
        );
    }
    assert_eq!(all.len(), 600);
    // "billing": few matches, fetched; "kw_": every key, walked; "bi" and "Gr": two characters,
    // from the pair index too; "GRAFANA": the search text is folded, so any case finds it.
    for term in ["billing", "kw_", "bi", "Gr", "GRAFANA", "100%"] {
        let lower = term.to_lowercase();
        let mut expected: Vec<String> = all
            .iter()
            .filter(|k| {
                k.name.to_lowercase().contains(&lower)
                    || format!("{}_{}", k.prefix, k.id)
                        .to_lowercase()
                        .contains(&lower)
            })
            .map(|k| k.id.clone())
            .collect();
        let (mut found, total) = search(&backend, term).await;
        assert_eq!(usize::try_from(total).ok(), Some(expected.len()), "{term}");
        found.sort();
        expected.sort();
        assert_eq!(found, expected, "{term}");
    }
}

#[tokio::test]
async fn each_status_filter_counts_its_own_keys() {
    let (_dir, backend) = fresh().await;
    seed(&backend, 300).await;
    let mut total = 0;
    for status in [KeyStatus::Active, KeyStatus::Expired, KeyStatus::Revoked] {
        let query = ListQuery {
            status: Some(status),
            limit: 200,
            ..ListQuery::default()
        };
        let page = backend
            .list_keys(&request(&query, now()))
            .await
            .expect("list");
        assert_eq!(page.total, 100, "{status:?}");
        for key in &page.keys {
            assert_eq!(
                KeyStatus::derive(now(), key.expires_at, key.revoked_at),
                status
            );
        }
        total += page.total;
    }
    assert_eq!(total, 300);
}
