//! What the business keeps of each conversation, with privacy by
//! construction: every turn's message is redacted (`support_chat_assistant::redact`)
//! before a [`TurnRecord`] exists, a conversation is filed under a keyed
//! hash of its session id ([`SessionHash`]), never the id, and nothing is
//! recorded before a visitor's first message.
//!
//! Writing never slows or fails a chat: [`Recorder`] puts records on a
//! bounded queue that one background writer empties in batches into the
//! [`RecordStore`] (`store/sql.rs`, SQLite or PostgreSQL). When the queue is
//! full or the database fails, records are dropped and counted
//! (`records_dropped_total`), and the visitor still gets the answer. Erasing
//! a conversation goes through the same queue, so records of it still
//! waiting are written first and then erased with the rest; a clean shutdown
//! flushes the queue.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use support_chat_assistant::{ArticleRef, CareCategory};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::domain::Pending;
use crate::domain::session::SessionId;

use crate::domain::clock::{UnixMillis, now_millis};

/// The UTC calendar day of `at`, `YYYY-MM-DD`: what the summary groups by.
pub fn day_of(at: UnixMillis) -> String {
    jiff::Timestamp::from_millisecond(at)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

/// The key records are filed and reply ids signed under: the same on every
/// replica (it lives in the database, made on first start). Kept with the
/// HMAC already keyed by it, so each signature hashes only its message
/// (keying took two of its five SHA-256 blocks).
#[derive(Clone)]
pub struct RecordKey(Arc<(Box<[u8]>, Hmac<Sha256>)>);

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKey(..)")
    }
}

/// A conversation's name in the records: 32 hex digits, the time the
/// conversation began and a keyed hash of its session id
/// ([`RecordKey::session_hash`]), which cannot be turned back into the id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionHash(String);

impl SessionHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash read back from the store as it is.
    pub fn unchecked(text: String) -> Self {
        Self(text)
    }

    /// A hash as the admin API shows it (32 lowercase hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        is_hex(text, 32).then(|| Self(text.to_owned()))
    }
}

/// A reply's id: 16 hex digits of nonce and 16 of a keyed hash of the
/// session id and the nonce, so the server can tell a reply it gave in a
/// session from anything else without looking it up.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplyId(String);

impl ReplyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the reply was given: the time its id begins with. A turn's
    /// time is this, by construction ([`TurnRecord`] has no other).
    pub fn at(&self) -> UnixMillis {
        UnixMillis::from_str_radix(&self.0[..12], 16).expect("a reply id is hex")
    }

    /// What every reply id given at or after `at` sorts at or after, and
    /// every one given before sorts before: the records find turns by time
    /// through their primary key (no index of their own on the time).
    pub fn first_at(at: UnixMillis) -> String {
        format!("{:012x}", at.clamp(0, 0xffff_ffff_ffff))
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `bytes` as lowercase hex digits.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl RecordKey {
    /// A key of these bytes.
    pub fn new(bytes: &[u8]) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(bytes).expect("HMAC takes keys of any length");
        Self(Arc::new((bytes.into(), keyed)))
    }

    /// A fresh random key (with `--record off`, and for a new database).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self::new(&bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0.0
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.1.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The records' name of session `id`: the id's time (its first 12 hex
    /// digits, [`SessionId::mint`]) and 80 bits of its signature, so that
    /// names sort as the conversations began and nothing of the id's random
    /// part is kept. (Names written before 2026-12-04 were all signature:
    /// those conversations are no longer found by id, and go with retention.)
    pub fn session_hash(&self, id: SessionId) -> SessionHash {
        let id = id.to_string();
        let mac = self.mac(&[b"session:", id.as_bytes()]);
        SessionHash(format!("{}{}", &id[..12], hex(&mac[..10])))
    }

    /// The records' name of a client (its rate-limit key): handoffs are
    /// capped per client without its address being kept.
    pub fn client_hash(&self, client: &str) -> String {
        hex(&self.mac(&[b"client:", client.as_bytes()])[..16])
    }

    /// A new reply id for session `id`: a nonce of the time in milliseconds
    /// (48 bits) and 16 random bits, then the signature. Ids made later sort
    /// later, so the records' primary key grows at its end instead of at
    /// random places (a quarter less of SQLite's CPU a row). Ids of other
    /// sessions differ by their signature; two replies of one session in
    /// the same millisecond differ by the random bits.
    pub fn reply_id(&self, id: SessionId) -> ReplyId {
        self.reply_id_at(id, now_millis())
    }

    /// A reply id for session `id` given at `at` (tests and benchmarks
    /// write turns of other times with it).
    pub fn reply_id_at(&self, id: SessionId, at: UnixMillis) -> ReplyId {
        let mut nonce = [0u8; 8];
        nonce[..6].copy_from_slice(&at.to_be_bytes()[2..]);
        getrandom::fill(&mut nonce[6..]).expect("the OS random source is available");
        self.sign(id, &hex(&nonce))
    }

    fn sign(&self, id: SessionId, nonce: &str) -> ReplyId {
        let mac = self.mac(&[b"reply:", id.to_string().as_bytes(), nonce.as_bytes()]);
        ReplyId(format!("{nonce}{}", hex(&mac[..8])))
    }

    /// `text` as a reply id this server gave in session `id`, or `None`.
    pub fn verify(&self, id: SessionId, text: &str) -> Option<ReplyId> {
        if !is_hex(text, 32) {
            return None;
        }
        let expected = self.sign(id, &text[..16]);
        // Constant time: the comparison must not tell how much matched.
        bool::from(expected.0.as_bytes().ct_eq(text.as_bytes())).then_some(expected)
    }
}

/// Under this confidence an answered turn counts as unsure, and goes to the
/// unanswered inbox.
pub const LOW_CONFIDENCE: f64 = 0.5;

/// Whether a turn may show in the unanswered inbox whatever its votes: not
/// answered outright, or answered unsure.
pub fn inbox_candidate(outcome: RecordedOutcome, confidence: f32) -> bool {
    outcome != RecordedOutcome::Answered || f64::from(confidence) < LOW_CONFIDENCE
}

/// How one exchange ended, as the records count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordedOutcome {
    Answered,
    Clarified,
    HandedOff,
    OutOfScope,
}

