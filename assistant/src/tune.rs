//! Contrastive tuning of the encoder's top layers on a knowledge base's own
//! questions (issue 20's experiment; see BENCHMARKS.md "Tuning the
//! encoder"). Everything below the tuned layers stays frozen, so each
//! question's input to them is computed once; each step then runs them
//! forward and back for a batch of questions and moves them (their
//! feed-forward blocks alone, or with their attention) with Adam against a supervised
//! contrastive loss (questions of one article pulled together, of different
//! articles pushed apart, as CPFT and SetFit do with the whole encoder).
//!
//! Deterministic: a seeded batch order, and the forward kernel's sums do not
//! depend on the number of threads.

use std::collections::BTreeMap;

use super::bert::top::TopLayer;
use super::bert::{dot, erf, gelu, times_transposed};
#[cfg(test)]
use super::encoder::Encoder;

/// How long and how hard to tune.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TuneConfig {
    /// Passes over the questions.
    pub epochs: usize,
    /// Adam's step size.
    pub lr: f32,
    /// The contrastive loss's temperature (similarities are divided by it).
    pub temperature: f32,
    /// Questions per step, at most.
    pub batch: usize,
    /// Questions of one article that go into a batch together (its
    /// positives).
    pub group: usize,
    /// Tune the attention too, not only the feed-forward block.
    pub attention: bool,
    /// How many of the encoder's layers, from the top.
    pub layers: usize,
    /// How hard each step pulls the tuned weights back towards the frozen
    /// ones (times the step size; 0: not at all).
    pub anchor: f32,
    pub seed: u64,
    /// Knowledge bases with more training texts (questions, titles and
    /// out-of-scope examples) than this are not tuned
    /// ([`crate::Engine::tuned`]): it bounds the time (about 28 s on one
    /// thread for the sample's 780) and the memory (each text's input to
    /// the top layer and that layer's attention output, up to 48 KiB
    /// each), and tuning pays with few questions an article, not with
    /// thousands.
    pub max_texts: usize,
}

impl Default for TuneConfig {
    fn default() -> TuneConfig {
        TuneConfig {
            // The best of eight settings on BANKING77 dev (BENCHMARKS.md).
            epochs: 10,
            lr: 2e-4,
            temperature: 0.2,
            batch: 128,
            group: 4,
            attention: false,
            layers: 1,
            anchor: 0.0,
            seed: 1,
            max_texts: 2_000,
        }
    }
}

/// The encoder's top `cfg.layers` layers (the lowest first) tuned on
/// `texts`, each labelled with its article (`labels[i]` for `texts[i]`),
/// and the mean loss of each epoch.
#[cfg(test)]
pub(crate) fn tune(
    encoder: &Encoder,
    texts: &[&str],
    labels: &[usize],
    cfg: TuneConfig,
) -> (Vec<TopLayer>, Vec<f32>) {
    let inputs = encoder.below(texts, cfg.layers);
    let layers = encoder.top_layers(cfg.layers);
    tune_from(layers, &inputs, labels, encoder.layer_norm_eps(), cfg)
}

