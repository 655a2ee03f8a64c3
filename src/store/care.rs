//! The complaint records and the conversations' outcomes ([`ComplaintBook`])
//! in the records database, beside the records (`sql.rs`; the tables are
//! `migrations/0003_care.sql`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::{SqlRecords, count, failed};
use crate::domain::Pending;
use crate::domain::care::{
    Complaint, ComplaintBook, ComplaintStatus, ConversationOutcome, NOTICE_DUE_AFTER, NoticeClaim,
    NoticeOutcome, NoticeState, millis,
};
use crate::domain::channel::Channel;
use crate::domain::clock::UnixMillis;
use crate::domain::records::{RecordError, ReplyId, SessionHash};

/// A complaint's columns, in the order [`complaint`] reads them.
pub(super) const COLUMNS: &str = "reference, session_hash, made_ms, message, status, acknowledge_by_ms, \
     respond_by_ms, acknowledged_ms, resolved_ms, handled_by, updated_ms, notice_status, \
     notice_error, notice_email, notice_webhook";

pub(super) fn complaint(row: &AnyRow) -> Result<Complaint, sqlx::Error> {
    let status: String = row.try_get(4)?;
    Ok(Complaint {
        reference: row.try_get(0)?,
        session: SessionHash::unchecked(row.try_get(1)?),
        made: row.try_get(2)?,
        message: row.try_get(3)?,
        status: ComplaintStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status:?}").into()))?,
        acknowledge_by: row.try_get(5)?,
        respond_by: row.try_get(6)?,
        acknowledged: row.try_get(7)?,
        resolved: row.try_get(8)?,
        handled_by: row.try_get(9)?,
        updated: row.try_get(10)?,
        notice: NoticeState::parse(&row.try_get::<String, _>(11)?),
        notice_error: row.try_get(12)?,
        notice_email: Channel::parse(&row.try_get::<String, _>(13)?),
        notice_webhook: Channel::parse(&row.try_get::<String, _>(14)?),
    })
}

/// A conversation's complaint not yet resolved (at most one stands).
fn standing_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM complaints WHERE session_hash = $1 AND status <> 'resolved' \
         ORDER BY made_ms LIMIT 1"
    )
}

impl SqlRecords {
    async fn open_complaint(&self, c: &Complaint) -> Result<Complaint, sqlx::Error> {
        // One opening at a time in a conversation (across replicas), so a
        // second sees the first's complaint rather than making another.
        let mut tx = if self.postgres.is_none() {
            // The database's write lock up front: a second waits for it.
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            let mut tx = self.pool.begin().await?;
            // Held until the transaction ends; read committed, so the
            // SELECT below then sees what the holder before it wrote.
            sqlx::query(
                "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS l",
            )
            .bind(c.session.as_str().to_owned())
            .fetch_one(&mut *tx)
            .await?;
            tx
        };
        let standing = sqlx::query(&standing_sql())
            .bind(c.session.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = standing {
            return complaint(&row);
        }
        // Its notice to the team (`notice.rs`).
        let notice_due = c.made + millis(NOTICE_DUE_AFTER);
        sqlx::query(&format!(
            "INSERT INTO complaints ({COLUMNS}, notice_due_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(c.reference.clone())
        .bind(c.session.as_str().to_owned())
        .bind(c.made)
        .bind(c.message.clone())
        .bind(c.status.as_str())
        .bind(c.acknowledge_by)
        .bind(c.respond_by)
        .bind(c.acknowledged)
        .bind(c.resolved)
        .bind(c.handled_by.clone())
        .bind(c.updated)
        .bind(c.notice.as_str())
        .bind(c.notice_error.clone())
        .bind(c.notice_email.as_str())
        .bind(c.notice_webhook.as_str())
        .bind(notice_due)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(c.clone())
    }

    async fn list_complaints(
        &self,
        status: Option<ComplaintStatus>,
        limit: usize,
    ) -> Result<Vec<Complaint>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM complaints WHERE ($1 = '' OR status = $1) \
             ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, made_ms, reference \
             LIMIT $2"
        ))
        .bind(status.map_or("", ComplaintStatus::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(complaint).collect()
    }

    async fn standing_complaint(
        &self,
        session: &SessionHash,
    ) -> Result<Option<Complaint>, sqlx::Error> {
        let row = sqlx::query(&standing_sql())
            .bind(session.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(complaint).transpose()
    }

    async fn one_complaint(&self, reference: &str) -> Result<Option<Complaint>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM complaints WHERE reference = $1"
        ))
        .bind(reference.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(complaint).transpose()
    }

    async fn update_complaint(
        &self,
        c: &Complaint,
        read_updated: UnixMillis,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE complaints SET status = $1, acknowledged_ms = $2, resolved_ms = $3, handled_by = $4, \
             updated_ms = $5 WHERE reference = $6 AND updated_ms = $7",
        )
        .bind(c.status.as_str())
        .bind(c.acknowledged)
        .bind(c.resolved)
        .bind(c.handled_by.clone())
        .bind(c.updated)
        .bind(c.reference.clone())
        .bind(read_updated)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complaint_counts(&self) -> Result<Vec<(ComplaintStatus, u64)>, sqlx::Error> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM complaints GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = Vec::new();
        for row in &rows {
            if let Some(status) = ComplaintStatus::parse(&row.try_get::<String, _>(0)?) {
                counts.push((status, count(row, 1)?));
            }
        }
        Ok(counts)
    }

