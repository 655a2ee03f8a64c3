//! The answer engine: features + one-vs-rest linear SVM trained over the
//! knowledge base's example questions plus an extra out-of-scope class,
//! calibrated confidence, clarification, handoff and multi-turn rules.

use std::collections::{BTreeMap, HashSet};

use super::features::{FeatureConfig, Vectorizer};
use super::kb::{Article, CONTACT_PLACEHOLDER, HANDOFF_ARTICLE_ID, KnowledgeBase};
use super::svm::{OvrModel, SvmConfig, train_ovr};
use super::text::{normalise, tokens};
use super::{Outcome, Reply, Turn};

/// Used when the knowledge base has no `handoff` article.
pub const DEFAULT_CONTACT: &str =
    "Please contact our support team using the details on the contact page of our website.";

/// All tunable numbers of the engine. `Default` holds the tuned values.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub features: FeatureConfig,
    pub svm: SvmConfig,
    /// Softmax temperature over SVM margins.
    pub temperature: f32,
    /// Minimum calibrated probability of the best article to answer.
    pub answer_threshold: f32,
    /// If best - second probability is below this, ask which was meant.
    pub clarify_gap: f32,
    /// Clarify only if the two candidates together are at least this likely.
    pub clarify_min_pair: f32,
    /// Hand off if no class has a margin of at least this.
    pub min_margin: f32,
    /// Messages with at most this many words may be read as follow-ups
    /// (when they start with a continuation opener or hold a pronoun).
    pub followup_max_words: usize,
    /// Messages with at most this many words are elliptical: always a
    /// possible follow-up.
    pub followup_elliptical_words: usize,
    /// A message that is out of scope with at least this probability on its
    /// own is re-read as a follow-up only if the topic article covers all
    /// its content words (see `Engine::decide_with_context`).
    pub followup_oos_block: f32,
    /// Exponent of the out-of-scope class down-weighting
    /// (`(mean article size / oos size)^oos_balance`, capped at 1).
    pub oos_balance: f32,
    /// Include the built-in out-of-scope training examples as a rejection class.
    pub use_oos_class: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            features: FeatureConfig::default(),
            svm: SvmConfig::default(),
            temperature: 0.1,
            answer_threshold: 0.3,
            clarify_gap: 0.02,
            clarify_min_pair: 0.5,
            min_margin: -0.8,
            followup_max_words: 10,
            followup_elliptical_words: 3,
            followup_oos_block: 0.9,
            oos_balance: 0.5,
            use_oos_class: true,
        }
    }
}

/// Classifier output for one text.
#[derive(Clone, Debug)]
pub struct Scored {
    /// Class indices, best first (index `n_articles` = out of scope).
    pub best: usize,
    pub second: usize,
    pub p_best: f32,
    pub p_second: f32,
    pub margin_best: f32,
}

#[derive(Clone, Debug, PartialEq)]
enum Decision {
    Answer(usize),
    Clarify(usize, usize),
    Handoff { out_of_scope: bool },
}

/// Knowledge base + trained model.
pub struct Engine {
    kb: KnowledgeBase,
    cfg: EngineConfig,
    vectorizer: Vectorizer,
    model: OvrModel,
    /// Normalised article title -> article index (exact suggestion match).
    titles: BTreeMap<String, usize>,
    /// Words of each article's questions and title (see [`Engine::covers`]).
    vocab: Vec<Vocab>,
    contact: String,
}

impl Engine {
    /// Trains the engine on the knowledge base (plus out-of-scope examples).
    pub fn new(kb: KnowledgeBase) -> Engine {
        Engine::with_config(kb, EngineConfig::default())
    }

    pub fn with_config(kb: KnowledgeBase, cfg: EngineConfig) -> Engine {
        let n_art = kb.articles().len();
        let mut docs: Vec<String> = Vec::new();
        let mut labels: Vec<usize> = Vec::new();
        for (i, a) in kb.articles().iter().enumerate() {
            for q in a.questions.iter().chain(std::iter::once(&a.title)) {
                let n = normalise(q);
                if !n.is_empty() {
                    docs.push(n);
                    labels.push(i);
                }
            }
        }
        if cfg.use_oos_class {
            for q in super::oos::training_examples() {
                docs.push(normalise(q));
                labels.push(n_art);
            }
        }
        let vectorizer = Vectorizer::fit(&docs, cfg.features.clone());
        let xs: Vec<_> = docs.iter().map(|d| vectorizer.transform(d)).collect();
        // The out-of-scope class is usually much larger than an article's
        // question list; scale its sample weight towards the mean article
        // size so it does not swallow short in-scope questions.
        let n_oos = labels.iter().filter(|&&y| y == n_art).count();
        let mut extra = vec![1.0f32; n_art + 1];
        if n_oos > 0 && n_art > 0 {
            let mean_article = (labels.len() - n_oos) as f32 / n_art as f32;
            extra[n_art] = (mean_article / n_oos as f32).min(1.0).powf(cfg.oos_balance);
        }
        let model = train_ovr(&xs, &labels, n_art + 1, vectorizer.dim(), &cfg.svm, &extra);
        let vocab = kb.articles().iter().map(Vocab::of).collect();
        let titles = kb
            .articles()
            .iter()
            .enumerate()
            .map(|(i, a)| (normalise(&a.title), i))
            .collect();
        let contact = kb
            .get(HANDOFF_ARTICLE_ID)
            .map(|a| a.body.clone())
            .unwrap_or_else(|| DEFAULT_CONTACT.to_string());
        Engine {
            kb,
            cfg,
            vectorizer,
            model,
            titles,
            vocab,
            contact,
        }
    }

