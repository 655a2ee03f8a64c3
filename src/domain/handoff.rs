//! A handoff that reaches a person. A visitor leaves a contact; the request
//! is accepted only once it is stored in the durable outbox (the records
//! database), and a worker on every replica delivers what is due, by e-mail
//! and/or webhook, with the conversation's transcript, retrying with backoff
//! across restarts until it is delivered or has failed
//! [`Delivery::max_attempts`] times. Claims are leases, so of several
//! replicas on one database only one delivers a given handoff at a time.
//! The same worker tells the team of each new complaint (`handoff/notice.rs`).

mod notice;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use crate::domain::Pending;
use crate::domain::care::{Complaint, ComplaintBook, Notice};
use crate::domain::clock::{UnixMillis, now_millis};
use crate::domain::records::{RecordError, RecordStore, Recorder, SessionHash, TranscriptTurn};
use crate::domain::session::{SessionId, SessionStore};

pub use crate::domain::channel::Channel;
pub use support_chat_api::{MAX_EMAIL_BYTES, MAX_NAME_CHARS, MAX_NOTE_CHARS};

/// Why a handoff request's fields were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("The e-mail address is not one we can write to.")]
    Email,
    #[error("The name must be at most {} characters, on one line.", MAX_NAME_CHARS)]
    Name,
    #[error(
        "The note must be at most {} characters, without control characters.",
        MAX_NOTE_CHARS
    )]
    Note,
}

impl ContactError {
    /// The request field at fault.
    pub fn field(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
            Self::Note => "note",
        }
    }
}

/// How to reach the visitor, checked: an address a mail server takes, a
/// one-line name, a note without control characters but newlines and tabs.
/// Nothing of it can break out of a mail header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub email: String,
    pub name: Option<String>,
    pub note: Option<String>,
}

impl Contact {
    pub fn parse(
        email: &str,
        name: Option<&str>,
        note: Option<&str>,
    ) -> Result<Self, ContactError> {
        let email = email.trim();
        let valid_email = email.len() <= MAX_EMAIL_BYTES
            && !email.chars().any(|c| c.is_control() || c.is_whitespace())
            && email.parse::<lettre::Address>().is_ok();
        if !valid_email {
            return Err(ContactError::Email);
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control))
        {
            return Err(ContactError::Name);
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| {
            n.chars().count() > MAX_NOTE_CHARS
                || n.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        }) {
            return Err(ContactError::Note);
        }
        Ok(Self {
            email: email.to_owned(),
            name: name.map(str::to_owned),
            note: note.map(str::to_owned),
        })
    }
}

/// A handoff as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Handoff {
    pub reference: String,
    pub session: SessionHash,
    /// A keyed hash of the client's key, to cap requests per client.
    pub client: String,
    pub created: UnixMillis,
    pub contact: Contact,
    /// Where it is to go, each until it is there.
    pub email: Channel,
    pub webhook: Channel,
    pub attempts: u32,
    pub status: Status,
    pub last_error: Option<String>,
}

