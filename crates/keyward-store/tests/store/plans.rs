//! Usage plans: made, changed, deleted and audited; chosen per key and read with every check;
//! quota counts per period.

use chrono::{DateTime, Duration, Utc};
use keyward_core::{
    Clock, ExpiryChoice, KeyUpdate, NewKey, NewPlan, PlanLimits, Quota, QuotaPeriod, SecretToken,
    Store, Verdict, VerifiedKey, UNLIMITED_PLAN,
};

use crate::harness::Db;

/// A store whose clock reads a Sunday afternoon: the week ends at midnight.
async fn open_on_a_sunday_afternoon(db: &Db) -> Store {
    db.clock.set(
        DateTime::parse_from_rfc3339("2026-11-29T15:00:00Z")
            .expect("time")
            .with_timezone(&Utc),
    );
    db.open().await
}

/// The key a valid token stands for, as `verify` reports it.
async fn verified(store: &Store, token: &SecretToken) -> VerifiedKey {
    match store.verify(token, &[]).await.expect("verify") {
        Verdict::Valid { key } => key,
        other => panic!("not valid: {other:?}"),
    }
}

fn limited(name: &str, rate: u32, burst: u32, quota: u64, per: QuotaPeriod) -> NewPlan {
    NewPlan {
        name: name.into(),
        limits: PlanLimits {
            rate_per_second: Some(rate),
            burst: Some(burst),
            quota: Some(Quota { limit: quota, per }),
        },
    }
}

async fn unlimited_exists_and_plans_are_made_changed_and_deleted_with_audit_rows(db: Db) {
    let store = open_on_a_sunday_afternoon(&db).await;
    let plans = store.list_plans().await.expect("list");
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].name, UNLIMITED_PLAN);
    assert!(plans[0].is_default);
    assert_eq!(plans[0].limits.rate_per_second, None);

    let pro = store
        .create_plan(limited("Pro", 10, 20, 1000, QuotaPeriod::Day))
        .await
        .expect("create");
    assert_eq!(pro.limits.burst, Some(20));
    let again = store
        .create_plan(limited("pro", 1, 1, 1, QuotaPeriod::Day))
        .await
        .expect_err("names are unique, whatever their case");
    assert!(again.to_string().contains("already exists"), "{again}");

    let renamed = store
        .update_plan("Pro", limited("Team", 5, 5, 50, QuotaPeriod::Week))
        .await
        .expect("update");
    assert_eq!(renamed.name, "Team");
    assert_eq!(
        renamed.limits.quota,
        Some(Quota {
            limit: 50,
            per: QuotaPeriod::Week
        })
    );
    store.set_default_plan("Team").await.expect("default");
    let refused = store.delete_plan("Team").await.expect_err("default");
    assert!(refused.to_string().contains("default"), "{refused}");
    store
        .set_default_plan(UNLIMITED_PLAN)
        .await
        .expect("default back");
    store.delete_plan("Team").await.expect("delete");
    assert_eq!(store.list_plans().await.expect("list").len(), 1);

    let actions: Vec<String> = store
        .audit_events(None)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "plan_created",
            "plan_updated",
            "default_plan_changed",
            "default_plan_changed",
            "plan_deleted"
        ]
    );
}

