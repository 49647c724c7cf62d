use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::sqlite::SqliteArguments;
use sqlx::FromRow;

use super::owners::{find_owner, owner_by_name, owner_by_name_args};
use super::{count, from_millis, is_unique_violation, to_millis, Store, WriteTx};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{
    validate_name, CreatedKey, KeyPage, KeyStatus, KeySummary, KeyUpdate, ListQuery, NewKey,
    RevokeOutcome, Role, Settings, SortColumn, MAX_PAGE_SIZE,
};
use crate::names::canonical;
use crate::plans::QuotaPeriod;
use crate::token::{self, masked};

const DEFAULT_PAGE_SIZE: u32 = 50;

fn page_size(query: &ListQuery) -> u32 {
    match query.limit {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

#[derive(FromRow)]
pub(crate) struct KeyRow {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub owner: String,
    role: String,
    scopes: String,
    track_usage: bool,
    secret_last4: String,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    /// `None` only in a database no Keyward wrote (the column could only be added nullable).
    key_plan: Option<String>,
}

/// The plan's name for the key `k`: a lookup by primary key, so no list query needs another
/// join (and each keeps its index plan).
macro_rules! plan_column {
    () => {
        "(SELECT p.name FROM plans p WHERE p.id = k.plan_id) AS key_plan"
    };
}

macro_rules! key_columns {
    () => {
        concat!(
            "SELECT k.id, k.prefix, k.name, o.name AS owner, k.role, k.scopes, k.track_usage, \
             k.secret_last4, k.created_at, k.created_by, k.expires_at, k.revoked_at, \
             k.last_used_at, ",
            plan_column!()
        )
    };
}

pub(crate) const KEY_SELECT: &str = concat!(
    key_columns!(),
    " FROM api_keys k JOIN owners o ON o.id = k.owner_id"
);

/// [`KEY_SELECT`] plus the stored argon2 hash and the key's plan, for `verify`: everything a
/// check needs in one indexed read.
pub(crate) const KEY_AND_HASH_SELECT: &str = concat!(
    key_columns!(),
    ", k.secret_hash, p.name AS plan, p.rate_per_second AS plan_rate, p.burst AS plan_burst, \
     p.quota AS plan_quota, p.quota_period AS plan_period \
     FROM api_keys k JOIN owners o ON o.id = k.owner_id LEFT JOIN plans p ON p.id = k.plan_id"
);

/// One key's row by id, on any connection: the pool, a transaction, or the connection a
/// verification holds.
pub(crate) async fn key_row<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    id: &str,
) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

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
/// the key's plan (the `?`s are the starts of today, this week and this month, as
/// [`Store::quota_usage`] compares them). A count from a period that has ended, or kept from a
/// plan with a quota after a move to one without, counts as 0, as the details panel shows it:
/// one lookup of the plan by its primary key per row read.
macro_rules! counted_usage {
    () => {
        "u.used > 0 AND u.period_start = (SELECT CASE p.quota_period \
         WHEN 'day' THEN ? WHEN 'week' THEN ? WHEN 'month' THEN ? END \
         FROM plans p WHERE p.id = k.plan_id)"
    };
}

/// The periods [`counted_usage!`]'s `?`s stand for, in its order.
const USAGE_PERIODS: [QuotaPeriod; 3] = [QuotaPeriod::Day, QuotaPeriod::Week, QuotaPeriod::Month];

/// Status depends on the clock, so no index can sort by it. A page sorted by status is put
/// together from one part per status instead, each read in list order from an index: revoked
/// sorts above expired above active, as their names do.
const STATUS_RANKS: [(KeyStatus, u8); 3] = [
    (KeyStatus::Revoked, 2),
    (KeyStatus::Expired, 1),
    (KeyStatus::Active, 0),
];

/// Searches shorter than this many characters cannot use the trigram index and read every row.
const TRIGRAM_CHARS: usize = 3;

pub(crate) fn parse_scopes(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl KeyRow {
    pub(crate) fn into_summary(self, now: DateTime<Utc>) -> KeySummary {
        let expires_at = self.expires_at.map(from_millis);
        let revoked_at = self.revoked_at.map(from_millis);
        KeySummary {
            masked: masked(&self.prefix, &self.id, &self.secret_last4),
            status: KeyStatus::derive(now, expires_at, revoked_at),
            role: Role::parse(&self.role).unwrap_or_default(),
            scopes: parse_scopes(&self.scopes),
            id: self.id,
            prefix: self.prefix,
            name: self.name,
            owner: self.owner,
            track_usage: self.track_usage,
            created_at: from_millis(self.created_at),
            created_by: self.created_by,
            expires_at,
            revoked_at,
            last_used_at: self.last_used_at.map(from_millis),
            plan: self.key_plan.unwrap_or_default(),
        }
    }
}

/// Refuses scopes that are not in the catalogue; returns them trimmed, sorted, without repeats.
fn checked_scopes(scopes: &[String], settings: &Settings) -> Result<Vec<String>> {
    let mut out: Vec<String> = scopes.iter().map(|s| s.trim().to_owned()).collect();
    if let Some(unknown) = out.iter().find(|s| !settings.scope_catalogue.contains(s)) {
        return Err(Error::InvalidInput(format!(
            "The scope \"{unknown}\" is not in the catalogue. Add it in Settings first."
        )));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A value bound to a list query's `?` placeholders, in order.
#[derive(Debug, Clone)]
enum Arg {
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

/// The FTS5 query for a substring of the name or the handle: one quoted phrase (quotes inside
/// doubled), which the trigram tokenizer matches anywhere, ignoring case.
fn trigram_match(term: &str) -> String {
    format!("{{name handle}} : \"{}\"", term.replace('"', "\"\""))
}

/// LIKE's pattern for a literal substring: its wildcards in the term are escaped.
fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// How the list's search term is matched.
enum Search {
    /// Three or more characters: the trigram index has already found the matching rows. They are
    /// passed back as a JSON array of rowids, so the index is read once per list call.
    Indexed {
        matched: i64,
        rowids: String,
        /// Whether to read the sort's index in order and keep matching rows until the page is
        /// full, rather than fetch every match and sort them.
        walk: bool,
    },
    /// One or two characters, which no trigram holds: LIKE over every row.
    Scan(String),
}

impl Search {
    /// Fetching and sorting every match costs about one row read per match; walking the sort's
    /// index costs one cheaper probe per row walked, and a page needs about
    /// (offset + limit) × keys / matches of them. Walk when that is the smaller.
    fn walk(matched: i64, keys: i64, offset: u32, limit: u32) -> bool {
        let rows_to_walk = (i128::from(offset) + i128::from(limit)) * i128::from(keys);
        rows_to_walk < 4 * i128::from(matched) * i128::from(matched)
    }
}

/// One list query as SQL: only the conditions the query asks for, so that SQLite can pick an
/// index for each (a generic `?x IS NULL OR ...` form defeats every index). The page, its total
/// count and [`Store::list_query_plan`] all use this.
struct ListSql {
    /// `WHERE ...` (or empty) over `api_keys k`.
    where_sql: String,
    where_args: Vec<Arg>,
    /// The same conditions for the count, where walking an index in order buys nothing.
    count_where_sql: String,
    order_sql: String,
    /// Sorted by status (and not filtered by it): the direction, and the time statuses are at.
    status_sort: Option<(&'static str, i64)>,
    /// Sorted by usage: the direction, the starts of the periods counted (see
    /// [`counted_usage!`]), and whether to walk the usage index in order.
    usage_sort: Option<(&'static str, [i64; 3], bool)>,
    /// When the search is the only condition, its match count is the total.
    total_from_search: Option<i64>,
    select: &'static str,
}

impl ListSql {
    fn new(query: &ListQuery, now: DateTime<Utc>, search: Option<&Search>) -> Self {
        let now_ms = to_millis(now);
        let mut conditions: Vec<&str> = Vec::new();
        let mut count_conditions: Vec<&str> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let walk_sort_index = match search {
            Some(Search::Indexed { rowids, walk, .. }) => {
                let matching = "k.seq IN (SELECT value FROM json_each(?))";
                // The unary + keeps SQLite from using seq to look the matches up one by one,
                // so it reads the sort's index instead and stops once the page is full.
                conditions.push(if *walk {
                    "+k.seq IN (SELECT value FROM json_each(?))"
                } else {
                    matching
                });
                count_conditions.push(matching);
                args.push(Arg::Text(rowids.clone()));
                *walk
            }
            Some(Search::Scan(pattern)) => {
                // Few enough characters to match many keys: reading rows in list order fills a
                // page quickly; only the count reads them all.
                let condition =
                    "(k.name LIKE ? ESCAPE '\\' OR (k.prefix || '_' || k.id) LIKE ? ESCAPE '\\')";
                conditions.push(condition);
                count_conditions.push(condition);
                args.push(Arg::Text(pattern.clone()));
                args.push(Arg::Text(pattern.clone()));
                true
            }
            None => true,
        };
        // Page and count conditions take the same arguments in the same order.
        let mut filter = |counted: &'static str, paged: &'static str, values: Vec<Arg>| {
            count_conditions.push(counted);
            conditions.push(paged);
            args.extend(values);
        };
        if let Some(status) = query.status {
            let (counted, paged) = status_condition(status);
            let times = counted.matches('?').map(|_| Arg::Int(now_ms)).collect();
            filter(counted, paged, times);
        }
        if let Some(owner) = &query.owner {
            let condition = concat!("k.owner_id = (SELECT id ", owner_by_name!(), ")");
            let names = owner_by_name_args(owner).map(Arg::Text).into();
            filter(condition, condition, names);
        }
        if let Some(role) = query.role {
            let condition = "k.role = ?";
            filter(
                condition,
                condition,
                vec![Arg::Text(role.as_str().to_owned())],
            );
        }
        if let Some(days) = query.expiring_within_days {
            // Few keys expire within days: a range of the expiry index, then sorted.
            let condition = concat!(
                "k.revoked_at IS NULL AND ",
                expiry_or_never!(),
                " > ? AND ",
                expiry_or_never!(),
                " <= ?"
            );
            // Any u32 is accepted: a window past the latest time chrono can hold means every
            // key that expires at all (never `now + days`, which panics past year 262143).
            let until = Duration::try_days(i64::from(days))
                .and_then(|window| now.checked_add_signed(window))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let range = vec![Arg::Int(now_ms), Arg::Int(to_millis(until))];
            filter(condition, condition, range);
        }
        let total_from_search = match search {
            Some(Search::Indexed { matched, .. }) if conditions.len() == 1 => Some(*matched),
            _ => None,
        };
        let where_of = |conditions: &[&str]| {
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            }
        };
        let order_sql = order_by(query.sort, query.descending);
        let status_sort = (query.sort == SortColumn::Status && query.status.is_none())
            .then_some((if query.descending { "DESC" } else { "ASC" }, now_ms));
        let usage_sort = (query.sort == SortColumn::Usage).then(|| {
            (
                if query.descending { "DESC" } else { "ASC" },
                USAGE_PERIODS.map(|period| to_millis(period.start_of(now))),
                // One owner's keys, or those expiring within days, are few: found from their
                // filter's index and sorted, not by reading every count.
                walk_sort_index && query.owner.is_none() && query.expiring_within_days.is_none(),
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
            where_sql: where_of(&conditions),
            count_where_sql: where_of(&count_conditions),
            where_args: args,
            order_sql,
            status_sort,
            usage_sort,
            total_from_search,
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

    fn page_sql(&self) -> String {
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

    fn page_args(&self, limit: u32, offset: u32) -> Vec<Arg> {
        let mut args = Vec::new();
        match (self.status_sort, self.usage_sort) {
            (_, Some((_, starts, _))) => {
                for _part in 0..2 {
                    args.extend(self.where_args.iter().cloned());
                    args.extend(starts.map(Arg::Int));
                    args.push(Arg::Int(i64::from(offset) + i64::from(limit)));
                }
            }
            (None, None) => args.extend(self.where_args.iter().cloned()),
            (Some((_, now_ms)), None) => {
                for (status, _) in STATUS_RANKS {
                    args.extend(self.where_args.iter().cloned());
                    let times = status_condition(status).1.matches('?').count();
                    args.extend((0..times).map(|_| Arg::Int(now_ms)));
                    args.push(Arg::Int(i64::from(offset) + i64::from(limit)));
                }
            }
        }
        args.push(Arg::Int(i64::from(limit)));
        args.push(Arg::Int(i64::from(offset)));
        args
    }

    /// No join: every key has exactly one owner, and the owner filter is a subquery. `None`
    /// when the search already counted the matches.
    fn count_sql(&self) -> Option<String> {
        match self.total_from_search {
            Some(_) => None,
            None => Some(format!(
                "SELECT COUNT(*) FROM api_keys k {}",
                self.count_where_sql
            )),
        }
    }
}

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

/// The ORDER BY for a sort. The expressions match the indexes of migration 0004, so SQLite reads
/// pages in order instead of sorting. Status is ordered by [`ListSql::page_sql`]; within a
/// status, keys come in creation order.
fn order_by(sort: SortColumn, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
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

/// How SQLite runs one list query: the `EXPLAIN QUERY PLAN` lines of the page and of its count,
/// for the same SQL that [`Store::list_keys`] runs.
#[derive(Debug, Clone)]
pub struct ListQueryPlan {
    pub page: Vec<String>,
    pub count: Vec<String>,
}

impl Store {
    /// Issues a new key. The returned token is the only copy of the secret there will ever be.
    pub async fn create_key(&self, new: NewKey) -> Result<CreatedKey> {
        self.ensure_writable()?;
        let name = validate_name(&new.name)?;
        let now = self.clock.now();
        let expires_at = new.expiry.expires_at(now)?;
        let prefix = self.settings().await?.key_prefix;
        // Ids are random over 62^10: a clash is astronomically rare, but must not be an error.
        for _ in 0..3 {
            let generated = token::generate_token(&prefix, &token::generate_id())?;
            // Hash before taking the write lock: argon2 takes tens of milliseconds and other
            // writers should not wait for it.
            let phc = hash::hash_secret(generated.secret()).await?;
            let mut tx = self.begin_write().await?;
            match self
                .insert_key(&mut tx, &new, &generated, &name, now, expires_at, &phc)
                .await
            {
                Err(Error::Database(e)) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    tx.commit().await?;
                    return Ok(CreatedKey {
                        key: self.get_key(&generated.id).await?,
                        token: generated.token,
                    });
                }
            }
        }
        Err(Error::TryAgain(
            "Could not find a free key id after three tries; try again.".into(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_key(
        &self,
        tx: &mut WriteTx,
        new: &NewKey,
        generated: &token::GeneratedToken,
        name: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        phc: &str,
    ) -> Result<()> {
        let settings = self.settings_in(tx).await?;
        let scopes = checked_scopes(&new.scopes, &settings)?;
        let (owner_id, owner) = match &new.owner {
            Some(owner) => find_owner(tx, owner).await?,
            // The creator owns keys made without an owner, and becomes an owner on first use.
            None => match find_owner(tx, &self.actor).await {
                Ok(found) => found,
                Err(Error::OwnerNotFound(_)) => (
                    self.insert_owner(tx, &self.actor, now).await?,
                    canonical(&self.actor),
                ),
                Err(e) => return Err(e),
            },
        };
        let overridden = self
            .check_owner_limit(tx, owner_id, &owner, now, new.override_limit)
            .await?;
        let (plan_id, plan) = match &new.plan {
            Some(plan) => super::plans::plan_named(tx, plan).await?,
            None => super::plans::default_plan(tx).await?,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, track_usage, \
             secret_last4, secret_hash, created_at, created_by, expires_at, plan_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&generated.id)
        .bind(generated.prefix())
        .bind(name)
        .bind(owner_id)
        .bind(new.role.as_str())
        .bind(json!(scopes).to_string())
        .bind(new.track_usage)
        .bind(&generated.secret_last4)
        .bind(phc)
        .bind(to_millis(now))
        .bind(&self.actor)
        .bind(expires_at.map(to_millis))
        .bind(plan_id)
        .execute(&mut **tx)
        .await?;
        let mut details = json!({
            "name": name, "owner": owner, "role": new.role, "scopes": scopes,
            "track_usage": new.track_usage, "expires_at": expires_at, "plan": plan,
        });
        if overridden {
            details["limit_overridden"] = json!(true);
        }
        self.audit(tx, now, "key_created", Some(&generated.id), details)
            .await
    }

    /// Runs the search part of a list query: the trigram index for three or more characters.
    async fn search(&self, query: &ListQuery) -> Result<Option<Search>> {
        // Names are stored in this form, so "é" typed either way finds them.
        let Some(term) = query
            .search
            .as_deref()
            .map(canonical)
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        let term = term.as_str();
        if term.chars().count() < TRIGRAM_CHARS {
            return Ok(Some(Search::Scan(like_pattern(term))));
        }
        // seq grows with every key, so MAX(seq) is a cheap stand-in for how many there are.
        let (matched, rowids, keys): (i64, String, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), json_group_array(rowid), (SELECT MAX(seq) FROM api_keys) \
             FROM api_keys_search WHERE api_keys_search MATCH ?",
        )
        .bind(trigram_match(term))
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(Search::Indexed {
            walk: Search::walk(matched, keys.unwrap_or(0), query.offset, page_size(query)),
            matched,
            rowids,
        }))
    }

    /// One page of keys, searched, filtered and sorted in SQL.
    pub async fn list_keys(&self, query: &ListQuery) -> Result<KeyPage> {
        let now = self.clock.now();
        let search = self.search(query).await?;
        let sql = ListSql::new(query, now, search.as_ref());
        let rows: Vec<KeyRow> = bind_all(
            sqlx::query_as(&sql.page_sql()),
            sql.page_args(page_size(query), query.offset),
        )
        .fetch_all(&self.pool)
        .await?;
        let total = match sql.count_sql() {
            None => sql.total_from_search.unwrap_or_default(),
            Some(count) => {
                let (total,): (i64,) = bind_all(sqlx::query_as(&count), sql.where_args.clone())
                    .fetch_one(&self.pool)
                    .await?;
                total
            }
        };
        Ok(KeyPage {
            keys: rows.into_iter().map(|r| r.into_summary(now)).collect(),
            total: count(total),
            offset: query.offset,
        })
    }

    /// `EXPLAIN QUERY PLAN` for the queries [`Store::list_keys`] would run, so tests can check
    /// that every sort and filter reads an index rather than the whole table. The count is empty
    /// when the search index alone gives the total.
    pub async fn list_query_plan(&self, query: &ListQuery) -> Result<ListQueryPlan> {
        let search = self.search(query).await?;
        let sql = ListSql::new(query, self.clock.now(), search.as_ref());
        let explain = |text: String, args: Vec<Arg>| async move {
            let rows: Vec<(i64, i64, i64, String)> =
                bind_all(sqlx::query_as(&format!("EXPLAIN QUERY PLAN {text}")), args)
                    .fetch_all(&self.pool)
                    .await?;
            Ok::<_, Error>(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
        };
        let page = explain(
            sql.page_sql(),
            sql.page_args(page_size(query), query.offset),
        )
        .await?;
        let count = match sql.count_sql() {
            Some(count) => explain(count, sql.where_args.clone()).await?,
            None => Vec::new(),
        };
        Ok(ListQueryPlan { page, count })
    }

    pub async fn get_key(&self, id: &str) -> Result<KeySummary> {
        key_row(&self.pool, id)
            .await?
            .map(|r| r.into_summary(self.clock.now()))
            .ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    async fn key_in(tx: &mut WriteTx, id: &str) -> Result<KeyRow> {
        key_row(&mut **tx, id)
            .await?
            .ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    /// Changes a key's name, owner, role, scopes, usage tracking, expiry or plan. The secret and
    /// prefix never change; a revoked key is read-only.
    pub async fn update_key(&self, id: &str, update: KeyUpdate) -> Result<KeySummary> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let current = Self::key_in(&mut tx, id).await?.into_summary(now);
        if current.status == KeyStatus::Revoked {
            return Err(Error::KeyRevoked);
        }
        let mut changes = serde_json::Map::new();
        let mut change = |field: &str, from: serde_json::Value, to: serde_json::Value| {
            if from != to {
                changes.insert(field.to_owned(), json!({ "from": from, "to": to }));
            }
        };
        let name = match &update.name {
            Some(name) => validate_name(name)?,
            None => current.name.clone(),
        };
        change("name", json!(current.name), json!(name));
        let role = update.role.unwrap_or(current.role);
        change("role", json!(current.role), json!(role));
        let scopes = match &update.scopes {
            Some(scopes) => checked_scopes(scopes, &self.settings_in(&mut tx).await?)?,
            None => current.scopes.clone(),
        };
        change("scopes", json!(current.scopes), json!(scopes));
        let track_usage = update.track_usage.unwrap_or(current.track_usage);
        change(
            "track_usage",
            json!(current.track_usage),
            json!(track_usage),
        );
        let expires_at = match update.expiry {
            Some(expiry) => expiry.expires_at(now)?,
            None => current.expires_at,
        };
        change("expires_at", json!(current.expires_at), json!(expires_at));

        let (current_owner_id,): (i64,) =
            sqlx::query_as("SELECT owner_id FROM api_keys WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let (new_owner_id, owner_name) = match update.owner.as_deref() {
            Some(owner) => find_owner(&mut tx, owner).await?,
            None => (current_owner_id, current.owner.clone()),
        };
        let moves = new_owner_id != current_owner_id;
        let mut overridden = false;
        // Moving an active key (or reviving an expired one) counts against the limit.
        let becomes_active = expires_at.is_none_or(|at| at > now);
        let was_active = current.status == KeyStatus::Active;
        if becomes_active && (moves || !was_active) {
            overridden = self
                .check_owner_limit(
                    &mut tx,
                    new_owner_id,
                    &owner_name,
                    now,
                    update.override_limit,
                )
                .await?;
        }
        change("owner", json!(current.owner), json!(owner_name));
        let (plan_id, plan) = match update.plan.as_deref() {
            Some(plan) => {
                let (id, name) = super::plans::plan_named(&mut tx, plan).await?;
                (Some(id), name)
            }
            None => (None, current.plan.clone()),
        };
        change("plan", json!(current.plan), json!(plan));

        if changes.is_empty() {
            return Ok(current);
        }
        sqlx::query(
            "UPDATE api_keys SET name = ?, owner_id = ?, role = ?, scopes = ?, track_usage = ?, \
             expires_at = ?, plan_id = COALESCE(?, plan_id) WHERE id = ?",
        )
        .bind(&name)
        .bind(new_owner_id)
        .bind(role.as_str())
        .bind(json!(scopes).to_string())
        .bind(track_usage)
        .bind(expires_at.map(to_millis))
        .bind(plan_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut details = serde_json::Value::Object(changes);
        if overridden {
            details["limit_overridden"] = json!(true);
        }
        self.audit(&mut tx, now, "key_updated", Some(id), details)
            .await?;
        tx.commit().await?;
        self.get_key(id).await
    }

    /// Fails with [`Error::KeyNotFound`] naming the first id that does not exist, so a bulk
    /// action never half-happens.
    async fn require_keys(tx: &mut WriteTx, ids: &[String]) -> Result<Vec<KeyRow>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(Self::key_in(tx, id).await?);
        }
        Ok(found)
    }

    fn dedup(ids: &[String]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .map(|id| id.trim().to_owned())
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    /// Revokes keys at once and for good. All or nothing: an unknown id changes nothing.
    pub async fn revoke_keys(&self, ids: &[String]) -> Result<RevokeOutcome> {
        let ids = Self::dedup(ids);
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let mut outcome = RevokeOutcome::default();
        for key in Self::require_keys(&mut tx, &ids).await? {
            if key.revoked_at.is_some() {
                outcome.already_revoked.push(key.id);
                continue;
            }
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(to_millis(now))
                .bind(&key.id)
                .execute(&mut *tx)
                .await?;
            let details = json!({ "name": key.name, "owner": key.owner });
            self.audit(&mut tx, now, "key_revoked", Some(&key.id), details)
                .await?;
            outcome.revoked.push(key.id);
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Deletes keys permanently; their audit history stays. All or nothing.
    pub async fn delete_keys(&self, ids: &[String]) -> Result<u32> {
        let ids = Self::dedup(ids);
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        for key in Self::require_keys(&mut tx, &ids).await? {
            sqlx::query("DELETE FROM api_keys WHERE id = ?")
                .bind(&key.id)
                .execute(&mut *tx)
                .await?;
            let details = json!({ "name": key.name, "owner": key.owner });
            self.audit(&mut tx, now, "key_deleted", Some(&key.id), details)
                .await?;
        }
        tx.commit().await?;
        Ok(count(i64::try_from(ids.len()).unwrap_or(i64::MAX)))
    }
}
