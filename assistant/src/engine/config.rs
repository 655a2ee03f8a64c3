//! The engine's settings ([`EngineConfig`]) and the values it is served with.

use super::fit::AnswerThreshold;
use super::scope::{ScopeRule, ScopeWeight};
use crate::features::FeatureConfig;
use crate::svm::SvmConfig;

/// All tunable numbers of the engine. `Default` holds the tuned values.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub features: FeatureConfig,
    pub svm: SvmConfig,
    /// Softmax temperature over SVM margins.
    pub temperature: f32,
    /// Minimum calibrated probability of the best article to answer:
    /// fitted with the scope rule's threshold when that is fitted to a
    /// target, by default (`engine/fit.rs`).
    pub answer_threshold: AnswerThreshold,
    /// If best - second probability is below this, ask which was meant.
    pub clarify_gap: f32,
    /// Clarify only if the two candidates together are at least this likely.
    pub clarify_min_pair: f32,
    /// Hand off if no class has a margin of at least this.
    pub min_margin: f32,
    /// Messages with at most this many words may be read as follow-ups
    /// (when they start with a continuation opener or hold a pronoun).
    pub followup_max_words: usize,
    /// Messages with at most this many words are elliptical: always a
    /// possible follow-up.
    pub followup_elliptical_words: usize,
    /// A message that is out of scope with at least this probability on its
    /// own is re-read as a follow-up only if the topic article covers all
    /// its content words (see `followup.rs`).
    pub followup_oos_block: f32,
    /// Exponent of the out-of-scope class down-weighting
    /// (`(mean article size / oos size)^oos_balance`, capped at 1).
    pub oos_balance: f32,
    /// Include the built-in out-of-scope training examples as a rejection class.
    pub use_oos_class: bool,
    /// Weight of the sentence embedding (unit length) appended to the
    /// lexical features (unit length); used only with an encoder.
    pub semantic_weight: f32,
    /// How far each article's score falls, per unit of cosine, when its
    /// nearest example question is farther from the message than the
    /// nearest article's is; used only with an encoder. The SVM's own
    /// margins still decide whether any article claims the message
    /// (`min_margin`) and feed the scope rule.
    pub neighbour_weight: f32,
    /// Whether and where the scope rule hands off (`--handoff-target`,
    /// `--scope-threshold`). Needs an encoder.
    pub scope: ScopeRule,
    /// The margin's weight in `scope_score`: fitted when the knowledge
    /// base loads by default, then held as given.
    pub scope_weight: ScopeWeight,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            features: FeatureConfig::default(),
            svm: SvmConfig::default(),
            temperature: 0.1,
            answer_threshold: AnswerThreshold::Fitted,
            clarify_gap: 0.02,
            clarify_min_pair: 0.5,
            min_margin: -0.8,
            followup_max_words: 10,
            followup_elliptical_words: 3,
            followup_oos_block: 0.9,
            oos_balance: 0.5,
            use_oos_class: true,
            semantic_weight: 1.5,
            neighbour_weight: 3.0,
            scope: ScopeRule::Auto,
            scope_weight: ScopeWeight::Fitted,
        }
    }
}
