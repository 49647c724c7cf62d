//! Teams on PostgreSQL: several verify servers on one database, each answering a revocation
//! committed by anyone at its very next request.

use std::path::Path;

use crate::pg_setup::new_database;
use crate::server_setup::{revoke, verify, Served};
use crate::util::create_key;

fn caller_key(db: &Path) -> String {
    create_key(
        db,
        "gateway",
        &["--scope", "keyward:verify", "--expires", "never"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_on_one_postgres_answer_a_revocation_at_their_next_request() {
    let (_name, db) = new_database();
    let caller = caller_key(&db);
    let token = create_key(&db, "billing", &["--expires", "30d"]);
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Served::start(&db, "127.0.0.1:0").await);
    }
    for node in &nodes {
        // Twice: the second answer comes from each node's verify cache.
        for _ in 0..2 {
            assert_eq!(verify(&node.base, &caller, &token).await["code"], "VALID");
        }
    }
    // Revoked by another process (an admin's CLI), on none of the nodes.
    revoke(&db, &token);
    for node in &nodes {
        let body = verify(&node.base, &caller, &token).await;
        assert_eq!(body["code"], "REVOKED", "{}: {body}", node.base);
    }
}
