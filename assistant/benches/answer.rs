//! What one answer costs with the sentence encoder, against the lexical
//! engine measured in the same run on the same questions: latency (median,
//! p99) of `Engine::reply` for a new question and for a repeated one (the
//! embedding cache), with the encoder's kernels split over two rayon threads
//! (as the server runs one answer on this 2-core machine) and on one
//! thread, which gives the answers-per-second ceiling per core; and a new
//! question to the engine tuned to the sample (`Engine::tuned`).
//!
//! Two sets of new questions, both asked of the sample knowledge base: the
//! first 300 of BANKING77's dev split (real customer messages to a bank,
//! median 14 tokens), and the sample knowledge base's own example questions
//! (what a lender's visitors are expected to ask, shorter). The encoder's
//! cost grows with tokens, so each set's token counts are printed too.
//!
//! `cargo bench --bench answer` (release build, after `make model`); prints
//! one JSON line.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use support_chat_assistant::{
    CareModel, DEFAULT_MODEL_DIR, Encoder, Engine, EngineConfig, KnowledgeBase, Message, TuneConfig,
};

const QUESTIONS: usize = 300;

fn banking77() -> Vec<String> {
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/banking77/dev.csv");
    let text = std::fs::read_to_string(&dev).expect("../shared/data/banking77/dev.csv");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            line.rsplit_once(',')
                .map(|(q, _)| q.trim_matches('"').to_owned())
        })
        .take(QUESTIONS)
        .collect()
}

