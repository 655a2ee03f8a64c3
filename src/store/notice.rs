//! Complaint notices ([`ComplaintBook::claim_notice`] and
//! [`ComplaintBook::settle_notice`]) on the complaints' own rows
//! (`migrations/0007_complaint_notices.sql`), claimed with a lease in one
//! `UPDATE … RETURNING` that re-checks the row, as the handoff outbox does.
//!
//! [`ComplaintBook::claim_notice`]: crate::domain::care::ComplaintBook::claim_notice
//! [`ComplaintBook::settle_notice`]: crate::domain::care::ComplaintBook::settle_notice

use std::time::Duration;

use sqlx::Row;

use super::care::{COLUMNS, complaint};
use super::sql::SqlRecords;
use crate::domain::care::{NoticeClaim, NoticeOutcome};
use crate::domain::clock::{UnixMillis, now_millis};

impl SqlRecords {
    pub(super) async fn claim_one_notice(
        &self,
        owner: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Result<Option<NoticeClaim>, sqlx::Error> {
        let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let due =
            "notice_status = 'pending' AND notice_due_ms <= $3 AND notice_lease_until_ms < $3";
        let row = sqlx::query(&format!(
            "UPDATE complaints SET notice_lease_owner = $1, notice_lease_until_ms = $2 \
             WHERE reference = (SELECT reference FROM complaints WHERE {due} \
                 ORDER BY notice_due_ms LIMIT 1) AND {due} \
             RETURNING {COLUMNS}, notice_attempts"
        ))
        .bind(owner.to_owned())
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts: i64 = row.try_get(15)?;
        Ok(Some(NoticeClaim {
            complaint: complaint(&row)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        }))
    }

    pub(super) async fn settle_one_notice(
        &self,
        owner: &str,
        claim: &NoticeClaim,
        outcome: NoticeOutcome,
        error: Option<String>,
    ) -> Result<(), sqlx::Error> {
        let (status, due) = match outcome {
            NoticeOutcome::Sent => ("sent", now_millis()),
            NoticeOutcome::Retry(at) => ("pending", at),
            NoticeOutcome::Failed => ("failed", now_millis()),
            NoticeOutcome::Skipped => ("skipped", now_millis()),
        };
        sqlx::query(
            "UPDATE complaints SET notice_status = $1, notice_email = $2, notice_webhook = $3, \
               notice_attempts = $4, notice_error = $5, notice_due_ms = $6, \
               notice_lease_owner = NULL, notice_lease_until_ms = 0 \
             WHERE reference = $7 AND notice_lease_owner = $8",
        )
        .bind(status)
        .bind(claim.complaint.notice_email.as_str())
        .bind(claim.complaint.notice_webhook.as_str())
        .bind(i64::from(claim.attempts))
        .bind(error)
        .bind(due)
        .bind(claim.complaint.reference.clone())
        .bind(owner.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn retry_failed_notice(
        &self,
        reference: &str,
        now: UnixMillis,
    ) -> Result<bool, sqlx::Error> {
        // Its last error stays until the next attempt writes over it; a way
        // not configured when it was tried is tried again.
        let done = sqlx::query(
            "UPDATE complaints SET notice_status = 'pending', notice_attempts = 0, \
               notice_due_ms = $1, notice_lease_until_ms = 0, \
               notice_email = CASE notice_email WHEN 'done' THEN 'done' ELSE 'pending' END, \
               notice_webhook = CASE notice_webhook WHEN 'done' THEN 'done' ELSE 'pending' END \
             WHERE reference = $2 AND notice_status = 'failed' AND status = 'open'",
        )
        .bind(now)
        .bind(reference.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::care::{
        Amended, Complaint, ComplaintBook, ComplaintStatus, NoticeState, amend,
    };
    use crate::domain::channel::Channel;
    use crate::domain::records::SessionHash;

    const LEASE: Duration = Duration::from_secs(30);

    /// The due notice `owner` claims at `now`; there must be one.
    async fn claimed(book: &SqlRecords, owner: &str, now: UnixMillis) -> NoticeClaim {
        book.claim_notice(owner, now, LEASE).await.unwrap().unwrap()
    }

    /// A notice's e-mail and webhook states.
    fn ways(c: &Complaint) -> (Channel, Channel) {
        (c.notice_email, c.notice_webhook)
    }

    /// A complaint opened in `book` in the conversation `session`.
    async fn open_one(book: &SqlRecords, session: String, words: &str, made: i64) -> Complaint {
        let complaint = Complaint::new(SessionHash::unchecked(session), words.into(), made);
        book.open(&complaint).await.unwrap()
    }

    #[tokio::test]
    async fn a_notice_is_one_replicas_until_settled_and_each_way_is_retried_on_its_own() {
        let book = crate::store::sql::tests::scratch().await;
        let made = 1_000;
        let told = open_one(&book, "ab".repeat(16), "not good enough", made).await;
        assert_eq!(told.notice, NoticeState::Pending);

        // Not due until the records writer has had its time.
        assert_eq!(book.claim_notice("a", made, LEASE).await.unwrap(), None);
        let now = made + 10_000;
        let mut claim = claimed(&book, "a", now).await;
        assert_eq!(claim.complaint.reference, told.reference);
        assert_eq!(ways(&claim.complaint), (Channel::Pending, Channel::Pending));
        assert_eq!(book.claim_notice("b", now, LEASE).await.unwrap(), None);

        // The e-mail went, the webhook did not: only the webhook is retried.
        claim.complaint.notice_email = Channel::Done;
        claim.attempts = 1;
        let later = now + 5_000;
        let retry = NoticeOutcome::Retry(later);
        book.settle_notice("a", &claim, retry, Some("webhook: 500".into()))
            .await
            .unwrap();
        assert_eq!(book.claim_notice("b", now + 1, LEASE).await.unwrap(), None);
        let again = claimed(&book, "b", later).await;
        assert_eq!(ways(&again.complaint), (Channel::Done, Channel::Pending));
        assert_eq!(again.attempts, 1);

        // A claim whose replica went away lapses with its lease; only the
        // holder of the claim settles it.
        let lapsed = later + LEASE.as_millis() as i64 + 1;
        let mut taken = claimed(&book, "c", lapsed).await;
        book.settle_notice("b", &again, NoticeOutcome::Sent, None)
            .await
            .unwrap();
        let still = book.complaint(&told.reference).await.unwrap().unwrap();
        assert_eq!(still.notice, NoticeState::Pending, "b no longer held it");
        // c has no webhook configured: the notice says so.
        taken.complaint.notice_webhook = Channel::None;
        book.settle_notice("c", &taken, NoticeOutcome::Sent, None)
            .await
            .unwrap();
        let sent = book.complaint(&told.reference).await.unwrap().unwrap();
        assert_eq!(sent.notice, NoticeState::Sent);
        assert_eq!(ways(&sent), (Channel::Done, Channel::None));
        assert_eq!(
            book.claim_notice("d", lapsed * 2, LEASE).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_notice_settled_failed_or_skipped_is_not_claimed_again() {
        let book = crate::store::sql::tests::scratch().await;
        for (i, outcome, state) in [
            (0, NoticeOutcome::Failed, NoticeState::Failed),
            (1, NoticeOutcome::Skipped, NoticeState::Skipped),
        ] {
            let opened = open_one(&book, format!("{i}").repeat(32), "awful", 1_000).await;
            let claim = claimed(&book, "a", 60_000).await;
            book.settle_notice("a", &claim, outcome, None)
                .await
                .unwrap();
            let read = book.complaint(&opened.reference).await.unwrap().unwrap();
            assert_eq!(read.notice, state);
        }
        assert_eq!(book.claim_notice("a", 120_000, LEASE).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_failed_notice_of_an_open_complaint_goes_back_in_line_by_hand_with_its_error_kept() {
        let book = crate::store::sql::tests::scratch().await;
        let opened = open_one(&book, "cd".repeat(16), "dreadful", 1_000).await;
        let reference = opened.reference.as_str();
        assert!(
            !book.retry_notice(reference, 2_000).await.unwrap(),
            "pending"
        );

        // The e-mail went; the webhook never did.
        let mut claim = claimed(&book, "a", 60_000).await;
        claim.complaint.notice_email = Channel::Done;
        claim.attempts = 3;
        let error = Some("webhook: 500 Internal Server Error".to_owned());
        book.settle_notice("a", &claim, NoticeOutcome::Failed, error.clone())
            .await
            .unwrap();
        let failed = book.complaint(reference).await.unwrap().unwrap();
        assert_eq!(
            (failed.notice, &failed.notice_error),
            (NoticeState::Failed, &error)
        );

        assert!(!book.retry_notice("CO-NONE-NONE", 70_000).await.unwrap());
        assert!(book.retry_notice(reference, 70_000).await.unwrap());
        assert!(!book.retry_notice(reference, 70_000).await.unwrap(), "once");
        let pending = book.complaint(reference).await.unwrap().unwrap();
        assert_eq!(pending.notice, NoticeState::Pending);
        assert_eq!(pending.notice_error, error, "until the next attempt");
        let again = claimed(&book, "b", 70_000).await;
        assert_eq!(ways(&again.complaint), (Channel::Done, Channel::Pending));
        assert_eq!(again.attempts, 0);
        book.settle_notice("b", &again, NoticeOutcome::Sent, None)
            .await
            .unwrap();
        let sent = book.complaint(reference).await.unwrap().unwrap();
        assert_eq!((sent.notice, sent.notice_error), (NoticeState::Sent, None));

        // A way not configured where it failed is tried again too.
        let unsent = open_one(&book, "12".repeat(16), "shocking", 1_000).await;
        let mut claim = claimed(&book, "a", 75_000).await;
        claim.complaint.notice_email = Channel::None;
        book.settle_notice("a", &claim, NoticeOutcome::Failed, None)
            .await
            .unwrap();
        let failed = book.complaint(&unsent.reference).await.unwrap().unwrap();
        assert_eq!(ways(&failed), (Channel::None, Channel::Pending));
        assert!(book.retry_notice(&unsent.reference, 76_000).await.unwrap());
        let back = book.complaint(&unsent.reference).await.unwrap().unwrap();
        assert_eq!(ways(&back), (Channel::Pending, Channel::Pending));

        // A complaint someone has taken up needs no notice.
        let taken = open_one(&book, "ef".repeat(16), "appalling", 1_000).await;
        let claim = claimed(&book, "a", 80_000).await;
        book.settle_notice("a", &claim, NoticeOutcome::Failed, None)
            .await
            .unwrap();
        let acknowledged = amend(&book, &taken.reference, None, |c| {
            c.set_status(ComplaintStatus::Acknowledged, 90_000)
        })
        .await
        .unwrap();
        assert!(matches!(acknowledged, Amended::Done(_)));
        assert!(!book.retry_notice(&taken.reference, 95_000).await.unwrap());
    }
}
