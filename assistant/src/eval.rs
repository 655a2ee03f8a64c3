//! Offline evaluation over `text,category` CSV files, through the same
//! `Engine::reply` path the server uses. It measures answering: the
//! duty-of-care detectors are silent here (their own held-out set measures
//! them, `tests::care`), since another bank's questions carry no such labels.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::answer::{Answer, Outcome};
use super::care::CareModel;
use super::encoder::Encoder;
use super::engine::{Engine, EngineConfig};
use super::kb::{Article, KbError, KnowledgeBase};
use super::message::{Message, MessageError};
use super::tune::TuneConfig;

pub mod scope;

/// Category name of out-of-scope test rows.
const OOS_CATEGORY: &str = "oos";

/// Evaluation result. Serialises to one JSON object with the keys in the
/// documented order.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EvalReport {
    /// Training rows used (all, or the --shots draw), out-of-scope rows aside.
    pub train_n: usize,
    pub n: usize,
    pub in_scope_n: usize,
    /// Answered outright with the right category (no handoff, no clarification).
    pub in_scope_accuracy: f64,
    pub oos_n: usize,
    /// Share of out-of-scope rows that were handed off.
    pub oos_recall: f64,
    pub train_ms: f64,
    /// Median microseconds per `reply`.
    pub us_per_query: f64,
    /// Classifier top-1 on in-scope rows, ignoring handoff/clarification.
    pub top1_accuracy: f64,
    pub handoff_rate_in_scope: f64,
    pub clarify_rate_in_scope: f64,
    /// Out-of-scope recall at 2, 5 and 10 % of in-scope rows handed off,
    /// and the area under that curve, by the out-of-scope rule's score
    /// (`None` without rows of both kinds).
    pub oos_curve: Option<scope::Curve>,
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{file}: {source}")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("{file}: the header must be `text,category`")]
    Header { file: String },
    #[error("{file}:{line}: {source}")]
    Message {
        file: String,
        line: u64,
        #[source]
        source: MessageError,
    },
    #[error(transparent)]
    Kb(#[from] KbError),
}

/// Reads a `text,category` CSV with a header row (RFC 4180 quoting, CRLF or
/// LF); every text must be a message the server would accept.
fn read_labelled_csv(path: &Path) -> Result<Vec<(Message, String)>, EvalError> {
    let file = path.display().to_string();
    let csv_error = |source| EvalError::Csv {
        file: file.clone(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let header = reader.headers().map_err(csv_error)?;
    let header: Vec<&str> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim())
        .collect();
    if header != ["text", "category"] {
        return Err(EvalError::Header { file });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        // Every record has the header's two fields (the reader checks it).
        let (text, category) = (&record[0], &record[1]);
        let message = Message::parse(text, usize::MAX).map_err(|source| EvalError::Message {
            file: file.clone(),
            line,
            source,
        })?;
        rows.push((message, category.trim().to_owned()));
    }
    Ok(rows)
}

/// Builds a knowledge base with one article per category.
fn kb_from_rows(rows: &[(Message, String)]) -> Result<KnowledgeBase, EvalError> {
    let mut by_cat: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (t, c) in rows {
        if c != OOS_CATEGORY {
            by_cat.entry(c).or_default().push(t.as_str().to_owned());
        }
    }
    let articles: Vec<Article> = by_cat
        .into_iter()
        .map(|(c, qs)| Article {
            id: c.to_string(),
            title: c.to_string(),
            questions: qs,
            suggestions: Vec::new(),
            links: Vec::new(),
            handoff: false,
            body: c.to_string(),
        })
        .collect();
    let files: Vec<String> = articles
        .iter()
        .map(|a| format!("category {}", a.id))
        .collect();
    Ok(KnowledgeBase::from_articles(articles, &files)?)
}

/// The few-shot setting: train on `per_category` examples of each category,
/// drawn with `seed` (the same seed, the same draw).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shots {
    pub per_category: usize,
    pub seed: u64,
}

/// The near-domain protocol: `intents` whole categories of the training
/// file, drawn with `split`, are left out of training, and their test rows
/// count as out of scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldOut {
    pub intents: usize,
    pub split: u64,
}

/// Trains on `train_csv` (all of it, or `shots` per category, less the
/// held-out intents), with `tune` the encoder's top layer tuned to it as
/// served ([`Engine::tuned`]), and answers every row of `test_csv` with
/// empty history through `Engine::reply`.
pub fn evaluate(
    train_csv: &Path,
    test_csv: &Path,
    shots: Option<Shots>,
    hold_out: Option<HoldOut>,
    encoder: Option<&Arc<Encoder>>,
    tune: Option<TuneConfig>,
) -> Result<EvalReport, EvalError> {
    evaluate_with(
        train_csv,
        &[test_csv],
        shots,
        hold_out,
        EngineConfig::default(),
        encoder,
        tune,
    )
}

/// The categories `hold_out` leaves out of `train` (a seeded draw).
fn held_out_categories(
    train: &[(Message, String)],
    hold_out: HoldOut,
) -> std::collections::BTreeSet<String> {
    let mut categories: Vec<&String> = train
        .iter()
        .map(|(_, c)| c)
        .filter(|c| *c != OOS_CATEGORY)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    fastrand::Rng::with_seed(hold_out.split).shuffle(&mut categories);
    categories
        .into_iter()
        .take(hold_out.intents)
        .cloned()
        .collect()
}