/// A handoff's place in the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not yet tried.
    Pending,
    /// Tried, not yet everywhere; tried again later.
    Retrying,
    Delivered,
    /// Gave up after the last attempt; retry by hand (admin API).
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [Self::Pending, Self::Retrying, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The outbox, in the records database.
pub trait Outbox: Send + Sync + 'static {
    /// Stores a new handoff, unless its session or its client already asked
    /// `per_window` times since `since`, or its conversation was erased
    /// after it was asked for. Counting, checking and storing are one step
    /// on every replica on the database, so requests sent at once never
    /// each count fewer than the cap, and an erase never misses it. The
    /// request is accepted only once this returns `Ok(Ok(()))`. Its first
    /// attempt is due at `due`.
    fn put_capped(
        &self,
        handoff: &Handoff,
        due: UnixMillis,
        since: UnixMillis,
        per_window: u32,
    ) -> Pending<'_, Result<Result<(), NotStored>, RecordError>>;
    /// Claims one due handoff for `lease` as `owner`, if there is one.
    fn claim(
        &self,
        owner: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Pending<'_, Result<Option<Handoff>, RecordError>>;
    /// Records an attempt's outcome, if `owner` still holds the claim;
    /// `next` is when to try again (for a handoff still retrying).
    fn settle(
        &self,
        owner: &str,
        handoff: &Handoff,
        next: Option<UnixMillis>,
    ) -> Pending<'_, Result<(), RecordError>>;
    /// The newest `limit` handoffs, optionally of one status.
    fn handoffs(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Pending<'_, Result<Vec<Handoff>, RecordError>>;
    /// Every handoff of these conversations, the newest first.
    fn handoffs_of(
        &self,
        sessions: &[SessionHash],
    ) -> Pending<'_, Result<Vec<Handoff>, RecordError>>;
    /// Whether `owner` still holds its claim on `reference`: not once the
    /// conversation was erased (which deletes the handoff) or the claim
    /// lapsed to another replica.
    fn holds(&self, owner: &str, reference: &str) -> Pending<'_, Result<bool, RecordError>>;
    /// Puts a failed handoff back in line; false if there is none such.
    fn retry(&self, reference: &str, now: UnixMillis) -> Pending<'_, Result<bool, RecordError>>;
    /// How many handoffs are in each status.
    fn counts(&self) -> Pending<'_, Result<Vec<(Status, u64)>, RecordError>>;
}

/// Why [`Outbox::put_capped`] did not store a handoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStored {
    /// A cap was met: what it counted.
    Capped(Recent),
    /// The conversation was erased while the handoff was being asked for.
    Erased,
}

/// What the caps count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    pub by_session: u32,
    pub by_client: u32,
    /// Of each count at the cap, the time of the handoff whose leaving the
    /// window takes it under the cap: its `per_window`-th newest (its
    /// oldest, unless the count is over a cap since lowered).
    pub frees_session: Option<UnixMillis>,
    pub frees_client: Option<UnixMillis>,
}

impl Recent {
    /// Whether either count is at `per_window`, and if so when a window
    /// starting then holds fewer on both: just over a window after the later
    /// of the handoffs that free the counts at the cap.
    pub fn capped_until(&self, per_window: u32, window: i64) -> Option<UnixMillis> {
        [
            (self.by_session, self.frees_session),
            (self.by_client, self.frees_client),
        ]
        .into_iter()
        .filter(|(count, _)| *count >= per_window)
        .map(|(_, frees)| frees.unwrap_or(0).saturating_add(window) + 1)
        .max()
    }
}

/// What a delivery carries: the handoff and its conversation.
#[derive(Clone, Debug)]
pub struct Parcel {
    pub handoff: Handoff,
    pub transcript: Vec<TranscriptTurn>,
    /// The conversation's complaint not yet resolved: the team must know
    /// it is one, and by when it is due.
    pub complaint: Option<Complaint>,
    /// When someone will read it (business hours), if configured.
    pub availability: Option<String>,
    /// The zone times are written in (the business hours', else UTC).
    pub zone: jiff::tz::TimeZone,
}

/// A way to the team: e-mail, a webhook.
pub trait Courier: Send + Sync + 'static {
    /// Delivers `parcel`; an error says why not (to retry).
    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Pending<'a, Result<(), String>>;
    /// Tells the team of a new complaint; an error says why not (to retry).
    fn notify<'a>(&'a self, notice: &'a Notice) -> Pending<'a, Result<(), String>>;
}

/// How deliveries are tried.
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    /// The first retry waits this long; each after it twice as long.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_wait: Duration,
    /// Attempts before a handoff is marked failed.
    pub max_attempts: u32,
    /// How long a replica's claim on a handoff lasts (longer than an attempt takes).
    pub lease: Duration,
}

impl Delivery {
    /// The wait before attempt `attempts + 1`, after `attempts` failed.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.first_retry.saturating_mul(factor).min(self.max_wait)
    }
}

/// How many handoffs one session, and one client, may ask for in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandoffCap {
    pub per_window: u32,
    pub window: Duration,
}

