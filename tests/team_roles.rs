//! Teams on PostgreSQL: Keyward's three roles (`keyward-cli team init`, `team add`), enforced by
//! the database itself. Each test logs in as its own logins (roles belong to the whole server and
//! tests run at once, so every name carries the process id and a counter) through the real
//! `keyward-cli`, or with raw SQL through psql, which is what "enforced in PostgreSQL" means: no
//! client code stands between a key manager and the tables.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use keyward_core::{Error, KeySummary, OperatorRole, Settings};

use crate::pg_setup::{new_database, psql, psql_as, url_as};
use crate::server_setup::{revoke, verify, Served};
use crate::util::{cli, create_key, key_id, keys_and_audit, list_keys, stderr, stdout, temp_db};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A login name no other test or run on this server uses.
fn unique(base: &str) -> String {
    format!(
        "{base}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new database with Keyward's roles set up by its owner (the test server's superuser).
struct Team {
    name: String,
    /// The owner's URL.
    db: PathBuf,
}

impl Team {
    fn new() -> Self {
        let (name, db) = new_database();
        let out = cli(&db, &["team", "init"]);
        assert!(out.status.success(), "team init: {}", stderr(&out));
        Self { name, db }
    }

    /// A new login holding `role`, made by `team add`.
    fn add(&self, base: &str, role: &str) -> String {
        let login = unique(base);
        let out = cli(&self.db, &["team", "add", &login, "--role", role]);
        assert!(out.status.success(), "team add: {}", stderr(&out));
        login
    }

    fn url(&self, login: &str) -> PathBuf {
        url_as(login, &self.name)
    }

    /// `keyward-cli ARGS` as `login`.
    fn cli(&self, login: &str, args: &[&str]) -> Output {
        cli(&self.url(login), args)
    }

    /// Every key `login` can list.
    fn keys(&self, login: &str) -> Vec<KeySummary> {
        list_keys(&self.url(login), &[])
    }

    /// What the database's owner sees, with psql.
    fn sql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }
}

/// Refused (exit 1) with exactly these words on standard error.
fn refused_with(out: &Output, words: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(stderr(out).contains(words), "{}", stderr(out));
}

/// psql failed with this SQLSTATE.
fn sql_refused(out: &Output, sqlstate: &str) {
    let said = stderr(out);
    assert!(!out.status.success(), "not refused: {}", stdout(out));
    assert!(said.contains(&format!("ERROR:  {sqlstate}:")), "{said}");
}

/// psql succeeded; its output (command tags included).
fn sql_ran(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}

async fn role_of(db: &Path) -> OperatorRole {
    let store = keyward_store::open(db).await.expect("open");
    let role = store.operator_role().await.expect("a role");
    store.close().await;
    role
}

/// Keyward's policies in this database, as PostgreSQL holds them.
fn policies(team: &Team) -> String {
    team.sql(
        "SELECT string_agg(tablename || ' ' || policyname || ' ' || coalesce(qual, '') || ' ' || \
         coalesce(with_check, ''), E'\\n' ORDER BY tablename, policyname) FROM pg_policies \
         WHERE policyname LIKE 'keyward%'",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_init_is_idempotent_prints_its_sql_and_refuses_sqlite() {
    let (name, db) = new_database();
    // Before init, a login cannot be given a role here.
    let early = cli(&db, &["team", "add", &unique("early"), "--role", "manager"]);
    assert_eq!(early.status.code(), Some(2), "{}", stderr(&early));
    assert!(stderr(&early).contains("run keyward-cli team init first"));

    let first = cli(&db, &["team", "init"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = stdout(&first);
    for statement in [
        "GRANT SELECT ON _sqlx_migrations TO keyward_admin, keyward_manager, keyward_verifier;",
        "ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;",
        "CREATE POLICY keyward_manager_read ON api_keys FOR SELECT TO keyward_manager",
        "CREATE OR REPLACE FUNCTION keyward_key_rules()",
        "CREATE TRIGGER api_keys_team_rules BEFORE INSERT OR UPDATE OF",
    ] {
        assert!(printed.contains(statement), "{statement}: {printed}");
    }
    let team = Team { name, db };
    let applied = policies(&team);
    assert!(
        applied.contains("api_keys keyward_manager_change"),
        "{applied}"
    );

    // Again: the same policies, replaced (dropped and created in one transaction); the roles
    // exist, so none is created.
    let second = cli(&team.db, &["team", "init"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let again = stdout(&second);
    assert!(!again.contains("CREATE ROLE"), "{again}");
    assert!(again.contains("DROP POLICY \"keyward_manager_read\" ON \"api_keys\";"));
    assert_eq!(
        again
            .lines()
            .filter(|l| l.starts_with("CREATE POLICY"))
            .count(),
        printed
            .lines()
            .filter(|l| l.starts_with("CREATE POLICY"))
            .count()
    );
    assert_eq!(policies(&team), applied);

    // `team add` makes a login without a password and says how to set one; a second time it
    // changes nothing; a new role replaces the old one.
    let login = unique("carol");
    let added = cli(&team.db, &["team", "add", &login, "--role", "manager"]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(
        stdout(&added),
        format!("CREATE ROLE \"{login}\" LOGIN;\nGRANT keyward_manager TO \"{login}\";")
    );
    assert!(stderr(&added).contains(&format!("\\password \"{login}\"")));
    let twice = cli(&team.db, &["team", "add", &login, "--role", "manager"]);
    assert!(twice.status.success() && stdout(&twice).is_empty());
    assert!(stderr(&twice).contains("nothing was changed"));
    assert_eq!(role_of(&team.url(&login)).await, OperatorRole::Manager);
    let moved = cli(&team.db, &["team", "add", &login, "--role", "verifier"]);
    assert_eq!(
        stdout(&moved),
        format!("REVOKE keyward_manager FROM \"{login}\";\nGRANT keyward_verifier TO \"{login}\";")
    );
    assert_eq!(role_of(&team.url(&login)).await, OperatorRole::Verifier);
    let boss = team.add("boss", "admin");
    assert_eq!(role_of(&team.url(&boss)).await, OperatorRole::Admin);
    assert_eq!(role_of(&team.db).await, OperatorRole::Admin, "the owner");
    // The owner is no key manager: row-level security does not bind a table's owner.
    let owner = cli(&team.db, &["team", "add", "postgres", "--role", "manager"]);
    assert_eq!(owner.status.code(), Some(2), "{}", stderr(&owner));

    // A SQLite file has no logins: refused, and not even created.
    let (_dir, file) = temp_db();
    for args in [
        &["team", "init"][..],
        &["team", "add", "dave", "--role", "admin"],
    ] {
        let out = cli(&file, args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("Teams need PostgreSQL;"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_manager_sees_and_changes_only_their_own_keys_up_to_the_limit() {
    let team = Team::new();
    let (alice, bob, boss) = (
        team.add("alice", "manager"),
        team.add("bob", "manager"),
        team.add("boss", "admin"),
    );
    // Alice's first key makes her an owner, named as her login; then up to the limit (5).
    let mut hers = Vec::new();
    for n in 1..=5 {
        let token = create_key(&team.url(&alice), &format!("alice {n}"), &[]);
        hers.push(key_id(&token).to_owned());
    }
    refused_with(
        &team.cli(&alice, &["keys", "create", "--name", "six"]),
        "5 of 5 active keys",
    );
    refused_with(
        &team.cli(
            &alice,
            &["keys", "create", "--name", "six", "--override-limit"],
        ),
        "Only administrators can override the limit of active keys per owner",
    );
    // An administrator keeps the override.
    create_key(
        &team.url(&boss),
        "six",
        &["--owner", &alice, "--override-limit"],
    );
    let listed = team.keys(&alice);
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().all(|k| k.owner == alice), "{listed:?}");

    // Bob sees only his own key, and cannot find Alice's to revoke, edit or delete.
    let bobs = key_id(&create_key(&team.url(&bob), "bob's", &[])).to_owned();
    let seen = team.keys(&bob);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, bobs);
    // Searching finds only his, at every length: terms in his name find it, terms in hers
    // (and in six of seven handles, at random) find nothing else.
    for term in ["'", "b'", "bob's", "alice", "1", "e", "l"] {
        let found = list_keys(&team.url(&bob), &["--search", term]);
        let ids: Vec<&str> = found.iter().map(|k| k.id.as_str()).collect();
        assert!(ids.iter().all(|id| *id == bobs), "{term:?}: {ids:?}");
        if term.starts_with('\'') || term.starts_with('b') {
            assert_eq!(ids, [bobs.as_str()], "{term:?}");
        }
        assert!(term != "alice" || ids.is_empty());
    }
    let target = hers[0].as_str();
    let hidden = format!("No key with the id {target} exists.");
    refused_with(&team.cli(&bob, &["keys", "revoke", target]), &hidden);
    refused_with(
        &team.cli(&bob, &["keys", "edit", target, "--name", "mine now"]),
        &hidden,
    );
    refused_with(&team.cli(&bob, &["keys", "delete", target]), &hidden);
    refused_with(
        &team.cli(&bob, &["keys", "create", "--name", "x", "--owner", &alice]),
        "No owner named",
    );
    // Nor can Alice give hers away.
    refused_with(
        &team.cli(&alice, &["keys", "edit", target, "--owner", &bob]),
        "No owner named",
    );
    // Her own keys are hers to change.
    let edited = team.cli(&alice, &["keys", "edit", &hers[1], "--name", "renamed"]);
    assert!(edited.status.success(), "{}", stderr(&edited));
    let revoked = team.cli(&alice, &["keys", "revoke", &hers[2]]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));

    // No plans, owners or settings.
    let plans_words = "Only administrators can create, change or delete plans, or choose the \
                       default plan; nothing was changed.";
    refused_with(
        &team.cli(&alice, &["plans", "create", "Pro", "--rate", "5"]),
        plans_words,
    );
    let made = team.cli(&boss, &["plans", "create", "Pro", "--rate", "5"]);
    assert!(made.status.success(), "{}", stderr(&made));
    refused_with(&team.cli(&alice, &["plans", "default", "Pro"]), plans_words);
    refused_with(
        &team.cli(&alice, &["plans", "edit", "Pro", "--rate", "500"]),
        plans_words,
    );
    refused_with(&team.cli(&alice, &["plans", "delete", "Pro"]), plans_words);
    refused_with(
        &team.cli(&alice, &["owners", "create", "mallory"]),
        "Only administrators can add or rename owners",
    );
    // keyward-cli has no settings command: the app changes them through the core, as here.
    let as_alice = keyward_store::open(&team.url(&alice)).await.expect("open");
    assert_eq!(
        as_alice.operator_role().await.expect("role"),
        OperatorRole::Manager
    );
    let raised = Settings {
        owner_key_limit: 100,
        ..as_alice.settings().await.expect("settings")
    };
    match as_alice.update_settings(raised).await {
        Err(Error::NotPermitted(words)) => assert_eq!(
            words,
            "Only administrators can change settings; nothing was changed."
        ),
        other => panic!("a key manager changed the settings: {other:?}"),
    }
    // Her history: what she did and what was done to her keys; nothing of Bob's.
    let history = as_alice.audit_events(None).await.expect("her audit");
    as_alice.close().await;
    assert!(history.iter().all(|e| e.actor != bob), "{history:?}");
    assert!(
        history.iter().any(|e| e.actor == boss),
        "the override: {history:?}"
    );

    // As the administrator sees it: all of Alice's keys as she left them, and who did what.
    let (keys, audit) = keys_and_audit(&team.url(&boss)).await;
    let key = |id: &str| keys.iter().find(|k| k.id == id).expect("still there");
    assert_eq!(key(target).name, "alice 1");
    assert_eq!(key(target).status.as_str(), "active");
    assert_eq!(key(&hers[2]).status.as_str(), "revoked");
    assert!(keys
        .iter()
        .filter(|k| k.owner == alice)
        .all(|k| k.created_by == alice || k.created_by == boss));
    let actors = |action: &str| -> Vec<&str> {
        audit
            .iter()
            .filter(|e| e.action == action)
            .map(|e| e.actor.as_str())
            .collect()
    };
    assert_eq!(actors("owner_created"), [alice.as_str(), bob.as_str()]);
    let created = actors("key_created");
    assert_eq!(created.iter().filter(|a| **a == alice).count(), 5);
    assert_eq!(created.iter().filter(|a| **a == boss).count(), 1);
    assert_eq!(created.iter().filter(|a| **a == bob).count(), 1);
    assert_eq!(actors("key_revoked"), [alice.as_str()]);
    assert_eq!(actors("key_updated"), [alice.as_str()]);
    assert_eq!(actors("plan_created"), [boss.as_str()]);
    assert!(actors("settings_changed").is_empty());
    assert_eq!(team.sql("SELECT count(*) FROM settings"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verifier_serves_checks_and_sees_revocations_but_changes_nothing() {
    let team = Team::new();
    let (alice, gw, boss) = (
        team.add("alice", "manager"),
        team.add("gw", "verifier"),
        team.add("boss", "admin"),
    );
    let caller = create_key(
        &team.url(&boss),
        "gateway",
        &["--scope", "keyward:verify", "--expires", "never"],
    );
    let token = create_key(&team.url(&alice), "billing", &[]);
    let served = Served::start(&team.url(&gw), "127.0.0.1:0").await;
    assert_eq!(verify(&served.base, &caller, &token).await["code"], "VALID");
    revoke(&team.url(&boss), &token);
    assert_eq!(
        verify(&served.base, &caller, &token).await["code"],
        "REVOKED"
    );
    // Its heartbeat and the key's last use were written.
    assert_eq!(
        team.sql(&format!(
            "SELECT count(*) FROM api_keys WHERE id = '{}' AND last_used_at IS NOT NULL",
            key_id(&token)
        )),
        "1"
    );
    assert_eq!(team.sql("SELECT count(*) FROM verify_servers"), "1");
    drop(served);

    assert_eq!(role_of(&team.url(&gw)).await, OperatorRole::Verifier);
    for args in [
        &["keys", "create", "--name", "gw"][..],
        &["keys", "revoke", key_id(&caller)],
        &["keys", "delete", key_id(&caller)],
        &["plans", "create", "Pro"],
        &["owners", "create", "gw"],
    ] {
        let out = team.cli(&gw, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing was changed")
                || stderr(&out).contains("Nothing was changed")
        );
    }
    assert_eq!(
        team.sql(&format!(
            "SELECT count(*) FROM api_keys WHERE id = '{}' AND revoked_at IS NULL",
            key_id(&caller)
        )),
        "1"
    );
}

#[test]
fn raw_sql_as_a_key_manager_is_refused_by_the_database() {
    let team = Team::new();
    let (alice, bob) = (team.add("alice", "manager"), team.add("bob", "manager"));
    let bobs_token = create_key(&team.url(&bob), "bob's", &["--expires", "never"]);
    let bobs = key_id(&bobs_token);
    let mut hers = Vec::new();
    for n in 1..=5 {
        hers.push(key_id(&create_key(&team.url(&alice), &format!("a{n}"), &[])).to_owned());
    }
    let bob_owner = team.sql(&format!(
        "SELECT owner_id FROM api_keys WHERE id = '{bobs}'"
    ));
    let as_alice = |sql: &str| psql_as(&alice, &team.name, sql);
    let new_key = |owner: &str, id: &str| {
        format!(
            "INSERT INTO api_keys (id, prefix, name, owner_id, secret_last4, secret_hash, \
             created_at, created_by, plan_id) VALUES ('{id}', 'kw', 'raw', {owner}, 'abcd', \
             'x', now(), current_user, (SELECT id FROM plans WHERE is_default))"
        )
    };

    // Bob's key does not exist for her: not read, not revoked, not deleted.
    assert_eq!(
        sql_ran(&as_alice(&format!(
            "SELECT count(*) FROM api_keys WHERE id = '{bobs}'"
        ))),
        "0"
    );
    assert_eq!(sql_ran(&as_alice("SELECT count(*) FROM api_keys")), "5");
    assert_eq!(sql_ran(&as_alice("SELECT count(*) FROM owners")), "1");
    // The short search terms' index shows her the pieces of her own keys only, and she cannot
    // write to it.
    assert_eq!(
        sql_ran(&as_alice("SELECT count(*) FROM api_keys_short_grams")),
        "5"
    );
    sql_refused(
        &as_alice("INSERT INTO api_keys_short_grams (seq, grams) VALUES (1, '{x}')"),
        "42501",
    );
    assert_eq!(
        sql_ran(&as_alice(&format!(
            "UPDATE api_keys SET revoked_at = now() WHERE id = '{bobs}'"
        ))),
        "UPDATE 0"
    );
    assert_eq!(
        sql_ran(&as_alice(&format!(
            "DELETE FROM api_keys WHERE id = '{bobs}'"
        ))),
        "DELETE 0"
    );
    // Nothing she writes lands on Bob: no key for his owner, none of hers moved to him, no
    // audit row in his name.
    sql_refused(&as_alice(&new_key(&bob_owner, "rawforbob1")), "42501");
    sql_refused(
        &as_alice(&format!(
            "UPDATE api_keys SET owner_id = {bob_owner} WHERE id = '{}'",
            hers[0]
        )),
        "42501",
    );
    sql_refused(
        &as_alice(&format!(
            "INSERT INTO audit_log (at, actor, action, key_id, details) \
             VALUES (now(), '{bob}', 'key_revoked', '{bobs}', '{{}}')"
        )),
        "42501",
    );
    sql_refused(
        &as_alice("INSERT INTO owners (name, created_at) VALUES ('mallory', now())"),
        "42501",
    );
    // No settings, no plans, no way up to an administrator.
    sql_refused(
        &as_alice("UPDATE settings SET value = '100' WHERE key = 'owner_key_limit'"),
        "42501",
    );
    sql_refused(
        &as_alice("INSERT INTO settings (key, value) VALUES ('owner_key_limit', '100')"),
        "42501",
    );
    sql_refused(
        &as_alice("UPDATE plans SET rate_per_second = 1, burst = 1"),
        "42501",
    );
    sql_refused(&as_alice("SET ROLE keyward_admin"), "42501");
    // Past the limit for herself: refused by the key rules, at any isolation level.
    let mine = "(SELECT id FROM owners)";
    sql_refused(&as_alice(&new_key(mine, "rawsixth01")), "KW001");
    sql_refused(
        &as_alice(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; {}; COMMIT",
            new_key(mine, "rawsixth02")
        )),
        "KW003",
    );
    // A revoked key stays revoked.
    revoke(&team.url(&alice), &format!("kw_{}_x", hers[4]));
    sql_refused(
        &as_alice(&format!(
            "UPDATE api_keys SET revoked_at = NULL WHERE id = '{}'",
            hers[4]
        )),
        "KW002",
    );
    // Within the limit she may write her own rows by hand, as the CLI does.
    assert_eq!(
        sql_ran(&as_alice(&new_key(mine, "rawfifth01"))),
        "INSERT 0 1"
    );

    // Bob's key is as it was, and still verifies.
    assert_eq!(
        team.sql(&format!(
            "SELECT count(*) FROM api_keys WHERE id = '{bobs}' AND revoked_at IS NULL"
        )),
        "1"
    );
    let verified = cli(&team.db, &["verify", &bobs_token]);
    assert!(
        stdout(&verified).starts_with("VALID"),
        "{}",
        stdout(&verified)
    );
    assert_eq!(team.sql("SELECT count(*) FROM settings"), "0");
    assert_eq!(
        team.sql(&format!(
            "SELECT count(*) FROM audit_log WHERE actor = '{bob}' AND action = 'key_revoked'"
        )),
        "0"
    );

    // The limit is read from the settings as the core reads it: an administrator's 6 lets a
    // sixth key in; a value the core would not accept means the default again.
    team.sql("INSERT INTO settings (key, value) VALUES ('owner_key_limit', '6')");
    assert_eq!(
        sql_ran(&as_alice(&new_key(mine, "rawsixth03"))),
        "INSERT 0 1"
    );
    sql_refused(&as_alice(&new_key(mine, "rawseven01")), "KW001");
    team.sql("UPDATE settings SET value = '\"6\"' WHERE key = 'owner_key_limit'");
    team.sql(&format!(
        "UPDATE api_keys SET revoked_at = now() WHERE id IN ('{}', '{}')",
        hers[0], hers[1]
    ));
    // 4 active of a limit of 5 (the default).
    assert_eq!(
        sql_ran(&as_alice(&new_key(mine, "rawfifth02"))),
        "INSERT 0 1"
    );
    sql_refused(&as_alice(&new_key(mine, "rawsixth04")), "KW001");
}
