//! The records in a SQL database: SQLite by default (embedded, one file,
//! created with its schema on first start), or PostgreSQL for several
//! replicas. One code path over both: sqlx's `Any` driver, `$n` placeholders
//! (both read them), and a schema of types both read the same
//! (`migrations/`, embedded and versioned, run at start-up). The one
//! exception is how the writer hands PostgreSQL its turns (`write.rs`).

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use support_chat_assistant::CareCategory;

use super::search::{glob_pattern, like_pattern};
use crate::domain::Pending;
use crate::domain::clock::UnixMillis;
use crate::domain::records::{
    ConversationFilter, ConversationSummary, DaySummary, LOW_CONFIDENCE, OpenTurn, RecordError,
    RecordKey, RecordStore, RecordedOutcome, ReplyId, Review, SessionHash, TranscriptTurn, Write,
    hex,
};

/// Where the records are: `sqlite://PATH` (relative to the working
/// folder; `sqlite:///abs/path.db` absolute) or `postgres://…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with secrets hidden, for logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let input = input.trim();
        let error = || {
            format!(
                "invalid database {input:?}: expected sqlite://PATH (e.g. sqlite://data/support-chat.db) or postgres://USER@HOST/DB"
            )
        };
        if let Some(path) = input.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path.contains(':') {
                return Err(error());
            }
            return Ok(Self(format!("sqlite://{path}")));
        }
        let url = url::Url::parse(input).map_err(|_| error())?;
        if matches!(url.scheme(), "postgres" | "postgresql") {
            Ok(Self(input.to_owned()))
        } else {
            Err(error())
        }
    }
}

/// The records on SQLite or PostgreSQL.
pub struct SqlRecords {
    pub(super) pool: AnyPool,
    /// On PostgreSQL, the writer's own connection, through its own driver:
    /// it writes turns with `COPY`, which the `Any` driver has not (`write.rs`).
    pub(super) postgres: Option<PgPool>,
}

/// The PostgreSQL advisory lock between erasing and writing: each writer
/// (and each new handoff) holds it shared for its transaction, an erase
/// exclusively.
pub(super) const ERASE_LOCK: i64 = 0x0053_4345_5241_5345; // "SCERASE"

/// How far apart two replicas' clocks may be: a write made up to this long
/// after its conversation was erased (by another replica's clock) still
/// counts as made before.
const CLOCK_SKEW_MS: UnixMillis = 5_000;

/// The strings of the JSON array bound as `$1`, as a subquery, in SQLite's
/// dialect or PostgreSQL's.
pub(super) fn json_strings(postgres: bool) -> &'static str {
    if postgres {
        "SELECT jsonb_array_elements_text($1::jsonb)"
    } else {
        "SELECT value FROM json_each($1)"
    }
}

/// The conversations erased after the time bound as `$1` (milliseconds),
/// and when: [`Erased::since`].
pub(super) const ERASED_SINCE: &str =
    "SELECT session_hash, erased_ms FROM erasures WHERE erased_ms > $1";

/// Some conversations' tombstones: session hash and when it was erased.
pub(super) struct Erased(pub(super) Vec<(String, i64)>);

impl Erased {
    /// What [`ERASED_SINCE`] must be bound to for [`Erased::covers`] to judge
    /// everything made at or after `oldest`: a tombstone covers a write only
    /// when it is less than [`CLOCK_SKEW_MS`] older than the write, so older
    /// ones cannot matter. A batch's writes are moments old, so this reads
    /// the few recent tombstones (by `erasures_by_time`) instead of looking
    /// up each of the batch's conversations.
    pub(super) fn since(oldest: UnixMillis) -> UnixMillis {
        oldest - CLOCK_SKEW_MS
    }

    /// Whether something of `session` made at `at` was made before it was
    /// erased, and so must not be written. What comes later (the team erased
    /// a conversation whose visitor chats on) is written as usual.
    pub(super) fn covers(&self, session: &SessionHash, at: UnixMillis) -> bool {
        self.0
            .iter()
            .any(|(hash, erased)| hash == session.as_str() && at < erased + CLOCK_SKEW_MS)
    }
}

