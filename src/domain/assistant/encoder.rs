//! The sentence encoder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions)
//! run on the CPU with candle, mean-pooled and L2-normalised, exactly as
//! sentence-transformers runs it. The weights, config and WordPiece
//! tokenizer are read from a directory `make model` fills; nothing is
//! downloaded here.
//!
//! Embeddings of recent texts are kept in a bounded LRU cache: quick replies
//! and common questions repeat, and a repeat costs a hash lookup instead of
//! a forward pass. The cache is keyed by the text's SHA-256, so it holds no
//! visitor's words.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, LayerNorm, Module};
use tokenizers::{Tokenizer, TruncationParams};

/// Dimensions of an embedding.
pub const DIM: usize = 384;
/// Tokens read of one text (special tokens included); the rest is cut.
/// Bounds the cost of the longest message.
pub const MAX_TOKENS: usize = 128;
/// Texts encoded together when encoding many (the knowledge base).
const BATCH: usize = 32;
/// Where `make model` puts the model, relative to the repository root: the
/// server's default `--model-dir`.
pub const DEFAULT_MODEL_DIR: &str = "target/model/all-MiniLM-L6-v2";
/// Files the encoder reads from its directory.
pub const MODEL_FILES: [&str; 3] = ["model.safetensors", "config.json", "tokenizer.json"];

/// One text's embedding: unit length, [`DIM`] values.
pub type Embedding384 = Arc<[f32]>;

#[derive(Debug)]
pub struct EncoderError {
    pub path: PathBuf,
    pub error: String,
}

impl fmt::Display for EncoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for EncoderError {}

pub struct Encoder {
    tokenizer: Tokenizer,
    bert: Bert,
    /// `None` when configured with no entries.
    cache: Option<Mutex<lru::LruCache<TextHash, Embedding384>>>,
}