impl RecordedOutcome {
    pub const ALL: [RecordedOutcome; 4] = [
        Self::Answered,
        Self::Clarified,
        Self::HandedOff,
        Self::OutOfScope,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Clarified => "clarified",
            Self::HandedOff => "handoff",
            Self::OutOfScope => "out_of_scope",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    pub fn of(outcome: &support_chat_assistant::Outcome) -> Self {
        use support_chat_assistant::Outcome;
        match outcome {
            Outcome::Answered { .. } => Self::Answered,
            Outcome::Clarify { .. } => Self::Clarified,
            Outcome::Handoff {
                out_of_scope: false,
            } => Self::HandedOff,
            Outcome::Handoff { out_of_scope: true } => Self::OutOfScope,
        }
    }
}

/// One exchange, as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnRecord {
    /// The reply's id, which also holds when it was given ([`ReplyId::at`]).
    pub reply_id: ReplyId,
    pub session: SessionHash,
    /// The visitor's message, redacted.
    pub message: String,
    pub outcome: RecordedOutcome,
    pub confidence: f32,
    /// The approved wording the reply showed.
    pub article: Option<ArticleRef>,
    /// The message's sentence embedding, for grouping similar unanswered
    /// questions; kept only for [`inbox_candidate`]s (an answered turn voted
    /// down is grouped by its words).
    pub embedding: Option<Vec<f32>>,
    /// The message expressed dissatisfaction (a complaint).
    pub complaint: bool,
    /// A vulnerability cue's category, never more (purged with the rest of
    /// the conversation, even when a complaint keeps the conversation).
    pub care: Option<CareCategory>,
}

/// A visitor's vote on a reply; the latest vote per reply wins.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedbackRecord {
    pub reply_id: ReplyId,
    pub session: SessionHash,
    pub at: UnixMillis,
    pub helpful: bool,
}

/// A write the store takes in a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Turn(TurnRecord),
    Feedback(FeedbackRecord),
}

/// One day of the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DaySummary {
    pub day: String,
    pub conversations: u64,
    pub messages: u64,
    pub answered: u64,
    pub clarified: u64,
    pub handed_off: u64,
    pub out_of_scope: u64,
    pub helpful: u64,
    pub not_helpful: u64,
}

impl DaySummary {
    pub fn empty(day: String) -> Self {
        Self {
            day,
            ..Self::default()
        }
    }
}