/// The embedded migrations, oldest first: each one's SQL on SQLite, then
/// on PostgreSQL (the same but where a dialect differs).
const MIGRATIONS: [(i64, &str, &str, &str); 8] = {
    const RECORDS: &str = include_str!("migrations/0001_records.sql");
    const HANDOFFS: &str = include_str!("migrations/0002_handoffs.sql");
    const CARE: &str = include_str!("migrations/0003_care.sql");
    const CONSOLE: &str = include_str!("migrations/0004_console.sql");
    const ERASURES: &str = include_str!("migrations/0006_erasures.sql");
    const NOTICES: &str = include_str!("migrations/0007_complaint_notices.sql");
    const ERASURES_BY_TIME: &str = include_str!("migrations/0008_erasures_by_time.sql");
    [
        (1, "records", RECORDS, RECORDS),
        (2, "handoffs", HANDOFFS, HANDOFFS),
        (3, "care", CARE, CARE),
        (4, "console", CONSOLE, CONSOLE),
        (
            5,
            "time by reply id",
            include_str!("migrations/0005_time_by_reply_id.sqlite.sql"),
            include_str!("migrations/0005_time_by_reply_id.postgres.sql"),
        ),
        (6, "erasures", ERASURES, ERASURES),
        (7, "complaint notices", NOTICES, NOTICES),
        (8, "erasures by time", ERASURES_BY_TIME, ERASURES_BY_TIME),
    ]
};

/// The migrations in one database's dialect.
#[derive(Debug)]
struct Embedded {
    postgres: bool,
}

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sqlite, postgres)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        Cow::Borrowed(if self.postgres { *postgres } else { *sqlite }),
                        false,
                    )
                })
                .collect())
        })
    }
}

pub(super) fn failed(error: impl std::error::Error + Send + Sync + 'static) -> RecordError {
    RecordError(Box::new(error))
}

