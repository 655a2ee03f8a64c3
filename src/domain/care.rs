//! The duty of care, on the records' side: complaint records (FCA DISP:
//! the time a complaint was made starts its clock; it is acknowledged
//! promptly and answered within eight weeks; records are kept three years),
//! and how conversations with a vulnerability cue fare against the rest (the
//! figure FG21/1 asks firms to monitor). The engine raises the signals
//! (`support_chat_assistant::Signals`); this module keeps what follows.

use std::time::Duration;

use serde::Serialize;

use crate::domain::Pending;
use crate::domain::channel::Channel;
use crate::domain::clock::UnixMillis;
use crate::domain::records::{RecordError, SessionHash, TranscriptTurn};

/// How long after a complaint is made its notice to the team is first due:
/// as a handoff, once the records writer has had time to write its turn.
pub const NOTICE_DUE_AFTER: Duration = crate::domain::records::LINGER.saturating_mul(5);

/// How long a complaint may wait for its acknowledgement.
pub const ACKNOWLEDGE_WITHIN: Duration = Duration::from_secs(24 * 60 * 60);
/// How long it may wait for its final response (eight weeks).
pub const RESPOND_WITHIN: Duration = Duration::from_secs(8 * 7 * 24 * 60 * 60);

/// Where a complaint stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl ComplaintStatus {
    pub const ALL: [ComplaintStatus; 3] = [Self::Open, Self::Acknowledged, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Whether the team was told of a complaint as it was made (by the ways
/// handoffs go: `handoff/notice.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Made before notices existed: not to be told.
    None,
    /// To be told (or no way to the team is configured yet).
    Pending,
    Sent,
    /// Every attempt failed: the complaint waits in the console.
    Failed,
    /// Not sent: someone acknowledged the complaint before it went.
    Skipped,
}

impl NoticeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            _ => Self::None,
        }
    }
}

/// A complaint as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Complaint {
    /// `CO-` and eight characters, as the visitor is told.
    pub reference: String,
    pub session: SessionHash,
    /// When it was made: the clock starts here.
    pub made: UnixMillis,
    /// The visitor's words, redacted as every record is.
    pub message: String,
    pub status: ComplaintStatus,
    pub acknowledge_by: UnixMillis,
    pub respond_by: UnixMillis,
    pub acknowledged: Option<UnixMillis>,
    pub resolved: Option<UnixMillis>,
    /// Who handles it (the admin API's `handled_by`).
    pub handled_by: Option<String>,
    pub updated: UnixMillis,
    pub notice: NoticeState,
    /// Each way's part in the notice: `None` when the replica that last
    /// tried it had no such way configured (a replica that has it tries it
    /// at the next attempt; a notice sent shows which ways did not carry it).
    pub notice_email: Channel,
    pub notice_webhook: Channel,
    /// Why the last attempt at its notice failed, by way (`email: …`).
    pub notice_error: Option<String>,
}

/// `d` in milliseconds, as times are kept.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Complaint {
    /// A new, open complaint of `session`, made at `made` in the words `message`.
    pub fn new(session: SessionHash, message: String, made: UnixMillis) -> Self {
        Self {
            reference: super::reference::new("CO"),
            session,
            made,
            message,
            status: ComplaintStatus::Open,
            acknowledge_by: made + millis(ACKNOWLEDGE_WITHIN),
            respond_by: made + millis(RESPOND_WITHIN),
            acknowledged: None,
            resolved: None,
            handled_by: None,
            updated: made,
            notice: NoticeState::Pending,
            notice_email: Channel::Pending,
            notice_webhook: Channel::Pending,
            notice_error: None,
        }
    }

    /// Moves it to `status` at `at`, keeping when it was first acknowledged
    /// and resolved.
    pub fn set_status(&mut self, status: ComplaintStatus, at: UnixMillis) {
        if status != ComplaintStatus::Open && self.acknowledged.is_none() {
            self.acknowledged = Some(at);
        }
        self.resolved = match status {
            ComplaintStatus::Resolved => self.resolved.or(Some(at)),
            _ => None,
        };
        self.status = status;
        self.updated = at;
    }

    /// A due date passed with the step it was for not taken.
    pub fn overdue(&self, now: UnixMillis) -> bool {
        match self.status {
            ComplaintStatus::Open => now > self.acknowledge_by,
            ComplaintStatus::Acknowledged => now > self.respond_by,
            ComplaintStatus::Resolved => false,
        }
    }
}

