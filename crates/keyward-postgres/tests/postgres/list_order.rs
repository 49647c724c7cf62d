//! The list's SQL against a plain Rust sort of the same rows: every sort, both ways, page by page,
//! and each filter. What it pins down is PostgreSQL-specific (collations, `infinity`, the usage
//! join), so it is checked here; the core's list rules are tested through the store.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Utc};
use keyward_core::backend::{Backend, KeyRecord};
use keyward_core::{KeyStatus, ListQuery, PlanLimits, Quota, QuotaPeriod, Role, SortColumn};

use crate::common::{now, open_new, request, seed, Rng};

const KEYS: usize = 400;

/// The list's order for `sort`, written out: ties by creation then id, ASCII case folded for
/// names, never-expiring after every date, never-used as the epoch.
fn compare(
    sort: SortColumn,
    a: &KeyRecord,
    b: &KeyRecord,
    usage: &dyn Fn(&str) -> u64,
) -> Ordering {
    let ties = a
        .created_at
        .cmp(&b.created_at)
        .then_with(|| a.id.cmp(&b.id));
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let status_rank = |k: &KeyRecord| match KeyStatus::derive(now(), k.expires_at, k.revoked_at) {
        KeyStatus::Revoked => 2,
        KeyStatus::Expired => 1,
        KeyStatus::Active => 0,
    };
    match sort {
        SortColumn::Created => ties,
        SortColumn::Name => a
            .name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
            .then(ties),
        SortColumn::Owner => a
            .owner
            .to_ascii_lowercase()
            .cmp(&b.owner.to_ascii_lowercase())
            .then(ties),
        SortColumn::Role => a.role.cmp(&b.role).then(ties),
        SortColumn::Expires => match (a.expires_at, b.expires_at) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        }
        .then(ties),
        SortColumn::LastUsed => a
            .last_used_at
            .unwrap_or(epoch)
            .cmp(&b.last_used_at.unwrap_or(epoch))
            .then(ties),
        SortColumn::Status => status_rank(a).cmp(&status_rank(b)).then(ties),
        // Counted keys above the others; equal counts by id alone; the rest by creation.
        SortColumn::Usage => {
            let (ua, ub) = (usage(&a.id), usage(&b.id));
            match (ua > 0, ub > 0) {
                (true, true) => ua.cmp(&ub).then_with(|| a.id.cmp(&b.id)),
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => ties,
            }
        }
    }
}

#[tokio::test]
async fn every_sort_pages_through_the_keys_in_the_order_written_out() {
    let (backend, _) = open_new().await;
    let rows = seed(&backend, KEYS, 30).await;
    let mut keys = Vec::new();
    for row in &rows {
        keys.push(backend.key(&row.id).await.expect("key").expect("seeded"));
    }

    // Half the keys on a weekly quota. Counts of this week count; last week's, and counts of
    // keys on Unlimited, count as 0.
    let mut tx = backend.begin_write().await.expect("begin");
    let weekly = PlanLimits {
        rate_per_second: Some(5),
        burst: Some(10),
        quota: Some(Quota {
            limit: 100,
            per: QuotaPeriod::Week,
        }),
    };
    assert!(tx
        .insert_plan("Weekly", &weekly, now())
        .await
        .expect("plan"));
    tx.commit().await.expect("commit");
    let metered: Vec<String> = keys.iter().step_by(2).map(|k| k.id.clone()).collect();
    sqlx::query(
        "UPDATE api_keys SET plan_id = (SELECT id FROM plans WHERE name = 'Weekly') \
         WHERE id = ANY($1)",
    )
    .bind(&metered)
    .execute(backend.pool())
    .await
    .expect("move");
    let week = QuotaPeriod::Week.start_of(now());
    let mut rng = Rng::new(7);
    let mut counts = Vec::new();
    let mut usage = std::collections::HashMap::new();
    for (n, key) in keys.iter().enumerate() {
        let (period, used) = match n % 5 {
            0 => (week, 0),
            1 => (week - Duration::days(7), 1 + rng.below(9)),
            _ => (week, 1 + rng.below(9)),
        };
        counts.push((key.id.clone(), period, used));
        if n % 2 == 0 && period == week {
            usage.insert(key.id.clone(), used);
        }
    }
    backend.add_quota_usage(&counts).await.expect("usage");
    let usage_of = |id: &str| usage.get(id).copied().unwrap_or(0);

    for sort in [
        SortColumn::Created,
        SortColumn::Name,
        SortColumn::Owner,
        SortColumn::Role,
        SortColumn::Expires,
        SortColumn::LastUsed,
        SortColumn::Status,
        SortColumn::Usage,
    ] {
        for descending in [false, true] {
            let mut expected = keys.clone();
            expected.sort_by(|a, b| {
                let order = compare(sort, a, b, &usage_of);
                if descending {
                    order.reverse()
                } else {
                    order
                }
            });
            let mut listed = Vec::new();
            for offset in (0..KEYS + 37).step_by(37) {
                let query = ListQuery {
                    sort,
                    descending,
                    offset: offset as u32,
                    limit: 37,
                    ..ListQuery::default()
                };
                let page = backend
                    .list_keys(&request(&query, now()))
                    .await
                    .expect("page");
                assert_eq!(page.total, KEYS as i64);
                listed.extend(page.keys.into_iter().map(|k| k.id));
            }
            let expected: Vec<String> = expected.into_iter().map(|k| k.id).collect();
            assert_eq!(listed, expected, "{sort:?} descending {descending}");
        }
    }
}

