//! Writing a batch of records: one transaction, all its turns in one
//! statement, then its votes, leaving out what was made before its
//! conversation was erased (`erasures`, under the lock `SqlRecords::erase`
//! takes: what another replica still had queued). SQLite unpacks the turns
//! from one JSON array bound as text; PostgreSQL reads them with `COPY` (its binary format), on
//! the writer's own connection (sqlx's `Any` driver has no `COPY`), which
//! costs its server well under half the CPU a row of unpacking the same JSON
//! (BENCHMARKS.md).

use sqlx::postgres::PgPool;

use support_chat_assistant::CareCategory;

use super::sql::{ERASE_LOCK, ERASED_SINCE, Erased, SqlRecords, quantise};
use crate::domain::clock::UnixMillis;
use crate::domain::records::{FeedbackRecord, TurnRecord, Write, day_of};

/// A batch of turns in one statement and one bound value, a JSON array of
/// rows (each an array of the columns in order) that SQLite unpacks itself.
/// Binding every column of every row through sqlx instead wrote 51k rows/s
/// against this way's 87k (`cargo bench --bench records`).
const INSERT_TURNS_SQLITE: &str = "WITH rows (r) AS MATERIALIZED (SELECT jsonb(value) FROM json_each($1)) \
     INSERT INTO turns (reply_id, session_hash, at_ms, day, message, outcome, confidence, article_id, article_version, embedding, complaint, care) \
     SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, r ->> 4, r ->> 5, \
     r ->> 6, r ->> 7, r ->> 8, r ->> 9, r ->> 10, r ->> 11 \
     FROM rows WHERE true ON CONFLICT (reply_id) DO NOTHING";

/// The same on PostgreSQL: only when `COPY` met a reply id already written.
const INSERT_TURNS_POSTGRES: &str = "INSERT INTO turns (reply_id, session_hash, at_ms, day, message, outcome, confidence, article_id, article_version, embedding, complaint, care) \
     SELECT r ->> 0, r ->> 1, (r ->> 2)::BIGINT, r ->> 3, r ->> 4, r ->> 5, (r ->> 6)::DOUBLE PRECISION, \
     r ->> 7, r ->> 8, r ->> 9, (r ->> 10)::BIGINT, r ->> 11 \
     FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT (reply_id) DO NOTHING";

/// The turns as [`binary`] writes them.
const COPY_TURNS: &str = "COPY turns (reply_id, session_hash, at_ms, day, message, outcome, confidence, article_id, article_version, embedding, complaint, care) \
     FROM STDIN (FORMAT binary)";

/// The latest vote per reply wins.
const UPSERT_FEEDBACK: &str = "INSERT INTO feedback (reply_id, session_hash, at_ms, day, helpful) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (reply_id) DO UPDATE SET helpful = excluded.helpful, at_ms = excluded.at_ms, day = excluded.day";

/// How PostgreSQL is given the turns.
#[derive(Clone, Copy)]
enum Turns {
    Copy,
    /// Skipping reply ids already written: two replicas can each record a
    /// reply of one conversation in the same millisecond, and their ids'
    /// 16 random bits can then be the same.
    InsertNew,
}

/// The batch's turns and votes, but those made before their conversation
/// was erased.
fn kept<'a>(batch: &'a [Write], erased: &Erased) -> (Vec<&'a TurnRecord>, Vec<&'a FeedbackRecord>) {
    let mut turns = Vec::with_capacity(batch.len());
    let mut votes = Vec::new();
    for write in batch {
        match write {
            Write::Turn(t) if !erased.covers(&t.session, t.reply_id.at()) => turns.push(t),
            Write::Feedback(f) if !erased.covers(&f.session, f.at) => votes.push(f),
            Write::Turn(_) | Write::Feedback(_) => {}
        }
    }
    (turns, votes)
}

/// What [`ERASED_SINCE`] is bound to for `batch`: its oldest write's time,
/// less the clock skew a tombstone allows ([`Erased::since`]).
fn erased_since(batch: &[Write]) -> UnixMillis {
    let oldest = batch
        .iter()
        .map(|w| match w {
            Write::Turn(t) => t.reply_id.at(),
            Write::Feedback(f) => f.at,
        })
        .min()
        .unwrap_or(UnixMillis::MAX);
    Erased::since(oldest)
}

impl SqlRecords {
    pub(super) async fn write_batch(&self, batch: &[Write]) -> Result<(), sqlx::Error> {
        let Some(postgres) = &self.postgres else {
            // The write lock up front, so no erase lands between the check and the write.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let erased = Erased(
                sqlx::query_as(ERASED_SINCE)
                    .bind(erased_since(batch))
                    .fetch_all(&mut *tx)
                    .await?,
            );
            let (turns, votes) = kept(batch, &erased);
            if !turns.is_empty() {
                let rows = json(&turns);
                sqlx::query(INSERT_TURNS_SQLITE)
                    .bind(rows)
                    .execute(&mut *tx)
                    .await?;
            }
            for vote in votes {
                upsert_feedback(vote).execute(&mut *tx).await?;
            }
            return tx.commit().await;
        };
        match write_postgres(postgres, batch, Turns::Copy).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                write_postgres(postgres, batch, Turns::InsertNew).await
            }
            written => written,
        }
    }
}