/// `layers` (the model's top ones, the lowest first) tuned on the texts
/// whose inputs to them are `inputs`, labelled by `labels`; with the mean
/// loss of each epoch.
pub(crate) fn tune_from(
    mut layers: Vec<TopLayer>,
    inputs: &[Vec<f32>],
    labels: &[usize],
    eps: f32,
    cfg: TuneConfig,
) -> (Vec<TopLayer>, Vec<f32>) {
    let frozen = layers.clone();
    // The lowest layer's attention reads the frozen inputs: when it is not
    // tuned its output never changes, so it is computed once, not each step.
    let attended: Option<Vec<Vec<f32>>> =
        (!cfg.attention).then(|| inputs.iter().map(|x| attend(&layers[0], x, eps)).collect());
    let below = attended
        .as_deref()
        .map_or(Below::Inputs(inputs), Below::Attended);
    let mut adams: Vec<Adam> = layers.iter().map(Adam::new).collect();
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let mut losses = Vec::new();
    for _ in 0..cfg.epochs {
        let batches = batches(labels, cfg, &mut rng);
        let mut total = 0.0;
        for batch in &batches {
            let (loss, grads) = gradient(&layers, below, labels, batch, cfg.temperature, eps);
            let layers_now = layers.iter_mut().zip(grads).zip(&mut adams).zip(&frozen);
            for (((layer, mut grad), adam), frozen) in layers_now {
                if !cfg.attention {
                    grad.parts_mut()[..ATTENTION_PARTS]
                        .iter_mut()
                        .for_each(|g| g.fill(0.0));
                }
                adam.step(layer, &grad, cfg.lr);
                if cfg.anchor > 0.0 {
                    // Decoupled from Adam's scaling, a pull back towards the
                    // frozen weights (L2-SP, Li et al. 2018).
                    let pull = cfg.lr * cfg.anchor;
                    for (p, p0) in layer.parts_mut().into_iter().zip(frozen.parts()) {
                        p.iter_mut()
                            .zip(p0)
                            .for_each(|(p, p0)| *p -= pull * (*p - p0));
                    }
                }
            }
            total += loss;
        }
        losses.push(total / batches.len().max(1) as f32);
    }
    (layers, losses)
}