#[tokio::test]
async fn each_filter_keeps_exactly_its_keys() {
    let (backend, _) = open_new().await;
    let rows = seed(&backend, KEYS, 12).await;
    let mut keys = Vec::new();
    for row in &rows {
        keys.push(backend.key(&row.id).await.expect("key").expect("seeded"));
    }
    let owner = keys[0].owner.clone();
    let handle_part = keys[3].id[..6].to_owned();
    let until = now() + Duration::days(30);
    let status = |k: &KeyRecord| KeyStatus::derive(now(), k.expires_at, k.revoked_at);
    type Keep = Box<dyn Fn(&KeyRecord) -> bool>;
    let owner_kept = owner.clone();
    let handle_kept = handle_part.to_ascii_lowercase();
    let cases: Vec<(ListQuery, Keep)> = vec![
        (
            ListQuery {
                search: Some("PAYROLL".into()),
                ..ListQuery::default()
            },
            Box::new(|k: &KeyRecord| k.name.to_lowercase().contains("payroll")),
        ),
        // Case-insensitive on the handle too, and `_` is literal.
        (
            ListQuery {
                search: Some(format!("KW_{}", handle_part.to_uppercase())),
                ..ListQuery::default()
            },
            Box::new(move |k: &KeyRecord| {
                format!("kw_{}", k.id.to_ascii_lowercase()).contains(&format!("kw_{handle_kept}"))
            }),
        ),
        // Two characters: no trigram, matched row by row. `%` is literal.
        (
            ListQuery {
                search: Some("0%".into()),
                ..ListQuery::default()
            },
            Box::new(|k: &KeyRecord| k.name.contains("0%")),
        ),
        (
            ListQuery {
                status: Some(KeyStatus::Expired),
                ..ListQuery::default()
            },
            Box::new(move |k: &KeyRecord| status(k) == KeyStatus::Expired),
        ),
        (
            ListQuery {
                status: Some(KeyStatus::Active),
                ..ListQuery::default()
            },
            Box::new(move |k: &KeyRecord| status(k) == KeyStatus::Active),
        ),
        // The owner as typed in another case and with extra blanks.
        (
            ListQuery {
                owner: Some(format!("  {}  ", owner.to_uppercase())),
                ..ListQuery::default()
            },
            Box::new(move |k: &KeyRecord| k.owner == owner_kept),
        ),
        (
            ListQuery {
                role: Some(Role::Admin),
                ..ListQuery::default()
            },
            Box::new(|k: &KeyRecord| k.role == "admin"),
        ),
        (
            ListQuery {
                expiring_within_days: Some(30),
                ..ListQuery::default()
            },
            Box::new(move |k: &KeyRecord| {
                status(k) == KeyStatus::Active && k.expires_at.is_some_and(|at| at <= until)
            }),
        ),
    ];
    for (query, keep) in cases {
        let mut expected: Vec<&KeyRecord> = keys.iter().filter(|k| keep(k)).collect();
        expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        assert!(
            !expected.is_empty(),
            "{query:?} matches nothing in the seed"
        );
        let query = ListQuery {
            limit: 200,
            ..query
        };
        let page = backend
            .list_keys(&request(&query, now()))
            .await
            .expect("page");
        let expected: Vec<&str> = expected.iter().take(200).map(|k| k.id.as_str()).collect();
        let listed: Vec<&str> = page.keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(listed, expected, "{query:?}");
        assert_eq!(
            page.total,
            keys.iter().filter(|k| keep(k)).count() as i64,
            "{query:?}"
        );
    }
}
