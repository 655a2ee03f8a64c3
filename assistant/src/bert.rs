//! A BERT encoder's forward pass for one text at a time, on plain `f32`
//! buffers. A question of a dozen tokens is almost all matrix products of a
//! few token rows by large weights, so they get a kernel made for that
//! shape: each weight is stored once, at load, in the order the kernel
//! reads it (panels of 16 outputs); a panel is fetched from memory once per
//! text and stays in cache across its blocks of up to 6 token rows, whose
//! 6 × 16 sums stay in registers (AVX2 and FMA when the CPU has them,
//! checked at run time). Bias and residual are the sums' starting
//! values. Attention, layer norm and GELU are loops over rows.
//!
//! This replaced candle (same embeddings to 1e-6) at 0.5-0.7 times its
//! latency on this machine's CPU; see BENCHMARKS.md.

use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};

pub(crate) mod top;

/// The fields of the model's `config.json` the forward pass needs.
#[derive(serde::Deserialize)]
pub(super) struct Config {
    pub(super) hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    pub(super) max_position_embeddings: usize,
    layer_norm_eps: f64,
    hidden_act: String,
}

/// Why a weights file is not a model this forward pass runs.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error("not a BERT with layers, GELU activations and whole attention heads")]
    Architecture,
    #[error("not a safetensors file")]
    Format(#[from] safetensors::SafeTensorError),
    #[error("tensor {name} missing")]
    Missing {
        name: String,
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("tensor {0} is a scalar")]
    Scalar(String),
    #[error("tensor {name} is {found}, expected {expected}")]
    Shape {
        name: String,
        found: String,
        expected: String,
    },
    #[error("{0} outputs is not a multiple of {LANES}")]
    Outputs(usize),
}

