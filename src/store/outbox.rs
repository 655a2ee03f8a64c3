//! The handoff outbox ([`Outbox`]) in the records database, beside the
//! records (`sql.rs`; the table is `migrations/0002_handoffs.sql`). A
//! replica claims one due handoff at a time with a lease, in one `UPDATE …
//! RETURNING` that re-checks the row, so two replicas never hold the same
//! one; settling an attempt releases the claim.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::{ERASE_LOCK, Erased, SqlRecords, count, failed, json_strings};
use crate::domain::Pending;
use crate::domain::clock::{UnixMillis, now_millis};
use crate::domain::handoff::{Channel, Contact, Handoff, NotStored, Outbox, Recent, Status};
use crate::domain::records::{RecordError, SessionHash};

/// The PostgreSQL advisory lock a handoff is counted against its caps and
/// stored under ("SCTAKE"): one at a time across replicas (they are rare).
const TAKE_LOCK: i64 = 0x5343_5441_4b45;

/// A handoff's columns, in the order [`handoff`] reads them.
const HANDOFF_COLUMNS: &str = "reference, session_hash, client_hash, created_ms, email, name, note, \
     email_channel, webhook_channel, status, attempts, last_error";

fn handoff(row: &AnyRow) -> Result<Handoff, sqlx::Error> {
    let session: String = row.try_get(1)?;
    let status: String = row.try_get(9)?;
    let attempts: i64 = row.try_get(10)?;
    Ok(Handoff {
        reference: row.try_get(0)?,
        session: SessionHash::parse(&session).unwrap_or_else(|| SessionHash::unchecked(session)),
        client: row.try_get(2)?,
        created: row.try_get(3)?,
        contact: Contact {
            email: row.try_get(4)?,
            name: row.try_get(5)?,
            note: row.try_get(6)?,
        },
        email: Channel::parse(&row.try_get::<String, _>(7)?),
        webhook: Channel::parse(&row.try_get::<String, _>(8)?),
        status: Status::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status:?}").into()))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error: row.try_get(11)?,
    })
}

