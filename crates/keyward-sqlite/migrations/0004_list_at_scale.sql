-- The key list at 100,000 keys: an index for every sort and filter, and a trigram index for the
-- substring search (LIKE '%term%' cannot use a B-tree index and read every row).
--
-- api_keys is rebuilt with an INTEGER PRIMARY KEY (seq): the search index refers to rows by
-- rowid, and only an explicit INTEGER PRIMARY KEY keeps rowids stable across VACUUM (and so
-- across VACUUM INTO, which makes backups). The public id stays unique, as before.
CREATE TABLE api_keys_new (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    prefix        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    owner_id      INTEGER NOT NULL REFERENCES owners (id),
    role          TEXT    NOT NULL DEFAULT 'standard' CHECK (role IN ('standard', 'admin', 'project')),
    scopes        TEXT    NOT NULL DEFAULT '[]',      -- JSON array of scope names
    track_usage   INTEGER NOT NULL DEFAULT 1,
    secret_last4  TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    last_used_at  INTEGER,
    -- Made up by `keyward-cli dev seed`; never verifies.
    seeded        INTEGER NOT NULL DEFAULT 0 CHECK (seeded IN (0, 1))
) STRICT;

INSERT INTO api_keys_new (id, prefix, name, owner_id, role, scopes, track_usage, secret_last4,
                          secret_hash, created_at, created_by, expires_at, revoked_at,
                          last_used_at, seeded)
    SELECT id, prefix, name, owner_id, role, scopes, track_usage, secret_last4, secret_hash,
           created_at, created_by, expires_at, revoked_at, last_used_at, seeded
    FROM api_keys ORDER BY created_at, id;

DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;

-- The default sort (newest first); ties by id, so pages never overlap.
CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
-- The owner filter and the per-owner limit, which counts active keys inside a write.
CREATE INDEX api_keys_by_owner ON api_keys (owner_id, revoked_at, expires_at);
-- Status and "expires soon" filters. Status depends on the clock, so it is not stored: expired
-- and active are ranges of the expiry among keys not revoked (never = the largest integer, so
-- that active is one range too); revoked is its own small index, in list order. The plain
-- columns after the expression let a count read the index alone (SQLite wants every column the
-- query names): 0.4 ms instead of 1.3 ms for the 38,000 active keys of 100,000.
CREATE INDEX api_keys_unrevoked_by_expiry ON api_keys
    (COALESCE(expires_at, 9223372036854775807), expires_at, revoked_at) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_revoked_by_created ON api_keys (created_at DESC, id DESC)
    WHERE revoked_at IS NOT NULL;
-- The role filter and the other sorts, each with the same tie-breakers as the list's ORDER BY.
-- The expressions must match keys.rs's order_by exactly for SQLite to use them.
CREATE INDEX api_keys_by_role ON api_keys (role, created_at, id);
-- prefix too, so that a one- or two-character search, which cannot use the trigram index, counts
-- its matches from this index instead of reading every row.
CREATE INDEX api_keys_by_name ON api_keys (name COLLATE NOCASE, created_at, id, prefix);
CREATE INDEX api_keys_by_expires ON api_keys
    (COALESCE(expires_at, 9223372036854775807), created_at, id);
CREATE INDEX api_keys_by_last_used ON api_keys (COALESCE(last_used_at, 0), created_at, id);

-- The search: any substring of 3 or more characters of the name or of the handle shown in lists
-- (kw_3fJk9QzP0a), case-insensitively. The index keeps no copy of the text (external content,
-- read through the view); the triggers keep it in step with every insert, rename and delete.
CREATE VIEW api_keys_search_source AS
    SELECT seq, name, prefix || '_' || id AS handle FROM api_keys;

CREATE VIRTUAL TABLE api_keys_search USING fts5 (
    name, handle,
    content = 'api_keys_search_source', content_rowid = 'seq',
    tokenize = 'trigram',
    -- Only matching is needed, never ranking, so no per-row token counts.
    columnsize = 0
);

INSERT INTO api_keys_search (api_keys_search) VALUES ('rebuild');

CREATE TRIGGER api_keys_search_insert AFTER INSERT ON api_keys BEGIN
    INSERT INTO api_keys_search (rowid, name, handle)
        VALUES (new.seq, new.name, new.prefix || '_' || new.id);
END;

-- An external-content index is told what it held: the old values, exactly.
CREATE TRIGGER api_keys_search_delete AFTER DELETE ON api_keys BEGIN
    INSERT INTO api_keys_search (api_keys_search, rowid, name, handle)
        VALUES ('delete', old.seq, old.name, old.prefix || '_' || old.id);
END;

CREATE TRIGGER api_keys_search_update AFTER UPDATE OF name, prefix, id ON api_keys
    WHEN old.name IS NOT new.name OR old.prefix IS NOT new.prefix OR old.id IS NOT new.id
BEGIN
    INSERT INTO api_keys_search (api_keys_search, rowid, name, handle)
        VALUES ('delete', old.seq, old.name, old.prefix || '_' || old.id);
    INSERT INTO api_keys_search (rowid, name, handle)
        VALUES (new.seq, new.name, new.prefix || '_' || new.id);
END;