/// `x · Wᵀ + b` for a weight stored as PyTorch keeps it (out × in).
struct Linear {
    /// The weight in panels of [`LANES`] outputs, each panel `inputs` rows
    /// of [`LANES`] values: the order the kernel reads them in.
    panels: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

/// Outputs computed together: two AVX registers.
const LANES: usize = 16;
/// Input rows (tokens) computed together: 6 × 2 accumulators fit the 16
/// AVX registers with the weight and the broadcast input.
const ROWS: usize = 6;

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value projections as one (their outputs side by side).
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

pub(super) struct Bert {
    /// The word embeddings, [`Bert::vocab`] rows.
    words: Vec<f32>,
    /// Position embeddings with the (single) token type's added in.
    positions: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    eps: f32,
}

impl Bert {
    pub(super) fn new(cfg: &Config, weights: &[u8]) -> Result<Bert, BertError> {
        let (d, h) = (cfg.hidden_size, cfg.num_attention_heads);
        if cfg.hidden_act != "gelu" || h == 0 || !d.is_multiple_of(h) || cfg.num_hidden_layers == 0
        {
            return Err(BertError::Architecture);
        }
        let st = SafeTensors::deserialize(weights)?;
        let tensor = |name: &str| {
            st.tensor(name).map_err(|source| BertError::Missing {
                name: name.to_owned(),
                source,
            })
        };
        let rows = |name: &str| -> Result<usize, BertError> {
            tensor(name)?
                .shape()
                .first()
                .copied()
                .ok_or_else(|| BertError::Scalar(name.to_owned()))
        };
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, BertError> {
            let t = tensor(name)?;
            if t.dtype() != Dtype::F32 || t.shape() != shape {
                return Err(BertError::Shape {
                    name: name.to_owned(),
                    found: format!("{:?} {:?}", t.dtype(), t.shape()),
                    expected: format!("F32 {shape:?}"),
                });
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let weight = |prefix: &str, inputs: usize, outputs: usize| {
            get(&format!("{prefix}.weight"), &[outputs, inputs])
        };
        let bias = |prefix: &str, outputs: usize| get(&format!("{prefix}.bias"), &[outputs]);
        let linear = |prefix: &str, inputs: usize, outputs: usize| -> Result<Linear, BertError> {
            Linear::new(
                &weight(prefix, inputs, outputs)?,
                bias(prefix, outputs)?,
                inputs,
                outputs,
            )
        };
        let norm = |prefix: &str| -> Result<Norm, BertError> {
            Ok(Norm {
                gamma: get(&format!("{prefix}.weight"), &[d])?,
                beta: get(&format!("{prefix}.bias"), &[d])?,
            })
        };
        let ff = cfg.intermediate_size;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let [q, k, v] =
                    ["query", "key", "value"].map(|m| format!("{p}.attention.self.{m}"));
                // Stacked outputs: the rows of the three weights one after another.
                let qkv = Linear::new(
                    &[weight(&q, d, d)?, weight(&k, d, d)?, weight(&v, d, d)?].concat(),
                    [bias(&q, d)?, bias(&k, d)?, bias(&v, d)?].concat(),
                    d,
                    3 * d,
                )?;
                Ok(Layer {
                    qkv,
                    attention_out: linear(&format!("{p}.attention.output.dense"), d, d)?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    up: linear(&format!("{p}.intermediate.dense"), d, ff)?,
                    down: linear(&format!("{p}.output.dense"), ff, d)?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, BertError>>()?;
        let embeddings_norm = norm("embeddings.LayerNorm")?;
        let vocab = rows("embeddings.word_embeddings.weight")?;
        let words = get("embeddings.word_embeddings.weight", &[vocab, d])?;
        let mut positions = get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, d],
        )?;
        let token_types = rows("embeddings.token_type_embeddings.weight")?.max(1);
        let token_type = get("embeddings.token_type_embeddings.weight", &[token_types, d])?;
        for row in positions.chunks_exact_mut(d) {
            for (p, t) in row.iter_mut().zip(&token_type[..d]) {
                *p += t;
            }
        }
        Ok(Bert {
            words,
            positions,
            embeddings_norm,
            layers,
            hidden: d,
            heads: h,
            eps: cfg.layer_norm_eps as f32,
        })
    }

    /// Token ids this model has an embedding for (ids below it).
    pub(super) fn vocab(&self) -> usize {
        self.words.len() / self.hidden
    }

    /// The mean-pooled, L2-normalised embedding of one token id sequence
    /// (starting with [CLS] and ending with [SEP], no longer than the
    /// position embeddings).
    pub(super) fn embed(&self, ids: &[u32]) -> Vec<f32> {
        let x = self.below_top(ids);
        let top = self.layers.last().expect("a model has layers");
        let y = self.attend(top, &x, ids.len());
        self.pooled_ffn(top, &y)
    }

    /// [`Bert::embed`] with the top layer `tuned` in place of the model's own.
    pub(super) fn embed_tuned(&self, ids: &[u32], tuned: &TunedLayer) -> Vec<f32> {
        let x = self.below_top(ids);
        let y = self.attend(&tuned.layer, &x, ids.len());
        self.pooled_ffn(&tuned.layer, &y)
    }

    /// [`Bert::embed`] and [`Bert::embed_tuned`] together, sharing the
    /// layers below the top (and the top's attention, when `tuned` kept
    /// it): a tuned feed-forward block costs about a tenth more than one
    /// embedding, not twice as much.
    pub(super) fn embed_both(&self, ids: &[u32], tuned: &TunedLayer) -> (Vec<f32>, Vec<f32>) {
        let x = self.below_top(ids);
        let top = self.layers.last().expect("a model has layers");
        let y = self.attend(top, &x, ids.len());
        let frozen = self.pooled_ffn(top, &y);
        let tuned = if tuned.same_attention {
            self.pooled_ffn(&tuned.layer, &y)
        } else {
            let y = self.attend(&tuned.layer, &x, ids.len());
            self.pooled_ffn(&tuned.layer, &y)
        };
        (frozen, tuned)
    }

    /// The embedding from the top layer's input `x` (`n × hidden`, of
    /// [`Bert::below_top`]) through `tuned`.
    pub(super) fn embed_from_below(&self, x: &[f32], tuned: &TunedLayer) -> Vec<f32> {
        let y = self.attend(&tuned.layer, x, x.len() / self.hidden);
        self.pooled_ffn(&tuned.layer, &y)
    }

    /// The feed-forward block of `l` on its attention's output `y`, then its
    /// output norm and the pooling.
    fn pooled_ffn(&self, l: &Layer, y: &[f32]) -> Vec<f32> {
        let mut x = self.ffn(l, y);
        layer_norm(&mut x, &l.output_norm, self.eps);
        pool(&x, self.hidden)
    }

    /// The top layer's input for each token (`n × hidden`).
    pub(super) fn below_top(&self, ids: &[u32]) -> Vec<f32> {
        self.below(ids, 1)
    }

    /// The input of the `tuned`-th layer from the top for each token (`n ×
    /// hidden`): everything of the forward pass that tuning the top
    /// `tuned` layers ([`TopLayer`]) leaves alone, computed once per
    /// training text.
    pub(super) fn below(&self, ids: &[u32], tuned: usize) -> Vec<f32> {
        debug_assert!(!ids.is_empty(), "a text is at least [CLS] and [SEP]");
        let (n, d) = (ids.len(), self.hidden);
        let mut x = vec![0.0; n * d];
        for (t, row) in x.chunks_exact_mut(d).enumerate() {
            let word = &self.words[ids[t] as usize * d..][..d];
            let position = &self.positions[t * d..][..d];
            for ((o, w), p) in row.iter_mut().zip(word).zip(position) {
                *o = w + p;
            }
        }
        layer_norm(&mut x, &self.embeddings_norm, self.eps);
        let below = &self.layers[..self.layers.len() - tuned];
        for l in below {
            let y = self.attend(l, &x, n);
            x = self.ffn(l, &y);
            layer_norm(&mut x, &l.output_norm, self.eps);
        }
        x
    }

    /// `norm(attention(x) · Wo + b + x)`.
    fn attend(&self, l: &Layer, x: &[f32], n: usize) -> Vec<f32> {
        let (mut qkv, mut context, mut y) = (Vec::new(), Vec::new(), Vec::new());
        l.qkv.forward(x, None, Activation::None, &mut qkv);
        attention(&qkv, n, self.hidden, self.heads, &mut context);
        l.attention_out
            .forward(&context, Some(x), Activation::None, &mut y);
        layer_norm(&mut y, &l.attention_norm, self.eps);
        y
    }

    /// `gelu(y · Wupᵀ + b) · Wdownᵀ + b + y`, before the output norm.
    fn ffn(&self, l: &Layer, y: &[f32]) -> Vec<f32> {
        let (mut up, mut x) = (Vec::new(), Vec::new());
        l.up.forward(y, None, Activation::Gelu, &mut up);
        l.down.forward(&up, Some(y), Activation::None, &mut x);
        x
    }

    pub(super) fn eps(&self) -> f32 {
        self.eps
    }
}

/// The unit-length sum of `x`'s rows of `d` values (the mean's 1/n is left
/// out: normalising removes it).
fn pool(x: &[f32], d: usize) -> Vec<f32> {
    let mut pooled = vec![0.0f32; d];
    for row in x.chunks_exact(d) {
        for (p, v) in pooled.iter_mut().zip(row) {
            *p += v;
        }
    }
    let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    pooled.iter_mut().for_each(|v| *v /= norm);
    pooled
}

/// A top layer tuned to a knowledge base ([`Bert::tuned_layer`]), run in
/// place of the model's own by [`Bert::embed_tuned`].
pub(super) struct TunedLayer {
    layer: Layer,
    /// Tuning left the attention as it was: its output is the model's own.
    same_attention: bool,
}

/// `a · wᵀ` for `a` of `rows × inputs` and `w` of `outputs × inputs`
/// (`outputs` a multiple of 16): the forward pass's kernel, for
/// fine-tuning's backward pass.
pub(super) fn times_transposed(a: &[f32], w: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
    let linear = Linear::new(w, vec![0.0; outputs], inputs, outputs)
        .expect("fine-tuning multiplies by the model's own widths");
    let mut out = Vec::new();
    linear.forward(a, None, Activation::None, &mut out);
    out
}

impl Linear {
    /// `w` is `outputs × inputs`, row-major (PyTorch's layout).
    fn new(w: &[f32], b: Vec<f32>, inputs: usize, outputs: usize) -> Result<Linear, BertError> {
        if !outputs.is_multiple_of(LANES) {
            return Err(BertError::Outputs(outputs));
        }
        let mut panels = Vec::with_capacity(w.len());
        for p in 0..outputs / LANES {
            for i in 0..inputs {
                panels.extend((0..LANES).map(|j| w[(p * LANES + j) * inputs + i]));
            }
        }
        Ok(Linear {
            panels,
            b,
            inputs,
            outputs,
        })
    }

    /// `out ← act(x · Wᵀ + b (+ residual))`, for `x` of `rows × inputs`,
    /// `out` then `rows × outputs`. With more than one rayon thread the
    /// panels are split into one contiguous group per thread.
    fn forward(&self, x: &[f32], residual: Option<&[f32]>, act: Activation, out: &mut Vec<f32>) {
        let rows = x.len() / self.inputs;
        let panel_len = self.inputs * LANES;
        let by_panel = per_thread(self.outputs / LANES, rows * LANES, |p, acc| {
            for (r, acc) in acc.chunks_exact_mut(LANES).enumerate() {
                acc.copy_from_slice(&self.b[p * LANES..][..LANES]);
                if let Some(res) = residual {
                    let res = &res[r * self.outputs + p * LANES..][..LANES];
                    acc.iter_mut().zip(res).for_each(|(a, r)| *a += r);
                }
            }
            panel(
                x,
                self.inputs,
                &self.panels[p * panel_len..][..panel_len],
                act,
                acc,
            );
        });
        side_by_side(&by_panel, rows, LANES, out);
    }
}

/// `blocks` blocks of `len` values, `work(i, block)` computing block `i`,
/// split into one contiguous group of blocks per rayon thread; returned
/// one after another. Each block is computed whole by one thread, so the
/// result does not depend on the number of threads.
fn per_thread(blocks: usize, len: usize, work: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0.0; blocks * len];
    let group = blocks.div_ceil(rayon::current_num_threads().clamp(1, blocks.max(1)));
    out.par_chunks_mut(len * group)
        .enumerate()
        .with_max_len(1)
        .for_each(|(g, chunk)| {
            for (i, block) in chunk.chunks_exact_mut(len).enumerate() {
                work(g * group + i, block);
            }
        });
    out
}

/// `out ← ` the blocks of `blocks` (each `rows × width`) side by side: row
/// `r` of `out` is row `r` of every block in turn.
fn side_by_side(blocks: &[f32], rows: usize, width: usize, out: &mut Vec<f32>) {
    let stride = blocks.len() / rows;
    out.clear();
    out.resize(blocks.len(), 0.0);
    for (b, block) in blocks.chunks_exact(rows * width).enumerate() {
        for (r, row) in block.chunks_exact(width).enumerate() {
            out[r * stride + b * width..][..width].copy_from_slice(row);
        }
    }
}

/// What is applied to a product's outputs.
#[derive(Clone, Copy, PartialEq)]
enum Activation {
    None,
    Gelu,
}

/// `acc[r] ← act(acc[r] + x[r] · w)` for every row `r` of `x` (`rows ×
/// inputs`), one panel `w` (`inputs × LANES`) into `acc` (`rows × LANES`).
fn panel(x: &[f32], inputs: usize, w: &[f32], act: Activation, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { panel_fma(x, inputs, w, act, acc) };
    }
    // Every 64-bit Arm core has FMA.
    #[cfg(target_arch = "aarch64")]
    return panel_with::<Fused>(x, inputs, w, act, acc);
    #[cfg(not(target_arch = "aarch64"))]
    panel_with::<Unfused>(x, inputs, w, act, acc)
}

/// [`panel`] compiled for AVX2 and fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn panel_fma(x: &[f32], inputs: usize, w: &[f32], act: Activation, acc: &mut [f32]) {
    panel_with::<Fused>(x, inputs, w, act, acc)
}

