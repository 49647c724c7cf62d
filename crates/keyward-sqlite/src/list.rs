//! Running the key list: one page and its total, and `EXPLAIN QUERY PLAN` of the same SQL.

use sqlx::sqlite::{SqliteArguments, SqlitePool};

use keyward_core::backend::{ListQueryPlan, ListRequest, ListedKeys};
use keyward_core::Result;

use crate::error::OrDb;
use crate::list_sql::{Arg, ListSql};
use crate::rows::KeyRow;
use crate::search::Search;

type SqliteQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Sqlite, O, SqliteArguments<'q>>;

fn bind_all<O>(mut query: SqliteQueryAs<'_, O>, args: Vec<Arg>) -> SqliteQueryAs<'_, O> {
    for arg in args {
        query = match arg {
            Arg::Int(n) => query.bind(n),
            Arg::Text(text) => query.bind(text),
        };
    }
    query
}

/// One page of keys, searched, filtered and sorted in SQL, with how many match in all.
pub(crate) async fn list_keys(pool: &SqlitePool, request: &ListRequest<'_>) -> Result<ListedKeys> {
    let search = Search::run(pool, request).await?;
    let sql = ListSql::new(request, search.as_ref());
    let rows: Vec<KeyRow> = bind_all(sqlx::query_as(&sql.page_sql()), sql.page_args())
        .fetch_all(pool)
        .await
        .db()?;
    let total = match sql.count_sql() {
        None => sql.total_from_search.unwrap_or_default(),
        Some(count) => {
            let (total,): (i64,) = bind_all(sqlx::query_as(&count), sql.count_args())
                .fetch_one(pool)
                .await
                .db()?;
            total
        }
    };
    Ok(ListedKeys {
        keys: rows.into_iter().map(|KeyRow(key)| key).collect(),
        total,
    })
}

/// `EXPLAIN QUERY PLAN` for the queries [`list_keys`] would run, so tests can check that every
/// sort and filter reads an index rather than the whole table. The count is empty when the
/// search index alone gives the total.
pub(crate) async fn list_query_plan(
    pool: &SqlitePool,
    request: &ListRequest<'_>,
) -> Result<ListQueryPlan> {
    let search = Search::run(pool, request).await?;
    let sql = ListSql::new(request, search.as_ref());
    let explain = |text: String, args: Vec<Arg>| async move {
        let rows: Vec<(i64, i64, i64, String)> =
            bind_all(sqlx::query_as(&format!("EXPLAIN QUERY PLAN {text}")), args)
                .fetch_all(pool)
                .await
                .db()?;
        Ok::<_, keyward_core::Error>(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
    };
    let page = explain(sql.page_sql(), sql.page_args()).await?;
    let count = match sql.count_sql() {
        Some(count) => explain(count, sql.count_args()).await?,
        None => Vec::new(),
    };
    Ok(ListQueryPlan { page, count })
}
