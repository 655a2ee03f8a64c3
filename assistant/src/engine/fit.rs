//! The two thresholds fitted together when a knowledge base loads, for the
//! scope rule's target: the scope rule's (on `scope_score`) and the answer
//! threshold (on the best article's calibrated probability).
//!
//! Each of the knowledge base's own questions and of its out-of-scope
//! examples is held out by question folds ([`SCOPE_FOLDS`](super::SCOPE_FOLDS))
//! and scored by an engine trained without it ([`Held`]). Of the answer
//! thresholds in [`ANSWER_THRESHOLDS`] that hand off no more than the target
//! of the own questions by themselves, the one chosen leaves the fewest wrong
//! answers once the scope threshold has taken the rest of the target: own
//! questions answered with another article, and out-of-scope examples
//! answered at all.

use super::scope::threshold_for;

/// How the answer threshold is set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnswerThreshold {
    /// Chosen (see the module) wherever the scope rule's threshold is fitted
    /// to a target; [`DEFAULT_ANSWER_THRESHOLD`] until then, and elsewhere.
    Fitted,
    /// Chosen so, for the engine that holds it; chosen again by the next
    /// fitting (the encoder tuned, a fold of `check-kb`).
    Chosen(f32),
    /// This threshold, as it is (`--answer-threshold`).
    Given(f32),
}

impl AnswerThreshold {
    pub fn value(self) -> f32 {
        match self {
            AnswerThreshold::Fitted => DEFAULT_ANSWER_THRESHOLD,
            AnswerThreshold::Chosen(t) | AnswerThreshold::Given(t) => t,
        }
    }
}

/// The answer threshold where none is chosen.
pub const DEFAULT_ANSWER_THRESHOLD: f32 = 0.3;

/// The answer thresholds one is chosen among.
pub const ANSWER_THRESHOLDS: [f32; 8] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];

/// One held-out text, as the engine of its fold decides it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeldOut {
    /// Its `scope_score`.
    pub score: f32,
    /// The highest answer threshold at which the rules but the scope rule
    /// answer it: minus infinity where they never do (unsure of any article,
    /// or between two), infinity where they always do.
    pub answerable_to: f32,
    /// They answer it with its own article (never so for an out-of-scope
    /// example).
    pub right: bool,
}

impl HeldOut {
    /// Whether the rules but the scope rule hand it off at `answer`.
    pub fn other(&self, answer: f32) -> bool {
        self.answerable_to < answer
    }

    /// Whether the engine hands it off at `at`: under the scope threshold,
    /// or handed off by the other rules at the answer threshold.
    pub fn handed_off(&self, at: &Thresholds) -> bool {
        self.score < at.scope || self.other(at.answer)
    }
}

/// A knowledge base's own questions (those of handoff articles aside) and
/// its out-of-scope examples, each held out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Held {
    pub own: Vec<HeldOut>,
    pub outside: Vec<HeldOut>,
}

impl Held {
    /// Each own question's score and whether the other rules hand it off at
    /// `answer`: what `threshold_for` reads.
    pub fn own_points(&self, answer: f32) -> Vec<(f32, bool)> {
        self.own
            .iter()
            .map(|h| (h.score, h.other(answer)))
            .collect()
    }
}

/// The thresholds fitted for a target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// The scope rule's: minus infinity where the other rules alone reach
    /// the target.
    pub scope: f32,
    pub answer: f32,
}