/// `a · b + c`, fused into one instruction where the CPU has one: without
/// it, `f32::mul_add` is a slow library call, so it is not used there.
trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

struct Fused;
struct Unfused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

#[inline(always)]
fn panel_with<M: MulAdd>(x: &[f32], inputs: usize, w: &[f32], act: Activation, acc: &mut [f32]) {
    let rows = x.len() / inputs;
    let mut r0 = 0;
    while r0 < rows {
        let (x, acc) = (&x[r0 * inputs..], &mut acc[r0 * LANES..]);
        // Balanced blocks (14 rows: 5, 5, 4, not 6, 6, 2): a block of one
        // or two rows has too few sums to hide the FMA latency.
        let left = rows - r0;
        r0 += match left.div_ceil(left.div_ceil(ROWS)) {
            1 => block::<M, 1>(x, inputs, w, acc),
            2 => block::<M, 2>(x, inputs, w, acc),
            3 => block::<M, 3>(x, inputs, w, acc),
            4 => block::<M, 4>(x, inputs, w, acc),
            5 => block::<M, 5>(x, inputs, w, acc),
            _ => block::<M, ROWS>(x, inputs, w, acc),
        };
    }
    if act == Activation::Gelu {
        acc.iter_mut().for_each(|v| *v = gelu(*v));
    }
}