/// One epoch's batches: each article's questions shuffled and cut into
/// groups of `cfg.group`, the groups shuffled and packed into batches of
/// at most `cfg.batch`.
fn batches(labels: &[usize], cfg: TuneConfig, rng: &mut fastrand::Rng) -> Vec<Vec<usize>> {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(*l).or_default().push(i);
    }
    let mut groups = Vec::new();
    for indices in by_label.values_mut() {
        rng.shuffle(indices);
        groups.extend(indices.chunks(cfg.group.max(2)).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut groups);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current = Vec::new();
    for group in groups {
        if !current.is_empty() && current.len() + group.len() > cfg.batch {
            out.push(std::mem::take(&mut current));
        }
        current.extend(group);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The first [`TopLayer::parts`] are the attention's.
const ATTENTION_PARTS: usize = 6;

impl TopLayer {
    pub(crate) fn parts(&self) -> [&Vec<f32>; 12] {
        [
            &self.qkv_w,
            &self.qkv_b,
            &self.out_w,
            &self.out_b,
            &self.attention_gamma,
            &self.attention_beta,
            &self.up_w,
            &self.up_b,
            &self.down_w,
            &self.down_b,
            &self.gamma,
            &self.beta,
        ]
    }

    pub(crate) fn parts_mut(&mut self) -> [&mut Vec<f32>; 12] {
        [
            &mut self.qkv_w,
            &mut self.qkv_b,
            &mut self.out_w,
            &mut self.out_b,
            &mut self.attention_gamma,
            &mut self.attention_beta,
            &mut self.up_w,
            &mut self.up_b,
            &mut self.down_w,
            &mut self.down_b,
            &mut self.gamma,
            &mut self.beta,
        ]
    }

    fn zeros_like(&self) -> TopLayer {
        let mut zeros = self.clone();
        zeros.parts_mut().iter_mut().for_each(|p| p.fill(0.0));
        zeros
    }
}

/// Adam (Kingma and Ba) without weight decay.
struct Adam {
    m: TopLayer,
    v: TopLayer,
    t: i32,
}

impl Adam {
    fn new(layer: &TopLayer) -> Adam {
        Adam {
            m: layer.zeros_like(),
            v: layer.zeros_like(),
            t: 0,
        }
    }

    fn step(&mut self, layer: &mut TopLayer, grad: &TopLayer, lr: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        let parts = layer
            .parts_mut()
            .into_iter()
            .zip(grad.parts())
            .zip(self.m.parts_mut())
            .zip(self.v.parts_mut());
        for (((p, g), m), v) in parts {
            for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = B1 * *m + (1.0 - B1) * g;
                *v = B2 * *v + (1.0 - B2) * g * g;
                *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
            }
        }
    }
}

/// What the lowest layer reads of each text: its inputs, or, with that
/// layer's attention frozen, the attention's output (computed once).
#[derive(Clone, Copy)]
enum Below<'a> {
    Inputs(&'a [Vec<f32>]),
    Attended(&'a [Vec<f32>]),
}

/// The output tokens of `layer`'s attention (before its feed-forward block)
/// on one text's input tokens `x`.
fn attend(layer: &TopLayer, x: &[f32], eps: f32) -> Vec<f32> {
    let d = layer.gamma.len();
    let tokens = 0..x.len() / d;
    let heads = Heads::new(layer.heads, d, std::slice::from_ref(&tokens));
    AttentionPass::forward(layer, x.to_vec(), &heads, eps).1
}

/// One layer's attention over a batch's stacked tokens, kept for its
/// backward pass.
struct AttentionPass {
    x: Vec<f32>,
    qkv: Vec<f32>,
    probs: Vec<Vec<f32>>,
    context: Vec<f32>,
    y_hat: Vec<f32>,
    y_inv: Vec<f32>,
}

impl AttentionPass {
    /// `layer`'s attention on the tokens `x` (`n × d`), and its output
    /// tokens `y`.
    fn forward(
        layer: &TopLayer,
        x: Vec<f32>,
        heads: &Heads,
        eps: f32,
    ) -> (AttentionPass, Vec<f32>) {
        let d = layer.gamma.len();
        // qkv = x·Wqkvᵀ + b, each question's heads, then
        // o = context·Woᵀ + b + x and y = norm(o).
        let qkv = plus_bias(times_transposed(&x, &layer.qkv_w, d, 3 * d), &layer.qkv_b);
        let (context, probs) = heads.forward(&qkv);
        let mut o = plus_bias(times_transposed(&context, &layer.out_w, d, d), &layer.out_b);
        o.iter_mut().zip(&x).for_each(|(o, x)| *o += x);
        let (y_hat, y_inv) = normalise(o, d, eps);
        let y = scale_shift(&y_hat, &layer.attention_gamma, &layer.attention_beta);
        let pass = AttentionPass {
            x,
            qkv,
            probs,
            context,
            y_hat,
            y_inv,
        };
        (pass, y)
    }

    /// From the gradient with respect to its output tokens, the attention's
    /// parts of `grad` and the gradient with respect to its input tokens.
    fn backward(
        &self,
        layer: &TopLayer,
        heads: &Heads,
        g_y: &[f32],
        grad: &mut TopLayer,
    ) -> Vec<f32> {
        let d = layer.gamma.len();
        let g_o = norm_backward(
            g_y,
            &self.y_hat,
            &self.y_inv,
            &layer.attention_gamma,
            (&mut grad.attention_gamma, &mut grad.attention_beta),
        );
        let g_context;
        (grad.out_w, grad.out_b, g_context) =
            linear_backward(&g_o, &self.context, &layer.out_w, (d, d));
        let g_qkv = heads.backward(&self.qkv, &self.probs, &g_context);
        let mut g_x;
        (grad.qkv_w, grad.qkv_b, g_x) = linear_backward(&g_qkv, &self.x, &layer.qkv_w, (d, 3 * d));
        g_x.iter_mut().zip(&g_o).for_each(|(g, o)| *g += o);
        g_x
    }
}

/// One layer's forward pass over a batch's stacked tokens, kept for its
/// backward pass.
struct Pass {
    /// The attention's, unless its output was given (frozen).
    attention: Option<AttentionPass>,
    y: Vec<f32>,
    a: Vec<f32>,
    u: Vec<f32>,
    xhat: Vec<f32>,
    inv_sigma: Vec<f32>,
}

impl Pass {
    /// `layer` on the tokens `x` (`n × d`); the output is
    /// [`Pass::output`].
    fn forward(layer: &TopLayer, x: Vec<f32>, heads: &Heads, eps: f32) -> Pass {
        let (attention, y) = AttentionPass::forward(layer, x, heads, eps);
        Pass::feed_forward(layer, Some(attention), y, eps)
    }

    /// `layer`'s feed-forward block on its attention's output tokens `y`.
    fn feed_forward(
        layer: &TopLayer,
        attention: Option<AttentionPass>,
        y: Vec<f32>,
        eps: f32,
    ) -> Pass {
        let (d, ff) = (layer.gamma.len(), layer.up_b.len());
        // a = y·Wupᵀ + b, u = gelu(a), z = u·Wdownᵀ + b + y, then the
        // norm's x̂ = (z - mean) / σ.
        let a = plus_bias(times_transposed(&y, &layer.up_w, d, ff), &layer.up_b);
        let u: Vec<f32> = a.iter().map(|&v| gelu(v)).collect();
        let mut z = plus_bias(times_transposed(&u, &layer.down_w, ff, d), &layer.down_b);
        z.iter_mut().zip(&y).for_each(|(z, y)| *z += y);
        let (xhat, inv_sigma) = normalise(z, d, eps);
        Pass {
            attention,
            y,
            a,
            u,
            xhat,
            inv_sigma,
        }
    }

    /// The layer's output tokens, `γx̂ + β`.
    fn output(&self, layer: &TopLayer) -> Vec<f32> {
        scale_shift(&self.xhat, &layer.gamma, &layer.beta)
    }

    /// From the gradient with respect to the output tokens, the layer's
    /// and, unless its attention was given, the one with respect to its
    /// input tokens (the attention's parts of the layer's stay zero then).
    fn backward(
        &self,
        layer: &TopLayer,
        heads: &Heads,
        g_out: &[f32],
    ) -> (TopLayer, Option<Vec<f32>>) {
        let (d, ff) = (layer.gamma.len(), layer.up_b.len());
        let mut grad = layer.zeros_like();
        let g_z = norm_backward(
            g_out,
            &self.xhat,
            &self.inv_sigma,
            &layer.gamma,
            (&mut grad.gamma, &mut grad.beta),
        );
        // Through the down projection, GELU and the up projection, to y
        // (its residual path and the up projection's input).
        let g_u;
        (grad.down_w, grad.down_b, g_u) = linear_backward(&g_z, &self.u, &layer.down_w, (ff, d));
        let g_a: Vec<f32> = g_u
            .iter()
            .zip(&self.a)
            .map(|(g, &x)| g * gelu_derivative(x))
            .collect();
        let Some(attention) = &self.attention else {
            (grad.up_w, grad.up_b) = weight_backward(&g_a, &self.y, (d, ff));
            return (grad, None);
        };
        let mut g_y;
        (grad.up_w, grad.up_b, g_y) = linear_backward(&g_a, &self.y, &layer.up_w, (d, ff));
        g_y.iter_mut().zip(&g_z).for_each(|(g, z)| *g += z);
        let g_x = attention.backward(layer, heads, &g_y, &mut grad);
        (grad, Some(g_x))
    }
}

/// The batch's contrastive loss and its gradient with respect to each of
/// `layers` (the encoder's top ones, the lowest first; `inputs` are the
/// lowest one's).
fn gradient(
    layers: &[TopLayer],
    below: Below,
    labels: &[usize],
    batch: &[usize],
    temperature: f32,
    eps: f32,
) -> (f32, Vec<TopLayer>) {
    let d = layers[0].gamma.len();
    // The batch's tokens stacked: x (n × d), and each question's rows.
    let (Below::Inputs(rows) | Below::Attended(rows)) = below;
    let mut x = Vec::new();
    let mut spans = Vec::with_capacity(batch.len());
    for &i in batch {
        let start = x.len() / d;
        x.extend_from_slice(&rows[i]);
        spans.push(start..x.len() / d);
    }
    let n = x.len() / d;
    let heads = Heads::new(layers[0].heads, d, &spans);
    let mut passes = Vec::with_capacity(layers.len());
    for (k, layer) in layers.iter().enumerate() {
        let pass = match below {
            Below::Attended(_) if k == 0 => Pass::feed_forward(layer, None, x, eps),
            _ => Pass::forward(layer, x, &heads, eps),
        };
        x = pass.output(layer);
        passes.push(pass);
    }
    // Each question's pooled, normalised output.
    let mut e = vec![0.0; batch.len() * d];
    let mut norms = vec![0.0; batch.len()];
    for ((p, span), norm) in e.chunks_exact_mut(d).zip(&spans).zip(&mut norms) {
        for row in x[span.start * d..span.end * d].chunks_exact(d) {
            p.iter_mut().zip(row).for_each(|(p, v)| *p += v);
        }
        *norm = p.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        p.iter_mut().for_each(|v| *v /= *norm);
    }
    let batch_labels: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
    let (loss, g_e) = contrastive(&e, &batch_labels, d, temperature);

    // Backward, through the normalisation and the pooling to each token's
    // output, then down the layers.
    let mut g = vec![0.0; n * d];
    for (j, span) in spans.iter().enumerate() {
        let (ej, gej) = (&e[j * d..][..d], &g_e[j * d..][..d]);
        let along = dot(ej, gej);
        for t in span.clone() {
            for ((g, ge), e) in g[t * d..][..d].iter_mut().zip(gej).zip(ej) {
                *g = (ge - e * along) / norms[j];
            }
        }
    }
    let mut grads = Vec::with_capacity(layers.len());
    for (layer, pass) in layers.iter().zip(&passes).rev() {
        let (grad, g_in) = pass.backward(layer, &heads, &g);
        grads.push(grad);
        // None only from the lowest layer: nothing is below it.
        g = g_in.unwrap_or_default();
    }
    grads.reverse();
    (loss, grads)
}

/// The backward pass of `out = input · wᵀ + b` over `n` rows, for `w` of
/// `outputs × inputs`: from the gradient with respect to `out`, those with
/// respect to `w`, `b` and `input`.
fn linear_backward(
    g_out: &[f32],
    input: &[f32],
    w: &[f32],
    (inputs, outputs): (usize, usize),
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (g_w, g_b) = weight_backward(g_out, input, (inputs, outputs));
    let g_in = times_transposed(g_out, &transpose(w, outputs, inputs), outputs, inputs);
    (g_w, g_b, g_in)
}

/// [`linear_backward`] without the gradient with respect to `input`.
fn weight_backward(
    g_out: &[f32],
    input: &[f32],
    (inputs, outputs): (usize, usize),
) -> (Vec<f32>, Vec<f32>) {
    let n = input.len() / inputs;
    let g_w = times_transposed(
        &transpose(g_out, n, outputs),
        &transpose(input, n, inputs),
        n,
        inputs,
    );
    (g_w, column_sums(g_out, outputs))
}

/// Each question's multi-head attention over its own tokens, as `Bert`
/// computes it, kept for the backward pass.
struct Heads<'a> {
    heads: usize,
    d: usize,
    spans: &'a [std::ops::Range<usize>],
}

impl Heads<'_> {
    fn new(heads: usize, d: usize, spans: &[std::ops::Range<usize>]) -> Heads<'_> {
        Heads { heads, d, spans }
    }

    /// The context rows (`n × d`) and each question's attention
    /// probabilities, head by head (`tokens × tokens` each).
    fn forward(&self, qkv: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>) {
        let (d, hd) = (self.d, self.d / self.heads);
        let scale = 1.0 / (hd as f32).sqrt();
        let n = qkv.len() / (3 * d);
        let mut context = vec![0.0; n * d];
        let mut probs = Vec::with_capacity(self.spans.len() * self.heads);
        for span in self.spans {
            for h in 0..self.heads {
                let row = |t: usize, part: usize| &qkv[t * 3 * d + part * d + h * hd..][..hd];
                let mut p = Vec::with_capacity(span.len() * span.len());
                for t in span.clone() {
                    let s: Vec<f32> = span
                        .clone()
                        .map(|u| dot(row(t, 0), row(u, 1)) * scale)
                        .collect();
                    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let exps: Vec<f32> = s.iter().map(|v| (v - max).exp()).collect();
                    let sum: f32 = exps.iter().sum();
                    let out = &mut context[t * d + h * hd..][..hd];
                    for (u, e) in span.clone().zip(&exps) {
                        let pr = e / sum;
                        p.push(pr);
                        out.iter_mut()
                            .zip(row(u, 2))
                            .for_each(|(o, v)| *o += pr * v);
                    }
                }
                probs.push(p);
            }
        }
        (context, probs)
    }

    /// The gradient with respect to `qkv` (`n × 3d`), given the one with
    /// respect to the context rows.
    fn backward(&self, qkv: &[f32], probs: &[Vec<f32>], g_context: &[f32]) -> Vec<f32> {
        let (d, hd) = (self.d, self.d / self.heads);
        let scale = 1.0 / (hd as f32).sqrt();
        let mut g_qkv = vec![0.0; qkv.len()];
        let row = |t: usize, part: usize, h: usize| t * 3 * d + part * d + h * hd;
        for (s, span) in self.spans.iter().enumerate() {
            let m = span.len();
            for h in 0..self.heads {
                let p = &probs[s * self.heads + h];
                for (i, t) in span.clone().enumerate() {
                    let gc = &g_context[t * d + h * hd..][..hd];
                    // dP, then the softmax's dS = P ⊙ (dP − Σ P dP).
                    let dp: Vec<f32> = span
                        .clone()
                        .map(|u| dot(gc, &qkv[row(u, 2, h)..][..hd]))
                        .collect();
                    let pi = &p[i * m..][..m];
                    let mean = dot(pi, &dp);
                    for (j, u) in span.clone().enumerate() {
                        // The values: dV_u += P[t][u] · gc.
                        for c in 0..hd {
                            g_qkv[row(u, 2, h) + c] += pi[j] * gc[c];
                        }
                        let ds = pi[j] * (dp[j] - mean) * scale;
                        for c in 0..hd {
                            g_qkv[row(t, 0, h) + c] += ds * qkv[row(u, 1, h) + c];
                            g_qkv[row(u, 1, h) + c] += ds * qkv[row(t, 0, h) + c];
                        }
                    }
                }
            }
        }
        g_qkv
    }
}

