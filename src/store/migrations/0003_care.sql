-- The duty of care. Each turn says whether it expressed dissatisfaction
-- (a complaint) and which vulnerability cue it showed, if any: a category,
-- never more, cleared at --retention-days whatever else is kept.
ALTER TABLE turns ADD COLUMN complaint BIGINT NOT NULL DEFAULT 0;
ALTER TABLE turns ADD COLUMN care TEXT;

-- Complaint records (FCA DISP): kept --complaint-retention-days (three
-- years by default); while one is, its conversation's turns are too.
CREATE TABLE complaints (
    reference TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    -- When it was made: its clock starts here.
    made_ms BIGINT NOT NULL,
    -- The visitor's words, redacted as every record is.
    message TEXT NOT NULL,
    -- open, acknowledged, resolved.
    status TEXT NOT NULL,
    acknowledge_by_ms BIGINT NOT NULL,
    respond_by_ms BIGINT NOT NULL,
    acknowledged_ms BIGINT,
    resolved_ms BIGINT,
    handled_by TEXT,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX complaints_by_session ON complaints (session_hash, status);
CREATE INDEX complaints_by_status ON complaints (status, made_ms);
