//! The console's signed-in sessions in the records database, shared by
//! every replica on it.

use sqlx::Row;

use super::sql::{SqlRecords, failed};
use crate::domain::Pending;
use crate::domain::clock::UnixMillis;
use crate::domain::console::{ConsoleSession, ConsoleSessions};
use crate::domain::records::RecordError;

impl ConsoleSessions for SqlRecords {
    fn put(
        &self,
        hash: &str,
        session: &ConsoleSession,
        now: UnixMillis,
    ) -> Pending<'_, Result<(), RecordError>> {
        let (hash, session) = (hash.to_owned(), session.clone());
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(failed)?;
            sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            sqlx::query(
                "INSERT INTO console_sessions (cookie_hash, csrf, expires_ms) VALUES ($1, $2, $3)",
            )
            .bind(hash)
            .bind(session.csrf)
            .bind(session.expires)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
            tx.commit().await.map_err(failed)
        })
    }

    fn get(
        &self,
        hash: &str,
        now: UnixMillis,
    ) -> Pending<'_, Result<Option<ConsoleSession>, RecordError>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT csrf, expires_ms FROM console_sessions WHERE cookie_hash = $1 AND expires_ms > $2",
            )
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed)?;
            row.map(|row| {
                Ok::<_, sqlx::Error>(ConsoleSession {
                    csrf: row.try_get(0)?,
                    expires: row.try_get(1)?,
                })
            })
            .transpose()
            .map_err(failed)
        })
    }

    fn remove(&self, hash: &str) -> Pending<'_, Result<(), RecordError>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            sqlx::query("DELETE FROM console_sessions WHERE cookie_hash = $1")
                .bind(hash)
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(failed)
        })
    }
}
