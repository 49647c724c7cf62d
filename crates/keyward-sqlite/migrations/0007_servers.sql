-- Verify servers on this database (issue 10): each running `keyward-cli serve` (or a server the
-- app starts) writes its row when it starts and every few seconds after, so the app can show
-- whether one is running, where, since when, and what it answered. A row whose last_seen is old
-- belongs to a server that stopped without saying so (killed, machine off).
CREATE TABLE verify_servers (
    -- Random per start (`srv_` and base62).
    id            TEXT    PRIMARY KEY,
    -- What it listens on, as `127.0.0.1:8787`.
    address       TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    -- Set by a clean stop.
    stopped_at    INTEGER,
    -- Verifications by code ({"VALID": 12, "REVOKED": 1}): over the last minute, and since start.
    last_minute   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(last_minute)),
    since_start   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(since_start))
) STRICT, WITHOUT ROWID;
