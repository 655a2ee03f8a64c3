//! Follow-ups: a message that refers back ("how long does that take?",
//! "and for LLPs?") is also read together with the question that set
//! the current topic ([`Engine::decide_with_context`]).

use super::{Decision, Engine, EngineConfig};
use crate::domain::assistant::answer::{HISTORY_TURNS, Outcome, Turn};
use crate::domain::assistant::text::{normalise, tokens};
use crate::domain::assistant::vocab::stem;

impl Engine {
    /// Decides one message in the light of the conversation so far.
    ///
    /// Follow-up handling works on two readings of the message:
    ///
    /// * the **alone** reading classifies the message by itself (this is the
    ///   only reading with an empty history, so single-message behaviour and
    ///   offline evaluation are unaffected);
    /// * the **context** reading classifies the message appended to the
    ///   question that set the current topic (see [`Engine::topic`]).
    ///
    /// The context reading is tried only when the message refers back
    /// ([`refers_back`]: an anaphoric pronoun such as "that"/"it", a
    /// continuation opener such as "and"/"what about", or an elliptical
    /// message of a few words) and the previous turn was answered or asked
    /// for clarification (a handoff leaves no topic to lean on). It must
    /// answer, and it is preferred when:
    ///
    /// 1. the alone reading is unsure: it would not answer and is not
    ///    confidently out of scope (probability below `followup_oos_block`),
    ///    e.g. "what about LLPs?" after "Who can apply?"; or
    /// 2. the alone reading is confident (an answer to a *different*
    ///    article, or confidently out of scope), but the context
    ///    reading lands on the topic article or one it links to as a
    ///    suggestion, and that article's example questions cover every
    ///    content word of the message ([`Engine::covers`]): the message asks
    ///    something the topic article is written to answer and names no other
    ///    topic. So "how long does that take?" after "How do I complain?"
    ///    stays on complaints (whose questions ask how long a complaint
    ///    takes), while "how long does it take?" after "Who can apply?" and
    ///    "what about early repayment?" after "How much does it cost?" still
    ///    switch topic, and "what about the weather?" is still out of scope.
    ///
    /// After a clarification only the offered candidates are accepted. A
    /// message that only points back ("what about that?") and finds no
    /// context is handed off as not understood rather than guessed at.
    pub(super) fn decide_with_context(&self, norm: &str, history: &[Turn]) -> (Decision, f32) {
        if norm.is_empty() {
            return (
                Decision::Handoff {
                    out_of_scope: false,
                },
                0.0,
            );
        }
        // A chosen suggestion (or any exact article title) resolves directly.
        if let Some(&i) = self.titles.get(norm) {
            return (Decision::Answer(i), 1.0);
        }
        let alone = self.classify(norm);
        let alone_decision = self.decide(&alone);
        let words = tokens(norm);
        let reference = refers_back(&words, &self.cfg);
        if reference != Reference::None
            && let Some(topic) = self.topic(history)
        {
            let combined = format!("{} {}", topic.message, norm);
            let in_context = self.classify(&combined);
            if let Decision::Answer(j) = self.decide(&in_context)
                && (topic.allowed.is_empty() || topic.allowed.contains(&j))
            {
                // Would the alone reading stand on its own: a confident answer
                // (or confidently out of scope) that the context disagrees with?
                let confident_alone = match alone_decision {
                    Decision::Answer(i) if i == j => {
                        return (alone_decision, alone.p_best.max(in_context.p_best));
                    }
                    Decision::Answer(_) => true,
                    Decision::Handoff { out_of_scope: true } => {
                        alone.p_best >= self.cfg.followup_oos_block
                    }
                    _ => false,
                };
                if !confident_alone || (topic.related.contains(&j) && self.covers(j, &words)) {
                    return (Decision::Answer(j), in_context.p_best);
                }
            }
        }
        if reference == Reference::PointerOnly {
            return (
                Decision::Handoff {
                    out_of_scope: false,
                },
                0.0,
            );
        }
        (alone_decision, alone.p_best)
    }

    /// Article `j`'s example questions (and title) use every content word of
    /// the message: each word that is not a pronoun, opener, question word
    /// or other function word ([`is_function_word`]) occurs in them, up to
    /// a crude [`stem`] ("llps" / "llp", "complain" / "complaint").
    fn covers(&self, j: usize, words: &[&str]) -> bool {
        words
            .iter()
            .filter(|w| !is_function_word(w))
            .all(|w| self.vocab[j].contains(stem(w)))
    }