/// Rows of `x` (`d` each) less their mean, over their deviation: x̂, and
/// each row's 1/σ.
fn normalise(mut x: Vec<f32>, d: usize, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let mut inv = Vec::with_capacity(x.len() / d);
    for row in x.chunks_exact_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        row.iter_mut().for_each(|v| *v -= mean);
        let i = 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / d as f32 + eps).sqrt();
        row.iter_mut().for_each(|v| *v *= i);
        inv.push(i);
    }
    (x, inv)
}

/// `γ x̂ + β`, row by row.
fn scale_shift(xhat: &[f32], gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    let d = gamma.len();
    let mut out = xhat.to_vec();
    for row in out.chunks_exact_mut(d) {
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = *v * g + b;
        }
    }
    out
}

/// A layer norm's backward pass: from the gradient with respect to its
/// output rows, the one with respect to its input rows; adds γ's and β's
/// into `grads`.
fn norm_backward(
    g_out: &[f32],
    xhat: &[f32],
    inv: &[f32],
    gamma: &[f32],
    grads: (&mut Vec<f32>, &mut Vec<f32>),
) -> Vec<f32> {
    let d = gamma.len();
    let (g_gamma, g_beta) = grads;
    let mut g_in = vec![0.0; g_out.len()];
    for (((go, xh), inv), gi) in g_out
        .chunks_exact(d)
        .zip(xhat.chunks_exact(d))
        .zip(inv)
        .zip(g_in.chunks_exact_mut(d))
    {
        let g_xhat: Vec<f32> = go.iter().zip(gamma).map(|(g, c)| g * c).collect();
        for (((gg, gb), g), x) in g_gamma.iter_mut().zip(g_beta.iter_mut()).zip(go).zip(xh) {
            *gg += g * x;
            *gb += g;
        }
        let mean_g = g_xhat.iter().sum::<f32>() / d as f32;
        let mean_gx = dot(&g_xhat, xh) / d as f32;
        for ((o, g), x) in gi.iter_mut().zip(&g_xhat).zip(xh) {
            *o = inv * (g - mean_g - x * mean_gx);
        }
    }
    g_in
}

