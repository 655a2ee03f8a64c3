-- The writer reads the tombstones of the last few seconds before each batch
-- (`ERASED_SINCE`), instead of looking up each conversation of the batch: a
-- sort and a lookup a turn fewer.
CREATE INDEX erasures_by_time ON erasures (erased_ms);