/// The first `R` rows of [`panel_with`]; returns `R`. `R × LANES`
/// sums stay in registers.
#[inline(always)]
fn block<M: MulAdd, const R: usize>(x: &[f32], inputs: usize, w: &[f32], acc: &mut [f32]) -> usize {
    let x: [&[f32]; R] = std::array::from_fn(|r| &x[r * inputs..][..inputs]);
    let mut sums = [[0.0f32; LANES]; R];
    for (r, s) in sums.iter_mut().enumerate() {
        s.copy_from_slice(&acc[r * LANES..][..LANES]);
    }
    for (i, wi) in w.chunks_exact(LANES).enumerate() {
        let wi: &[f32; LANES] = wi.try_into().expect("a panel row");
        for r in 0..R {
            let a = x[r][i];
            for j in 0..LANES {
                sums[r][j] = M::mul_add(a, wi[j], sums[r][j]);
            }
        }
    }
    for (r, s) in sums.iter().enumerate() {
        acc[r * LANES..][..LANES].copy_from_slice(s);
    }
    R
}

/// Scaled dot-product attention of every head, from the side-by-side
/// query, key and value rows of `qkv` (`n × 3d`) into `context` (`n × d`);
/// heads split over the rayon pool.
fn attention(qkv: &[f32], n: usize, d: usize, heads: usize, context: &mut Vec<f32>) {
    let hd = d / heads;
    let by_head = per_thread(heads, n * hd, |h, out| attend(qkv, d, h * hd, hd, out));
    side_by_side(&by_head, n, hd, context);
}

