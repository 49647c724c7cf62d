//! Keyward at scale: `keyward-cli dev seed`, and the list's query plans on a seeded database.

use std::path::Path;

use keyward_core::{KeyStatus, ListQuery, Store, Verdict, SEED_CREATED_BY};

use crate::util::{cli, stdout, temp_db};

/// One SQL statement's rows through python3's sqlite3 (a separate process and library, as in the
/// crash tests), joined by newlines.
fn sql(db: &Path, statement: &str) -> String {
    let script = "import sqlite3, sys\n\
                  c = sqlite3.connect(sys.argv[1])\n\
                  print('\\n'.join('|'.join(str(v) for v in r) for r in c.execute(sys.argv[2])))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .arg(statement)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{statement}: {out:?}");
    stdout(&out)
}

fn seed(db: &Path, count: u32) -> serde_json::Value {
    let out = cli(
        db,
        &["--json", "dev", "seed", "--count", &count.to_string()],
    );
    assert!(out.status.success(), "{out:?}");
    serde_json::from_str(&stdout(&out)).expect("json report")
}

async fn total(store: &Store, status: Option<KeyStatus>) -> u64 {
    let page = store
        .list_keys(&ListQuery {
            status,
            limit: 1,
            ..ListQuery::default()
        })
        .await
        .expect("list");
    u64::from(page.total)
}

#[tokio::test]
async fn seeding_adds_marked_keys_that_never_verify_with_one_audit_row() {
    let (_dir, db) = temp_db();
    let real = cli(&db, &["keys", "create", "--name", "real key"]);
    assert!(real.status.success(), "{real:?}");

    let report = seed(&db, 2_000);
    assert_eq!(report["keys"], 2_000);
    assert_eq!(report["owners"], 250);
    let by_status = |name: &str| report[name].as_u64().expect("count");
    let (active, expired, revoked) = (
        by_status("active"),
        by_status("expired"),
        by_status("revoked"),
    );
    assert_eq!(active + expired + revoked, 2_000);
    // Every status is well represented, so filters and the UI have something to show.
    for n in [active, expired, revoked] {
        assert!(n > 200, "{report}");
    }

    let store = keyward_store::open(&db).await.expect("open");
    assert_eq!(total(&store, None).await, 2_001);
    assert_eq!(total(&store, Some(KeyStatus::Active)).await, active + 1);
    assert_eq!(total(&store, Some(KeyStatus::Expired)).await, expired);
    assert_eq!(total(&store, Some(KeyStatus::Revoked)).await, revoked);

    assert_eq!(
        sql(
            &db,
            "SELECT seeded, created_by, COUNT(*) FROM api_keys GROUP BY 1, 2 ORDER BY 1"
        )
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect::<Vec<_>>())
        .map(|f| (f[0].clone(), f[1] == SEED_CREATED_BY, f[2].clone()))
        .collect::<Vec<_>>(),
        [
            ("0".to_owned(), false, "1".to_owned()),
            ("1".to_owned(), true, "2000".to_owned())
        ]
    );
    // The per-owner limit (5) stays believable: no seeded owner is at it.
    let busiest = sql(
        &db,
        "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM api_keys WHERE seeded = 1 \
         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > strftime('%s','now') * 1000) \
         GROUP BY owner_id)",
    );
    assert!(busiest.parse::<u32>().expect("a number") <= 4, "{busiest}");

    // A well-formed token for a seeded id: its secret is unknowable, and verify refuses it anyway.
    let seeded_id = sql(&db, "SELECT id FROM api_keys WHERE seeded = 1 LIMIT 1");
    let forged = keyward_core::token::generate_token("kw", &seeded_id).expect("token");
    let verdict = cli(&db, &["--json", "verify", forged.token.expose()]);
    assert_eq!(verdict.status.code(), Some(1), "{verdict:?}");
    let verdict: Verdict = serde_json::from_str(&stdout(&verdict)).expect("verdict");
    assert_eq!(verdict, Verdict::NotFound);

    let seeded: Vec<_> = store
        .audit_events(None)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "keys_seeded")
        .collect();
    assert_eq!(seeded.len(), 1, "one audit row for the whole seed");
    let details: serde_json::Value = serde_json::from_str(&seeded[0].details).expect("json");
    assert_eq!(details["keys"], 2_000);
    store.close().await;

    // Seeding again adds to what is there.
    let again = seed(&db, 500);
    assert_eq!(again["keys"], 500);
    assert_eq!(sql(&db, "SELECT COUNT(*) FROM api_keys"), "2501");
    assert_eq!(sql(&db, "PRAGMA integrity_check"), "ok");
}
