//! Follow-ups: a message that refers back ("how long does that take?",
//! "and for LLPs?") is also read together with the question that set the
//! current topic. The engine asks this module three things, in order, and
//! this module asks nothing of the engine:
//!
//! 1. [`refers_back`]: does the message lean on the conversation at all?
//! 2. [`topic`]: what can it lean on (the question that set the topic, and
//!    the articles a context reading may land on)?
//! 3. [`prefer_context`]: given how the message reads alone and where the
//!    context reading lands, which reading wins?
//!
//! The **alone** reading classifies the message by itself (the only reading
//! with an empty history, so single messages and offline evaluation are
//! unaffected); the **context** reading classifies it appended to the topic's
//! question. The context reading is tried only when the message refers back
//! and the previous turn was answered or asked for clarification (a handoff
//! leaves no topic). It must answer, and it is preferred when:
//!
//! 1. the alone reading is unsure: it would not answer and is not
//!    confidently out of scope (under the scope rule's threshold, or,
//!    without the rule, the out-of-scope class below `followup_oos_block`),
//!    e.g. "what about LLPs?" after "Who can apply?"; or
//! 2. the alone reading is confident (an answer to a *different* article,
//!    or confidently out of scope), but the context reading lands on the
//!    topic article or one it links to as a suggestion, and that article's
//!    example questions cover every content word of the message
//!    ([`covers`]): the message asks something the topic article is written
//!    to answer and names no other topic. So "how long does that take?"
//!    after "How do I complain?" stays on complaints (whose questions ask how
//!    long a complaint takes), while "how long does it take?" after "Who can
//!    apply?" and "what about early repayment?" after "How much does it
//!    cost?" still switch topic, and "what about the weather?" is still out
//!    of scope.
//!
//! After a clarification only the offered candidates are accepted. A message
//! that only points back ("what about that?") and finds no context is handed
//! off as not understood rather than guessed at. A bare reply ("ok", "yes",
//! "no": [`Reference::Bare`]) is never read in context, and is answered only
//! by an article whose own questions hold each of its words ("ok" by one
//! with "ok thanks"), not understood otherwise.

use std::collections::BTreeMap;

use crate::answer::{HISTORY_TURNS, Outcome, Turn};
use crate::kb::KnowledgeBase;
use crate::text::normalise;
use crate::vocab::{Vocab, stem};

/// How the message reads on its own, as far as [`prefer_context`] cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alone {
    /// It answers with the very article the context reading lands on.
    Agrees,
    /// It answers with another article.
    Disagrees,
    /// It is out of scope by the scope rule, or (without the rule) with at
    /// least `followup_oos_block` probability.
    ConfidentlyOutOfScope,
    /// Anything else: it would clarify or hand off as unsure.
    Unsure,
}

/// Whether the context reading, which answers with article `j`, wins over
/// the alone reading (see the module docs). `covers_j`: article `j`'s
/// questions cover every content word of the message.
pub fn prefer_context(alone: Alone, topic: &Topic<'_>, j: usize, covers_j: bool) -> bool {
    if !topic.allows(j) {
        return false;
    }
    match alone {
        Alone::Agrees | Alone::Unsure => true,
        Alone::Disagrees | Alone::ConfidentlyOutOfScope => topic.related.contains(&j) && covers_j,
    }
}

/// Article `j`'s example questions (and title) use every content word of
/// the message: each word that is not a pronoun, opener, question word or
/// other function word ([`is_function_word`]) occurs in them, up to a crude
/// [`stem`] ("llps" / "llp", "complain" / "complaint").
pub fn covers(vocab: &Vocab, words: &[&str]) -> bool {
    words
        .iter()
        .filter(|w| !is_function_word(w))
        .all(|w| vocab.contains(stem(w)))
}

/// Article `j`'s example questions (and title) hold every word of the
/// message, function words too, up to [`stem`].
pub fn holds_every_word(vocab: &Vocab, words: &[&str]) -> bool {
    words.iter().all(|w| vocab.contains(stem(w)))
}

/// The topic a referring message can lean on, from the last turn:
///
/// * answered article `A`: the question that first led to `A` in the
///   trailing run of turns answered with `A` (at most [`HISTORY_TURNS`]
///   turns back), so "how do I complain" stays the topic across several
///   follow-ups; `A` and the articles its suggestions name count as related;
/// * clarification: the ambiguous message, restricted to the candidates;
/// * handoff (or nothing): no topic.
///
/// `titles` maps each normalised article title to its index.
pub fn topic<'h>(
    history: &'h [Turn],
    kb: &KnowledgeBase,
    titles: &BTreeMap<String, usize>,
) -> Option<Topic<'h>> {
    let last = history.last()?;
    let index = |id: &str| kb.articles().iter().position(|x| x.id == id);
    match &last.outcome {
        Outcome::Answered { article } => {
            let a = index(article)?;
            let anchor = history
                .iter()
                .rev()
                .take(HISTORY_TURNS)
                .take_while(|t| t.outcome == last.outcome)
                .filter(|t| !t.message.is_empty())
                .last()?;
            let mut related = vec![a];
            related.extend(
                kb.articles()[a]
                    .suggestions
                    .iter()
                    .filter_map(|s| titles.get(&normalise(s)).copied()),
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
            let allowed: Vec<usize> = candidates.iter().filter_map(|id| index(id)).collect();
            Some(Topic {
                message: &last.message,
                related: allowed.clone(),
                allowed,
            })
        }
        Outcome::Handoff { .. } => None,
    }
}

/// What a referring message can lean on (see [`topic`]).
pub struct Topic<'h> {
    /// Normalised question that set the topic.
    pub message: &'h str,
    /// Articles a context reading may switch to over a confident alone reading.
    related: Vec<usize>,
    /// If non-empty, the only articles a context reading may answer.
    allowed: Vec<usize>,
}

impl Topic<'_> {
    /// Whether a context reading may answer with article `j`.
    fn allows(&self, j: usize) -> bool {
        self.allowed.is_empty() || self.allowed.contains(&j)
    }
}

/// Whether a message refers back to the conversation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reference {
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
    /// A bare reply that names no topic and asks nothing: every word is a
    /// function word, at least one of them neither a pointer nor a question
    /// word ("ok", "yes", "no", "please", "is it ok"). The assistant asks
    /// no yes-or-no questions, so there is nothing for it to answer, and
    /// read with the topic's question it could only repeat that answer.
    Bare,
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
/// Further words that name no topic, ignored by [`covers`].
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

/// Whether `words` (a normalised message) lean on the conversation: see
/// [`Reference`] for what `max_words` and `elliptical_words` bound.
pub fn refers_back(words: &[&str], max_words: usize, elliptical_words: usize) -> Reference {
    if words.is_empty() || words.len() > max_words {
        return Reference::None;
    }
    let opener = OPENERS.contains(&words[0])
        || (words.len() >= 2
            && OPENER_PAIRS
                .iter()
                .any(|(a, b)| words[0] == *a && words[1] == *b));
    let anaphora = words.iter().any(|w| ANAPHORA.contains(w));
    if !(opener || anaphora || words.len() <= elliptical_words) {
        return Reference::None;
    }
    let pointer_only = words
        .iter()
        .all(|w| OPENERS.contains(w) || ANAPHORA.contains(w) || POINTER_WORDS.contains(w));
    if pointer_only {
        Reference::PointerOnly
    } else if words.iter().all(|w| is_function_word(w)) {
        Reference::Bare
    } else {
        Reference::Refers
    }
}
