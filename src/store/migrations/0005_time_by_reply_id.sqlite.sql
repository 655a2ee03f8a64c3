-- Turns are found by time through their primary key: a reply id begins with
-- the time it was given (12 hex digits of milliseconds), and a turn's time
-- is its reply id's. The index on the time goes: it cost every turn written
-- a third B-tree. Turns written before their ids began with their time (or
-- a millisecond off it) get ids that do, and their votes follow them.
UPDATE feedback SET reply_id = (
    SELECT printf('%012x', t.at_ms) || substr(t.reply_id, 13) FROM turns t
    WHERE t.reply_id = feedback.reply_id
) WHERE reply_id IN (
    SELECT reply_id FROM turns WHERE substr(reply_id, 1, 12) <> printf('%012x', at_ms)
);
UPDATE turns SET reply_id = printf('%012x', at_ms) || substr(reply_id, 13)
WHERE substr(reply_id, 1, 12) <> printf('%012x', at_ms);
DROP INDEX turns_by_time;
