//! One page of the key list as SQL: only the conditions the request asks for, so that SQLite can
//! pick an index for each (a generic `?x IS NULL OR ...` form defeats every index). The
//! expressions match migration 0004's and 0008's indexes exactly, which SQLite needs to use them.

use keyward_core::backend::ListRequest;
use keyward_core::models::{KeyStatus, SortColumn};

use crate::keys::{key_columns, plan_column, KEY_SELECT};
use crate::owners::{owner_by_name, owner_by_typed_name_args};
use crate::rows::to_millis;
use crate::search::Search;

/// For the owner sort: owners in name order (their unique index), then each one's keys. SQLite
/// would otherwise read every key and sort them all for one page; CROSS JOIN fixes the order.
const KEY_SELECT_OWNERS_FIRST: &str = concat!(
    key_columns!(),
    " FROM owners o CROSS JOIN api_keys k ON o.id = k.owner_id"
);

/// For the usage sort: the keys that have a count, read in count order from
/// `quota_usage_by_used` (migration 0008), each then looked up by id. CROSS JOIN fixes that order
/// when walking; otherwise SQLite may start from the few search matches instead.
const KEY_SELECT_BY_USAGE_WALK: &str = concat!(
    key_columns!(),
    ", u.used AS usage_count \
     FROM quota_usage u CROSS JOIN api_keys k ON k.id = u.key_id \
     CROSS JOIN owners o ON o.id = k.owner_id"
);
const KEY_SELECT_BY_USAGE: &str = concat!(
    key_columns!(),
    ", u.used AS usage_count \
     FROM quota_usage u JOIN api_keys k ON k.id = u.key_id JOIN owners o ON o.id = k.owner_id"
);

/// A `quota_usage u` row of the key `k` that counts: above 0 and for the period holding now of
/// the key's plan (the `?`s are the starts of today, this week and this month, the request's
/// `usage_periods`). A count from a period that has ended, or kept from a plan with a quota
/// after a move to one without, counts as 0, as the details panel shows it: one lookup of the
/// plan by its primary key per row read.
macro_rules! counted_usage {
    () => {
        "u.used > 0 AND u.period_start = (SELECT CASE p.quota_period \
         WHEN 'day' THEN ? WHEN 'week' THEN ? WHEN 'month' THEN ? END \
         FROM plans p WHERE p.id = k.plan_id)"
    };
}

/// Status depends on the clock, so no index can sort by it. A page sorted by status is put
/// together from one part per status instead, each read in list order from an index: revoked
/// sorts above expired above active, as their names do.
const STATUS_RANKS: [(KeyStatus, u8); 3] = [
    (KeyStatus::Revoked, 2),
    (KeyStatus::Expired, 1),
    (KeyStatus::Active, 0),
];

/// A value bound to a list query's `?` placeholders, in order.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// Keys that never expire, as far as ordering and ranges go. Spelled the same in every query and
/// in migration 0004's indexes, which SQLite only uses when the expression matches exactly.
macro_rules! expiry_or_never {
    () => {
        "COALESCE(k.expires_at, 9223372036854775807)"
    };
}

/// A status filter as SQL, for the count and for the page; each `?` is the current time. The
/// count reads a range of `api_keys_unrevoked_by_expiry` (or all of the small revoked index).
/// The page keeps active and expired keys from that range with a unary `+`: they are a large
/// share of all keys, so walking the sort's index fills a page long before a range would.
fn status_condition(status: KeyStatus) -> (&'static str, &'static str) {
    match status {
        KeyStatus::Active => (
            concat!("k.revoked_at IS NULL AND ", expiry_or_never!(), " > ?"),
            concat!("k.revoked_at IS NULL AND +", expiry_or_never!(), " > ?"),
        ),
        KeyStatus::Expired => (
            concat!("k.revoked_at IS NULL AND ", expiry_or_never!(), " <= ?"),
            concat!("k.revoked_at IS NULL AND +", expiry_or_never!(), " <= ?"),
        ),
        KeyStatus::Revoked => ("k.revoked_at IS NOT NULL", "k.revoked_at IS NOT NULL"),
    }
}

fn direction(descending: bool) -> &'static str {
    if descending {
        "DESC"
    } else {
        "ASC"
    }
}