/// The thresholds for `target`: with `answer` given, the scope threshold
/// for it; otherwise the pair chosen as the module says (of equals, the
/// answer threshold nearest the default, then the lower). `None` without
/// own questions.
pub fn fit(held: &Held, target: f32, answer: AnswerThreshold) -> Option<Thresholds> {
    let with = |answer: f32| {
        let scope = threshold_for(&held.own_points(answer), target)?;
        Some(Thresholds { scope, answer })
    };
    if let AnswerThreshold::Given(given) = answer {
        return with(given);
    }
    let allowed = (target * held.own.len() as f32).floor() as usize;
    let mut candidates = ANSWER_THRESHOLDS;
    // In tenths, so that 0.2 and 0.4 are equally far from 0.3.
    let tenths = |t: f32| (t * 10.0).round() as i32;
    candidates.sort_by_key(|&t| {
        let off = (tenths(t) - tenths(DEFAULT_ANSWER_THRESHOLD)).abs();
        (off, tenths(t))
    });
    let mut best: Option<(usize, Thresholds)> = None;
    for answer in candidates {
        if held.own.iter().filter(|h| h.other(answer)).count() > allowed {
            continue;
        }
        let fitted = with(answer)?;
        let answered = |h: &&HeldOut| !h.handed_off(&fitted);
        let wrong = held
            .own
            .iter()
            .filter(answered)
            .filter(|h| !h.right)
            .count()
            + held.outside.iter().filter(answered).count();
        if best.is_none_or(|(fewest, _)| wrong < fewest) {
            best = Some((wrong, fitted));
        }
    }
    // Where every one hands off too many by itself: the default, as before
    // answer thresholds were chosen (the scope rule then hands off nothing).
    best.map(|(_, fitted)| fitted)
        .or_else(|| with(DEFAULT_ANSWER_THRESHOLD))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(score: f32, answerable_to: f32, right: bool) -> HeldOut {
        HeldOut {
            score,
            answerable_to,
            right,
        }
    }

    fn outside(score: f32, answerable_to: f32) -> HeldOut {
        own(score, answerable_to, false)
    }

    /// 40 own questions, answered right with confidence 0.9 and scores
    /// 0.50 to 0.89, and `extra`.
    fn held(extra_own: Vec<HeldOut>, outside: Vec<HeldOut>) -> Held {
        let mut own_questions: Vec<HeldOut> = (0..40)
            .map(|i| own(0.5 + i as f32 * 0.01, 0.9, true))
            .collect();
        own_questions.extend(extra_own);
        Held {
            own: own_questions,
            outside,
        }
    }

    #[test]
    fn an_answer_threshold_that_catches_what_the_scope_score_misses_is_chosen() {
        // Outside examples that score like own questions but leave the
        // classifier unsure (0.35): only an answer threshold over 0.35
        // catches them, and 0.4 is the nearest the default that does.
        let h = held(vec![], (0..10).map(|_| outside(0.8, 0.35)).collect());
        let fitted = fit(&h, 0.05, AnswerThreshold::Fitted).unwrap();
        assert_eq!(fitted.answer, 0.4);
        // Two of 40 own questions may go: the scope rule takes them.
        assert!((fitted.scope - 0.52).abs() < 1e-6, "{fitted:?}");
    }

    #[test]
    fn own_questions_answered_with_another_article_are_wrong_answers_the_fit_avoids_too() {
        // Two own questions the classifier gets wrong, unsure (0.35), that
        // score high: an answer threshold of 0.4 hands them off, within the
        // 5 % of 42, and the scope rule takes no more.
        let wrong = vec![own(0.9, 0.35, false), own(0.9, 0.35, false)];
        let fitted = fit(&held(wrong, vec![]), 0.05, AnswerThreshold::Fitted).unwrap();
        assert_eq!(fitted.answer, 0.4, "{fitted:?}");
        assert_eq!(
            fitted.scope, 0.5,
            "the target used up: no own question under it"
        );
    }

    #[test]
    fn with_nothing_to_gain_the_default_stays_and_a_given_threshold_is_kept() {
        let h = held(vec![], (0..10).map(|_| outside(0.4, 0.9)).collect());
        let fitted = fit(&h, 0.05, AnswerThreshold::Fitted).unwrap();
        assert_eq!(fitted.answer, DEFAULT_ANSWER_THRESHOLD);
        let given = fit(&h, 0.05, AnswerThreshold::Given(0.95)).unwrap();
        assert_eq!(given.answer, 0.95);
        assert_eq!(
            given.scope,
            f32::NEG_INFINITY,
            "every own question handed off by it: no scope rule"
        );
        assert_eq!(fit(&Held::default(), 0.05, AnswerThreshold::Fitted), None);
    }

    #[test]
    fn an_answer_threshold_that_alone_hands_off_more_than_the_target_is_never_chosen() {
        // Half the own questions are answerable only to 0.25: every
        // threshold above hands off half of them, far over 5 %, however much
        // of the outside it would catch.
        let mut h = held(vec![], (0..40).map(|_| outside(0.9, 0.35)).collect());
        for q in h.own.iter_mut().step_by(2) {
            q.answerable_to = 0.25;
        }
        let fitted = fit(&h, 0.05, AnswerThreshold::Fitted).unwrap();
        assert_eq!(fitted.answer, 0.2);
    }
}
