//! Knowing what it does not know: out-of-scope recall at fixed in-scope
//! handoff rates, and the area under the curve, for each measure of how in
//! scope a message looks ([`Scope`]).
//!
//! The near-domain protocol on BANKING77: whole intents are held out (10 of
//! 77, a fixed draw per split), the engine trains on N examples of each of
//! the rest, and the held-out intents' dev questions are the out-of-scope
//! ones: they look like the in-scope questions (same bank, same customers).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::{EvalError, OOS_CATEGORY, Shots, draw, kb_from_rows, read_labelled_csv};
use crate::care::CareModel;
use crate::encoder::Encoder;
use crate::engine::{Engine, EngineConfig, Scope};
use crate::kb::{KnowledgeBase, held_out};
use crate::message::Message;

/// The in-scope handoff rates the curve is read at.
pub const RATES: [f64; 3] = [0.02, 0.05, 0.10];

/// Out-of-scope recall at each of [`RATES`] and the area under the curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Curve {
    /// Recall with at most 2, 5 and 10 % of in-scope questions handed off.
    pub recall_at: [f64; 3],
    /// The chance that an in-scope question scores above an out-of-scope one.
    pub auc: f64,
}

/// Reads the curve of one measure: in-scope and out-of-scope scores, higher
/// meaning more in scope; a message under the threshold is handed off.
pub fn curve(in_scope: &[f32], out_of_scope: &[f32]) -> Curve {
    let mut sorted = in_scope.to_vec();
    sorted.sort_by(f32::total_cmp);
    let recall_at = RATES.map(|rate| {
        // The threshold hands off at most `rate` of the in-scope scores.
        let k = (rate * sorted.len() as f64).floor() as usize;
        let threshold = sorted.get(k).copied().unwrap_or(f32::INFINITY);
        let caught = out_of_scope.iter().filter(|&&s| s < threshold).count();
        caught as f64 / out_of_scope.len().max(1) as f64
    });
    let mut pairs = 0.0;
    for &o in out_of_scope {
        let below = sorted.partition_point(|&s| s < o);
        let equal = sorted[below..].partition_point(|&s| s <= o);
        pairs += (sorted.len() - below - equal) as f64 + equal as f64 / 2.0;
    }
    let auc = pairs / (sorted.len() * out_of_scope.len()).max(1) as f64;
    Curve { recall_at, auc }
}

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
        ("score (neighbour+0.4margin)", |s| s.score),
        ("neighbour+1.0margin", |s| s.neighbour + s.article_over_oos),
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

/// One split: holds out `held` intents drawn with `split`, trains on
/// `shots` examples of each other intent, and reads every measure's curve
/// on `dev` (in scope: the kept intents; out of scope: the held ones).
pub fn held_out_intents(
    train_csv: &Path,
    dev_csv: &Path,
    split: u64,
    held: usize,
    shots: Option<Shots>,
    encoder: &Arc<Encoder>,
) -> Result<SplitReport, EvalError> {
    let train = read_labelled_csv(train_csv)?;
    let dev = read_labelled_csv(dev_csv)?;
    let mut intents: Vec<String> = train
        .iter()
        .map(|(_, c)| c.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    fastrand::Rng::with_seed(split).shuffle(&mut intents);
    let held_out: BTreeSet<String> = intents.into_iter().take(held).collect();
    let mut kept: Vec<(Message, String)> = train
        .into_iter()
        .filter(|(_, c)| !held_out.contains(c) && c != OOS_CATEGORY)
        .collect();
    if let Some(shots) = shots {
        kept = draw(kept, shots);
    }
    let engine = Engine::with_care(
        kb_from_rows(&kept)?,
        EngineConfig {
            scope_target: None,
            ..EngineConfig::default()
        },
        Some(encoder.clone()),
        Arc::new(CareModel::silent()),
    );
    let scopes: Vec<(bool, Scope)> = dev
        .iter()
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
/// not see it), against `oos` scored by every fold's engine.
pub fn knowledge_base_curves(
    kb: &KnowledgeBase,
    oos: &[Message],
    folds: usize,
    encoder: &Arc<Encoder>,
    scope_target: Option<f32>,
) -> KnowledgeBaseReport {
    let care = Arc::new(CareModel::silent());
    let mut in_scope: Vec<Scope> = Vec::new();
    let mut out: Vec<Scope> = Vec::new();
    let (mut in_asked, mut in_handed, mut out_handed) = (0usize, 0usize, 0usize);
    for fold in 0..folds {
        // The fold's engine fits its own threshold (if any) to its own questions.
        let engine = Engine::with_care(
            kb.training_fold(folds, fold),
            EngineConfig {
                scope_target,
                ..EngineConfig::default()
            },
            Some(encoder.clone()),
            care.clone(),
        );
        for article in kb.articles() {
            for q in held_out(article, folds, fold, true) {
                in_scope.push(engine.scope(q));
                let Ok(message) = Message::parse(q, usize::MAX) else {
                    continue;
                };
                // A handoff article's answer is a handoff, and the right one.
                if !article.handoff {
                    in_asked += 1;
                    in_handed += usize::from(engine.reply(&message, &[]).reply.handoff);
                }
            }
        }
        for m in oos {
            out.push(engine.scope(m.as_str()));
            out_handed += usize::from(engine.reply(m, &[]).reply.handoff);
        }
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
        in_scope_handed_off: in_handed as f64 / in_asked.max(1) as f64,
        oos_handed_off: out_handed as f64 / out.len().max(1) as f64,
    }
}

/// [`knowledge_base_curves`]: each measure's curve, and what the engine as
/// served did (its threshold fitted in each fold to that fold's questions).
#[derive(Clone, Debug, Serialize)]
pub struct KnowledgeBaseReport {
    pub curves: Vec<(&'static str, Curve)>,
    /// Held-out own questions handed off (those of handoff articles aside).
    pub in_scope_handed_off: f64,
    /// Out-of-scope questions handed off.
    pub oos_handed_off: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_reads_recall_at_each_handoff_rate_and_the_area() {
        let in_scope: Vec<f32> = (0..100).map(|i| i as f32).collect();
        // Half the out-of-scope scores under every in-scope one, half above all.
        let oos = [-1.0, -2.0, 200.0, 300.0];
        let c = curve(&in_scope, &oos);
        assert_eq!(c.recall_at, [0.5, 0.5, 0.5]);
        assert!((c.auc - 0.5).abs() < 1e-9, "{c:?}");
        // Scores 0..100: a threshold at the 5th hands off 0..4, catching 3.5.
        let c = curve(&in_scope, &[3.5, 50.0]);
        assert_eq!(c.recall_at, [0.0, 0.5, 0.5]);
        let perfect = curve(&in_scope, &[-5.0]);
        assert_eq!(perfect.auc, 1.0);
    }
}
