-- Turns are found by time through their primary key: a reply id begins with
-- the time it was given (12 hex digits of milliseconds), and a turn's time
-- is its reply id's. The index on the time goes: it cost every turn written
-- a third B-tree. Turns written before their ids began with their time (or
-- a millisecond off it) get ids that do, and their votes follow them.
UPDATE feedback f SET reply_id = lpad(to_hex(t.at_ms), 12, '0') || substr(t.reply_id, 13)
FROM turns t
WHERE t.reply_id = f.reply_id AND substr(t.reply_id, 1, 12) <> lpad(to_hex(t.at_ms), 12, '0');
UPDATE turns SET reply_id = lpad(to_hex(at_ms), 12, '0') || substr(reply_id, 13)
WHERE substr(reply_id, 1, 12) <> lpad(to_hex(at_ms), 12, '0');
DROP INDEX turns_by_time;
-- Ids and names are hex, compared byte by byte: whatever the database's
-- own collation, not through it (a tenth of PostgreSQL's CPU a turn written
-- under C.UTF-8, more under a language's collation). Every column that
-- meets another in a comparison changes together.
ALTER TABLE turns ALTER COLUMN reply_id TYPE TEXT COLLATE "C",
    ALTER COLUMN session_hash TYPE TEXT COLLATE "C";
ALTER TABLE feedback ALTER COLUMN reply_id TYPE TEXT COLLATE "C",
    ALTER COLUMN session_hash TYPE TEXT COLLATE "C";
ALTER TABLE handoffs ALTER COLUMN session_hash TYPE TEXT COLLATE "C";
ALTER TABLE complaints ALTER COLUMN session_hash TYPE TEXT COLLATE "C";
