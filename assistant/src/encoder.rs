//! The sentence encoder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions)
//! run on the CPU by [`Bert`], mean-pooled and L2-normalised, exactly as
//! sentence-transformers runs it. The weights, config and WordPiece
//! tokenizer are read from a directory `make model` fills; nothing is
//! downloaded here.
//!
//! Embeddings are kept by the text's SHA-256 (so nothing keeps a visitor's
//! words), in two places. The training texts' ([`Encoder::embed_all`]: the
//! knowledge base's questions, the built-in examples) are kept as long as
//! the encoder, so a knowledge-base reload re-encodes only the questions it
//! has not seen, whatever visitors sent meanwhile. Other texts' (visitors'
//! messages) are kept in a bounded LRU cache: quick replies and common
//! questions repeat, and a repeat costs a hash lookup instead of a forward
//! pass.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::top::TopLayer;
use super::bert::{Bert, BertError, Config};

pub(crate) mod tuned;

/// Dimensions of an embedding.
pub const DIM: usize = 384;
/// Tokens the encoder reads of one text (special tokens included); the rest
/// is cut (the lexical features still see the whole message). Bounds the
/// cost of the longest message at about 2.3 times a typical question's (14
/// tokens). Chosen on BANKING77 dev (BENCHMARKS.md): against 128, p99
/// latency 12 ms instead of 16-19, accuracy 0.933 instead of 0.932 on all
/// of train and 0.833 instead of 0.838 at 10-shot (within the seeds' spread).
pub const MAX_TOKENS: usize = 32;
/// Where `make model` puts the model, relative to the repository root: the
/// server's default `--model-dir`.
pub const DEFAULT_MODEL_DIR: &str = "target/model/all-MiniLM-L6-v2";
/// Files the encoder reads from its directory.
pub const MODEL_FILES: [&str; 3] = ["model.safetensors", "config.json", "tokenizer.json"];

/// One text's embedding: unit length, [`DIM`] values.
pub type Embedding384 = Arc<[f32]>;

/// Why the model in a folder cannot be used, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{}: missing", .0.display())]
    Missing(PathBuf),
    #[error("{}: cannot read", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a model configuration", path.display())]
    Config {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: not a usable tokenizer", path.display())]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    #[error("{}: not a model this encoder runs", path.display())]
    Weights {
        path: PathBuf,
        #[source]
        source: BertError,
    },
    #[error("{}: {problem}", path.display())]
    Mismatch { path: PathBuf, problem: String },
}

pub struct Encoder {
    tokenizer: Tokenizer,
    bert: Bert,
    kept: Kept,
    /// What [`Encoder::load_cache`] read and nothing has asked for yet;
    /// emptied by [`Encoder::save_cache`], so a text gone from the
    /// knowledge base leaves the next file.
    stored: Mutex<HashMap<TextHash, Embedding384>>,
}

