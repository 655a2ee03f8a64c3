//! Conversations, kept server-side and keyed by an unguessable id.
//!
//! [`SessionStore`] is the interface a shared store could implement later;
//! [`MemorySessions`] keeps them in memory, bounded three ways: idle expiry,
//! a cap on turns per conversation, and a cap on conversations with
//! least-recently-used eviction.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::domain::assistant::Turn;

/// 128 bits from the OS CSPRNG, written as 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(u128);

impl SessionId {
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
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

pub trait SessionStore: Send + Sync + 'static {
    /// The conversation's turns, oldest first, and the id to answer with: the
    /// same id while it is alive, a fresh one when `id` is absent, unknown or expired.
    fn resume(&self, id: Option<SessionId>, now: Instant) -> (SessionId, Vec<Turn>);
    /// Records a turn, creating the conversation if it is new.
    fn append(&self, id: SessionId, turn: Turn, now: Instant);
}

#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub idle: Duration,
    pub max_turns: usize,
    pub max_sessions: NonZeroUsize,
}

struct Conversation {
    turns: VecDeque<Turn>,
    last_seen: Instant,
}

pub struct MemorySessions {
    limits: SessionLimits,
    conversations: Mutex<LruCache<SessionId, Conversation>>,
}

impl MemorySessions {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            conversations: Mutex::new(LruCache::new(limits.max_sessions)),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<SessionId, Conversation>> {
        self.conversations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, conversation: &Conversation, now: Instant) -> bool {
        now.saturating_duration_since(conversation.last_seen) >= self.limits.idle
    }
}

impl SessionStore for MemorySessions {
    fn resume(&self, id: Option<SessionId>, now: Instant) -> (SessionId, Vec<Turn>) {
        let mut conversations = self.lock();
        if let Some(id) = id {
            match conversations.peek(&id) {
                Some(c) if !self.expired(c, now) => return (id, c.turns.iter().cloned().collect()),
                Some(_) => drop(conversations.pop(&id)),
                None => {}
            }
        }
        (SessionId::random(), Vec::new())
    }

    fn append(&self, id: SessionId, turn: Turn, now: Instant) {
        let mut conversations = self.lock();
        // Forget idle conversations from the cold end, so expiry frees memory
        // without a background task.
        while conversations
            .peek_lru()
            .is_some_and(|(_, c)| self.expired(c, now))
        {
            conversations.pop_lru();
        }
        let conversation = conversations.get_or_insert_mut(id, || Conversation {
            turns: VecDeque::new(),
            last_seen: now,
        });
        conversation.last_seen = now;
        conversation.turns.push_back(turn);
        while conversation.turns.len() > self.limits.max_turns {
            conversation.turns.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assistant::Outcome;

    fn store(max_sessions: usize) -> MemorySessions {
        MemorySessions::new(SessionLimits {
            idle: Duration::from_secs(60),
            max_turns: 3,
            max_sessions: NonZeroUsize::new(max_sessions).unwrap(),
        })
    }

    fn turn(text: &str) -> Turn {
        Turn {
            message: text.into(),
            outcome: Outcome::Handoff {
                out_of_scope: false,
            },
            confidence: 0.0,
        }
    }

    #[test]
    fn session_ids_round_trip_and_only_the_servers_format_parses() {
        let id = SessionId::random();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_ne!(SessionId::random(), id);
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
        let (id, history) = sessions.resume(None, now);
        assert!(history.is_empty());
        for text in ["a", "b", "c", "d"] {
            sessions.append(id, turn(text), now);
        }
        let (same, history) = sessions.resume(Some(id), now);
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
        let unknown = SessionId::random();
        assert_ne!(sessions.resume(Some(unknown), now).0, unknown);
        let (id, _) = sessions.resume(None, now);
        sessions.append(id, turn("hi"), now);
        let later = now + Duration::from_secs(60);
        let (fresh, history) = sessions.resume(Some(id), later);
        assert_ne!(fresh, id);
        assert!(history.is_empty());
        assert!(sessions.is_empty(), "the expired conversation is dropped");
    }

    #[test]
    fn the_least_recently_used_conversation_is_evicted_at_the_cap() {
        let (sessions, now) = (store(2), Instant::now());
        let ids: Vec<_> = (0..3).map(|_| SessionId::random()).collect();
        sessions.append(ids[0], turn("0"), now);
        sessions.append(ids[1], turn("1"), now);
        sessions.append(ids[0], turn("0 again"), now);
        sessions.append(ids[2], turn("2"), now);
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.resume(Some(ids[0]), now).0, ids[0]);
        assert_ne!(sessions.resume(Some(ids[1]), now).0, ids[1]);
    }
}