async fn write_postgres(pool: &PgPool, batch: &[Write], how: Turns) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Shared with other writers, exclusive of an erase (until the commit).
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(ERASE_LOCK)
        .execute(&mut *tx)
        .await?;
    let erased = Erased(
        sqlx::query_as(ERASED_SINCE)
            .bind(erased_since(batch))
            .fetch_all(&mut *tx)
            .await?,
    );
    let (turns, votes) = kept(batch, &erased);
    let turns = turns.as_slice();
    if !turns.is_empty() {
        match how {
            Turns::Copy => {
                let mut copy = tx.copy_in_raw(COPY_TURNS).await?;
                copy.send(binary(turns)).await?;
                copy.finish().await?;
            }
            Turns::InsertNew => {
                sqlx::query(INSERT_TURNS_POSTGRES)
                    .bind(json(turns))
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    for vote in votes {
        upsert_feedback(vote).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// [`UPSERT_FEEDBACK`] of `vote`, on either driver.
fn upsert_feedback<'q, DB>(
    vote: &FeedbackRecord,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(UPSERT_FEEDBACK)
        .bind(vote.reply_id.as_str().to_owned())
        .bind(vote.session.as_str().to_owned())
        .bind(vote.at)
        .bind(day_of(vote.at))
        .bind(i64::from(vote.helpful))
}

/// One turn as [`INSERT_TURNS_SQLITE`] and [`INSERT_TURNS_POSTGRES`] read it.
type TurnRow<'a> = (
    &'a str,
    &'a str,
    i64,
    String,
    &'a str,
    &'static str,
    f64,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
    i64,
    Option<&'static str>,
);

/// The turns as one JSON array of rows.
fn json(turns: &[&TurnRecord]) -> String {
    let rows: Vec<TurnRow> = turns
        .iter()
        .map(|t| {
            (
                t.reply_id.as_str(),
                t.session.as_str(),
                t.reply_id.at(),
                day_of(t.reply_id.at()),
                t.message.as_str(),
                t.outcome.as_str(),
                f64::from(t.confidence),
                t.article.as_ref().map(|a| a.id.as_str()),
                t.article.as_ref().map(|a| a.version.as_str()),
                t.embedding.as_deref().map(quantise),
                i64::from(t.complaint),
                t.care.map(CareCategory::as_str),
            )
        })
        .collect();
    serde_json::to_string(&rows).expect("turns serialise")
}

/// The turns as `COPY … (FORMAT binary)` reads them, in [`COPY_TURNS`]'s
/// column order: a header, then per row its column count and each value
/// length-prefixed (NULL as length -1), text as its UTF-8 bytes, numbers
/// big-endian in the columns' own types (`BIGINT`, `DOUBLE PRECISION`), then
/// the end mark. Nothing in a message needs escaping, and the server parses
/// no text: against CSV, 15 % less of its CPU a row (`psql`, BENCHMARKS.md).
/// A column whose type a migration changes must change here too (the records
/// tests then fail with PostgreSQL's "incorrect binary data format").
fn binary(turns: &[&TurnRecord]) -> Vec<u8> {
    const COLUMNS: i16 = 12;
    fn text(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            Some(value) => {
                let len = i32::try_from(value.len()).expect("a record's text is far under 2 GiB");
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(value.as_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    fn number(out: &mut Vec<u8>, value: [u8; 8]) {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&value);
    }
    // Sized up front: a row is about 170 bytes without an embedding.
    let mut out = Vec::with_capacity(19 + turns.len() * 192 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // no header extension
    for t in turns {
        out.extend_from_slice(&COLUMNS.to_be_bytes());
        text(&mut out, Some(t.reply_id.as_str()));
        text(&mut out, Some(t.session.as_str()));
        let at = t.reply_id.at();
        number(&mut out, at.to_be_bytes());
        text(&mut out, Some(&day_of(at)));
        text(&mut out, Some(&t.message));
        text(&mut out, Some(t.outcome.as_str()));
        number(&mut out, f64::from(t.confidence).to_be_bytes());
        text(&mut out, t.article.as_ref().map(|a| a.id.as_str()));
        text(&mut out, t.article.as_ref().map(|a| a.version.as_str()));
        text(&mut out, t.embedding.as_deref().map(quantise).as_deref());
        number(&mut out, i64::from(t.complaint).to_be_bytes());
        text(&mut out, t.care.map(CareCategory::as_str));
    }
    out.extend_from_slice(&(-1i16).to_be_bytes()); // the end of the data
    out
}