impl SqlRecords {
    /// Counts the session's and the client's handoffs since `since` and
    /// stores `h` if both are under `per_window` and its conversation was not
    /// erased since it was asked for, holding [`TAKE_LOCK`] (and on
    /// PostgreSQL [`ERASE_LOCK`] shared, as the records' writer does).
    async fn put_capped_handoff(
        &self,
        h: &Handoff,
        due: UnixMillis,
        since: UnixMillis,
        per_window: u32,
    ) -> Result<Result<(), NotStored>, sqlx::Error> {
        let mut tx = self.begin_locked(TAKE_LOCK).await?;
        if self.postgres.is_some() {
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock_shared($1)) AS l")
                .bind(ERASE_LOCK)
                .fetch_one(&mut *tx)
                .await?;
        }
        let erased = Erased(
            sqlx::query_as("SELECT session_hash, erased_ms FROM erasures WHERE session_hash = $1")
                .bind(h.session.as_str().to_owned())
                .fetch_all(&mut *tx)
                .await?,
        );
        if erased.covers(&h.session, h.created) {
            return Ok(Err(NotStored::Erased));
        }
        let row = sqlx::query(
            "SELECT SUM(CASE WHEN session_hash = $1 THEN 1 ELSE 0 END), \
                    SUM(CASE WHEN client_hash = $2 THEN 1 ELSE 0 END) \
             FROM handoffs WHERE created_ms >= $3 AND (session_hash = $1 OR client_hash = $2)",
        )
        .bind(h.session.as_str().to_owned())
        .bind(h.client.clone())
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let (by_session, by_client) = (count(&row, 0)?, count(&row, 1)?);
        if by_session.max(by_client) >= u64::from(per_window) {
            // When each count at the cap falls under it: when its
            // `per_window`-th newest handoff (index `count - per_window`
            // from the oldest) leaves the window.
            let mut frees = async |column: &str, value: String, counted: u64| {
                let Some(offset) = counted.checked_sub(u64::from(per_window)) else {
                    return Ok::<_, sqlx::Error>(None);
                };
                sqlx::query_scalar(&format!(
                    "SELECT created_ms FROM handoffs WHERE {column} = $1 AND created_ms >= $2 \
                     ORDER BY created_ms LIMIT 1 OFFSET $3"
                ))
                .bind(value)
                .bind(since)
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .fetch_optional(&mut *tx)
                .await
            };
            let frees_session =
                frees("session_hash", h.session.as_str().to_owned(), by_session).await?;
            let frees_client = frees("client_hash", h.client.clone(), by_client).await?;
            return Ok(Err(NotStored::Capped(Recent {
                by_session: u32::try_from(by_session).unwrap_or(u32::MAX),
                by_client: u32::try_from(by_client).unwrap_or(u32::MAX),
                frees_session,
                frees_client,
            })));
        }
        sqlx::query(&format!(
            "INSERT INTO handoffs ({HANDOFF_COLUMNS}, next_attempt_ms, lease_until_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0)"
        ))
        .bind(h.reference.clone())
        .bind(h.session.as_str().to_owned())
        .bind(h.client.clone())
        .bind(h.created)
        .bind(h.contact.email.clone())
        .bind(h.contact.name.clone())
        .bind(h.contact.note.clone())
        .bind(h.email.as_str())
        .bind(h.webhook.as_str())
        .bind(h.status.as_str())
        .bind(i64::from(h.attempts))
        .bind(h.last_error.clone())
        .bind(due)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn claim_one(
        &self,
        owner: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Result<Option<Handoff>, sqlx::Error> {
        // One statement: the row is re-checked under its lock, so of two
        // replicas racing for it one updates it and the other none.
        let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let row = sqlx::query(&format!(
            "UPDATE handoffs SET lease_owner = $1, lease_until_ms = $2 \
             WHERE reference = (SELECT reference FROM handoffs \
                 WHERE status IN ('pending', 'retrying') AND next_attempt_ms <= $3 AND lease_until_ms < $3 \
                 ORDER BY next_attempt_ms LIMIT 1) \
               AND status IN ('pending', 'retrying') AND lease_until_ms < $3 \
             RETURNING {HANDOFF_COLUMNS}"
        ))
        .bind(owner.to_owned())
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(handoff).transpose()
    }

    async fn settle_one(
        &self,
        owner: &str,
        h: &Handoff,
        next: Option<UnixMillis>,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        sqlx::query(
            "UPDATE handoffs SET email_channel = $1, webhook_channel = $2, status = $3, attempts = $4, \
               last_error = $5, next_attempt_ms = $6, lease_owner = NULL, lease_until_ms = 0, \
               delivered_ms = $7 \
             WHERE reference = $8 AND lease_owner = $9",
        )
        .bind(h.email.as_str())
        .bind(h.webhook.as_str())
        .bind(h.status.as_str())
        .bind(i64::from(h.attempts))
        .bind(h.last_error.clone())
        // A settled handoff's is when it settled: its retention runs from there.
        .bind(next.unwrap_or(now))
        .bind((h.status == Status::Delivered).then_some(now))
        .bind(h.reference.clone())
        .bind(owner.to_owned())
        .execute(&self.pool)
        .await
        .map(drop)
    }

    async fn list_handoffs(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<Handoff>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE ($1 = '' OR status = $1) \
             ORDER BY created_ms DESC, reference LIMIT $2"
        ))
        .bind(status.map_or("", Status::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(handoff).collect()
    }

    async fn handoffs_of_sessions(
        &self,
        sessions: &[SessionHash],
    ) -> Result<Vec<Handoff>, sqlx::Error> {
        let list: Vec<&str> = sessions.iter().map(SessionHash::as_str).collect();
        let rows = sqlx::query(&format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE session_hash IN ({}) \
             ORDER BY created_ms DESC, reference",
            json_strings(self.postgres.is_some())
        ))
        .bind(serde_json::to_string(&list).expect("strings serialise"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(handoff).collect()
    }

    async fn retry_failed(&self, reference: &str, now: UnixMillis) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE handoffs SET status = 'retrying', attempts = 0, next_attempt_ms = $1, lease_until_ms = 0 \
             WHERE reference = $2 AND status = 'failed'",
        )
        .bind(now)
        .bind(reference.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl SqlRecords {
    async fn handoff_counts(&self) -> Result<Vec<(Status, u64)>, sqlx::Error> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM handoffs GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = Vec::new();
        for row in &rows {
            let status: String = row.try_get(0)?;
            if let Some(status) = Status::parse(&status) {
                counts.push((status, count(row, 1)?));
            }
        }
        Ok(counts)
    }
}

impl Outbox for SqlRecords {
    fn put_capped(
        &self,
        handoff: &Handoff,
        due: UnixMillis,
        since: UnixMillis,
        per_window: u32,
    ) -> Pending<'_, Result<Result<(), NotStored>, RecordError>> {
        let handoff = handoff.clone();
        Box::pin(async move {
            self.put_capped_handoff(&handoff, due, since, per_window)
                .await
                .map_err(failed)
        })
    }

    fn claim(
        &self,
        owner: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Pending<'_, Result<Option<Handoff>, RecordError>> {
        let owner = owner.to_owned();
        Box::pin(async move { self.claim_one(&owner, now, lease).await.map_err(failed) })
    }

    fn settle(
        &self,
        owner: &str,
        handoff: &Handoff,
        next: Option<UnixMillis>,
    ) -> Pending<'_, Result<(), RecordError>> {
        let (owner, handoff) = (owner.to_owned(), handoff.clone());
        Box::pin(async move {
            self.settle_one(&owner, &handoff, next)
                .await
                .map_err(failed)
        })
    }

