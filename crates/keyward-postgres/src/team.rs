//! Teams: who may do what on a shared database, as PostgreSQL enforces it. `team init` creates
//! Keyward's three group roles and applies their grants, policies and key rules (`team_sql.rs`);
//! `team add` gives a login one of them; [`operator_role`] tells a login which it holds.
//!
//! Roles belong to the whole server (cluster), not to one database: creating them needs
//! CREATEROLE, which is why this is a command of its own and not a migration. Every statement
//! that changes something is returned, in order, for the CLI to print.

use keyward_core::backend::OperatorRole;
use keyward_core::{Error, Result};
use sqlx::{Acquire, PgConnection, PgPool};

use crate::errors::{sqlstate, Address, DbResult, DbResultDoing, Doing, UNIQUE_VIOLATION};
use crate::team_sql::{self, ADMIN, GROUPS, MANAGER, VERIFIER};

/// duplicate_object: another `team init` created the role first.
const DUPLICATE_OBJECT: &str = "42710";
/// PostgreSQL's longest name (NAMEDATALEN - 1 bytes); longer ones would be cut silently.
const MAX_NAME_BYTES: usize = 63;

/// What `team add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamAdded {
    /// The statements run, in order (none when the login held the role already).
    pub sql: Vec<String>,
    /// The login did not exist and was made, without a password.
    pub created_login: bool,
}

/// A name as SQL (and psql's `\password`) spells it, always quoted: no keyword, case folding or
/// `;` in it can change what it means.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn group_of(role: OperatorRole) -> &'static str {
    match role {
        OperatorRole::Admin => ADMIN,
        OperatorRole::Manager => MANAGER,
        OperatorRole::Verifier => VERIFIER,
    }
}

/// The role's name in words, for messages.
pub(crate) fn role_words(role: OperatorRole) -> &'static str {
    match role {
        OperatorRole::Admin => "an administrator",
        OperatorRole::Manager => "a key manager",
        OperatorRole::Verifier => "a verifier",
    }
}

/// Runs one statement of a team change and records it.
async fn run(
    conn: &mut PgConnection,
    at: &Address,
    ran: &mut Vec<String>,
    sql: String,
) -> Result<()> {
    sqlx::query(&sql)
        .execute(&mut *conn)
        .await
        .db_doing(at, Doing::SettingUpTeam)?;
    ran.push(sql);
    Ok(())
}

/// Creates the group role unless it exists, under a savepoint: another `team init` (on any
/// database of the server) may create it at the same moment, and then it exists, which is all
/// that is wanted.
async fn create_group(
    conn: &mut PgConnection,
    at: &Address,
    ran: &mut Vec<String>,
    group: &str,
) -> Result<()> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(group)
            .fetch_one(&mut *conn)
            .await
            .db_doing(at, Doing::SettingUpTeam)?;
    if exists {
        return Ok(());
    }
    let sql = format!("CREATE ROLE {group} NOLOGIN");
    let mut savepoint = conn.begin().await.db_doing(at, Doing::SettingUpTeam)?;
    match sqlx::query(&sql).execute(&mut *savepoint).await {
        Ok(_) => {
            savepoint
                .commit()
                .await
                .db_doing(at, Doing::SettingUpTeam)?;
            ran.push(sql);
        }
        Err(e)
            if matches!(
                sqlstate(&e).as_deref(),
                Some(DUPLICATE_OBJECT | UNIQUE_VIOLATION)
            ) =>
        {
            savepoint
                .rollback()
                .await
                .db_doing(at, Doing::SettingUpTeam)?;
        }
        Err(e) => return Err(at.explain_doing(e, Doing::SettingUpTeam)),
    }
    Ok(())
}

