//! Every sqlx or PostgreSQL failure becomes a core [`Error`] here, in words a person can act on.
//! The core cannot have `From<sqlx::Error>` for its own error (the orphan rule, and it no longer
//! knows sqlx), so every query ends in `.db(&self.at)?`, which also names the server.
//!
//! Failures are told apart by SQLSTATE, never by the server's text (which is translated when the
//! server's `lc_messages` is not English). No message ever holds the password: the [`Address`]
//! has none, and neither sqlx's I/O errors nor the server's messages repeat it.

use keyward_core::{Error, Result};
use sqlx::postgres::PgConnectOptions;

/// unique_violation: the trait reports these as `false` / `None`, never as an error.
pub(crate) const UNIQUE_VIOLATION: &str = "23505";
/// lock_not_available: a `lock_timeout` ran out.
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";
/// deadlock_detected.
pub(crate) const DEADLOCK: &str = "40P01";
/// insufficient_privilege: a grant missing, or a row a row-level security policy forbids.
pub(crate) const NOT_PERMITTED: &str = "42501";
/// Raised by the key rules trigger of `team init` (`team_sql.rs`), in a class of our own ("KW"):
/// a key manager going past the per-owner limit...
pub(crate) const OVER_LIMIT: &str = "KW001";
/// ...changing a revoked key...
pub(crate) const KEY_REVOKED: &str = "KW002";
/// ...or writing keys at an isolation level under which the limit's count could miss a key.
pub(crate) const NOT_READ_COMMITTED: &str = "KW003";

/// What a statement was doing, for the words of a refusal: PostgreSQL says only that the login
/// may not (`permission denied for table settings`), not what the person was trying to do or who
/// may. Told by the operation, never by the server's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doing {
    /// Any read or write with no words of its own.
    Anything,
    ChangingSettings,
    ChangingPlans,
    /// Adding or renaming owners (a key manager's own owner row is made with their first key).
    ChangingOwners,
    /// `team init` / `team add`: roles, grants, policies.
    SettingUpTeam,
}

impl Doing {
    /// Why the database refused (`said`), in words that say what may not be done and who can.
    fn refused(self, user: &str, said: &str) -> Error {
        Error::NotPermitted(match self {
            Self::Anything => format!(
                "Your database login may not do this ({said}); ask an administrator. Nothing \
                 was changed."
            ),
            Self::ChangingSettings => {
                "Only administrators can change settings; nothing was changed.".into()
            }
            Self::ChangingPlans => {
                "Only administrators can create, change or delete plans, or choose the default \
                 plan; nothing was changed."
                    .into()
            }
            Self::ChangingOwners => {
                "Only administrators can add or rename owners (a key manager becomes an owner \
                 with their first key); nothing was changed."
                    .into()
            }
            Self::SettingUpTeam => format!(
                "The login \"{user}\" may not set up Keyward's roles ({said}). Run this as the \
                 database's owner or a superuser (creating roles and logins also needs \
                 CREATEROLE); nothing was changed."
            ),
        })
    }
}

/// Where the backend's database is, for messages and [`crate::PgBackend`]'s location: everything
/// of the address but the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    host: String,
    port: u16,
    socket: Option<String>,
    pub(crate) user: String,
    pub(crate) database: String,
}

