//! What the engine gives back and what the server keeps of each exchange.

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
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Answered with this article id.
    Answered { article: String },
    /// Asked which of these article ids was meant.
    Clarify { candidates: Vec<String> },
    /// Not answered: out of scope or not confident.
    Handoff { out_of_scope: bool },
}

/// What the engine remembers of one exchange (the server keeps the last few
/// per session and passes them back oldest first).
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    /// The user's message, normalised (lowercase words, no punctuation).
    pub message: String,
    pub outcome: Outcome,
    /// Calibrated confidence of the decision (0..1), for logging.
    pub confidence: f32,
}

/// What the server needs from an answer engine.
pub trait Assistant: Send + Sync + 'static {
    fn reply(&self, message: &str, history: &[Turn]) -> (Reply, Turn);
}