/// One conversation's outcomes, for monitoring how flagged conversations fare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationOutcome {
    pub session: SessionHash,
    pub first_at: UnixMillis,
    pub last_at: UnixMillis,
    /// The vulnerability cues raised in it (categories only).
    pub care: Vec<String>,
    pub messages: u64,
    pub answered: u64,
    pub handed_off: u64,
    pub helpful: u64,
    pub not_helpful: u64,
    /// The visitor left a contact for a person (a handoff).
    pub handoff_requested: bool,
    pub complaint: bool,
}

/// Outcomes of a group of conversations, added up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub conversations: u64,
    pub messages: u64,
    pub answered: u64,
    pub handed_off: u64,
    pub handoffs_requested: u64,
    pub helpful: u64,
    pub not_helpful: u64,
    pub complaints: u64,
}

impl Totals {
    pub fn add(&mut self, c: &ConversationOutcome) {
        self.conversations += 1;
        self.messages += c.messages;
        self.answered += c.answered;
        self.handed_off += c.handed_off;
        self.handoffs_requested += u64::from(c.handoff_requested);
        self.helpful += c.helpful;
        self.not_helpful += c.not_helpful;
        self.complaints += u64::from(c.complaint);
    }
}

/// Flagged conversations against the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CareComparison {
    pub flagged: Totals,
    pub unflagged: Totals,
}

impl CareComparison {
    pub fn of(outcomes: &[ConversationOutcome]) -> Self {
        let mut comparison = Self::default();
        for c in outcomes {
            if c.care.is_empty() {
                comparison.unflagged.add(c);
            } else {
                comparison.flagged.add(c);
            }
        }
        comparison
    }
}

/// The complaint records and the outcomes, in the records database.
pub trait ComplaintBook: Send + Sync + 'static {
    /// Records `complaint`, unless its conversation has one not yet
    /// resolved: the complaint that stands is returned either way.
    fn open(&self, complaint: &Complaint) -> Pending<'_, Result<Complaint, RecordError>>;
    /// Complaints of a status (all without), open first, the oldest first.
    fn complaints(
        &self,
        status: Option<ComplaintStatus>,
        limit: usize,
    ) -> Pending<'_, Result<Vec<Complaint>, RecordError>>;
    /// The complaint of `session` not yet resolved, if it has one.
    fn standing(
        &self,
        session: &SessionHash,
    ) -> Pending<'_, Result<Option<Complaint>, RecordError>>;
    fn complaint(&self, reference: &str) -> Pending<'_, Result<Option<Complaint>, RecordError>>;
    /// Writes a complaint's status and handler back if it is still as it
    /// was when read (its `updated` was `read_updated`); whether it was.
    /// Use [`amend`], which reads again when it was not.
    fn update(
        &self,
        complaint: &Complaint,
        read_updated: UnixMillis,
    ) -> Pending<'_, Result<bool, RecordError>>;
    /// How many complaints are in each status.
    fn counts(&self) -> Pending<'_, Result<Vec<(ComplaintStatus, u64)>, RecordError>>;
    /// Every conversation since `since`, with its outcomes.
    fn outcomes(
        &self,
        since: UnixMillis,
    ) -> Pending<'_, Result<Vec<ConversationOutcome>, RecordError>>;
    /// Claims for `owner`, for `lease`, a due notice, if there is one.
    fn claim_notice(
        &self,
        owner: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Pending<'_, Result<Option<NoticeClaim>, RecordError>>;
    /// Writes what an attempt at `owner`'s claimed notice did, and releases it.
    fn settle_notice(
        &self,
        owner: &str,
        claim: &NoticeClaim,
        outcome: NoticeOutcome,
        error: Option<String>,
    ) -> Pending<'_, Result<(), RecordError>>;
    /// Puts the failed notice of an open complaint back in line, due at
    /// `now` with its attempts counted afresh (only the ways it failed on,
    /// or that were not configured, are tried again); false if `reference`
    /// has no such notice.
    fn retry_notice(
        &self,
        reference: &str,
        now: UnixMillis,
    ) -> Pending<'_, Result<bool, RecordError>>;
}

/// A new complaint claimed to be told to the team (by the ways handoffs
/// go): the complaint, whose ways say which are still to be tried.
#[derive(Clone, Debug, PartialEq)]
pub struct NoticeClaim {
    pub complaint: Complaint,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What became of a claimed notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// Every configured way has it.
    Sent,
    /// Tried again at this time.
    Retry(UnixMillis),
    /// Given up: the complaint still waits in the console and the admin API.
    Failed,
    /// Not sent: someone acknowledged the complaint before it went.
    Skipped,
}