/// Percent-encodes what may not stand as it is in a URL's user or path.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Address {
    pub(crate) fn of(options: &PgConnectOptions) -> Self {
        let user = options.get_username().to_owned();
        Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            socket: options.get_socket().map(|path| path.display().to_string()),
            // PostgreSQL's own default: the database named after the user.
            database: options
                .get_database()
                .map_or_else(|| user.clone(), str::to_owned),
            user,
        }
    }

    /// `HOST:PORT` (or the socket folder), as people name a server.
    pub(crate) fn server(&self) -> String {
        match &self.socket {
            Some(folder) => format!("{folder} (port {})", self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// The address as a URL without its password: `postgres://user@host:port/db`.
    pub(crate) fn url(&self) -> String {
        let (user, db) = (encoded(&self.user), encoded(&self.database));
        match &self.socket {
            Some(folder) => format!(
                "postgres://{user}@:{}/{db}?host={}",
                self.port,
                encoded(folder)
            ),
            None => format!("postgres://{user}@{}:{}/{db}", self.host, self.port),
        }
    }

    fn unreachable(&self, why: &str) -> Error {
        Error::Unavailable(format!(
            "The PostgreSQL server at {} cannot be reached ({why}). Check that it is running and \
             that this computer can reach it, then try again; nothing was changed.",
            self.server()
        ))
    }

    /// The words for the failure `error`, whatever the query was.
    pub(crate) fn explain(&self, error: sqlx::Error) -> Error {
        self.explain_doing(error, Doing::Anything)
    }

    /// The words for the failure `error` of a statement `doing` something a refusal can name.
    pub(crate) fn explain_doing(&self, error: sqlx::Error, doing: Doing) -> Error {
        match error {
            sqlx::Error::Database(database) => self.explain_sqlstate(&*database, doing),
            other => self.explain_driver(other),
        }
    }

    /// A failure the server did not answer with a SQLSTATE: no connection, or the driver's own.
    fn explain_driver(&self, error: sqlx::Error) -> Error {
        match error {
            sqlx::Error::Io(e) => self.unreachable(&io_words(&e)),
            sqlx::Error::PoolTimedOut => {
                self.unreachable("no connection was free or could be made in time")
            }
            sqlx::Error::PoolClosed => Error::Unavailable(
                "The connection to the key database was closed; nothing was changed.".into(),
            ),
            sqlx::Error::Tls(e) => Error::Unavailable(format!(
                "A secure connection to the PostgreSQL server at {} could not be made ({e}); \
                 nothing was changed.",
                self.server()
            )),
            sqlx::Error::Configuration(_) => Error::InvalidInput(
                "The PostgreSQL address is not valid; write it as \
                 postgres://USER@HOST:PORT/DATABASE. Nothing was changed."
                    .into(),
            ),
            sqlx::Error::RowNotFound => Error::Database("a row it needed was not there".into()),
            other => Error::Database(other.to_string()),
        }
    }

    /// A failure the server answered with a SQLSTATE, told by that code.
    fn explain_sqlstate(&self, database: &dyn sqlx::error::DatabaseError, doing: Doing) -> Error {
        let server = self.server();
        let code = database.code().map(|c| c.into_owned()).unwrap_or_default();
        let said = database.message().trim_end_matches('.').to_owned();
        match code.as_str() {
            c if c.starts_with("08") => self.unreachable(&said),
            // The server is going down (admin or crash shutdown): as good as unreachable.
            "57P01" | "57P02" => self.unreachable(&said),
            "28P01" | "28000" => Error::Unavailable(format!(
                "The PostgreSQL server at {server} refused the login of \"{}\" ({said}). Check \
                 the user name and the password (in the address, PGPASSWORD or ~/.pgpass); \
                 nothing was changed.",
                self.user
            )),
            "3D000" => Error::Unavailable(format!(
                "There is no database named \"{}\" on the PostgreSQL server at {server}. Create \
                 it (createdb {}) or correct the address; nothing was changed.",
                self.database, self.database
            )),
            "40001" | DEADLOCK | LOCK_NOT_AVAILABLE => Error::TryAgain(
                "Someone else was changing the same rows at the same moment, so this change was \
                 stopped. Try again; nothing was changed."
                    .into(),
            ),
            "53100" => Error::TryAgain(format!(
                "The PostgreSQL server at {server} has no disk space left. Free some space there \
                 and try again; nothing was changed."
            )),
            // Too many connections, out of memory, still starting up: it passes.
            "53200" | "53300" | "57P03" => Error::TryAgain(format!(
                "The PostgreSQL server at {server} is busy ({said}). Try again in a moment; \
                 nothing was changed."
            )),
            "57014" => Error::TryAgain(format!(
                "The PostgreSQL server at {server} stopped a statement that ran too long \
                 ({said}). Try again; nothing was changed."
            )),
            // Also how PostgreSQL refuses a row that a row-level security policy forbids.
            NOT_PERMITTED => doing.refused(&self.user, &said),
            // The core refuses a key past the limit first, unless told to override it: only
            // then does this trigger's refusal come back.
            OVER_LIMIT => Error::NotPermitted(
                "Only administrators can override the limit of active keys per owner; revoke \
                 one of the owner's keys first. Nothing was changed."
                    .into(),
            ),
            KEY_REVOKED => Error::KeyRevoked,
            NOT_READ_COMMITTED => Error::NotPermitted(
                "Key managers may create or change keys only in READ COMMITTED transactions \
                 (the limit is counted that way); nothing was changed."
                    .into(),
            ),
            "25006" => Error::Unavailable(format!(
                "The PostgreSQL server at {server} only allows reading (a standby, or read-only \
                 mode), so nothing was changed."
            )),
            _ => Error::Database(said),
        }
    }
}

/// Why a connection could not be made, in words (the system's text for the rarer cases,
/// without its "(os error N)").
fn io_words(error: &std::io::Error) -> String {
    use std::io::ErrorKind as Io;
    match error.kind() {
        Io::ConnectionRefused => "nothing accepts connections at that address and port".into(),
        Io::TimedOut => "it did not answer in time".into(),
        Io::HostUnreachable | Io::NetworkUnreachable => {
            "there is no network route to it from this computer".into()
        }
        Io::ConnectionReset | Io::ConnectionAborted | Io::UnexpectedEof => {
            "the connection was cut off".into()
        }
        Io::NotFound => "there is no server socket there".into(),
        _ => {
            let text = error.to_string();
            text.split(" (os error").next().unwrap_or(&text).to_owned()
        }
    }
}

/// The SQLSTATE of a failure the server reported, if it is one.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// `.db(&at)?` on every query: the failure in plain words.
pub(crate) trait DbResult<T> {
    fn db(self, at: &Address) -> Result<T>;
}

impl<T> DbResult<T> for std::result::Result<T, sqlx::Error> {
    fn db(self, at: &Address) -> Result<T> {
        self.map_err(|e| at.explain(e))
    }
}

/// `.db_doing(&at, Doing::…)` on the statements whose refusal has words of its own.
pub(crate) trait DbResultDoing<T> {
    fn db_doing(self, at: &Address, doing: Doing) -> Result<T>;
}

impl<T> DbResultDoing<T> for std::result::Result<T, sqlx::Error> {
    fn db_doing(self, at: &Address, doing: Doing) -> Result<T> {
        self.map_err(|e| at.explain_doing(e, doing))
    }
}

/// For statements that may hit a unique index: `Ok(None)` when they did. The transaction is then
/// aborted, so callers run such statements under a savepoint (or use `ON CONFLICT DO NOTHING`).
/// A refusal is worded for what the statement was `doing`.
pub(crate) trait UniqueResult<T> {
    fn unless_taken_doing(self, at: &Address, doing: Doing) -> Result<Option<T>>;
}

impl<T> UniqueResult<T> for std::result::Result<T, sqlx::Error> {
    fn unless_taken_doing(self, at: &Address, doing: Doing) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if sqlstate(&e).as_deref() == Some(UNIQUE_VIOLATION) => Ok(None),
            Err(e) => Err(at.explain_doing(e, doing)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn address(url: &str) -> Address {
        Address::of(&PgConnectOptions::from_str(url).expect("a valid URL"))
    }

    #[test]
    fn the_location_never_holds_the_password() {
        let at = address("postgres://alice:s3cr%40t@db.example:6543/keys");
        assert_eq!(at.url(), "postgres://alice@db.example:6543/keys");
        assert_eq!(at.server(), "db.example:6543");
        assert!(!format!("{at:?}").contains("s3cr"));
        let unreachable = at.explain(sqlx::Error::Io(
            std::io::ErrorKind::ConnectionRefused.into(),
        ));
        assert!(matches!(unreachable, Error::Unavailable(_)));
        assert!(unreachable.to_string().contains("db.example:6543"));
        assert!(
            unreachable
                .to_string()
                .contains("nothing accepts connections")
                && !unreachable.to_string().contains("os error"),
            "{unreachable}"
        );
        assert!(!unreachable.to_string().contains("s3cr"));
    }

    /// A server error with only a SQLSTATE and a message, as PostgreSQL sends them.
    #[derive(Debug)]
    struct ServerSaid(&'static str, &'static str);

    impl std::fmt::Display for ServerSaid {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
    }

    impl std::error::Error for ServerSaid {}

    impl sqlx::error::DatabaseError for ServerSaid {
        fn message(&self) -> &str {
            self.1
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn explained(code: &'static str, message: &'static str) -> Error {
        address("postgres://alice:s3cret@db.example:6543/keys")
            .explain(sqlx::Error::Database(Box::new(ServerSaid(code, message))))
    }

    fn kind(error: &Error) -> &'static str {
        match error {
            Error::Unavailable(_) => "unavailable",
            Error::TryAgain(_) => "try again",
            Error::NotPermitted(_) => "not permitted",
            Error::Database(_) => "database",
            _ => "other",
        }
    }

    #[test]
    fn each_kind_of_failure_is_told_by_its_sqlstate() {
        let login = "password authentication failed for user \"alice\"";
        let cases = [
            (
                "08006",
                "connection failure",
                "unavailable",
                "cannot be reached",
            ),
            (
                "57P01",
                "terminating connection",
                "unavailable",
                "cannot be reached",
            ),
            (
                "28P01",
                login,
                "unavailable",
                "refused the login of \"alice\"",
            ),
            (
                "28000",
                "no pg_hba.conf entry",
                "unavailable",
                "refused the login",
            ),
            (
                "3D000",
                "database does not exist",
                "unavailable",
                "no database named \"keys\"",
            ),
            (
                "40001",
                "could not serialize access",
                "try again",
                "Try again",
            ),
            ("40P01", "deadlock detected", "try again", "Try again"),
            ("55P03", "lock timeout", "try again", "Try again"),
            (
                "53100",
                "could not extend file",
                "try again",
                "no disk space left",
            ),
            (
                "42501",
                "permission denied for table api_keys",
                "not permitted",
                "administrator",
            ),
            (
                "22001",
                "value too long for type",
                "database",
                "value too long",
            ),
        ];
        for (code, message, expected, words) in cases {
            let error = explained(code, message);
            assert_eq!(kind(&error), expected, "{code}: {error:?}");
            let text = error.to_string();
            assert!(text.contains(words), "{code}: {text}");
            assert!(
                text.to_lowercase().contains("nothing was changed"),
                "{code}: {text}"
            );
            assert!(!text.contains("s3cret") && !format!("{error:?}").contains("s3cret"));
        }
    }

    /// A refusal says what may not be done and who may, by what the statement was doing or by
    /// the key rules' own SQLSTATE; never by the server's words, which are the same for all.
    #[test]
    fn refusals_say_what_and_who_may() {
        let at = address("postgres://alice@db.example:6543/keys");
        let refused = |code: &'static str, doing| {
            at.explain_doing(
                sqlx::Error::Database(Box::new(ServerSaid(code, "permission denied"))),
                doing,
            )
        };
        for (doing, words) in [
            (
                Doing::ChangingSettings,
                "Only administrators can change settings",
            ),
            (
                Doing::ChangingPlans,
                "Only administrators can create, change or delete plans",
            ),
            (
                Doing::ChangingOwners,
                "Only administrators can add or rename owners",
            ),
            (Doing::SettingUpTeam, "database's owner or a superuser"),
            (Doing::Anything, "ask an administrator"),
        ] {
            let error = refused(NOT_PERMITTED, doing);
            assert_eq!(kind(&error), "not permitted", "{doing:?}");
            let text = error.to_string();
            assert!(text.contains(words), "{doing:?}: {text}");
            assert!(
                text.to_lowercase().contains("nothing was changed"),
                "{text}"
            );
        }
        for code in [OVER_LIMIT, NOT_READ_COMMITTED] {
            let error = refused(code, Doing::Anything);
            assert_eq!(kind(&error), "not permitted", "{code}");
            let text = error.to_string().to_lowercase();
            assert!(text.contains("nothing was changed"), "{text}");
        }
        assert!(refused(OVER_LIMIT, Doing::Anything)
            .to_string()
            .contains("Only administrators can override the limit"));
        assert!(matches!(
            refused(KEY_REVOKED, Doing::ChangingPlans),
            Error::KeyRevoked
        ));
    }

    #[test]
    fn a_missing_database_name_is_the_user_name_as_on_the_server() {
        let at = address("postgres://bob@localhost:5432");
        assert_eq!(at.url(), "postgres://bob@localhost:5432/bob");
        let odd = address("postgres://b%20b@localhost/k%2Fw");
        assert_eq!(odd.url(), "postgres://b%20b@localhost:5432/k%2Fw");
    }
}
