//! The encoder with its top layer tuned to one knowledge base (`tune.rs`):
//! what a tuned engine classifies with, while its duty-of-care detectors and
//! its records keep the encoder's own embeddings (the detectors were fitted
//! to them, and the inbox groups records of every knowledge base's version
//! by them). A text's two embeddings come from one pass below the top layer.

use std::sync::Arc;

use rayon::prelude::*;

use super::{Embedding384, Encoder, Kept, TextHash, text_hash};
use crate::bert::top::TopLayer;
use crate::bert::{BertError, TunedLayer};

pub(crate) struct TunedEncoder {
    encoder: Arc<Encoder>,
    top: TunedLayer,
    /// Tuned embeddings, as many recent ones as the encoder keeps.
    kept: Kept,
}

impl TunedEncoder {
    /// `encoder` with `top` in place of its top layer. The `trained` texts,
    /// each with its input to the top layer ([`Encoder::below`]`(…, 1)`), are
    /// embedded at the cost of that layer alone, and kept.
    pub(crate) fn new(
        encoder: Arc<Encoder>,
        top: &TopLayer,
        trained: &[(&str, &[f32])],
    ) -> Result<TunedEncoder, BertError> {
        let top = encoder.bert.tuned_layer(top)?;
        let kept = Kept::new(encoder.kept.capacity());
        let embedded: Vec<(TextHash, Embedding384)> = trained
            .par_iter()
            .map(|(text, x)| {
                (
                    text_hash(text),
                    encoder.bert.embed_from_below(x, &top).into(),
                )
            })
            .collect();
        for (hash, e) in embedded {
            kept.keep_trained(hash, e);
        }
        Ok(TunedEncoder { encoder, top, kept })
    }

    /// `text`'s embedding by the encoder and by the tuned one.
    pub(crate) fn embed(&self, text: &str) -> (Embedding384, Embedding384) {
        let hash = text_hash(text);
        match (self.encoder.kept.get(&hash), self.kept.get(&hash)) {
            (Some(frozen), Some(tuned)) => (frozen, tuned),
            (None, Some(tuned)) => (self.encoder.embed(text), tuned),
            (Some(frozen), None) => {
                let ids = self.encoder.ids(text);
                let tuned: Embedding384 = self.encoder.bert.embed_tuned(&ids, &self.top).into();
                self.kept.keep_recent(hash, tuned.clone());
                (frozen, tuned)
            }
            (None, None) => {
                let ids = self.encoder.ids(text);
                let (frozen, tuned) = self.encoder.bert.embed_both(&ids, &self.top);
                let (frozen, tuned): (Embedding384, Embedding384) = (frozen.into(), tuned.into());
                self.encoder.kept.keep_recent(hash, frozen.clone());
                self.kept.keep_recent(hash, tuned.clone());
                (frozen, tuned)
            }
        }
    }

    /// Tuned embeddings of training texts, in order, kept as long as this
    /// encoder.
    pub(crate) fn embed_all(&self, texts: &[&str]) -> Vec<Embedding384> {
        self.kept.known_or_train(texts, |_, text| {
            let ids = self.encoder.ids(text);
            self.encoder.bert.embed_tuned(&ids, &self.top).into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{cosine, test_encoder};

    /// The top layer with its feed-forward block changed, as tuning does.
    fn nudged(encoder: &Encoder) -> TopLayer {
        let mut top = encoder.top_layers(1).remove(0);
        for (i, w) in top.up_w.iter_mut().enumerate() {
            *w *= 1.0 + 0.3 * ((i % 7) as f32 - 3.0) / 3.0;
        }
        top
    }

    #[test]
    fn both_embeddings_from_one_pass_are_the_encoders_own_and_the_tuned_layers() {
        let encoder = test_encoder();
        let top = nudged(&encoder);
        let reference = Encoder::load(&crate::encoder::model_dir(), 0)
            .unwrap()
            .with_top_layers(std::slice::from_ref(&top))
            .unwrap();
        let text = "can a sole trader apply for a loan";
        let below = encoder.below(&["what are your rates"], 1);
        let tuned = TunedEncoder::new(
            encoder.clone(),
            &top,
            &[("what are your rates", below[0].as_slice())],
        )
        .unwrap();
        let (frozen, t) = tuned.embed(text);
        assert!(cosine(&frozen, &encoder.embed(text)) > 0.99999);
        let expected = reference.embed(text);
        assert!(cosine(&t, &expected) > 0.99999);
        assert!(
            cosine(&t, &frozen) < 0.999,
            "the tuned layer changes the embedding"
        );
        // Again, now from the caches; and a training text, from its input.
        assert_eq!(tuned.embed(text), (frozen, t));
        let trained = tuned.embed_all(&["what are your rates"]);
        assert!(cosine(&trained[0], &reference.embed("what are your rates")) > 0.99999);
    }
}
