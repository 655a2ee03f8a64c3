//! The engine trained again with its encoder's top layer tuned to its own
//! knowledge base (issue 20; BENCHMARKS.md "Tuning the encoder": BANKING77
//! 10-shot 0.845 → 0.855 on dev). Everything below the top layer is the
//! encoder's, so each training text's input to the top layer is computed
//! once and shared by the tuning, by the cross-validation that fits the
//! thresholds again (each fold tuned without its held-out questions), and by
//! the tuned embeddings of the training texts.
//!
//! The tuned layer and the fitted thresholds can be kept in a file, keyed by
//! what decides them (the model, the training texts, the settings): a
//! restart with the same knowledge base reads them instead of tuning.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::fit::{Held, Thresholds, fit};
use super::{Engine, EngineConfig, ScopeRule, training_texts};
use crate::bert::top::TopLayer;
use crate::care::CareModel;
use crate::encoder::Encoder;
use crate::encoder::tuned::TunedEncoder;
use crate::kb::KnowledgeBase;
use crate::tune::{TuneConfig, tune_from};

/// What [`Engine::tuned`] made.
pub struct TunedEngine {
    pub engine: Engine,
    /// The tuned layer came from the cache file, not from tuning now.
    pub from_cache: bool,
    /// Writing the cache file failed (the engine is as good; the next start
    /// tunes again).
    pub cache_error: Option<io::Error>,
}

/// What a tuning starts from.
struct TuningInputs {
    encoder: Arc<Encoder>,
    /// The settings, the top layer alone.
    tune: TuneConfig,
    /// The training texts and their classes.
    docs: Vec<String>,
    labels: Vec<usize>,
    /// Each text's input to the top layer.
    inputs: Vec<Vec<f32>>,
}

/// A tuning's result: what the cache file keeps.
struct Tuning {
    top: TopLayer,
    /// The thresholds fitted with tuned folds, when the scope rule is a
    /// target.
    thresholds: Option<Thresholds>,
}

impl Engine {
    /// This engine's knowledge base and settings, trained again with the
    /// encoder's top layer tuned to the knowledge base's questions and
    /// out-of-scope examples (its feed-forward block, by `tune`): the
    /// classifier reads the tuned embeddings, the duty-of-care detectors and
    /// the records the encoder's own. Deterministic; seconds for a few
    /// hundred questions. `None` without an encoder, with no epochs, or with
    /// more training texts than `tune.max_texts`. With `cache`, a file from
    /// an earlier tuning with the same key is used instead, and a new tuning
    /// is written there.
    pub fn tuned(&self, tune: TuneConfig, cache: Option<&Path>) -> Option<TunedEngine> {
        let TuningInputs {
            encoder,
            tune,
            docs,
            labels,
            inputs,
        } = self.tuning_inputs(tune)?;
        let below = pairs(&docs, &inputs);
        let key = key(&encoder, &docs, &labels, &self.cfg, tune);
        let cached = cache.and_then(|path| read(path, &key, &encoder));
        let from_cache = cached.is_some();
        let mut cache_error = None;
        let tuning = cached.unwrap_or_else(|| {
            let tuning = self.tune_now(&encoder, &below, tune);
            if let Some(path) = cache {
                cache_error = write(path, &key, &tuning).err();
            }
            tuning
        });
        let engine = self
            .tuned_with(
                &encoder,
                &tuning.top,
                &below,
                self.kb.clone(),
                self.cfg.clone(),
            )
            .with_thresholds(|_, _| tuning.thresholds);
        Some(TunedEngine {
            engine,
            from_cache,
            cache_error,
        })
    }

    /// The engine the server ends up serving with `tune`: [`Engine::tuned`]
    /// (its thresholds fitted with tuned folds), or, where that tunes
    /// nothing, [`Engine::with_care`]'s. The untuned thresholds are fitted
    /// only when they are the ones served: `check-kb` and `eval` build one
    /// of these a fold, and the server, which answers untuned while it
    /// tunes, fits both.
    pub fn served(
        kb: KnowledgeBase,
        cfg: EngineConfig,
        encoder: Option<Arc<Encoder>>,
        care: Arc<CareModel>,
        tune: Option<TuneConfig>,
    ) -> Engine {
        let unfitted = Engine::trained(kb, cfg, encoder, None, care);
        match tune.and_then(|tune| unfitted.tuned(tune, None)) {
            Some(tuned) => tuned.engine,
            None => unfitted.with_thresholds(|engine, target| engine.fit_thresholds(target)),
        }
    }

    /// [`Engine::held_out`] as the server fits the thresholds with `tune`:
    /// each fold's engine tuned without its held-out questions, as
    /// [`Engine::tuned`] does (untuned where that tunes nothing).
    pub fn held_out_as_served(&self, tune: Option<TuneConfig>) -> Held {
        match tune.and_then(|tune| self.tuning_inputs(tune)) {
            Some(start) => {
                let below = pairs(&start.docs, &start.inputs);
                self.held_out_tuned(&start.encoder, &below, start.tune)
            }
            None => self.held_out(),
        }
    }

