-- Live views: every committed change to what the app shows sends a notification on the channel
-- `keyward_changes` (payload: the table), which each app process listens to. PostgreSQL sends
-- notifications at commit, once per table and transaction however many rows changed, and never
-- for a transaction that rolled back.
--
-- Not notified: a key's last use (a verify server writes it up to once a minute per key, and the
-- list shows it to the minute), quota counters (written every second by busy servers) and the
-- servers' own heartbeats (the app polls those). They would make every open window reload
-- continuously.
CREATE FUNCTION keyward_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyward_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER owners_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON owners
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
CREATE TRIGGER plans_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
CREATE TRIGGER audit_log_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
CREATE TRIGGER api_keys_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
-- Every column but last_used_at.
CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF id, prefix, name, owner_id, role, scopes, track_usage, secret_last4,
        secret_hash, created_at, created_by, expires_at, revoked_at, seeded, plan_id
    ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
