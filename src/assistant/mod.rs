//! The answer engine of the support assistant.
//!
//! * [`KnowledgeBase`]: Markdown articles with front matter (format below),
//!   loaded from a directory or the embedded sample ([`KnowledgeBase::sample`]).
//! * [`Engine`]: normalises text, builds sparse TF-IDF features (word 1-2-grams
//!   and character 2-5-grams inside word boundaries), trains a one-vs-rest
//!   linear SVM (dual coordinate descent) over the articles' example questions
//!   plus an out-of-scope rejection class, and answers with calibrated
//!   confidence: answer, ask which of two articles was meant, or hand off to a
//!   person. A message that refers back ("how long does that take?", "and
//!   for sole traders?") is also read together with the question that set
//!   the current topic, and that reading wins when the message alone is
//!   unsure or only uses words the topic article's questions use (see
//!   `Engine::decide_with_context`). Deterministic; no network.
//! * [`evaluate`]: accuracy on `text,category` CSV files through the same
//!   [`Engine::reply`] path the server uses.
//!
//! # Knowledge-base format
//!
//! One UTF-8 Markdown file per answer (`*.md`; other files are ignored; files
//! are read in file-name order). The file starts with a front-matter block
//! between two `---` lines, a small YAML subset:
//!
//! ```text
//! ---
//! # comment lines start with '#'
//! id: personal-guarantee          # required, unique, no spaces
//! title: Do I need a personal guarantee?   # required; shown as a suggestion
//! questions:                      # required, at least one (8-20 recommended)
//!   - Do I need a personal guarantee?
//!   - "Will I be personally liable?"
//! suggestions:                    # optional follow-up buttons
//!   - Who can apply?
//! links:                          # optional, https:// only
//!   - https://example.com/faq
//! handoff: false                  # optional; true = answering hands off
//! ---
//! The answer text (plain text). `{{contact}}` is replaced by the body of
//! the `handoff` article.
//! ```
//!
//! Scalars are `key: value` (optionally in `"double"` or `'single'` quotes,
//! needed when the value starts with a quote or has a trailing `#`); lists
//! are `key:` followed by `  - item` lines. Unknown keys are errors. The
//! article with id `handoff` holds the human contact text: it is the answer
//! to "talk to a person" and is appended to every handoff reply, so contact
//! details live in one place. Suggestions that equal an article title resolve
//! to that article directly. Links are appended as `More: <url>` lines.
//!
//! Loading fails as a whole, with an error naming the file, on: unreadable
//! or empty directory, bad front matter, missing `id`/`title`, no questions,
//! empty body, duplicate id.

mod engine;
mod eval;
mod features;
mod kb;
mod oos;
mod svm;
mod text;

pub use engine::{DEFAULT_CONTACT, Engine, EngineConfig, Scored};
pub use eval::{
    EvalError, EvalReport, OOS_CATEGORY, evaluate, evaluate_engine, evaluate_with,
    read_labelled_csv,
};
pub use features::FeatureConfig;
pub use kb::{
    Article, CONTACT_PLACEHOLDER, HANDOFF_ARTICLE_ID, KbError, KbErrorKind, KnowledgeBase,
};
pub use svm::SvmConfig;
pub use text::normalise;

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

#[cfg(test)]
mod tests;
