//! At a realistic size (20,000 keys), every sort reads its index in list order and stops after
//! the page, and a search of 3+ characters reads the trigram indexes: PostgreSQL's own plans,
//! from `EXPLAIN` of exactly what `list_keys` runs.

use keyward_core::backend::{Backend, ListQueryPlan};
use keyward_core::{KeyStatus, ListQuery, PlanLimits, Quota, QuotaPeriod, Role, SortColumn};
use keyward_postgres::PgBackend;

use crate::common::{now, open_new, request, seed};

async fn plan(backend: &PgBackend, query: &ListQuery) -> ListQueryPlan {
    backend
        .list_query_plan(&request(query, now()))
        .await
        .expect("plan")
}

/// Only the key table: a small counts table is rightly read whole.
fn reads_every_key(lines: &[String]) -> bool {
    lines.iter().any(|l| l.contains("Seq Scan on api_keys"))
}

fn uses(lines: &[String], index: &str) -> bool {
    lines.iter().any(|l| l.contains(&format!(" {index} ")))
}

#[tokio::test]
async fn every_sort_and_filter_reads_an_index_at_twenty_thousand_keys() {
    let (backend, _) = open_new().await;
    let rows = seed(&backend, 20_000, 2_500).await;
    // 5,000 keys on a plan with a daily quota, each with a count this day, so that the usage sort
    // has both its parts.
    let mut tx = backend.begin_write().await.expect("begin");
    let daily = PlanLimits {
        rate_per_second: None,
        burst: None,
        quota: Some(Quota {
            limit: 1_000,
            per: QuotaPeriod::Day,
        }),
    };
    assert!(tx.insert_plan("Daily", &daily, now()).await.expect("plan"));
    tx.commit().await.expect("commit");
    let metered: Vec<String> = rows.iter().take(5_000).map(|row| row.id.clone()).collect();
    sqlx::query("UPDATE api_keys SET plan_id = (SELECT id FROM plans WHERE name = 'Daily') WHERE id = ANY($1)")
        .bind(&metered)
        .execute(backend.pool())
        .await
        .expect("move to the plan");
    let day = QuotaPeriod::Day.start_of(now());
    let counts: Vec<_> = metered
        .iter()
        .zip(1u64..)
        .map(|(id, n)| (id.clone(), day, n % 40))
        .collect();
    backend.add_quota_usage(&counts).await.expect("usage");
    // As autovacuum would have by now: the visibility map (for index-only counts) and the
    // planner's statistics of what just changed.
    sqlx::query("VACUUM ANALYZE api_keys, quota_usage, plans")
        .execute(backend.pool())
        .await
        .expect("analyze");

    let sorts = [
        (SortColumn::Created, vec!["api_keys_by_created"]),
        (SortColumn::Name, vec!["api_keys_by_name"]),
        (SortColumn::Role, vec!["api_keys_by_role"]),
        (SortColumn::Expires, vec!["api_keys_by_expires"]),
        (SortColumn::LastUsed, vec!["api_keys_by_last_used"]),
        (
            SortColumn::Owner,
            vec!["owners_by_name", "api_keys_by_owner"],
        ),
        (
            SortColumn::Status,
            vec!["api_keys_revoked_by_created", "api_keys_by_created"],
        ),
        (
            SortColumn::Usage,
            vec!["quota_usage_by_used", "api_keys_by_created"],
        ),
    ];
    for (sort, indexes) in sorts {
        for descending in [true, false] {
            // Deep in the usage sort, a page needs a fifth of the 5,000 counts: PostgreSQL then
            // rightly reads them all once rather than look 1,000 keys up one by one.
            let offsets: &[u32] = if sort == SortColumn::Usage {
                &[0]
            } else {
                &[0, 1_000]
            };
            for &offset in offsets {
                let query = ListQuery {
                    sort,
                    descending,
                    offset,
                    ..ListQuery::default()
                };
                let plan = plan(&backend, &query).await;
                assert!(!reads_every_key(&plan.page), "{query:?}\n{:#?}", plan.page);
                for index in &indexes {
                    assert!(
                        uses(&plan.page, index),
                        "{query:?} {index}\n{:#?}",
                        plan.page
                    );
                }
            }
        }
    }

    let owner = backend.owners(now()).await.expect("owners")[0].name.clone();
    let filters = [
        // A few matches: found from the trigram index of the search text, then sorted.
        (
            ListQuery {
                search: Some("PAYROLL".into()),
                ..ListQuery::default()
            },
            vec!["api_keys_search_trgm"],
        ),
        (
            ListQuery {
                search: Some(format!("kw_{}", &rows[1234].id[..5])),
                sort: SortColumn::Name,
                ..ListQuery::default()
            },
            vec!["api_keys_search_trgm"],
        ),
        (
            ListQuery {
                status: Some(KeyStatus::Revoked),
                ..ListQuery::default()
            },
            vec!["api_keys_revoked_by_created"],
        ),
        (
            ListQuery {
                owner: Some(owner),
                ..ListQuery::default()
            },
            vec!["owners_by_name", "api_keys_by_owner"],
        ),
        (
            ListQuery {
                role: Some(Role::Admin),
                ..ListQuery::default()
            },
            vec!["api_keys_by_role"],
        ),
        (
            ListQuery {
                expiring_within_days: Some(7),
                ..ListQuery::default()
            },
            vec!["api_keys_unrevoked_by_expiry"],
        ),
    ];
    for (query, indexes) in filters {
        let plan = plan(&backend, &query).await;
        for lines in [&plan.page, &plan.count] {
            assert!(!reads_every_key(lines), "{query:?}\n{lines:#?}");
            for index in &indexes {
                assert!(uses(lines, index), "{query:?} {index}\n{lines:#?}");
            }
        }
    }

    // A term most keys hold (and one too short for trigrams): the page walks the sort's index
    // and keeps the matches, which fill a page long before a range of the index would.
    for term in ["billing", "kw_", "bi"] {
        let query = ListQuery {
            search: Some(term.into()),
            ..ListQuery::default()
        };
        let plan = plan(&backend, &query).await;
        assert!(!reads_every_key(&plan.page), "{query:?}\n{:#?}", plan.page);
        assert!(uses(&plan.page, "api_keys_by_created"), "{:#?}", plan.page);
    }

    // Active and expired keys are large shares of all keys: the page walks the list's index and
    // keeps the matching keys. (Their count reads about half the table whichever way; PostgreSQL
    // picks the cheaper way for itself.)
    for status in [KeyStatus::Active, KeyStatus::Expired] {
        let query = ListQuery {
            status: Some(status),
            ..ListQuery::default()
        };
        let plan = plan(&backend, &query).await;
        assert!(!reads_every_key(&plan.page), "{query:?}\n{:#?}", plan.page);
        assert!(uses(&plan.page, "api_keys_by_created"), "{:#?}", plan.page);
    }
    backend.close().await;
}