fn plus_bias(mut x: Vec<f32>, b: &[f32]) -> Vec<f32> {
    for row in x.chunks_exact_mut(b.len()) {
        row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
    }
    x
}

/// Supervised contrastive loss (Khosla et al. 2020) of unit embeddings `e`
/// (`labels.len() × d`): for each question with another of its article in
/// the batch, minus the mean log-probability of those among all the
/// others, by similarity over `temperature`; averaged over such questions.
/// Returns the loss and its gradient with respect to `e`.
fn contrastive(e: &[f32], labels: &[usize], d: usize, temperature: f32) -> (f32, Vec<f32>) {
    let m = labels.len();
    let row = |i: usize| &e[i * d..][..d];
    let mut g_s = vec![0.0f32; m * m];
    let (mut loss, mut anchors) = (0.0f32, 0usize);
    for i in 0..m {
        let positives = (0..m).filter(|&j| j != i && labels[j] == labels[i]).count();
        if positives == 0 {
            continue;
        }
        anchors += 1;
        let s: Vec<f32> = (0..m).map(|j| dot(row(i), row(j)) / temperature).collect();
        let max = (0..m)
            .filter(|&j| j != i)
            .map(|j| s[j])
            .fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = (0..m).filter(|&j| j != i).map(|j| (s[j] - max).exp()).sum();
        let log_z = max + z.ln();
        for j in (0..m).filter(|&j| j != i) {
            let positive = labels[j] == labels[i];
            g_s[i * m + j] = (s[j] - max).exp() / z;
            if positive {
                g_s[i * m + j] -= 1.0 / positives as f32;
                loss += (log_z - s[j]) / positives as f32;
            }
        }
    }
    let scale = 1.0 / (anchors.max(1) as f32 * temperature);
    let mut g_e = vec![0.0f32; m * d];
    for i in 0..m {
        for j in 0..m {
            let g = g_s[i * m + j] * scale;
            if g == 0.0 {
                continue;
            }
            for k in 0..d {
                g_e[i * d + k] += g * e[j * d + k];
                g_e[j * d + k] += g * e[i * d + k];
            }
        }
    }
    (loss / anchors.max(1) as f32, g_e)
}

