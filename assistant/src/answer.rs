//! What the engine gives back and what the server keeps of each exchange.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::care::Signals;
use crate::message::Message;

/// What the visitor sees.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// Plain text; may contain plain https URLs. Never echoes the input.
    pub text: String,
    /// Buttons; sending one back verbatim selects it.
    pub suggestions: Vec<String>,
    /// The reply hands the visitor over to a person.
    pub handoff: bool,
}

/// How one exchange ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Answered with this article id.
    Answered { article: String },
    /// Asked which of these article ids was meant.
    Clarify { candidates: Vec<String> },
    /// Not answered: out of scope or not confident.
    Handoff { out_of_scope: bool },
}

/// How many of a conversation's latest turns the engine reads: a follow-up
/// looks back at most this far for its topic. Keeping more costs memory and
/// changes no answer.
pub const HISTORY_TURNS: usize = 3;

/// At most this many bytes of a message are kept in its [`Turn`] (cut at a
/// character boundary): enough to carry a question's topic.
pub const STORED_MESSAGE_BYTES: usize = 256;

/// What the engine remembers of one exchange (the server keeps the last few
/// per session and passes them back oldest first). Serialisable, for a
/// shared session store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The user's message, normalised (lowercase words, no punctuation).
    pub message: String,
    pub outcome: Outcome,
    /// Calibrated confidence of the decision (0..1), for logging.
    pub confidence: f32,
    /// The visitor expressed dissatisfaction (a complaint) in this turn:
    /// what follows is not deflected into answers the engine is unsure of.
    #[serde(default)]
    pub complaint: bool,
}

impl Turn {
    /// Bytes this turn occupies, its heap allocations included: what a
    /// session store counts against its byte budget.
    pub fn size_bytes(&self) -> usize {
        let ids = match &self.outcome {
            Outcome::Answered { article } => article.capacity(),
            Outcome::Clarify { candidates } => {
                candidates.capacity() * size_of::<String>()
                    + candidates.iter().map(String::capacity).sum::<usize>()
            }
            Outcome::Handoff { .. } => 0,
        };
        size_of::<Turn>() + self.message.capacity() + ids
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Which approved wording a reply showed: an article and the version of its
/// content ([`Article::version`](crate::Article::version)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleRef {
    pub id: String,
    pub version: String,
}

/// Everything the engine says of one exchange.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// What the visitor sees.
    pub reply: Reply,
    /// What the conversation keeps.
    pub turn: Turn,
    /// The article whose words the reply shows (the `handoff` article's for
    /// a handoff); `None` for a clarifying question.
    pub article: Option<ArticleRef>,
    /// The message's sentence embedding, where there is an encoder (the
    /// records group similar unanswered questions by it).
    pub embedding: Option<Arc<[f32]>>,
    /// What the message showed beside its question: a complaint, a
    /// vulnerability cue (`care.rs`).
    pub signals: Signals,
}

/// What the server needs from an answer engine.
pub trait Assistant: Send + Sync + 'static {
    fn reply(&self, message: &Message, history: &[Turn]) -> Answer;
}