/// A turn the inbox may show: not answered outright, unsure, or voted down,
/// and not yet dismissed or added.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenTurn {
    pub reply_id: String,
    pub at: UnixMillis,
    pub message: String,
    pub outcome: RecordedOutcome,
    pub confidence: f64,
    pub embedding: Option<Vec<f32>>,
    pub not_helpful: bool,
}

/// Where an unanswered turn is in the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Review {
    Open,
    Dismissed,
    Added,
}

impl Review {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Dismissed => "dismissed",
            Self::Added => "added",
        }
    }
}

/// Which conversations to list, and which page of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationFilter {
    /// From this time (inclusive) to `to` (exclusive).
    pub from: UnixMillis,
    pub to: UnixMillis,
    /// Only conversations with a turn of this outcome.
    pub outcome: Option<RecordedOutcome>,
    /// Only conversations where a message holds this text.
    pub search: Option<String>,
    /// Only this conversation (subject access by a visitor's session id).
    pub session: Option<SessionHash>,
    pub page: usize,
    pub per_page: usize,
}

/// One conversation in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationSummary {
    pub session: SessionHash,
    pub first_at: UnixMillis,
    pub last_at: UnixMillis,
    pub turns: u64,
    pub answered: u64,
    pub clarified: u64,
    pub handed_off: u64,
    pub out_of_scope: u64,
}

/// One turn of a transcript, with the vote on it.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptTurn {
    pub reply_id: String,
    pub session: SessionHash,
    pub at: UnixMillis,
    pub message: String,
    pub outcome: RecordedOutcome,
    pub confidence: f64,
    pub article_id: Option<String>,
    pub article_version: Option<String>,
    pub helpful: Option<bool>,
    /// The turn expressed dissatisfaction (a complaint).
    pub complaint: bool,
    /// The vulnerability cue the turn showed, a category and no more; gone
    /// once `--retention-days` passes, whatever else is kept.
    pub care: Option<CareCategory>,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[error("the records database: {0}")]
pub struct RecordError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The records, wherever they are kept. The SQL store (`store/sql.rs`)
/// implements the writing side here and the reading side the admin API uses.
pub trait RecordStore: Send + Sync + 'static {
    /// Writes a batch, all or nothing.
    fn write(&self, batch: Vec<Write>) -> Pending<'_, Result<(), RecordError>>;
    /// Erases everything kept of one conversation; how many rows went.
    fn erase(&self, session: &SessionHash) -> Pending<'_, Result<u64, RecordError>>;
    /// Purges what is older than `before` and no other duty keeps: the
    /// complaints made since `complaints_before`, and any not yet resolved,
    /// are kept with their conversations (without their vulnerability
    /// flags); a handoff is kept until `before` has passed since it was
    /// delivered or failed. How many rows went.
    fn purge(
        &self,
        before: UnixMillis,
        complaints_before: UnixMillis,
    ) -> Pending<'_, Result<u64, RecordError>>;
    /// Per day since `since`: conversations, messages, outcomes, votes.
    fn summary(&self, since: UnixMillis) -> Pending<'_, Result<Vec<DaySummary>, RecordError>>;
    /// The newest `limit` turns for the inbox since `since`.
    fn open_turns(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Pending<'_, Result<Vec<OpenTurn>, RecordError>>;
    /// Conversations, the most recent first.
    fn conversations(
        &self,
        filter: ConversationFilter,
    ) -> Pending<'_, Result<Vec<ConversationSummary>, RecordError>>;
    /// One conversation's turns, oldest first; empty when there is none.
    fn transcript(
        &self,
        session: &SessionHash,
    ) -> Pending<'_, Result<Vec<TranscriptTurn>, RecordError>>;
    /// Moves these turns in the inbox; how many there were.
    fn review(
        &self,
        reply_ids: Vec<String>,
        review: Review,
    ) -> Pending<'_, Result<u64, RecordError>>;
    /// Every turn (of one conversation, or all), oldest first, read a page
    /// at a time.
    fn export(
        &self,
        session: Option<SessionHash>,
    ) -> futures_util::stream::BoxStream<'static, Result<TranscriptTurn, RecordError>>;
}

/// Requests to the writer, in the order they were made.
enum Command {
    Write(Write),
    Erase(SessionHash, oneshot::Sender<Result<(), RecordError>>),
    Flush(oneshot::Sender<()>),
}

