//! The scope score's margin weight, chosen for each knowledge base when it
//! loads (issue 20). The nearest example question's cosine and the best
//! article's margin separate out-of-scope messages together better than
//! either alone, but how much the margin should count differs from one
//! knowledge base to the next (BENCHMARKS.md, "Out of scope"). So each
//! knowledge base plays its own near-domain out-of-scope questions: in
//! each of [`SCOPE_FOLDS`] folds, a fifth of its articles is left out
//! altogether (article `i` in fold `i mod 5`, handoff articles aside), the
//! engine trains on the rest without that fold's questions and
//! out-of-scope examples, and the weight that hands off most of the
//! left-out articles' questions and held-out examples, with the target
//! share of the held-out own questions handed off, is the one served.

use super::{
    DEFAULT_HANDOFF_TARGET, DEFAULT_SCOPE_WEIGHT, Engine, EngineConfig, MIN_ARTICLES_TO_FIT,
    SCOPE_FOLDS, SCOPE_WEIGHTS, Scope, ScopeRule, ScopeWeight, threshold_for,
};
use crate::kb::{KnowledgeBase, held_out};

/// The indices of `kb`'s articles that answer (handoff articles aside).
fn answerable(kb: &KnowledgeBase) -> Vec<usize> {
    (kb.articles().iter().enumerate())
        .filter(|(_, a)| !a.handoff)
        .map(|(i, _)| i)
        .collect()
}

impl Engine {
    /// Whether `cfg` leaves the margin weight to be chosen for `kb` by
    /// leaving its articles out (with an encoder): not given, not held at
    /// [`DEFAULT_SCOPE_WEIGHT`] by a threshold given as it is
    /// (`--scope-threshold`: a weight that moved with each load would move
    /// it), and at least [`MIN_ARTICLES_TO_FIT`] articles to leave out.
    pub(crate) fn chooses_weight(cfg: &EngineConfig, kb: &KnowledgeBase) -> bool {
        cfg.scope_weight == ScopeWeight::Fitted
            && !matches!(cfg.scope, ScopeRule::Threshold(_))
            && answerable(kb).len() >= MIN_ARTICLES_TO_FIT
    }

    /// This engine with its margin weight chosen where [`Engine::chooses_weight`]
    /// says so, [`DEFAULT_SCOPE_WEIGHT`] where it is to be fitted but
    /// cannot be, and held as given from then on.
    pub(super) fn with_fitted_weight(mut self) -> Engine {
        if self.cfg.scope_weight == ScopeWeight::Fitted {
            let weight = if self.encoder.is_some() && Self::chooses_weight(&self.cfg, &self.kb) {
                self.fit_scope_weight()
            } else {
                DEFAULT_SCOPE_WEIGHT
            };
            self.cfg.scope_weight = ScopeWeight::Given(weight);
        }
        self
    }

    /// The margin weight this engine's knowledge base chooses by leaving its
    /// articles out (see the module), where [`Engine::chooses_weight`] holds.
    /// [`SCOPE_FOLDS`] more trainings, untuned whether or not the engine
    /// served is tuned.
    fn fit_scope_weight(&self) -> f32 {
        let answerable = answerable(&self.kb);
        let target = match self.cfg.scope.for_knowledge_base(&self.kb) {
            ScopeRule::Target(target) => target,
            _ => DEFAULT_HANDOFF_TARGET,
        };
        let cfg = EngineConfig {
            scope: ScopeRule::Off,
            scope_weight: ScopeWeight::Given(DEFAULT_SCOPE_WEIGHT),
            ..self.cfg.clone()
        };
        let (mut own, mut outside): (Vec<Scope>, Vec<Scope>) = (Vec::new(), Vec::new());
        for fold in 0..SCOPE_FOLDS {
            let mut left_out = vec![false; self.kb.articles().len()];
            for (n, &i) in answerable.iter().enumerate() {
                left_out[i] = n % SCOPE_FOLDS == fold;
            }
            let kb = self.kb.leaving_out(SCOPE_FOLDS, fold, &left_out);
            let engine = Engine::trained(
                kb,
                cfg.clone(),
                self.encoder.clone(),
                None,
                self.care.clone(),
            );
            for &i in &answerable {
                let article = &self.kb.articles()[i];
                if left_out[i] {
                    outside.extend(article.questions.iter().map(|q| engine.scope(q)));
                } else {
                    let held = held_out(article, SCOPE_FOLDS, fold, true);
                    own.extend(held.map(|q| engine.scope(q)));
                }
            }
            let lines = self.kb.out_of_scope_fold(SCOPE_FOLDS, fold, true);
            outside.extend(lines.map(|line| engine.scope(line)));
        }
        best_weight(&own, &outside, target)
    }
}

/// The first of [`SCOPE_WEIGHTS`] under whose score, with at most `target`
/// of `own` handed off, most of `outside` is.
fn best_weight(own: &[Scope], outside: &[Scope], target: f32) -> f32 {
    let mut best = (DEFAULT_SCOPE_WEIGHT, 0usize);
    for weight in SCOPE_WEIGHTS {
        let score = |s: &Scope| s.score_with(weight);
        let held: Vec<(f32, bool)> = own.iter().map(|s| (score(s), false)).collect();
        let Some(threshold) = threshold_for(&held, target) else {
            return DEFAULT_SCOPE_WEIGHT;
        };
        let caught = outside.iter().filter(|s| score(s) < threshold).count();
        if caught > best.1 {
            best = (weight, caught);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(neighbour: f32, margin: f32) -> Scope {
        Scope {
            p_answer: 0.0,
            article_over_oos: margin,
            neighbour,
            oos_neighbour: 0.0,
            score: 0.0,
        }
    }

    #[test]
    fn the_weight_chosen_is_the_one_that_tells_the_outside_apart_best() {
        // Own questions and outside ones alike by the neighbour (0.5 to
        // 0.89), told apart by the margin (1 and -1): the first weight
        // under which all of the outside falls below the threshold (the
        // third own score, 0.52 + w) is 0.2.
        let own: Vec<Scope> = (0..40).map(|i| scope(0.5 + i as f32 * 0.01, 1.0)).collect();
        let outside: Vec<Scope> = (0..40)
            .map(|i| scope(0.5 + i as f32 * 0.01, -1.0))
            .collect();
        assert_eq!(best_weight(&own, &outside, 0.05), 0.2);
        assert_eq!(
            best_weight(&own, &outside[..20], 0.05),
            0.1,
            "fewer to catch"
        );
        // Told apart by the neighbour, the margin noise: the smallest.
        let own: Vec<Scope> = (0..40).map(|i| scope(0.9, (i % 7) as f32 - 3.0)).collect();
        let outside: Vec<Scope> = (0..40).map(|i| scope(0.4, (i % 5) as f32 - 2.0)).collect();
        assert_eq!(best_weight(&own, &outside, 0.05), 0.0);
        assert_eq!(best_weight(&[], &outside, 0.05), DEFAULT_SCOPE_WEIGHT);
    }
}
