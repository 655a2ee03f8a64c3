//! The measures compared, on the near-domain protocol and on a knowledge
//! base's own questions.
//!
//! The near-domain protocol on BANKING77: whole intents are held out (10 of
//! 77, a fixed draw per split), the engine trains on N examples of each of
//! the rest, and the held-out intents' dev questions are the out-of-scope
//! ones: they look like the in-scope questions (same bank, same customers).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::super::{
    EvalError, HoldOut, OOS_CATEGORY, Shots, draw, held_out_categories, kb_from_rows,
    read_labelled_csv,
};
use super::{Curve, curve};
use crate::care::CareModel;
use crate::encoder::Encoder;
use crate::engine::{Engine, EngineConfig, Scope, ScopeRule};
use crate::kb::{KnowledgeBase, held_out};
use crate::message::Message;
use crate::tune::TuneConfig;

/// Added to a split's seed for its draw of known out-of-scope intents, so
/// that draw differs from the held-out one.
const KNOWN_SPLITS: u64 = 1000;

/// One way to read how in scope a message looks.
type Measure = fn(&Scope) -> f32;

/// The measures compared, by name.
pub fn measures() -> Vec<(&'static str, Measure)> {
    vec![
        ("p_answer", |s| s.p_answer),
        ("article_over_oos", |s| s.article_over_oos),
        ("neighbour", |s| s.neighbour),
        ("neighbour+0.1margin", |s| {
            s.neighbour + 0.1 * s.article_over_oos
        }),
        ("neighbour+0.2margin", |s| {
            s.neighbour + 0.2 * s.article_over_oos
        }),
        ("neighbour+0.4margin", |s| {
            s.neighbour + 0.4 * s.article_over_oos
        }),
        ("score (less max(0, oos_neighbour - neighbour))", |s| {
            s.score
        }),
        ("neighbour+1.0margin", |s| s.neighbour + s.article_over_oos),
        ("neighbour-oos_neighbour", |s| s.neighbour - s.oos_neighbour),
    ]
}

/// Each measure's curve on one split of the protocol.
#[derive(Clone, Debug, Serialize)]
pub struct SplitReport {
    pub split: u64,
    pub held_out: Vec<String>,
    pub in_scope_n: usize,
    pub oos_n: usize,
    pub curves: Vec<(&'static str, Curve)>,
}

impl SplitReport {
    /// The curve of the rule's own score.
    pub fn score(&self) -> Curve {
        self.curves
            .iter()
            .find(|(name, _)| name.starts_with("score"))
            .expect("the score is one of the measures")
            .1
    }
}

/// One split: holds out `held` intents drawn with `split`, trains on
/// `shots` examples of each other intent, and reads every measure's curve
/// on `dev` (in scope: the kept intents; out of scope: the held ones).
///
/// With `known` above 0, that many more intents (another draw among the
/// rest) are left out too, their dev questions out of the test; with
/// `use_known`, their `shots` training questions play a site owner's
/// `out-of-scope.txt` (the knowledge base's out-of-scope examples). The
/// held-out intents stay the same, so every setting reads the same
/// out-of-scope questions.
pub fn held_out_intents(
    train_csv: &Path,
    dev_csv: &Path,
    split: u64,
    (held, known, use_known): (usize, usize, bool),
    shots: Option<Shots>,
    encoder: &Arc<Encoder>,
    tune: Option<TuneConfig>,
) -> Result<SplitReport, EvalError> {
    let train = read_labelled_csv(train_csv)?;
    let dev = read_labelled_csv(dev_csv)?;
    let held_out = held_out_categories(
        &train,
        HoldOut {
            intents: held,
            split,
        },
    );
    let rest: Vec<(Message, String)> = train
        .into_iter()
        .filter(|(_, c)| !held_out.contains(c) && c != OOS_CATEGORY)
        .collect();
    let known_out = held_out_categories(
        &rest,
        HoldOut {
            intents: known,
            split: split + KNOWN_SPLITS,
        },
    );
    let (mut known_rows, mut kept): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|(_, c)| known_out.contains(c));
    if let Some(shots) = shots {
        kept = draw(kept, shots);
        known_rows = draw(known_rows, shots);
    }
    let examples: Vec<&str> = known_rows
        .iter()
        .filter(|_| use_known)
        .map(|(m, _)| m.as_str())
        .collect();
    let engine = Engine::served(
        kb_from_rows(&kept)?.with_out_of_scope(&examples.join("\n")),
        EngineConfig {
            scope: ScopeRule::Off,
            ..EngineConfig::default()
        },
        Some(encoder.clone()),
        Arc::new(CareModel::silent()),
        tune,
    );
    let scopes: Vec<(bool, Scope)> = dev
        .iter()
        .filter(|(_, c)| !known_out.contains(c))
        .map(|(m, c)| (held_out.contains(c), engine.scope(m.as_str())))
        .collect();
    let curves = measures()
        .into_iter()
        .map(|(name, measure)| {
            let score = |oos: bool| -> Vec<f32> {
                scopes
                    .iter()
                    .filter(|(o, _)| *o == oos)
                    .map(|(_, s)| measure(s))
                    .collect()
            };
            (name, curve(&score(false), &score(true)))
        })
        .collect();
    Ok(SplitReport {
        split,
        held_out: held_out.into_iter().collect(),
        in_scope_n: scopes.iter().filter(|(o, _)| !o).count(),
        oos_n: scopes.iter().filter(|(o, _)| *o).count(),
        curves,
    })
}