/// Why a handoff was not taken.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// The session has no recorded message: there is nothing to hand over.
    #[error("no conversation is recorded under this session")]
    UnknownSession,
    /// This session or client asked for too many lately.
    #[error("too many handoffs; the next is possible in {retry_after_secs} s")]
    Capped { retry_after_secs: u64 },
    /// The outbox did not store it: the request is refused, not lost.
    #[error(transparent)]
    Store(#[from] RecordError),
}

/// Where handoff requests come in: checked, capped, and stored in the
/// outbox before they count as taken.
pub struct HandoffDesk {
    pub outbox: Arc<dyn Outbox>,
    pub records: Arc<dyn RecordStore>,
    pub recorder: Recorder,
    /// The live conversations (on Redis, every replica's): one another
    /// replica has not written to the records yet is known here.
    pub sessions: Arc<dyn SessionStore>,
    pub cap: HandoffCap,
    /// Which ways a new handoff is to go (at least one).
    pub by_email: bool,
    pub by_webhook: bool,
    /// Wakes this replica's worker.
    pub wake: Arc<Notify>,
    /// This replica's worker, stopped at shutdown.
    pub worker: Worker,
}

impl HandoffDesk {
    /// Puts a failed handoff back in line and wakes this replica's worker;
    /// false if there is no failed handoff of that reference.
    pub async fn retry(&self, reference: &str) -> Result<bool, RecordError> {
        let retried = self.outbox.retry(reference, now_millis()).await?;
        if retried {
            self.wake.notify_one();
        }
        Ok(retried)
    }

    /// Stores a handoff of `session` for `contact`, asked from `client`
    /// (any stable name of it; only a keyed hash is kept).
    pub async fn take(
        &self,
        session: SessionId,
        client: &str,
        contact: Contact,
    ) -> Result<Handoff, HandoffError> {
        let key = self.recorder.key();
        let hash = key.session_hash(session);
        let client = key.client_hash(client);
        if !self.has_conversation(session, &hash).await? {
            return Err(HandoffError::UnknownSession);
        }
        let now = now_millis();
        let window = i64::try_from(self.cap.window.as_millis()).unwrap_or(i64::MAX);
        let handoff = Handoff {
            reference: super::reference::new("HO"),
            session: hash,
            client,
            created: now,
            contact,
            email: if self.by_email {
                Channel::Pending
            } else {
                Channel::None
            },
            webhook: if self.by_webhook {
                Channel::Pending
            } else {
                Channel::None
            },
            attempts: 0,
            status: Status::Pending,
            last_error: None,
        };
        let stored = self
            .outbox
            .put_capped(
                &handoff,
                now + SETTLE.as_millis() as UnixMillis,
                now - window,
                self.cap.per_window,
            )
            .await?;
        match stored {
            Ok(()) => {}
            Err(NotStored::Erased) => return Err(HandoffError::UnknownSession),
            Err(NotStored::Capped(recent)) => {
                let frees = recent
                    .capped_until(self.cap.per_window, window)
                    .unwrap_or(now + window);
                // Rounded up: what frees the counts has left the window by then.
                let retry_after_secs =
                    u64::try_from(((frees - now).max(1000) + 999) / 1000).unwrap_or(1);
                return Err(HandoffError::Capped { retry_after_secs });
            }
        }
        metrics::counter!("handoffs_taken_total").increment(1);
        let wake = self.wake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SETTLE).await;
            wake.notify_one();
        });
        Ok(handoff)
    }

    /// Whether `session` has a conversation, live or recorded, once what
    /// this replica has queued is written (so the delivery's transcript
    /// holds it). Live is every replica's on Redis: a conversation another
    /// replica has not written yet is known.
    async fn has_conversation(
        &self,
        session: SessionId,
        hash: &SessionHash,
    ) -> Result<bool, RecordError> {
        self.recorder.flush().await;
        let (live, turns) = self.sessions.resume(Some(session), Instant::now()).await;
        if live == session && !turns.is_empty() {
            return Ok(true);
        }
        Ok(!self.records.transcript(hash).await?.is_empty())
    }
}

