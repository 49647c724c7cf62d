//! The SQL `keyward-cli team init` runs: what each of Keyward's three roles may do, enforced by
//! PostgreSQL itself (grants say which statements on which columns, row-level security which
//! rows, one trigger the per-owner limit), so no client, not even raw SQL, gets more.
//!
//! | table          | admin     | key manager (own keys only)        | verifier           |
//! |----------------|-----------|------------------------------------|--------------------|
//! | api_keys       | all       | all, keys of the owner named as it | read; last_used_at |
//! | owners         | all       | read and add its own row only      | read               |
//! | plans          | all       | read                               | read               |
//! | settings       | all       | read                               | read (`/healthz`)  |
//! | audit_log      | read, add | read its own, add as itself        | none               |
//! | quota_usage    | all       | read, own keys                     | read, add, update  |
//! | verify_servers | all       | read                               | all                |
//!
//! Nobody but the database's owner may change or delete audit rows: the log is append-only.
//! `_sqlx_migrations` is readable by all three, as opening a database reads it.

use keyward_core::DEFAULT_OWNER_KEY_LIMIT;

pub(crate) const ADMIN: &str = "keyward_admin";
pub(crate) const MANAGER: &str = "keyward_manager";
pub(crate) const VERIFIER: &str = "keyward_verifier";
pub(crate) const GROUPS: [&str; 3] = [ADMIN, MANAGER, VERIFIER];

/// Every table the roles are granted on (migrations 0001..0003), and sqlx's record.
const TABLES: &str = "api_keys, owners, plans, settings, audit_log, quota_usage, verify_servers, \
     key_totals, api_keys_short_grams, _sqlx_migrations";
/// The tables whose rows differ by role; on the others the grants say everything.
pub(crate) const WITH_ROW_SECURITY: [&str; 6] = [
    "api_keys",
    "owners",
    "plans",
    "audit_log",
    "quota_usage",
    "api_keys_short_grams",
];

/// The owner row named as the login, compared as owners' names are (ASCII letters without case,
/// as the unique index `owners_by_name` compares them, which also finds it).
macro_rules! mine {
    ($name:literal) => {
        concat!(
            "lower(",
            $name,
            " COLLATE \"C\") = lower(current_user::text COLLATE \"C\")"
        )
    };
}

/// A key of the owner named as the login. Owners' policies apply inside: the subquery sees
/// only the manager's own owner row.
const OWN_KEY: &str = concat!(
    "owner_id IN (SELECT o.id FROM owners o WHERE ",
    mine!("o.name"),
    ")"
);

/// The columns Keyward writes when it creates a key (`seq` is an identity; `seeded` is for
/// `dev seed`, an administrator's tool).
const KEY_INSERT_COLUMNS: &str = "id, prefix, name, owner_id, role, scopes, track_usage, \
     secret_last4, secret_hash, created_at, created_by, expires_at, plan_id, search_text";
/// What an edit, a revocation and a recorded use change.
const KEY_UPDATE_COLUMNS: &str =
    "name, owner_id, role, scopes, track_usage, expires_at, plan_id, revoked_at, last_used_at, \
     search_text";
/// Every column of `api_keys` but `last_used_at`, which verify servers write on busy keys: the
/// key rules trigger does not run for a recorded use.
const KEY_RULED_COLUMNS: &str = "id, prefix, name, owner_id, role, scopes, track_usage, \
     secret_last4, secret_hash, created_at, created_by, expires_at, revoked_at, seeded, plan_id";

/// Grants, from nothing: revoked first, so a run after a change of these rules takes away what
/// they no longer give. One transaction, so nobody is ever left between the two.
pub(crate) fn grants(schema: &str) -> Vec<String> {
    let all = GROUPS.join(", ");
    vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO {all}"),
        format!("REVOKE ALL ON {TABLES} FROM {all}"),
        format!("GRANT SELECT ON _sqlx_migrations TO {all}"),
        // The key list's total (migration 0004): read by everyone, written only by its triggers.
        format!("GRANT SELECT ON key_totals TO {all}"),
        // The short search terms' index (migration 0005): written only by its trigger, read
        // through the policy below.
        format!("GRANT SELECT ON api_keys_short_grams TO {all}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys, owners, plans, settings, \
             quota_usage, verify_servers TO {ADMIN}"
        ),
        format!("GRANT SELECT, INSERT ON audit_log TO {ADMIN}"),
        format!("GRANT SELECT, DELETE ON api_keys TO {MANAGER}"),
        format!("GRANT INSERT ({KEY_INSERT_COLUMNS}) ON api_keys TO {MANAGER}"),
        format!("GRANT UPDATE ({KEY_UPDATE_COLUMNS}) ON api_keys TO {MANAGER}"),
        format!("GRANT SELECT, INSERT (name, created_at) ON owners TO {MANAGER}"),
        // Only so a write can lock the row it reads (`FOR NO KEY UPDATE` / `FOR SHARE` need
        // UPDATE on some column): the policies below refuse every actual update of either.
        format!("GRANT UPDATE (created_at) ON owners, plans TO {MANAGER}"),
        format!("GRANT SELECT ON plans, settings, quota_usage, verify_servers TO {MANAGER}"),
        format!(
            "GRANT SELECT, INSERT (at, actor, action, key_id, details) ON audit_log TO {MANAGER}"
        ),
        format!("GRANT SELECT ON api_keys, owners, plans, settings TO {VERIFIER}"),
        format!("GRANT UPDATE (last_used_at) ON api_keys TO {VERIFIER}"),
        format!("GRANT SELECT, INSERT, UPDATE ON quota_usage TO {VERIFIER}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON verify_servers TO {VERIFIER}"),
    ]
}