/// The records' front door: a bounded queue and its one writer.
#[derive(Clone)]
pub struct Recorder {
    key: RecordKey,
    /// Behind one `Arc`: the recorder is cloned with the chat state for
    /// every request, and a `Sender` and a bell cost two shared counters
    /// more each time than one `Arc` does.
    queue: Option<Arc<Queue>>,
}

/// The writer's queue, and a bell for the commands someone waits on (the
/// writer does not wake for each write: it lingers, then takes what came).
#[derive(Clone)]
struct Queue {
    commands: mpsc::Sender<Command>,
    urgent: Arc<Notify>,
}

impl Queue {
    /// Queues a command someone waits on and wakes the writer for it.
    async fn send_urgent(&self, command: Command) -> Result<(), RecordError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| RecordError("the writer has stopped".into()))?;
        self.urgent.notify_one();
        Ok(())
    }
}

/// How many writes the writer takes in one batch (one transaction), at
/// most. Under load the queue holds more than this, and bigger transactions
/// cost SQLite less CPU a row (`cargo bench --bench records`).
pub const BATCH: usize = 2048;

impl Recorder {
    /// Records nothing (`--record off`); reply ids are still signed, by a
    /// key of this process.
    pub fn off() -> Self {
        Self {
            key: RecordKey::random(),
            queue: None,
        }
    }

    /// Starts the writer into `store` behind a queue of `capacity` writes.
    pub fn start(store: Arc<dyn RecordStore>, key: RecordKey, capacity: usize) -> Self {
        let (queue, commands) = mpsc::channel(capacity.max(1));
        let urgent = Arc::new(Notify::new());
        tokio::spawn(write_all(store, commands, urgent.clone()));
        Self {
            key,
            queue: Some(Arc::new(Queue {
                commands: queue,
                urgent,
            })),
        }
    }

    pub fn key(&self) -> &RecordKey {
        &self.key
    }

