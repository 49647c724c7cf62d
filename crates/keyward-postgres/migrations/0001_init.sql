-- Keyward's tables on PostgreSQL: the same rows, with the same meaning, as the SQLite schema
-- (keyward-sqlite's migrations 0001..0008), in PostgreSQL's own types:
-- * times are timestamptz (SQLite: UTC milliseconds); status is still derived from revoked_at and
--   expires_at, never stored;
-- * scopes are text[] (SQLite: a JSON array in text): they are a list of names, and an array is
--   what the driver hands back as Vec<String>;
-- * names compare "ignoring case" as SQLite's COLLATE NOCASE does: ASCII letters only. lower() on
--   a "C"-collated value folds exactly those, whatever the database's locale, and orders
--   bytewise, so sorting and uniqueness are the same on every server and on SQLite;
-- * ids and other machine-made text are COLLATE "C": bytewise order (as SQLite's), so ties in a
--   list are broken the same way everywhere, and comparisons are cheap.
-- The secret itself is never stored: only its argon2id PHC string and its last four characters.

-- The key list's substring search (migration 0002). A trusted extension since PostgreSQL 13: the
-- database's owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE owners (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL
);

-- One owner per name, ignoring ASCII case; also the owner lookup and the owners' order.
CREATE UNIQUE INDEX owners_by_name ON owners (lower(name COLLATE "C"));

-- Usage plans: a sustained rate with a burst, and an optional quota per day, week or month.
CREATE TABLE plans (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text        NOT NULL,
    rate_per_second bigint CHECK (rate_per_second BETWEEN 1 AND 1000000),
    burst           bigint CHECK (burst BETWEEN 1 AND 1000000),
    quota           bigint CHECK (quota BETWEEN 1 AND 1000000000000),
    quota_period    text COLLATE "C" CHECK (quota_period IN ('day', 'week', 'month')),
    -- The plan new keys get: exactly one row has true (the partial index below).
    is_default      boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    CHECK ((rate_per_second IS NULL) = (burst IS NULL)),
    CHECK ((quota IS NULL) = (quota_period IS NULL))
);

CREATE UNIQUE INDEX plans_by_name ON plans (lower(name COLLATE "C"));
CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default;

-- "Unlimited" is the first default, as on SQLite.
INSERT INTO plans (name, is_default, created_at) VALUES ('Unlimited', true, now());

CREATE TABLE api_keys (
    -- Insertion order; the public id below is what people and tokens use.
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text COLLATE "C" NOT NULL UNIQUE,
    prefix        text COLLATE "C" NOT NULL,
    name          text        NOT NULL,
    owner_id      bigint      NOT NULL REFERENCES owners (id),
    role          text COLLATE "C" NOT NULL DEFAULT 'standard'
                  CHECK (role IN ('standard', 'admin', 'project')),
    scopes        text[]      NOT NULL DEFAULT '{}'
                  CHECK (array_position(scopes, NULL) IS NULL),
    track_usage   boolean     NOT NULL DEFAULT true,
    secret_last4  text        NOT NULL,
    secret_hash   text        NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    -- Made up by `keyward-cli dev seed`; never verifies.
    seeded        boolean     NOT NULL DEFAULT false,
    -- NOT NULL here: SQLite could only add the column nullable to a table with rows.
    plan_id       bigint      NOT NULL REFERENCES plans (id)
);

-- One row per setting, the value as JSON (json, not jsonb: the text comes back as written).
-- Missing rows mean the built-in default.
CREATE TABLE settings (
    key    text COLLATE "C" PRIMARY KEY,
    value  json NOT NULL
);

-- key_id has no foreign key on purpose: the history of a deleted key must survive it. details is
-- json (not jsonb) so each row reads back exactly as the core wrote it.
CREATE TABLE audit_log (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    action   text COLLATE "C" NOT NULL,
    key_id   text COLLATE "C",
    details  json        NOT NULL
);

CREATE INDEX audit_log_by_key ON audit_log (key_id, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);

-- How much of its quota a key has used in the period that began at period_start. The verify
-- servers add to it in batches; a new period starts from its own count.
CREATE TABLE quota_usage (
    key_id       text COLLATE "C" PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    used         bigint      NOT NULL CHECK (used >= 0)
);

-- Verify servers on this database: each running server writes its row at start and every few
-- seconds after; a row whose last_seen is old belongs to a server that stopped without saying so.
CREATE TABLE verify_servers (
    -- Random per start (`srv_` and base62).
    id           text COLLATE "C" PRIMARY KEY,
    -- What it listens on, as `127.0.0.1:8787`.
    address      text        NOT NULL,
    pid          bigint      NOT NULL,
    started_at   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    -- Set by a clean stop.
    stopped_at   timestamptz,
    -- Verifications by code ({"VALID": 12, "REVOKED": 1}): over the last minute, and since start.
    last_minute  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(last_minute) = 'object'),
    since_start  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(since_start) = 'object')
);
