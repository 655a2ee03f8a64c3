//! The top layers as tuning sees them ([`TopLayer`]: every weight in
//! PyTorch's layout, `tune.rs`), read from the model and made ready to run
//! again ([`TunedLayer`]).

use super::{Bert, BertError, LANES, Layer, Linear, Norm, TunedLayer};

impl Bert {
    /// The top `k` layers as they are now, the lowest first.
    pub(crate) fn top_layers(&self, k: usize) -> Vec<TopLayer> {
        self.layers[self.layers.len() - k..]
            .iter()
            .map(|l| TopLayer {
                heads: self.heads,
                qkv_w: l.qkv.weight(),
                qkv_b: l.qkv.b.clone(),
                out_w: l.attention_out.weight(),
                out_b: l.attention_out.b.clone(),
                attention_gamma: l.attention_norm.gamma.clone(),
                attention_beta: l.attention_norm.beta.clone(),
                up_w: l.up.weight(),
                up_b: l.up.b.clone(),
                down_w: l.down.weight(),
                down_b: l.down.b.clone(),
                gamma: l.output_norm.gamma.clone(),
                beta: l.output_norm.beta.clone(),
            })
            .collect()
    }

    /// Replaces the top layers (tuned ones, of [`Bert::top_layers`]'s
    /// shapes, the lowest first).
    #[cfg(test)]
    pub(crate) fn set_top_layers(&mut self, tuned: &[TopLayer]) -> Result<(), BertError> {
        let first = self.layers.len() - tuned.len();
        for (i, t) in tuned.iter().enumerate() {
            self.layers[first + i] = self.layer_of(first + i, t)?;
        }
        Ok(())
    }

    /// The top layer `t` (of [`Bert::top_layers`]`(1)`'s shapes) made ready
    /// to run beside the model's own.
    pub(crate) fn tuned_layer(&self, t: &TopLayer) -> Result<TunedLayer, BertError> {
        let top = self.layers.len() - 1;
        let own = &self.layers[top];
        let same_attention = t.qkv_w == own.qkv.weight()
            && t.qkv_b == own.qkv.b
            && t.out_w == own.attention_out.weight()
            && t.out_b == own.attention_out.b
            && t.attention_gamma == own.attention_norm.gamma
            && t.attention_beta == own.attention_norm.beta;
        Ok(TunedLayer {
            layer: self.layer_of(top, t)?,
            same_attention,
        })
    }

    /// Layer `i` with `t`'s weights, which must have its shapes.
    fn layer_of(&self, i: usize, t: &TopLayer) -> Result<Layer, BertError> {
        let (d, heads) = (self.hidden, self.heads);
        let ff = self.layers[i].up.outputs;
        let shapes = [
            (t.heads, heads),
            (t.qkv_w.len(), 3 * d * d),
            (t.qkv_b.len(), 3 * d),
            (t.out_w.len(), d * d),
            (t.out_b.len(), d),
            (t.attention_gamma.len(), d),
            (t.attention_beta.len(), d),
            (t.up_w.len(), ff * d),
            (t.up_b.len(), ff),
            (t.down_w.len(), d * ff),
            (t.down_b.len(), d),
            (t.gamma.len(), d),
            (t.beta.len(), d),
        ];
        if let Some((found, expected)) = shapes.into_iter().find(|(f, e)| f != e) {
            return Err(BertError::Shape {
                name: "tuned layer".to_owned(),
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
        let norm = |gamma: &Vec<f32>, beta: &Vec<f32>| Norm {
            gamma: gamma.clone(),
            beta: beta.clone(),
        };
        Ok(Layer {
            qkv: Linear::new(&t.qkv_w, t.qkv_b.clone(), d, 3 * d)?,
            attention_out: Linear::new(&t.out_w, t.out_b.clone(), d, d)?,
            attention_norm: norm(&t.attention_gamma, &t.attention_beta),
            up: Linear::new(&t.up_w, t.up_b.clone(), d, ff)?,
            down: Linear::new(&t.down_w, t.down_b.clone(), ff, d)?,
            output_norm: norm(&t.gamma, &t.beta),
        })
    }
}

impl Linear {
    /// The weight in PyTorch's layout again (`outputs × inputs`).
    fn weight(&self) -> Vec<f32> {
        let mut w = vec![0.0; self.outputs * self.inputs];
        for (p, panel) in self.panels.chunks_exact(self.inputs * LANES).enumerate() {
            for (i, lanes) in panel.chunks_exact(LANES).enumerate() {
                for (j, v) in lanes.iter().enumerate() {
                    w[(p * LANES + j) * self.inputs + i] = *v;
                }
            }
        }
        w
    }
}

/// One of the top layers, each weight in PyTorch's layout (out × in,
/// row-major): what tuning changes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TopLayer {
    /// Attention heads (not tuned).
    pub(crate) heads: usize,
    /// Query, key and value stacked: `3·hidden × hidden`, then `3·hidden`.
    pub(crate) qkv_w: Vec<f32>,
    pub(crate) qkv_b: Vec<f32>,
    /// `hidden × hidden`, then `hidden`.
    pub(crate) out_w: Vec<f32>,
    pub(crate) out_b: Vec<f32>,
    pub(crate) attention_gamma: Vec<f32>,
    pub(crate) attention_beta: Vec<f32>,
    /// `ff × hidden`, then `ff`.
    pub(crate) up_w: Vec<f32>,
    pub(crate) up_b: Vec<f32>,
    /// `hidden × ff`, then `hidden`.
    pub(crate) down_w: Vec<f32>,
    pub(crate) down_b: Vec<f32>,
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
}