impl Encoder {
    /// Loads the model in `dir`, keeping up to `cache_entries` embeddings
    /// (0 disables the cache).
    pub fn load(dir: &Path, cache_entries: usize) -> Result<Encoder, EncoderError> {
        let fail = |file: &str, error: String| EncoderError {
            path: dir.join(file),
            error,
        };
        for file in MODEL_FILES {
            if !dir.join(file).is_file() {
                return Err(fail(file, "missing".into()));
            }
        }
        let config = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| fail("config.json", e.to_string()))?;
        let config: Config =
            serde_json::from_str(&config).map_err(|e| fail("config.json", e.to_string()))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| fail("tokenizer.json", e.to_string()))?;
        // The packaged tokenizer pads every text to 128 tokens; padding is
        // done per batch here, and a single text is never padded.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| fail("tokenizer.json", e.to_string()))?;
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
            .map_err(|e| fail("model.safetensors", e.to_string()))?;
        let bert =
            Bert::new(&config, &tensors).map_err(|e| fail("model.safetensors", e.to_string()))?;
        Ok(Encoder {
            tokenizer,
            bert,
            cache: NonZeroUsize::new(cache_entries).map(|n| Mutex::new(lru::LruCache::new(n))),
        })
    }

    /// The embedding of one text, from the cache when it was seen recently.
    pub fn embed(&self, text: &str) -> Embedding384 {
        if let Some(hit) = self.cached(text) {
            return hit;
        }
        let e = self.encode_batch(&[text]).remove(0);
        self.remember(text, &e);
        e
    }

    /// Embeddings of many texts, in order: cached ones looked up, the rest
    /// encoded in batches of similar length. Each is the same as [`embed`]'s.
    pub fn embed_all(&self, texts: &[&str]) -> Vec<Embedding384> {
        let mut out: Vec<Option<Embedding384>> = texts.iter().map(|t| self.cached(t)).collect();
        let mut todo: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        todo.sort_by_key(|&i| texts[i].len());
        for chunk in todo.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, e) in chunk.iter().zip(self.encode_batch(&batch)) {
                self.remember(texts[i], &e);
                out[i] = Some(e);
            }
        }
        out.into_iter().flatten().collect()
    }

    /// Fills the cache from a file [`Encoder::save_cache`] wrote, if it was
    /// written by this same model (its first record, a probe text, must
    /// embed the same now). Returns how many embeddings it added; a missing
    /// file adds none, a file that is not one is an error (and adds none).
    pub fn load_cache(&self, path: &Path) -> std::io::Result<usize> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let records = parse_cache(&bytes).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not an embedding cache")
        })?;
        let probe = self.encode_batch(&[CACHE_PROBE]).remove(0);
        match records.first() {
            Some((hash, e)) if *hash == text_hash(CACHE_PROBE) && cosine(e, &probe) > 0.9999 => {}
            _ => return Ok(0),
        }
        let Some(cache) = &self.cache else {
            return Ok(0);
        };
        let mut cache = cache
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        for (hash, e) in &records[1..] {
            cache.put(*hash, e.clone());
        }
        Ok(records.len() - 1)
    }

    /// Writes every cached embedding to `path`, least recently used first
    /// (see [`Encoder::load_cache`]), through a temporary file renamed into
    /// place, so an interrupted write leaves the old file or none.
    pub fn save_cache(&self, path: &Path) -> std::io::Result<()> {
        let mut out = CACHE_MAGIC.to_vec();
        let mut record = |hash: &TextHash, e: &[f32]| {
            out.extend(hash);
            out.extend(e.iter().flat_map(|v| v.to_le_bytes()));
        };
        record(
            &text_hash(CACHE_PROBE),
            &self.encode_batch(&[CACHE_PROBE]).remove(0),
        );
        if let Some(cache) = &self.cache {
            let cache = cache
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?;
            for (hash, e) in cache.iter().rev() {
                record(hash, e);
            }
        }
        let partial = path.with_extension("partial");
        std::fs::write(&partial, out)?;
        std::fs::rename(&partial, path)
    }

    fn cached(&self, text: &str) -> Option<Embedding384> {
        self.cache
            .as_ref()?
            .lock()
            .ok()?
            .get(&text_hash(text))
            .cloned()
    }

    fn remember(&self, text: &str, e: &Embedding384) {
        if let Some(Ok(mut cache)) = self.cache.as_ref().map(Mutex::lock) {
            cache.put(text_hash(text), e.clone());
        }
    }

    fn encode_batch(&self, texts: &[&str]) -> Vec<Embedding384> {
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| match self.tokenizer.encode(*t, true) {
                Ok(enc) => enc.get_ids().to_vec(),
                // Tokenising plain text cannot fail with this tokenizer;
                // if it ever did, the empty text's embedding stands in.
                Err(_) => vec![CLS, SEP],
            })
            .collect();
        self.bert
            .embed(&ids)
            .expect("the forward pass has fixed, checked shapes")
    }
}

const CACHE_MAGIC: &[u8] = b"support-chat embeddings 2\n";
const CACHE_PROBE: &str = "how long does an application take";
/// One record of a cache file: the text's hash, then DIM f32 LE.
const CACHE_RECORD: usize = 32 + DIM * 4;

/// The cache key of a text.
type TextHash = [u8; 32];