impl SqlRecords {
    /// Connects (creating a SQLite file and its folder if need be), brings
    /// the schema up to date, and reads the records' key (made on first start).
    pub async fn open(url: &DatabaseUrl) -> Result<(Self, RecordKey), RecordError> {
        sqlx::any::install_default_drivers();
        let mut connect = url.0.clone();
        if let Some(path) = connect.strip_prefix("sqlite://") {
            if let Some(folder) = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(folder).map_err(failed)?;
            }
            connect.push_str("?mode=rwc");
        }
        let sqlite = url.is_sqlite();
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if sqlite {
                        // Readers do not wait for the writer. A commit waits
                        // until its log is on disk: a handoff, a complaint or
                        // an erasure acknowledged survives a power cut too
                        // (NORMAL would keep it through a crash of the
                        // process only). Turns are committed in batches, so
                        // that is one sync per batch.
                        connection.execute("PRAGMA journal_mode = WAL").await?;
                        connection.execute("PRAGMA synchronous = FULL").await?;
                        // A 64 MiB page cache (grown as used) and a checkpoint
                        // every ~40 MB of log rather than ~4 MB halved the
                        // writer's CPU a row when turns landed at random places
                        // in three B-trees; they land near the end of two now.
                        connection.execute("PRAGMA cache_size = -65536").await?;
                        connection
                            .execute("PRAGMA wal_autocheckpoint = 10000")
                            .await?;
                        // What is deleted (an erasure, a purge) is overwritten
                        // with zeros, not left in free space for anyone who
                        // reads the file; `scrub_log` clears the log's copies.
                        // On every connection, not only around deletes: an
                        // update leaves the row's old copy too (about 1.4 µs
                        // a cached answer, BENCHMARKS.md).
                        connection.execute("PRAGMA secure_delete = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect)
            .await
            .map_err(failed)?;
        Migrator::new(Embedded { postgres: !sqlite })
            .await
            .map_err(failed)?
            .run(&pool)
            .await
            .map_err(failed)?;
        let key = Self::key(&pool).await?;
        let postgres = if sqlite {
            None
        } else {
            // One connection: there is one writer, and it writes a batch at a time.
            let writer = PgPoolOptions::new().max_connections(1);
            Some(writer.connect(&connect).await.map_err(failed)?)
        };
        Ok((Self { pool, postgres }, key))
    }

    /// The key in `settings`, made by whichever replica starts first.
    async fn key(pool: &AnyPool) -> Result<RecordKey, RecordError> {
        let fresh = hex(RecordKey::random().bytes());
        sqlx::query("INSERT INTO settings (name, value) VALUES ('record_key', $1) ON CONFLICT (name) DO NOTHING")
            .bind(fresh)
            .execute(pool)
            .await
            .map_err(failed)?;
        let stored: String = sqlx::query("SELECT value FROM settings WHERE name = 'record_key'")
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(failed)?;
        let bytes =
            unhex(&stored).ok_or_else(|| RecordError("the stored record key is not hex".into()))?;
        Ok(RecordKey::new(&bytes))
    }

    /// A transaction that holds `lock` (a PostgreSQL advisory lock) until it
    /// ends; on SQLite, the database's write lock, which holds off every other
    /// writer. Read committed: what the holder before it wrote is seen.
    pub(super) async fn begin_locked(
        &self,
        lock: i64,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.postgres.is_none() {
            return self.pool.begin_with("BEGIN IMMEDIATE").await;
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(lock)
            .fetch_one(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn day_summaries(&self, since: UnixMillis) -> Result<Vec<DaySummary>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT day, COUNT(DISTINCT session_hash), COUNT(*), \
               SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN outcome = 'clarified' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN outcome = 'handoff' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN outcome = 'out_of_scope' THEN 1 ELSE 0 END) \
             FROM turns WHERE reply_id >= $1 GROUP BY day ORDER BY day",
        )
        .bind(ReplyId::first_at(since))
        .fetch_all(&self.pool)
        .await?;
        let mut days: Vec<DaySummary> = rows
            .iter()
            .map(|row| {
                Ok(DaySummary {
                    day: row.try_get(0)?,
                    conversations: count(row, 1)?,
                    messages: count(row, 2)?,
                    answered: count(row, 3)?,
                    clarified: count(row, 4)?,
                    handed_off: count(row, 5)?,
                    out_of_scope: count(row, 6)?,
                    helpful: 0,
                    not_helpful: 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let votes = sqlx::query(
            "SELECT day, SUM(CASE WHEN helpful = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN helpful = 0 THEN 1 ELSE 0 END) \
             FROM feedback WHERE at_ms >= $1 GROUP BY day",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        for row in votes {
            let day: String = row.try_get(0)?;
            let index = match days.iter().position(|d| d.day == day) {
                Some(index) => index,
                None => {
                    days.push(DaySummary::empty(day));
                    days.len() - 1
                }
            };
            days[index].helpful = count(&row, 1)?;
            days[index].not_helpful = count(&row, 2)?;
        }
        days.sort_by(|a, b| a.day.cmp(&b.day));
        Ok(days)
    }

    async fn open_turns_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<OpenTurn>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT t.reply_id, t.at_ms, t.message, t.outcome, t.confidence, t.embedding, f.helpful \
             FROM turns t LEFT JOIN feedback f ON f.reply_id = t.reply_id \
             WHERE t.reply_id >= $1 AND t.review = 'open' \
               AND (t.outcome <> 'answered' OR t.confidence < $2 OR f.helpful = 0) \
             ORDER BY t.reply_id DESC LIMIT $3",
        )
        .bind(ReplyId::first_at(since))
        .bind(LOW_CONFIDENCE)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let embedding: Option<String> = row.try_get(5)?;
                let helpful: Option<i64> = row.try_get(6)?;
                Ok(OpenTurn {
                    reply_id: row.try_get(0)?,
                    at: row.try_get(1)?,
                    message: row.try_get(2)?,
                    outcome: outcome(row, 3)?,
                    confidence: row.try_get(4)?,
                    embedding: embedding.as_deref().and_then(dequantise),
                    not_helpful: helpful == Some(0),
                })
            })
            .collect()
    }

    async fn conversation_list(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationSummary>, sqlx::Error> {
        // SQLite's `LOWER` and `LIKE` fold ASCII letters only; its `GLOB`
        // takes a class of each letter's cases (`[Zz][Oo][Ëë]`) at any code point.
        let postgres = self.postgres.is_some();
        let search = filter.search.as_deref().map_or(String::new(), |text| {
            if postgres {
                like_pattern(text)
            } else {
                glob_pattern(text)
            }
        });
        let rows = sqlx::query(&format!(
            "SELECT session_hash, MIN(at_ms), MAX(at_ms), COUNT(*), \
               SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN outcome = 'clarified' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN outcome = 'handoff' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN outcome = 'out_of_scope' THEN 1 ELSE 0 END) \
             FROM turns \
             WHERE reply_id >= $1 AND reply_id < $2 \
               AND ($3 = '' OR session_hash IN (SELECT session_hash FROM turns WHERE outcome = $3)) \
               AND ($4 = '' OR session_hash IN (SELECT session_hash FROM turns WHERE {holds})) \
               AND ($7 = '' OR session_hash = $7) \
             GROUP BY session_hash ORDER BY MAX(at_ms) DESC, session_hash LIMIT $5 OFFSET $6",
            holds = if postgres {
                "LOWER(message) LIKE $4 ESCAPE '\\'"
            } else {
                "message GLOB $4"
            },
        ))
        .bind(ReplyId::first_at(filter.from))
        .bind(ReplyId::first_at(filter.to))
        .bind(filter.outcome.map_or("", RecordedOutcome::as_str))
        .bind(search)
        .bind(i64::try_from(filter.per_page).unwrap_or(i64::MAX))
        .bind(i64::try_from(filter.page * filter.per_page).unwrap_or(i64::MAX))
        .bind(filter.session.as_ref().map_or("", SessionHash::as_str).to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let session: String = row.try_get(0)?;
                Ok(ConversationSummary {
                    session: SessionHash::parse(&session)
                        .unwrap_or_else(|| SessionHash::unchecked(session)),
                    first_at: row.try_get(1)?,
                    last_at: row.try_get(2)?,
                    turns: count(row, 3)?,
                    answered: count(row, 4)?,
                    clarified: count(row, 5)?,
                    handed_off: count(row, 6)?,
                    out_of_scope: count(row, 7)?,
                })
            })
            .collect()
    }

    async fn transcript_of(
        &self,
        session: &SessionHash,
    ) -> Result<Vec<TranscriptTurn>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "{TRANSCRIPT_SELECT} WHERE t.session_hash = $1 ORDER BY t.at_ms, t.reply_id"
        ))
        .bind(session.as_str().to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(transcript_turn).collect()
    }

