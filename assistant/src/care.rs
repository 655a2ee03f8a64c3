//! Duty of care: beside answering, every message is scored for two signals
//! a lender must act on (README, "Complaints and customers who need more
//! help"):
//!
//! * **dissatisfaction**: a complaint in the FCA's sense ("any expression of
//!   dissatisfaction, whether justified or not"), polite ones too; a question
//!   about the complaints process is not one;
//! * **vulnerability cues**, by the FCA's four drivers ([`CareCategory`]):
//!   health, life events, resilience (financial difficulty), capability.
//!
//! Each is a linear SVM over the engine's own kind of features (TF-IDF
//! beside the sentence embedding, which carries most of this), trained on the
//! built-in example sets (`care/complaint.csv`, `care/vulnerability.csv`,
//! hard negatives included; see `care/README.md`) plus any a knowledge-base
//! author adds (the same files in the knowledge base's `care/` folder). A
//! signal is raised when its margin over "none" passes a threshold chosen by
//! cross-validation on the training examples alone, so that at most
//! [`TARGET_FALSE_POSITIVES`] of their ordinary messages would be flagged.

use serde::{Deserialize, Serialize};

use super::encoder::{DIM, Encoder};
use super::features::{FeatureConfig, SparseVec, Vectorizer};
use super::svm::{OvrModel, SvmConfig, train_ovr};
use super::text::normalise;

/// A vulnerability driver (FCA FG21/1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CareCategory {
    /// Physical or mental illness, disability, addiction.
    Health,
    /// Bereavement, relationship breakdown, job loss, caring, new to the country.
    LifeEvents,
    /// Financial difficulty: arrears, over-indebtedness, fear of losing the business or home.
    Resilience,
    /// Trouble reading or understanding, poor English, low confidence with money or computers.
    Capability,
}

impl CareCategory {
    pub const ALL: [CareCategory; 4] = [
        Self::Health,
        Self::LifeEvents,
        Self::Resilience,
        Self::Capability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::LifeEvents => "life_events",
            Self::Resilience => "resilience",
            Self::Capability => "capability",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What one message showed, beside its answer: at most one of the two,
/// the one it shows more clearly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// An expression of dissatisfaction: a complaint.
    pub complaint: bool,
    /// A vulnerability cue, by driver.
    pub care: Option<CareCategory>,
}

/// Labelled examples of both signals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CareExamples {
    /// `(text, is a complaint)`.
    pub complaint: Vec<(String, bool)>,
    /// `(text, its cue, or none)`.
    pub vulnerability: Vec<(String, Option<CareCategory>)>,
}

/// The file names, in the built-in set and in a knowledge base's `care/` folder.
pub const COMPLAINT_FILE: &str = "complaint.csv";
pub const VULNERABILITY_FILE: &str = "vulnerability.csv";

/// What is wrong with an example file.
#[derive(Debug, thiserror::Error)]
pub enum CareDataError {
    #[error("{file}: not CSV")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("{file}: the header must be `text,label`")]
    Header { file: String },
    #[error("{file}, line {line}: unknown label {label:?} (expected {expected})")]
    Label {
        file: String,
        line: u64,
        label: String,
        expected: &'static str,
    },
}

fn rows(file: &str, text: &str) -> Result<Vec<(String, String, u64)>, CareDataError> {
    let csv_error = |source| CareDataError::Csv {
        file: file.to_owned(),
        source,
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().map_err(csv_error)?;
    let header: Vec<&str> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim())
        .collect();
    if header != ["text", "label"] {
        return Err(CareDataError::Header {
            file: file.to_owned(),
        });
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        out.push((record[0].to_owned(), record[1].trim().to_owned(), line));
    }
    Ok(out)
}