    async fn conversation_outcomes(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<ConversationOutcome>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT t.session_hash, MIN(t.at_ms), MAX(t.at_ms), COUNT(*), \
               SUM(CASE WHEN t.outcome = 'answered' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN t.outcome = 'handoff' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN f.helpful = 1 THEN 1 ELSE 0 END), \
               SUM(CASE WHEN f.helpful = 0 THEN 1 ELSE 0 END), \
               SUM(CASE WHEN t.complaint = 1 THEN 1 ELSE 0 END) \
             FROM turns t LEFT JOIN feedback f ON f.reply_id = t.reply_id \
             WHERE t.reply_id >= $1 GROUP BY t.session_hash",
        )
        .bind(ReplyId::first_at(since))
        .fetch_all(&self.pool)
        .await?;
        let mut by_session = BTreeMap::new();
        for row in &rows {
            let session: String = row.try_get(0)?;
            by_session.insert(
                session.clone(),
                ConversationOutcome {
                    session: SessionHash::unchecked(session),
                    first_at: row.try_get(1)?,
                    last_at: row.try_get(2)?,
                    messages: count(row, 3)?,
                    answered: count(row, 4)?,
                    handed_off: count(row, 5)?,
                    helpful: count(row, 6)?,
                    not_helpful: count(row, 7)?,
                    complaint: count(row, 8)? > 0,
                    care: Vec::new(),
                    handoff_requested: false,
                },
            );
        }
        let cues = sqlx::query(
            "SELECT DISTINCT session_hash, care FROM turns WHERE reply_id >= $1 AND care IS NOT NULL",
        )
        .bind(ReplyId::first_at(since))
        .fetch_all(&self.pool)
        .await?;
        for row in &cues {
            let session: String = row.try_get(0)?;
            if let Some(c) = by_session.get_mut(&session) {
                c.care.push(row.try_get(1)?);
                c.care.sort();
            }
        }
        let asked: BTreeSet<String> =
            sqlx::query("SELECT DISTINCT session_hash FROM handoffs WHERE created_ms >= $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, sqlx::Error>>()?;
        for (session, c) in &mut by_session {
            c.handoff_requested = asked.contains(session);
        }
        let mut outcomes: Vec<ConversationOutcome> = by_session.into_values().collect();
        outcomes.sort_by_key(|c| std::cmp::Reverse(c.last_at));
        Ok(outcomes)
    }
}