/// `team init` on an opened database: one transaction, so a failure leaves everything as it was
/// and a second run replaces every policy with the current ones. Keyward's own policies are
/// found by name (`keyward_…`), so one that a newer rule set no longer has goes too.
pub(crate) async fn init(pool: &PgPool, at: &Address) -> Result<Vec<String>> {
    let mut tx = pool.begin().await.db_doing(at, Doing::SettingUpTeam)?;
    let conn = &mut *tx;
    let mut ran = Vec::new();
    for group in GROUPS {
        create_group(conn, at, &mut ran, group).await?;
    }
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(&mut *conn)
        .await
        .db_doing(at, Doing::SettingUpTeam)?;
    let schema = quoted(&schema);
    let old: Vec<(String, String)> = sqlx::query_as(
        "SELECT tablename::text, policyname::text FROM pg_policies \
         WHERE schemaname = current_schema() AND policyname LIKE 'keyward\\_%' \
         ORDER BY tablename, policyname",
    )
    .fetch_all(&mut *conn)
    .await
    .db_doing(at, Doing::SettingUpTeam)?;
    let mut statements = team_sql::grants(&schema);
    statements.extend(team_sql::row_security());
    for (table, name) in old {
        statements.push(format!(
            "DROP POLICY {} ON {}",
            quoted(&name),
            quoted(&table)
        ));
    }
    statements.extend(team_sql::policies());
    statements.extend(team_sql::key_rules(&schema));
    for sql in statements {
        run(conn, at, &mut ran, sql).await?;
    }
    tx.commit().await.db_doing(at, Doing::SettingUpTeam)?;
    Ok(ran)
}

/// Refuses a name that cannot be a login of its own, before anything is run.
fn check_login(login: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::InvalidInput(format!(
            "\"{login}\" cannot be a Keyward login: {why}. Nothing was changed."
        )))
    };
    if login.trim().is_empty() || login != login.trim() {
        return refuse("a login is a name without spaces around it");
    }
    if login.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    // The login names its owner row; an owner's name is stored in its canonical form, which
    // the policies compare with the login as it is.
    if keyward_core::names::canonical(login) != login {
        return refuse(
            "as an owner's name it would be stored differently (accents composed, one space \
             between words)",
        );
    }
    if login.len() > MAX_NAME_BYTES {
        return refuse("PostgreSQL names are at most 63 bytes long");
    }
    let lower = login.to_ascii_lowercase();
    if GROUPS.contains(&lower.as_str()) {
        return refuse("that is one of Keyward's roles, which logins are given");
    }
    if lower.starts_with("pg_")
        || [
            "public",
            "none",
            "current_user",
            "session_user",
            "current_role",
        ]
        .contains(&lower.as_str())
    {
        return refuse("PostgreSQL reserves that name");
    }
    Ok(())
}

/// What the server knows of a role about to be given a Keyward role.
#[derive(sqlx::FromRow)]
struct Existing {
    can_login: bool,
    superuser: bool,
    /// It owns the database or Keyward's tables, where row-level security does not apply to it.
    owner: bool,
    /// The Keyward groups it is a direct member of.
    groups: Vec<String>,
}

