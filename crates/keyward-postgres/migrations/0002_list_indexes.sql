-- The key list at 100,000 keys: an index for every sort and filter, and trigram indexes for the
-- substring search (ILIKE '%term%' cannot use a B-tree). The expressions must match list.rs's
-- SQL exactly for PostgreSQL to use them. A B-tree is read in either direction, so one index
-- serves a sort both ways.

-- The default sort (newest first); ties by id, so pages never overlap.
CREATE INDEX api_keys_by_created ON api_keys (created_at, id);
-- The owner filter (in list order), the owner sort (owners by name, then each one's keys) and the
-- per-owner limit, which counts one owner's active keys inside a write.
CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at, id);
-- The other sorts, each with the list's tie-breakers.
CREATE INDEX api_keys_by_name ON api_keys (lower(name COLLATE "C"), created_at, id);
CREATE INDEX api_keys_by_role ON api_keys (role, created_at, id);
-- Keys that never expire sort after every date, whichever the direction.
CREATE INDEX api_keys_by_expires ON api_keys
    (COALESCE(expires_at, 'infinity'::timestamptz), created_at, id);
-- Never used counts as the epoch (SQLite: 0 ms).
CREATE INDEX api_keys_by_last_used ON api_keys
    (COALESCE(last_used_at, 'epoch'::timestamptz), created_at, id);
-- Status and "expires soon" filters. Status depends on the clock, so it is not stored: active
-- and expired are ranges of the expiry among keys not revoked; revoked keys are their own small
-- index, in list order.
CREATE INDEX api_keys_unrevoked_by_expiry ON api_keys
    (COALESCE(expires_at, 'infinity'::timestamptz)) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_revoked_by_created ON api_keys (created_at, id) WHERE revoked_at IS NOT NULL;
-- How many keys a plan has (listing plans, refusing to delete a plan in use).
CREATE INDEX api_keys_by_plan ON api_keys (plan_id);

-- The search: any substring of 3 or more characters of the name or of the handle shown in lists
-- (kw_3fJk9QzP0a), ignoring case, through `ILIKE '%term%'`. Shorter terms hold no trigram and are
-- matched row by row while a sort's index is walked.
-- A GIN index gathers new entries in a pending list that every search reads whole, and the
-- planner counts it: after 20,000 inserts the default 4 MB list made a search for a rare term
-- read the whole table instead. 256 kB keeps searches on the index and bulk inserts fast (20,000
-- rows: 0.45 s; with no pending list at all, 2 s).
CREATE INDEX api_keys_name_trgm ON api_keys USING gin (name gin_trgm_ops)
    WITH (gin_pending_list_limit = 256);
CREATE INDEX api_keys_handle_trgm ON api_keys USING gin ((prefix || '_' || id) gin_trgm_ops)
    WITH (gin_pending_list_limit = 256);

-- The usage sort: keys with a count in their current period are read in count order (ties by
-- key id); the keys without one follow in creation order from api_keys_by_created.
CREATE INDEX quota_usage_by_used ON quota_usage (used, key_id);