/// Milliseconds of each reply, in order.
fn time_replies(engine: &Engine, questions: &[String]) -> Vec<f64> {
    questions
        .iter()
        .map(|q| {
            let message = Message::parse(q, usize::MAX).expect("a question is a message");
            let t = Instant::now();
            std::hint::black_box(engine.reply(&message, &[]));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// (median, p99) in ms.
fn summary(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99))
}

fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn sample_kb() -> Vec<String> {
    let kb = KnowledgeBase::sample();
    let questions = kb.articles().iter().flat_map(|a| a.questions.iter());
    questions.cloned().collect()
}

/// Tokens of each of `questions`, [CLS] and [SEP] included.
fn token_counts(dir: &Path, questions: &[String]) -> Vec<f64> {
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let counts = questions.iter().map(|q| {
        let ids = tokenizer.encode(q.as_str(), true).unwrap();
        ids.get_attention_mask().iter().filter(|&&m| m == 1).count() as f64
    });
    counts.collect()
}

/// The median ms of the replies to questions of each range of tokens
/// (the encoder's cost grows with them), as `"lo-hi (n questions)": ms`.
fn by_tokens(counts: &[f64], ms: &[f64]) -> serde_json::Value {
    let ranges = [(1, 8), (9, 12), (13, 16), (17, 24), (25, 32), (33, 512)];
    let buckets = ranges.iter().map(|&(lo, hi)| {
        let inside = counts.iter().zip(ms);
        let inside = inside.filter(|(t, _)| (lo..=hi).contains(&(**t as usize)));
        let times: Vec<f64> = inside.map(|(_, ms)| *ms).collect();
        let n = times.len();
        let median = (n > 0).then(|| (summary(times).0 * 1000.0).round() / 1000.0);
        (
            format!("{lo}-{hi} ({n} questions)"),
            serde_json::json!(median),
        )
    });
    serde_json::Value::Object(buckets.collect())
}

fn main() {
    let questions = banking77();
    let sample_questions = sample_kb();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(DEFAULT_MODEL_DIR);
    // No cache while timing new questions; the cached run uses its own.
    let uncached = Arc::new(Encoder::load(&dir, 0).expect("run `make model`"));
    let cached = Arc::new(Encoder::load(&dir, 4096).expect("run `make model`"));
    let lexical = Engine::new(KnowledgeBase::sample(), None);
    let semantic = Engine::new(KnowledgeBase::sample(), Some(uncached));
    let repeated = Engine::new(KnowledgeBase::sample(), Some(cached));
    // The same, the duty-of-care detectors silent: what they add to a reply
    // once the embedding is there (the baseline of that ratio).
    let cached_too = Arc::new(Encoder::load(&dir, 4096).expect("run `make model`"));
    let without_care = Engine::with_care(
        KnowledgeBase::sample(),
        EngineConfig::default(),
        Some(cached_too),
        Arc::new(CareModel::silent()),
    );

    // The encoder tuned to the sample as the server tunes it: a new
    // question's second pass of the top feed-forward block.
    let tuned = semantic
        .tuned(TuneConfig::default(), None)
        .expect("the sample is tuned")
        .engine;

    let lexical_ms = summary(time_replies(&lexical, &questions));
    let new_2_ms = on_threads(2, || time_replies(&semantic, &questions));
    let new_2 = summary(new_2_ms.clone());
    let new_1 = on_threads(1, || summary(time_replies(&semantic, &questions)));
    let tuned_2 = on_threads(2, || summary(time_replies(&tuned, &questions)));
    on_threads(2, || time_replies(&repeated, &questions));
    let repeat_2 = on_threads(2, || summary(time_replies(&repeated, &questions)));
    on_threads(2, || time_replies(&without_care, &questions));
    let repeat_no_care = on_threads(2, || summary(time_replies(&without_care, &questions)));
    let sample_2 = on_threads(2, || summary(time_replies(&semantic, &sample_questions)));
    let sample_1 = on_threads(1, || summary(time_replies(&semantic, &sample_questions)));
    let sample_lexical = summary(time_replies(&lexical, &sample_questions));
    let banking77_counts = token_counts(&dir, &questions);
    let banking77_tokens = summary(banking77_counts.clone());
    let sample_tokens = summary(token_counts(&dir, &sample_questions));

    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "questions": questions.len(),
            "tokens_median": banking77_tokens.0,
            "tokens_p99": banking77_tokens.1,
            "lexical_median_ms": round(lexical_ms.0),
            "lexical_p99_ms": round(lexical_ms.1),
            "encoder_new_question_2_threads_median_ms": round(new_2.0),
            "encoder_new_question_2_threads_p99_ms": round(new_2.1),
            "tuned_new_question_2_threads_median_ms": round(tuned_2.0),
            "tuned_new_question_2_threads_p99_ms": round(tuned_2.1),
            "ratio_new_question_median_tuned_vs_untuned": round(tuned_2.0 / new_2.0),
            "encoder_new_question_1_thread_median_ms": round(new_1.0),
            "encoder_new_question_1_thread_p99_ms": round(new_1.1),
            "encoder_repeated_question_median_ms": round(repeat_2.0),
            "encoder_repeated_question_p99_ms": round(repeat_2.1),
            "encoder_repeated_question_without_care_median_ms": round(repeat_no_care.0),
            "ratio_repeated_question_median_with_care_vs_without": round(repeat_2.0 / repeat_no_care.0),
            "answers_per_second_per_core_encoder": round(1e3 / new_1.0),
            "answers_per_second_per_core_lexical": round(1e3 / lexical_ms.0),
            "ratio_new_question_median_encoder_2_threads_vs_lexical": round(new_2.0 / lexical_ms.0),
            "encoder_new_question_2_threads_median_ms_by_tokens": by_tokens(&banking77_counts, &new_2_ms),
            "sample_kb_questions": sample_questions.len(),
            "sample_kb_tokens_median": sample_tokens.0,
            "sample_kb_tokens_p99": sample_tokens.1,
            "sample_kb_lexical_median_ms": round(sample_lexical.0),
            "sample_kb_lexical_p99_ms": round(sample_lexical.1),
            "sample_kb_encoder_2_threads_median_ms": round(sample_2.0),
            "sample_kb_encoder_2_threads_p99_ms": round(sample_2.1),
            "sample_kb_encoder_1_thread_median_ms": round(sample_1.0),
            "sample_kb_encoder_1_thread_p99_ms": round(sample_1.1),
        })
    );
}
