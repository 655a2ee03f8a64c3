//! Knowing what it does not know: out-of-scope recall at fixed in-scope
//! handoff rates, and the area under the curve, for each measure of how in
//! scope a message looks ([`crate::engine::Scope`]).
//!
//! `support-chat eval` reports the curve of the engine's own score; the
//! tests compare other measures with it ([`compare`]).

use serde::Serialize;

// The comparison of measures behind the rule's choice; only tests run it.
#[cfg(test)]
pub(super) mod compare;

/// The in-scope handoff rates the curve is read at.
pub const RATES: [f64; 3] = [0.02, 0.05, 0.10];

/// Out-of-scope recall at each of [`RATES`] and the area under the curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Curve {
    /// Recall with at most 2, 5 and 10 % of in-scope questions handed off.
    pub recall_at: [f64; 3],
    /// The chance that an in-scope question scores above an out-of-scope one.
    pub auc: f64,
}

/// Reads the curve of one measure: in-scope and out-of-scope scores, higher
/// meaning more in scope; a message under the threshold is handed off.
pub fn curve(in_scope: &[f32], out_of_scope: &[f32]) -> Curve {
    let mut sorted = in_scope.to_vec();
    sorted.sort_by(f32::total_cmp);
    let recall_at = RATES.map(|rate| {
        // The threshold hands off at most `rate` of the in-scope scores.
        let k = (rate * sorted.len() as f64).floor() as usize;
        let threshold = sorted.get(k).copied().unwrap_or(f32::INFINITY);
        let caught = out_of_scope.iter().filter(|&&s| s < threshold).count();
        caught as f64 / out_of_scope.len().max(1) as f64
    });
    let mut pairs = 0.0;
    for &o in out_of_scope {
        let below = sorted.partition_point(|&s| s < o);
        let equal = sorted[below..].partition_point(|&s| s <= o);
        pairs += (sorted.len() - below - equal) as f64 + equal as f64 / 2.0;
    }
    let auc = pairs / (sorted.len() * out_of_scope.len()).max(1) as f64;
    Curve { recall_at, auc }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_reads_recall_at_each_handoff_rate_and_the_area() {
        let in_scope: Vec<f32> = (0..100).map(|i| i as f32).collect();
        // Half the out-of-scope scores under every in-scope one, half above all.
        let oos = [-1.0, -2.0, 200.0, 300.0];
        let c = curve(&in_scope, &oos);
        assert_eq!(c.recall_at, [0.5, 0.5, 0.5]);
        assert!((c.auc - 0.5).abs() < 1e-9, "{c:?}");
        // Scores 0..100: a threshold at the 5th hands off 0..4, catching 3.5.
        let c = curve(&in_scope, &[3.5, 50.0]);
        assert_eq!(c.recall_at, [0.0, 0.5, 0.5]);
        let perfect = curve(&in_scope, &[-5.0]);
        assert_eq!(perfect.auc, 1.0);
    }
}