    /// What a tuning with `tune` starts from; `None` where nothing is
    /// tuned.
    fn tuning_inputs(&self, tune: TuneConfig) -> Option<TuningInputs> {
        let encoder = self.encoder.clone().filter(|_| tune.epochs > 0)?;
        let tune = TuneConfig { layers: 1, ..tune };
        let (docs, labels) = training_texts(&self.kb, &self.cfg);
        if docs.len() > tune.max_texts {
            return None;
        }
        let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
        let inputs = encoder.below(&texts, 1);
        Some(TuningInputs {
            encoder,
            tune,
            docs,
            labels,
            inputs,
        })
    }

    /// Tunes the top layer on the training texts (of `below`, each with
    /// its input to the top layer), and fits the thresholds when the scope
    /// rule is a target.
    fn tune_now(
        &self,
        encoder: &Arc<Encoder>,
        below: &[(&str, &[f32])],
        tune: TuneConfig,
    ) -> Tuning {
        let top = tune_on(encoder, below, &self.kb, &self.cfg, tune);
        let thresholds = match self.cfg.scope.for_knowledge_base(&self.kb) {
            ScopeRule::Target(target) => fit(
                &self.held_out_tuned(encoder, below, tune),
                target,
                self.cfg.answer_threshold,
            ),
            _ => None,
        };
        Tuning { top, thresholds }
    }

    /// [`Engine::held_out`] with each fold's engine tuned to its fold.
    fn held_out_tuned(
        &self,
        encoder: &Arc<Encoder>,
        below: &[(&str, &[f32])],
        tune: TuneConfig,
    ) -> Held {
        self.held_out_by(|kb, cfg| {
            let top = tune_on(encoder, below, &kb, &cfg, tune);
            self.tuned_with(encoder, &top, below, kb, cfg)
                .with_thresholds(|_, _| unreachable!("the folds' rule is a threshold"))
        })
    }

    /// `kb` trained with `top` in place of the encoder's top layer (the
    /// texts of `below` embedded at that layer's cost), no threshold fitted.
    fn tuned_with(
        &self,
        encoder: &Arc<Encoder>,
        top: &TopLayer,
        below: &[(&str, &[f32])],
        kb: KnowledgeBase,
        cfg: EngineConfig,
    ) -> Engine {
        let tuned = TunedEncoder::new(encoder.clone(), top, below)
            .expect("a tuned layer has the model's shapes");
        Engine::trained(
            kb,
            cfg,
            Some(encoder.clone()),
            Some(Arc::new(tuned)),
            self.care.clone(),
        )
    }
}

/// Each text with its input to the top layer.
fn pairs<'a>(docs: &'a [String], inputs: &'a [Vec<f32>]) -> Vec<(&'a str, &'a [f32])> {
    docs.iter()
        .zip(inputs)
        .map(|(t, x)| (t.as_str(), x.as_slice()))
        .collect()
}

/// The top layer tuned on `kb`'s training texts (each's input to it in
/// `below`), each with its class: the out-of-scope examples' classes too,
/// which keeps them apart from the articles (without them the sample handed
/// off 59 % of near-domain questions instead of 69 %; BENCHMARKS.md "Tuning
/// the encoder").
fn tune_on(
    encoder: &Encoder,
    below: &[(&str, &[f32])],
    kb: &KnowledgeBase,
    cfg: &EngineConfig,
    tune: TuneConfig,
) -> TopLayer {
    let input: HashMap<&str, &[f32]> = below.iter().copied().collect();
    let (docs, labels) = training_texts(kb, cfg);
    let (xs, ys): (Vec<Vec<f32>>, Vec<usize>) = docs
        .iter()
        .zip(labels)
        .map(|(d, y)| (input[d.as_str()].to_vec(), y))
        .unzip();
    let frozen = encoder.top_layers(1);
    tune_from(frozen, &xs, &ys, encoder.layer_norm_eps(), tune)
        .0
        .remove(0)
}

/// What decides a tuning: the model (by a probe text's embedding), the
/// training texts and their classes, and the settings.
fn key(
    encoder: &Encoder,
    docs: &[String],
    labels: &[usize],
    cfg: &EngineConfig,
    tune: TuneConfig,
) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for v in encoder.embed(PROBE).iter() {
        h.update(v.to_le_bytes());
    }
    for (doc, label) in docs.iter().zip(labels) {
        h.update(format!("{label}\t{doc}\n"));
    }
    h.update(format!("{cfg:?}\n{tune:?}"));
    h.finalize().into()
}

const PROBE: &str = "how long does an application take";
const MAGIC: &[u8] = b"support-chat tuned layer 3\n";

/// The file's bytes: [`MAGIC`], the key, the scope and the answer
/// thresholds (NaN for none), then every part of the layer, each `f32`
/// little-endian, in [`TopLayer::parts`]' order.
fn write(path: &Path, key: &[u8; 32], tuning: &Tuning) -> io::Result<()> {
    let mut out = MAGIC.to_vec();
    out.extend(key);
    let (scope, answer) = tuning
        .thresholds
        .map_or((f32::NAN, f32::NAN), |t| (t.scope, t.answer));
    out.extend(scope.to_le_bytes());
    out.extend(answer.to_le_bytes());
    for part in tuning.top.parts() {
        out.extend(part.iter().flat_map(|v| v.to_le_bytes()));
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, out)?;
    std::fs::rename(&partial, path)
}