impl CareExamples {
    /// The built-in example sets (compiled in; a test parses them).
    pub fn builtin() -> CareExamples {
        CareExamples::parse(
            Some(include_str!("care/complaint.csv")),
            Some(include_str!("care/vulnerability.csv")),
            "built-in care/",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Examples from the two files' texts, either absent; `origin` names
    /// where they came from, for errors.
    pub fn parse(
        complaint: Option<&str>,
        vulnerability: Option<&str>,
        origin: &str,
    ) -> Result<CareExamples, CareDataError> {
        let mut examples = CareExamples::default();
        if let Some(text) = complaint {
            let file = format!("{origin}{COMPLAINT_FILE}");
            for (text, label, line) in rows(&file, text)? {
                let complaint = match label.as_str() {
                    "complaint" => true,
                    "none" => false,
                    _ => {
                        return Err(CareDataError::Label {
                            file,
                            line,
                            label,
                            expected: "complaint or none",
                        });
                    }
                };
                examples.complaint.push((text, complaint));
            }
        }
        if let Some(text) = vulnerability {
            let file = format!("{origin}{VULNERABILITY_FILE}");
            for (text, label, line) in rows(&file, text)? {
                let cue = match CareCategory::parse(&label) {
                    Some(category) => Some(category),
                    None if label == "none" => None,
                    None => {
                        return Err(CareDataError::Label {
                            file,
                            line,
                            label,
                            expected: "health, life_events, resilience, capability or none",
                        });
                    }
                };
                examples.vulnerability.push((text, cue));
            }
        }
        Ok(examples)
    }

    /// These examples and `more`'s.
    pub fn extend(&mut self, more: &CareExamples) {
        self.complaint.extend(more.complaint.iter().cloned());
        self.vulnerability
            .extend(more.vulnerability.iter().cloned());
    }

    pub fn is_empty(&self) -> bool {
        self.complaint.is_empty() && self.vulnerability.is_empty()
    }
}

/// The share of their training examples' ordinary messages the thresholds
/// allow to be flagged, in cross-validation.
pub const TARGET_FALSE_POSITIVES: f32 = 0.02;

/// Weight of the sentence embedding (unit length) beside the lexical
/// features (unit length). Chosen by cross-validation on the built-in sets
/// (recall at the 2 % target, complaint / vulnerability: 0.73 / 0.82 at 0,
/// 0.89 / 0.91 at 0.5, 0.90 / 0.92 at 1, 0.84 / 0.87 at 3, 0.76 / 0.75 at 6).
const SEMANTIC_WEIGHT: f32 = 1.0;

/// Folds of the cross-validation that picks the thresholds.
const FOLDS: usize = 5;

/// How one signal fares in cross-validation on its training examples (at
/// the threshold it then uses).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SignalReport {
    /// Examples of the signal, and how many of them were raised.
    pub positives: usize,
    pub recall: f32,
    /// Ordinary examples, and the share of them wrongly raised.
    pub negatives: usize,
    pub false_positives: f32,
    /// The margin over "none" a message needs.
    pub threshold: f32,
}

/// Both signals' cross-validation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CareReport {
    pub complaint: SignalReport,
    pub vulnerability: SignalReport,
}

/// One trained signal: an SVM with class 0 = none, and its threshold.
struct Detector {
    model: OvrModel,
    threshold: f32,
}

impl Detector {
    /// The best class other than none and its margin over none.
    fn best(&self, x: &SparseVec) -> (usize, f32) {
        let s = self.model.scores(x);
        (1..s.len())
            .map(|c| (c, s[c] - s[0]))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f32::NEG_INFINITY))
    }
}

/// The two detectors and the features they read.
pub struct CareModel {
    detectors: Option<Detectors>,
    report: CareReport,
}

struct Detectors {
    vectorizer: Vectorizer,
    with_embedding: bool,
    complaint: Detector,
    vulnerability: Detector,
}

fn svm_config() -> SvmConfig {
    SvmConfig {
        balance: 0.5,
        ..SvmConfig::default()
    }
}

