-- Records of conversations, on SQLite and PostgreSQL alike: only types both
-- read the same through sqlx's Any driver (TEXT, BIGINT, DOUBLE PRECISION).
-- Times are milliseconds since the Unix epoch; `day` is the UTC date.

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per exchange. `message` is redacted before it is written;
-- `session_hash` is a keyed hash of the session id, never the id.
CREATE TABLE turns (
    reply_id TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    day TEXT NOT NULL,
    message TEXT NOT NULL,
    outcome TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    article_id TEXT,
    article_version TEXT,
    -- The sentence embedding of a turn not answered outright, 8 bits a
    -- dimension as hex: similar unanswered questions are grouped by it.
    embedding TEXT,
    -- An unanswered turn's place in the inbox: open, dismissed or added.
    review TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX turns_by_session ON turns (session_hash, at_ms);
CREATE INDEX turns_by_time ON turns (at_ms);

-- The latest vote per reply.
CREATE TABLE feedback (
    reply_id TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    day TEXT NOT NULL,
    helpful BIGINT NOT NULL
);
CREATE INDEX feedback_by_session ON feedback (session_hash);
