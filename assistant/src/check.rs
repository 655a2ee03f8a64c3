//! `support-chat check-kb`: how well a knowledge base answers its own
//! example questions, for its authors (like `rasa test nlu`).
//!
//! Cross-validation: each article's questions are dealt into `folds` folds
//! (question `i` into fold `i mod folds`); for each fold the engine is trained
//! on the other folds (titles always included) and answers the held-out
//! questions through the same [`Engine::reply`] path the server uses. So
//! every question is answered by an engine that never saw it.
//!
//! Per article: accuracy (held-out questions answered with it), which
//! articles its questions went to instead, the questions themselves, and
//! whether it has fewer than [`RECOMMENDED_QUESTIONS`] examples. Overall: the
//! histogram of the engine's confidence on every held-out question, with the
//! answer threshold that decides between answering and handing off (fitted
//! with the out-of-scope rule's threshold, as the server fits it).
//!
//! The check fails when an article's questions are *misdirected*, answered
//! with another article, more often than `max_misdirected`: that is the
//! failure a visitor suffers (a confident wrong answer), and the one an author
//! fixes by telling two articles' questions apart. A question handed off
//! instead is safe (the visitor is offered a person) and only lowers accuracy:
//! more and more varied example questions raise it. For the `handoff` article
//! itself a handoff is the right answer. A question the duty-of-care signals
//! send to the `complaints` or `support` article is neither: it is counted
//! apart (`care_redirected`), since that is by design.
//!
//! Beside: the duty-of-care detectors' cross-validation on their own
//! examples (`care.rs`), and the financial-promotion check of every article's
//! words (`promotion.rs`), whose errors fail the check too.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::answer::Outcome;
use super::care::{CareModel, CareReport};
use super::encoder::Encoder;
use super::engine::{AnswerThreshold, Engine, EngineConfig, ScopeRule, fit};
use super::kb::{
    COMPLAINTS_ARTICLE_ID, HANDOFF_ARTICLE_ID, KbError, KnowledgeBase, SUPPORT_ARTICLE_ID, held_out,
};
use super::message::Message;
use super::promotion::{Finding, Severity, check_promotions};
use super::tune::TuneConfig;

/// Fewer example questions than this and an article is flagged: the
/// knowledge-base format recommends 8 to 20.
pub const RECOMMENDED_QUESTIONS: usize = 8;

/// Default `--max-misdirected`: an article whose held-out questions are
/// answered with another article more often than this fails the check.
pub const DEFAULT_MAX_MISDIRECTED: f64 = 0.25;

/// Confidence histogram bins (of width 0.1).
const BINS: usize = 10;

/// What `check-kb` found.
#[derive(Clone, Debug, Serialize)]
pub struct KbCheck {
    pub folds: usize,
    /// Each fold's engine had its encoder tuned to its fold, as the server
    /// tunes it (`--tune-epochs`); the scope thresholds were fitted so too.
    pub tuned: bool,
    pub questions: usize,
    /// Held-out questions answered with their own article.
    pub accuracy: f64,
    /// Held-out questions answered with another article.
    pub misdirected: f64,
    pub max_misdirected: f64,
    /// The answer threshold served: fitted with the out-of-scope rule's
    /// threshold (at the target served) unless given (`--answer-threshold`)
    /// or there is no rule to fit it with; the default then.
    pub answer_threshold: f32,
    pub answer_threshold_fitted: bool,
    /// Held-out questions per confidence bin `[i/10, (i+1)/10)`.
    pub confidence_histogram: [usize; BINS],
    pub articles: Vec<ArticleCheck>,
    /// The duty-of-care detectors in cross-validation on their examples.
    pub care: CareReport,
    /// Financial-promotion findings (an error fails the check).
    pub promotions: Vec<Finding>,
    /// The out-of-scope rule's thresholds for this knowledge base (with an
    /// encoder).
    pub scope: Option<ScopeCheck>,
    /// No article's `misdirected` above `max_misdirected`, and no
    /// financial-promotion error.
    pub passed: bool,
}

