-- The handoff outbox: a visitor's request for a person is accepted only once
-- it is a row here, and stays until it is delivered (or has failed) and the
-- retention has passed. A replica claims a due row with a lease
-- (`lease_owner`, `lease_until_ms`), so one replica delivers it at a time.

CREATE TABLE handoffs (
    reference TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    -- A keyed hash of the client's key: requests per client are capped.
    client_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    -- The visitor's contact, given to be contacted: kept as given.
    email TEXT NOT NULL,
    name TEXT,
    note TEXT,
    -- Each way of delivery: none (not configured), pending, done.
    email_channel TEXT NOT NULL,
    webhook_channel TEXT NOT NULL,
    -- pending, retrying, delivered, failed.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT NOT NULL,
    last_error TEXT,
    delivered_ms BIGINT
);
CREATE INDEX handoffs_due ON handoffs (status, next_attempt_ms);
CREATE INDEX handoffs_by_session ON handoffs (session_hash, created_ms);
CREATE INDEX handoffs_by_client ON handoffs (client_hash, created_ms);
