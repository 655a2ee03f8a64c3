//! Contrastive tuning of the encoder's top feed-forward block on a
//! knowledge base's own questions (issue 20's experiment; see BENCHMARKS.md
//! "Tuning the encoder"). Everything below the top layer's feed-forward
//! block stays frozen, so each question's input to it is computed once;
//! each step then runs the block forward and back for a batch of questions
//! and moves it with Adam against a supervised contrastive loss (questions
//! of one article pulled together, of different articles pushed apart, as
//! CPFT and SetFit do with the whole encoder).
//!
//! Deterministic: a seeded batch order, and the forward kernel's sums do not
//! depend on the number of threads.

use std::collections::BTreeMap;

use super::bert::{TopBlock, erf, gelu, times_transposed};
use super::encoder::Encoder;

/// How long and how hard to tune.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TuneConfig {
    /// Passes over the questions.
    pub(crate) epochs: usize,
    /// Adam's step size.
    pub(crate) lr: f32,
    /// The contrastive loss's temperature (similarities are divided by it).
    pub(crate) temperature: f32,
    /// Questions per step, at most.
    pub(crate) batch: usize,
    /// Questions of one article that go into a batch together (its
    /// positives).
    pub(crate) group: usize,
    pub(crate) seed: u64,
}

impl Default for TuneConfig {
    fn default() -> TuneConfig {
        TuneConfig {
            // The best of six settings on BANKING77 dev (BENCHMARKS.md).
            epochs: 10,
            lr: 2e-4,
            temperature: 0.2,
            batch: 128,
            group: 4,
            seed: 1,
        }
    }
}