/// Each measure's curve for a knowledge base: its own questions held out
/// by cross-validation in `folds` folds (each scored by an engine that did
/// not see it), against `oos` scored by every fold's engine; and what each
/// fold's engine handed off with the scope rule `scope` and without a rule
/// (one engine each fold: the threshold is all that differs).
pub fn knowledge_base_curves(
    kb: &KnowledgeBase,
    oos: &[Message],
    folds: usize,
    encoder: &Arc<Encoder>,
    scope: ScopeRule,
    tune: Option<TuneConfig>,
) -> KnowledgeBaseReport {
    let care = Arc::new(CareModel::silent());
    let mut in_scope: Vec<Scope> = Vec::new();
    let mut out: Vec<Scope> = Vec::new();
    let (mut served, mut without_rule) = (Handoffs::default(), Handoffs::default());
    for fold in 0..folds {
        // The fold's engine fits its own threshold (if any) to its own questions.
        let engine = Engine::served(
            kb.training_fold(folds, fold),
            EngineConfig {
                scope,
                ..EngineConfig::default()
            },
            Some(encoder.clone()),
            care.clone(),
            tune,
        );
        let mut asked = Vec::new();
        for article in kb.articles() {
            for q in held_out(article, folds, fold, true) {
                in_scope.push(engine.scope(q));
                // A handoff article's answer is a handoff, and the right one.
                if let Ok(message) = Message::parse(q, usize::MAX)
                    && !article.handoff
                {
                    asked.push(message);
                }
            }
        }
        out.extend(oos.iter().map(|m| engine.scope(m.as_str())));
        served.add(&engine, &asked, oos);
        without_rule.add(&engine.without_scope_rule(), &asked, oos);
    }
    let curves = measures()
        .into_iter()
        .map(|(name, measure)| {
            let score = |s: &[Scope]| s.iter().map(measure).collect::<Vec<f32>>();
            (name, curve(&score(&in_scope), &score(&out)))
        })
        .collect();
    KnowledgeBaseReport {
        curves,
        served: served.shares(),
        without_rule: without_rule.shares(),
    }
}

/// [`knowledge_base_curves`]: each measure's curve, and what the engine did
/// as served (its threshold fitted in each fold to that fold's questions)
/// and without a scope rule.
#[derive(Clone, Debug, Serialize)]
pub struct KnowledgeBaseReport {
    pub curves: Vec<(&'static str, Curve)>,
    pub served: HandedOff,
    pub without_rule: HandedOff,
}

/// The shares of questions an engine handed off.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HandedOff {
    /// Of held-out own questions (those of handoff articles aside).
    pub in_scope: f64,
    /// Of out-of-scope questions.
    pub oos: f64,
}

/// Counts behind a [`HandedOff`].
#[derive(Default)]
struct Handoffs {
    in_asked: usize,
    in_handed: usize,
    oos_asked: usize,
    oos_handed: usize,
}

impl Handoffs {
    fn add(&mut self, engine: &Engine, in_scope: &[Message], oos: &[Message]) {
        let handed = |m: &Message| usize::from(engine.reply(m, &[]).reply.handoff);
        self.in_asked += in_scope.len();
        self.in_handed += in_scope.iter().map(handed).sum::<usize>();
        self.oos_asked += oos.len();
        self.oos_handed += oos.iter().map(handed).sum::<usize>();
    }

    fn shares(&self) -> HandedOff {
        HandedOff {
            in_scope: self.in_handed as f64 / self.in_asked.max(1) as f64,
            oos: self.oos_handed as f64 / self.oos_asked.max(1) as f64,
        }
    }
}