    async fn mark(&self, reply_ids: &[String], review: Review) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mut rows = 0;
        for id in reply_ids {
            rows += sqlx::query("UPDATE turns SET review = $1 WHERE reply_id = $2")
                .bind(review.as_str())
                .bind(id.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(rows)
    }
}

/// Every turn's columns for a transcript or an export, with its vote.
const TRANSCRIPT_SELECT: &str = "SELECT t.reply_id, t.session_hash, t.at_ms, t.message, t.outcome, t.confidence, \
     t.article_id, t.article_version, f.helpful, t.complaint, t.care \
     FROM turns t LEFT JOIN feedback f ON f.reply_id = t.reply_id";

fn transcript_turn(row: &AnyRow) -> Result<TranscriptTurn, sqlx::Error> {
    let session: String = row.try_get(1)?;
    let helpful: Option<i64> = row.try_get(8)?;
    let complaint: i64 = row.try_get(9)?;
    let care: Option<String> = row.try_get(10)?;
    Ok(TranscriptTurn {
        reply_id: row.try_get(0)?,
        session: SessionHash::parse(&session).unwrap_or_else(|| SessionHash::unchecked(session)),
        at: row.try_get(2)?,
        message: row.try_get(3)?,
        outcome: outcome(row, 4)?,
        confidence: row.try_get(5)?,
        article_id: row.try_get(6)?,
        article_version: row.try_get(7)?,
        helpful: helpful.map(|h| h == 1),
        complaint: complaint == 1,
        care: care.as_deref().and_then(CareCategory::parse),
    })
}

fn outcome(row: &AnyRow, index: usize) -> Result<RecordedOutcome, sqlx::Error> {
    let text: String = row.try_get(index)?;
    RecordedOutcome::parse(&text)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown outcome {text:?}").into()))
}

/// A count or a sum of counts (NULL when no row was summed).
pub(super) fn count(row: &AnyRow, index: usize) -> Result<u64, sqlx::Error> {
    let value: Option<i64> = row.try_get(index)?;
    Ok(u64::try_from(value.unwrap_or(0)).unwrap_or(0))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

/// An embedding at 8 bits a dimension (its direction is what grouping uses).
pub(super) fn quantise(embedding: &[f32]) -> String {
    let largest = embedding
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let bytes: Vec<u8> = embedding
        .iter()
        .map(|v| (v / largest * 127.0).round() as i8 as u8)
        .collect();
    hex(&bytes)
}

/// [`quantise`] back, at unit length.
fn dequantise(text: &str) -> Option<Vec<f32>> {
    let values: Vec<f32> = unhex(text)?
        .into_iter()
        .map(|b| f32::from(b as i8))
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    (norm > 0.0).then(|| values.iter().map(|v| v / norm).collect())
}

impl RecordStore for SqlRecords {
    fn write(&self, batch: Vec<Write>) -> Pending<'_, Result<(), RecordError>> {
        Box::pin(async move { self.write_batch(&batch).await.map_err(failed) })
    }

    fn erase(&self, session: &SessionHash) -> Pending<'_, Result<u64, RecordError>> {
        let session = session.clone();
        Box::pin(async move { self.erase_session(&session).await.map_err(failed) })
    }