    /// The topic a referring message can lean on, from the last turn:
    ///
    /// * answered article `A`: the question that first led to `A` in the
    ///   trailing run of turns answered with `A` (at most
    ///   [`HISTORY_TURNS`] turns back), so "how do I complain" stays the
    ///   topic across several follow-ups; `A` and the articles its
    ///   suggestions name count as related;
    /// * clarification: the ambiguous message, restricted to the candidates;
    /// * handoff (or nothing): no topic.
    fn topic<'h>(&self, history: &'h [Turn]) -> Option<Topic<'h>> {
        let last = history.last()?;
        match &last.outcome {
            Outcome::Answered { article } => {
                let a = self.kb.articles().iter().position(|x| &x.id == article)?;
                let anchor = history
                    .iter()
                    .rev()
                    .take(HISTORY_TURNS)
                    .take_while(|t| t.outcome == last.outcome)
                    .filter(|t| !t.message.is_empty())
                    .last()?;
                let mut related = vec![a];
                related.extend(
                    self.kb.articles()[a]
                        .suggestions
                        .iter()
                        .filter_map(|s| self.titles.get(&normalise(s)).copied()),
                );
                Some(Topic {
                    message: &anchor.message,
                    related,
                    allowed: Vec::new(),
                })
            }
            Outcome::Clarify { candidates } => {
                if last.message.is_empty() {
                    return None;
                }
                let allowed: Vec<usize> = candidates
                    .iter()
                    .filter_map(|id| self.kb.articles().iter().position(|x| &x.id == id))
                    .collect();
                Some(Topic {
                    message: &last.message,
                    related: allowed.clone(),
                    allowed,
                })
            }
            Outcome::Handoff { .. } => None,
        }
    }
}

/// What a referring message can lean on (see [`Engine::topic`]).
struct Topic<'h> {
    /// Normalised question that set the topic.
    message: &'h str,
    /// Articles a context reading may switch to over a confident alone reading.
    related: Vec<usize>,
    /// If non-empty, the only articles a context reading may answer.
    allowed: Vec<usize>,
}

/// Whether a message refers back to the conversation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reference {
    /// A self-contained message.
    None,
    /// Leans on the previous turn: elliptical (at most
    /// `followup_elliptical_words` words), or at most `followup_max_words`
    /// words with a continuation opener ("and ...", "what about ...") or an
    /// anaphoric pronoun ("that", "it", ...).
    Refers,
    /// Refers back and has nothing else: every word is a pronoun, opener or
    /// question word ("what about that?", "and then?", "why?").
    PointerOnly,
}

const OPENERS: [&str; 7] = ["and", "also", "so", "but", "then", "or", "plus"];
const OPENER_PAIRS: [(&str, &str); 4] = [
    ("what", "about"),
    ("how", "about"),
    ("what", "if"),
    ("and", "if"),
];
const ANAPHORA: [&str; 8] = [
    "that", "it", "this", "those", "these", "they", "them", "one",
];
/// Words that point back or ask, but name no topic (besides openers and
/// anaphora): a message made only of these is [`Reference::PointerOnly`].
const POINTER_WORDS: [&str; 22] = [
    "what", "how", "why", "when", "where", "who", "which", "about", "if", "is", "are", "was",
    "does", "do", "did", "the", "a", "an", "again", "else", "more", "for",
];
/// Further words that name no topic, ignored by [`Engine::covers`].
const OTHER_FUNCTION_WORDS: [&str; 34] = [
    "i", "me", "my", "we", "us", "our", "you", "your", "can", "could", "will", "would", "should",
    "have", "has", "be", "been", "am", "to", "of", "in", "on", "at", "by", "with", "from", "any",
    "there", "not", "no", "yes", "please", "ok", "okay",
];

fn is_function_word(w: &str) -> bool {
    OPENERS.contains(&w)
        || ANAPHORA.contains(&w)
        || POINTER_WORDS.contains(&w)
        || OTHER_FUNCTION_WORDS.contains(&w)
}

fn refers_back(words: &[&str], cfg: &EngineConfig) -> Reference {
    if words.is_empty() || words.len() > cfg.followup_max_words {
        return Reference::None;
    }
    let opener = OPENERS.contains(&words[0])
        || (words.len() >= 2
            && OPENER_PAIRS
                .iter()
                .any(|(a, b)| words[0] == *a && words[1] == *b));
    let anaphora = words.iter().any(|w| ANAPHORA.contains(w));
    if !(opener || anaphora || words.len() <= cfg.followup_elliptical_words) {
        return Reference::None;
    }
    let pointer_only = words
        .iter()
        .all(|w| OPENERS.contains(w) || ANAPHORA.contains(w) || POINTER_WORDS.contains(w));
    if pointer_only {
        Reference::PointerOnly
    } else {
        Reference::Refers
    }
}