fn text_hash(text: &str) -> TextHash {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// Records of a cache file, or `None` if it is not one (whole records only).
fn parse_cache(bytes: &[u8]) -> Option<Vec<(TextHash, Embedding384)>> {
    let rest = bytes.strip_prefix(CACHE_MAGIC)?;
    if rest.len() % CACHE_RECORD != 0 {
        return None;
    }
    let records = rest.chunks_exact(CACHE_RECORD).map(|record| {
        let (hash, values) = record.split_at(32);
        let e: Embedding384 = values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (hash.try_into().expect("32 bytes"), e)
    });
    Some(records.collect())
}

const CLS: u32 = 101;
const SEP: u32 = 102;

/// The fields of the model's `config.json` the forward pass needs.
#[derive(serde::Deserialize)]
struct Config {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    layer_norm_eps: f64,
    hidden_act: String,
}

/// One transformer layer, weights pre-transposed for `x · W`, and the
/// query, key and value projections merged into one matrix.
struct Layer {
    qkv: (Tensor, Tensor),
    attention_out: (Tensor, Tensor),
    attention_norm: LayerNorm,
    up: (Tensor, Tensor),
    down: (Tensor, Tensor),
    output_norm: LayerNorm,
}

struct Bert {
    words: Embedding,
    positions: Tensor,
    token_type: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

type Tensors = std::collections::HashMap<String, Tensor>;

impl Bert {
    fn new(cfg: &Config, t: &Tensors) -> candle_core::Result<Bert> {
        if cfg.hidden_size != DIM
            || cfg.hidden_act != "gelu"
            || !DIM.is_multiple_of(cfg.num_attention_heads)
        {
            candle_core::bail!("not a 384-dimension BERT with GELU activations");
        }
        let get = |name: &str| {
            t.get(name)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("tensor {name} missing")))
        };
        let norm = |prefix: &str| -> candle_core::Result<LayerNorm> {
            Ok(LayerNorm::new(
                get(&format!("{prefix}.weight"))?,
                get(&format!("{prefix}.bias"))?,
                cfg.layer_norm_eps,
            ))
        };
        let linear = |prefix: &str| -> candle_core::Result<(Tensor, Tensor)> {
            Ok((
                get(&format!("{prefix}.weight"))?.t()?.contiguous()?,
                get(&format!("{prefix}.bias"))?,
            ))
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (q, k, v) = (
                linear(&format!("{p}.attention.self.query"))?,
                linear(&format!("{p}.attention.self.key"))?,
                linear(&format!("{p}.attention.self.value"))?,
            );
            layers.push(Layer {
                qkv: (
                    Tensor::cat(&[&q.0, &k.0, &v.0], 1)?.contiguous()?,
                    Tensor::cat(&[&q.1, &k.1, &v.1], 0)?,
                ),
                attention_out: linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up: linear(&format!("{p}.intermediate.dense"))?,
                down: linear(&format!("{p}.output.dense"))?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            words: Embedding::new(get("embeddings.word_embeddings.weight")?, DIM),
            positions: get("embeddings.position_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?.get(0)?,
            embeddings_norm: norm("embeddings.LayerNorm")?,
            layers,
            heads: cfg.num_attention_heads,
            hidden: cfg.hidden_size,
        })
    }

    /// Mean-pooled, L2-normalised embeddings of token id sequences (each
    /// starting with [CLS] and ending with [SEP]); shorter ones are padded
    /// and masked, so a text's embedding does not depend on its batch.
    fn embed(&self, ids: &[Vec<u32>]) -> candle_core::Result<Vec<Embedding384>> {
        let (b, n) = (ids.len(), ids.iter().map(Vec::len).max().unwrap_or(0));
        let (h, d) = (self.heads, self.hidden);
        let hd = d / h;
        let mut flat = vec![0u32; b * n];
        let mut mask = vec![0f32; b * n];
        for (row, seq) in ids.iter().enumerate() {
            flat[row * n..row * n + seq.len()].copy_from_slice(seq);
            mask[row * n..row * n + seq.len()].fill(1.0);
        }
        let cpu = &Device::Cpu;
        let ids = Tensor::from_vec(flat, (b, n), cpu)?;
        let mask = Tensor::from_vec(mask, (b, n), cpu)?;
        // Padded keys get a large negative score, so no token attends to them.
        let key_bias = ((mask.clone() - 1.0)? * 1e4)?.reshape((b, 1, 1, n))?;

        let x = self
            .words
            .forward(&ids)?
            .broadcast_add(&self.positions.narrow(0, 0, n)?)?
            .broadcast_add(&self.token_type)?;
        let mut x = self.embeddings_norm.forward(&x)?.reshape((b * n, d))?;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let qkv = affine(&x, &l.qkv)?
                .reshape((b, n, 3, h, hd))?
                .permute((2, 0, 3, 1, 4))?;
            let (q, k, v) = (
                qkv.get(0)?.contiguous()?,
                qkv.get(1)?.contiguous()?,
                qkv.get(2)?.contiguous()?,
            );
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&key_bias)?;
            let context = candle_nn::ops::softmax_last_dim(&scores)?
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b * n, d))?;
            x = l
                .attention_norm
                .forward(&(affine(&context, &l.attention_out)? + &x)?)?;
            let up = affine(&x, &l.up)?.gelu_erf()?;
            x = l.output_norm.forward(&(affine(&up, &l.down)? + &x)?)?;
        }
        let x = x.reshape((b, n, d))?;
        let summed = x.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let pooled = summed.broadcast_div(&mask.sum_keepdim(1)?)?;
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
        let unit = pooled.broadcast_div(&norms)?.to_dtype(DType::F32)?;
        Ok(unit
            .to_vec2::<f32>()?
            .into_iter()
            .map(Embedding384::from)
            .collect())
    }
}