/// Trains one detector over `xs` (labels: 0 = none), choosing its threshold
/// by cross-validation.
fn train_detector(
    xs: &[SparseVec],
    labels: &[usize],
    k: usize,
    dim: usize,
) -> (Detector, SignalReport) {
    let cfg = svm_config();
    let ones = vec![1.0; k];
    // Out-of-fold margins: each example scored by a model that never saw it.
    let mut margins = vec![0.0f32; xs.len()];
    for fold in 0..FOLDS {
        let train: Vec<usize> = (0..xs.len()).filter(|i| i % FOLDS != fold).collect();
        let txs: Vec<SparseVec> = train.iter().map(|&i| xs[i].clone()).collect();
        let tys: Vec<usize> = train.iter().map(|&i| labels[i]).collect();
        let detector = Detector {
            model: train_ovr(&txs, &tys, k, dim, &cfg, &ones),
            threshold: 0.0,
        };
        for i in (0..xs.len()).filter(|i| i % FOLDS == fold) {
            margins[i] = detector.best(&xs[i]).1;
        }
    }
    let mut negatives: Vec<f32> = (0..xs.len())
        .filter(|&i| labels[i] == 0)
        .map(|i| margins[i])
        .collect();
    negatives.sort_by(f32::total_cmp);
    // The smallest threshold that raises at most the target share of
    // ordinary examples, never below the SVM's own boundary: a message far
    // from every example (small talk, another domain) is not raised.
    let allowed = (negatives.len() as f32 * TARGET_FALSE_POSITIVES).floor() as usize;
    let threshold = negatives
        .len()
        .checked_sub(allowed + 1)
        .map_or(0.0, |i| negatives[i])
        .max(0.0);
    let raised = |i: usize| margins[i] > threshold;
    let positives: Vec<usize> = (0..xs.len()).filter(|&i| labels[i] != 0).collect();
    let report = SignalReport {
        positives: positives.len(),
        recall: ratio(
            positives.iter().filter(|&&i| raised(i)).count(),
            positives.len(),
        ),
        negatives: negatives.len(),
        false_positives: ratio(
            negatives.iter().filter(|&&m| m > threshold).count(),
            negatives.len(),
        ),
        threshold,
    };
    let detector = Detector {
        model: train_ovr(xs, labels, k, dim, &cfg, &ones),
        threshold,
    };
    (detector, report)
}

fn ratio(n: usize, of: usize) -> f32 {
    if of == 0 { 0.0 } else { n as f32 / of as f32 }
}

impl CareModel {
    /// Trains both detectors on `examples`, with the encoder's embeddings
    /// when there is one (the knowledge base's engine passes its own).
    pub fn train(examples: &CareExamples, encoder: Option<&Encoder>) -> CareModel {
        // Each set's messages are negatives for the other detector (a
        // cue is not a complaint; a complaint is not a cue; the complaints
        // process's hard negatives teach both), and so are the engine's
        // off-topic examples: small talk is neither.
        let off_topic = || crate::oos::training_examples().map(|t| (t, 0));
        let complaint_set: Vec<(&str, usize)> = examples
            .complaint
            .iter()
            .map(|(t, c)| (t.as_str(), usize::from(*c)))
            .chain(examples.vulnerability.iter().map(|(t, _)| (t.as_str(), 0)))
            .chain(off_topic())
            .collect();
        let care_set: Vec<(&str, usize)> = examples
            .vulnerability
            .iter()
            .map(|(t, c)| (t.as_str(), c.map_or(0, |c| 1 + c as usize)))
            .chain(examples.complaint.iter().map(|(t, _)| (t.as_str(), 0)))
            .chain(off_topic())
            .collect();
        let complaint_texts: Vec<String> =
            complaint_set.iter().map(|(t, _)| normalise(t)).collect();
        let care_texts: Vec<String> = care_set.iter().map(|(t, _)| normalise(t)).collect();
        let all: Vec<String> = complaint_texts.iter().chain(&care_texts).cloned().collect();
        let vectorizer = Vectorizer::fit(&all, FeatureConfig::default());
        let mut dim = vectorizer.dim();
        let features = |texts: &[String]| -> Vec<SparseVec> {
            let mut xs: Vec<SparseVec> = texts.iter().map(|t| vectorizer.transform(t)).collect();
            if let Some(encoder) = encoder {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                for (x, e) in xs.iter_mut().zip(encoder.embed_all(&refs)) {
                    append(x, vectorizer.dim(), &e);
                }
            }
            xs
        };
        let complaint_xs = features(&complaint_texts);
        let care_xs = features(&care_texts);
        if encoder.is_some() {
            dim += DIM;
        }
        let complaint_labels: Vec<usize> = complaint_set.iter().map(|(_, l)| *l).collect();
        let care_labels: Vec<usize> = care_set.iter().map(|(_, l)| *l).collect();
        let (complaint, complaint_report) =
            train_detector(&complaint_xs, &complaint_labels, 2, dim);
        let (vulnerability, care_report) = train_detector(&care_xs, &care_labels, 5, dim);
        CareModel {
            detectors: Some(Detectors {
                vectorizer,
                with_embedding: encoder.is_some(),
                complaint,
                vulnerability,
            }),
            report: CareReport {
                complaint: complaint_report,
                vulnerability: care_report,
            },
        }
    }