/// `shots.per_category` rows of each category of `rows`, drawn with
/// `shots.seed`, in their original order (categories with fewer keep all).
fn draw<T>(rows: Vec<(T, String)>, shots: Shots) -> Vec<(T, String)> {
    let mut by_category: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, category)) in rows.iter().enumerate() {
        by_category.entry(category.clone()).or_default().push(i);
    }
    let mut rng = fastrand::Rng::with_seed(shots.seed);
    let mut kept = vec![false; rows.len()];
    for indices in by_category.values_mut() {
        rng.shuffle(indices);
        for &i in indices.iter().take(shots.per_category) {
            kept[i] = true;
        }
    }
    rows.into_iter()
        .zip(kept)
        .filter_map(|(row, keep)| keep.then_some(row))
        .collect()
}

/// `evaluate` with several test files and an explicit configuration.
fn evaluate_with(
    train_csv: &Path,
    test_csvs: &[&Path],
    shots: Option<Shots>,
    hold_out: Option<HoldOut>,
    cfg: EngineConfig,
    encoder: Option<&Arc<Encoder>>,
    tune: Option<TuneConfig>,
) -> Result<EvalReport, EvalError> {
    let mut train = read_labelled_csv(train_csv)?;
    let mut test = Vec::new();
    for p in test_csvs {
        test.extend(read_labelled_csv(p)?);
    }
    if let Some(hold_out) = hold_out {
        let held = held_out_categories(&train, hold_out);
        train.retain(|(_, c)| !held.contains(c));
        for (_, c) in &mut test {
            if held.contains(c) {
                *c = OOS_CATEGORY.to_owned();
            }
        }
    }
    if let Some(shots) = shots {
        train = draw(train, shots);
    }
    let kb = kb_from_rows(&train)?;
    let t0 = Instant::now();
    let care = Arc::new(CareModel::silent());
    let engine = Engine::served(kb, cfg, encoder.cloned(), care, tune);
    let train_ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(EvalReport {
        train_n: train.iter().filter(|(_, c)| c != OOS_CATEGORY).count(),
        ..evaluate_engine(&engine, &test, train_ms)
    })
}