/// What the out-of-scope rule would do here (`--handoff-target`): each
/// question held out by 5-fold cross-validation, its score and whether the
/// other rules hand it off anyway; the threshold each target fits.
#[derive(Clone, Debug, Serialize)]
pub struct ScopeCheck {
    /// The margin's weight in the scope score, chosen by leaving articles
    /// out (`engine/weight.rs`), or the default where it cannot be.
    pub margin_weight: f32,
    /// Whether it was chosen: neither given (`--scope-weight`) nor fixed by
    /// a threshold given, and enough articles to leave some out.
    pub margin_weight_fitted: bool,
    /// Own questions scored (those of handoff articles aside).
    pub questions: usize,
    /// Share the other rules hand off anyway (unsure between articles).
    pub already_handed_off: f64,
    /// The curve's points, at 2, 5 and 10 % of own questions handed off,
    /// and at the target served if it is another.
    pub points: Vec<ScopePoint>,
    /// The rule as the check's settings serve it ([`ScopeRule::Auto`] by
    /// default: the default share with an `out-of-scope.txt`, no rule
    /// without).
    pub served: ScopeRule,
    /// Whether that rule was given (`--handoff-target`, `--scope-threshold`)
    /// rather than the default.
    pub given: bool,
    /// Examples in the knowledge base's `out-of-scope.txt`.
    pub out_of_scope_examples: usize,
    /// Share of those examples handed off, each by the engine of the
    /// cross-validation fold that held it out (as served: its fitted rule
    /// and the others); `None` without examples.
    pub out_of_scope_handed_off: Option<f64>,
}

