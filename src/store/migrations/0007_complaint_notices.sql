-- Telling the team of each new complaint, by the ways handoffs go (e-mail,
-- webhook), retried like a handoff until sent or failed. `notice_status`:
-- none (made before notices: not sent), pending, sent, failed, skipped
-- (acknowledged before it went); each way: pending, or done (sent, or not
-- configured when tried). A replica claims a due notice with a lease, so
-- one replica sends it at a time.
ALTER TABLE complaints ADD COLUMN notice_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE complaints ADD COLUMN notice_email TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE complaints ADD COLUMN notice_webhook TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE complaints ADD COLUMN notice_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE complaints ADD COLUMN notice_due_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE complaints ADD COLUMN notice_lease_owner TEXT;
ALTER TABLE complaints ADD COLUMN notice_lease_until_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE complaints ADD COLUMN notice_error TEXT;
CREATE INDEX complaints_notice_due ON complaints (notice_due_ms) WHERE notice_status = 'pending';
