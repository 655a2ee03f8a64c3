//! The scope rule's settings and thresholds: whether and where the engine
//! hands off as out of scope what [`scope_score`](super::scope_score)s low, the
//! threshold fitted to each knowledge base at load, and [`Scope`], how in
//! scope one message looks by each measure.

use crate::kb::KnowledgeBase;
use serde::Serialize;

/// The scope rule: hand off as out of scope what `scope_score`s under a
/// threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeRule {
    /// [`ScopeRule::Target`] of [`DEFAULT_HANDOFF_TARGET`] when the
    /// knowledge base has out-of-scope examples (`out-of-scope.txt`), else
    /// [`ScopeRule::Off`]: without near-domain examples to fit against, the
    /// rule cost more answers than it saved (BENCHMARKS.md, "Out of scope").
    Auto,
    /// No scope rule: an out-of-scope class scoring highest hands off.
    Off,
    /// The threshold is fitted when the knowledge base loads so that at most
    /// this share of its own questions (each held out by `SCOPE_FOLDS`-fold
    /// cross-validation) is handed off.
    Target(f32),
    /// This threshold, as it is.
    Threshold(f32),
}

/// The share of its own questions the scope rule may hand off by default.
pub const DEFAULT_HANDOFF_TARGET: f32 = 0.05;

impl ScopeRule {
    /// The rule for `kb`: [`ScopeRule::Auto`] made [`ScopeRule::Target`] or
    /// [`ScopeRule::Off`] by whether it has out-of-scope examples; the
    /// others as they are.
    pub fn for_knowledge_base(self, kb: &KnowledgeBase) -> ScopeRule {
        match self {
            ScopeRule::Auto if kb.out_of_scope().is_empty() => ScopeRule::Off,
            ScopeRule::Auto => ScopeRule::Target(DEFAULT_HANDOFF_TARGET),
            rule => rule,
        }
    }
}

/// The threshold under which, with the other rules (`held`: each held-out
/// question's score and whether they hand it off), at most `target` of
/// `held` is handed off: minus infinity (no rule) when the other rules alone
/// reach it; `None` when `held` is empty.
pub fn threshold_for(held: &[(f32, bool)], target: f32) -> Option<f32> {
    if held.is_empty() {
        return None;
    }
    let allowed = (target * held.len() as f32).floor() as usize;
    let already = held.iter().filter(|(_, other)| *other).count();
    let mut free: Vec<f32> = held
        .iter()
        .filter(|(_, other)| !other)
        .map(|(s, _)| *s)
        .collect();
    free.sort_by(f32::total_cmp);
    Some(match allowed.checked_sub(already) {
        Some(k) => free.get(k).copied().unwrap_or(f32::INFINITY),
        None => f32::NEG_INFINITY,
    })
}

/// Folds of the scope threshold's cross-validation, and of the margin
/// weight's.
pub const SCOPE_FOLDS: usize = 5;

/// How much the best article's margin counts in the scope score, against
/// the nearest example question's cosine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScopeWeight {
    /// Chosen among [`SCOPE_WEIGHTS`] when the knowledge base loads, by
    /// leaving its articles out (`engine/weight.rs`); [`DEFAULT_SCOPE_WEIGHT`]
    /// until then, and where that cannot be done.
    Fitted,
    /// This weight, as it is (what a fitted engine holds once it is chosen).
    Given(f32),
}

impl ScopeWeight {
    pub fn value(self) -> f32 {
        match self {
            ScopeWeight::Fitted => DEFAULT_SCOPE_WEIGHT,
            ScopeWeight::Given(weight) => weight,
        }
    }
}

/// The weight where none is fitted: without an encoder, or with fewer than
/// `MIN_ARTICLES_TO_FIT` articles to leave out.
pub const DEFAULT_SCOPE_WEIGHT: f32 = 0.4;

/// The weights a knowledge base's is chosen among.
pub const SCOPE_WEIGHTS: [f32; 9] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2];

/// The fewest articles (handoff articles aside) a weight is fitted with:
/// with fewer, each fold would leave out one or two topics.
pub const MIN_ARTICLES_TO_FIT: usize = 10;

/// [`scope_score`](super::scope_score) of its parts.
pub fn score(neighbour: f32, article_over_oos: f32, oos_neighbour: f32, weight: f32) -> f32 {
    neighbour + weight * article_over_oos - (oos_neighbour - neighbour).max(0.0)
}

/// How in scope one message looks; higher is more, by each measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scope {
    /// The best article's calibrated probability (0 when the out-of-scope
    /// class wins): what the decision has used so far.
    pub p_answer: f32,
    /// The best article's SVM margin less the out-of-scope class's.
    pub article_over_oos: f32,
    /// The best cosine to any article's example question.
    pub neighbour: f32,
    /// The best cosine to any of the knowledge base's own out-of-scope
    /// examples (`out-of-scope.txt`; 0 without).
    pub oos_neighbour: f32,
    /// [`scope_score`](super::scope_score) of these: what the scope rule reads.
    pub score: f32,
}

impl Scope {
    /// The scope score of these parts with the margin weighted by `weight`.
    pub fn score_with(&self, weight: f32) -> f32 {
        score(
            self.neighbour,
            self.article_over_oos,
            self.oos_neighbour,
            weight,
        )
    }
}
