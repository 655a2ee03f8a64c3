//! Conversations, kept server-side and keyed by an unguessable id.
//!
//! [`SessionStore`] is the interface; `store::redis::RedisSessions` keeps
//! conversations on Redis for several replicas, and [`MemorySessions`] keeps them in memory, bounded four ways: idle expiry,
//! a cap on turns per conversation, a cap on conversations and a byte budget,
//! the last two with least-recently-used eviction. Its worst case is the
//! byte budget: every byte it holds is counted against it.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::domain::Pending;
use support_chat_assistant::Turn;

/// 128 bits, written as 32 lowercase hex digits: the time it was minted in
/// milliseconds (48 bits), then 80 bits from the OS CSPRNG (unguessable as
/// a ULID is). Ids minted later sort later, and so do their records' names
/// ([`crate::domain::records::RecordKey::session_hash`]): the records'
/// index by conversation grows at its end instead of at random places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(u128);

impl SessionId {
    /// A new id, of now.
    pub fn mint() -> Self {
        let mut bytes = [0u8; 16];
        let millis = crate::domain::clock::now_millis().to_be_bytes();
        bytes[..6].copy_from_slice(&millis[2..]);
        getrandom::fill(&mut bytes[6..]).expect("the OS random source is available");
        Self(u128::from_be_bytes(bytes))
    }

    /// Accepts exactly the server's own format.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed =
            text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed
            .then(|| u128::from_str_radix(text, 16).ok())
            .flatten()
            .map(Self)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The session store did not answer (Redis down or slow), so what it holds
/// is unknown: a conversation to erase may still be there.
#[derive(Debug, thiserror::Error)]
#[error("the conversations' store did not answer")]
pub struct SessionsUnavailable;

pub trait SessionStore: Send + Sync + 'static {
    /// The conversation's turns, oldest first, and the id to answer with: the
    /// same id while it is alive, a fresh one when `id` is absent, unknown or
    /// expired (a store that cannot tell, Redis down, gives `id` back with
    /// no turns). The turns are shared, not copied.
    fn resume(&self, id: Option<SessionId>, now: Instant) -> Pending<'_, (SessionId, Arc<[Turn]>)>;
    /// Records a turn: a [`Begun::New`] conversation is created; a
    /// [`Begun::Before`] one gets the turn only while it is still there, so a
    /// turn whose reply was being made while the conversation was erased (or
    /// expired) does not bring it back.
    fn append(&self, id: SessionId, turn: Turn, begun: Begun, now: Instant) -> Pending<'_, ()>;
    /// Forgets the conversation (the visitor erased it): its id starts a new
    /// one. An error when the store did not answer: it may still hold it.
    fn forget(&self, id: SessionId) -> Pending<'_, Result<(), SessionsUnavailable>>;
    /// Conversations kept now (`None` when the store does not answer).
    fn live(&self) -> Pending<'_, Option<usize>>;
}

/// Whether a turn's conversation was there when its message arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begun {
    /// [`SessionStore::resume`] gave a new id: the turn starts it.
    New,
    /// [`SessionStore::resume`] gave back the id asked for (its conversation,
    /// or a store that could not tell): the turn continues it.
    Before,
}