    /// The signals of a normalised message whose sentence embedding is
    /// `embedding` (the engine's, computed once per message).
    pub fn signals(&self, normalised: &str, embedding: Option<&[f32]>) -> Signals {
        let Some(d) = &self.detectors else {
            return Signals::default();
        };
        if normalised.is_empty() {
            return Signals::default();
        }
        let mut x = d.vectorizer.transform(normalised);
        if d.with_embedding
            && let Some(embedding) = embedding
        {
            append(&mut x, d.vectorizer.dim(), embedding);
        }
        let complaint = d.complaint.best(&x).1 - d.complaint.threshold;
        let (category, care) = d.vulnerability.best(&x);
        let care = care - d.vulnerability.threshold;
        // Raised together, the clearer one stands: "the repayments have
        // become unaffordable" is difficulty, not dissatisfaction.
        Signals {
            complaint: complaint > 0.0 && complaint >= care,
            care: (care > 0.0 && care > complaint).then(|| CareCategory::ALL[category - 1]),
        }
    }

    /// Detectors that raise nothing: for measuring the answer engine alone
    /// (the BANKING77 evaluation, whose questions are another bank's).
    pub fn silent() -> CareModel {
        CareModel {
            detectors: None,
            report: CareReport::default(),
        }
    }

    /// How both detectors fared in cross-validation on their examples.
    pub fn report(&self) -> &CareReport {
        &self.report
    }
}

fn append(x: &mut SparseVec, offset: usize, embedding: &[f32]) {
    x.idx
        .extend((offset..offset + embedding.len()).map(|i| i as u32));
    x.val.extend(embedding.iter().map(|v| v * SEMANTIC_WEIGHT));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_sets_parse_with_hundreds_of_examples_of_each_kind() {
        let examples = CareExamples::builtin();
        let complaints = examples.complaint.iter().filter(|(_, c)| *c).count();
        assert!(complaints >= 300, "{complaints}");
        assert!(examples.complaint.len() - complaints >= 300);
        for category in CareCategory::ALL {
            let n = examples
                .vulnerability
                .iter()
                .filter(|(_, c)| *c == Some(category))
                .count();
            assert!(n >= 80, "{category:?}: {n}");
        }
    }

    #[test]
    fn a_bad_label_or_header_names_the_file_and_line() {
        let err = CareExamples::parse(Some("text,label\nhello,angry\n"), None, "kb/care/")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kb/care/complaint.csv, line 2") && err.contains("angry"),
            "{err}"
        );
        let err = CareExamples::parse(None, Some("message,kind\nx,none\n"), "kb/care/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("header"), "{err}");
    }
}
