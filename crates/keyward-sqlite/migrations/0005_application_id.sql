-- Marks the file as a Keyward database ("KWRD" in the header's application id), so a file of
-- another program is never taken for one of ours, and ours is recognised without reading tables.
PRAGMA application_id = 1264013892;
