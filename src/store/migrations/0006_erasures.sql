-- Conversations a visitor (or the team) erased, under their keyed session
-- hash: a turn or vote of one still queued on another replica is then not
-- written after the erase (`write.rs`). Kept --retention-days, as long as
-- anything of the conversation could still arrive.
CREATE TABLE erasures (
    session_hash TEXT PRIMARY KEY,
    erased_ms BIGINT NOT NULL
);
