-- Times are UTC milliseconds since the epoch. Status is derived from revoked_at and expires_at,
-- never stored. The secret itself is never stored: only its argon2id PHC string and its last four
-- characters, for masked display.
CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY NOT NULL,
    prefix        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    secret_last4  TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    last_used_at  INTEGER
) STRICT;

CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);

-- key_id has no foreign key on purpose: the history of a deleted key must survive it.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    key_id   TEXT,
    details  TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_log_by_key ON audit_log (key_id, seq);