/// The couriers a handoff goes out by, and what else a delivery needs.
pub struct Dispatch {
    pub outbox: Arc<dyn Outbox>,
    pub records: Arc<dyn RecordStore>,
    pub complaints: Arc<dyn ComplaintBook>,
    pub email: Option<Arc<dyn Courier>>,
    pub webhook: Option<Arc<dyn Courier>>,
    pub delivery: Delivery,
    /// Wakes the worker when a handoff is put.
    pub wake: Arc<Notify>,
    /// When someone will read a handoff, at delivery time.
    pub availability: Box<dyn Fn() -> Option<String> + Send + Sync>,
    /// The zone times are written in.
    pub zone: jiff::tz::TimeZone,
    /// This replica's name in claims.
    pub owner: String,
}

/// A replica's running delivery worker.
pub struct Worker {
    stop: tokio::sync::watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Worker {
    /// Lets the attempt under way finish (for at most `grace`), then stops.
    /// What is left is delivered by another replica, or after a restart.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("not poisoned").take();
        if let Some(task) = task
            && tokio::time::timeout(grace, task).await.is_err()
        {
            tracing::warn!(
                "a handoff delivery was still under way at exit; its claim lapses and it is tried again"
            );
        }
    }
}

/// How long after it is taken a handoff is first due (and this replica's
/// worker woken): five times as long as a replica's records writer lingers
/// before writing, so the transcript read at delivery holds a turn another
/// replica answered just before (this replica's own queue is flushed when
/// the handoff is taken). Best effort: a writer more than 0.4 s behind, or
/// replicas' clocks that far apart, still leave that turn out.
const SETTLE: Duration = crate::domain::records::LINGER.saturating_mul(5);

/// How often the worker looks for due handoffs without being woken.
const POLL: Duration = Duration::from_secs(1);