/// One point of the out-of-scope rule's curve.
#[derive(Clone, Debug, Serialize)]
pub struct ScopePoint {
    /// Share of own questions handed off in all.
    pub target: f32,
    /// The threshold `--handoff-target` fits for it (minus infinity: no
    /// rule, the other rules reach the target alone).
    pub threshold: f32,
    /// The answer threshold fitted with it (or the one given).
    pub answer_threshold: f32,
    /// Share of `out-of-scope.txt`'s examples under it or handed off by
    /// the other rules, each scored by a fold's engine that held it out;
    /// `None` without examples.
    pub out_of_scope_handed_off: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ArticleCheck {
    pub id: String,
    pub questions: usize,
    pub accuracy: f64,
    /// Share of its questions answered with another article.
    pub misdirected: f64,
    /// Fewer than [`RECOMMENDED_QUESTIONS`] examples.
    pub too_few_questions: bool,
    /// Questions answered by the `complaints` or `support` article because
    /// they read as a complaint or a vulnerability cue.
    pub care_redirected: usize,
    /// Where its other questions went: another article's id, or `handoff`
    /// (not confident, or out of scope) or `clarify`, with counts.
    pub mistaken_for: BTreeMap<String, usize>,
    /// The questions not answered with this article, and what happened.
    pub missed: Vec<Missed>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Missed {
    pub question: String,
    pub went_to: String,
}

/// Cross-validates `kb` in `folds` folds (at least 2), each fold's engine
/// as the server serves it with `tune` ([`Engine::served`]).
pub fn check_kb(
    kb: &KnowledgeBase,
    folds: usize,
    max_misdirected: f64,
    encoder: Option<&Arc<Encoder>>,
    tune: Option<TuneConfig>,
    cfg: EngineConfig,
) -> Result<KbCheck, KbError> {
    let folds = folds.max(2);
    let articles = kb.articles();
    let mut results: Vec<ArticleCheck> = articles
        .iter()
        .map(|a| ArticleCheck {
            id: a.id.clone(),
            questions: a.questions.len(),
            accuracy: 0.0,
            misdirected: 0.0,
            too_few_questions: a.questions.len() < RECOMMENDED_QUESTIONS,
            care_redirected: 0,
            mistaken_for: BTreeMap::new(),
            missed: Vec::new(),
        })
        .collect();
    let mut right = vec![0usize; articles.len()];
    let mut wrong = vec![0usize; articles.len()];
    let mut histogram = [0usize; BINS];
    let mut tuned = false;
    // The out-of-scope examples are dealt into the folds too (line `j` to
    // fold `j mod folds`), so each is scored by an engine that did not see
    // it: where each stands against the rule, and whether it is handed off.
    let (mut line_points, mut lines_handed_off) = (Vec::new(), 0usize);
    // The detectors learn from the `care/` examples, not the articles:
    // trained once, shared by every fold's engine.
    let care = Arc::new(CareModel::train(&kb.care_training(), encoder.map(|e| &**e)));
    // The whole knowledge base's engine chooses the scope score's margin
    // weight as the server's does (at the target served; the default with a
    // threshold given); every fold's engine scores with it, so the held-out
    // scores and the thresholds fitted over them share a scale.
    let weight_chosen = Engine::chooses_weight(&cfg, kb);
    let whole = encoder.map(|encoder| {
        Engine::with_care(kb.clone(), cfg.clone(), Some(encoder.clone()), care.clone())
    });
    let cfg = EngineConfig {
        scope_weight: whole
            .as_ref()
            .map_or(cfg.scope_weight, |e| e.config().scope_weight),
        ..cfg
    };
    for fold in 0..folds {
        let kept: Vec<&str> = kb
            .out_of_scope_fold(folds, fold, false)
            .map(String::as_str)
            .collect();
        let engine = Engine::served(
            kb.training_fold(folds, fold)
                .with_out_of_scope(&kept.join("\n")),
            cfg.clone(),
            encoder.cloned(),
            care.clone(),
            tune,
        );
        tuned = engine.is_tuned();
        for line in kb.out_of_scope_fold(folds, fold, true) {
            let Ok(message) = Message::parse(line, usize::MAX) else {
                continue;
            };
            line_points.push(engine.held_point(line, None));
            lines_handed_off += usize::from(engine.reply(&message, &[]).reply.handoff);
        }
        for (i, article) in articles.iter().enumerate() {
            for question in held_out(article, folds, fold, true) {
                // The knowledge base's loader keeps only questions that are messages.
                let Ok(message) = Message::parse(question, usize::MAX) else {
                    continue;
                };
                let answer = engine.reply(&message, &[]);
                let turn = answer.turn;
                let care_article = matches!(&turn.outcome, Outcome::Answered { article: id }
                    if id == COMPLAINTS_ARTICLE_ID || id == SUPPORT_ARTICLE_ID);
                let signalled = answer.signals.complaint || answer.signals.care.is_some();
                if signalled && care_article && *id_of(&turn.outcome) != article.id {
                    results[i].care_redirected += 1;
                    results[i].missed.push(Missed {
                        question: question.clone(),
                        went_to: format!("{} (duty of care)", id_of(&turn.outcome)),
                    });
                    continue;
                }
                let bin = ((turn.confidence.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1);
                histogram[bin] += 1;
                let went_to = match &turn.outcome {
                    Outcome::Answered { article: id } if *id == article.id => {
                        right[i] += 1;
                        continue;
                    }
                    // The contact article's answer is what every handoff gives.
                    Outcome::Handoff { .. } if article.id == HANDOFF_ARTICLE_ID => {
                        right[i] += 1;
                        continue;
                    }
                    Outcome::Answered { article: id } => {
                        wrong[i] += 1;
                        id.clone()
                    }
                    Outcome::Clarify { .. } => "clarify".to_owned(),
                    Outcome::Handoff { .. } => "handoff".to_owned(),
                };
                *results[i].mistaken_for.entry(went_to.clone()).or_default() += 1;
                results[i].missed.push(Missed {
                    question: question.clone(),
                    went_to,
                });
            }
        }
    }
    for ((result, right), wrong) in results.iter_mut().zip(&right).zip(&wrong) {
        result.accuracy = ratio(*right, result.questions);
        result.misdirected = ratio(*wrong, result.questions);
    }
    let questions = results.iter().map(|r| r.questions).sum();
    let served = cfg.scope.for_knowledge_base(kb);
    let mut targets: Vec<f32> = crate::eval::scope::RATES.map(|r| r as f32).to_vec();
    if let ScopeRule::Target(target) = served
        && !targets.contains(&target)
    {
        targets.push(target);
        targets.sort_by(f32::total_cmp);
    }
    // The answer threshold as served: fitted with the scope rule's at the
    // target served, over the same held-out questions the server fits with.
    let mut answer_threshold = cfg.answer_threshold.value();
    let mut answer_threshold_fitted = false;
    let scope = whole.map(|whole| {
        // The held-out scores come from folds of its own.
        let held = whole.held_out_as_served(tune);
        let points: Vec<ScopePoint> = targets
            .into_iter()
            .filter_map(|target| {
                let fitted = fit(&held, target, cfg.answer_threshold)?;
                let under = line_points.iter().filter(|p| p.handed_off(&fitted)).count();
                Some(ScopePoint {
                    target,
                    threshold: fitted.scope,
                    answer_threshold: fitted.answer,
                    out_of_scope_handed_off: (!line_points.is_empty())
                        .then(|| ratio(under, line_points.len())),
                })
            })
            .collect();
        if let ScopeRule::Target(target) = served
            && let Some(point) = points.iter().find(|p| p.target == target)
        {
            answer_threshold = point.answer_threshold;
            answer_threshold_fitted = !matches!(cfg.answer_threshold, AnswerThreshold::Given(_));
        }
        let other = held.own.iter().filter(|h| h.other(answer_threshold));
        ScopeCheck {
            margin_weight: whole.config().scope_weight.value(),
            margin_weight_fitted: weight_chosen,
            questions: held.own.len(),
            already_handed_off: ratio(other.count(), held.own.len()),
            points,
            served,
            given: cfg.scope != ScopeRule::Auto,
            out_of_scope_examples: kb.out_of_scope().len(),
            out_of_scope_handed_off: (!line_points.is_empty())
                .then(|| ratio(lines_handed_off, line_points.len())),
        }
    });
    let promotions = check_promotions(kb);
    let promotions_pass = promotions.iter().all(|p| p.severity != Severity::Error);
    Ok(KbCheck {
        folds,
        tuned,
        questions,
        accuracy: ratio(right.iter().sum(), questions),
        misdirected: ratio(wrong.iter().sum(), questions),
        max_misdirected,
        answer_threshold,
        answer_threshold_fitted,
        confidence_histogram: histogram,
        passed: promotions_pass && results.iter().all(|r| r.misdirected <= max_misdirected),
        articles: results,
        care: care.report().clone(),
        promotions,
        scope,
    })
}

/// The article an answered turn showed (empty otherwise).
fn id_of(outcome: &Outcome) -> &String {
    static NONE: String = String::new();
    match outcome {
        Outcome::Answered { article } => article,
        _ => &NONE,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The report for people.
impl fmt::Display for KbCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} questions, {}-fold cross-validation: {:.1} % answered with their own article, {:.1} % with another",
            self.questions,
            self.folds,
            100.0 * self.accuracy,
            100.0 * self.misdirected
        )?;
        writeln!(
            f,
            "{}",
            if self.tuned {
                "Each fold's encoder tuned to its fold, as the server tunes it."
            } else {
                "Each fold's engine untuned: the encoder as it ships."
            }
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<28} {:>9} {:>9} {:>12}  mistaken for",
            "article", "questions", "accuracy", "misdirected"
        )?;
        for a in &self.articles {
            let flag = if a.misdirected > self.max_misdirected {
                "  FAIL"
            } else if a.too_few_questions {
                "  few examples"
            } else {
                ""
            };
            let mistaken: Vec<String> = a
                .mistaken_for
                .iter()
                .map(|(id, n)| format!("{id} ×{n}"))
                .collect();
            writeln!(
                f,
                "{:<28} {:>9} {:>8.0}% {:>11.0}%  {}{flag}",
                a.id,
                a.questions,
                100.0 * a.accuracy,
                100.0 * a.misdirected,
                mistaken.join(", ")
            )?;
        }
        let missed: Vec<_> = self
            .articles
            .iter()
            .filter(|a| !a.missed.is_empty())
            .collect();
        if !missed.is_empty() {
            writeln!(f)?;
            writeln!(f, "Questions answered by something else:")?;
            for a in missed {
                for m in &a.missed {
                    writeln!(f, "  {}: {:?} -> {}", a.id, m.question, m.went_to)?;
                }
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "Confidence of the held-out answers (the engine answers from {:.2}, {}):",
            self.answer_threshold,
            if self.answer_threshold_fitted {
                "fitted with the out-of-scope rule; each fold's engine fitted its own"
            } else {
                "as given or by default"
            }
        )?;
        let most = self
            .confidence_histogram
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1);
        for (i, n) in self.confidence_histogram.iter().enumerate() {
            let low = i as f32 / BINS as f32;
            // The threshold's bin, found as each confidence's is.
            let at = ((self.answer_threshold.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1);
            let mark = if at == i { " <- threshold" } else { "" };
            writeln!(
                f,
                "  {low:.1}-{:.1} {:>5} {}{mark}",
                low + 0.1,
                n,
                "#".repeat(n * 40 / most)
            )?;
        }
        writeln!(f)?;
        let few: Vec<&str> = self
            .articles
            .iter()
            .filter(|a| a.too_few_questions)
            .map(|a| a.id.as_str())
            .collect();
        if !few.is_empty() {
            writeln!(
                f,
                "Fewer than {RECOMMENDED_QUESTIONS} example questions: {}",
                few.join(", ")
            )?;
        }
        if let Some(scope) = &self.scope {
            writeln!(
                f,
                "Out-of-scope rule (--handoff-target): of {} held-out questions the other rules hand off {:.1} %. The thresholds each share of own questions handed off fits ({}){}:",
                scope.questions,
                100.0 * scope.already_handed_off,
                if self.answer_threshold_fitted {
                    format!(
                        "the answer threshold chosen with it, of {:?}, for the fewest wrong answers",
                        crate::engine::ANSWER_THRESHOLDS
                    )
                } else {
                    "with the answer threshold as given or by default".to_owned()
                },
                if scope.out_of_scope_handed_off.is_some() {
                    ", and the out-of-scope examples it hands off (each held out)"
                } else {
                    ""
                }
            )?;
            if scope.margin_weight_fitted {
                writeln!(
                    f,
                    "  the score weighs the best article's margin by {} (chosen by leaving articles out, of {:?})",
                    scope.margin_weight,
                    crate::engine::SCOPE_WEIGHTS
                )?;
            } else {
                writeln!(
                    f,
                    "  the score weighs the best article's margin by {} (not chosen: --scope-weight given, the default with --scope-threshold, or fewer than {} articles to leave out)",
                    scope.margin_weight,
                    crate::engine::MIN_ARTICLES_TO_FIT
                )?;
            }
            for p in &scope.points {
                write!(
                    f,
                    "  {:>3.0} % -> {:.3}, answering from {:.2}",
                    100.0 * p.target,
                    p.threshold,
                    p.answer_threshold
                )?;
                match p.out_of_scope_handed_off {
                    Some(r) => writeln!(f, ": {:.0} % of out-of-scope examples", 100.0 * r)?,
                    None => writeln!(f)?,
                }
            }
            match (scope.served, scope.given) {
                (ScopeRule::Target(target), given) => writeln!(
                    f,
                    "  served {}at {:.0} % ({} examples in out-of-scope.txt); --handoff-target 0 turns the rule off",
                    if given { "" } else { "by default " },
                    100.0 * target,
                    scope.out_of_scope_examples
                )?,
                (ScopeRule::Threshold(threshold), _) => writeln!(
                    f,
                    "  served at the threshold given, {threshold:.3} (--scope-threshold)"
                )?,
                (_, true) => writeln!(f, "  off: --handoff-target 0")?,
                (_, false) => writeln!(
                    f,
                    "  off by default: no out-of-scope.txt to fit against (--handoff-target turns it on)"
                )?,
            }
            if let Some(r) = scope.out_of_scope_handed_off {
                writeln!(
                    f,
                    "  as served, each by a fold's engine that did not see it: {:.0} % of the out-of-scope examples handed off",
                    100.0 * r
                )?;
            }
        }
        let redirected: usize = self.articles.iter().map(|a| a.care_redirected).sum();
        if redirected > 0 {
            writeln!(
                f,
                "{redirected} example questions read as a complaint or a vulnerability cue and go to the complaints or support article (by design; listed above)"
            )?;
        }
        writeln!(f)?;
        let signal = |f: &mut fmt::Formatter<'_>, name: &str, r: &super::care::SignalReport| {
            writeln!(
                f,
                "  {name:<14} recall {:.1} % of {} examples, {:.1} % of {} ordinary messages flagged (threshold {:.2})",
                100.0 * r.recall,
                r.positives,
                100.0 * r.false_positives,
                r.negatives,
                r.threshold
            )
        };
        writeln!(
            f,
            "Duty-of-care detectors, cross-validated on their examples:"
        )?;
        signal(f, "complaints", &self.care.complaint)?;
        signal(f, "vulnerability", &self.care.vulnerability)?;
        writeln!(f)?;
        if self.promotions.is_empty() {
            writeln!(
                f,
                "Financial promotions: no rate, APR or amount without a representative example; no risky claims"
            )?;
        }
        for p in &self.promotions {
            let level = match p.severity {
                Severity::Error => "ERROR",
                Severity::Warning => "warning",
            };
            writeln!(
                f,
                "Financial promotions: {level}: {}: {}",
                p.article, p.message
            )?;
        }
        let limit = 100.0 * self.max_misdirected;
        let misdirect = format!("go to another article more than {limit:.0} % of the time");
        if self.passed {
            return write!(
                f,
                "PASSED: no financial-promotion error, and no article's questions {misdirect}"
            );
        }
        let promotion_error = self
            .promotions
            .iter()
            .any(|p| p.severity == Severity::Error);
        let misdirected = self
            .articles
            .iter()
            .any(|a| a.misdirected > self.max_misdirected);
        let mut reasons = Vec::new();
        if promotion_error {
            reasons.push("a financial-promotion error (above)".to_owned());
        }
        if misdirected {
            reasons.push(format!("an article's questions {misdirect}"));
        }
        write!(f, "FAILED: {}", reasons.join(", and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::Article;

    fn article(id: &str, questions: &[&str]) -> Article {
        Article {
            id: id.into(),
            title: id.replace('-', " "),
            questions: questions.iter().map(|q| q.to_string()).collect(),
            suggestions: Vec::new(),
            links: Vec::new(),
            handoff: false,
            body: format!("About {id}."),
        }
    }

    #[test]
    fn every_question_is_answered_by_an_engine_that_did_not_see_it() {
        let kb = KnowledgeBase::from_articles(
            vec![
                article(
                    "opening-hours",
                    &[
                        "when are you open",
                        "what are your opening hours",
                        "are you open on sunday",
                        "what time do you close",
                    ],
                ),
                article(
                    "repayments",
                    &[
                        "how do i repay",
                        "when are repayments taken",
                        "can i repay early",
                        "how much are repayments",
                    ],
                ),
            ],
            &["a".into(), "b".into()],
        )
        .unwrap();
        let check = check_kb(&kb, 2, 0.5, None, None, EngineConfig::default()).unwrap();
        assert_eq!(check.questions, 8);
        assert_eq!(check.confidence_histogram.iter().sum::<usize>(), 8);
        assert_eq!(check.articles.len(), 2);
        for a in &check.articles {
            assert!(a.too_few_questions, "4 < {RECOMMENDED_QUESTIONS}");
            let right = (a.accuracy * a.questions as f64).round() as usize;
            assert_eq!(right + a.missed.len(), a.questions, "{a:?}");
            assert!(a.misdirected <= 1.0 - a.accuracy + 1e-9, "{a:?}");
            assert_eq!(a.mistaken_for.values().sum::<usize>(), a.missed.len());
        }
        let text = check.to_string();
        assert!(text.contains("2-fold cross-validation"), "{text}");
        assert!(text.contains("<- threshold"), "{text}");
        assert!(text.contains("Fewer than 8 example questions"), "{text}");
    }

    #[test]
    fn an_article_naming_a_rate_without_a_representative_example_fails_the_check() {
        let questions = [
            "how much does it cost",
            "what is the interest rate",
            "how expensive is a loan",
            "what are your rates",
        ];
        let other = [
            "when are you open",
            "what are your opening hours",
            "are you open on sunday",
            "what time do you close",
        ];
        let mut cost = article("cost", &questions);
        cost.body = "Our loans start at 6.9% interest a year.".into();
        let kb = KnowledgeBase::from_articles(
            vec![cost.clone(), article("opening-hours", &other)],
            &["a".into(), "b".into()],
        )
        .unwrap();
        let check = check_kb(&kb, 2, 1.0, None, None, EngineConfig::default()).unwrap();
        assert!(!check.passed, "{check}");
        let text = check.to_string();
        assert!(text.contains("Financial promotions: ERROR: cost"), "{text}");
        assert!(
            text.ends_with("FAILED: a financial-promotion error (above)"),
            "{text}"
        );
        // With the representative example the author adds, it passes.
        cost.body.push_str(
            "\nRepresentative example: borrowing £25,000 over 3 years at 6.9% a year fixed; \
             36 monthly repayments of £771; total amount payable £27,756; representative 12.4% APR.",
        );
        let kb = KnowledgeBase::from_articles(
            vec![cost, article("opening-hours", &other)],
            &["a".into(), "b".into()],
        )
        .unwrap();
        assert!(
            check_kb(&kb, 2, 1.0, None, None, EngineConfig::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn articles_whose_questions_go_to_each_other_fail_the_check() {
        // Two articles with the same questions: one of them must lose.
        let same = [
            "how do i apply",
            "where do i apply",
            "can i apply online",
            "apply now",
        ];
        let kb = KnowledgeBase::from_articles(
            vec![article("apply-a", &same), article("apply-b", &same)],
            &["a".into(), "b".into()],
        )
        .unwrap();
        let check = check_kb(&kb, 2, 0.1, None, None, EngineConfig::default()).unwrap();
        assert!(!check.passed, "{check}");
        assert!(check.misdirected > 0.1, "{check}");
        assert!(
            check.to_string().ends_with("more than 10 % of the time"),
            "{check}"
        );
        let json = serde_json::to_value(&check).unwrap();
        assert_eq!(json["passed"], false);
        assert!(json["articles"][0]["mistaken_for"].is_object());
    }
}
