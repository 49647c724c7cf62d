//! One page of the key list, searched, filtered and sorted in SQL, with its total.
//!
//! The SQL holds only the conditions a request uses (a generic `$1 IS NULL OR …` form defeats
//! every index), and each sort is spelled exactly as its index in migration 0002, so PostgreSQL
//! reads a page in order from an index and stops, instead of sorting every key. Status and usage
//! cannot be indexed (they depend on the clock), so those pages are put together from one part
//! per status (or counted / not counted), each read in order from an index, as on SQLite.
//!
//! Statements are sent unnamed (`persistent(false)`): each is planned for its own values, where
//! a cached generic plan would not know that `'%ab%'` holds no trigram and `'%billing%'` does.

use chrono::{DateTime, Utc};
use keyward_core::backend::{KeyRecord, ListQueryPlan, ListRequest, ListedKeys};
use keyward_core::names::canonical;
use keyward_core::{KeyStatus, Result, SortColumn};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};

use crate::errors::{Address, DbResult};
use crate::owners::owner_by_name;
use crate::rows::{
    folded, key_columns, owner_and_plan, KeyRow, EXPIRY_OR_NEVER, LAST_USED_OR_NEVER,
};
use crate::short_terms::{self, ShortMatches, TRIGRAM_CHARS};

const KEYS_WITH_OWNER: &str = concat!("api_keys k ", owner_and_plan!());

/// Status sort: revoked above expired above active, as their names sort.
const STATUS_RANKS: [(KeyStatus, u8); 3] = [
    (KeyStatus::Revoked, 2),
    (KeyStatus::Expired, 1),
    (KeyStatus::Active, 0),
];

/// A value bound to one `$n`.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    Seqs(Vec<i64>),
}

/// The values of a statement, numbered as they are added.
#[derive(Default)]
struct Params {
    values: Vec<Arg>,
    now: Option<String>,
}

impl Params {
    fn add(&mut self, value: Arg) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    /// The current time, added once however many conditions use it.
    fn now(&mut self, now: DateTime<Utc>) -> String {
        if let Some(placeholder) = &self.now {
            return placeholder.clone();
        }
        let placeholder = self.add(Arg::Time(now));
        self.now = Some(placeholder.clone());
        placeholder
    }
}

/// ILIKE's pattern for a literal substring: its wildcards and escape character in the term are
/// escaped (`\` is ILIKE's default escape).
fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Active and expired are ranges of `api_keys_unrevoked_by_expiry`; revoked is its own index.
fn status_condition(status: KeyStatus, now: &str) -> String {
    match status {
        KeyStatus::Active => format!("k.revoked_at IS NULL AND {EXPIRY_OR_NEVER} > {now}"),
        KeyStatus::Expired => format!("k.revoked_at IS NULL AND {EXPIRY_OR_NEVER} <= {now}"),
        KeyStatus::Revoked => "k.revoked_at IS NOT NULL".to_owned(),
    }
}

/// The ORDER BY for a sort, ties by creation then id in the same direction. Status and usage
/// order their parts this way (see [`status_page_sql`] and [`usage_page_sql`]).
fn order_by(sort: SortColumn, dir: &str) -> String {
    let lead = match sort {
        SortColumn::Created | SortColumn::Status | SortColumn::Usage => None,
        SortColumn::Name => Some(folded!("k.name")),
        SortColumn::Owner => Some(folded!("o.name")),
        SortColumn::Role => Some("k.role"),
        SortColumn::Expires => Some(EXPIRY_OR_NEVER),
        SortColumn::LastUsed => Some(LAST_USED_OR_NEVER),
    };
    let lead = lead.map(|c| format!("{c} {dir}, ")).unwrap_or_default();
    format!("ORDER BY {lead}k.created_at {dir}, k.id {dir}")
}

