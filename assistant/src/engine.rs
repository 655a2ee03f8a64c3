//! The answer engine: features (lexical TF-IDF, and with an encoder the
//! sentence embedding beside them) + one-vs-rest linear SVM trained over the
//! knowledge base's example questions plus an extra out-of-scope class,
//! calibrated confidence, clarification, handoff and multi-turn rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::answer::{
    Answer, ArticleRef, Assistant, Outcome, Reply, STORED_MESSAGE_BYTES, Turn, truncated,
};
use super::care::{CareModel, Signals};
use super::encoder::tuned::TunedEncoder;
use super::encoder::{DIM, Embedding384, Encoder, cosine, nearest};
use super::features::{SparseVec, Vectorizer};
use super::kb::{
    Article, COMPLAINTS_ARTICLE_ID, CONTACT_PLACEHOLDER, HANDOFF_ARTICLE_ID, KnowledgeBase,
    SUPPORT_ARTICLE_ID,
};
use super::message::Message;
use super::svm::{OvrModel, train_ovr};
use super::text::normalise;

use super::followup::{self, Alone, Reference};
use super::text::tokens;
use super::vocab::Vocab;

mod config;
mod fit;
mod held;
mod scope;
pub(crate) mod tuning;
mod weight;
pub use config::EngineConfig;
pub use fit::{
    ANSWER_THRESHOLDS, AnswerThreshold, DEFAULT_ANSWER_THRESHOLD, Held, HeldOut, Thresholds, fit,
};
pub use scope::{
    DEFAULT_HANDOFF_TARGET, DEFAULT_SCOPE_WEIGHT, MIN_ARTICLES_TO_FIT, SCOPE_FOLDS, SCOPE_WEIGHTS,
    Scope, ScopeRule, ScopeWeight, threshold_for,
};

/// Used when the knowledge base has no `handoff` article.
pub const DEFAULT_CONTACT: &str =
    "Please contact our support team using the details on the contact page of our website.";

/// How in scope a message looks, the one number the scope rule reads: the
/// best cosine to an article's example, plus `weight` × the best article's
/// SVM margin over the out-of-scope class (the weight chosen for each
/// knowledge base: `engine/weight.rs`), less how much nearer the message
/// is to one of the knowledge base's own out-of-scope examples than to any
/// article's (nothing without an `out-of-scope.txt`). On held-out
/// near-domain questions it separated best among those compared
/// (BENCHMARKS.md, "Out of scope").
pub fn scope_score(s: &Scored, weight: f32) -> f32 {
    scope::score(s.neighbour, s.article_over_oos, s.oos_neighbour, weight)
}

/// Classifier output for one text.
#[derive(Clone, Debug)]
pub struct Scored {
    /// Class indices, best first (index `n_articles` = out of scope).
    pub best: usize,
    pub second: usize,
    pub p_best: f32,
    pub p_second: f32,
    /// The SVM's best margin (before the neighbours move the articles').
    pub margin_best: f32,
    /// The best article's margin less the out-of-scope class's.
    pub article_over_oos: f32,
    /// The best cosine to an article's example (0 without an encoder;
    /// tuned, the mean of the tuned and the untuned encoder's).
    pub neighbour: f32,
    /// The best cosine to one of the knowledge base's own out-of-scope
    /// examples (0 without them or an encoder; tuned, the same mean).
    pub oos_neighbour: f32,
}

#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Answer(usize),
    Clarify(usize, usize),
    Handoff { out_of_scope: bool },
}