impl Dispatch {
    /// Delivers due handoffs until [`Worker::stop`].
    pub fn start(self: Arc<Self>) -> Worker {
        let (stop, mut stopping) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while !*stopping.borrow_and_update() {
                // An attempt under way is finished, never cut short: its
                // outcome is recorded and its claim released.
                let handoff = self.one().await.unwrap_or_else(|error| {
                    tracing::warn!(%error, "handoff outbox unavailable; trying again");
                    false
                });
                let notice = self.notice_one().await.unwrap_or_else(|error| {
                    tracing::warn!(%error, "complaint notices unavailable; trying again");
                    false
                });
                if handoff || notice {
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::timeout(POLL, self.wake.notified()) => {}
                    _ = stopping.changed() => {}
                }
            }
        });
        Worker {
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Claims and tries one due handoff; whether there was one.
    pub async fn one(&self) -> Result<bool, RecordError> {
        let now = now_millis();
        let Some(mut handoff) = self
            .outbox
            .claim(&self.owner, now, self.delivery.lease)
            .await?
        else {
            return Ok(false);
        };
        // Without its transcript and complaint a handoff is not sent: its
        // claim lapses and it is tried again.
        let transcript = self.records.transcript(&handoff.session).await?;
        let complaint = self.complaints.standing(&handoff.session).await?;
        let parcel = Parcel {
            handoff: handoff.clone(),
            transcript,
            complaint,
            availability: (self.availability)(),
            zone: self.zone.clone(),
        };
        let mut errors = Vec::new();
        for (channel, courier, name) in [
            (&mut handoff.email, &self.email, "email"),
            (&mut handoff.webhook, &self.webhook, "webhook"),
        ] {
            if *channel != Channel::Pending {
                continue;
            }
            let Some(courier) = courier else {
                // Configured when stored, not now: nothing to send it by.
                errors.push(format!("{name}: not configured"));
                continue;
            };
            // The visitor may have deleted the conversation since the claim:
            // their contact details then go nowhere.
            if !self.outbox.holds(&self.owner, &handoff.reference).await? {
                tracing::info!(reference = %handoff.reference, "handoff erased or claimed elsewhere before it was sent; not sent");
                return Ok(true);
            }
            match courier.deliver(&parcel).await {
                Ok(()) => *channel = Channel::Done,
                Err(error) => errors.push(format!("{name}: {error}")),
            }
        }
        handoff.attempts += 1;
        let delivered = handoff.email != Channel::Pending && handoff.webhook != Channel::Pending;
        let next = if delivered {
            handoff.status = Status::Delivered;
            handoff.last_error = None;
            metrics::counter!("handoffs_delivered_total").increment(1);
            tracing::info!(reference = %handoff.reference, attempts = handoff.attempts, "handoff delivered");
            None
        } else if handoff.attempts >= self.delivery.max_attempts {
            handoff.status = Status::Failed;
            handoff.last_error = Some(errors.join("; "));
            metrics::counter!("handoffs_failed_total").increment(1);
            tracing::error!(reference = %handoff.reference, attempts = handoff.attempts, error = ?handoff.last_error, "handoff failed: retry it from the admin API");
            None
        } else {
            handoff.status = Status::Retrying;
            handoff.last_error = Some(errors.join("; "));
            metrics::counter!("handoff_attempts_failed_total").increment(1);
            let wait = self.delivery.backoff(handoff.attempts);
            tracing::warn!(reference = %handoff.reference, attempts = handoff.attempts, retry_in_s = wait.as_secs(), error = ?handoff.last_error, "handoff not delivered yet");
            Some(now_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
        };
        self.outbox.settle(&self.owner, &handoff, next).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_request_may_retry_when_every_count_at_the_cap_has_fallen() {
        let recent = Recent {
            by_session: 1,
            by_client: 3,
            frees_session: Some(1_000),
            frees_client: Some(5_000),
        };
        assert_eq!(recent.capped_until(4, 60_000), None);
        assert_eq!(recent.capped_until(3, 60_000), Some(65_001));
        // The session's older handoff does not cap it: the client's frees later.
        assert_eq!(recent.capped_until(1, 60_000), Some(65_001));
        let session_only = Recent {
            by_client: 0,
            frees_client: None,
            ..recent
        };
        assert_eq!(session_only.capped_until(1, 60_000), Some(61_001));
    }

    #[test]
    fn a_contact_is_an_address_a_one_line_name_and_a_plain_note() {
        let c = Contact::parse(
            " jo@example.com ",
            Some(" Jo Bloggs "),
            Some("Please call\nafter 2"),
        )
        .unwrap();
        assert_eq!(c.email, "jo@example.com");
        assert_eq!(c.name.as_deref(), Some("Jo Bloggs"));
        assert_eq!(c.note.as_deref(), Some("Please call\nafter 2"));
        assert_eq!(
            Contact::parse("jo@example.com", Some("  "), None)
                .unwrap()
                .name,
            None
        );
        for (email, name, note, error) in [
            ("not an address", None, None, ContactError::Email),
            (
                "jo@example.com\r\nBcc: all@example.com",
                None,
                None,
                ContactError::Email,
            ),
            ("jo@@example.com", None, None, ContactError::Email),
            ("", None, None, ContactError::Email),
            (
                &format!("{}@example.com", "a".repeat(250)),
                None,
                None,
                ContactError::Email,
            ),
            (
                "jo@example.com",
                Some("Jo\r\nBcc: x@y.z"),
                None,
                ContactError::Name,
            ),
            (
                "jo@example.com",
                Some(&"n".repeat(101)),
                None,
                ContactError::Name,
            ),
            ("jo@example.com", None, Some("a\u{7}b"), ContactError::Note),
            (
                "jo@example.com",
                None,
                Some(&"n".repeat(1001)),
                ContactError::Note,
            ),
        ] {
            assert_eq!(
                Contact::parse(email, name, note),
                Err(error),
                "{email:?} {name:?} {note:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_longest_wait() {
        let d = Delivery {
            first_retry: Duration::from_secs(30),
            max_wait: Duration::from_secs(3600),
            max_attempts: 10,
            lease: Duration::from_secs(120),
        };
        let waits: Vec<u64> = (1..=9).map(|a| d.backoff(a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