    fn handoffs(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Pending<'_, Result<Vec<Handoff>, RecordError>> {
        Box::pin(async move { self.list_handoffs(status, limit).await.map_err(failed) })
    }

    fn handoffs_of(
        &self,
        sessions: &[SessionHash],
    ) -> Pending<'_, Result<Vec<Handoff>, RecordError>> {
        let sessions = sessions.to_vec();
        Box::pin(async move { self.handoffs_of_sessions(&sessions).await.map_err(failed) })
    }

    fn holds(&self, owner: &str, reference: &str) -> Pending<'_, Result<bool, RecordError>> {
        let (owner, reference) = (owner.to_owned(), reference.to_owned());
        Box::pin(async move {
            sqlx::query("SELECT 1 FROM handoffs WHERE reference = $1 AND lease_owner = $2")
                .bind(reference)
                .bind(owner)
                .fetch_optional(&self.pool)
                .await
                .map(|row| row.is_some())
                .map_err(failed)
        })
    }

    fn retry(&self, reference: &str, now: UnixMillis) -> Pending<'_, Result<bool, RecordError>> {
        let reference = reference.to_owned();
        Box::pin(async move { self.retry_failed(&reference, now).await.map_err(failed) })
    }

    fn counts(&self) -> Pending<'_, Result<Vec<(Status, u64)>, RecordError>> {
        Box::pin(async move { self.handoff_counts().await.map_err(failed) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::handoff::{Delivery, Dispatch, Parcel};

    fn handoff(reference: &str, created: UnixMillis) -> Handoff {
        Handoff {
            reference: reference.into(),
            session: SessionHash::unchecked("ab".repeat(16)),
            client: "client".into(),
            created,
            contact: Contact::parse("jo@example.com", None, None).unwrap(),
            email: Channel::Pending,
            webhook: Channel::None,
            attempts: 0,
            status: Status::Pending,
            last_error: None,
        }
    }

    const LEASE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_claim_is_one_replicas_until_it_is_settled_or_its_lease_lapses() {
        let outbox = super::super::sql::tests::scratch().await;
        let now = now_millis();
        put(&outbox, &handoff("HO-AAAA-AAAA", now)).await;
        let mine = outbox.claim("a", now, LEASE).await.unwrap().unwrap();
        assert_eq!(mine.reference, "HO-AAAA-AAAA");
        assert!(
            outbox.claim("b", now, LEASE).await.unwrap().is_none(),
            "held by a"
        );
        // a dies mid-attempt: after the lease, b takes it over...
        let later = now + 61_000;
        let taken = outbox.claim("b", later, LEASE).await.unwrap().unwrap();
        // ...and a's late outcome is ignored: the claim is b's now.
        let mut done = mine.clone();
        done.status = Status::Delivered;
        done.email = Channel::Done;
        outbox.settle("a", &done, None).await.unwrap();
        let listed = outbox.handoffs(None, 10).await.unwrap();
        assert_eq!(listed[0].status, Status::Pending);
        let mut retry = taken.clone();
        retry.status = Status::Retrying;
        retry.attempts = 1;
        outbox
            .settle("b", &retry, Some(later + 30_000))
            .await
            .unwrap();
        assert!(
            outbox
                .claim("a", later + 29_000, LEASE)
                .await
                .unwrap()
                .is_none(),
            "not due yet"
        );
        let again = outbox
            .claim("a", later + 30_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.attempts, 1);
    }

    #[tokio::test]
    async fn a_handoff_is_first_claimed_when_it_is_due_not_when_it_was_asked() {
        let outbox = super::super::sql::tests::scratch().await;
        let now = now_millis();
        let stored = outbox.put_capped(&handoff("HO-BBBB-BBBB", now), now + 500, 0, u32::MAX);
        assert_eq!(stored.await.unwrap(), Ok(()));
        assert!(outbox.claim("a", now + 499, LEASE).await.unwrap().is_none());
        let due = outbox.claim("a", now + 500, LEASE).await.unwrap().unwrap();
        assert_eq!((due.reference.as_str(), due.created), ("HO-BBBB-BBBB", now));
    }

    #[tokio::test]
    async fn a_settled_handoff_is_kept_the_retention_from_when_it_settled_not_when_it_was_asked() {
        use crate::domain::records::RecordStore;
        let outbox = super::super::sql::tests::scratch().await;
        let day = 24 * 60 * 60 * 1000;
        // Asked for 40 days ago, delivered only now (after a long outage).
        put(&outbox, &handoff("HO-FFFF-FFFF", now_millis() - 40 * day)).await;
        let mut delivered = outbox
            .claim("a", now_millis(), LEASE)
            .await
            .unwrap()
            .unwrap();
        delivered.status = Status::Delivered;
        delivered.email = Channel::Done;
        outbox.settle("a", &delivered, None).await.unwrap();
        let thirty_days_ago = now_millis() - 30 * day;
        outbox.purge(thirty_days_ago, 0).await.unwrap();
        assert_eq!(outbox.handoffs(None, 10).await.unwrap().len(), 1);
        outbox.purge(now_millis() + 1, 0).await.unwrap();
        assert!(outbox.handoffs(None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn only_a_failed_handoff_goes_back_in_line_and_counts_follow_statuses() {
        let outbox = super::super::sql::tests::scratch().await;
        let now = now_millis();
        put(&outbox, &handoff("HO-BBBB-BBBB", now)).await;
        assert!(
            !outbox.retry("HO-BBBB-BBBB", now).await.unwrap(),
            "not failed"
        );
        let mut claimed = outbox.claim("a", now, LEASE).await.unwrap().unwrap();
        claimed.status = Status::Failed;
        claimed.attempts = 3;
        outbox.settle("a", &claimed, None).await.unwrap();
        assert_eq!(outbox.counts().await.unwrap(), [(Status::Failed, 1)]);
        assert!(
            outbox.claim("a", now + 1, LEASE).await.unwrap().is_none(),
            "failed is not due"
        );
        assert!(outbox.retry("HO-BBBB-BBBB", now).await.unwrap());
        let back = outbox.claim("a", now + 1, LEASE).await.unwrap().unwrap();
        assert_eq!((back.status, back.attempts), (Status::Retrying, 0));
    }

    #[tokio::test]
    async fn a_handoff_is_stored_only_while_its_session_and_its_client_are_under_the_cap() {
        let outbox = super::super::sql::tests::scratch().await;
        let now = now_millis();
        put(&outbox, &handoff("HO-CCCC-CCCC", now - 10_000)).await;
        put(&outbox, &handoff("HO-DDDD-DDDD", now)).await;
        let mut other = handoff("HO-EEEE-EEEE", now);
        other.session = SessionHash::unchecked("cd".repeat(16));
        put(&outbox, &other).await;
        let mut next = handoff("HO-FFFF-FFFF", now);
        // The client's two in the last 5 s cap it; the session has one.
        let recent = capped(&outbox, &next, now - 5_000, 2).await;
        assert_eq!((recent.by_session, recent.by_client), (1, 2));
        assert_eq!(
            (recent.frees_session, recent.frees_client),
            (None, Some(now)),
            "only the count at the cap frees"
        );
        // Another client: only the session's two in the last minute count.
        next.client = "nobody".into();
        let recent = capped(&outbox, &next, now - 60_000, 2).await;
        assert_eq!((recent.by_session, recent.by_client), (2, 0));
        assert_eq!(
            (recent.frees_session, recent.frees_client),
            (Some(now - 10_000), None)
        );
        // Over a lowered cap of one, the session's count falls under it only
        // when its newer handoff leaves the window too.
        let recent = capped(&outbox, &next, now - 60_000, 1).await;
        assert_eq!(recent.frees_session, Some(now));
        assert_eq!(outbox.handoffs(None, 10).await.unwrap().len(), 3);
        let stored = outbox.put_capped(&next, now, now - 5_000, 2).await.unwrap();
        assert_eq!(stored, Ok(()));
        assert_eq!(outbox.handoffs(None, 10).await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_handoff_asked_for_before_its_conversation_was_erased_is_not_stored_after() {
        use crate::domain::records::RecordStore;
        let outbox = super::super::sql::tests::scratch().await;
        let asked = now_millis();
        let session = SessionHash::unchecked("ab".repeat(16));
        outbox.erase(&session).await.unwrap();
        let refused = outbox
            .put_capped(&handoff("HO-GGGG-GGGG", asked), asked, 0, u32::MAX)
            .await
            .unwrap();
        assert_eq!(refused, Err(NotStored::Erased));
        assert!(outbox.handoffs(None, 10).await.unwrap().is_empty());
        // Asked for well after the erase (the team erased it; the visitor
        // went on): taken.
        let later = handoff("HO-HHHH-HHHH", asked + 60_000);
        assert_eq!(
            outbox
                .put_capped(&later, later.created, 0, u32::MAX)
                .await
                .unwrap(),
            Ok(())
        );
    }

    /// A courier that counts what it was given, and first erases the
    /// conversation when told to (the visitor deleting it mid-delivery).
    struct Courier {
        sent: std::sync::atomic::AtomicUsize,
        /// The complaints it was told of, by reference.
        told: std::sync::Mutex<Vec<String>>,
        erases: Option<Arc<SqlRecords>>,
        /// Refuses every notice.
        refuses: bool,
    }

    impl crate::domain::handoff::Courier for Courier {
        fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Pending<'a, Result<(), String>> {
            Box::pin(async move {
                if let Some(store) = &self.erases {
                    use crate::domain::records::RecordStore;
                    store.erase(&parcel.handoff.session).await.unwrap();
                }
                self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
        }

        fn notify<'a>(
            &'a self,
            notice: &'a crate::domain::care::Notice,
        ) -> Pending<'a, Result<(), String>> {
            if self.refuses {
                return Box::pin(async { Err("refused".to_owned()) });
            }
            let reference = notice.complaint.reference.clone();
            self.told.lock().unwrap().push(reference);
            Box::pin(async { Ok(()) })
        }
    }

    /// This replica's worker on `store`, by `email` and `webhook`.
    fn dispatch(store: &Arc<SqlRecords>, email: Arc<Courier>, webhook: Arc<Courier>) -> Dispatch {
        Dispatch {
            outbox: store.clone(),
            records: store.clone(),
            complaints: store.clone(),
            email: Some(email),
            webhook: Some(webhook),
            delivery: Delivery {
                first_retry: Duration::from_secs(1),
                max_wait: Duration::from_secs(1),
                max_attempts: 3,
                lease: LEASE,
            },
            wake: Default::default(),
            availability: Box::new(|| None),
            zone: jiff::tz::TimeZone::UTC,
            owner: "a".into(),
        }
    }

    fn courier(erases: Option<Arc<SqlRecords>>) -> Arc<Courier> {
        Arc::new(Courier {
            sent: Default::default(),
            told: Default::default(),
            erases,
            refuses: false,
        })
    }

    #[tokio::test]
    async fn a_conversation_erased_while_its_handoff_goes_out_stops_what_was_not_sent_yet() {
        let store = Arc::new(super::super::sql::tests::scratch().await);
        let dispatch = |email, webhook| dispatch(&store, email, webhook);
        let both = |reference: &str| Handoff {
            webhook: Channel::Pending,
            ..handoff(reference, now_millis() - 1)
        };

        put(&store, &both("HO-AAAA-AAAA")).await;
        let (email, webhook) = (courier(None), courier(None));
        assert!(
            dispatch(email.clone(), webhook.clone())
                .one()
                .await
                .unwrap()
        );
        let sent = |c: &Courier| c.sent.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!((sent(&email), sent(&webhook)), (1, 1), "both ways");
        let listed = store.handoffs(None, 10).await.unwrap();
        assert_eq!(listed[0].status, Status::Delivered);

        // The e-mail erases the conversation as it goes: the webhook is not
        // sent, and nothing of the handoff is left.
        put(&store, &both("HO-BBBB-BBBB")).await;
        let (email, webhook) = (courier(Some(store.clone())), courier(None));
        assert!(
            dispatch(email.clone(), webhook.clone())
                .one()
                .await
                .unwrap()
        );
        assert_eq!((sent(&email), sent(&webhook)), (1, 0));
        assert!(store.handoffs(None, 10).await.unwrap().is_empty());
        assert!(!dispatch(email, webhook).one().await.unwrap(), "none due");
    }

    #[tokio::test]
    async fn a_new_complaint_waits_for_its_turn_and_one_acknowledged_before_it_went_is_not_told() {
        use crate::domain::care::{Complaint, ComplaintBook, ComplaintStatus, NoticeState};
        let store = Arc::new(super::super::sql::tests::scratch().await);
        let (email, webhook) = (courier(None), courier(None));
        let dispatch = dispatch(&store, email.clone(), webhook.clone());
        let open = |session: &str, made| {
            let store = store.clone();
            let complaint = Complaint::new(
                SessionHash::unchecked(session.repeat(16)),
                "awful".into(),
                made,
            );
            async move { store.open(&complaint).await.unwrap() }
        };
        let told = |c: &Courier| c.told.lock().unwrap().clone();

        // Just made, its turn not recorded yet: it waits for it, no attempt.
        let waiting = open("ab", now_millis() - 1_000).await;
        assert!(!dispatch.notice_one().await.unwrap());
        assert!(told(&email).is_empty() && told(&webhook).is_empty());
        let read = store.complaint(&waiting.reference).await.unwrap().unwrap();
        assert_eq!(read.notice, NoticeState::Pending);

        // Acknowledged before it went: not told.
        let seen = open("cd", now_millis() - 60_000).await;
        let mut acknowledged = seen.clone();
        acknowledged.set_status(ComplaintStatus::Acknowledged, now_millis());
        assert!(store.update(&acknowledged, seen.updated).await.unwrap());
        // Long made and still open: told by both ways, turn or none.
        let late = open("ef", now_millis() - 60_000).await;
        while dispatch.notice_one().await.unwrap() {}
        assert_eq!(told(&email), vec![late.reference.clone()]);
        assert_eq!(told(&webhook), vec![late.reference.clone()]);
        let state = |reference: String| {
            let store = store.clone();
            async move { store.complaint(&reference).await.unwrap().unwrap().notice }
        };
        assert_eq!(state(seen.reference).await, NoticeState::Skipped);
        assert_eq!(state(late.reference).await, NoticeState::Sent);
    }

    #[tokio::test]
    async fn a_notice_goes_by_each_way_on_a_replica_that_has_it_whichever_replica_tried_before() {
        use crate::domain::care::{Complaint, ComplaintBook, NoticeState};
        let store = Arc::new(super::super::sql::tests::scratch().await);
        let made = now_millis() - 60_000;
        let complaint = Complaint::new(
            SessionHash::unchecked("12".repeat(16)),
            "awful".into(),
            made,
        );
        let reference = store.open(&complaint).await.unwrap().reference;
        let read = || {
            let store = store.clone();
            let reference = reference.clone();
            async move {
                let c = store.complaint(&reference).await.unwrap().unwrap();
                (c.notice, c.notice_email, c.notice_webhook)
            }
        };

        // The first replica has only a webhook, and it refuses.
        let refusing = Arc::new(Courier {
            refuses: true,
            ..Arc::into_inner(courier(None)).unwrap()
        });
        let first = Dispatch {
            email: None,
            webhook: Some(refusing),
            ..dispatch(&store, courier(None), courier(None))
        };
        assert!(first.notice_one().await.unwrap());
        assert_eq!(
            read().await,
            (NoticeState::Pending, Channel::None, Channel::Pending)
        );

        // The next attempt, on a replica with the e-mail alone: the e-mail
        // goes, and the webhook that failed stays to go, not "not configured".
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let email = courier(None);
        let second = Dispatch {
            owner: "b".into(),
            webhook: None,
            ..dispatch(&store, email.clone(), courier(None))
        };
        assert!(second.notice_one().await.unwrap());
        assert_eq!(*email.told.lock().unwrap(), [reference.as_str()]);
        assert_eq!(
            read().await,
            (NoticeState::Pending, Channel::Done, Channel::Pending)
        );

        // Then on a replica with both: the webhook goes, the e-mail is not
        // sent again.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let (email, webhook) = (courier(None), courier(None));
        let third = Dispatch {
            owner: "c".into(),
            ..dispatch(&store, email.clone(), webhook.clone())
        };
        assert!(third.notice_one().await.unwrap());
        assert!(email.told.lock().unwrap().is_empty());
        assert_eq!(*webhook.told.lock().unwrap(), [reference.as_str()]);
        assert_eq!(
            read().await,
            (NoticeState::Sent, Channel::Done, Channel::Done)
        );
    }

    /// Stores `h` whatever the caps.
    async fn put(outbox: &SqlRecords, h: &Handoff) {
        outbox
            .put_capped(h, h.created, 0, u32::MAX)
            .await
            .unwrap()
            .unwrap();
    }

    /// What the cap counted when it refused `h`.
    async fn capped(
        outbox: &SqlRecords,
        h: &Handoff,
        since: UnixMillis,
        per_window: u32,
    ) -> Recent {
        match outbox
            .put_capped(h, h.created, since, per_window)
            .await
            .unwrap()
        {
            Err(NotStored::Capped(recent)) => recent,
            other => panic!("not capped: {other:?}"),
        }
    }
}
