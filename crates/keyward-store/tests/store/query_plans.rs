//! Every filter and every sort of the key list reads an index: a page never scans the whole key
//! table, nor sorts more than it must. Each backend's planner words its plans differently, so
//! each has its own test over the same queries. (On PostgreSQL a count that must read most keys
//! anyway may scan the table: see `postgres::problems`.)

use keyward_core::{
    KeyStatus, ListQuery, NewPlan, PlanLimits, Quota, QuotaPeriod, Role, SortColumn, Store,
};

/// Seeds `keys` made-up keys on a plan with a daily quota, and gives the newest `counted` of
/// them a count this day (most above 0), so that the usage sort has both of its parts. Returns one
/// owner's name.
async fn seed(store: &Store, keys: u32, counted: u32) -> String {
    let daily = NewPlan {
        name: "Daily".into(),
        limits: PlanLimits {
            rate_per_second: None,
            burst: None,
            quota: Some(Quota {
                limit: 1000,
                per: QuotaPeriod::Day,
            }),
        },
    };
    store.create_plan(daily).await.expect("plan");
    // Seeded keys get the default plan.
    store.set_default_plan("Daily").await.expect("default");
    store.seed_keys(keys).await.expect("seed");
    let owner = store.list_owners().await.expect("owners")[0].name.clone();
    let day = QuotaPeriod::Day.start_of(store.now());
    let mut ids = Vec::new();
    for offset in (0..counted).step_by(200) {
        let page = store
            .list_keys(&ListQuery {
                limit: 200,
                offset,
                ..ListQuery::default()
            })
            .await
            .expect("list");
        ids.extend(page.keys.into_iter().map(|k| k.id));
    }
    let counts: Vec<_> = ids
        .into_iter()
        .take(usize::try_from(counted).expect("fits"))
        .zip(1..)
        .map(|(id, n)| (id, day, n % 40))
        .collect();
    assert_eq!(counts.len(), counted as usize);
    store.add_quota_usage(&counts).await.expect("usage");
    owner
}

/// Each filter alone.
fn filters(owner: &str) -> Vec<ListQuery> {
    vec![
        ListQuery::default(),
        // Few matches: fetched and sorted.
        ListQuery {
            search: Some("billing".into()),
            ..ListQuery::default()
        },
        // Every key matches: the sort's index is walked instead.
        ListQuery {
            search: Some("kw_".into()),
            ..ListQuery::default()
        },
        // Two characters: SQLite's pair index; on PostgreSQL the pieces' index, then (matching
        // many) tested row by row while walking the sort's index.
        ListQuery {
            search: Some("bi".into()),
            ..ListQuery::default()
        },
        ListQuery {
            status: Some(KeyStatus::Active),
            ..ListQuery::default()
        },
        ListQuery {
            status: Some(KeyStatus::Expired),
            ..ListQuery::default()
        },
        ListQuery {
            status: Some(KeyStatus::Revoked),
            ..ListQuery::default()
        },
        ListQuery {
            owner: Some(owner.to_owned()),
            ..ListQuery::default()
        },
        ListQuery {
            role: Some(Role::Admin),
            ..ListQuery::default()
        },
        ListQuery {
            expiring_within_days: Some(7),
            ..ListQuery::default()
        },
    ]
}

/// Every filter, every sort both ways, and the usage sort with every filter too (its two parts
/// each keep an index).
fn queries(owner: &str) -> Vec<ListQuery> {
    let filters = filters(owner);
    let mut queries = filters.clone();
    for sort in [
        SortColumn::Name,
        SortColumn::Owner,
        SortColumn::Role,
        SortColumn::Status,
        SortColumn::Expires,
        SortColumn::LastUsed,
        SortColumn::Usage,
    ] {
        for descending in [true, false] {
            queries.push(ListQuery {
                sort,
                descending,
                ..ListQuery::default()
            });
        }
    }
    queries.extend(filters.iter().map(|filter| ListQuery {
        sort: SortColumn::Usage,
        ..filter.clone()
    }));
    queries
}

/// One owner's keys, those expiring this week and a few search matches are found from their own
/// index and sorted afterwards; every other query reads its rows in list order.
fn few_matches(query: &ListQuery) -> bool {
    query.search.as_deref() == Some("billing")
        || query.owner.is_some()
        || query.expiring_within_days.is_some()
}

mod sqlite {
    use super::{few_matches, queries, seed};
    use crate::harness::Db;
    use keyward_core::SortColumn;

