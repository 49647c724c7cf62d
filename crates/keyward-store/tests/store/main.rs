//! The store's behaviour, written once and run on both backends: every test below is an
//! `async fn name(db: Db)` that [`on_both_backends!`] turns into `…::sqlite::name` and
//! `…::postgres::name`, each on a brand-new database. Filter by backend with
//! `cargo test -p keyward-store sqlite::` or `… postgres::`.
//!
//! The PostgreSQL side needs a server: `KEYWARD_TEST_PG` names one (`scripts/with-postgres`
//! starts a throwaway one and sets it). Without it those tests fail, saying how to run them; they
//! are never skipped, so a green run means both backends were tested.
//!
//! Tests about SQLite files themselves live in `sqlite_only.rs`; `query_plans.rs` holds each
//! backend's own check that the list reads indexes.

/// One test function of the enclosing module, run on one backend with a fresh database.
/// `multi_thread` gives the test four worker threads, for tests that race tasks.
macro_rules! backend_test {
    ($backend:ident, $name:ident) => {
        #[tokio::test]
        async fn $name() {
            super::$name($crate::harness::Db::$backend().await).await
        }
    };
    ($backend:ident, $name:ident, multi_thread) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            super::$name($crate::harness::Db::$backend().await).await
        }
    };
}

/// Runs each named `async fn name(db: Db)` of the enclosing module on SQLite and on PostgreSQL:
/// `on_both_backends!(a, b(multi_thread));` gives `sqlite::a`, `postgres::a`, `sqlite::b`, ….
/// A function left out of the list is dead code, so the compiler points it out.
macro_rules! on_both_backends {
    ($($name:ident $(($flavor:ident))?),* $(,)?) => {
        mod sqlite {
            $(backend_test!(sqlite, $name $(, $flavor)?);)*
        }
        mod postgres {
            $(backend_test!(postgres, $name $(, $flavor)?);)*
        }
    };
}

mod harness;

mod keys;
mod list;
mod owners;
mod plans;
mod query_plans;
mod servers;
mod settings;
mod sorting;
mod sqlite_only;
mod verify;