impl Encoder {
    /// Loads the model in `dir`, keeping up to `cache_entries` embeddings of
    /// texts other than training texts (0 keeps none).
    pub fn load(dir: &Path, cache_entries: usize) -> Result<Encoder, EncoderError> {
        for file in MODEL_FILES {
            if !dir.join(file).is_file() {
                return Err(EncoderError::Missing(dir.join(file)));
            }
        }
        let path = dir.join("config.json");
        let config = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Config>(&text)
                .map_err(|source| EncoderError::Config { path, source })?,
            Err(source) => return Err(EncoderError::Read { path, source }),
        };
        if config.hidden_size != DIM || config.max_position_embeddings < MAX_TOKENS {
            return Err(EncoderError::Mismatch {
                path: dir.join("config.json"),
                problem: format!("not a {DIM}-dimension model reading {MAX_TOKENS} tokens"),
            });
        }
        let path = dir.join("tokenizer.json");
        let tokenizer_error = |source| EncoderError::Tokenizer {
            path: dir.join("tokenizer.json"),
            source,
        };
        let mut tokenizer = Tokenizer::from_file(&path).map_err(tokenizer_error)?;
        // The packaged tokenizer pads every text to 128 tokens. Texts are
        // encoded one at a time and must never be padded: `Bert` has no
        // attention mask.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(tokenizer_error)?;
        let path = dir.join("model.safetensors");
        let weights = match std::fs::read(&path) {
            Ok(weights) => weights,
            Err(source) => return Err(EncoderError::Read { path, source }),
        };
        let bert = Bert::new(&config, &weights).map_err(|source| EncoderError::Weights {
            path: path.clone(),
            source,
        })?;
        let tokens = tokenizer.get_vocab_size(true);
        if tokens > bert.vocab() {
            return Err(EncoderError::Mismatch {
                path: dir.join("tokenizer.json"),
                problem: format!(
                    "{tokens} tokens, but the model embeds only {}",
                    bert.vocab()
                ),
            });
        }
        Ok(Encoder {
            tokenizer,
            bert,
            kept: Kept::new(cache_entries),
            stored: Mutex::default(),
        })
    }

    /// The embedding of one text: a training text's or a recent text's
    /// kept one, or computed and kept in the LRU cache.
    pub fn embed(&self, text: &str) -> Embedding384 {
        let hash = text_hash(text);
        if let Some(hit) = self.kept.get(&hash) {
            return hit;
        }
        let e = self.stored(&hash).unwrap_or_else(|| self.encode(text));
        self.kept.keep_recent(hash, e.clone());
        e
    }

    /// Embeddings of training texts, in order, each the same as
    /// [`Self::embed`]'s: kept ones looked up, the rest encoded on the rayon
    /// pool; all kept as long as the encoder.
    pub fn embed_all(&self, texts: &[&str]) -> Vec<Embedding384> {
        self.kept.known_or_train(texts, |hash, text| {
            self.stored(hash)
                .or_else(|| self.kept.recent(hash))
                .unwrap_or_else(|| self.encode(text))
        })
    }

    /// Reads a file [`Encoder::save_cache`] wrote, if it was written by this
    /// same model (its first record, a probe text, must embed the same now):
    /// its embeddings are used instead of encoding the same texts, until
    /// the next [`Encoder::save_cache`]. Returns how many it read; a missing
    /// file reads none, a file that is not one is an error (and reads none).
    pub fn load_cache(&self, path: &Path) -> std::io::Result<usize> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let records = parse_cache(&bytes).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not an embedding cache of this version and token limit",
            )
        })?;
        let probe = self.encode(CACHE_PROBE);
        match records.first() {
            Some((hash, e)) if *hash == text_hash(CACHE_PROBE) && cosine(e, &probe) > 0.9999 => {}
            _ => return Ok(0),
        }
        let mut stored = self.stored.lock().unwrap_or_else(PoisonError::into_inner);
        stored.extend(records[1..].iter().cloned());
        Ok(records.len() - 1)
    }

    /// Writes the training texts' embeddings to `path` (see
    /// [`Encoder::load_cache`]), and nothing else: whenever it is called,
    /// the file holds nothing of what visitors sent.
    pub fn save_trained(&self, path: &Path) -> std::io::Result<()> {
        self.save(path, false)
    }

    /// Writes every kept embedding to `path`: the training texts', then the
    /// recent ones least recently used first (`eval`'s file of its texts).
    pub fn save_cache(&self, path: &Path) -> std::io::Result<()> {
        self.save(path, true)
    }

    /// Writes the training texts' embeddings, and with `recent` the recent
    /// ones', to `path`; what was read and never asked for is dropped, and
    /// not written. The file is written through a temporary file renamed
    /// into place, so an interrupted write leaves the old file or none. The
    /// temporary file is this process's own: servers started together on
    /// one folder each rename a whole file of their own, never a blend.
    fn save(&self, path: &Path, recent: bool) -> std::io::Result<()> {
        let mut out = cache_magic();
        let mut record = |hash: &TextHash, e: &[f32]| {
            out.extend(hash);
            out.extend(e.iter().flat_map(|v| v.to_le_bytes()));
        };
        record(&text_hash(CACHE_PROBE), &self.encode(CACHE_PROBE));
        self.stored
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let trained = self
            .kept
            .trained
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for (hash, e) in trained.iter() {
            record(hash, e);
        }
        if let Some(cache) = self.kept.cache.as_ref().filter(|_| recent) {
            let cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            for (hash, e) in cache
                .iter()
                .rev()
                .filter(|(h, _)| !trained.contains_key(*h))
            {
                record(hash, e);
            }
        }
        drop(trained);
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        let written = std::fs::write(&partial, out).and_then(|()| std::fs::rename(&partial, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    /// An embedding read from a file, taken from there (its caller keeps it).
    fn stored(&self, hash: &TextHash) -> Option<Embedding384> {
        let mut stored = self.stored.lock().unwrap_or_else(PoisonError::into_inner);
        stored.remove(hash)
    }

    /// A text's kept embedding, wherever it is kept (tests).
    #[cfg(test)]
    fn cached(&self, text: &str) -> Option<Embedding384> {
        let hash = text_hash(text);
        self.kept
            .get(&hash)
            .or_else(|| self.stored.lock().unwrap().get(&hash).cloned())
    }

    fn encode(&self, text: &str) -> Embedding384 {
        self.bert.embed(&self.ids(text)).into()
    }

    fn ids(&self, text: &str) -> Vec<u32> {
        match self.tokenizer.encode(text, true) {
            Ok(enc) => enc.get_ids().to_vec(),
            // Tokenising plain text cannot fail with this tokenizer; if it
            // ever did, the empty text's embedding stands in.
            Err(_) => vec![CLS, SEP],
        }
    }

    /// Each text's input to the `tuned`-th layer from the top (`tokens ×
    /// DIM`), which tuning the top `tuned` layers leaves as it is.
    pub(crate) fn below(&self, texts: &[&str], tuned: usize) -> Vec<Vec<f32>> {
        texts
            .par_iter()
            .map(|t| self.bert.below(&self.ids(t), tuned))
            .collect()
    }

    /// The top `k` layers, the lowest first.
    pub(crate) fn top_layers(&self, k: usize) -> Vec<TopLayer> {
        self.bert.top_layers(k)
    }

    pub(crate) fn layer_norm_eps(&self) -> f32 {
        self.bert.eps()
    }

    /// This encoder with tuned top layers (the lowest first), and nothing kept.
    #[cfg(test)]
    pub(crate) fn with_top_layers(mut self, top: &[TopLayer]) -> Result<Encoder, BertError> {
        self.bert.set_top_layers(top)?;
        self.kept = Kept::new(self.kept.capacity());
        self.stored.get_mut().unwrap().clear();
        Ok(self)
    }
}

/// Embeddings kept by text: recent texts' in a bounded LRU cache, training
/// texts' as long as their owner.
struct Kept {
    /// Other texts' recent embeddings; `None` when configured with no entries.
    cache: Option<Mutex<lru::LruCache<TextHash, Embedding384>>>,
    /// The training texts' embeddings: a knowledge base of a few thousand
    /// questions is a few MiB.
    trained: RwLock<HashMap<TextHash, Embedding384>>,
}

impl Kept {
    fn new(cache_entries: usize) -> Kept {
        Kept {
            cache: NonZeroUsize::new(cache_entries).map(|n| Mutex::new(lru::LruCache::new(n))),
            trained: RwLock::default(),
        }
    }

    fn capacity(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| {
            c.lock().unwrap_or_else(PoisonError::into_inner).cap().get()
        })
    }

    /// A recent or training text's kept embedding.
    fn get(&self, hash: &TextHash) -> Option<Embedding384> {
        self.recent(hash).or_else(|| self.known(hash))
    }

    /// A training text's kept embedding.
    fn known(&self, hash: &TextHash) -> Option<Embedding384> {
        let trained = self.trained.read().unwrap_or_else(PoisonError::into_inner);
        trained.get(hash).cloned()
    }

    /// A recent text's kept embedding.
    fn recent(&self, hash: &TextHash) -> Option<Embedding384> {
        let mut cache = self.cache.as_ref()?.lock().ok()?;
        cache.get(hash).cloned()
    }

    fn keep_recent(&self, hash: TextHash, e: Embedding384) {
        if let Some(Ok(mut cache)) = self.cache.as_ref().map(Mutex::lock) {
            cache.put(hash, e);
        }
    }

    /// Training texts' embeddings, in order: kept ones looked up, the rest
    /// made by `compute` on the rayon pool and kept as training texts'.
    fn known_or_train(
        &self,
        texts: &[&str],
        compute: impl Fn(&TextHash, &str) -> Embedding384 + Sync,
    ) -> Vec<Embedding384> {
        texts
            .par_iter()
            .map(|text| {
                let hash = text_hash(text);
                if let Some(hit) = self.known(&hash) {
                    return hit;
                }
                let e = compute(&hash, text);
                self.keep_trained(hash, e.clone());
                e
            })
            .collect()
    }

    fn keep_trained(&self, hash: TextHash, e: Embedding384) {
        self.trained
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash, e);
    }
}