    pub fn knowledge_base(&self) -> &KnowledgeBase {
        &self.kb
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    fn n_articles(&self) -> usize {
        self.kb.articles().len()
    }

    /// Raw SVM margins of every class (last = out of scope).
    pub fn margins(&self, normalised: &str) -> Vec<f32> {
        self.model.scores(&self.vectorizer.transform(normalised))
    }

    /// Scores a normalised text.
    pub fn classify(&self, normalised: &str) -> Scored {
        let x = self.vectorizer.transform(normalised);
        let s = self.model.scores(&x);
        let mut order: Vec<usize> = (0..s.len()).collect();
        // Stable sort: ties resolve to the lower class index.
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let t = self.cfg.temperature.max(1e-6);
        let m = s[order[0]];
        let z: f32 = s.iter().map(|v| ((v - m) / t).exp()).sum();
        let p = |c: usize| ((s[c] - m) / t).exp() / z;
        let second = order.get(1).copied().unwrap_or(order[0]);
        Scored {
            best: order[0],
            second,
            p_best: p(order[0]),
            p_second: if order.len() > 1 { p(second) } else { 0.0 },
            margin_best: m,
        }
    }

    fn decide(&self, sc: &Scored) -> Decision {
        let oos = self.n_articles();
        let c = &self.cfg;
        if sc.best == oos {
            return Decision::Handoff { out_of_scope: true };
        }
        if sc.margin_best < c.min_margin {
            return Decision::Handoff {
                out_of_scope: false,
            };
        }
        let close = sc.second != oos && sc.p_best - sc.p_second < c.clarify_gap;
        if sc.p_best >= c.answer_threshold && !close {
            return Decision::Answer(sc.best);
        }
        if close && sc.p_best + sc.p_second >= c.clarify_min_pair {
            return Decision::Clarify(sc.best, sc.second);
        }
        Decision::Handoff {
            out_of_scope: false,
        }
    }

    /// Answers one message given the session's recent turns (oldest first).
    pub fn reply(&self, message: &str, history: &[Turn]) -> (Reply, Turn) {
        let norm = normalise(message);
        let (decision, confidence) = self.decide_with_context(&norm, history);
        let turn_outcome = match &decision {
            Decision::Answer(i) => Outcome::Answered {
                article: self.kb.articles()[*i].id.clone(),
            },
            Decision::Clarify(a, b) => Outcome::Clarify {
                candidates: vec![
                    self.kb.articles()[*a].id.clone(),
                    self.kb.articles()[*b].id.clone(),
                ],
            },
            Decision::Handoff { out_of_scope } => Outcome::Handoff {
                out_of_scope: *out_of_scope,
            },
        };
        let reply = match decision {
            Decision::Answer(i) => self.answer_reply(&self.kb.articles()[i]),
            Decision::Clarify(a, b) => Reply {
                text: "I want to be sure I give you the right answer. Which of these did you mean?"
                    .to_string(),
                suggestions: vec![
                    self.kb.articles()[a].title.clone(),
                    self.kb.articles()[b].title.clone(),
                ],
                handoff: false,
            },
            Decision::Handoff { out_of_scope } => {
                let previous_handoffs = history
                    .iter()
                    .rev()
                    .take_while(|t| matches!(t.outcome, Outcome::Handoff { .. }))
                    .count();
                self.handoff_reply(out_of_scope, previous_handoffs >= 1)
            }
        };
        (
            reply,
            Turn {
                message: norm,
                outcome: turn_outcome,
                confidence,
            },
        )
    }

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
    ///    e.g. "what about sole traders?" after "Who can apply?"; or
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
    fn decide_with_context(&self, norm: &str, history: &[Turn]) -> (Decision, f32) {
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
        let sc = self.classify(norm);
        let d = self.decide(&sc);
        let words = tokens(norm);
        let reference = refers_back(&words, &self.cfg);
        if reference != Reference::None
            && let Some(topic) = self.topic(history)
        {
            let combined = format!("{} {}", topic.message, norm);
            let sc2 = self.classify(&combined);
            if let Decision::Answer(j) = self.decide(&sc2)
                && (topic.allowed.is_empty() || topic.allowed.contains(&j))
            {
                // Would the alone reading stand on its own: a confident answer
                // (or confidently out of scope) that the context disagrees with?
                let confident_alone = match d {
                    Decision::Answer(i) if i == j => {
                        return (d, sc.p_best.max(sc2.p_best));
                    }
                    Decision::Answer(_) => true,
                    Decision::Handoff { out_of_scope: true } => {
                        sc.p_best >= self.cfg.followup_oos_block
                    }
                    _ => false,
                };
                if !confident_alone || (topic.related.contains(&j) && self.covers(j, &words)) {
                    return (Decision::Answer(j), sc2.p_best);
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
        (d, sc.p_best)
    }

    /// Article `j`'s example questions (and title) use every content word of
    /// the message: each word that is not a pronoun, opener, question word
    /// or other function word ([`is_function_word`]) occurs in them, up to
    /// a crude [`stem`] ("llps" / "llp", "complain" / "complaint").
    fn covers(&self, j: usize, words: &[&str]) -> bool {
        words
            .iter()
            .filter(|w| !is_function_word(w))
            .all(|w| self.vocab[j].0.contains(stem(w)))
    }

    /// The topic a referring message can lean on, from the last turn:
    ///
    /// * answered article `A`: the question that first led to `A` in the
    ///   trailing run of turns answered with `A` (at most
    ///   [`TOPIC_LOOKBACK`] turns back), so "how do I complain" stays the
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
                    .take(TOPIC_LOOKBACK)
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

    fn expand(&self, body: &str) -> String {
        body.replace(CONTACT_PLACEHOLDER, &self.contact)
    }

    fn answer_reply(&self, a: &Article) -> Reply {
        let mut text = if a.id == HANDOFF_ARTICLE_ID {
            a.body.clone()
        } else {
            self.expand(&a.body)
        };
        for l in &a.links {
            text.push_str("\nMore: ");
            text.push_str(l);
        }
        Reply {
            text,
            suggestions: a.suggestions.clone(),
            handoff: a.handoff || a.id == HANDOFF_ARTICLE_ID,
        }
    }

    fn handoff_reply(&self, out_of_scope: bool, repeated: bool) -> Reply {
        let text = if repeated {
            format!(
                "It looks like I can't help with this here, so the best next step is to talk to a person.\n\n{}",
                self.contact
            )
        } else if out_of_scope {
            format!(
                "Sorry, I can only help with questions about our business finance and this website, so I won't guess at that one. If you would like to talk to a person:\n\n{}",
                self.contact
            )
        } else {
            format!(
                "Sorry, I'm not sure I understood that, and I would rather not guess. You could try rephrasing it, or talk to a person:\n\n{}",
                self.contact
            )
        };
        let suggestions = if repeated {
            Vec::new()
        } else {
            self.kb
                .get(HANDOFF_ARTICLE_ID)
                .map(|a| a.suggestions.clone())
                .unwrap_or_default()
        };
        Reply {
            text,
            suggestions,
            handoff: true,
        }
    }
}

/// How many turns back [`Engine::topic`] looks for the question that set
/// the current topic.
const TOPIC_LOOKBACK: usize = 3;

/// What a referring message can lean on (see [`Engine::topic`]).
struct Topic<'h> {
    /// Normalised question that set the topic.
    message: &'h str,
    /// Articles a context reading may switch to over a confident alone reading.
    related: Vec<usize>,
    /// If non-empty, the only articles a context reading may answer.
    allowed: Vec<usize>,
}

/// Word stems ([`stem`]) of one article's example questions and title.
struct Vocab(HashSet<String>);

impl Vocab {
    fn of(a: &Article) -> Vocab {
        let mut stems = HashSet::new();
        for q in a.questions.iter().chain(std::iter::once(&a.title)) {
            for w in tokens(&normalise(q)) {
                stems.insert(stem(w).to_string());
            }
        }
        Vocab(stems)
    }
}

/// Words with the same first [`STEM_CHARS`] characters count as the same
/// word in [`Engine::covers`] ("complain" / "complaint").
const STEM_CHARS: usize = 5;

/// Crude stem for [`Engine::covers`]: without a plural `s` (words over three
/// letters), cut to [`STEM_CHARS`] characters.
fn stem(w: &str) -> &str {
    let w = match w.strip_suffix('s') {
        Some(s) if s.chars().count() >= 3 => s,
        _ => w,
    };
    match w.char_indices().nth(STEM_CHARS) {
        Some((end, _)) => &w[..end],
        None => w,
    }
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

impl super::Assistant for Engine {
    fn reply(&self, message: &str, history: &[Turn]) -> (Reply, Turn) {
        Engine::reply(self, message, history)
    }
}