impl ComplaintBook for SqlRecords {
    fn open(&self, complaint: &Complaint) -> Pending<'_, Result<Complaint, RecordError>> {
        let complaint = complaint.clone();
        Box::pin(async move { self.open_complaint(&complaint).await.map_err(failed) })
    }

    fn complaints(
        &self,
        status: Option<ComplaintStatus>,
        limit: usize,
    ) -> Pending<'_, Result<Vec<Complaint>, RecordError>> {
        Box::pin(async move { self.list_complaints(status, limit).await.map_err(failed) })
    }

    fn standing(
        &self,
        session: &SessionHash,
    ) -> Pending<'_, Result<Option<Complaint>, RecordError>> {
        let session = session.clone();
        Box::pin(async move { self.standing_complaint(&session).await.map_err(failed) })
    }

    fn complaint(&self, reference: &str) -> Pending<'_, Result<Option<Complaint>, RecordError>> {
        let reference = reference.to_owned();
        Box::pin(async move { self.one_complaint(&reference).await.map_err(failed) })
    }

    fn update(
        &self,
        complaint: &Complaint,
        read_updated: UnixMillis,
    ) -> Pending<'_, Result<bool, RecordError>> {
        let complaint = complaint.clone();
        Box::pin(async move {
            self.update_complaint(&complaint, read_updated)
                .await
                .map_err(failed)
        })
    }

    fn counts(&self) -> Pending<'_, Result<Vec<(ComplaintStatus, u64)>, RecordError>> {
        Box::pin(async move { self.complaint_counts().await.map_err(failed) })
    }

    fn outcomes(
        &self,
        since: UnixMillis,
    ) -> Pending<'_, Result<Vec<ConversationOutcome>, RecordError>> {
        Box::pin(async move { self.conversation_outcomes(since).await.map_err(failed) })
    }

    fn claim_notice(
        &self,
        owner: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Pending<'_, Result<Option<NoticeClaim>, RecordError>> {
        let owner = owner.to_owned();
        Box::pin(async move {
            self.claim_one_notice(&owner, now, lease)
                .await
                .map_err(failed)
        })
    }

    fn settle_notice(
        &self,
        owner: &str,
        claim: &NoticeClaim,
        outcome: NoticeOutcome,
        error: Option<String>,
    ) -> Pending<'_, Result<(), RecordError>> {
        let (owner, claim) = (owner.to_owned(), claim.clone());
        Box::pin(async move {
            self.settle_one_notice(&owner, &claim, outcome, error)
                .await
                .map_err(failed)
        })
    }

    fn retry_notice(
        &self,
        reference: &str,
        now: UnixMillis,
    ) -> Pending<'_, Result<bool, RecordError>> {
        let reference = reference.to_owned();
        Box::pin(async move {
            self.retry_failed_notice(&reference, now)
                .await
                .map_err(failed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::care::{Amended, amend};

    #[tokio::test]
    async fn a_change_written_meanwhile_is_never_undone_by_another() {
        let book = super::super::sql::tests::scratch().await;
        let session = SessionHash::unchecked("ab".repeat(16));
        let opened = book
            .open(&Complaint::new(session, "not good enough".into(), 1_000))
            .await
            .unwrap();
        let reference = opened.reference.clone();
        // Written back over a newer change: refused, and nothing written.
        let mut acknowledged = opened.clone();
        acknowledged.set_status(ComplaintStatus::Acknowledged, 2_000);
        assert!(book.update(&acknowledged, opened.updated).await.unwrap());
        let mut stale = opened.clone();
        stale.handled_by = Some("Sam".into());
        assert!(!book.update(&stale, opened.updated).await.unwrap());
        let now = book.complaint(&reference).await.unwrap().unwrap();
        assert_eq!((now.acknowledged, now.handled_by), (Some(2_000), None));

        // Many people at once, on a pool of connections: one resolves it,
        // the others name a handler. The resolution stands, with its times.
        let resolve = amend(&book, &reference, None, |c| {
            c.set_status(ComplaintStatus::Resolved, 3_000)
        });
        let handlers = (0..8).map(|i| {
            let book = &book;
            let reference = &reference;
            async move {
                amend(book, reference, None, |c| {
                    c.handled_by = Some(format!("handler {i}"))
                })
                .await
            }
        });
        let (resolved, named) = tokio::join!(resolve, futures_util::future::join_all(handlers));
        assert!(matches!(resolved.unwrap(), Amended::Done(_)));
        assert!(
            named
                .into_iter()
                .all(|n| matches!(n.unwrap(), Amended::Done(_)))
        );
        let last = book.complaint(&reference).await.unwrap().unwrap();
        assert_eq!(last.status, ComplaintStatus::Resolved);
        assert_eq!(
            (last.acknowledged, last.resolved),
            (Some(2_000), Some(3_000))
        );
        assert!(last.handled_by.as_deref().unwrap().starts_with("handler "));
        assert_eq!(
            amend(&book, "CO-NONE-NONE", None, |_| {}).await.unwrap(),
            Amended::Missing
        );

        // A person who decided on the complaint as it was before all that
        // changes nothing, and is shown it as it is; on the latest, does.
        let reopen = |c: &mut Complaint| c.set_status(ComplaintStatus::Open, 9_000);
        assert_eq!(
            amend(&book, &reference, Some(opened.updated), reopen)
                .await
                .unwrap(),
            Amended::Stale(last.clone())
        );
        let Amended::Done(reopened) = amend(&book, &reference, Some(last.updated), reopen)
            .await
            .unwrap()
        else {
            panic!("the latest is changed");
        };
        assert_eq!(reopened.status, ComplaintStatus::Open);

        // A change that changes nothing writes nothing: a form saved again
        // as it was does not make a second tab's page stale.
        let unchanging: [fn(&mut Complaint); 2] =
            [|_| {}, |c| c.set_status(ComplaintStatus::Open, 10_000)];
        for same in unchanging {
            assert_eq!(
                amend(&book, &reference, Some(reopened.updated), same)
                    .await
                    .unwrap(),
                Amended::Done(reopened.clone())
            );
        }
        let now = book.complaint(&reference).await.unwrap().unwrap();
        assert_eq!(now.updated, reopened.updated);
    }
}
