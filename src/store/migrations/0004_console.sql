-- The operator console's signed-in sessions, shared by every replica on
-- this database: each under the SHA-256 of its cookie, never the cookie.
CREATE TABLE console_sessions (
    cookie_hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
