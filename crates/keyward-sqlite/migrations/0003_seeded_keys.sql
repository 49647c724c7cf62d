-- Keys made up by `keyward-cli dev seed` to try the app at scale. They are marked so that they can
-- always be told apart from real keys, and verify refuses them.
ALTER TABLE api_keys ADD COLUMN seeded INTEGER NOT NULL DEFAULT 0 CHECK (seeded IN (0, 1));