/// Knowledge base + trained model.
pub struct Engine {
    kb: KnowledgeBase,
    cfg: EngineConfig,
    vectorizer: Vectorizer,
    /// The sentence encoder; `None` is the lexical-only engine.
    encoder: Option<Arc<Encoder>>,
    /// The encoder with its top layer tuned to this knowledge base
    /// ([`Engine::tuned`]): with one, the classifier reads its embeddings.
    tuned: Option<Arc<TunedEncoder>>,
    model: OvrModel,
    /// The embeddings of the articles' questions and titles (with an
    /// encoder), each with its article's index: a message's nearest one
    /// says how in scope it looks, and each article's how likely it is.
    examples: Vec<(usize, Embedding384)>,
    /// The embeddings of the knowledge base's own out-of-scope examples.
    oos_examples: Vec<Embedding384>,
    /// With a tuned encoder, the untuned embeddings of `examples` and
    /// `oos_examples`: the scope measures read these beside the tuned ones.
    untuned: Option<(Vec<Embedding384>, Vec<Embedding384>)>,
    /// Under this [`scope_score`] a message is handed off as out of scope.
    scope_threshold: Option<f32>,
    /// Normalised article title -> article index (exact suggestion match).
    titles: BTreeMap<String, usize>,
    /// Words of each article's questions and title (`followup::covers`).
    vocab: Vec<Vocab>,
    /// Each article's [`Article::version`].
    versions: Vec<String>,
    /// The `handoff` article, whose body is the contact text.
    handoff_article: Option<usize>,
    contact: String,
    /// The duty-of-care detectors, and the articles that answer them.
    care: Arc<CareModel>,
    complaints_article: Option<usize>,
    support_article: Option<usize>,
}

impl Engine {
    /// Trains the engine on the knowledge base (plus out-of-scope examples),
    /// with the sentence encoder's features when one is given.
    pub fn new(kb: KnowledgeBase, encoder: Option<Arc<Encoder>>) -> Engine {
        Engine::with_config(kb, EngineConfig::default(), encoder)
    }

    pub fn with_config(
        kb: KnowledgeBase,
        cfg: EngineConfig,
        encoder: Option<Arc<Encoder>>,
    ) -> Engine {
        let care = Arc::new(CareModel::train(&kb.care_training(), encoder.as_deref()));
        Engine::with_care(kb, cfg, encoder, care)
    }

    /// [`Engine::with_config`] with duty-of-care detectors already trained
    /// (they depend on the knowledge base's `care/` examples only, not on
    /// its articles: cross-validation trains them once).
    ///
    /// With an encoder and a [`ScopeRule::Target`] (or [`ScopeRule::Auto`]
    /// resolving to one), the scope rule's threshold and the answer
    /// threshold are fitted here: `SCOPE_FOLDS` more trainings.
    pub fn with_care(
        kb: KnowledgeBase,
        cfg: EngineConfig,
        encoder: Option<Arc<Encoder>>,
        care: Arc<CareModel>,
    ) -> Engine {
        Engine::trained(kb, cfg, encoder, None, care)
            .with_thresholds(|engine, target| engine.fit_thresholds(target))
    }

    /// Trains on the knowledge base, without fitting a scope threshold but
    /// with the margin weight chosen when `cfg` leaves it to be fitted
    /// (then held as given); the classifier reads `tuned`'s embeddings when
    /// given (of `encoder`).
    fn trained(
        kb: KnowledgeBase,
        cfg: EngineConfig,
        encoder: Option<Arc<Encoder>>,
        tuned: Option<Arc<TunedEncoder>>,
        care: Arc<CareModel>,
    ) -> Engine {
        let n_art = kb.articles().len();
        let (docs, labels) = training_texts(&kb, &cfg);
        let vectorizer = Vectorizer::fit(&docs, cfg.features.clone());
        let mut xs: Vec<_> = docs.iter().map(|d| vectorizer.transform(d)).collect();
        let mut dim = vectorizer.dim();
        let (mut examples, mut oos_examples) = (Vec::new(), Vec::new());
        let mut untuned = None;
        if let Some(encoder) = &encoder {
            let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
            let embedded = match &tuned {
                Some(tuned) => tuned.embed_all(&texts),
                None => encoder.embed_all(&texts),
            };
            for (x, e) in xs.iter_mut().zip(&embedded) {
                append_embedding(x, dim, e, cfg.semantic_weight);
            }
            (examples, oos_examples) = by_class(embedded, &labels, n_art);
            if tuned.is_some() {
                let (own, own_oos) = by_class(encoder.embed_all(&texts), &labels, n_art);
                untuned = Some((own.into_iter().map(|(_, e)| e).collect(), own_oos));
            }
            dim += DIM;
        }
        // An out-of-scope class is usually much larger than an article's
        // question list; scale its sample weight towards the mean article
        // size so it does not swallow short in-scope questions.
        let size = |class: usize| labels.iter().filter(|&&y| y == class).count();
        let n_in = labels.iter().filter(|&&y| y < n_art).count();
        let mut extra = vec![1.0f32; n_art + 2];
        for class in [n_art, n_art + 1] {
            let n_oos = size(class);
            if n_oos > 0 && n_art > 0 {
                let mean_article = n_in as f32 / n_art as f32;
                extra[class] = (mean_article / n_oos as f32).min(1.0).powf(cfg.oos_balance);
            }
        }
        let classes = if size(n_art + 1) > 0 {
            n_art + 2
        } else {
            n_art + 1
        };
        extra.truncate(classes);
        let model = train_ovr(&xs, &labels, classes, dim, &cfg.svm, &extra);
        let vocab = kb.articles().iter().map(Vocab::of).collect();
        let titles = kb
            .articles()
            .iter()
            .enumerate()
            .map(|(i, a)| (normalise(&a.title), i))
            .collect();
        let handoff_article = kb
            .articles()
            .iter()
            .position(|a| a.id == HANDOFF_ARTICLE_ID);
        let contact = handoff_article
            .map(|i| kb.articles()[i].body.clone())
            .unwrap_or_else(|| DEFAULT_CONTACT.to_string());
        let versions = kb.articles().iter().map(Article::version).collect();
        let position = |id: &str| kb.articles().iter().position(|a| a.id == id);
        let (complaints_article, support_article) = (
            position(COMPLAINTS_ARTICLE_ID),
            position(SUPPORT_ARTICLE_ID),
        );
        Engine {
            kb,
            cfg,
            vectorizer,
            encoder,
            tuned,
            model,
            examples,
            oos_examples,
            untuned,
            scope_threshold: None,
            titles,
            vocab,
            versions,
            handoff_article,
            contact,
            care,
            complaints_article,
            support_article,
        }
        .with_fitted_weight()
    }