/// Scores an already trained engine on labelled rows.
fn evaluate_engine(engine: &Engine, test: &[(Message, String)], train_ms: f64) -> EvalReport {
    let (mut in_n, mut in_ok, mut oos_n, mut oos_ok) = (0usize, 0usize, 0usize, 0usize);
    let (mut top1, mut handoffs, mut clarifies) = (0usize, 0usize, 0usize);
    let mut times: Vec<f64> = Vec::with_capacity(test.len());
    let (mut in_scores, mut oos_scores) = (Vec::new(), Vec::new());
    for (text, cat) in test {
        let t = Instant::now();
        let Answer { reply, turn, .. } = engine.reply(text, &[]);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        let score = engine.scope(text.as_str()).score;
        if cat == OOS_CATEGORY {
            oos_scores.push(score);
            oos_n += 1;
            if reply.handoff {
                oos_ok += 1;
            }
            continue;
        }
        in_scores.push(score);
        in_n += 1;
        match &turn.outcome {
            Outcome::Answered { article } if article == cat && !reply.handoff => in_ok += 1,
            Outcome::Clarify { .. } => clarifies += 1,
            Outcome::Handoff { .. } => handoffs += 1,
            _ => {}
        }
        let sc = engine.classify(&super::text::normalise(text.as_str()));
        if engine
            .knowledge_base()
            .articles()
            .get(sc.best)
            .map(|a| a.id.as_str())
            == Some(cat)
        {
            top1 += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    let median = if times.is_empty() {
        0.0
    } else if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    EvalReport {
        train_n: 0,
        n: test.len(),
        in_scope_n: in_n,
        in_scope_accuracy: ratio(in_ok, in_n),
        oos_n,
        oos_recall: ratio(oos_ok, oos_n),
        train_ms,
        us_per_query: median,
        top1_accuracy: ratio(top1, in_n),
        handoff_rate_in_scope: ratio(handoffs, in_n),
        clarify_rate_in_scope: ratio(clarifies, in_n),
        oos_curve: (!in_scores.is_empty() && !oos_scores.is_empty())
            .then(|| scope::curve(&in_scores, &oos_scores)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A CSV file of `text` in a fresh temporary folder.
    fn csv_file(text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("eval-{}-{}.csv", std::process::id(), text.len()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn csv_quotes_commas_and_crlf() {
        let path = csv_file("text,category\r\n\"a, \"\"b\"\"\",x\r\nplain,y\n\"multi\nline\",z");
        let rows = read_labelled_csv(&path).unwrap();
        let rows: Vec<(&str, &str)> = rows.iter().map(|(m, c)| (m.as_str(), c.as_str())).collect();
        assert_eq!(
            rows,
            [("a, \"b\"", "x"), ("plain", "y"), ("multi\nline", "z")]
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_bad_header_a_short_row_or_an_empty_text_names_the_file_and_line() {
        for (text, needle) in [
            (
                "question,label\nhi,x\n",
                "the header must be `text,category`",
            ),
            ("text,category\nhi,x\nalone\n", "found record with 1 fields"),
            (
                "text,category\nhi,x\n\"  \",y\n",
                ":3: The message is empty.",
            ),
        ] {
            let path = csv_file(text);
            let error = read_labelled_csv(&path).unwrap_err().to_string();
            assert!(error.starts_with(&path.display().to_string()), "{error}");
            assert!(error.contains(needle), "{text:?}: {error}");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn report_json_key_order() {
        let r = EvalReport {
            train_n: 1,
            n: 1,
            in_scope_n: 1,
            in_scope_accuracy: 1.0,
            oos_n: 0,
            oos_recall: 0.0,
            train_ms: 1.0,
            us_per_query: 2.0,
            top1_accuracy: 1.0,
            handoff_rate_in_scope: 0.0,
            clarify_rate_in_scope: 0.0,
            oos_curve: None,
        };
        let j = serde_json::to_string(&r).unwrap();
        let keys = [
            "\"train_n\"",
            "\"n\"",
            "\"in_scope_n\"",
            "\"in_scope_accuracy\"",
            "\"oos_n\"",
            "\"oos_recall\"",
            "\"train_ms\"",
            "\"us_per_query\"",
            "\"top1_accuracy\"",
        ];
        let pos: Vec<usize> = keys.iter().map(|k| j.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{j}");
    }

    fn banking77_dir() -> PathBuf {
        std::env::var_os("BANKING77_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                crate::test_support::repository_root().join("../shared/data/banking77")
            })
    }

    /// `train.csv` and `dev.csv` of BANKING77, or `None` (outside CI only)
    /// when `../shared` is not beside the project.
    fn banking77() -> Option<(PathBuf, PathBuf)> {
        let dir = banking77_dir();
        let (train, dev) = (dir.join("train.csv"), dir.join("dev.csv"));
        if train.exists() && dev.exists() {
            return Some((train, dev));
        }
        // CI always has ../shared beside the clone: there a missing file is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "banking77 not found at {}",
            dir.display()
        );
        eprintln!("note: banking77 not found at {}; skipping", dir.display());
        None
    }

    /// The tests' encoder with every text of BANKING77's train and dev and
    /// of `oos_dev.csv` embedded, once, before any test reads them: tests
    /// that start together would each encode the same 10,000 texts
    /// otherwise. The embeddings are kept in
    /// `target/embeddings/banking77.bin` between runs (encoding them all
    /// takes about a minute on two cores).
    pub(super) fn banking77_encoder() -> Arc<Encoder> {
        static EMBEDDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        let encoder = super::super::encoder::test_encoder();
        EMBEDDED.get_or_init(|| {
            let root = crate::test_support::repository_root();
            let cache = root.join("target/embeddings/banking77.bin");
            std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
            if let Err(error) = encoder.load_cache(&cache) {
                eprintln!("{}: {error}; encoding without it", cache.display());
            }
            let dir = banking77_dir();
            let files = [dir.join("train.csv"), dir.join("dev.csv"), oos_dev()];
            let texts: Vec<String> = files
                .iter()
                .flat_map(|file| read_labelled_csv(file).unwrap())
                .map(|(text, _)| super::super::text::normalise(text.as_str()))
                .collect();
            encoder.embed_all(&texts.iter().map(String::as_str).collect::<Vec<_>>());
            encoder.save_cache(&cache).unwrap();
        });
        encoder
    }

    fn oos_dev() -> PathBuf {
        crate::test_support::repository_root().join("tests/data/oos_dev.csv")
    }

    /// Out-of-scope recall on `oos_dev.csv` of the lexical engine before the
    /// encoder came (trained on all of BANKING77's train, and on the sample
    /// knowledge base): the encoder must not lower it.
    const LEXICAL_OOS_RECALL_BANKING77: f64 = 0.914;
    const OOS_RECALL_BANKING77_ISSUE_20: f64 = 147.0 / 151.0;
    const LEXICAL_OOS_RECALL_SAMPLE: f64 = 0.940;

    /// The engine's accuracy bars, on the splits `../shared` names: dev
    /// in-scope accuracy trained on all of train, and trained on 10 examples
    /// per intent (mean of seeds 1-3); out-of-scope recall.
    #[test]
    fn the_encoder_engine_meets_the_accuracy_bars_on_banking77() {
        let Some((train, dev)) = banking77() else {
            return;
        };
        let encoder = banking77_encoder();
        let run = |shots, tests: &[&Path]| {
            let r = evaluate_with(
                &train,
                tests,
                shots,
                None,
                EngineConfig::default(),
                Some(&encoder),
                Some(TuneConfig::default()),
            );
            let r = r.unwrap();
            eprintln!("{shots:?}: {}", serde_json::to_string(&r).unwrap());
            r
        };
        let all = run(None, &[&dev, &oos_dev()]);
        let few: Vec<f64> = (1..=3)
            .map(|seed| {
                let shots = Shots {
                    per_category: 10,
                    seed,
                };
                run(Some(shots), &[&dev]).in_scope_accuracy
            })
            .collect();
        assert!(all.in_scope_accuracy >= 0.925, "{all:?}");
        let mean = few.iter().sum::<f64>() / few.len() as f64;
        // Issue 20's bar: 0.855 measured with the encoder tuned as served
        // (2026-12-05; 0.845 untuned).
        assert!(mean >= 0.85, "10-shot {few:?}");
        assert!(all.oos_recall >= LEXICAL_OOS_RECALL_BANKING77, "{all:?}");
        // Issue 20's bar: not lower than when it was filed, 147 of the 151
        // (the "Assistant accuracy" table's 0.974, as it was then).
        assert!(all.oos_recall >= OOS_RECALL_BANKING77_ISSUE_20, "{all:?}");
    }

    /// The near-domain protocol (`eval::scope`): 10 of 77 intents held out,
    /// 10-shot on the rest, splits 1-3; each measure's curve. Then the same
    /// held-out intents with 20 other intents' questions as out-of-scope
    /// examples (a site owner's `out-of-scope.txt`).
    #[test]
    fn near_domain_out_of_scope_curves_on_banking77() {
        let Some((train, dev)) = banking77() else {
            return;
        };
        let encoder = banking77_encoder();
        let mut recall = [0.0; 3];
        let mut auc = [0.0; 3];
        for split in 1..=3 {
            let shots = Shots {
                per_category: 10,
                seed: split,
            };
            for (k, (known, use_known)) in [(0, false), (20, false), (20, true)]
                .into_iter()
                .enumerate()
            {
                let r = scope::compare::held_out_intents(
                    &train,
                    &dev,
                    split,
                    (10, known, use_known),
                    Some(shots),
                    &encoder,
                    Some(TuneConfig::default()),
                )
                .unwrap();
                eprintln!(
                    "known {known} {use_known}: {}",
                    serde_json::to_string(&r).unwrap()
                );
                assert_eq!(r.held_out.len(), 10);
                if known == 0 {
                    assert_eq!(r.in_scope_n + r.oos_n, 965, "every dev question, once");
                } else {
                    assert!(r.in_scope_n < 965 - r.oos_n, "the known intents' left out");
                }
                let score = r.score();
                recall[k] += score.recall_at[1] / 3.0;
                auc[k] += score.auc / 3.0;
            }
        }
        eprintln!(
            "mean of splits 1-3; none, 20 more left out, those 20 as examples: recall at 5 % {recall:?}, AUC {auc:?}"
        );
        // Measured 0.868, 0.853 and 0.817, recall at 5 % 0.412, 0.381 and
        // 0.330, with the scope's cosines the mean of the tuned and the
        // untuned encoder's (2026-12-06, later); 0.871, 0.850 and 0.817,
        // recall 0.390, 0.386 and 0.356, with the tuned ones alone; 0.827,
        // 0.846 and 0.820, recall 0.379, 0.387 and 0.324, with the margin
        // weight fixed at 0.4 (2026-12-05): floors against regressions,
        // not goals.
        assert!(
            auc[0] >= 0.85 && auc[1] >= 0.84 && auc[2] >= 0.81,
            "{auc:?}"
        );
    }

    /// The near-domain protocol as issue 20 words it, "train on the rest":
    /// 10 of 77 intents held out, every training question of the other 67
    /// (not 10 of each), splits 1-3, the engine as served (too many
    /// questions to tune on).
    #[test]
    fn near_domain_out_of_scope_curve_with_every_question_of_the_other_intents() {
        let Some((train, dev)) = banking77() else {
            return;
        };
        let encoder = banking77_encoder();
        let (mut recall, mut auc) = (0.0, 0.0);
        for split in 1..=3 {
            let r = scope::compare::held_out_intents(
                &train,
                &dev,
                split,
                (10, 0, false),
                None,
                &encoder,
                Some(TuneConfig::default()),
            )
            .unwrap();
            eprintln!("split {split}: {}", serde_json::to_string(&r).unwrap());
            assert_eq!(r.in_scope_n + r.oos_n, 965, "every dev question, once");
            let score = r.score();
            recall += score.recall_at[1] / 3.0;
            auc += score.auc / 3.0;
        }
        eprintln!("mean of splits 1-3: recall at 5 % {recall:.4}, AUC {auc:.4}");
        // Measured 0.6001 and 0.9331 (2026-12-06; each split's knowledge base
        // chooses the margin weight 0.05 by leaving its intents out), against
        // 0.560 and 0.916 with the weight fixed at 0.4 and 0.390 / 0.85 with
        // 10 of each. The recall's floor is the issue's bar (0.60 at 5 %),
        // met with nothing to spare: the run is deterministic, so a change
        // that costs one held-out question here fails it.
        assert!(recall >= 0.60 && auc >= 0.92, "{recall} {auc}");
    }

    /// The sample knowledge base against near-domain questions it does not
    /// answer (`tests/data/near_oos_dev.csv`), without and with its
    /// near-domain out-of-scope examples (`sample_kb/out-of-scope.txt`,
    /// written apart from them): each measure's curve, and the engine with
    /// and without the scope rule as it would serve.
    #[test]
    fn near_domain_out_of_scope_curves_on_the_sample_knowledge_base() {
        use crate::engine::ScopeRule;
        let path = crate::test_support::repository_root().join("tests/data/near_oos_dev.csv");
        let rows = read_labelled_csv(&path).unwrap();
        let oos: Vec<Message> = rows.into_iter().map(|(m, _)| m).collect();
        let encoder = super::super::encoder::test_encoder();
        let curves = |kb: &KnowledgeBase, name: &str| {
            let report = scope::compare::knowledge_base_curves(
                kb,
                &oos,
                5,
                &encoder,
                ScopeRule::Auto,
                Some(TuneConfig::default()),
            );
            eprintln!("{name}: {}", serde_json::to_string(&report).unwrap());
            report
        };
        let without = curves(
            &KnowledgeBase::sample().with_out_of_scope(""),
            "sample without out-of-scope.txt",
        );
        let shipped = curves(&KnowledgeBase::sample(), "sample as shipped");
        // Measured 2026-12-06 with the encoder tuned as served and the
        // margin weight each fold's knowledge base chooses (floors against
        // regressions): as shipped (its examples in their own class, the
        // rule fitted to 5 %), 4.7 % of held-out own questions and 89.2 %
        // of the near-domain ones handed off; without the rule 9.8 % and
        // 95.7 %; without out-of-scope.txt (where Auto is Off) 6.2 % and
        // 60.5 %. Before 58 of the file's lines that were near copies of
        // dev questions were replaced (earlier the same day): 4.3 % and
        // 89.9 %.
        let served = shipped.served;
        assert!(served.in_scope <= 0.08, "{served:?}");
        assert!(served.oos >= 0.88, "{served:?}");
        assert_eq!(
            without.served.in_scope, without.without_rule.in_scope,
            "no rule where there are no out-of-scope examples"
        );
        assert!(without.served.oos >= 0.58, "{without:?}");
    }

    /// The sample's near-domain out-of-scope examples train the engine and
    /// the dev sets measure it, so none may be a near copy of a dev
    /// question: content words (lower case, common words left out) shared
    /// by a Jaccard index under 0.35. Until 2026-12-06, 58 of them were.
    #[test]
    fn the_samples_out_of_scope_examples_are_no_near_copies_of_the_dev_questions() {
        const COMMON: &str = "a an the i we you your my our me us is are was were be been do does \
            did can could would should will shall to of in on for with at by from and or as it its \
            this that what whats how when where which who why if any some there their they them \
            have has had am not no so up about into out than then too very just get";
        let words = |text: &str| -> std::collections::HashSet<String> {
            text.to_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '&')
                .filter(|w| !w.is_empty() && !COMMON.split_whitespace().any(|c| c == *w))
                .map(str::to_owned)
                .collect()
        };
        let root = crate::test_support::repository_root();
        let dev: Vec<_> = ["tests/data/near_oos_dev.csv", "tests/data/oos_dev.csv"]
            .iter()
            .flat_map(|file| read_labelled_csv(&root.join(file)).unwrap())
            .map(|(question, _)| (words(question.as_str()), question))
            .collect();
        let kb = KnowledgeBase::sample();
        let examples = kb.out_of_scope();
        assert!(examples.len() > 150, "{}", examples.len());
        for example in examples {
            let mine = words(example);
            for (theirs, question) in &dev {
                let shared = mine.intersection(theirs).count();
                let jaccard = shared as f64 / mine.union(theirs).count().max(1) as f64;
                assert!(
                    jaccard < 0.35,
                    "{example:?} is a near copy of the dev question {:?}",
                    question.as_str()
                );
            }
        }
    }

    /// Issue 20's experiment: the encoder's top layer (its feed-forward
    /// block, or all of it) tuned on each 10-shot draw's questions (`tune.rs`), then the 10-shot
    /// accuracy and the held-out-intents curve with the tuned encoder.
    /// Minutes in release, so not part of `make test`:
    /// `cargo test --release -p support-chat-assistant --lib tuning_the_top_layer -- --ignored --nocapture`
    /// (`TUNE_EPOCHS`, `TUNE_LR`, `TUNE_TEMPERATURE`, `TUNE_ATTENTION=1`,
    /// `TUNE_LAYERS`, `TUNE_ANCHOR` override the settings).
    #[test]
    #[ignore = "an experiment of minutes in release"]
    fn tuning_the_top_layer_on_banking77() {
        use crate::tune::{TuneConfig, tune};
        let Some((train, dev)) = banking77() else {
            return;
        };
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f32>().ok());
        let default = TuneConfig::default();
        let cfg = TuneConfig {
            epochs: env("TUNE_EPOCHS").map_or(default.epochs, |v| v as usize),
            lr: env("TUNE_LR").unwrap_or(default.lr),
            temperature: env("TUNE_TEMPERATURE").unwrap_or(default.temperature),
            attention: env("TUNE_ATTENTION").map_or(default.attention, |v| v != 0.0),
            layers: env("TUNE_LAYERS").map_or(default.layers, |v| v as usize),
            anchor: env("TUNE_ANCHOR").unwrap_or(default.anchor),
            ..default
        };
        eprintln!("{cfg:?}");
        let tuned_on = |rows: &[(Message, String)]| {
            let categories: Vec<&String> = rows.iter().map(|(_, c)| c).collect();
            let mut ids = BTreeMap::new();
            let labels: Vec<usize> = categories
                .iter()
                .map(|c| {
                    let next = ids.len();
                    *ids.entry(*c).or_insert(next)
                })
                .collect();
            let texts: Vec<&str> = rows.iter().map(|(m, _)| m.as_str()).collect();
            let frozen = Encoder::load(&super::super::encoder::model_dir(), 1 << 16).unwrap();
            let t0 = Instant::now();
            let (layers, losses) = tune(&frozen, &texts, &labels, cfg);
            eprintln!(
                "tuned on {} questions in {:.1} s; loss by epoch {losses:?}",
                texts.len(),
                t0.elapsed().as_secs_f64()
            );
            Arc::new(frozen.with_top_layers(&layers).unwrap())
        };
        let (mut accuracy, mut recall, mut auc) = (0.0, 0.0, 0.0);
        for seed in 1..=3 {
            let shots = Shots {
                per_category: 10,
                seed,
            };
            let rows = draw(read_labelled_csv(&train).unwrap(), shots);
            let tuned = tuned_on(&rows);
            let r = evaluate_with(
                &train,
                &[&dev],
                Some(shots),
                None,
                EngineConfig::default(),
                Some(&tuned),
                None,
            )
            .unwrap();
            eprintln!("seed {seed}: 10-shot accuracy {:.3}", r.in_scope_accuracy);
            accuracy += r.in_scope_accuracy / 3.0;
            let mut rows = read_labelled_csv(&train).unwrap();
            let held = held_out_categories(
                &rows,
                HoldOut {
                    intents: 10,
                    split: seed,
                },
            );
            rows.retain(|(_, c)| !held.contains(c));
            let tuned = tuned_on(&draw(rows, shots));
            let r = scope::compare::held_out_intents(
                &train,
                &dev,
                seed,
                (10, 0, false),
                Some(shots),
                &tuned,
                None,
            )
            .unwrap();
            let score = r.score();
            eprintln!("split {seed}: score curve {score:?}");
            recall += score.recall_at[1] / 3.0;
            auc += score.auc / 3.0;
        }
        eprintln!(
            "mean of seeds 1-3: 10-shot accuracy {accuracy:.3}; held-out intents recall at 5 % {recall:.3}, AUC {auc:.3}"
        );
    }

    #[test]
    fn the_lexical_engine_keeps_its_accuracy_on_banking77() {
        let Some((train, dev)) = banking77() else {
            return;
        };
        let r = evaluate(&train, &dev, None, None, None, None).unwrap();
        eprintln!("{}", serde_json::to_string(&r).unwrap());
        assert!(r.in_scope_accuracy >= 0.905, "{r:?}");
    }

    #[test]
    fn oos_dev_is_handed_off_by_sample_engine() {
        let rows = read_labelled_csv(&oos_dev()).unwrap();
        assert!(rows.iter().all(|(_, c)| c == OOS_CATEGORY));
        let encoder = super::super::encoder::test_encoder();
        let kb = KnowledgeBase::sample();
        let care = Arc::new(CareModel::train(&kb.care_training(), Some(&encoder)));
        let engine = Engine::served(
            kb,
            EngineConfig::default(),
            Some(encoder),
            care,
            Some(TuneConfig::default()),
        );
        let r = evaluate_engine(&engine, &rows, 0.0);
        for (text, _) in &rows {
            let answer = engine.reply(text, &[]);
            if !answer.reply.handoff {
                eprintln!("answered: {:?} -> {:?}", text.as_str(), answer.turn.outcome);
            }
        }
        eprintln!(
            "sample KB on oos_dev: {}",
            serde_json::to_string(&r).unwrap()
        );
        assert!(r.oos_recall >= LEXICAL_OOS_RECALL_SAMPLE, "{r:?}");
    }

    #[test]
    fn a_shots_draw_takes_n_per_category_and_the_seed_decides_which() {
        let rows: Vec<(String, String)> = (0..60)
            .map(|i| (format!("question {i}"), format!("c{}", i % 3)))
            .collect();
        let draw_with = |seed| {
            draw(
                rows.clone(),
                Shots {
                    per_category: 5,
                    seed,
                },
            )
        };
        let first = draw_with(1);
        assert_eq!(first.len(), 15);
        for c in ["c0", "c1", "c2"] {
            assert_eq!(first.iter().filter(|(_, cat)| cat == c).count(), 5);
        }
        assert_eq!(draw_with(1), first, "the same seed, the same draw");
        assert_ne!(draw_with(2), first, "another seed, another draw");
        let all = draw(
            rows.clone(),
            Shots {
                per_category: 100,
                seed: 1,
            },
        );
        assert_eq!(all, rows, "a category with fewer keeps all, in order");
    }
}

/// The held-out-intents protocol's embeddings, for measures the engine does
/// not compute (`benches/scope_measures.py`; BENCHMARKS.md "Out of scope").
#[cfg(test)]
mod held_out_dump {
    use super::*;
    use crate::engine::ScopeRule;
    use std::io::Write;

    /// Writes, for splits 1-3 (10 intents held out, 10 shots of each other
    /// intent, the engine tuned as served; with `HELD_OUT_SHOTS=all` every
    /// question of the others, in `target/held-out-dump-all`),
    /// `target/held-out-dump/splitN.bin`
    /// (each row's own and tuned embeddings, 768 f32 LE) and `splitN.tsv`
    /// (train or dev, intent, held out, and the engine's score, margin,
    /// neighbour and p_answer).
    #[test]
    #[ignore]
    fn dump_the_held_out_intents_embeddings() {
        let root = crate::test_support::repository_root();
        let data = root.join("../shared/data/banking77");
        let train = read_labelled_csv(&data.join("train.csv")).unwrap();
        let dev = read_labelled_csv(&data.join("dev.csv")).unwrap();
        let encoder = super::tests::banking77_encoder();
        let all = std::env::var("HELD_OUT_SHOTS").as_deref() == Ok("all");
        let out = root.join(if all {
            "target/held-out-dump-all"
        } else {
            "target/held-out-dump"
        });
        std::fs::create_dir_all(&out).unwrap();
        for split in 1..=3u64 {
            let held = held_out_categories(&train, HoldOut { intents: 10, split });
            let rest: Vec<_> = train
                .iter()
                .filter(|(_, c)| !held.contains(c) && c != OOS_CATEGORY)
                .cloned()
                .collect();
            // `HELD_OUT_SHOTS=all`: every question of the other intents
            // (the issue's "train on the rest"; too many to tune on).
            let kept = if all {
                rest
            } else {
                draw(
                    rest,
                    Shots {
                        per_category: 10,
                        seed: split,
                    },
                )
            };
            // The dump reads the score's parts, not the weight: none fitted.
            let cfg = EngineConfig {
                scope: ScopeRule::Off,
                scope_weight: crate::engine::ScopeWeight::Given(
                    crate::engine::DEFAULT_SCOPE_WEIGHT,
                ),
                ..EngineConfig::default()
            };
            let care = Arc::new(CareModel::silent());
            let engine = Engine::served(
                kb_from_rows(&kept).unwrap(),
                cfg,
                Some(encoder.clone()),
                care,
                Some(TuneConfig::default()),
            );
            let file = |ext: &str| std::fs::File::create(out.join(format!("split{split}.{ext}")));
            let (mut bin, mut tsv) = (file("bin").unwrap(), file("tsv").unwrap());
            let rows = kept.iter().map(|r| ("train", r));
            for (kind, (m, c)) in rows.chain(dev.iter().map(|r| ("dev", r))) {
                let (own, tuned) = engine.embed(&crate::text::normalise(m.as_str())).unwrap();
                for v in own.iter().chain(tuned.iter()) {
                    bin.write_all(&v.to_le_bytes()).unwrap();
                }
                let s = engine.scope(m.as_str());
                let held = u8::from(held.contains(c));
                let (score, margin, nn, p) = (s.score, s.article_over_oos, s.neighbour, s.p_answer);
                writeln!(tsv, "{kind}\t{c}\t{held}\t{score}\t{margin}\t{nn}\t{p}").unwrap();
            }
        }
    }
}

/// Issue 20's open question: can a knowledge base choose its own margin
/// weight by leaving some of its articles out? Ignored: a measurement.
#[cfg(test)]
mod weight_by_leaving_out {
    use super::*;
    use crate::engine::ScopeRule;

    const WEIGHTS: [f32; 9] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2];

    fn curves(ins: &[crate::engine::Scope], oos: &[crate::engine::Scope]) -> Vec<scope::Curve> {
        WEIGHTS
            .iter()
            .map(|&w| {
                let i: Vec<f32> = ins.iter().map(|s| s.score_with(w)).collect();
                let o: Vec<f32> = oos.iter().map(|s| s.score_with(w)).collect();
                scope::curve(&i, &o)
            })
            .collect()
    }

    fn recalls(ins: &[crate::engine::Scope], oos: &[crate::engine::Scope]) -> Vec<f64> {
        curves(ins, oos).iter().map(|c| c.recall_at[1]).collect()
    }

    fn objectives(ins: &[crate::engine::Scope], oos: &[crate::engine::Scope]) -> String {
        let c = curves(ins, oos);
        let mean: Vec<f64> = c
            .iter()
            .map(|c| c.recall_at.iter().sum::<f64>() / 3.0)
            .collect();
        let auc: Vec<f64> = c.iter().map(|c| c.auc).collect();
        format!(
            "\n    r@5  {}\n    mean {}\n    auc  {}",
            fmt(&recalls(ins, oos)),
            fmt(&mean),
            fmt(&auc)
        )
    }

    fn engine(rows: &[(Message, String)], encoder: &Arc<Encoder>) -> Engine {
        let cfg = EngineConfig {
            scope: ScopeRule::Off,
            // The experiments read the score's parts: no weight fitted.
            scope_weight: crate::engine::ScopeWeight::Given(crate::engine::DEFAULT_SCOPE_WEIGHT),
            ..EngineConfig::default()
        };
        Engine::with_care(
            kb_from_rows(rows).unwrap(),
            cfg,
            Some(encoder.clone()),
            Arc::new(CareModel::silent()),
        )
    }

    fn fmt(r: &[f64]) -> String {
        WEIGHTS
            .iter()
            .zip(r)
            .map(|(w, r)| format!("{w}:{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    #[ignore]
    fn choosing_the_margin_weight_of_the_sample_by_leaving_articles_out() {
        let root = crate::test_support::repository_root();
        let near: Vec<Message> = read_labelled_csv(&root.join("tests/data/near_oos_dev.csv"))
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        let far: Vec<Message> = read_labelled_csv(&root.join("tests/data/oos_dev.csv"))
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        let encoder = crate::encoder::test_encoder();
        let kb = KnowledgeBase::sample();
        let lines = kb.out_of_scope().to_vec();
        let cfg = EngineConfig {
            scope: ScopeRule::Off,
            // The experiments read the score's parts: no weight fitted.
            scope_weight: crate::engine::ScopeWeight::Given(crate::engine::DEFAULT_SCOPE_WEIGHT),
            ..EngineConfig::default()
        };
        let build = |kb: KnowledgeBase| {
            Engine::with_care(
                kb,
                cfg.clone(),
                Some(encoder.clone()),
                Arc::new(CareModel::silent()),
            )
        };
        let folds = 5;
        for seed in [1u64, 2, 3] {
            let mut order: Vec<usize> = (0..kb.articles().len())
                .filter(|&i| !kb.articles()[i].handoff)
                .collect();
            if seed > 1 {
                fastrand::Rng::with_seed(seed).shuffle(&mut order);
            }
            let group = |i: usize| order.iter().position(|&o| o == i).unwrap_or(0) % folds;
            let (mut ins, mut left, mut lines_out) = (Vec::new(), Vec::new(), Vec::new());
            for k in 0..folds {
                let articles: Vec<Article> = kb
                    .articles()
                    .iter()
                    .enumerate()
                    .filter(|(i, a)| a.handoff || group(*i) != k)
                    .map(|(_, a)| Article {
                        questions: crate::kb::held_out(a, folds, k, false).cloned().collect(),
                        ..a.clone()
                    })
                    .filter(|a| !a.questions.is_empty())
                    .collect();
                let kept: Vec<&str> = lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % folds != k)
                    .map(|(_, l)| l.as_str())
                    .collect();
                let fold_kb = KnowledgeBase::from_articles(articles, &[])
                    .unwrap()
                    .with_out_of_scope(&kept.join("\n"));
                let e = build(fold_kb);
                for (i, a) in kb.articles().iter().enumerate() {
                    if a.handoff {
                        continue;
                    }
                    if group(i) == k {
                        left.extend(a.questions.iter().map(|q| e.scope(q)));
                    } else {
                        ins.extend(crate::kb::held_out(a, folds, k, true).map(|q| e.scope(q)));
                    }
                }
                for (i, l) in lines.iter().enumerate() {
                    if i % folds == k {
                        lines_out.push(e.scope(l));
                    }
                }
            }
            let both: Vec<_> = left.iter().chain(&lines_out).copied().collect();
            eprintln!(
                "seed {seed}: {} in, {} left out, {} lines",
                ins.len(),
                left.len(),
                lines_out.len()
            );
            eprintln!("  articles left out: {}", fmt(&recalls(&ins, &left)));
            eprintln!("  lines held out:    {}", fmt(&recalls(&ins, &lines_out)));
            eprintln!("  both:              {}", objectives(&ins, &both));
        }
        // Dev: own questions by question folds against near_oos_dev and oos_dev.
        let (mut own, mut near_s, mut far_s) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..folds {
            let e = build(kb.training_fold(folds, k));
            for a in kb.articles().iter().filter(|a| !a.handoff) {
                own.extend(crate::kb::held_out(a, folds, k, true).map(|q| e.scope(q)));
            }
            near_s.extend(near.iter().map(|m| e.scope(m.as_str())));
            far_s.extend(far.iter().map(|m| e.scope(m.as_str())));
        }
        eprintln!("dev near_oos_dev:   {}", objectives(&own, &near_s));
        eprintln!("dev oos_dev:        {}", fmt(&recalls(&own, &far_s)));
    }

    #[test]
    #[ignore]
    fn the_sample_served_with_its_fitted_weight_and_with_the_old_one() {
        let root = crate::test_support::repository_root();
        let near = read_labelled_csv(&root.join("tests/data/near_oos_dev.csv")).unwrap();
        let far = read_labelled_csv(&root.join("tests/data/oos_dev.csv")).unwrap();
        let encoder = crate::encoder::test_encoder();
        for weight in [
            crate::engine::ScopeWeight::Fitted,
            crate::engine::ScopeWeight::Given(0.4),
        ] {
            let kb = KnowledgeBase::sample();
            let care = Arc::new(CareModel::train(&kb.care_training(), Some(&encoder)));
            let cfg = EngineConfig {
                scope_weight: weight,
                ..EngineConfig::default()
            };
            let engine = Engine::served(
                kb,
                cfg,
                Some(encoder.clone()),
                care,
                Some(TuneConfig::default()),
            );
            let n = evaluate_engine(&engine, &near, 0.0);
            let f = evaluate_engine(&engine, &far, 0.0);
            eprintln!(
                "{weight:?} -> {:?}, threshold {:?}: near-domain handed off {:.3}, oos_dev {:.3}",
                engine.config().scope_weight,
                engine.scope_threshold(),
                n.oos_recall,
                f.oos_recall
            );
        }
    }

    #[test]
    #[ignore]
    fn choosing_the_margin_weight_by_leaving_intents_out() {
        let root = crate::test_support::repository_root();
        let data = root.join("../shared/data/banking77");
        let train = read_labelled_csv(&data.join("train.csv")).unwrap();
        let dev = read_labelled_csv(&data.join("dev.csv")).unwrap();
        let encoder = super::tests::banking77_encoder();
        let folds = 5;
        for split in 1..=3u64 {
            let t0 = Instant::now();
            let held = held_out_categories(&train, HoldOut { intents: 10, split });
            let kept: Vec<_> = train
                .iter()
                .filter(|(_, c)| !held.contains(c) && c != OOS_CATEGORY)
                .cloned()
                .collect();
            // Intents in name order (the articles `kb_from_rows` makes of
            // them), dealt to folds as the engine deals articles.
            let intents: Vec<String> = kept
                .iter()
                .map(|(_, c)| c.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let group = |c: &str| intents.iter().position(|i| i == c).unwrap() % folds;
            // Each row's place in its intent: its question fold.
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let fold_of: Vec<usize> = kept
                .iter()
                .map(|(_, c)| {
                    let n = seen.entry(c.clone()).or_default();
                    *n += 1;
                    (*n - 1) % folds
                })
                .collect();
            let (mut ins, mut oos) = (Vec::new(), Vec::new());
            for k in 0..folds {
                let rows: Vec<_> = kept
                    .iter()
                    .zip(&fold_of)
                    .filter(|((_, c), f)| group(c) != k && **f != k)
                    .map(|(r, _)| r.clone())
                    .collect();
                let e = engine(&rows, &encoder);
                for ((m, c), f) in kept.iter().zip(&fold_of) {
                    if group(c) == k {
                        oos.push(e.scope(m.as_str()));
                    } else if *f == k {
                        ins.push(e.scope(m.as_str()));
                    }
                }
            }
            let chosen = objectives(&ins, &oos);
            let full = engine(&kept, &encoder);
            let (mut dev_in, mut dev_oos) = (Vec::new(), Vec::new());
            for (m, c) in &dev {
                let s = full.scope(m.as_str());
                if held.contains(c) {
                    dev_oos.push(s);
                } else {
                    dev_in.push(s);
                }
            }
            let on_dev = objectives(&dev_in, &dev_oos);
            eprintln!(
                "split {split} ({:.0} s)\n  left-out train: {}\n  dev:            {}",
                t0.elapsed().as_secs_f64(),
                chosen,
                on_dev
            );
        }
    }
}
