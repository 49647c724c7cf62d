-- Usage plans (issue 10): a sustained rate with a burst, and an optional quota per day, week or
-- month. Every key has exactly one plan; "Unlimited" is the first default.
CREATE TABLE plans (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    rate_per_second INTEGER CHECK (rate_per_second BETWEEN 1 AND 1000000),
    burst           INTEGER CHECK (burst BETWEEN 1 AND 1000000),
    quota           INTEGER CHECK (quota BETWEEN 1 AND 1000000000000),
    quota_period    TEXT    CHECK (quota_period IN ('day', 'week', 'month')),
    -- The plan new keys get: exactly one row has 1 (the partial index below).
    is_default      INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at      INTEGER NOT NULL,
    CHECK ((rate_per_second IS NULL) = (burst IS NULL)),
    CHECK ((quota IS NULL) = (quota_period IS NULL))
) STRICT;

CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default = 1;

INSERT INTO plans (id, name, is_default, created_at)
    VALUES (1, 'Unlimited', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- SQLite cannot add a NOT NULL column with a foreign key to a table that has rows; the store
-- always writes one, and reading a key with none fails rather than guessing.
ALTER TABLE api_keys ADD COLUMN plan_id INTEGER REFERENCES plans (id);
UPDATE api_keys SET plan_id = 1;
CREATE INDEX api_keys_plan ON api_keys (plan_id);

-- How much of its quota a key has used in the period that began at period_start (UTC ms). The
-- verify server adds to it in batches; a new period starts from 0.
CREATE TABLE quota_usage (
    key_id       TEXT    PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    period_start INTEGER NOT NULL,
    used         INTEGER NOT NULL CHECK (used >= 0)
) STRICT, WITHOUT ROWID;