    fn purge(
        &self,
        before: UnixMillis,
        complaints_before: UnixMillis,
    ) -> Pending<'_, Result<u64, RecordError>> {
        Box::pin(async move {
            self.purge_before(before, complaints_before)
                .await
                .map_err(failed)
        })
    }

    fn summary(&self, since: UnixMillis) -> Pending<'_, Result<Vec<DaySummary>, RecordError>> {
        Box::pin(async move { self.day_summaries(since).await.map_err(failed) })
    }

    fn open_turns(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Pending<'_, Result<Vec<OpenTurn>, RecordError>> {
        Box::pin(async move { self.open_turns_since(since, limit).await.map_err(failed) })
    }

    fn conversations(
        &self,
        filter: ConversationFilter,
    ) -> Pending<'_, Result<Vec<ConversationSummary>, RecordError>> {
        Box::pin(async move { self.conversation_list(&filter).await.map_err(failed) })
    }

    fn transcript(
        &self,
        session: &SessionHash,
    ) -> Pending<'_, Result<Vec<TranscriptTurn>, RecordError>> {
        let session = session.clone();
        Box::pin(async move { self.transcript_of(&session).await.map_err(failed) })
    }

    fn review(
        &self,
        reply_ids: Vec<String>,
        review: Review,
    ) -> Pending<'_, Result<u64, RecordError>> {
        Box::pin(async move { self.mark(&reply_ids, review).await.map_err(failed) })
    }

    fn export(
        &self,
        session: Option<SessionHash>,
    ) -> BoxStream<'static, Result<TranscriptTurn, RecordError>> {
        // Page by reply id (in time order, `ReplyId::first_at`): bounded
        // memory however much is kept.
        let pool = self.pool.clone();
        stream::unfold(Some(String::new()), move |after| {
            let pool = pool.clone();
            let session = session.clone();
            async move {
                let after = after?;
                // One conversation's through its own index, not a walk of
                // every turn in time order looking for it.
                let sql = match &session {
                    Some(_) => format!(
                        "{TRANSCRIPT_SELECT} WHERE t.session_hash = $2 AND t.reply_id > $1 \
                         ORDER BY t.reply_id LIMIT 500"
                    ),
                    None => format!(
                        "{TRANSCRIPT_SELECT} WHERE t.reply_id > $1 ORDER BY t.reply_id LIMIT 500"
                    ),
                };
                let mut query = sqlx::query(&sql).bind(after);
                if let Some(session) = &session {
                    query = query.bind(session.as_str().to_owned());
                }
                let page = query.fetch_all(&pool).await.and_then(|rows| {
                    rows.iter()
                        .map(transcript_turn)
                        .collect::<Result<Vec<_>, _>>()
                });
                match page {
                    Err(error) => Some((vec![Err(failed(error))], None)),
                    Ok(turns) => {
                        let next = (turns.len() == 500)
                            .then(|| turns.last().map(|t| t.reply_id.clone()))
                            .flatten();
                        Some((turns.into_iter().map(Ok).collect(), next))
                    }
                }
            }
        })
        .flat_map(stream::iter)
        .boxed()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::clock::now_millis;

    /// A records database of its own, SQLite in a fresh temporary folder.
    pub(crate) async fn scratch() -> SqlRecords {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "support-chat-store-{}-{n}-{}",
            std::process::id(),
            now_millis()
        ));
        let url = format!("sqlite://{}/records.db", dir.display());
        SqlRecords::open(&url.parse().unwrap()).await.unwrap().0
    }

    #[test]
    fn database_urls_are_sqlite_paths_or_postgres() {
        let url: DatabaseUrl = "sqlite://data/support-chat.db".parse().unwrap();
        assert!(url.is_sqlite());
        assert!("sqlite:///abs/path.db".parse::<DatabaseUrl>().is_ok());
        let pg: DatabaseUrl = "postgres://chat:secret@db.internal/chat".parse().unwrap();
        assert!(!pg.is_sqlite());
        assert!(!pg.redacted().contains("secret"));
        for bad in [
            "",
            "sqlite://",
            "mysql://x/y",
            "data.db",
            "sqlite://:memory:",
        ] {
            assert!(bad.parse::<DatabaseUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_embedding_survives_eight_bits_in_direction() {
        let e: Vec<f32> = (0..384)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 300.0)
            .collect();
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        let unit: Vec<f32> = e.iter().map(|v| v / norm).collect();
        let back = dequantise(&quantise(&unit)).unwrap();
        let cosine: f32 = unit.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!(cosine > 0.999, "{cosine}");
    }
}