    /// Whether anything is recorded.
    pub fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `write`; dropped and counted when the queue is full.
    pub fn record(&self, write: Write) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.commands.try_send(Command::Write(write)).is_err() {
            metrics::counter!("records_dropped_total", "reason" => "queue_full").increment(1);
        }
    }

    /// Erases everything of `session`, after whatever of it is still queued;
    /// waits for the writer (and the database) to have done it.
    pub async fn erase(&self, session: SessionHash) -> Result<(), RecordError> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let (done, result) = oneshot::channel();
        queue.send_urgent(Command::Erase(session, done)).await?;
        result
            .await
            .map_err(|_| RecordError("the writer has stopped".into()))?
    }

    /// Waits until everything queued before this call is written (or dropped).
    pub async fn flush(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (done, flushed) = oneshot::channel();
        if queue.send_urgent(Command::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

/// The writer: batches of queued writes into the store, in order.
async fn write_all(
    store: Arc<dyn RecordStore>,
    mut commands: mpsc::Receiver<Command>,
    urgent: Arc<Notify>,
) {
    let mut received = Vec::with_capacity(BATCH);
    let mut failing = false;
    while commands.recv_many(&mut received, BATCH).await > 0 {
        gather(&mut commands, &mut received, &urgent).await;
        let mut writes = Vec::with_capacity(received.len());
        for command in received.drain(..) {
            match command {
                Command::Write(write) => writes.push(write),
                Command::Erase(session, done) => {
                    failing = flush_writes(&*store, &mut writes, failing).await;
                    let _ = done.send(store.erase(&session).await.map(drop));
                }
                Command::Flush(done) => {
                    failing = flush_writes(&*store, &mut writes, failing).await;
                    let _ = done.send(());
                }
            }
        }
        failing = flush_writes(&*store, &mut writes, failing).await;
    }
}

/// How long the writer waits for a batch to fill before writing what it has.
/// Each commit rewrites the pages it touched, so a few large commits cost
/// the database far less than many small ones; nobody waits for a record
/// meanwhile (an erasure or a flush is written at once).
pub(crate) const LINGER: Duration = Duration::from_millis(100);

/// Adds to `received` what arrives within [`LINGER`], unless the batch is
/// already full or someone waits on a command (then at once). The writer
/// sleeps meanwhile rather than wake for each write: under load, a wake-up
/// a write cost the chats more than writing the rows did.
async fn gather(
    commands: &mut mpsc::Receiver<Command>,
    received: &mut Vec<Command>,
    urgent: &Notify,
) {
    let waited_on = |c: &Command| matches!(c, Command::Erase(..) | Command::Flush(_));
    if received.len() < BATCH && !received.iter().any(waited_on) {
        tokio::select! {
            () = tokio::time::sleep(LINGER) => {}
            () = urgent.notified() => {}
        }
    }
    while received.len() < BATCH {
        match commands.try_recv() {
            Ok(command) => received.push(command),
            Err(_) => return,
        }
    }
}

/// Writes `writes` (emptying it); returns whether the database is failing,
/// logging each change of that once.
async fn flush_writes(store: &dyn RecordStore, writes: &mut Vec<Write>, failing: bool) -> bool {
    if writes.is_empty() {
        return failing;
    }
    let count = writes.len() as u64;
    let result = store.write(std::mem::take(writes)).await;
    match result {
        Ok(()) => {
            metrics::counter!("records_written_total").increment(count);
            if failing {
                tracing::info!("records database writes again");
            }
            false
        }
        Err(error) => {
            metrics::counter!("records_dropped_total", "reason" => "database").increment(count);
            if !failing {
                tracing::warn!(error = %error, dropped = count, "records database failing: records are dropped until it answers");
            }
            true
        }
    }
}

/// How long records are kept: conversations, and those of complaints.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub records: Duration,
    pub complaints: Duration,
}

/// Purges records past `retention` every `every`, from now on.
pub fn purge_every(store: Arc<dyn RecordStore>, retention: Retention, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let ago = |d: Duration| now_millis() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        loop {
            tick.tick().await;
            match store
                .purge(ago(retention.records), ago(retention.complaints))
                .await
            {
                Ok(rows) if rows > 0 => tracing::info!(rows, "records past retention purged"),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "purging old records failed; trying again later")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
        assert_eq!(day_of(1_798_761_599_999), "2026-12-31");
        assert_eq!(day_of(1_798_761_600_000), "2027-01-01");
    }

    #[test]
    fn a_reply_id_is_verified_only_in_its_own_session_and_intact() {
        let key = RecordKey::random();
        let (mine, other) = (SessionId::mint(), SessionId::mint());
        let reply = key.reply_id(mine);
        assert_eq!(key.verify(mine, reply.as_str()), Some(reply.clone()));
        assert_eq!(key.verify(other, reply.as_str()), None);
        assert_eq!(RecordKey::random().verify(mine, reply.as_str()), None);
        let mut tampered = reply.as_str().to_owned();
        tampered.replace_range(0..1, if tampered.starts_with('0') { "1" } else { "0" });
        assert_eq!(key.verify(mine, &tampered), None);
        for bad in ["", "xyz", &"A".repeat(32), &"0".repeat(33)] {
            assert_eq!(key.verify(mine, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_reply_id_holds_its_time_and_sorts_between_the_bounds_of_its_millisecond() {
        let key = RecordKey::random();
        let at = 1_796_400_000_123;
        let reply = key.reply_id_at(SessionId::mint(), at);
        assert_eq!(reply.at(), at);
        assert!(ReplyId::first_at(at).as_str() <= reply.as_str());
        assert!(reply.as_str() < ReplyId::first_at(at + 1).as_str());
        assert_eq!(ReplyId::first_at(-5), "000000000000");
        assert_eq!(ReplyId::first_at(i64::MAX), "ffffffffffff");
    }

    #[test]
    fn a_session_hash_is_keyed_and_stable() {
        let (a, b) = (RecordKey::random(), RecordKey::random());
        let id = SessionId::mint();
        assert_eq!(a.session_hash(id), a.session_hash(id));
        assert_ne!(a.session_hash(id), b.session_hash(id));
        let id_text = id.to_string();
        let hash = a.session_hash(id);
        assert!(
            !hash.as_str().contains(&id_text[12..20]),
            "nothing of the id's random part is kept"
        );
        assert_eq!(SessionHash::parse(hash.as_str()), Some(hash));
    }

    #[test]
    fn conversations_begun_later_have_names_that_sort_later() {
        let key = RecordKey::random();
        let earlier = SessionId::mint();
        std::thread::sleep(Duration::from_millis(2));
        let later = SessionId::mint();
        assert!(earlier.to_string() < later.to_string());
        assert!(key.session_hash(earlier).as_str() < key.session_hash(later).as_str());
        assert_ne!(
            SessionId::mint(),
            SessionId::mint(),
            "80 random bits within a millisecond"
        );
    }
}
