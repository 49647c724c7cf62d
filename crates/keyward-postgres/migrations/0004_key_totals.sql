-- The unfiltered key list's total, kept exact by triggers, so the first page of 100,000 keys does
-- not count them all (a count(*) reads every row: ~20 ms at 100,000 keys, against ~0.1 ms for
-- the page itself). Statement-level triggers with transition tables: a bulk insert (a seed, a
-- migrate-to) adds its row count once. Only sessions that see every row use it (the list asks
-- `row_security_active`): a key manager's total is their own keys, counted.
CREATE TABLE key_totals (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    keys     bigint  NOT NULL CHECK (keys >= 0)
);
INSERT INTO key_totals (keys) SELECT count(*) FROM api_keys;

-- SECURITY DEFINER: a key manager adds and deletes keys but may not write the total by hand; the
-- search path is fixed to the one this migration ran with, so no other schema can stand in.
CREATE FUNCTION keyward_keys_added() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE key_totals SET keys = keys + (SELECT count(*) FROM added);
    RETURN NULL;
END
$$;

CREATE FUNCTION keyward_keys_removed() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE key_totals SET keys = keys - (SELECT count(*) FROM removed);
    RETURN NULL;
END
$$;

CREATE FUNCTION keyward_keys_truncated() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE key_totals SET keys = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_counted_in AFTER INSERT ON api_keys
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_added();
CREATE TRIGGER api_keys_counted_out AFTER DELETE ON api_keys
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_removed();
CREATE TRIGGER api_keys_counted_none AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_truncated();