/// One head's attention: the head's columns start at `offset` within each
/// of the query, key and value parts of a `qkv` row; `out` is `n × hd`.
fn attend(qkv: &[f32], d: usize, offset: usize, hd: usize, out: &mut [f32]) {
    let scale = 1.0 / (hd as f32).sqrt();
    let s = &mut vec![0.0; out.len() / hd];
    for (t, out) in out.chunks_exact_mut(hd).enumerate() {
        let q = &qkv[t * 3 * d + offset..][..hd];
        for (u, score) in s.iter_mut().enumerate() {
            *score = dot(q, &qkv[u * 3 * d + d + offset..][..hd]) * scale;
        }
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in s.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        out.fill(0.0);
        for (u, &p) in s.iter().enumerate() {
            let (p, v) = (p / sum, &qkv[u * 3 * d + 2 * d + offset..][..hd]);
            for (o, v) in out.iter_mut().zip(v) {
                *o += p * v;
            }
        }
    }
}

/// A sum in eight lanes, so it vectorises.
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    for a in a.chunks_exact(8) {
        for i in 0..8 {
            lanes[i] += a[i];
        }
    }
    lanes.iter().sum::<f32>() + a.chunks_exact(8).remainder().iter().sum::<f32>()
}

/// A dot product in eight lanes, so it vectorises.
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += a[i] * b[i];
        }
    }
    let tail: f32 = a
        .chunks_exact(8)
        .remainder()
        .iter()
        .zip(b.chunks_exact(8).remainder())
        .map(|(a, b)| a * b)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

