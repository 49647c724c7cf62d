//! Verify servers reporting themselves: listed while they report, gone when stopped or silent,
//! and a report never waits long for a busy database.

use std::time::{Duration as Wait, Instant};

use chrono::{Duration, Utc};
use keyward_core::servers::{CodeCounts, ServerReport};
use keyward_core::Clock;

use crate::harness::Db;

fn report(id: &str, valid: u64) -> ServerReport {
    ServerReport {
        id: id.into(),
        address: "127.0.0.1:8787".into(),
        pid: 4242,
        started_at: Utc::now(),
        last_minute: CodeCounts::from([("VALID".into(), valid)]),
        since_start: CodeCounts::from([("VALID".into(), valid), ("REVOKED".into(), 1)]),
    }
}

async fn running_servers_are_listed_until_stopped_or_silent(db: Db) {
    let store = db.open().await;
    let clock = &db.clock;
    assert!(store.verify_servers().await.expect("list").is_empty());

    assert!(store
        .report_verify_server(&report("srv_a", 1))
        .await
        .expect("report"));
    assert!(store
        .report_verify_server(&report("srv_b", 2))
        .await
        .expect("report"));
    assert!(store
        .report_verify_server(&report("srv_a", 5))
        .await
        .expect("report again"));
    let listed = store.verify_servers().await.expect("list");
    assert_eq!(listed.len(), 2);
    let a = listed.iter().find(|s| s.id == "srv_a").expect("a");
    assert_eq!(a.last_minute["VALID"], 5);
    assert_eq!(a.since_start["REVOKED"], 1);
    assert_eq!((a.pid, a.address.as_str()), (4242, "127.0.0.1:8787"));
    assert_eq!(
        a.last_seen.timestamp_millis(),
        clock.now().timestamp_millis()
    );

    store.verify_server_stopped("srv_a").await.expect("stop");
    let ids: Vec<String> = store
        .verify_servers()
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["srv_b"]);

    // Killed: no more reports, gone from the list after 15 seconds.
    clock.advance(Duration::seconds(16));
    assert!(store.verify_servers().await.expect("list").is_empty());

    // A week later a report clears the old rows (the list never shows them; the table does).
    clock.advance(Duration::days(8));
    store
        .report_verify_server(&report("srv_c", 0))
        .await
        .expect("report");
    assert_eq!(db.count_rows("verify_servers").await, 1);
    store.close().await;
}

/// Another writer holds what a report must write: the report gives up after a short wait,
/// writes nothing and says so, instead of erroring or holding up the server; the next report
/// goes through.
async fn a_busy_database_skips_the_report(db: Db) {
    let store = db.open().await;
    // The row exists, so that on PostgreSQL it is a row lock the report waits for, as when two
    // writers touch the same server's row.
    assert!(store
        .report_verify_server(&report("srv_busy", 1))
        .await
        .expect("report"));
    let held = db.hold_server_row("srv_busy").await;
    let started = Instant::now();
    let written = tokio::time::timeout(
        Wait::from_secs(10),
        store.report_verify_server(&report("srv_busy", 2)),
    )
    .await
    .expect("a report never waits seconds for another writer")
    .expect("no error");
    assert!(!written, "reported as written while another writer held it");
    assert!(
        started.elapsed() < Wait::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    held.release().await;
    assert!(store
        .report_verify_server(&report("srv_busy", 3))
        .await
        .expect("report"));
    let listed = store.verify_servers().await.expect("list");
    assert_eq!(listed[0].last_minute["VALID"], 3);
    store.close().await;
}

on_both_backends!(
    running_servers_are_listed_until_stopped_or_silent,
    a_busy_database_skips_the_report,
);