/// One list request as SQL: the page and its count.
struct ListSql {
    page: String,
    /// `None` when the search's look-up already counted (it is the only condition).
    count: Option<String>,
    params: Vec<Arg>,
    /// The filters' values, and the search's count limit.
    count_params: Vec<Arg>,
}

impl ListSql {
    /// The filters come first, so their values are the first of the page's and all of the
    /// count's (with its limit after them).
    fn new(request: &ListRequest<'_>, short: Option<&ShortMatches>) -> Self {
        let mut p = Params::default();
        let filters = Filters::of(&mut p, request, short);
        let count = count_sql(request, short, &filters);
        let page = page_sql(&mut p, request, &filters);
        let mut count_params = p.values.get(..filters.params).unwrap_or_default().to_vec();
        count_params.extend(request.count_limit.map(Arg::Int));
        Self {
            page,
            count,
            params: p.values,
            count_params,
        }
    }
}

/// The conditions a request asks for, shared by its page and its count.
struct Filters {
    conditions: Vec<String>,
    /// How many values they bind: the statement's first ones.
    params: usize,
}

impl Filters {
    fn of(p: &mut Params, request: &ListRequest<'_>, short: Option<&ShortMatches>) -> Self {
        let mut conditions: Vec<String> = Vec::new();
        if let Some(term) = &request.search {
            conditions.push(search_condition(p, term, short));
        }
        if let Some(status) = request.query.status {
            let now = p.now(request.now);
            conditions.push(status_condition(status, &now));
        }
        if let Some(owner) = &request.query.owner {
            let wanted = p.add(Arg::Text(canonical(owner)));
            let typed = p.add(Arg::Text(owner.trim().to_owned()));
            conditions.push(format!(
                "k.owner_id = ({})",
                owner_by_name("id", &wanted, &typed)
            ));
        }
        if let Some(role) = request.query.role {
            let r = p.add(Arg::Text(role.as_str().to_owned()));
            conditions.push(format!("k.role = {r}"));
        }
        if let Some(until) = request.expiring_until {
            let now = p.now(request.now);
            let until = p.add(Arg::Time(until));
            conditions.push(format!(
                "k.revoked_at IS NULL AND {EXPIRY_OR_NEVER} > {now} \
                 AND {EXPIRY_OR_NEVER} <= {until}"
            ));
        }
        Self {
            conditions,
            params: p.values.len(),
        }
    }

    /// ` WHERE …`, or nothing when there is no condition.
    fn where_sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// How a part's own condition joins the filters.
    fn and(&self) -> &'static str {
        if self.conditions.is_empty() {
            "WHERE"
        } else {
            "AND"
        }
    }
}

/// The search: the short term's matches by seq, or a substring of the search text.
fn search_condition(p: &mut Params, term: &str, short: Option<&ShortMatches>) -> String {
    if let Some(seqs) = short.and_then(|found| found.all.as_ref()) {
        let s = p.add(Arg::Seqs(seqs.clone()));
        format!("k.seq = ANY({s})")
    } else {
        // A byte-wise LIKE on text already folded (migration 0005): found through its trigram
        // index from three characters; a short term held by many keys is tested row by row
        // while a sort's index is walked, which soon fills a page.
        let s = p.add(Arg::Text(like_pattern(term)));
        format!("k.search_text LIKE {s}")
    }
}

