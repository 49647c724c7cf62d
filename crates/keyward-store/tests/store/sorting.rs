//! Every sort, page after page, in exactly the order its definition gives; and the usage sort,
//! which mixes counted and uncounted keys.

use std::cmp::Ordering;
use std::collections::HashMap;

use keyward_core::{
    Clock, ExpiryChoice, KeyStatus, KeySummary, ListQuery, NewKey, NewPlan, PlanLimits, Quota,
    QuotaPeriod, SortColumn,
};

use crate::harness::Db;

/// Page after page, every sort gives exactly the order its definition says, with no key twice
/// and none missing, across the boundaries between statuses too.
async fn every_sort_pages_through_all_keys_in_the_defined_order(db: Db) {
    let store = db.open().await;
    store.seed_keys(300).await.expect("seed");
    let now = store.now();
    let all = store
        .list_keys(&ListQuery {
            limit: 200,
            ..ListQuery::default()
        })
        .await
        .expect("list");
    let mut all = all.keys;
    all.extend(
        store
            .list_keys(&ListQuery {
                limit: 200,
                offset: 200,
                ..ListQuery::default()
            })
            .await
            .expect("list")
            .keys,
    );
    assert_eq!(all.len(), 300);
    let rank = |k: &KeySummary| match k.status {
        KeyStatus::Active => 0,
        KeyStatus::Expired => 1,
        KeyStatus::Revoked => 2,
    };
    for sort in [
        SortColumn::Created,
        SortColumn::Name,
        SortColumn::Owner,
        SortColumn::Role,
        SortColumn::Status,
        SortColumn::Expires,
        SortColumn::LastUsed,
        SortColumn::Usage,
    ] {
        for descending in [true, false] {
            let mut expected = all.clone();
            expected.sort_by(|a, b| {
                let lead = match sort {
                    // No key has a quota count here (see the next test for those).
                    SortColumn::Created | SortColumn::Usage => Ordering::Equal,
                    SortColumn::Name => a
                        .name
                        .to_ascii_lowercase()
                        .cmp(&b.name.to_ascii_lowercase()),
                    SortColumn::Owner => a
                        .owner
                        .to_ascii_lowercase()
                        .cmp(&b.owner.to_ascii_lowercase()),
                    SortColumn::Role => a.role.as_str().cmp(b.role.as_str()),
                    SortColumn::Status => rank(a).cmp(&rank(b)),
                    SortColumn::Expires => a
                        .expires_at
                        .map_or(i64::MAX, |t| t.timestamp_millis())
                        .cmp(&b.expires_at.map_or(i64::MAX, |t| t.timestamp_millis())),
                    SortColumn::LastUsed => a
                        .last_used_at
                        .map_or(0, |t| t.timestamp_millis())
                        .cmp(&b.last_used_at.map_or(0, |t| t.timestamp_millis())),
                };
                let order = lead
                    .then(a.created_at.cmp(&b.created_at))
                    .then(a.id.cmp(&b.id));
                if descending {
                    order.reverse()
                } else {
                    order
                }
            });
            let mut paged = Vec::new();
            for offset in (0..300).step_by(40) {
                let page = store
                    .list_keys(&ListQuery {
                        sort,
                        descending,
                        offset,
                        limit: 40,
                        ..ListQuery::default()
                    })
                    .await
                    .expect("list");
                assert_eq!(page.total, 300);
                paged.extend(page.keys.into_iter().map(|k| k.id));
            }
            let expected: Vec<String> = expected.into_iter().map(|k| k.id).collect();
            assert_eq!(paged, expected, "{sort:?} descending {descending} at {now}");
        }
    }
}