/// The encoder's top block tuned on `texts`, each labelled with its
/// article (`labels[i]` for `texts[i]`), and the mean loss of each epoch.
pub(crate) fn tune(
    encoder: &Encoder,
    texts: &[&str],
    labels: &[usize],
    cfg: TuneConfig,
) -> (TopBlock, Vec<f32>) {
    let inputs = encoder.below_top_ffn(texts);
    let eps = encoder.layer_norm_eps();
    let mut block = encoder.top_block();
    let mut adam = Adam::new(&block);
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let mut losses = Vec::new();
    for _ in 0..cfg.epochs {
        let batches = batches(labels, cfg, &mut rng);
        let mut total = 0.0;
        for batch in &batches {
            let (loss, grad) = gradient(&block, &inputs, labels, batch, cfg.temperature, eps);
            adam.step(&mut block, &grad, cfg.lr);
            total += loss;
        }
        losses.push(total / batches.len().max(1) as f32);
    }
    (block, losses)
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

impl TopBlock {
    fn parts(&self) -> [&Vec<f32>; 6] {
        [
            &self.up_w,
            &self.up_b,
            &self.down_w,
            &self.down_b,
            &self.gamma,
            &self.beta,
        ]
    }

    fn parts_mut(&mut self) -> [&mut Vec<f32>; 6] {
        [
            &mut self.up_w,
            &mut self.up_b,
            &mut self.down_w,
            &mut self.down_b,
            &mut self.gamma,
            &mut self.beta,
        ]
    }

    fn zeros_like(&self) -> TopBlock {
        let z = |v: &Vec<f32>| vec![0.0; v.len()];
        TopBlock {
            up_w: z(&self.up_w),
            up_b: z(&self.up_b),
            down_w: z(&self.down_w),
            down_b: z(&self.down_b),
            gamma: z(&self.gamma),
            beta: z(&self.beta),
        }
    }
}

/// Adam (Kingma and Ba) without weight decay.
struct Adam {
    m: TopBlock,
    v: TopBlock,
    t: i32,
}

impl Adam {
    fn new(block: &TopBlock) -> Adam {
        Adam {
            m: block.zeros_like(),
            v: block.zeros_like(),
            t: 0,
        }
    }

    fn step(&mut self, block: &mut TopBlock, grad: &TopBlock, lr: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        let parts = block
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

/// The batch's contrastive loss and its gradient with respect to the block.
fn gradient(
    block: &TopBlock,
    inputs: &[Vec<f32>],
    labels: &[usize],
    batch: &[usize],
    temperature: f32,
    eps: f32,
) -> (f32, TopBlock) {
    let (d, ff) = (block.gamma.len(), block.up_b.len());
    // The batch's tokens stacked: y (n × d), and each question's rows.
    let mut y = Vec::new();
    let mut spans = Vec::with_capacity(batch.len());
    for &i in batch {
        let start = y.len() / d;
        y.extend_from_slice(&inputs[i]);
        spans.push(start..y.len() / d);
    }
    let n = y.len() / d;
    // Forward: a = y·Wupᵀ + b, u = gelu(a), z = u·Wdownᵀ + b + y, then the
    // norm's x̂ = (z - mean) / σ and the pooled, normalised γx̂ + β.
    let mut a = times_transposed(&y, &block.up_w, d, ff);
    for row in a.chunks_exact_mut(ff) {
        row.iter_mut().zip(&block.up_b).for_each(|(v, b)| *v += b);
    }
    let u: Vec<f32> = a.iter().map(|&v| gelu(v)).collect();
    let mut xhat = times_transposed(&u, &block.down_w, ff, d);
    let mut inv_sigma = vec![0.0; n];
    for ((row, yr), inv) in xhat
        .chunks_exact_mut(d)
        .zip(y.chunks_exact(d))
        .zip(&mut inv_sigma)
    {
        for ((v, b), y) in row.iter_mut().zip(&block.down_b).zip(yr) {
            *v += b + y;
        }
        let mean = row.iter().sum::<f32>() / d as f32;
        row.iter_mut().for_each(|v| *v -= mean);
        *inv = 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / d as f32 + eps).sqrt();
        row.iter_mut().for_each(|v| *v *= *inv);
    }
    let mut e = vec![0.0; batch.len() * d];
    let mut norms = vec![0.0; batch.len()];
    for ((p, span), norm) in e.chunks_exact_mut(d).zip(&spans).zip(&mut norms) {
        for row in xhat[span.start * d..span.end * d].chunks_exact(d) {
            for (((p, x), g), b) in p.iter_mut().zip(row).zip(&block.gamma).zip(&block.beta) {
                *p += g * x + b;
            }
        }
        *norm = p.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        p.iter_mut().for_each(|v| *v /= *norm);
    }
    let batch_labels: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
    let (loss, g_e) = contrastive(&e, &batch_labels, d, temperature);

    // Backward, through the normalisation, the pooling and the norm to z.
    let mut grad = block.zeros_like();
    let mut g_z = vec![0.0; n * d];
    for (j, span) in spans.iter().enumerate() {
        let (ej, gej) = (&e[j * d..][..d], &g_e[j * d..][..d]);
        let along = dot(ej, gej);
        let g_p: Vec<f32> = gej
            .iter()
            .zip(ej)
            .map(|(g, e)| (g - e * along) / norms[j])
            .collect();
        let g_xhat: Vec<f32> = g_p.iter().zip(&block.gamma).map(|(g, c)| g * c).collect();
        let mean_g = g_xhat.iter().sum::<f32>() / d as f32;
        for t in span.clone() {
            let xh = &xhat[t * d..][..d];
            let gammas = grad.gamma.iter_mut().zip(grad.beta.iter_mut());
            for ((gg, gb), (gp, x)) in gammas.zip(g_p.iter().zip(xh)) {
                *gg += gp * x;
                *gb += gp;
            }
            let mean_gx = dot(&g_xhat, xh) / d as f32;
            for ((gz, gx), x) in g_z[t * d..][..d].iter_mut().zip(&g_xhat).zip(xh) {
                *gz = inv_sigma[t] * (gx - mean_g - x * mean_gx);
            }
        }
    }
    // Through the down projection, GELU and the up projection.
    grad.down_b = column_sums(&g_z, d);
    grad.down_w = times_transposed(&transpose(&g_z, n, d), &transpose(&u, n, ff), n, ff);
    let g_u = times_transposed(&g_z, &transpose(&block.down_w, d, ff), d, ff);
    let g_a: Vec<f32> = g_u
        .iter()
        .zip(&a)
        .map(|(g, &x)| g * gelu_derivative(x))
        .collect();
    grad.up_b = column_sums(&g_a, ff);
    grad.up_w = times_transposed(&transpose(&g_a, n, ff), &transpose(&y, n, d), n, d);
    (loss, grad)
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

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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

    /// A small block (16 wide, 32 inside) with seeded weights, and inputs.
    fn small() -> (TopBlock, Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut r = |n: usize, scale: f32| -> Vec<f32> {
            (0..n).map(|_| (rng.f32() - 0.5) * scale).collect()
        };
        let (d, ff) = (16, 32);
        let block = TopBlock {
            up_w: r(ff * d, 0.6),
            up_b: r(ff, 0.2),
            down_w: r(d * ff, 0.6),
            down_b: r(d, 0.2),
            gamma: r(d, 0.4).into_iter().map(|v| v + 1.0).collect(),
            beta: r(d, 0.2),
        };
        let inputs = [3, 5, 2, 4, 3, 6].iter().map(|&n| r(n * d, 2.0)).collect();
        (block, inputs, vec![0, 0, 1, 1, 0, 2])
    }

    #[test]
    fn the_gradient_agrees_with_finite_differences_for_every_part_of_the_block() {
        let (block, inputs, labels) = small();
        let batch: Vec<usize> = (0..inputs.len()).collect();
        let loss_of = |b: &TopBlock| gradient(b, &inputs, &labels, &batch, 0.5, 1e-12).0;
        let (_, grad) = gradient(&block, &inputs, &labels, &batch, 0.5, 1e-12);
        for part in 0..6 {
            let len = block.parts()[part].len();
            for k in [0, len / 3, len - 1] {
                let h = 1e-2;
                let mut plus = block.clone();
                plus.parts_mut()[part][k] += h;
                let mut minus = block.clone();
                minus.parts_mut()[part][k] -= h;
                let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h);
                let analytic = grad.parts()[part][k];
                assert!(
                    (numeric - analytic).abs() <= 2e-3 + 0.05 * analytic.abs(),
                    "part {part}, entry {k}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn tuning_steps_lower_the_loss_of_the_batch_they_learn_from() {
        let (mut block, inputs, labels) = small();
        let batch: Vec<usize> = (0..inputs.len()).collect();
        let mut adam = Adam::new(&block);
        let first = gradient(&block, &inputs, &labels, &batch, 0.5, 1e-12).0;
        for _ in 0..20 {
            let (_, grad) = gradient(&block, &inputs, &labels, &batch, 0.5, 1e-12);
            adam.step(&mut block, &grad, 1e-2);
        }
        let last = gradient(&block, &inputs, &labels, &batch, 0.5, 1e-12).0;
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
