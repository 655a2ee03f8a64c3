//! What leaves the records: a conversation's erase, the purge of what is
//! past retention, and, on SQLite, the write-ahead log's copies of both.

use sqlx::Row;

use super::sql::{ERASE_LOCK, SqlRecords};
use crate::domain::clock::{UnixMillis, now_millis};
use crate::domain::records::{ReplyId, SessionHash};

impl SqlRecords {
    /// Leaves a tombstone, then erases, with every writer held off: a batch
    /// written before is erased, one written after sees the tombstone.
    pub(super) async fn erase_session(&self, session: &SessionHash) -> Result<u64, sqlx::Error> {
        let mut tx = self.begin_locked(ERASE_LOCK).await?;
        sqlx::query(
            "INSERT INTO erasures (session_hash, erased_ms) VALUES ($1, $2) \
             ON CONFLICT (session_hash) DO UPDATE SET erased_ms = excluded.erased_ms",
        )
        .bind(session.as_str().to_owned())
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        let mut rows = 0;
        for sql in [
            "DELETE FROM turns WHERE session_hash = $1",
            "DELETE FROM feedback WHERE session_hash = $1",
            "DELETE FROM handoffs WHERE session_hash = $1",
        ] {
            rows += sqlx::query(sql)
                .bind(session.as_str().to_owned())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        if rows > 0 {
            self.scrub_log().await;
        }
        Ok(rows)
    }

    /// On SQLite, copies the write-ahead log into the database and empties
    /// it: the log still holds the pages of rows just deleted as they were
    /// before. Waits (up to the busy timeout) for readers of older pages; a
    /// log it cannot empty now is emptied by the next purge (each runs it,
    /// whether it deleted anything or not) or erasure.
    async fn scrub_log(&self) {
        if self.postgres.is_some() {
            return;
        }
        let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get::<i64, _>(0));
        match checkpoint {
            Ok(0) => {}
            Ok(_) => tracing::warn!("the records' log is still read: it is emptied later"),
            Err(error) => tracing::warn!(%error, "the records' log could not be emptied"),
        }
    }

    pub(super) async fn purge_before(
        &self,
        before: UnixMillis,
        complaints_before: UnixMillis,
    ) -> Result<u64, sqlx::Error> {
        let mut rows = 0;
        // Complaints first: their conversations are kept while they are. One
        // not yet resolved is kept whatever its age: it is still being handled.
        rows += sqlx::query("DELETE FROM complaints WHERE made_ms < $1 AND status = 'resolved'")
            .bind(complaints_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        // Turns are found by time through their reply ids (`ReplyId::first_at`).
        let turns_before = ReplyId::first_at(before);
        for sql in [
            "DELETE FROM turns WHERE reply_id < $1 AND session_hash NOT IN (SELECT session_hash FROM complaints)",
            // A kept conversation loses its vulnerability flags on time all the same.
            "UPDATE turns SET care = NULL WHERE reply_id < $1 AND care IS NOT NULL",
        ] {
            rows += sqlx::query(sql)
                .bind(turns_before.clone())
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        for sql in [
            "DELETE FROM feedback WHERE at_ms < $1 AND session_hash NOT IN (SELECT session_hash FROM complaints)",
            // Nothing of a conversation older than this is still on its way.
            "DELETE FROM erasures WHERE erased_ms < $1",
            // A handoff still on its way is kept whatever its age; a delivered
            // or failed one from when it settled (`next_attempt_ms`, `outbox.rs`).
            "DELETE FROM handoffs WHERE next_attempt_ms < $1 AND status IN ('delivered', 'failed')",
        ] {
            rows += sqlx::query(sql)
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        // Every time, not only when rows went: an erasure's log a reader
        // held on to is emptied now.
        self.scrub_log().await;
        Ok(rows)
    }
}