async fn a_keys_plan_is_chosen_changed_audited_and_read_with_every_check(db: Db) {
    let store = open_on_a_sunday_afternoon(&db).await;
    store
        .create_plan(limited("Metered", 5, 10, 100, QuotaPeriod::Month))
        .await
        .expect("plan");
    let default = store
        .create_key(NewKey::named("default").expiring(ExpiryChoice::Never))
        .await
        .expect("key");
    assert_eq!(default.key.plan, UNLIMITED_PLAN);
    let metered = store
        .create_key(NewKey {
            plan: Some("metered".into()),
            ..NewKey::named("metered").expiring(ExpiryChoice::Never)
        })
        .await
        .expect("key");
    assert_eq!(metered.key.plan, "Metered");
    let unknown = store
        .create_key(NewKey {
            plan: Some("Gold".into()),
            ..NewKey::named("nope")
        })
        .await
        .expect_err("no such plan");
    assert!(unknown.to_string().contains("no plan named"), "{unknown}");

    let key = verified(&store, &metered.token).await;
    assert_eq!((key.plan.as_str(), key.limits.burst), ("Metered", Some(10)));

    // Moved to Unlimited: the next check reads the new plan.
    let moved = store
        .update_key(
            &metered.key.id,
            KeyUpdate {
                plan: Some(UNLIMITED_PLAN.into()),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(moved.plan, UNLIMITED_PLAN);
    assert_eq!(
        verified(&store, &metered.token)
            .await
            .limits
            .rate_per_second,
        None
    );
    let last = store
        .audit_events(Some(&metered.key.id))
        .await
        .expect("audit")
        .pop()
        .expect("an event");
    assert_eq!(last.action, "key_updated");
    assert!(last.details.contains("Metered"), "{}", last.details);
    assert_eq!(
        store.get_plan("Metered").await.expect("plan").keys,
        0,
        "no key is on it now"
    );
}

async fn bad_limits_and_unknown_plans_change_nothing(db: Db) {
    let store = open_on_a_sunday_afternoon(&db).await;
    for bad in [
        limited("Zero rate", 0, 1, 1, QuotaPeriod::Day),
        limited("Huge burst", 1, u32::MAX, 1, QuotaPeriod::Day),
        limited("No quota", 1, 1, 0, QuotaPeriod::Day),
        limited("", 1, 1, 1, QuotaPeriod::Day),
    ] {
        assert!(store.create_plan(bad).await.is_err());
    }
    assert!(store.delete_plan("nope").await.is_err());
    assert!(store.set_default_plan("nope").await.is_err());
    assert_eq!(store.list_plans().await.expect("list").len(), 1);
    assert!(store.audit_events(None).await.expect("audit").is_empty());
}

async fn quota_counts_add_up_within_a_period_and_start_again_in_the_next(db: Db) {
    let store = open_on_a_sunday_afternoon(&db).await;
    let clock = &db.clock;
    store
        .create_plan(limited("Weekly", 100, 100, 10, QuotaPeriod::Week))
        .await
        .expect("plan");
    let key = store
        .create_key(NewKey::named("svc").expiring(ExpiryChoice::Never))
        .await
        .expect("key");
    let id = key.key.id.clone();
    // Unlimited: no quota to show.
    assert_eq!(store.quota_usage(&id).await.expect("usage"), None);
    store
        .update_key(
            &id,
            KeyUpdate {
                plan: Some("Weekly".into()),
                ..KeyUpdate::default()
            },
        )
        .await
        .expect("move");

    let week = QuotaPeriod::Week.start_of(clock.now());
    let after = store
        .add_quota_usage(&[(id.clone(), week, 3), (id.clone(), week, 4)])
        .await
        .expect("add");
    assert_eq!(after.last().map(|a| a.2), Some(7));
    let usage = store.quota_usage(&id).await.expect("usage").expect("quota");
    assert_eq!((usage.used, usage.limit), (7, 10));
    assert_eq!(usage.resets_at, QuotaPeriod::Week.next_start(clock.now()));

    // A late batch for a period that is over is dropped; Monday starts from 0.
    clock.advance(Duration::hours(9));
    assert_eq!(
        store
            .quota_usage(&id)
            .await
            .expect("usage")
            .expect("quota")
            .used,
        0
    );
    let next = QuotaPeriod::Week.start_of(clock.now());
    store
        .add_quota_usage(&[(id.clone(), next, 2)])
        .await
        .expect("add");
    store
        .add_quota_usage(&[(id.clone(), week, 5)])
        .await
        .expect("late");
    assert_eq!(
        store
            .quota_usage(&id)
            .await
            .expect("usage")
            .expect("quota")
            .used,
        2
    );

    // Counts for a deleted key are skipped, and its counter goes with it.
    store
        .delete_keys(std::slice::from_ref(&id))
        .await
        .expect("delete");
    let after = store
        .add_quota_usage(&[(id.clone(), next, 1)])
        .await
        .expect("add");
    assert!(after.is_empty());
    assert_eq!(db.count_rows("quota_usage").await, 0);
}

on_both_backends!(
    unlimited_exists_and_plans_are_made_changed_and_deleted_with_audit_rows,
    a_keys_plan_is_chosen_changed_audited_and_read_with_every_check,
    bad_limits_and_unknown_plans_change_nothing,
    quota_counts_add_up_within_a_period_and_start_again_in_the_next,
);