/// A cache file's first line: it changes whenever what an embedding means
/// does (the format's version, [`MAX_TOKENS`]), so an older file is refused.
fn cache_magic() -> Vec<u8> {
    format!("support-chat embeddings 3, {MAX_TOKENS} tokens\n").into_bytes()
}
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
    let rest = bytes.strip_prefix(cache_magic().as_slice())?;
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

/// Cosine similarity of two unit-length embeddings (the forward pass's
/// eight-lane dot product: the scope rule takes one per example question).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    super::bert::dot(a, b)
}

/// The best cosine between `embedding` and one of `examples` (all unit
/// length), or 0 without examples.
pub(crate) fn nearest(examples: &[Embedding384], embedding: &[f32]) -> f32 {
    examples
        .iter()
        .map(|x| cosine(x, embedding))
        .fold(0.0, f32::max)
}

/// `make model`'s layout, which the tests need (`make test` runs it first).
#[cfg(test)]
pub(crate) fn model_dir() -> PathBuf {
    crate::test_support::repository_root().join(DEFAULT_MODEL_DIR)
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
    fn embedding_many_texts_gives_each_the_embedding_it_gets_alone() {
        let enc = Encoder::load(&model_dir(), 0).unwrap();
        let texts = [
            "hi",
            "how do I apply for a business loan with you today",
            "",
        ];
        let together = enc.embed_all(&texts);
        for (t, e) in texts.iter().zip(&together) {
            assert_eq!(e, &enc.encode(t), "{t:?}");
            assert_eq!(e, &enc.embed(t), "{t:?}");
        }
    }

    #[test]
    fn a_text_gets_the_same_embedding_on_one_thread_as_split_over_three() {
        let enc = Encoder::load(&model_dir(), 0).unwrap();
        let text = "how do I apply for a business loan with you today";
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
            pool.build().unwrap().install(|| enc.embed(text))
        };
        // Each output is computed whole by one thread, in the same order.
        assert_eq!(on(1), on(3));
    }

    #[test]
    fn a_long_text_is_cut_at_the_token_limit_not_refused() {
        let enc = Encoder::load(&model_dir(), 0).unwrap();
        let long = enc.embed(&"loan ".repeat(2000));
        // [CLS], then words of one token each, [SEP]: the first MAX_TOKENS.
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
    fn training_texts_stay_kept_whatever_else_comes_and_a_file_keeps_only_what_was_asked_for() {
        let enc = Encoder::load(&model_dir(), 1).unwrap();
        let trained = enc.embed_all(&["first question", "second question"]);
        enc.embed("a visitor's message");
        enc.embed("another visitor's message");
        for (text, e) in ["first question", "second question"].iter().zip(&trained) {
            assert_eq!(enc.cached(text).as_ref(), Some(e), "{text}");
        }
        assert!(
            enc.cached("a visitor's message").is_none(),
            "the LRU keeps one"
        );
        let path = std::env::temp_dir().join(format!("emb-kept-{}.bin", std::process::id()));
        enc.save_trained(&path).unwrap();
        let reader = Encoder::load(&model_dir(), 0).unwrap();
        assert_eq!(
            reader.load_cache(&path).unwrap(),
            2,
            "the training texts alone"
        );
        enc.save_cache(&path).unwrap();
        // A restart whose knowledge base lost its second question.
        let restarted = Encoder::load(&model_dir(), 0).unwrap();
        assert_eq!(
            restarted.load_cache(&path).unwrap(),
            3,
            "two trained, one recent"
        );
        assert_eq!(restarted.embed_all(&["first question"]), trained[..1]);
        restarted.save_cache(&path).unwrap();
        let next = Encoder::load(&model_dir(), 0).unwrap();
        assert_eq!(
            next.load_cache(&path).unwrap(),
            1,
            "only what was asked for"
        );
        assert_eq!(next.cached("first question").as_ref(), Some(&trained[0]));
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