fn layer_norm(x: &mut [f32], norm: &Norm, eps: f32) {
    let d = norm.gamma.len();
    for row in x.chunks_exact_mut(d) {
        let mean = sum(row) / d as f32;
        row.iter_mut().for_each(|v| *v -= mean);
        let inv = 1.0 / (dot(row, row) / d as f32 + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
            *v = *v * inv * g + b;
        }
    }
}

/// GELU with the error function, as BERT was trained with.
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function to within a few units in the last place of `f32`:
/// the rational approximation Eigen and XLA use, polynomials only, so it
/// vectorises (no `exp`).
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ]
    .into_iter()
    .reduce(|p, c| p * x2 + c)
    .unwrap_or_default();
    let q = [
        -1.456_607_18e-5,
        -2.133_740_5e-4,
        -1.682_827e-3,
        -7.373_329_2e-3,
        -1.426_473_9e-2,
    ]
    .into_iter()
    .reduce(|q, c| q * x2 + c)
    .unwrap_or_default();
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_computes_the_plain_product_for_every_row_count_and_both_multiply_adds() {
        let (inputs, outputs) = (40, 2 * LANES);
        let value = |i: usize| ((i * 7919) % 113) as f32 / 113.0 - 0.5;
        let w: Vec<f32> = (0..inputs * outputs).map(value).collect();
        let b: Vec<f32> = (0..outputs).map(|o| value(o + 5)).collect();
        let linear = Linear::new(&w, b.clone(), inputs, outputs).unwrap();
        for rows in 1..=13 {
            let x: Vec<f32> = (0..rows * inputs).map(|i| value(i + 11)).collect();
            let want: Vec<f32> = (0..rows * outputs)
                .map(|i| {
                    let (r, o) = (i / outputs, i % outputs);
                    let dot: f32 = (0..inputs)
                        .map(|k| x[r * inputs + k] * w[o * inputs + k])
                        .sum();
                    b[o] + dot
                })
                .collect();
            let mut got = Vec::new();
            linear.forward(&x, None, Activation::None, &mut got);
            let panel_len = inputs * LANES;
            for p in 0..outputs / LANES {
                let w = &linear.panels[p * panel_len..][..panel_len];
                let mut fused = vec![0.0; rows * LANES];
                let mut unfused = vec![0.0; rows * LANES];
                panel_with::<Fused>(&x, inputs, w, Activation::None, &mut fused);
                panel_with::<Unfused>(&x, inputs, w, Activation::None, &mut unfused);
                for r in 0..rows {
                    for j in 0..LANES {
                        let want = want[r * outputs + p * LANES + j] - b[p * LANES + j];
                        assert!((fused[r * LANES + j] - want).abs() < 1e-4, "rows {rows}");
                        assert!((unfused[r * LANES + j] - want).abs() < 1e-4, "rows {rows}");
                    }
                }
            }
            for (got, want) in got.iter().zip(&want) {
                assert!((got - want).abs() < 1e-4, "rows {rows}: {got} != {want}");
            }
            let residual: Vec<f32> = (0..rows * outputs).map(|i| value(i + 3)).collect();
            linear.forward(&x, Some(&residual), Activation::Gelu, &mut got);
            for ((got, want), r) in got.iter().zip(&want).zip(&residual) {
                let want = gelu(want + r);
                assert!((got - want).abs() < 1e-4, "rows {rows}: {got} != {want}");
            }
        }
    }

    #[test]
    fn erf_agrees_with_its_tabulated_values() {
        let table: [(f32, f64); 8] = [
            (0.0, 0.0),
            (0.1, 0.112_462_916),
            (0.5, 0.520_499_876),
            (1.0, 0.842_700_793),
            (1.5, 0.966_105_146),
            (2.0, 0.995_322_265),
            (3.0, 0.999_977_91),
            (6.0, 1.0),
        ];
        for (x, want) in table {
            assert!((f64::from(erf(x)) - want).abs() < 1e-6, "erf({x})");
            assert!((f64::from(erf(-x)) + want).abs() < 1e-6, "erf(-{x})");
        }
    }
}
