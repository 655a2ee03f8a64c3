//! Sparse TF-IDF features: word 1-2-grams plus character 2-5-grams taken
//! inside word boundaries (each word padded with a space on both sides).
//!
//! Each block (words, characters) uses sublinear term frequency
//! (`1 + ln tf`) times smoothed IDF, is L2-normalised on its own, scaled by
//! its block weight, and the concatenation is L2-normalised again.
//! Feature ids are assigned in sorted key order so a model is a pure
//! function of its training text.

use std::collections::{BTreeMap, HashMap};

/// A sparse vector: sorted, de-duplicated feature ids with values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVec {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

impl SparseVec {
    pub fn dot_dense(&self, w: &[f32]) -> f32 {
        self.idx
            .iter()
            .zip(&self.val)
            .map(|(&i, &v)| w[i as usize] * v)
            .sum()
    }

    pub fn norm_sq(&self) -> f32 {
        self.val.iter().map(|v| v * v).sum()
    }
}

/// Feature extraction settings.
#[derive(Clone, Debug)]
pub struct FeatureConfig {
    /// Relative weight of the word 1-2-gram block.
    pub word_weight: f32,
    /// Relative weight of the character n-gram block.
    pub char_weight: f32,
    pub char_min: usize,
    pub char_max: usize,
    /// Minimum document frequency for a feature to be kept.
    pub min_df: u32,
    /// Longest word n-gram (1..=3).
    pub word_max_n: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            word_weight: 1.0,
            char_weight: 1.0,
            char_min: 2,
            char_max: 5,
            min_df: 1,
            word_max_n: 2,
        }
    }
}

/// Fitted vocabulary + IDF.
#[derive(Clone, Debug)]
pub struct Vectorizer {
    cfg: FeatureConfig,
    vocab: HashMap<String, u32>,
    idf: Vec<f32>,
    /// Ids below this are word features, the rest character features.
    n_word: u32,
}

const WORD_PREFIX: char = 'w';
const CHAR_PREFIX: char = 'c';

/// Calls `f` with each feature key (prefixed) of a token list.
fn for_each_key(tokens: &[&str], cfg: &FeatureConfig, buf: &mut String, mut f: impl FnMut(&str)) {
    for (i, t) in tokens.iter().enumerate() {
        buf.clear();
        buf.push(WORD_PREFIX);
        buf.push_str(t);
        f(buf);
        for next in tokens
            .iter()
            .skip(i + 1)
            .take(cfg.word_max_n.saturating_sub(1))
        {
            buf.push(' ');
            buf.push_str(next);
            f(buf);
        }
    }
    let mut chars: Vec<char> = Vec::with_capacity(32);
    for t in tokens {
        chars.clear();
        chars.push(' ');
        chars.extend(t.chars());
        chars.push(' ');
        for n in cfg.char_min..=cfg.char_max {
            if n > chars.len() {
                break;
            }
            for win in chars.windows(n) {
                buf.clear();
                buf.push(CHAR_PREFIX);
                buf.extend(win.iter());
                f(buf);
            }
        }
    }
}

impl Vectorizer {
    /// Learns vocabulary and IDF from normalised documents.
    pub fn fit(docs: &[String], cfg: FeatureConfig) -> Vectorizer {
        let mut df: BTreeMap<String, u32> = BTreeMap::new();
        let mut buf = String::new();
        let mut seen: Vec<String> = Vec::new();
        for d in docs {
            let toks = super::text::tokens(d);
            seen.clear();
            for_each_key(&toks, &cfg, &mut buf, |k| seen.push(k.to_string()));
            seen.sort_unstable();
            seen.dedup();
            for k in seen.drain(..) {
                *df.entry(k).or_insert(0) += 1;
            }
        }
        let n_docs = docs.len() as f32;
        let mut vocab = HashMap::new();
        let mut idf = Vec::new();
        let mut n_word = 0u32;
        // BTreeMap order: all 'c…' keys sort before 'w…' keys; put words first.
        let kept: Vec<(&String, &u32)> = df.iter().filter(|(_, c)| **c >= cfg.min_df).collect();
        for pass_prefix in [WORD_PREFIX, CHAR_PREFIX] {
            for &(k, &c) in kept.iter().filter(|(k, _)| k.starts_with(pass_prefix)) {
                let id = idf.len() as u32;
                vocab.insert(k.clone(), id);
                idf.push(((1.0 + n_docs) / (1.0 + c as f32)).ln() + 1.0);
                if pass_prefix == WORD_PREFIX {
                    n_word = id + 1;
                }
            }
        }
        Vectorizer {
            cfg,
            vocab,
            idf,
            n_word,
        }
    }

    pub fn dim(&self) -> usize {
        self.idf.len()
    }

    /// Feature vector of a normalised text (may be empty).
    pub fn transform(&self, normalised: &str) -> SparseVec {
        let toks = super::text::tokens(normalised);
        let mut ids: Vec<u32> = Vec::with_capacity(256);
        let mut buf = String::with_capacity(32);
        for_each_key(&toks, &self.cfg, &mut buf, |k| {
            if let Some(&id) = self.vocab.get(k) {
                ids.push(id);
            }
        });
        ids.sort_unstable();
        let mut out = SparseVec::default();
        let mut i = 0;
        while i < ids.len() {
            let mut j = i;
            while j < ids.len() && ids[j] == ids[i] {
                j += 1;
            }
            let tf = 1.0 + ((j - i) as f32).ln();
            out.idx.push(ids[i]);
            out.val.push(tf * self.idf[ids[i] as usize]);
            i = j;
        }
        // Per-block L2 normalisation and weighting.
        let split = out.idx.partition_point(|&id| id < self.n_word);
        let (ww, cw) = (self.cfg.word_weight.sqrt(), self.cfg.char_weight.sqrt());
        let scale = |vals: &mut [f32], wgt: f32| {
            let n: f32 = vals.iter().map(|v| v * v).sum::<f32>().sqrt();
            if n > 0.0 {
                vals.iter_mut().for_each(|v| *v *= wgt / n);
            }
        };
        let (a, b) = out.val.split_at_mut(split);
        scale(a, ww);
        scale(b, cw);
        let total = out.norm_sq().sqrt();
        if total > 0.0 {
            out.val.iter_mut().for_each(|v| *v /= total);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_sorted() {
        let docs = vec![
            "how long does it take".to_string(),
            "who can apply".to_string(),
        ];
        let v = Vectorizer::fit(&docs, FeatureConfig::default());
        let x = v.transform("how long does applying take");
        assert!((x.norm_sq() - 1.0).abs() < 1e-4);
        assert!(x.idx.windows(2).all(|w| w[0] < w[1]));
        assert!(v.transform("zzzz qqqq").idx.is_empty());
    }
}
