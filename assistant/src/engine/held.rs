//! The knowledge base's own questions and out-of-scope examples held out
//! by question folds, each as the engine of its fold decides it
//! ([`HeldOut`]), and the two thresholds fitted over them when the
//! knowledge base loads ([`fit`](super::fit::fit), tuned folds in
//! `tuning.rs`).

use super::fit::{self, AnswerThreshold, Held, HeldOut, Thresholds};
use super::{Engine, EngineConfig, SCOPE_FOLDS, ScopeRule, scope_score};
use crate::kb::{KnowledgeBase, held_out};
use crate::text::normalise;

impl Engine {
    /// This engine with the scope rule's threshold its configuration gives
    /// (the one given, or `fit`'s for a target, with an encoder, or none),
    /// and the answer threshold `fit` chose with it unless one is given.
    pub(super) fn with_thresholds(
        mut self,
        fit: impl FnOnce(&Engine, f32) -> Option<Thresholds>,
    ) -> Engine {
        self.scope_threshold = match self.cfg.scope.for_knowledge_base(&self.kb) {
            ScopeRule::Threshold(given) => Some(given),
            ScopeRule::Target(target) if self.encoder.is_some() => {
                let fitted = fit(&self, target);
                if let Some(Thresholds { answer, .. }) = fitted
                    && !matches!(self.cfg.answer_threshold, AnswerThreshold::Given(_))
                {
                    self.cfg.answer_threshold = AnswerThreshold::Chosen(answer);
                }
                fitted.map(|t| t.scope)
            }
            _ => None,
        };
        self
    }

    /// The thresholds that, with the other rules, hand off at most `target`
    /// of the knowledge base's own questions and answer the fewest wrongly
    /// ([`fit::fit`] over [`Engine::held_out`]). `None` without questions.
    pub(super) fn fit_thresholds(&self, target: f32) -> Option<Thresholds> {
        fit::fit(&self.held_out(), target, self.cfg.answer_threshold)
    }

    /// Every own question and out-of-scope example as an engine trained
    /// without it (its fold's) decides it ([`HeldOut`]). Questions of handoff
    /// articles are left out: handing them off is their answer. The folds'
    /// engines are untuned ([`Engine::tuned`] fits with tuned ones).
    pub fn held_out(&self) -> Held {
        self.held_out_by(|kb, cfg| {
            Engine::with_care(kb, cfg, self.encoder.clone(), self.care.clone())
        })
    }

    /// A message as the rules see it apart from the two thresholds: its
    /// [`scope_score`], to which answer threshold they answer it, and
    /// whether with `article` (its own; `None` for an out-of-scope example).
    pub(crate) fn held_point(&self, message: &str, article: Option<usize>) -> HeldOut {
        let sc = self.classify(&normalise(message));
        let (answered, answerable_to) = self.answerable(&sc);
        HeldOut {
            score: scope_score(&sc, self.cfg.scope_weight.value()),
            answerable_to,
            right: article == Some(answered),
        }
    }

    /// [`Engine::held_out`], each fold's engine trained by `fold_engine`
    /// from its knowledge base (its fold of questions and of out-of-scope
    /// examples held out) and configuration.
    pub(super) fn held_out_by(
        &self,
        fold_engine: impl Fn(KnowledgeBase, EngineConfig) -> Engine,
    ) -> Held {
        let cfg = EngineConfig {
            // A given rule, so the folds fit no threshold of their own
            // (`held_point` reads the other rules apart from both).
            scope: ScopeRule::Threshold(f32::NEG_INFINITY),
            ..self.cfg.clone()
        };
        let mut held = Held::default();
        for fold in 0..SCOPE_FOLDS {
            let engine = fold_engine(self.kb.question_fold(SCOPE_FOLDS, fold), cfg.clone());
            for (i, article) in self.kb.articles().iter().enumerate() {
                if !article.handoff {
                    let questions = held_out(article, SCOPE_FOLDS, fold, true);
                    held.own
                        .extend(questions.map(|q| engine.held_point(q, Some(i))));
                }
            }
            let lines = self.kb.out_of_scope_fold(SCOPE_FOLDS, fold, true);
            held.outside
                .extend(lines.map(|line| engine.held_point(line, None)));
        }
        held
    }
}