    /// SQLite's `EXPLAIN QUERY PLAN` lines: `SCAN t` reads the whole table unless it walks an
    /// index (`SCAN t USING INDEX …`); `USE TEMP B-TREE FOR ORDER BY` sorts what was read.
    #[tokio::test]
    async fn every_list_filter_and_sort_reads_an_index() {
        let db = Db::sqlite().await;
        let store = db.open().await;
        let owner = seed(&store, 2_000, 300).await;
        for query in queries(&owner) {
            let plan = store.list_query_plan(&query).await.expect("plan");
            for line in plan.page.iter().chain(&plan.count) {
                let scans_the_table = (line.starts_with("SCAN k")
                    || line.starts_with("SCAN u")
                    || line.starts_with("SCAN api_keys")
                    || line.starts_with("SCAN quota_usage"))
                    && !line.contains("INDEX");
                assert!(!scans_the_table, "{query:?}\n{plan:#?}");
            }
            // A search matching under a tenth of the keys is fetched whole from the search
            // index and sorted, whatever its length.
            let total = store.list_keys(&query).await.expect("list").total;
            let few = few_matches(&query) || (query.search.is_some() && total < 200);
            if query.sort == SortColumn::Usage && !few {
                // Counted keys in count order from their index, the others in creation order:
                // only the two parts' first offset + limit rows are sorted, never every key.
                assert!(
                    plan.page
                        .iter()
                        .any(|l| l.starts_with("SEARCH u USING INDEX quota_usage_by_used")),
                    "{query:?}\n{plan:#?}"
                );
                // The only sorts are of each part's rows (after `SCAN (subquery-n)`), to merge
                // them.
                let sorts_inside_a_part = plan.page.windows(2).any(|pair| {
                    pair[1].contains("TEMP B-TREE") && !pair[0].starts_with("SCAN (subquery-")
                });
                assert!(!sorts_inside_a_part, "{query:?}\n{plan:#?}");
            }
            // In list order already: no sort of the whole table for one page. (A few search
            // matches, one owner's keys and the keys expiring this week are sorted; so are the
            // first offset + limit keys of each status, for the status sort.)
            if !few && query.sort != SortColumn::Status && query.sort != SortColumn::Usage {
                assert!(
                    !plan
                        .page
                        .iter()
                        .any(|l| l == "USE TEMP B-TREE FOR ORDER BY"),
                    "{query:?}\n{plan:#?}"
                );
            }
        }
    }
}

mod postgres {
    use super::{few_matches, queries, seed};
    use crate::harness::{Db, Raw};
    use keyward_core::{ListQuery, SortColumn};

    /// Enough keys that the planner's choices are about the data, not about tables of a few
    /// pages, where reading everything is cheapest and PostgreSQL rightly does so.
    const KEYS: u32 = 20_000;
    /// Keys with a count today: the usage sort's counted part, read from its own index.
    const COUNTED: u32 = 2_000;

