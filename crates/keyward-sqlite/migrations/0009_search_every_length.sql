-- Search at every length (issue 12). A key is found by any substring of its search text: the
-- name and the handle in Keyward's search form (canonical, Unicode case folded, NFC; see
-- keyward_core::names::key_search_text), one per line. The text is written by Keyward on every
-- insert and rename, because SQLite's lower() folds ASCII only.
--
-- The index replaces migration 0004's trigram index, which could not answer terms of one or two
-- characters (they read every row). It holds every pair of neighbouring characters, each pair a
-- token of the characters' code points in hex with "g" after each ("bi" is 62g69g), the last
-- character paired with 0 (an end mark). So a term of two or more characters is the phrase of its
-- pairs (the tokens at consecutive positions), a term of one character is a prefix query on
-- tokens that begin with it ("62g*"), and both are exact: no row is matched that does not hold
-- the term. The pairs are made here, in SQL, by the triggers below, so every write that sets the
-- search text keeps the index in step; keyward-sqlite's search.rs makes the query's tokens the
-- same way.
ALTER TABLE api_keys ADD COLUMN search_text TEXT;

DROP TRIGGER api_keys_search_insert;
DROP TRIGGER api_keys_search_delete;
DROP TRIGGER api_keys_search_update;
DROP TABLE api_keys_search;
DROP VIEW api_keys_search_source;

-- Character positions for making the pairs (triggers cannot use WITH). A search text is at most
-- 50 characters of name, which folding can make up to three times longer, and a handle.
CREATE TABLE search_positions (n INTEGER PRIMARY KEY);
INSERT INTO search_positions (n)
    SELECT a.n * 32 + b.n + 1 FROM
        (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL
         SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7) AS a,
        (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL
         SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL
         SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10 UNION ALL SELECT 11 UNION ALL
         SELECT 12 UNION ALL SELECT 13 UNION ALL SELECT 14 UNION ALL SELECT 15 UNION ALL
         SELECT 16 UNION ALL SELECT 17 UNION ALL SELECT 18 UNION ALL SELECT 19 UNION ALL
         SELECT 20 UNION ALL SELECT 21 UNION ALL SELECT 22 UNION ALL SELECT 23 UNION ALL
         SELECT 24 UNION ALL SELECT 25 UNION ALL SELECT 26 UNION ALL SELECT 27 UNION ALL
         SELECT 28 UNION ALL SELECT 29 UNION ALL SELECT 30 UNION ALL SELECT 31) AS b;

-- Contentless: the tokens are only matched, never read back. Taking a row out of such an index
-- needs the tokens it was given, so the delete triggers make them again from the old text. prefix
-- = '3' indexes each token's first three characters, which is a whole ASCII character and its
-- "g", for one-character terms. The pairs are joined in position order by reading them from an
-- ordered subquery (SQLite's group_concat keeps the order rows arrive in; its own ORDER BY needs
-- SQLite 3.44, and other tools reading this file, such as older sqlite3 shells, would refuse the
-- whole schema).
CREATE VIRTUAL TABLE api_keys_grams USING fts5 (
    grams,
    content = '', tokenize = 'ascii', prefix = '3', columnsize = 0
);

CREATE TRIGGER api_keys_grams_insert AFTER INSERT ON api_keys
    WHEN new.search_text IS NOT NULL
BEGIN
    INSERT INTO api_keys_grams (rowid, grams)
        VALUES (new.seq, (SELECT group_concat(token, ' ') FROM (
            SELECT printf('%xg%xg', unicode(substr(new.search_text, n, 1)),
                          coalesce(unicode(substr(new.search_text, n + 1, 1)), 0)) AS token
            FROM search_positions WHERE n <= length(new.search_text) ORDER BY n)));
END;

CREATE TRIGGER api_keys_grams_delete AFTER DELETE ON api_keys
    WHEN old.search_text IS NOT NULL
BEGIN
    INSERT INTO api_keys_grams (api_keys_grams, rowid, grams)
        VALUES ('delete', old.seq, (SELECT group_concat(token, ' ') FROM (
            SELECT printf('%xg%xg', unicode(substr(old.search_text, n, 1)),
                          coalesce(unicode(substr(old.search_text, n + 1, 1)), 0)) AS token
            FROM search_positions WHERE n <= length(old.search_text) ORDER BY n)));
END;

-- One trigger, so the old pairs are taken out before the new ones go in (a pair in both would
-- otherwise be taken out after it was added).
CREATE TRIGGER api_keys_grams_update AFTER UPDATE OF search_text ON api_keys
    WHEN old.search_text IS NOT new.search_text
BEGIN
    INSERT INTO api_keys_grams (api_keys_grams, rowid, grams)
        SELECT 'delete', old.seq, (SELECT group_concat(token, ' ') FROM (
            SELECT printf('%xg%xg', unicode(substr(old.search_text, n, 1)),
                          coalesce(unicode(substr(old.search_text, n + 1, 1)), 0)) AS token
            FROM search_positions WHERE n <= length(old.search_text) ORDER BY n))
        WHERE old.search_text IS NOT NULL;
    INSERT INTO api_keys_grams (rowid, grams)
        SELECT new.seq, (SELECT group_concat(token, ' ') FROM (
            SELECT printf('%xg%xg', unicode(substr(new.search_text, n, 1)),
                          coalesce(unicode(substr(new.search_text, n + 1, 1)), 0)) AS token
            FROM search_positions WHERE n <= length(new.search_text) ORDER BY n))
        WHERE new.search_text IS NOT NULL;
END;

-- ASCII names fold as lower() folds them; the others are left NULL here and filled by Keyward
-- right after this migration (keyward-sqlite's search.rs), found through this small index, which
-- stays empty after that. Filling them fires the update trigger.
CREATE INDEX api_keys_unsearchable ON api_keys (seq) WHERE search_text IS NULL;
UPDATE api_keys SET search_text = lower(name) || char(10) || lower(prefix || '_' || id)
    WHERE name NOT GLOB '*[^ -~]*';