/// The count's SQL; `None` when the short term's look-up counted and is the only condition.
/// Its values are the filters' and then the search's count limit.
fn count_sql(
    request: &ListRequest<'_>,
    short: Option<&ShortMatches>,
    filters: &Filters,
) -> Option<String> {
    let where_sql = filters.where_sql();
    if short.is_some() && filters.conditions.len() == 1 {
        None
    } else if filters.conditions.is_empty() {
        // The total kept by migration 0004's triggers, unless row policies hide rows from this
        // login (a key manager): then its own keys, counted. A scalar subquery in a CASE runs
        // only when its branch is taken.
        Some(
            "SELECT CASE WHEN row_security_active('api_keys') \
               THEN (SELECT count(*) FROM api_keys) \
               ELSE (SELECT keys FROM key_totals) END"
                .to_owned(),
        )
    } else if request.count_limit.is_some() {
        // A search counts up to its limit: the count stops there, as the page does. The order
        // does not change a count; it is asked in the order of the search text's B-tree
        // (migration 0005) so that a term in many keys is counted from that index alone (an
        // index-only scan, 3.6 ms for "production" at 100,000 keys) rather than from the rows,
        // which PostgreSQL estimates the same and which took 10 ms. A rare term is still found
        // through the trigram index and its few matches sorted.
        Some(format!(
            "SELECT count(*) FROM (SELECT 1 FROM api_keys k{where_sql} \
             ORDER BY k.search_text LIMIT ${}) AS matched",
            filters.params + 1
        ))
    } else {
        Some(format!("SELECT count(*) FROM api_keys k{where_sql}"))
    }
}

/// The page's SQL, its values added after the filters'.
fn page_sql(p: &mut Params, request: &ListRequest<'_>, filters: &Filters) -> String {
    match request.query.sort {
        SortColumn::Usage => usage_page_sql(p, request, filters),
        SortColumn::Status if request.query.status.is_none() => {
            status_page_sql(p, request, filters)
        }
        _ => {
            let (limit, offset) = page_bounds(p, request);
            format!(
                "SELECT {} FROM {KEYS_WITH_OWNER}{} {} LIMIT {limit} OFFSET {offset}",
                key_columns!(),
                filters.where_sql(),
                order_by(request.query.sort, direction(request)),
            )
        }
    }
}

/// Each status's first offset + limit keys in list order, then the page from those.
fn status_page_sql(p: &mut Params, request: &ListRequest<'_>, filters: &Filters) -> String {
    let columns = key_columns!();
    let (where_sql, and) = (filters.where_sql(), filters.and());
    let dir = direction(request);
    let order = order_by(request.query.sort, dir);
    let now = p.now(request.now);
    let first = first_rows(p, request);
    let (limit, offset) = page_bounds(p, request);
    let parts: Vec<String> = STATUS_RANKS
        .iter()
        .map(|(status, rank)| {
            format!(
                "(SELECT {columns}, {rank} AS status_rank FROM {KEYS_WITH_OWNER}\
                 {where_sql} {and} {} {order} LIMIT {first})",
                status_condition(*status, &now)
            )
        })
        .collect();
    format!(
        "{} ORDER BY status_rank {dir}, created_at {dir}, id {dir} \
         LIMIT {limit} OFFSET {offset}",
        parts.join(" UNION ALL ")
    )
}