/// The page, its total count and `list_query_plan` all use this.
pub(crate) struct ListSql {
    /// `WHERE ...` (or empty) over `api_keys k`.
    where_sql: String,
    pub(crate) where_args: Vec<Arg>,
    /// The same conditions for the count, where walking an index in order buys nothing.
    count_where_sql: String,
    order_sql: String,
    /// Sorted by status (and not filtered by it): the direction, and the time statuses are at.
    status_sort: Option<(&'static str, i64)>,
    /// Sorted by usage: the direction, the starts of the periods counted (see
    /// [`counted_usage!`]), and whether to walk the usage index in order.
    usage_sort: Option<(&'static str, [i64; 3], bool)>,
    /// When the search is the only condition, its match count is the total.
    pub(crate) total_from_search: Option<i64>,
    /// Count at most this many rows.
    count_limit: Option<i64>,
    select: &'static str,
    limit: u32,
    offset: u32,
}

/// A request's conditions: for the page, and for the count (which has no index to walk in
/// order, so it may look matches up differently), with the values both take in the same order.
#[derive(Default)]
struct Conditions {
    paged: Vec<&'static str>,
    counted: Vec<&'static str>,
    args: Vec<Arg>,
}

impl Conditions {
    fn push(&mut self, counted: &'static str, paged: &'static str, values: Vec<Arg>) {
        self.counted.push(counted);
        self.paged.push(paged);
        self.args.extend(values);
    }

    /// The search's condition, and whether the page may walk the sort's index in order.
    fn of_search(search: Option<&Search>) -> (Self, bool) {
        let mut conditions = Self::default();
        let walk = match search {
            Some(Search::Indexed { rowids, walk, .. }) => {
                let matching = "k.seq IN (SELECT value FROM json_each(?))";
                // The unary + keeps SQLite from using seq to look the matches up one by one,
                // so it reads the sort's index instead and stops once the page is full.
                let paged = if *walk {
                    "+k.seq IN (SELECT value FROM json_each(?))"
                } else {
                    matching
                };
                conditions.push(matching, paged, vec![Arg::Text(rowids.clone())]);
                *walk
            }
            Some(Search::Many { term, .. }) => {
                // Too many matches to fetch: reading rows in list order fills a page quickly,
                // and the count stops at its limit.
                let condition = "instr(k.search_text, ?) > 0";
                conditions.push(condition, condition, vec![Arg::Text(term.clone())]);
                true
            }
            None => true,
        };
        (conditions, walk)
    }

    /// The filters: status, owner, role and the expiry window, in that order.
    fn add_filters(&mut self, request: &ListRequest<'_>, now_ms: i64) {
        if let Some(status) = request.query.status {
            let (counted, paged) = status_condition(status);
            let times = counted.matches('?').map(|_| Arg::Int(now_ms)).collect();
            self.push(counted, paged, times);
        }
        if let Some(owner) = request.query.owner.as_deref() {
            let condition = concat!("k.owner_id = (SELECT id ", owner_by_name!(), ")");
            let names = owner_by_typed_name_args(owner).map(Arg::Text).into();
            self.push(condition, condition, names);
        }
        if let Some(role) = request.query.role {
            let condition = "k.role = ?";
            self.push(
                condition,
                condition,
                vec![Arg::Text(role.as_str().to_owned())],
            );
        }
        if let Some(until) = request.expiring_until {
            // Few keys expire within days: a range of the expiry index, then sorted.
            let condition = concat!(
                "k.revoked_at IS NULL AND ",
                expiry_or_never!(),
                " > ? AND ",
                expiry_or_never!(),
                " <= ?"
            );
            let range = vec![Arg::Int(now_ms), Arg::Int(to_millis(until))];
            self.push(condition, condition, range);
        }
    }
}

/// `WHERE …` of `conditions`, or nothing.
fn where_of(conditions: &[&str]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

impl ListSql {
    pub(crate) fn new(request: &ListRequest<'_>, search: Option<&Search>) -> Self {
        let now_ms = to_millis(request.now);
        let (mut conditions, walk_sort_index) = Conditions::of_search(search);
        conditions.add_filters(request, now_ms);
        let total_from_search = match search {
            _ if conditions.paged.len() != 1 => None,
            Some(Search::Indexed { matched, .. }) => Some(*matched),
            Some(Search::Many { counted, .. }) => Some(*counted),
            None => None,
        };
        // Past the index's limit, the count stops where the index did.
        let count_limit = match search {
            Some(Search::Many { counted, .. }) => Some(*counted),
            _ => None,
        };
        let query = request.query;
        let dir = direction(query.descending);
        let status_sort =
            (query.sort == SortColumn::Status && query.status.is_none()).then_some((dir, now_ms));
        let usage_sort = (query.sort == SortColumn::Usage).then(|| {
            (
                dir,
                request.usage_periods.map(to_millis),
                // One owner's keys, or those expiring within days, are few: found from their
                // filter's index and sorted, not by reading every count.
                walk_sort_index && query.owner.is_none() && request.expiring_until.is_none(),
            )
        });
        // Sorted by owner and walking in order: owners by name, then each one's keys.
        let select = if query.sort == SortColumn::Owner && walk_sort_index {
            KEY_SELECT_OWNERS_FIRST
        } else {
            KEY_SELECT
        };
        Self {
            select,
            where_sql: where_of(&conditions.paged),
            count_where_sql: where_of(&conditions.counted),
            where_args: conditions.args,
            order_sql: order_by(query.sort, query.descending),
            status_sort,
            usage_sort,
            total_from_search,
            count_limit,
            limit: request.limit,
            offset: query.offset,
        }
    }

    /// How a page's own condition joins the query's filters.
    fn joiner(&self) -> &'static str {
        if self.where_sql.is_empty() {
            "WHERE"
        } else {
            "AND"
        }
    }

    pub(crate) fn page_sql(&self) -> String {
        if let Some((dir, _, walk)) = self.usage_sort {
            return self.usage_page_sql(dir, walk);
        }
        let Some((dir, _)) = self.status_sort else {
            return format!(
                "{} {} {} LIMIT ? OFFSET ?",
                self.select, self.where_sql, self.order_sql
            );
        };
        // Each status's first offset + limit keys in list order, then the page from those.
        let joiner = self.joiner();
        let parts: Vec<String> = STATUS_RANKS
            .iter()
            .map(|(status, rank)| {
                format!(
                    "SELECT *, {rank} AS status_rank FROM ({} {} {joiner} {} {} LIMIT ?)",
                    self.select,
                    self.where_sql,
                    status_condition(*status).1,
                    self.order_sql
                )
            })
            .collect();
        format!(
            "{} ORDER BY status_rank {dir}, created_at {dir}, id {dir} LIMIT ? OFFSET ?",
            parts.join(" UNION ALL ")
        )
    }

    /// No index can sort every key by usage: most have no count. A page is put together from two
    /// parts, like the status sort's: the first offset + limit keys with a count, read in count
    /// order from `quota_usage_by_used` (equal counts by id, which that index holds), and the
    /// first offset + limit keys without one, read in creation order from `api_keys_by_created`.
    /// Descending, counted keys come first, most used first.
    fn usage_page_sql(&self, dir: &str, walk: bool) -> String {
        let joiner = self.joiner();
        let counted_select = if walk {
            KEY_SELECT_BY_USAGE_WALK
        } else {
            KEY_SELECT_BY_USAGE
        };
        let counted = format!(
            "SELECT *, 1 AS usage_rank, 0 AS usage_tie FROM ({counted_select} {} {joiner} {} \
             ORDER BY u.used {dir}, u.key_id {dir} LIMIT ?)",
            self.where_sql,
            counted_usage!(),
        );
        let uncounted = format!(
            "SELECT *, 0 AS usage_count, 0 AS usage_rank, created_at AS usage_tie FROM ({} {} \
             {joiner} NOT EXISTS (SELECT 1 FROM quota_usage u WHERE u.key_id = k.id AND {}) \
             {} LIMIT ?)",
            self.select,
            self.where_sql,
            counted_usage!(),
            self.order_sql,
        );
        format!(
            "{counted} UNION ALL {uncounted} ORDER BY usage_rank {dir}, usage_count {dir}, \
             usage_tie {dir}, id {dir} LIMIT ? OFFSET ?"
        )
    }

    pub(crate) fn page_args(&self) -> Vec<Arg> {
        let (limit, offset) = (i64::from(self.limit), i64::from(self.offset));
        let mut args = Vec::new();
        match (self.status_sort, self.usage_sort) {
            (_, Some((_, starts, _))) => {
                for _part in 0..2 {
                    args.extend(self.where_args.iter().cloned());
                    args.extend(starts.map(Arg::Int));
                    args.push(Arg::Int(offset + limit));
                }
            }
            (None, None) => args.extend(self.where_args.iter().cloned()),
            (Some((_, now_ms)), None) => {
                for (status, _) in STATUS_RANKS {
                    args.extend(self.where_args.iter().cloned());
                    let times = status_condition(status).1.matches('?').count();
                    args.extend((0..times).map(|_| Arg::Int(now_ms)));
                    args.push(Arg::Int(offset + limit));
                }
            }
        }
        args.push(Arg::Int(limit));
        args.push(Arg::Int(offset));
        args
    }

    /// No join: every key has exactly one owner, and the owner filter is a subquery. `None`
    /// when the search already counted the matches.
    pub(crate) fn count_sql(&self) -> Option<String> {
        match (self.total_from_search, self.count_limit) {
            (Some(_), _) => None,
            (None, None) => Some(format!(
                "SELECT COUNT(*) FROM api_keys k {}",
                self.count_where_sql
            )),
            (None, Some(_)) => Some(format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM api_keys k {} LIMIT ?)",
                self.count_where_sql
            )),
        }
    }

