-- The key list sorted by usage (issue 10): the keys that have a count in their current quota
-- period are read from this index in count order (a WITHOUT ROWID table's index also holds the
-- primary key, key_id, which breaks ties), so a page never sorts every key. The keys without a
-- count follow in creation order, from api_keys_by_created (keys.rs, `ListSql::page_sql`).
CREATE INDEX quota_usage_by_used ON quota_usage (used);