/// The usage sort orders keys by their count in their plan's current period, as the details
/// panel shows it: a count from an ended period, or kept from a plan without a quota, is 0.
/// Equal counts go by id; keys at 0 by creation time. Filters apply to both parts.
async fn the_usage_sort_orders_keys_by_their_count_this_period(db: Db) {
    let store = db.open().await;
    let clock = &db.clock;
    for (name, per) in [("Daily", QuotaPeriod::Day), ("Monthly", QuotaPeriod::Month)] {
        let limits = PlanLimits {
            rate_per_second: None,
            burst: None,
            quota: Some(Quota { limit: 1000, per }),
        };
        store
            .create_plan(NewPlan {
                name: name.into(),
                limits,
            })
            .await
            .expect("plan");
    }
    // (name, plan, count added, for which period: 0 = this one, 1 = the one before)
    let keys = [
        ("busy", "Daily", 9, 0),
        ("tied-1", "Daily", 5, 0),
        ("tied-2", "Monthly", 5, 0),
        ("tied-3", "Daily", 5, 0),
        ("yesterday", "Daily", 100, 1),
        ("was-metered", "Unlimited", 50, 0),
        ("unchecked", "Daily", 0, 0),
        ("zero", "Daily", 0, 0),
        ("one", "Monthly", 1, 0),
        ("revoked", "Daily", 7, 0),
        ("unlimited", "Unlimited", 0, 0),
    ];
    let mut ids = HashMap::new();
    for (name, plan, _, _) in keys {
        let created = store
            .create_key(NewKey {
                plan: Some(plan.into()),
                override_limit: true,
                ..NewKey::named(name).expiring(ExpiryChoice::Never)
            })
            .await
            .expect("create");
        ids.insert(name, created.key.id);
        clock.advance(chrono::Duration::milliseconds(10));
    }
    store
        .revoke_keys(&[ids["revoked"].clone()])
        .await
        .expect("revoke");
    let now = clock.now();
    let counts: Vec<_> = keys
        .iter()
        .filter(|(name, ..)| *name != "unchecked")
        .map(|&(name, plan, used, ago)| {
            let per = if plan == "Monthly" {
                QuotaPeriod::Month
            } else {
                QuotaPeriod::Day
            };
            let start = per.start_of(now) - chrono::Duration::days(ago);
            (ids[name].clone(), start, used)
        })
        .collect();
    store.add_quota_usage(&counts).await.expect("usage");

    // What the details panel says each key has used (nothing for a plan without a quota).
    let mut used = HashMap::new();
    for (name, ..) in keys {
        let usage = store.quota_usage(&ids[name]).await.expect("usage");
        used.insert(ids[name].clone(), usage.map_or(0, |u| u.used));
    }
    assert_eq!(used[&ids["yesterday"]], 0);
    assert_eq!(used[&ids["was-metered"]], 0);

    let all = store
        .list_keys(&ListQuery {
            limit: 200,
            ..ListQuery::default()
        })
        .await
        .expect("list")
        .keys;
    for status in [None, Some(KeyStatus::Active)] {
        for descending in [true, false] {
            let mut expected: Vec<&KeySummary> = all
                .iter()
                .filter(|k| status.is_none_or(|s| k.status == s))
                .collect();
            expected.sort_by(|a, b| {
                let (ua, ub) = (used[&a.id], used[&b.id]);
                let order = ua.cmp(&ub).then(if ua > 0 && ub > 0 {
                    a.id.cmp(&b.id)
                } else {
                    a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))
                });
                if descending {
                    order.reverse()
                } else {
                    order
                }
            });
            let expected: Vec<&str> = expected.iter().map(|k| k.name.as_str()).collect();
            // Pages of 2, so page boundaries fall inside and between the parts.
            let mut paged = Vec::new();
            for offset in (0..u32::try_from(keys.len()).expect("few keys")).step_by(2) {
                let page = store
                    .list_keys(&ListQuery {
                        sort: SortColumn::Usage,
                        descending,
                        status,
                        offset,
                        limit: 2,
                        ..ListQuery::default()
                    })
                    .await
                    .expect("list");
                assert_eq!(page.total as usize, expected.len());
                paged.extend(page.keys.into_iter().map(|k| k.name));
            }
            assert_eq!(paged, expected, "{status:?} descending {descending}");
        }
    }
    // Spelled out once, most used first.
    let first: Vec<String> = store
        .list_keys(&ListQuery {
            sort: SortColumn::Usage,
            limit: 6,
            ..ListQuery::default()
        })
        .await
        .expect("list")
        .keys
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(first[..2], ["busy", "revoked"]);
    let mut tied = first[2..5].to_vec();
    tied.sort();
    assert_eq!(tied, ["tied-1", "tied-2", "tied-3"]);
    assert_eq!(first[5], "one");
}

on_both_backends!(
    every_sort_pages_through_all_keys_in_the_defined_order,
    the_usage_sort_orders_keys_by_their_count_this_period,
);