    /// A node of a PostgreSQL text plan: how deep it sits (where its `->` is; 0 for the root)
    /// and its text (`Seq Scan on api_keys k  (cost=…)`). Property lines (`Filter: …`) are not
    /// nodes.
    struct Node<'a> {
        depth: usize,
        text: &'a str,
    }

    fn nodes(plan: &[String]) -> Vec<Node<'_>> {
        plan.iter()
            .enumerate()
            .filter_map(|(i, line)| match line.find("->  ") {
                Some(at) => Some(Node {
                    depth: at + 1,
                    text: line[at + 4..].trim(),
                }),
                None if i == 0 => Some(Node {
                    depth: 0,
                    text: line.trim(),
                }),
                None => None,
            })
            .collect()
    }

    /// The nodes above `nodes[at]`, nearest first.
    fn ancestors<'p>(nodes: &'p [Node<'p>], at: usize) -> Vec<&'p str> {
        let mut depth = nodes[at].depth;
        let mut above = Vec::new();
        for node in nodes[..at].iter().rev() {
            if node.depth < depth {
                above.push(node.text);
                depth = node.depth;
            }
        }
        above
    }

    fn is_sort(text: &str) -> bool {
        text.starts_with("Sort ") || text.starts_with("Incremental Sort ")
    }

    /// A sort inside one part of a union (a status or a usage part), below that part's LIMIT:
    /// the part sorts all of its matching keys to keep its first offset + limit, instead of
    /// reading them in order from an index.
    fn sorts_a_whole_part(plan: &[String]) -> bool {
        let nodes = nodes(plan);
        (0..nodes.len()).any(|at| {
            if !is_sort(nodes[at].text) {
                return false;
            }
            let above = ancestors(&nodes, at);
            let part_limit = above.iter().position(|t| t.starts_with("Limit "));
            let union = above
                .iter()
                .position(|t| t.starts_with("Append ") || t.starts_with("Merge Append "));
            matches!((part_limit, union), (Some(limit), Some(union)) if limit < union)
        })
    }

    /// What is wrong with `query`'s plan (`page` and `count`), when it matches `total` keys.
    fn problems(
        query: &ListQuery,
        total: u32,
        page: &[String],
        count: &[String],
    ) -> Vec<&'static str> {
        let mut found = Vec::new();
        let seq_scan = |lines: &[String]| lines.iter().any(|l| l.contains("Seq Scan on api_keys"));
        if seq_scan(page) {
            found.push("the page reads the whole key table");
        }
        // A count reads every key it counts. When that is a fifth of the keys or more (no
        // filter, active, expired), or a short term's keys are tested row by row (no
        // trigram), a sequential scan is PostgreSQL's cheapest plan, as it would be by hand;
        // so it is for a search that counts only up to its limit ("kw_", in every handle),
        // which stops early. For any other count it means a missing or unusable index.
        let short_term = query
            .search
            .as_deref()
            .is_some_and(|t| t.chars().count() < 3);
        let stops_early = count
            .iter()
            .any(|l| l.trim_start().starts_with("->  Limit"));
        if seq_scan(count) && !short_term && !stops_early && total * 5 < KEYS {
            found.push("the count reads the whole key table for a fifth of the keys or fewer");
        }
        let few = few_matches(query);
        let merged = query.sort == SortColumn::Status || query.sort == SortColumn::Usage;
        if !few && merged && sorts_a_whole_part(page) {
            found.push("a part of the page sorts all its keys before its limit");
        }
        if !few
            && query.sort == SortColumn::Usage
            && !page.iter().any(|l| l.contains("quota_usage_by_used"))
        {
            found.push("the counted keys are not read in count order from quota_usage_by_used");
        }
        // In list order already: nothing is sorted for one page. (A few search matches, one
        // owner's keys and the keys expiring this week are sorted; status and usage pages merge
        // their parts' first rows.) The owner sort walks owners by name and sorts each one's
        // few keys as it goes (an incremental sort, presorted by the owner's unique name),
        // stopping at the page's end.
        if !few && !merged {
            let sorted = nodes(page).iter().any(|n| {
                is_sort(n.text)
                    && !(query.sort == SortColumn::Owner && n.text.starts_with("Incremental Sort "))
            });
            if sorted {
                found.push("the page is sorted rather than read in list order");
            }
        }
        found
    }

    /// PostgreSQL's `EXPLAIN` lines: `Seq Scan on api_keys` reads the whole key table, a `Sort`
    /// node sorts what was read. Every query is checked before failing, so one run lists every
    /// plan that goes wrong.
    #[tokio::test]
    async fn every_list_filter_and_sort_reads_an_index() {
        let db = Db::postgres().await;
        let store = db.open().await;
        let owner = seed(&store, KEYS, COUNTED).await;
        // What autovacuum does on a server soon after a bulk load, done now so the plans are
        // those a team would get: fresh statistics, and the trigram indexes' pending entries
        // merged (until then the planner rightly avoids them).
        let Raw::Postgres(mut raw) = db.connect().await else {
            panic!("a PostgreSQL database gives a PostgreSQL connection")
        };
        sqlx::query("VACUUM ANALYZE")
            .execute(&mut raw)
            .await
            .expect("VACUUM ANALYZE");
        let mut failed = Vec::new();
        let mut plans = String::new();
        for query in queries(&owner) {
            let plan = store.list_query_plan(&query).await.expect("plan");
            let total = store.list_keys(&query).await.expect("list").total;
            let found = problems(&query, total, &plan.page, &plan.count);
            if !found.is_empty() {
                failed.push(format!("{query:?}: {}", found.join("; ")));
                plans.push_str(&format!(
                    "\n{query:?}, {total} keys\n--- page\n{}\n--- count\n{}\n",
                    plan.page.join("\n"),
                    plan.count.join("\n")
                ));
            }
        }
        assert!(
            failed.is_empty(),
            "{} of the list's queries at {KEYS} keys:\n{}\n{plans}",
            failed.len(),
            failed.join("\n")
        );
    }
}