/// Keys with a count, from quota_usage_by_used in count order (ties by id), each looked up by
/// its id in the LATERAL subquery; then the others, from api_keys_by_created; then the page.
fn usage_page_sql(p: &mut Params, request: &ListRequest<'_>, filters: &Filters) -> String {
    let columns = key_columns!();
    let (where_sql, and) = (filters.where_sql(), filters.and());
    let dir = direction(request);
    let order = order_by(request.query.sort, dir);
    let [day, week, month] = request.usage_periods.map(|at| p.add(Arg::Time(at)));
    // A count counts when it is above 0 and of the current period of the key's plan. The
    // periods are a small table joined on both columns, rather than a CASE: PostgreSQL then
    // estimates from the counts' own statistics how many match.
    let current = format!(
        "(VALUES ('day', {day}::timestamptz), ('week', {week}::timestamptz), \
         ('month', {month}::timestamptz)) AS cur(period, start)"
    );
    let first = first_rows(p, request);
    let (limit, offset) = page_bounds(p, request);
    let key_filters: String = filters
        .conditions
        .iter()
        .map(|c| format!(" AND {c}"))
        .collect();
    // OFFSET 0 keeps the LATERAL subquery from being merged into the join, so it runs once per
    // count read, in the index's order, and the LIMIT stops the walk once the page is full.
    // Merged, it is a plain join, which PostgreSQL, pricing each lookup by id as a read from
    // disk, plans for a filter keeping a tenth of the keys by hashing every count with every
    // such key and sorting them all: slower for the first pages. `walks_counts` says when the
    // join is left to PostgreSQL all the same.
    let fence = if walks_counts(request) {
        " OFFSET 0"
    } else {
        ""
    };
    format!(
        "(SELECT ck.*, 1 AS usage_rank, u.used AS usage_count, \
           'epoch'::timestamptz AS usage_tie \
         FROM quota_usage u CROSS JOIN LATERAL \
           (SELECT {columns} FROM {KEYS_WITH_OWNER} JOIN {current} \
             ON cur.period = pl.quota_period AND cur.start = u.period_start \
           WHERE k.id = u.key_id{key_filters}{fence}) ck \
         WHERE u.used > 0 ORDER BY u.used {dir}, u.key_id {dir} LIMIT {first}) \
         UNION ALL \
         (SELECT {columns}, 0 AS usage_rank, 0::bigint AS usage_count, \
           k.created_at AS usage_tie \
         FROM {KEYS_WITH_OWNER}{where_sql} {and} NOT EXISTS \
           (SELECT 1 FROM quota_usage u JOIN {current} \
             ON cur.period = pl.quota_period AND cur.start = u.period_start \
           WHERE u.key_id = k.id AND u.used > 0) \
         {order} LIMIT {first}) \
         ORDER BY usage_rank {dir}, usage_count {dir}, usage_tie {dir}, id {dir} \
         LIMIT {limit} OFFSET {offset}"
    )
}

/// Whether the usage sort's counted part walks `quota_usage_by_used` in order whatever
/// PostgreSQL estimates (see [`usage_page_sql`]). A walk costs a lookup by id per count read, so
/// it is quick when the filters keep a good share of the keys: none, a status or a role (a page
/// of 50 at 100,000 keys with 2,000 counts, role admin: 2.4 ms for the counted keys, against
/// 4.8 ms fetching and sorting them all), or a term too short for trigrams, which is tested row
/// by row anyway (same page: 2.3 ms against 5.9). One owner's keys, those expiring within days
/// and a trigram search can be very few, and a walk would then read every count to fill a page
/// (one owner, 10,000 counts: 0.07 ms fetched and sorted, 28 ms walked); PostgreSQL has
/// estimates for those, and chooses.
fn walks_counts(request: &ListRequest<'_>) -> bool {
    request.query.owner.is_none()
        && request.expiring_until.is_none()
        && request
            .search
            .as_deref()
            .is_none_or(|term| term.chars().count() < TRIGRAM_CHARS)
}

fn page_bounds(p: &mut Params, request: &ListRequest<'_>) -> (String, String) {
    (
        p.add(Arg::Int(i64::from(request.limit))),
        p.add(Arg::Int(i64::from(request.query.offset))),
    )
}

/// How many rows each part of a status or usage page reads: every row up to the page's end.
fn first_rows(p: &mut Params, request: &ListRequest<'_>) -> String {
    p.add(Arg::Int(
        i64::from(request.query.offset) + i64::from(request.limit),
    ))
}

fn direction(request: &ListRequest<'_>) -> &'static str {
    if request.query.descending {
        "DESC"
    } else {
        "ASC"
    }
}

type PgQueryAs<'q, O> = QueryAs<'q, Postgres, O, PgArguments>;

fn query<'q, O>(sql: &'q str, args: &'q [Arg]) -> PgQueryAs<'q, O>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let mut query = sqlx::query_as(sql).persistent(false);
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text.as_str()),
            Arg::Int(n) => query.bind(*n),
            Arg::Time(at) => query.bind(*at),
            Arg::Seqs(seqs) => query.bind(seqs.as_slice()),
        };
    }
    query
}

