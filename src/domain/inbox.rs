//! The unanswered inbox: questions the assistant handed off, found out of
//! scope, answered unsure, or had voted down, grouped so that near-duplicates
//! are one item. Two questions are near-duplicates when their sentence
//! embeddings (the engine's own measure of meaning) have a cosine of at
//! least [`SAME_QUESTION`], or, without embeddings, when their words are the
//! same.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::domain::clock::UnixMillis;
use crate::domain::records::{LOW_CONFIDENCE, OpenTurn, RecordedOutcome};

/// Cosine at which two questions count as one (all-MiniLM-L6-v2: a paraphrase
/// scores about 0.8-0.95, a related but different question about 0.5).
pub const SAME_QUESTION: f32 = 0.75;

/// Examples kept per item.
const EXAMPLES: usize = 5;

/// One item of the inbox.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unanswered {
    /// The item's id: the reply id of its newest question.
    pub id: String,
    /// The newest question of the group, as written (redacted).
    pub text: String,
    pub count: usize,
    pub last_seen: UnixMillis,
    /// Why its questions are here: `handoff`, `out_of_scope`, `clarified`,
    /// `low_confidence`, `not_helpful`.
    pub reasons: BTreeSet<&'static str>,
    /// Up to five of its questions, newest first, no two the same.
    pub examples: Vec<String>,
    /// Every question's reply id (to dismiss or add them together).
    #[serde(skip)]
    pub members: Vec<String>,
    #[serde(skip)]
    centroid: Option<Vec<f32>>,
}

/// Why `turn` is in the inbox.
fn reasons(turn: &OpenTurn) -> impl Iterator<Item = &'static str> {
    let outcome = match turn.outcome {
        RecordedOutcome::HandedOff => Some("handoff"),
        RecordedOutcome::OutOfScope => Some("out_of_scope"),
        RecordedOutcome::Clarified => Some("clarified"),
        RecordedOutcome::Answered => (turn.confidence < LOW_CONFIDENCE).then_some("low_confidence"),
    };
    outcome
        .into_iter()
        .chain(turn.not_helpful.then_some("not_helpful"))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The words of a question, for grouping without embeddings.
fn words(text: &str) -> String {
    support_chat_assistant::normalise(text)
}

/// `turns` (newest first) grouped into items, the most frequent first (the
/// most recent among equals).
pub fn group(turns: Vec<OpenTurn>) -> Vec<Unanswered> {
    let mut items: Vec<Unanswered> = Vec::new();
    for turn in turns {
        let same = items
            .iter_mut()
            .find(|item| match (&item.centroid, &turn.embedding) {
                (Some(c), Some(e)) => cosine(c, e) >= SAME_QUESTION,
                _ => words(&item.text) == words(&turn.message),
            });
        match same {
            Some(item) => {
                item.count += 1;
                item.last_seen = item.last_seen.max(turn.at);
                item.reasons.extend(reasons(&turn));
                item.members.push(turn.reply_id.clone());
                if item.examples.len() < EXAMPLES && !item.examples.contains(&turn.message) {
                    item.examples.push(turn.message.clone());
                }
            }
            None => items.push(Unanswered {
                id: turn.reply_id.clone(),
                text: turn.message.clone(),
                count: 1,
                last_seen: turn.at,
                reasons: reasons(&turn).collect(),
                examples: vec![turn.message.clone()],
                members: vec![turn.reply_id.clone()],
                centroid: turn.embedding.clone(),
            }),
        }
    }
    items.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(id: &str, at: UnixMillis, message: &str, embedding: Option<Vec<f32>>) -> OpenTurn {
        OpenTurn {
            reply_id: id.into(),
            at,
            message: message.into(),
            outcome: RecordedOutcome::HandedOff,
            confidence: 0.2,
            embedding,
            not_helpful: false,
        }
    }

    #[test]
    fn near_duplicates_form_one_item_and_the_most_frequent_come_first() {
        let a = vec![1.0, 0.0];
        let close = vec![0.9, 0.436];
        let far = vec![0.0, 1.0];
        let items = group(vec![
            turn("r4", 40, "do you lend to charities?", Some(far.clone())),
            turn("r3", 30, "can a charity borrow?", Some(far)),
            turn("r2", 20, "do you do invoice finance", Some(close)),
            turn("r1", 10, "invoice finance?", Some(a.clone())),
            turn("r0", 5, "INVOICE FINANCE?", Some(a)),
        ]);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].count, 3, "{items:?}");
        assert_eq!(items[0].id, "r2");
        assert_eq!(items[0].members, ["r2", "r1", "r0"]);
        assert_eq!(items[0].last_seen, 20);
        assert_eq!(
            items[1].examples,
            ["do you lend to charities?", "can a charity borrow?"]
        );
        assert!(items[0].reasons.contains("handoff"));
    }

    #[test]
    fn without_embeddings_the_same_words_are_the_same_question() {
        let items = group(vec![
            turn("a", 2, "Invoice finance?", None),
            turn("b", 1, "invoice  finance", None),
            turn("c", 0, "asset finance", None),
        ]);
        assert_eq!(items.iter().map(|i| i.count).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn the_reasons_name_why_each_question_is_here() {
        let mut unsure = turn("a", 1, "q", None);
        unsure.outcome = RecordedOutcome::Answered;
        unsure.confidence = 0.3;
        unsure.not_helpful = true;
        let items = group(vec![unsure]);
        let reasons: Vec<_> = items[0].reasons.iter().copied().collect();
        assert_eq!(reasons, ["low_confidence", "not_helpful"]);
    }
}