impl Begun {
    /// What [`SessionStore::resume`] giving `given` for `asked` says.
    pub fn of(asked: Option<SessionId>, given: SessionId) -> Self {
        if asked == Some(given) {
            Self::Before
        } else {
            Self::New
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub idle: Duration,
    /// Turns kept per conversation (the engine reads
    /// [`HISTORY_TURNS`](support_chat_assistant::HISTORY_TURNS)).
    pub max_turns: NonZeroUsize,
    pub max_sessions: NonZeroUsize,
    /// Bytes all conversations may occupy together, bookkeeping included
    /// ([`MemorySessions::CONVERSATION_BYTES`] each, plus [`Turn::size_bytes`]
    /// of every turn); the least recently used go first.
    pub max_bytes: usize,
}

struct Conversation {
    turns: Arc<[Turn]>,
    last_seen: Instant,
    /// This conversation's share of the budget.
    bytes: usize,
}

struct Conversations {
    lru: LruCache<SessionId, Conversation>,
    bytes: usize,
}

impl Conversations {
    fn pop_lru(&mut self) {
        if let Some((_, gone)) = self.lru.pop_lru() {
            self.bytes -= gone.bytes;
        }
    }
}

/// The in-process [`SessionStore`]: bounded by count, turns, idle time and bytes.
pub struct MemorySessions {
    limits: SessionLimits,
    conversations: Mutex<Conversations>,
}

impl MemorySessions {
    /// What one conversation costs besides its turns: its id, its entry in
    /// the LRU map (links and hash slot), its bookkeeping and its turn list's
    /// header, rounded up.
    pub const CONVERSATION_BYTES: usize = 192;

    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            conversations: Mutex::new(Conversations {
                lru: LruCache::new(limits.max_sessions),
                bytes: 0,
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes counted against [`SessionLimits::max_bytes`] now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conversations> {
        self.conversations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, conversation: &Conversation, now: Instant) -> bool {
        now.saturating_duration_since(conversation.last_seen) >= self.limits.idle
    }
}

impl SessionStore for MemorySessions {
    fn resume(&self, id: Option<SessionId>, now: Instant) -> Pending<'_, (SessionId, Arc<[Turn]>)> {
        Box::pin(std::future::ready(self.resume_now(id, now)))
    }

    fn append(&self, id: SessionId, turn: Turn, begun: Begun, now: Instant) -> Pending<'_, ()> {
        self.append_now(id, turn, begun, now);
        Box::pin(std::future::ready(()))
    }

    fn forget(&self, id: SessionId) -> Pending<'_, Result<(), SessionsUnavailable>> {
        let mut conversations = self.lock();
        if let Some(gone) = conversations.lru.pop(&id) {
            conversations.bytes -= gone.bytes;
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn live(&self) -> Pending<'_, Option<usize>> {
        Box::pin(std::future::ready(Some(self.len())))
    }
}

impl MemorySessions {
    /// [`SessionStore::resume`], at once.
    pub fn resume_now(&self, id: Option<SessionId>, now: Instant) -> (SessionId, Arc<[Turn]>) {
        let mut conversations = self.lock();
        if let Some(id) = id {
            match conversations.lru.peek(&id) {
                Some(c) if !self.expired(c, now) => return (id, c.turns.clone()),
                Some(_) => {
                    if let Some(gone) = conversations.lru.pop(&id) {
                        conversations.bytes -= gone.bytes;
                    }
                }
                None => {}
            }
        }
        (SessionId::mint(), Arc::new([]))
    }

    /// [`SessionStore::append`], at once.
    pub fn append_now(&self, id: SessionId, turn: Turn, begun: Begun, now: Instant) {
        let mut conversations = self.lock();
        // Forget idle conversations from the cold end, so expiry frees memory
        // without a background task.
        while conversations
            .lru
            .peek_lru()
            .is_some_and(|(_, c)| self.expired(c, now))
        {
            conversations.pop_lru();
        }
        let max_turns = self.limits.max_turns.get();
        let turns = match conversations.lru.pop(&id) {
            Some(c) => {
                conversations.bytes -= c.bytes;
                c.turns
            }
            None if begun == Begun::Before => {
                tracing::debug!(
                    "a turn of a conversation gone meanwhile (erased, expired) is not kept"
                );
                return;
            }
            None => Arc::from([]),
        };
        // A new list of at most `max_turns` (small: the engine reads a few),
        // so readers holding the old one are never disturbed.
        let skip = (turns.len() + 1).saturating_sub(max_turns);
        let turns: Arc<[Turn]> = turns
            .iter()
            .skip(skip)
            .cloned()
            .chain(std::iter::once(turn))
            .collect();
        let bytes = Self::CONVERSATION_BYTES + turns.iter().map(Turn::size_bytes).sum::<usize>();
        if bytes > self.limits.max_bytes {
            return; // a single conversation over the whole budget is not kept
        }
        // Make room: the least recently used conversations go first.
        while conversations.bytes + bytes > self.limits.max_bytes && !conversations.lru.is_empty() {
            conversations.pop_lru();
        }
        if let Some((_, gone)) = conversations.lru.push(
            id,
            Conversation {
                turns,
                last_seen: now,
                bytes,
            },
        ) {
            // The count cap evicted the least recently used.
            conversations.bytes -= gone.bytes;
        }
        conversations.bytes += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use support_chat_assistant::Outcome;

    fn store(max_sessions: usize) -> MemorySessions {
        store_with_budget(max_sessions, usize::MAX)
    }

    fn store_with_budget(max_sessions: usize, max_bytes: usize) -> MemorySessions {
        MemorySessions::new(SessionLimits {
            idle: Duration::from_secs(60),
            max_turns: NonZeroUsize::new(3).unwrap(),
            max_sessions: NonZeroUsize::new(max_sessions).unwrap(),
            max_bytes,
        })
    }

    fn turn(text: &str) -> Turn {
        Turn {
            message: text.into(),
            outcome: Outcome::Handoff {
                out_of_scope: false,
            },
            confidence: 0.0,
            complaint: false,
        }
    }

    #[test]
    fn session_ids_round_trip_and_only_the_servers_format_parses() {
        let id = SessionId::mint();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_ne!(SessionId::mint(), id);
        for bad in [
            "",
            "abc",
            &"A".repeat(32),
            &"0".repeat(33),
            &"g".repeat(32),
            "+0000000000000000000000000000000",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_conversation_continues_under_its_id_and_keeps_only_the_last_turns() {
        let (sessions, now) = (store(10), Instant::now());
        let (id, history) = sessions.resume_now(None, now);
        assert!(history.is_empty());
        for text in ["a", "b", "c", "d"] {
            sessions.append_now(id, turn(text), Begun::New, now);
        }
        let (same, history) = sessions.resume_now(Some(id), now);
        assert_eq!(same, id);
        assert_eq!(
            history
                .iter()
                .map(|t| t.message.as_str())
                .collect::<Vec<_>>(),
            ["b", "c", "d"]
        );
    }

    #[test]
    fn unknown_and_idle_ids_start_a_new_conversation() {
        let (sessions, now) = (store(10), Instant::now());
        let unknown = SessionId::mint();
        assert_ne!(sessions.resume_now(Some(unknown), now).0, unknown);
        let (id, _) = sessions.resume_now(None, now);
        sessions.append_now(id, turn("hi"), Begun::New, now);
        let later = now + Duration::from_secs(60);
        let (fresh, history) = sessions.resume_now(Some(id), later);
        assert_ne!(fresh, id);
        assert!(history.is_empty());
        assert!(sessions.is_empty(), "the expired conversation is dropped");
    }

    #[test]
    fn the_least_recently_used_conversation_is_evicted_at_the_cap() {
        let (sessions, now) = (store(2), Instant::now());
        let ids: Vec<_> = (0..3).map(|_| SessionId::mint()).collect();
        sessions.append_now(ids[0], turn("0"), Begun::New, now);
        sessions.append_now(ids[1], turn("1"), Begun::New, now);
        sessions.append_now(ids[0], turn("0 again"), Begun::New, now);
        sessions.append_now(ids[2], turn("2"), Begun::New, now);
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.resume_now(Some(ids[0]), now).0, ids[0]);
        assert_ne!(sessions.resume_now(Some(ids[1]), now).0, ids[1]);
    }

    #[test]
    fn resuming_shares_the_turns_instead_of_copying_them() {
        let (sessions, now) = (store(10), Instant::now());
        let id = SessionId::mint();
        sessions.append_now(id, turn("a"), Begun::New, now);
        let (_, first) = sessions.resume_now(Some(id), now);
        let (_, second) = sessions.resume_now(Some(id), now);
        assert!(Arc::ptr_eq(&first, &second));
        sessions.append_now(id, turn("b"), Begun::New, now);
        assert_eq!(first.len(), 1, "a reader's turns do not change under it");
    }

    #[test]
    fn the_byte_budget_holds_whatever_is_stored_and_the_least_recently_used_go_first() {
        let big = |n: usize| turn(&"x".repeat(n));
        let per_conversation = MemorySessions::CONVERSATION_BYTES + 3 * big(256).size_bytes();
        let budget = 10 * per_conversation;
        let (sessions, now) = (store_with_budget(1_000, budget), Instant::now());
        let ids: Vec<_> = (0..50).map(|_| SessionId::mint()).collect();
        for id in &ids {
            for _ in 0..5 {
                sessions.append_now(*id, big(256), Begun::New, now);
                assert!(
                    sessions.bytes() <= budget,
                    "{} > {budget}",
                    sessions.bytes()
                );
            }
        }
        assert_eq!(sessions.len(), 10, "the budget fits ten full conversations");
        assert_eq!(
            sessions.resume_now(Some(ids[49]), now).0,
            ids[49],
            "the newest stay"
        );
        assert_ne!(
            sessions.resume_now(Some(ids[0]), now).0,
            ids[0],
            "the oldest went"
        );
        // The count matches what is held: drain by expiry and it returns to zero.
        sessions.append_now(
            SessionId::mint(),
            big(1),
            Begun::New,
            now + Duration::from_secs(61),
        );
        assert_eq!(sessions.len(), 1);
        assert_eq!(
            sessions.bytes(),
            MemorySessions::CONVERSATION_BYTES + big(1).size_bytes()
        );
    }

    #[tokio::test]
    async fn a_forgotten_conversation_is_gone_and_its_bytes_are_given_back() {
        let (sessions, now) = (store(10), Instant::now());
        let id = SessionId::mint();
        sessions.append_now(id, turn("hello"), Begun::New, now);
        sessions.forget(id).await.unwrap();
        assert!(sessions.is_empty());
        assert_eq!(sessions.bytes(), 0);
        assert_ne!(sessions.resume_now(Some(id), now).0, id);
    }

    #[tokio::test]
    async fn a_reply_finished_after_its_conversation_was_erased_does_not_bring_it_back() {
        let (sessions, now) = (store(10), Instant::now());
        let id = SessionId::mint();
        sessions.append_now(id, turn("hello"), Begun::New, now);
        let (same, _) = sessions.resume_now(Some(id), now);
        assert_eq!(Begun::of(Some(id), same), Begun::Before);
        // The visitor erases it (another tab) while the reply is being made.
        sessions.forget(id).await.unwrap();
        sessions.append_now(id, turn("my account is 12345678"), Begun::Before, now);
        assert!(sessions.is_empty(), "the erased conversation stays erased");
        assert_ne!(sessions.resume_now(Some(id), now).0, id);
    }

    #[test]
    fn a_conversation_larger_than_the_whole_budget_is_not_kept() {
        let (sessions, now) = (store_with_budget(10, 100), Instant::now());
        let id = SessionId::mint();
        sessions.append_now(id, turn("hello"), Begun::New, now);
        assert!(sessions.is_empty());
        assert_eq!(sessions.bytes(), 0);
    }
}