/// `team add`: `login` holds `role` and no other Keyward role afterwards (policies of several
/// roles would add up to more than any one gives). A login that does not exist is created,
/// without a password.
pub(crate) async fn add(
    pool: &PgPool,
    at: &Address,
    login: &str,
    role: OperatorRole,
) -> Result<TeamAdded> {
    check_login(login)?;
    let mut tx = pool.begin().await.db_doing(at, Doing::SettingUpTeam)?;
    let conn = &mut *tx;
    let (policies,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_policies \
         WHERE schemaname = current_schema() AND policyname LIKE 'keyward\\_%'",
    )
    .fetch_one(&mut *conn)
    .await
    .db_doing(at, Doing::SettingUpTeam)?;
    if policies == 0 {
        return Err(Error::InvalidInput(format!(
            "Keyward's roles are not set up in the database \"{}\" yet: run keyward-cli team \
             init first (as the database's owner). Nothing was changed.",
            at.database
        )));
    }
    let existing: Option<Existing> = sqlx::query_as(
        "SELECT r.rolcanlogin AS can_login, r.rolsuper AS superuser, \
           (r.oid = (SELECT datdba FROM pg_database WHERE datname = current_database()) \
            OR r.oid = (SELECT relowner FROM pg_class WHERE oid = 'api_keys'::regclass)) AS owner, \
           ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                 WHERE m.member = r.oid AND g.rolname = ANY($2) ORDER BY g.rolname) AS groups \
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(login)
    .bind(&GROUPS[..])
    .fetch_optional(&mut *conn)
    .await
    .db_doing(at, Doing::SettingUpTeam)?;
    let group = group_of(role);
    let who = quoted(login);
    let mut ran = Vec::new();
    let held = match &existing {
        None => {
            run(conn, at, &mut ran, format!("CREATE ROLE {who} LOGIN")).await?;
            Vec::new()
        }
        Some(found) => {
            if !found.can_login {
                return Err(Error::InvalidInput(format!(
                    "The role \"{login}\" exists but cannot log in (it is a group, or was made \
                     NOLOGIN). Name a login, or let it log in first (ALTER ROLE {who} LOGIN). \
                     Nothing was changed."
                )));
            }
            if role != OperatorRole::Admin && (found.superuser || found.owner) {
                return Err(Error::InvalidInput(format!(
                    "\"{login}\" is a superuser or owns this database or its tables, and \
                     PostgreSQL lets such a login do everything: it cannot be made {}. Use \
                     another login for that; nothing was changed.",
                    role_words(role)
                )));
            }
            found.groups.clone()
        }
    };
    for other in held.iter().filter(|g| g.as_str() != group) {
        run(conn, at, &mut ran, format!("REVOKE {other} FROM {who}")).await?;
    }
    if !held.iter().any(|g| g == group) {
        run(conn, at, &mut ran, format!("GRANT {group} TO {who}")).await?;
    }
    tx.commit().await.db_doing(at, Doing::SettingUpTeam)?;
    Ok(TeamAdded {
        sql: ran,
        created_login: existing.is_none(),
    })
}

/// What the server says of the current login.
#[derive(sqlx::FromRow)]
struct Standing {
    /// A superuser, a member of the database's or the tables' owner: row-level security does
    /// not apply to them.
    owner: bool,
    groups: Vec<String>,
    /// Granted the writes of an administrator some other way (before teams were set up).
    writes_everything: bool,
}

/// An administrator when row-level security does not bind the login (a superuser, the owner of
/// the database or of the tables) or it holds `keyward_admin`; else a key manager or a verifier
/// by the group it holds (through membership, as its grants apply). A login in none of them is
/// an administrator only if it may write the tables anyway (grants made by hand); otherwise it
/// could not have opened the database, and is told so.
pub(crate) async fn operator_role(
    pool: &PgPool,
    at: &Address,
    login: &str,
) -> Result<OperatorRole> {
    let standing: Standing = sqlx::query_as(
        "SELECT pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), \
                            'USAGE') \
             OR pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'api_keys'::regclass), \
                            'USAGE') AS owner, \
           ARRAY(SELECT g.rolname::text FROM pg_roles g \
                 WHERE g.rolname = ANY($1) AND pg_has_role(g.oid, 'USAGE')) AS groups, \
           has_table_privilege('settings', 'UPDATE') \
             AND has_table_privilege('api_keys', 'INSERT') AS writes_everything",
    )
    .bind(&GROUPS[..])
    .fetch_one(pool)
    .await
    .db(at)?;
    let holds = |group: &str| standing.groups.iter().any(|g| g == group);
    Ok(if standing.owner || holds(ADMIN) {
        OperatorRole::Admin
    } else if holds(MANAGER) {
        OperatorRole::Manager
    } else if holds(VERIFIER) {
        OperatorRole::Verifier
    } else if standing.writes_everything {
        OperatorRole::Admin
    } else {
        return Err(Error::NotPermitted(format!(
            "The database login \"{login}\" holds none of Keyward's roles on \"{}\". Ask an \
             administrator to run keyward-cli team add {login} --role manager (or admin, or \
             verifier); nothing was changed.",
            at.database
        )));
    })
}