/// The tuning in `path` if it has this `key` and the model's shapes.
fn read(path: &Path, key: &[u8; 32], encoder: &Encoder) -> Option<Tuning> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?.strip_prefix(key.as_slice())?;
    let mut values = rest
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (scope, answer) = (values.next()?, values.next()?);
    let thresholds = (!scope.is_nan()).then_some(Thresholds { scope, answer });
    let mut top = encoder.top_layers(1).remove(0);
    let expected: usize = top.parts().iter().map(|p| p.len()).sum();
    if rest.len() != 4 * (2 + expected) {
        return None;
    }
    for part in top.parts_mut() {
        part.iter_mut()
            .for_each(|v| *v = values.next().unwrap_or(0.0));
    }
    Some(Tuning { top, thresholds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::test_encoder;
    use crate::message::Message;
    use crate::text::normalise;

    #[test]
    fn a_tuned_engine_classifies_with_tuned_embeddings_and_keeps_the_encoders_own_for_the_rest() {
        let encoder = test_encoder();
        let frozen = Engine::new(KnowledgeBase::sample(), Some(encoder.clone()));
        assert!(!frozen.is_tuned());
        let dir = std::env::temp_dir().join(format!("tuning-{}", std::process::id()));
        let file = dir.join("tuned.bin");
        let one_epoch = TuneConfig {
            epochs: 1,
            ..TuneConfig::default()
        };
        let tuned = frozen.tuned(one_epoch, Some(&file)).unwrap();
        assert!(!tuned.from_cache && tuned.cache_error.is_none() && file.is_file());
        let engine = tuned.engine;
        assert!(engine.is_tuned());
        assert!(
            engine.scope_threshold().is_some(),
            "fitted again, the sample has out-of-scope.txt"
        );

        let message = Message::parse("How much does it cost?", 1000).unwrap();
        let answer = engine.reply(&message, &[]);
        let own = encoder.embed(&normalise(message.as_str()));
        assert_eq!(
            answer.embedding.as_deref(),
            Some(&*own),
            "the record's is the encoder's own"
        );
        assert_eq!(answer.article.unwrap().id, "cost");
        let classified = engine.embed("how much does it cost").unwrap().1;
        assert!(
            crate::encoder::cosine(&classified, &own) < 0.9999,
            "the classifier's is tuned"
        );
        // The scope rule reads the mean of the tuned and untuned cosines.
        let (untuned, _) = engine.untuned.as_ref().unwrap();
        let tuned_examples: Vec<_> = engine.examples.iter().map(|(_, e)| e.clone()).collect();
        let mean = (crate::encoder::nearest(&tuned_examples, &classified)
            + crate::encoder::nearest(untuned, &own))
            / 2.0;
        let scored = engine.classify("how much does it cost");
        assert!((scored.neighbour - mean).abs() < 1e-6, "{scored:?} {mean}");

        // The file stands in for tuning while its key holds, and only then;
        // and tuning is deterministic: done again without the file, the
        // same tuned embeddings to the bit.
        let again = frozen.tuned(one_epoch, Some(&file)).unwrap();
        assert!(again.from_cache);
        let fresh = frozen.tuned(one_epoch, None).unwrap();
        assert!(!fresh.from_cache);
        for other in [&again.engine, &fresh.engine] {
            assert_eq!(other.scope_threshold(), engine.scope_threshold());
            assert_eq!(
                other.config().answer_threshold,
                engine.config().answer_threshold
            );
            for q in [
                "can a sole trader apply",
                "what's your share price",
                "hello",
            ] {
                let q = normalise(q);
                assert_eq!(other.scope(&q), engine.scope(&q), "{q}");
                assert_eq!(other.embed(&q), engine.embed(&q), "{q}");
            }
        }
        // Other settings make another key, which the file does not match
        // (read directly: tuning again would take a minute of the suite).
        let key_of = |tune| {
            let start = frozen.tuning_inputs(tune).unwrap();
            key(
                &encoder,
                &start.docs,
                &start.labels,
                &frozen.cfg,
                start.tune,
            )
        };
        let two_epochs = TuneConfig {
            epochs: 2,
            ..one_epoch
        };
        assert!(read(&file, &key_of(one_epoch), &encoder).is_some());
        assert!(read(&file, &key_of(two_epochs), &encoder).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_is_tuned_without_an_encoder_without_epochs_or_past_the_size_bound() {
        let sample = || KnowledgeBase::sample();
        let tune = TuneConfig::default();
        assert!(Engine::new(sample(), None).tuned(tune, None).is_none());
        let engine = Engine::new(sample(), Some(test_encoder()));
        let none = TuneConfig { epochs: 0, ..tune };
        assert!(engine.tuned(none, None).is_none());
        let small = TuneConfig {
            max_texts: 100,
            ..tune
        };
        assert!(engine.tuned(small, None).is_none());
    }
}