fn affine(x: &Tensor, (w, b): &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
    x.matmul(w)?.broadcast_add(b)
}

/// Cosine similarity of two unit-length embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `make model`'s layout, which the tests need (`make test` runs it first).
#[cfg(test)]
pub(crate) fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR)
}

/// One encoder shared by every test of this binary.
#[cfg(test)]
pub(crate) fn test_encoder() -> Arc<Encoder> {
    static ENCODER: std::sync::OnceLock<Arc<Encoder>> = std::sync::OnceLock::new();
    ENCODER
        .get_or_init(|| Arc::new(Encoder::load(&model_dir(), 1 << 16).expect("run `make model`")))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_match_the_reference_implementation() {
        let enc = Encoder::load(&model_dir(), 0).unwrap();
        let e = enc.embed("How long does an application take?");
        // sentence-transformers (mean pooling, normalised) gives these.
        let reference = [0.01373368, -0.0096713, -0.01655152, -0.03807801, 0.03491169];
        for (got, want) in e.iter().zip(reference) {
            assert!((got - want).abs() < 1e-4, "{:?}", &e[..5]);
        }
        let close = enc.embed("How long will it take to process my application?");
        let related = enc.embed("how quickly can I get the money");
        let unrelated = enc.embed("what is the weather in Leeds");
        assert!((cosine(&e, &close) - 0.9310).abs() < 1e-3);
        assert!((cosine(&e, &related) - 0.4908).abs() < 1e-3);
        assert!((cosine(&e, &unrelated) - 0.0102).abs() < 1e-3);
    }

    #[test]
    fn a_batch_gives_each_text_the_embedding_it_gets_alone() {
        let enc = Encoder::load(&model_dir(), 0).unwrap();
        let texts = [
            "hi",
            "how do I apply for a business loan with you today",
            "",
        ];
        let together = enc.embed_all(&texts);
        for (t, e) in texts.iter().zip(&together) {
            let alone = enc.embed(t);
            assert!(cosine(e, &alone) > 0.99999, "{t:?}");
        }
    }

    #[test]
    fn a_long_text_is_cut_at_the_token_limit_not_refused() {
        let enc = Encoder::load(&model_dir(), 0).unwrap();
        let long = enc.embed(&"loan ".repeat(2000));
        // [CLS], 126 words of one token each, [SEP]: the first 128 tokens.
        let prefix = enc.embed(&"loan ".repeat(MAX_TOKENS - 2));
        assert_eq!(long.len(), DIM);
        assert!(cosine(&long, &prefix) > 0.99999);
    }

    #[test]
    fn the_cache_file_round_trips_and_a_foreign_or_truncated_file_is_refused() {
        let enc = Encoder::load(&model_dir(), 100).unwrap();
        let e = enc.embed("can i borrow fifty thousand pounds");
        let path = std::env::temp_dir().join(format!("emb-{}.bin", std::process::id()));
        enc.save_cache(&path).unwrap();
        let fresh = Encoder::load(&model_dir(), 100).unwrap();
        assert_eq!(fresh.load_cache(&path).unwrap(), 1);
        assert_eq!(fresh.cached("can i borrow fifty thousand pounds"), Some(e));
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert!(fresh.load_cache(&path).is_err(), "a truncated record");
        std::fs::write(&path, b"something else").unwrap();
        assert!(fresh.load_cache(&path).is_err(), "not a cache file");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_cache_of_one_entry_keeps_one_and_a_cache_of_none_keeps_none() {
        let one = Encoder::load(&model_dir(), 1).unwrap();
        one.embed("first");
        assert!(one.cached("first").is_some());
        one.embed("second");
        assert!(one.cached("first").is_none() && one.cached("second").is_some());
        let none = Encoder::load(&model_dir(), 0).unwrap();
        none.embed("first");
        assert!(none.cached("first").is_none());
    }

    #[test]
    fn a_missing_model_names_the_missing_file() {
        let err = Encoder::load(Path::new("/nonexistent/model"), 0)
            .err()
            .unwrap();
        assert!(err.to_string().contains("model.safetensors"), "{err}");
    }
}