/// Row-level security on; it does not apply to the tables' owner (nor superusers), who stay
/// administrators whatever the policies say.
pub(crate) fn row_security() -> Vec<String> {
    WITH_ROW_SECURITY
        .iter()
        .map(|table| format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        .collect()
}

/// One policy. Every name starts `keyward_`: that is how `team init` finds the ones to replace.
fn policy(table: &str, name: &str, rule: String) -> String {
    format!("CREATE POLICY {name} ON {table} {rule}")
}

/// Which rows each role may touch. Policies of one command are OR'ed, so a login holds one
/// Keyward role (`team add` sees to it): a manager who were also a verifier would see every key.
pub(crate) fn policies() -> Vec<String> {
    let mut all: Vec<String> = WITH_ROW_SECURITY
        .iter()
        .map(|table| policy(table, "keyward_admin_all", every_row(ADMIN)))
        .collect();
    all.extend(manager_key_policies());
    all.extend(manager_other_policies());
    // Verifiers see every key, owner and plan; the grants keep their writes to a key's last use
    // and the quota counters.
    all.push(policy(
        "api_keys",
        "keyward_verifier_all",
        every_row(VERIFIER),
    ));
    // The pieces of the keys one may see, so a search reveals nothing of the others' names.
    all.push(policy(
        "api_keys_short_grams",
        "keyward_visible_keys",
        format!(
            "FOR SELECT TO {MANAGER}, {VERIFIER} \
             USING (EXISTS (SELECT FROM api_keys k WHERE k.seq = api_keys_short_grams.seq))"
        ),
    ));
    for table in ["owners", "plans", "quota_usage"] {
        all.push(policy(table, "keyward_verifier_all", every_row(VERIFIER)));
    }
    all
}

/// Every row, for every command.
fn every_row(role: &str) -> String {
    format!("FOR ALL TO {role} USING (true) WITH CHECK (true)")
}

/// Key managers: their own keys, and nothing moves a key to another owner (WITH CHECK). The
/// creator recorded on a key is the login, as the audit's actor is.
fn manager_key_policies() -> [String; 4] {
    [
        policy(
            "api_keys",
            "keyward_manager_read",
            format!("FOR SELECT TO {MANAGER} USING ({OWN_KEY})"),
        ),
        policy(
            "api_keys",
            "keyward_manager_create",
            format!("FOR INSERT TO {MANAGER} WITH CHECK ({OWN_KEY} AND created_by = current_user)"),
        ),
        policy(
            "api_keys",
            "keyward_manager_change",
            format!("FOR UPDATE TO {MANAGER} USING ({OWN_KEY}) WITH CHECK ({OWN_KEY})"),
        ),
        policy(
            "api_keys",
            "keyward_manager_delete",
            format!("FOR DELETE TO {MANAGER} USING ({OWN_KEY})"),
        ),
    ]
}

/// Key managers' rows of the other tables: their owner row, every plan, their own history and
/// their keys' quota counts.
fn manager_other_policies() -> [String; 8] {
    [
        // Their own owner row: read, made with their first key, locked by a write, never changed.
        policy(
            "owners",
            "keyward_manager_read",
            format!("FOR SELECT TO {MANAGER} USING ({})", mine!("name")),
        ),
        policy(
            "owners",
            "keyward_manager_create",
            format!("FOR INSERT TO {MANAGER} WITH CHECK ({})", mine!("name")),
        ),
        policy(
            "owners",
            "keyward_manager_lock",
            format!(
                "FOR UPDATE TO {MANAGER} USING ({}) WITH CHECK (false)",
                mine!("name")
            ),
        ),
        // Every plan is read (a key gets one); locked by a key's write, never changed.
        policy(
            "plans",
            "keyward_manager_read",
            format!("FOR SELECT TO {MANAGER} USING (true)"),
        ),
        policy(
            "plans",
            "keyward_manager_lock",
            format!("FOR UPDATE TO {MANAGER} USING (true) WITH CHECK (false)"),
        ),
        // Their own history: what they did, and what anyone did to their keys (api_keys'
        // policies apply inside). Rows they add name them as the actor.
        policy(
            "audit_log",
            "keyward_manager_read",
            format!(
                "FOR SELECT TO {MANAGER} USING (actor = current_user \
                 OR key_id IN (SELECT k.id FROM api_keys k))"
            ),
        ),
        policy(
            "audit_log",
            "keyward_manager_create",
            format!("FOR INSERT TO {MANAGER} WITH CHECK (actor = current_user)"),
        ),
        policy(
            "quota_usage",
            "keyward_manager_read",
            format!("FOR SELECT TO {MANAGER} USING (key_id IN (SELECT k.id FROM api_keys k))"),
        ),
    ]
}

/// The per-owner limit and "revoked is for good", for everyone but administrators. The core
/// checks both first; this is what holds when it is told to override the limit, or bypassed
/// with raw SQL.
///
/// `SECURITY INVOKER` on purpose: it counts and locks as the writer, whose policies show all of
/// an owner's keys when the owner is theirs (and when it is not, the insert is refused by the
/// policies anyway), and `current_user` is the writer, which a definer's function could not
/// tell. Its `search_path` is fixed, with `pg_temp` last, so a temporary table named `api_keys`
/// cannot stand in for the real one.
///
/// Errors are our own SQLSTATEs (class `KW`, see `errors.rs`), so the refusal is told without
/// reading its text.
pub(crate) fn key_rules(schema: &str) -> Vec<String> {
    let default_limit = DEFAULT_OWNER_KEY_LIMIT;
    vec![
        format!(
            r#"CREATE OR REPLACE FUNCTION keyward_key_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = {schema}, pg_temp AS $rules$
DECLARE
    key_limit bigint;
    active bigint;
BEGIN
    -- Administrators, superusers and the tables' owner keep the override the core gives them.
    IF pg_has_role('{ADMIN}', 'USAGE')
        OR pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'the key % is revoked and can no longer be changed', OLD.id
            USING ERRCODE = 'KW002';
    END IF;
    -- Only a key that becomes active for its owner counts: a new one, one moved to another
    -- owner, or an expired one given a later expiry.
    IF NEW.revoked_at IS NOT NULL OR NEW.expires_at <= now() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.owner_id = OLD.owner_id AND OLD.revoked_at IS NULL
        AND (OLD.expires_at IS NULL OR OLD.expires_at > now()) THEN
        RETURN NEW;
    END IF;
    -- A stricter level counts from the transaction's first snapshot, missing a key that
    -- another writer committed after it: two such writers could pass the limit together.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'keys are created and changed in READ COMMITTED transactions only'
            USING ERRCODE = 'KW003';
    END IF;
    -- As the core does (owners.rs): lock the owner, then count in a new statement, which sees
    -- every key of a writer that held the lock before.
    PERFORM 1 FROM owners WHERE id = NEW.owner_id FOR NO KEY UPDATE;
    -- Read as the core reads it: a row that is not a whole number from 1 to 1000 means the
    -- default.
    SELECT CASE WHEN json_typeof(s.value) = 'number'
                     AND btrim(s.value::text) ~ '^[1-9][0-9]{{0,3}}$'
                THEN btrim(s.value::text)::bigint END
        INTO key_limit FROM settings s WHERE s.key = 'owner_key_limit';
    IF key_limit IS NULL OR key_limit > 1000 THEN
        key_limit := {default_limit};
    END IF;
    SELECT count(*) INTO active FROM api_keys k WHERE k.owner_id = NEW.owner_id
        AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now());
    IF active >= key_limit THEN
        RAISE EXCEPTION 'the owner has % of % active keys', active, key_limit
            USING ERRCODE = 'KW001';
    END IF;
    RETURN NEW;
END
$rules$"#
        ),
        "DROP TRIGGER IF EXISTS api_keys_team_rules ON api_keys".to_owned(),
        format!(
            "CREATE TRIGGER api_keys_team_rules BEFORE INSERT OR UPDATE OF {KEY_RULED_COLUMNS} \
             ON api_keys FOR EACH ROW EXECUTE FUNCTION keyward_key_rules()"
        ),
    ]
}