/// d/dx of `gelu(x) = x Φ(x)`: `Φ(x) + x φ(x)`.
fn gelu_derivative(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
    cdf + x * pdf
}

/// `x` (`rows × cols`) transposed.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for (r, row) in x.chunks_exact(cols).enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[c * rows + r] = *v;
        }
    }
    out
}

fn column_sums(x: &[f32], cols: usize) -> Vec<f32> {
    let mut sums = vec![0.0; cols];
    for row in x.chunks_exact(cols) {
        sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two small layers (16 wide, two heads, 32 inside) with seeded
    /// weights, and inputs.
    fn small() -> (Vec<TopLayer>, Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut r = |n: usize, scale: f32| -> Vec<f32> {
            (0..n).map(|_| (rng.f32() - 0.5) * scale).collect()
        };
        let (d, ff) = (16, 32);
        let mut layer = || {
            let mut gamma = || r(d, 0.4).into_iter().map(|v| v + 1.0).collect::<Vec<_>>();
            let (attention_gamma, gamma) = (gamma(), gamma());
            TopLayer {
                heads: 2,
                qkv_w: r(3 * d * d, 0.8),
                qkv_b: r(3 * d, 0.2),
                out_w: r(d * d, 0.6),
                out_b: r(d, 0.2),
                attention_gamma,
                attention_beta: r(d, 0.2),
                up_w: r(ff * d, 0.6),
                up_b: r(ff, 0.2),
                down_w: r(d * ff, 0.6),
                down_b: r(d, 0.2),
                gamma,
                beta: r(d, 0.2),
            }
        };
        let layers = vec![layer(), layer()];
        let inputs = [3, 5, 2, 4, 3, 6].iter().map(|&n| r(n * d, 2.0)).collect();
        (layers, inputs, vec![0, 0, 1, 1, 0, 2])
    }

    #[test]
    fn the_gradient_agrees_with_finite_differences_for_every_part_of_both_layers() {
        let (layers, inputs, labels) = small();
        let batch: Vec<usize> = (0..inputs.len()).collect();
        let loss_of =
            |l: &[TopLayer]| gradient(l, Below::Inputs(&inputs), &labels, &batch, 0.5, 1e-12).0;
        let (_, grads) = gradient(&layers, Below::Inputs(&inputs), &labels, &batch, 0.5, 1e-12);
        for layer in 0..2 {
            for part in 0..12 {
                let len = layers[layer].parts()[part].len();
                for k in [0, len / 3, len - 1] {
                    let h = 1e-2;
                    let mut plus = layers.clone();
                    plus[layer].parts_mut()[part][k] += h;
                    let mut minus = layers.clone();
                    minus[layer].parts_mut()[part][k] -= h;
                    let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h);
                    let analytic = grads[layer].parts()[part][k];
                    assert!(
                        (numeric - analytic).abs() <= 2e-3 + 0.05 * analytic.abs(),
                        "layer {layer}, part {part}, entry {k}: numeric {numeric}, analytic {analytic}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_lowest_attention_computed_once_gives_the_same_loss_and_feed_forward_gradient() {
        let (layers, inputs, labels) = small();
        let batch: Vec<usize> = (0..inputs.len()).collect();
        let attended: Vec<Vec<f32>> = inputs
            .iter()
            .map(|x| attend(&layers[0], x, 1e-12))
            .collect();
        let (loss, full) = gradient(&layers, Below::Inputs(&inputs), &labels, &batch, 0.5, 1e-12);
        let (given_loss, given) = gradient(
            &layers,
            Below::Attended(&attended),
            &labels,
            &batch,
            0.5,
            1e-12,
        );
        assert!((loss - given_loss).abs() < 1e-5, "{loss} {given_loss}");
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() <= 1e-5);
        for part in 0..12 {
            let (lowest, top) = (given[0].parts()[part], given[1].parts()[part]);
            assert!(close(top, full[1].parts()[part]), "top layer, part {part}");
            if part < ATTENTION_PARTS {
                assert!(lowest.iter().all(|g| *g == 0.0), "part {part}");
            } else {
                assert!(
                    close(lowest, full[0].parts()[part]),
                    "lowest layer, part {part}"
                );
            }
        }
    }

    #[test]
    fn tuning_steps_lower_the_loss_of_the_batch_they_learn_from() {
        let (mut layers, inputs, labels) = small();
        let batch: Vec<usize> = (0..inputs.len()).collect();
        let mut adams: Vec<Adam> = layers.iter().map(Adam::new).collect();
        let first = gradient(&layers, Below::Inputs(&inputs), &labels, &batch, 0.5, 1e-12).0;
        for _ in 0..20 {
            let (_, grads) = gradient(&layers, Below::Inputs(&inputs), &labels, &batch, 0.5, 1e-12);
            for ((layer, grad), adam) in layers.iter_mut().zip(&grads).zip(&mut adams) {
                adam.step(layer, grad, 1e-2);
            }
        }
        let last = gradient(&layers, Below::Inputs(&inputs), &labels, &batch, 0.5, 1e-12).0;
        assert!(last < first * 0.8, "{first} → {last}");
    }

    #[test]
    fn a_batch_keeps_an_articles_questions_together_and_every_question_comes_once() {
        let labels: Vec<usize> = (0..40).map(|i| i % 5).collect();
        let cfg = TuneConfig {
            batch: 12,
            group: 4,
            ..TuneConfig::default()
        };
        let batches = batches(&labels, cfg, &mut fastrand::Rng::with_seed(3));
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
        for b in &batches {
            assert!(b.len() <= 12);
            for i in b {
                assert!(
                    b.iter().any(|j| j != i && labels[*j] == labels[*i]),
                    "{b:?}"
                );
            }
        }
    }
}
