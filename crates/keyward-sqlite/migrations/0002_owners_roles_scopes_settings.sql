-- Owners, roles, scopes, usage tracking and settings. api_keys is rebuilt so that owner_id can be
-- NOT NULL with a foreign key (ALTER TABLE cannot add such a column). Keys from before owners
-- existed are given to the owner "Unassigned".
CREATE TABLE owners (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    created_at  INTEGER NOT NULL
) STRICT;

INSERT INTO owners (name, created_at)
    SELECT 'Unassigned', COALESCE(MIN(created_at), 0) FROM api_keys HAVING COUNT(*) > 0;

CREATE TABLE api_keys_new (
    id            TEXT    PRIMARY KEY NOT NULL,
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
    last_used_at  INTEGER
) STRICT;

INSERT INTO api_keys_new (id, prefix, name, owner_id, secret_last4, secret_hash, created_at,
                          created_by, expires_at, revoked_at, last_used_at)
    SELECT id, prefix, name, (SELECT id FROM owners WHERE name = 'Unassigned'), secret_last4,
           secret_hash, created_at, created_by, expires_at, revoked_at, last_used_at
    FROM api_keys;

DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;

CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
-- The per-owner limit counts active keys inside the writing transaction.
CREATE INDEX api_keys_by_owner ON api_keys (owner_id, revoked_at, expires_at);
CREATE INDEX api_keys_by_expiry ON api_keys (expires_at);

-- One row per setting, the value as JSON. Missing rows mean the built-in default.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_by_action ON audit_log (action, seq);