pub(crate) async fn list_keys(
    pool: &PgPool,
    at: &Address,
    request: &ListRequest<'_>,
) -> Result<ListedKeys> {
    let short = short_terms::look_up(pool, at, request).await?;
    let sql = ListSql::new(request, short.as_ref());
    // On two connections at once: the server runs them side by side.
    let page = async { query(&sql.page, &sql.params).fetch_all(pool).await };
    let count = async {
        match &sql.count {
            Some(count) => query(count, &sql.count_params)
                .fetch_one(pool)
                .await
                .map(|(total,): (i64,)| total),
            None => Ok(short.as_ref().map_or(0, |found| found.counted)),
        }
    };
    let (rows, total): (Vec<KeyRow>, i64) = tokio::try_join!(page, count).db(at)?;
    Ok(ListedKeys {
        keys: rows.into_iter().map(KeyRecord::from).collect(),
        total,
    })
}

/// `EXPLAIN` of exactly what [`list_keys`] runs, with the same values.
pub(crate) async fn list_query_plan(
    pool: &PgPool,
    at: &Address,
    request: &ListRequest<'_>,
) -> Result<ListQueryPlan> {
    let short = short_terms::look_up(pool, at, request).await?;
    let sql = ListSql::new(request, short.as_ref());
    let explain = |text: &str, args: &[Arg]| {
        let text = format!("EXPLAIN {text}");
        let args = args.to_vec();
        async move {
            let lines: Vec<(String,)> = query(&text, &args).fetch_all(pool).await.db(at)?;
            Ok::<_, keyward_core::Error>(lines.into_iter().map(|(line,)| line).collect())
        }
    };
    Ok(ListQueryPlan {
        page: explain(&sql.page, &sql.params).await?,
        count: match &sql.count {
            Some(count) => explain(count, &sql.count_params).await?,
            None => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::{ListQuery, Role};

    #[test]
    fn a_search_term_matches_itself_literally() {
        assert_eq!(like_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
    }

    /// The SQL of a page of the usage sort with `query`'s filters.
    fn usage_page(query: &ListQuery) -> ListSql {
        let query = ListQuery {
            sort: SortColumn::Usage,
            ..query.clone()
        };
        ListSql::new(&ListRequest::new(&query, DateTime::<Utc>::UNIX_EPOCH), None)
    }

    #[test]
    fn the_usage_sort_walks_the_counts_unless_a_filter_may_keep_very_few_keys() {
        let walked = [
            ListQuery::default(),
            ListQuery {
                search: Some("bi".into()),
                ..ListQuery::default()
            },
            ListQuery {
                status: Some(KeyStatus::Revoked),
                role: Some(Role::Admin),
                ..ListQuery::default()
            },
        ];
        for query in &walked {
            let sql = usage_page(query);
            assert!(sql.page.contains("OFFSET 0) ck"), "{query:?}\n{}", sql.page);
        }
        let chosen = [
            ListQuery {
                search: Some("billing".into()),
                ..ListQuery::default()
            },
            ListQuery {
                owner: Some("Ada".into()),
                ..ListQuery::default()
            },
            ListQuery {
                search: Some("bi".into()),
                expiring_within_days: Some(7),
                ..ListQuery::default()
            },
        ];
        for query in &chosen {
            let sql = usage_page(query);
            assert!(!sql.page.contains("OFFSET 0"), "{query:?}\n{}", sql.page);
        }
    }

    #[test]
    fn every_sort_breaks_ties_by_creation_then_id_in_its_direction() {
        assert_eq!(
            order_by(SortColumn::Name, "ASC"),
            "ORDER BY lower(k.name COLLATE \"C\") ASC, k.created_at ASC, k.id ASC"
        );
        assert_eq!(
            order_by(SortColumn::Created, "DESC"),
            "ORDER BY k.created_at DESC, k.id DESC"
        );
    }
}
