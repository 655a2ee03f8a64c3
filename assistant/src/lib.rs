//! support-chat's answer engine: everything that decides what the assistant
//! says, and nothing of serving it (no async runtime, no HTTP, no stores).
//!
//! * [`Message`]: a visitor's message known to be acceptable; the engine
//!   takes only these.
//! * [`KnowledgeBase`]: Markdown articles with front matter (format below),
//!   loaded from a directory or the embedded sample ([`KnowledgeBase::sample`]).
//! * [`Engine`]: normalises text, builds sparse TF-IDF features (word 1-2-grams
//!   and character 2-5-grams inside word boundaries) and, with an
//!   [`Encoder`], appends the text's sentence embedding (all-MiniLM-L6-v2),
//!   trains a one-vs-rest linear SVM (dual coordinate descent) over the
//!   articles' example questions plus an out-of-scope rejection class, and
//!   answers with calibrated confidence: answer, ask which of two articles
//!   was meant, or hand off to a person. A message that refers back ("how
//!   long does that take?", "and for LLPs?") is also read together with the question that set
//!   the current topic, and that reading wins when the message alone is
//!   unsure or only uses words the topic article's questions use (see
//!   `followup.rs`). Deterministic; no network.
//! * [`CareModel`]: beside answering, every message is scored for a
//!   complaint and for vulnerability cues ([`Signals`]); the engine answers
//!   those with the `complaints` and `support` articles and offers a person
//!   (`care.rs`).
//! * [`evaluate`]: accuracy on `text,category` CSV files through the same
//!   [`Engine::reply`] path the server uses. [`check_kb`]: cross-validation
//!   of a knowledge base, the care detectors' figures and the
//!   financial-promotion check ([`check_promotions`]).
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
//! id: personal-guarantee          # required, unique, no spaces, ≤ 64 bytes
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
//! Two more ids are special: `complaints` answers a message taken as a
//! complaint, `support` a message with a vulnerability cue (both then offer
//! a person). A body that names an interest rate, an APR or a repayment
//! amount must carry a line starting `Representative example:` (`check-kb`
//! fails it otherwise).
//!
//! An optional `care/` folder beside the articles adds examples to the
//! duty-of-care detectors' built-in ones: `care/complaint.csv` (`text,label`,
//! label `complaint` or `none`) and `care/vulnerability.csv` (label
//! `health`, `life_events`, `resilience`, `capability` or `none`).
//!
//! Loading fails as a whole, with an error naming the file, on: unreadable
//! or empty directory, bad front matter, missing `id`/`title`, no questions,
//! empty body, duplicate id, a malformed `care/` file.

mod answer;
mod bert;
mod care;
mod check;
mod encoder;
mod engine;
mod eval;
mod features;
mod followup;
mod kb;
mod message;
mod oos;
mod promotion;
mod redact;
mod svm;
mod text;
// Issue 20's experiment, run by a test in eval.rs until it earns a place.
mod tune;
mod vocab;

pub use answer::{
    Answer, ArticleRef, Assistant, HISTORY_TURNS, Outcome, Reply, STORED_MESSAGE_BYTES, Turn,
};
pub use bert::BertError;
pub use care::{
    COMPLAINT_FILE, CareCategory, CareDataError, CareExamples, CareModel, CareReport, SignalReport,
    Signals, TARGET_FALSE_POSITIVES, VULNERABILITY_FILE,
};
pub use check::{DEFAULT_MAX_MISDIRECTED, KbCheck, RECOMMENDED_QUESTIONS, check_kb};
pub use encoder::{DEFAULT_MODEL_DIR, DIM, Encoder, EncoderError, MAX_TOKENS, cosine};
pub use engine::tuning::TunedEngine;
pub use engine::{
    ANSWER_THRESHOLDS, AnswerThreshold, DEFAULT_ANSWER_THRESHOLD, DEFAULT_CONTACT,
    DEFAULT_HANDOFF_TARGET, DEFAULT_SCOPE_WEIGHT, Engine, EngineConfig, Held, HeldOut,
    SCOPE_WEIGHTS, ScopeRule, ScopeWeight, Scored, Thresholds,
};
pub use eval::{EvalError, EvalReport, HoldOut, Shots, evaluate};
pub use features::FeatureConfig;
pub use kb::{
    Article, COMPLAINTS_ARTICLE_ID, CONTACT_PLACEHOLDER, HANDOFF_ARTICLE_ID, KbEditError, KbError,
    KbErrorKind, KnowledgeBase, MAX_ID_BYTES, MAX_QUESTION_CHARS, SUPPORT_ARTICLE_ID,
    append_question,
};
pub use message::{Message, MessageError};
pub use promotion::{Finding, REPRESENTATIVE_EXAMPLE, Severity, WARNING_PHRASES, check_promotions};
pub use redact::redact;
pub use svm::SvmConfig;
pub use text::normalise;
pub use tune::TuneConfig;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
