//! What one answer costs with the sentence encoder, against the lexical
//! engine measured in the same run on the same questions: latency (median,
//! p99) of `Engine::reply` for a new question and for a repeated one (the
//! embedding cache), with the encoder's kernels split over two rayon threads
//! (as the server runs one answer on this 2-core machine) and on one
//! thread, which gives the answers-per-second ceiling per core.
//!
//! The questions are the first 300 of BANKING77's dev split (real customer
//! messages, typical in length), asked of the sample knowledge base.
//!
//! `cargo bench --bench answer` (release build, after `make model`); prints
//! one JSON line.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use support_chat::domain::assistant::{DEFAULT_MODEL_DIR, Encoder, Engine, KnowledgeBase};

const QUESTIONS: usize = 300;

fn questions() -> Vec<String> {
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/banking77/dev.csv");
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
            let t = Instant::now();
            std::hint::black_box(engine.reply(q, &[]));
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

fn main() {
    let questions = questions();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR);
    // No cache while timing new questions; the cached run uses its own.
    let uncached = Arc::new(Encoder::load(&dir, 0).expect("run `make model`"));
    let cached = Arc::new(Encoder::load(&dir, 4096).expect("run `make model`"));
    let lexical = Engine::new(KnowledgeBase::sample(), None);
    let semantic = Engine::new(KnowledgeBase::sample(), Some(uncached));
    let repeated = Engine::new(KnowledgeBase::sample(), Some(cached));

    let lexical_ms = summary(time_replies(&lexical, &questions));
    let new_2 = on_threads(2, || summary(time_replies(&semantic, &questions)));
    let new_1 = on_threads(1, || summary(time_replies(&semantic, &questions)));
    on_threads(2, || time_replies(&repeated, &questions));
    let repeat_2 = on_threads(2, || summary(time_replies(&repeated, &questions)));

    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "questions": questions.len(),
            "lexical_median_ms": round(lexical_ms.0),
            "lexical_p99_ms": round(lexical_ms.1),
            "encoder_new_question_2_threads_median_ms": round(new_2.0),
            "encoder_new_question_2_threads_p99_ms": round(new_2.1),
            "encoder_new_question_1_thread_median_ms": round(new_1.0),
            "encoder_new_question_1_thread_p99_ms": round(new_1.1),
            "encoder_repeated_question_median_ms": round(repeat_2.0),
            "encoder_repeated_question_p99_ms": round(repeat_2.1),
            "answers_per_second_per_core_encoder": round(1e3 / new_1.0),
            "answers_per_second_per_core_lexical": round(1e3 / lexical_ms.0),
            "ratio_new_question_median_encoder_2_threads_vs_lexical": round(new_2.0 / lexical_ms.0),
        })
    );
}