    pub(crate) fn count_args(&self) -> Vec<Arg> {
        let mut args = self.where_args.clone();
        args.extend(self.count_limit.map(Arg::Int));
        args
    }
}

/// The ORDER BY for a sort. The expressions match the indexes of migration 0004, so SQLite reads
/// pages in order instead of sorting. Status is ordered by [`ListSql::page_sql`]; within a
/// status, keys come in creation order.
fn order_by(sort: SortColumn, descending: bool) -> String {
    let dir = direction(descending);
    let column = match sort {
        // Usage is ordered by [`ListSql::usage_page_sql`]; keys without a count by creation.
        SortColumn::Created | SortColumn::Status | SortColumn::Usage => None,
        SortColumn::Name => Some("k.name COLLATE NOCASE"),
        SortColumn::Owner => Some("o.name COLLATE NOCASE"),
        SortColumn::Role => Some("k.role"),
        // Keys that never expire sort after every date, whichever the direction.
        SortColumn::Expires => Some(expiry_or_never!()),
        SortColumn::LastUsed => Some("COALESCE(k.last_used_at, 0)"),
    };
    let lead = column.map(|c| format!("{c} {dir}, ")).unwrap_or_default();
    format!("ORDER BY {lead}k.created_at {dir}, k.id {dir}")
}