/// What a complaint's notice carries: the complaint and its conversation.
pub struct Notice {
    pub complaint: Complaint,
    pub transcript: Vec<TranscriptTurn>,
    /// The zone times are written in (the business hours', else UTC).
    pub zone: jiff::tz::TimeZone,
}

/// What [`amend`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Amended {
    /// Changed (or the edit changed nothing): the complaint as it now is.
    Done(Complaint),
    /// Not changed: it was changed since the person saw it; as it is now.
    Stale(Complaint),
    /// No complaint of that reference.
    Missing,
}

/// Applies `edit` to the complaint `reference` as it is now and writes it,
/// reading it again and re-applying `edit` when another change was written
/// in between: of two changes at once, neither undoes what the other
/// changed and it did not (a handler named while someone acknowledges it
/// keeps the acknowledgement). With `seen`, the `updated` of the complaint
/// a person decided on, a change written since is never overwritten: the
/// person is told ([`Amended::Stale`]) and sees it first. Without, of two
/// changes to the same field the later stands.
pub async fn amend(
    book: &dyn ComplaintBook,
    reference: &str,
    seen: Option<UnixMillis>,
    edit: impl Fn(&mut Complaint),
) -> Result<Amended, RecordError> {
    loop {
        let Some(read) = book.complaint(reference).await? else {
            return Ok(Amended::Missing);
        };
        if seen.is_some_and(|seen| seen != read.updated) {
            return Ok(Amended::Stale(read));
        }
        let mut changed = read.clone();
        edit(&mut changed);
        let mut same = changed.clone();
        same.updated = read.updated;
        if same == read {
            // Nothing to write (an empty change, or the status it has).
            return Ok(Amended::Done(read));
        }
        // Strictly later, so a change in the same millisecond is told apart.
        changed.updated = changed.updated.max(read.updated + 1);
        if book.update(&changed, read.updated).await? {
            return Ok(Amended::Done(changed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complaints_clock_starts_when_it_is_made() {
        let session = SessionHash::unchecked("ab".repeat(16));
        let mut c = Complaint::new(session, "this is a disgrace".into(), 1_000);
        assert!(c.reference.starts_with("CO-"));
        assert_eq!(c.acknowledge_by, 1_000 + 86_400_000);
        assert_eq!(c.respond_by, 1_000 + 56 * 86_400_000);
        assert!(!c.overdue(c.acknowledge_by));
        assert!(c.overdue(c.acknowledge_by + 1));
        c.set_status(ComplaintStatus::Acknowledged, 5_000);
        assert_eq!(c.acknowledged, Some(5_000));
        assert!(
            !c.overdue(c.acknowledge_by + 1),
            "acknowledged in time or not, the next step counts"
        );
        c.set_status(ComplaintStatus::Resolved, 9_000);
        assert_eq!((c.acknowledged, c.resolved), (Some(5_000), Some(9_000)));
        assert!(!c.overdue(i64::MAX));
        c.set_status(ComplaintStatus::Open, 10_000);
        assert_eq!(c.resolved, None, "reopened");
    }

    fn conversation(messages: u64) -> ConversationOutcome {
        ConversationOutcome {
            session: SessionHash::unchecked("s".repeat(64)),
            first_at: 0,
            last_at: 0,
            care: Vec::new(),
            messages,
            answered: 0,
            handed_off: 0,
            helpful: 0,
            not_helpful: 0,
            handoff_requested: false,
            complaint: false,
        }
    }

    #[test]
    fn flagged_and_unflagged_conversations_are_added_up_apart() {
        let flagged = ConversationOutcome {
            care: vec!["life_events".into()],
            handoff_requested: true,
            ..conversation(3)
        };
        let plain = ConversationOutcome {
            answered: 2,
            helpful: 1,
            ..conversation(2)
        };
        let c = CareComparison::of(&[flagged, plain.clone(), plain]);
        assert_eq!(
            (c.flagged.conversations, c.flagged.handoffs_requested),
            (1, 1)
        );
        assert_eq!(
            (
                c.unflagged.conversations,
                c.unflagged.answered,
                c.unflagged.helpful
            ),
            (2, 4, 2)
        );
    }
}