    /// The duty-of-care detectors (their cross-validation: `care().report()`).
    pub fn care(&self) -> &Arc<CareModel> {
        &self.care
    }

    /// Whether the classifier reads an encoder tuned to this knowledge base
    /// ([`Engine::tuned`]).
    pub fn is_tuned(&self) -> bool {
        self.tuned.is_some()
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

    /// Scores a normalised text.
    pub fn classify(&self, normalised: &str) -> Scored {
        let embedded = self.embed(normalised);
        self.classify_embedded(normalised, embedded.as_ref())
    }

    /// A normalised text's embeddings: the encoder's own (the duty-of-care
    /// detectors' and the records'), and the one the classifier reads (the
    /// tuned encoder's, or the same). `None` without an encoder.
    pub(crate) fn embed(&self, normalised: &str) -> Option<(Embedding384, Embedding384)> {
        let encoder = self.encoder.as_ref()?;
        Some(match &self.tuned {
            Some(tuned) => tuned.embed(normalised),
            None => {
                let e = encoder.embed(normalised);
                (e.clone(), e)
            }
        })
    }

    /// How in scope a message looks, by each measure the handoff decision
    /// may use (the evaluation compares them: `eval::scope`).
    pub fn scope(&self, message: &str) -> Scope {
        let sc = self.classify(&normalise(message));
        let p_answer = if sc.best == self.n_articles() {
            0.0
        } else {
            sc.p_best
        };
        Scope {
            p_answer,
            article_over_oos: sc.article_over_oos,
            neighbour: sc.neighbour,
            oos_neighbour: sc.oos_neighbour,
            score: scope_score(&sc, self.cfg.scope_weight.value()),
        }
    }

    /// The scope rule's threshold, fitted or given (`None`: no rule).
    pub fn scope_threshold(&self) -> Option<f32> {
        self.scope_threshold
    }

    /// This engine with no scope rule: the same model, no threshold (the
    /// scope measures' comparison, `eval::scope::compare`, reads both).
    #[cfg(test)]
    pub(crate) fn without_scope_rule(mut self) -> Engine {
        self.cfg.scope = ScopeRule::Off;
        self.scope_threshold = None;
        self
    }

    /// Scores a normalised text whose embeddings are already computed
    /// ([`Engine::embed`]'s; `None` then means no encoder).
    fn classify_embedded(
        &self,
        normalised: &str,
        embedded: Option<&(Embedding384, Embedding384)>,
    ) -> Scored {
        let embedding = embedded.map(|(_, classified)| &classified[..]);
        let mut x = self.vectorizer.transform(normalised);
        if let Some(e) = embedding {
            append_embedding(&mut x, self.vectorizer.dim(), e, self.cfg.semantic_weight);
        }
        let mut s = self.model.scores(&x);
        let n_art = self.n_articles();
        // The out-of-scope classes (general, and the author's own) act as one.
        if s.len() > n_art + 1 {
            s[n_art] = s[n_art..].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            s.truncate(n_art + 1);
        }
        let best_article = s[..n_art].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (article_over_oos, margin_best) = (best_article - s[n_art], best_article.max(s[n_art]));
        // Each article is marked down by how much farther its nearest
        // example is than the nearest article's: with ten questions an
        // article, the linear model alone misses near paraphrases that one
        // example holds (10-shot BANKING77 0.833 -> 0.845, BENCHMARKS.md
        // "Assistant accuracy"). The out-of-scope class is not moved.
        let (mut neighbour, mut oos_neighbour) = (0.0, 0.0);
        if let Some(e) = embedding {
            let near = self.neighbours(e);
            neighbour = near.iter().copied().fold(0.0, f32::max);
            oos_neighbour = nearest(&self.oos_examples, e);
            for (score, near) in s[..n_art].iter_mut().zip(near) {
                *score -= self.cfg.neighbour_weight * (neighbour - near);
            }
        }
        // How in scope it looks, when tuned: the mean of the tuned and the
        // untuned encoder's cosines (tuning draws far-domain messages towards
        // the knowledge base; BENCHMARKS.md, "Out of scope").
        if let (Some((own, _)), Some((examples, oos_examples))) = (embedded, &self.untuned) {
            neighbour = (neighbour + nearest(examples, own)) / 2.0;
            oos_neighbour = (oos_neighbour + nearest(oos_examples, own)) / 2.0;
        }
        let mut order: Vec<usize> = (0..s.len()).collect();
        // Stable sort: ties resolve to the lower class index.
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let t = self.cfg.temperature.max(1e-6);
        let m = s[order[0]];
        let z: f32 = s.iter().map(|v| ((v - m) / t).exp()).sum();
        let p = |c: usize| ((s[c] - m) / t).exp() / z;
        let second = order.get(1).copied().unwrap_or(order[0]);
        Scored {
            article_over_oos,
            neighbour,
            oos_neighbour,
            best: order[0],
            second,
            p_best: p(order[0]),
            p_second: if order.len() > 1 { p(second) } else { 0.0 },
            margin_best,
        }
    }

    /// The best cosine between `embedding` and each article's examples.
    fn neighbours(&self, embedding: &[f32]) -> Vec<f32> {
        let mut best = vec![0.0f32; self.n_articles()];
        for (article, example) in &self.examples {
            best[*article] = best[*article].max(cosine(example, embedding));
        }
        best
    }

    fn decide(&self, sc: &Scored) -> Verdict {
        // With a fitted threshold the scope rule alone decides what is out
        // of scope: the out-of-scope class's margin is part of its score.
        // Without one, the class winning hands off.
        let out_of_scope = match self.scope_threshold {
            Some(t) => scope_score(sc, self.cfg.scope_weight.value()) < t,
            None => sc.best == self.n_articles(),
        };
        if out_of_scope {
            return Verdict::Handoff { out_of_scope: true };
        }
        self.decide_in_scope(sc)
    }

    /// The article the rules but the scope rule answer `sc` with, and the
    /// highest answer threshold at which they do: infinity where the
    /// out-of-scope class wins (the scope rule kept it: the runner-up
    /// answers), minus infinity where no article claims it or two are too
    /// close to tell apart.
    fn answerable(&self, sc: &Scored) -> (usize, f32) {
        if sc.best == self.n_articles() {
            return (sc.second, f32::INFINITY);
        }
        if sc.margin_best < self.cfg.min_margin || self.close(sc) {
            return (sc.best, f32::NEG_INFINITY);
        }
        (sc.best, sc.p_best)
    }

    /// The best two classes are articles too close to tell apart.
    fn close(&self, sc: &Scored) -> bool {
        sc.second != self.n_articles() && sc.p_best - sc.p_second < self.cfg.clarify_gap
    }

    /// The other rules' verdict on a message the scope rule keeps.
    fn decide_in_scope(&self, sc: &Scored) -> Verdict {
        let c = &self.cfg;
        let (article, answerable_to) = self.answerable(sc);
        if answerable_to >= c.answer_threshold.value() {
            return Verdict::Answer(article);
        }
        if sc.margin_best >= c.min_margin
            && self.close(sc)
            && sc.p_best + sc.p_second >= c.clarify_min_pair
        {
            return Verdict::Clarify(sc.best, sc.second);
        }
        Verdict::Handoff {
            out_of_scope: false,
        }
    }

    /// Decides one message in the light of the conversation so far, with
    /// its confidence: an exact article title answers directly; otherwise the
    /// message is read alone, and, when it refers back, also together with
    /// the topic's question, and [`followup::prefer_context`] picks.
    fn decide_in_context(
        &self,
        norm: &str,
        embedded: Option<&(Embedding384, Embedding384)>,
        history: &[Turn],
    ) -> (Verdict, f32) {
        let not_understood = (
            Verdict::Handoff {
                out_of_scope: false,
            },
            0.0,
        );
        if norm.is_empty() {
            return not_understood;
        }
        // A chosen suggestion (or any exact article title) resolves directly.
        if let Some(&i) = self.titles.get(norm) {
            return (Verdict::Answer(i), 1.0);
        }
        let alone = self.classify_embedded(norm, embedded);
        let alone_decision = self.decide(&alone);
        let words = tokens(norm);
        let reference = followup::refers_back(
            &words,
            self.cfg.followup_max_words,
            self.cfg.followup_elliptical_words,
        );
        if reference == Reference::Bare {
            return match alone_decision {
                Verdict::Answer(i) if followup::holds_every_word(&self.vocab[i], &words) => {
                    (alone_decision, alone.p_best)
                }
                _ => not_understood,
            };
        }
        if reference != Reference::None
            && let Some(topic) = followup::topic(history, &self.kb, &self.titles)
        {
            let in_context = self.classify(&format!("{} {}", topic.message, norm));
            if let Verdict::Answer(j) = self.decide(&in_context) {
                let reading = match alone_decision {
                    Verdict::Answer(i) if i == j => Alone::Agrees,
                    Verdict::Answer(_) => Alone::Disagrees,
                    // The scope rule's threshold is already a confident
                    // line (fitted to the knowledge base); the out-of-scope
                    // class winning needs a high probability as well.
                    Verdict::Handoff { out_of_scope: true }
                        if self.scope_threshold.is_some()
                            || alone.p_best >= self.cfg.followup_oos_block =>
                    {
                        Alone::ConfidentlyOutOfScope
                    }
                    _ => Alone::Unsure,
                };
                let covers = followup::covers(&self.vocab[j], &words);
                if followup::prefer_context(reading, &topic, j, covers) {
                    let confidence = match reading {
                        Alone::Agrees => alone.p_best.max(in_context.p_best),
                        _ => in_context.p_best,
                    };
                    return (Verdict::Answer(j), confidence);
                }
            }
        }
        if reference == Reference::PointerOnly {
            return not_understood;
        }
        (alone_decision, alone.p_best)
    }

    /// Answers one message given the session's recent turns (oldest first).
    ///
    /// Duty of care comes first: a complaint is answered with the
    /// `complaints` article and a vulnerability cue with the `support` article, each
    /// offering a person; after a complaint, a message the engine would
    /// clarify or not understand goes to a person rather than a guess.
    pub fn reply(&self, message: &Message, history: &[Turn]) -> Answer {
        let norm = normalise(message.as_str());
        // Computed once: the detectors and the record share the encoder's
        // own, the classifier reads its own (the same unless tuned).
        let embedded = self.embed(&norm).filter(|_| !norm.is_empty());
        let embedding = embedded.as_ref().map(|(own, _)| own.clone());
        let signals = self.care.signals(&norm, embedding.as_deref());
        let (mut decision, mut confidence) =
            self.decide_in_context(&norm, embedded.as_ref(), history);
        let care_article = match signals {
            Signals {
                complaint: true, ..
            } => self.complaints_article,
            Signals { care: Some(_), .. } => self.support_article,
            _ => None,
        };
        let complained = history.iter().any(|t| t.complaint);
        if let Some(i) = care_article {
            decision = Verdict::Answer(i);
            confidence = 1.0;
        } else if (complained || signals.complaint || signals.care.is_some())
            && !matches!(decision, Verdict::Answer(_))
        {
            decision = Verdict::Handoff {
                out_of_scope: false,
            };
        }
        let turn_outcome = match &decision {
            Verdict::Answer(i) => Outcome::Answered {
                article: self.kb.articles()[*i].id.clone(),
            },
            Verdict::Clarify(a, b) => Outcome::Clarify {
                candidates: vec![
                    self.kb.articles()[*a].id.clone(),
                    self.kb.articles()[*b].id.clone(),
                ],
            },
            Verdict::Handoff { out_of_scope } => Outcome::Handoff {
                out_of_scope: *out_of_scope,
            },
        };
        let shown = match decision {
            Verdict::Answer(i) => Some(i),
            Verdict::Clarify(..) => None,
            Verdict::Handoff { .. } => self.handoff_article,
        };
        let mut reply = match decision {
            Verdict::Answer(i) => self.answer_reply(&self.kb.articles()[i]),
            Verdict::Clarify(a, b) => Reply {
                text: "I want to be sure I give you the right answer. Which of these did you mean?"
                    .to_string(),
                suggestions: vec![
                    self.kb.articles()[a].title.clone(),
                    self.kb.articles()[b].title.clone(),
                ],
                handoff: false,
            },
            Verdict::Handoff { out_of_scope } => {
                let previous_handoffs = history
                    .iter()
                    .rev()
                    .take_while(|t| matches!(t.outcome, Outcome::Handoff { .. }))
                    .count();
                self.handoff_reply(out_of_scope, previous_handoffs >= 1 || complained)
            }
        };
        // A complaint or a cue is always offered a person, and after a
        // complaint the offer stays: its conversation is not deflected back
        // into answers alone.
        reply.handoff |= complained || signals.complaint || signals.care.is_some();
        Answer {
            reply,
            turn: Turn {
                message: truncated(&norm, STORED_MESSAGE_BYTES).to_owned(),
                outcome: turn_outcome,
                confidence,
                complaint: signals.complaint,
            },
            article: shown.map(|i| ArticleRef {
                id: self.kb.articles()[i].id.clone(),
                version: self.versions[i].clone(),
            }),
            embedding,
            signals,
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

/// The training texts' embeddings (in `labels`' order) dealt by class: each
/// article's questions and titles with its index, and the knowledge base's
/// own out-of-scope examples (class `n_art + 1`); the built-in ones are left out.
fn by_class(
    embedded: Vec<Embedding384>,
    labels: &[usize],
    n_art: usize,
) -> (Vec<(usize, Embedding384)>, Vec<Embedding384>) {
    let (mut examples, mut oos_examples) = (Vec::new(), Vec::new());
    for (e, &label) in embedded.into_iter().zip(labels) {
        if label < n_art {
            examples.push((label, e));
        } else if label == n_art + 1 {
            oos_examples.push(e);
        }
    }
    (examples, oos_examples)
}

/// The texts the engine trains on, normalised, each with its class: each
/// article's questions and title (class: the article's index), then with
/// `cfg.use_oos_class` the out-of-scope examples.
fn training_texts(kb: &KnowledgeBase, cfg: &EngineConfig) -> (Vec<String>, Vec<usize>) {
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
    // Out of scope, two classes: the built-in general examples (weather,
    // jokes: far from any article) as class `n_art`, the author's own
    // near-domain ones (`out-of-scope.txt`) as `n_art + 1`. In one
    // class, the linear model had to cover two far-apart clusters, and
    // adding the near-domain ones let far-domain questions through
    // ("what about the weather?" answered). Scoring merges them.
    if cfg.use_oos_class {
        let general = super::oos::training_examples().map(|q| (normalise(q), n_art));
        let own = kb.out_of_scope().iter().map(|q| (normalise(q), n_art + 1));
        for (q, label) in general.chain(own) {
            docs.push(q);
            labels.push(label);
        }
    }
    (docs, labels)
}

/// Appends `weight × embedding` to a lexical vector as features
/// `offset..offset + DIM` (past every lexical id, so `idx` stays sorted).
fn append_embedding(x: &mut SparseVec, offset: usize, embedding: &[f32], weight: f32) {
    x.idx
        .extend((offset..offset + embedding.len()).map(|i| i as u32));
    x.val.extend(embedding.iter().map(|v| v * weight));
}

impl Assistant for Engine {
    fn reply(&self, message: &Message, history: &[Turn]) -> Answer {
        Engine::reply(self, message, history)
    }
}
