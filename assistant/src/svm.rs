//! One-vs-rest linear SVM trained by dual coordinate descent
//! (Hsieh et al. 2008, the LIBLINEAR `-s 1` / `-s 3` solver), sparse,
//! with shrinking, a bias feature and per-class sample weights.
//!
//! Deterministic: every binary problem uses its own fixed-seed shuffle, and
//! the result does not depend on how many threads are used.

use super::features::SparseVec;

#[derive(Clone, Debug)]
pub struct SvmConfig {
    /// Regularisation constant.
    pub c: f32,
    /// true: squared hinge (L2-loss), false: hinge (L1-loss).
    pub squared_hinge: bool,
    /// Stopping tolerance on the projected gradient spread.
    pub eps: f32,
    pub max_epochs: usize,
    /// Value of the constant bias feature (0 disables the bias).
    pub bias: f32,
    /// Exponent of class-balanced sample weights: weight of class c is
    /// `(n / (k * n_c))^balance` (0 = unweighted, 1 = fully balanced).
    pub balance: f32,
    pub threads: usize,
}

impl Default for SvmConfig {
    fn default() -> Self {
        SvmConfig {
            c: 1.0,
            squared_hinge: true,
            eps: 0.1,
            max_epochs: 60,
            bias: 1.0,
            balance: 0.0,
            threads: 2,
        }
    }
}

/// Trained weights, stored feature-major (`w[f * k + class]`) so scoring a
/// sparse vector touches one contiguous row per feature.
#[derive(Clone, Debug)]
pub struct OvrModel {
    k: usize,
    dim: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl OvrModel {
    /// Decision values (margins) of every class.
    pub fn scores(&self, x: &SparseVec) -> Vec<f32> {
        let mut s = self.bias.clone();
        for (&i, &v) in x.idx.iter().zip(&x.val) {
            let i = i as usize;
            if i >= self.dim {
                continue;
            }
            let row = &self.w[i * self.k..(i + 1) * self.k];
            for (acc, &wk) in s.iter_mut().zip(row) {
                *acc += v * wk;
            }
        }
        s
    }
}

/// Trains one binary problem; returns (w, b).
fn train_binary(
    xs: &[SparseVec],
    ys: &[i8],
    cs: &[f32],
    dim: usize,
    cfg: &SvmConfig,
    seed: u64,
) -> (Vec<f32>, f32) {
    let l = xs.len();
    let mut w = vec![0f32; dim];
    let mut b = 0f32;
    let bias_sq = cfg.bias * cfg.bias;
    let mut alpha = vec![0f32; l];
    let (diag, upper): (Vec<f32>, Vec<f32>) = cs
        .iter()
        .map(|&c| {
            if cfg.squared_hinge {
                (0.5 / c, f32::INFINITY)
            } else {
                (0.0, c)
            }
        })
        .unzip();
    let qd: Vec<f32> = xs
        .iter()
        .zip(&diag)
        .map(|(x, d)| x.norm_sq() + bias_sq + d)
        .collect();
    let mut index: Vec<usize> = (0..l).collect();
    let mut active = l;
    let mut pg_max_old = f32::INFINITY;
    let mut pg_min_old = f32::NEG_INFINITY;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut epoch = 0;
    while epoch < cfg.max_epochs {
        let mut pg_max_new = f32::NEG_INFINITY;
        let mut pg_min_new = f32::INFINITY;
        for i in 0..active {
            let j = rng.usize(i..active);
            index.swap(i, j);
        }
        let mut s = 0;
        while s < active {
            let i = index[s];
            let yi = ys[i] as f32;
            let x = &xs[i];
            let g = yi * (x.dot_dense(&w) + b * cfg.bias) - 1.0 + alpha[i] * diag[i];
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else if alpha[i] == upper[i] {
                if g < pg_min_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g > 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pg_max_new = pg_max_new.max(pg);
            pg_min_new = pg_min_new.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).clamp(0.0, upper[i]);
                let d = (alpha[i] - old) * yi;
                for (&f, &v) in x.idx.iter().zip(&x.val) {
                    w[f as usize] += d * v;
                }
                b += d * cfg.bias;
            }
            s += 1;
        }
        epoch += 1;
        if pg_max_new - pg_min_new <= cfg.eps {
            if active == l {
                break;
            }
            active = l;
            pg_max_old = f32::INFINITY;
            pg_min_old = f32::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max_new <= 0.0 {
            f32::INFINITY
        } else {
            pg_max_new
        };
        pg_min_old = if pg_min_new >= 0.0 {
            f32::NEG_INFINITY
        } else {
            pg_min_new
        };
    }
    (w, b * cfg.bias)
}

/// Trains `k` one-vs-rest problems over `xs` with labels `labels[i] < k`.
///
/// `extra_weight[c]` multiplies the sample weight of class `c` (1 = none).
pub fn train_ovr(
    xs: &[SparseVec],
    labels: &[usize],
    k: usize,
    dim: usize,
    cfg: &SvmConfig,
    extra_weight: &[f32],
) -> OvrModel {
    let n = xs.len();
    let mut counts = vec![0usize; k];
    for &y in labels {
        counts[y] += 1;
    }
    let class_w: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                (n as f32 / (k as f32 * c as f32)).powf(cfg.balance)
            }
        })
        .collect();
    let cs: Vec<f32> = labels
        .iter()
        .map(|&y| cfg.c * class_w[y] * extra_weight.get(y).copied().unwrap_or(1.0))
        .collect();
    let threads = cfg.threads.max(1).min(k.max(1));
    let mut per_class: Vec<Option<(Vec<f32>, f32)>> = vec![None; k];
    std::thread::scope(|scope| {
        let chunks: Vec<_> = per_class.chunks_mut(k.div_ceil(threads).max(1)).collect();
        let mut start = 0;
        for chunk in chunks {
            let first = start;
            start += chunk.len();
            let cs = &cs;
            scope.spawn(move || {
                for (off, slot) in chunk.iter_mut().enumerate() {
                    let class = first + off;
                    let ys: Vec<i8> = labels
                        .iter()
                        .map(|&y| if y == class { 1 } else { -1 })
                        .collect();
                    *slot = Some(train_binary(xs, &ys, cs, dim, cfg, 0x5EED + class as u64));
                }
            });
        }
    });
    let mut w = vec![0f32; dim * k];
    let mut bias = vec![0f32; k];
    for (class, slot) in per_class.into_iter().enumerate() {
        let (wc, bc) = slot.expect("every class trained");
        for (f, v) in wc.into_iter().enumerate() {
            w[f * k + class] = v;
        }
        bias[class] = bc;
    }
    OvrModel { k, dim, w, bias }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(pairs: &[(u32, f32)]) -> SparseVec {
        SparseVec {
            idx: pairs.iter().map(|p| p.0).collect(),
            val: pairs.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn separates_simple_classes() {
        let xs = vec![
            sv(&[(0, 1.0)]),
            sv(&[(0, 0.9), (2, 0.1)]),
            sv(&[(1, 1.0)]),
            sv(&[(1, 0.8), (2, 0.2)]),
            sv(&[(2, 1.0)]),
        ];
        let labels = vec![0, 0, 1, 1, 2];
        for squared_hinge in [true, false] {
            let cfg = SvmConfig {
                squared_hinge,
                ..SvmConfig::default()
            };
            let m = train_ovr(&xs, &labels, 3, 3, &cfg, &[]);
            for (x, &y) in xs.iter().zip(&labels) {
                let s = m.scores(x);
                let best = (0..3).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
                assert_eq!(best, y);
            }
        }
    }
}
