//! Where answers are computed: a fixed pool of threads beside the async
//! runtime, because an answer runs the sentence encoder (milliseconds of
//! matrix work) and must never block an async worker.
//!
//! The pool is bounded twice: `threads` answers run at once and at most
//! `queue` more wait. A request beyond that is refused at once
//! ([`PoolError::Saturated`], the edge's `503 overloaded`) rather than
//! queued without bound. A request whose caller has gone (timed out,
//! disconnected) before a thread picks it up is skipped.
//!
//! The threads are a rayon pool, and the encoder's matrix kernels, which
//! use rayon, split their work inside it: one answer uses every thread when
//! the pool is otherwise idle, and under load the threads share the pieces
//! of all answers. A thread waiting for a piece may start a waiting answer
//! meanwhile (rayon's work stealing), so answers do not finish strictly in
//! arrival order, and they nest on a thread's stack at most `threads +
//! queue` deep: the threads get large stacks (a full queue of new questions
//! is a test). Against plain threads feeding rayon's global pool this gave
//! 1.2-1.4 times the answers per second on new questions (BENCHMARKS.md;
//! measured with candle's forward pass, not again since).

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::{PoisonError, RwLock};

use support_chat_assistant::{Answer, Assistant, Message, Turn};

/// Stack of each answer thread: room for answers nested `threads + queue` deep.
const STACK_BYTES: usize = 16 << 20;

pub struct AnswerPool {
    /// Swapped whole by a knowledge-base reload; each answer runs on the
    /// one it started with.
    assistant: RwLock<Arc<dyn Assistant>>,
    threads: rayon::ThreadPool,
    /// Answers running or waiting.
    taken: Arc<AtomicUsize>,
    capacity: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PoolError {
    /// Every thread is busy and the queue is full.
    Saturated,
    /// The assistant panicked (a bug); the thread lives on.
    Panicked,
}

/// A claimed place in the pool, given back when dropped.
struct Claim(Arc<AtomicUsize>);

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AnswerPool {
    /// `threads` answers at once, `queue` more waiting.
    pub fn new(
        assistant: Arc<dyn Assistant>,
        threads: NonZeroUsize,
        queue: usize,
    ) -> Result<AnswerPool, rayon::ThreadPoolBuildError> {
        let threads = threads.get();
        Ok(AnswerPool {
            assistant: RwLock::new(assistant),
            threads: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .stack_size(STACK_BYTES)
                .thread_name(|i| format!("answer-{i}"))
                .build()?,
            taken: Arc::new(AtomicUsize::new(0)),
            capacity: threads + queue,
        })
    }

    /// Answers from now on with `assistant`; answers under way finish on the old one.
    pub fn swap(&self, assistant: Arc<dyn Assistant>) {
        *self
            .assistant
            .write()
            .unwrap_or_else(PoisonError::into_inner) = assistant;
    }

    /// The assistant's answer to `message` after `history`, computed on the pool.
    pub async fn reply(&self, message: Message, history: Arc<[Turn]>) -> Result<Answer, PoolError> {
        let claim = self.claim().ok_or(PoolError::Saturated)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let assistant = self
            .assistant
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.threads.spawn(move || {
            if tx.is_closed() {
                return;
            }
            let started = std::time::Instant::now();
            let reply =
                std::panic::catch_unwind(AssertUnwindSafe(|| assistant.reply(&message, &history)));
            metrics::histogram!("engine_duration_seconds").record(started.elapsed().as_secs_f64());
            // The place is free before the caller hears back, so its next
            // request can take it.
            drop(claim);
            let _ = tx.send(reply.map_err(|_| PoolError::Panicked));
        });
        rx.await.unwrap_or(Err(PoolError::Panicked))
    }

    /// A place, if fewer than `capacity` are taken (never over-counts, so a
    /// refusal always means the pool was full at that instant).
    fn claim(&self) -> Option<Claim> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.capacity).then_some(taken + 1)
            })
            .ok()
            .map(|_| Claim(self.taken.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use support_chat_assistant::{Outcome, Reply};

    fn m(text: &str) -> Message {
        Message::parse(text, 100).unwrap()
    }

    /// Answers with the message once the gate is open; panics on "panic".
    #[derive(Default)]
    struct Gated {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gated {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    impl Assistant for Gated {
        fn reply(&self, message: &Message, _: &[Turn]) -> Answer {
            let message = message.as_str();
            if message == "panic" {
                panic!("a bug");
            }
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
            let reply = Reply {
                text: message.to_owned(),
                suggestions: Vec::new(),
                handoff: false,
            };
            let outcome = Outcome::Handoff {
                out_of_scope: false,
            };
            let turn = Turn {
                message: message.to_owned(),
                outcome,
                confidence: 0.0,
                complaint: false,
            };
            Answer {
                reply,
                turn,
                article: None,
                embedding: None,
                signals: Default::default(),
            }
        }
    }

    #[tokio::test]
    async fn requests_beyond_threads_and_queue_are_refused_at_once_and_the_rest_answered() {
        let gate = Arc::new(Gated::default());
        // 2 threads and 1 waiting place.
        let pool =
            Arc::new(AnswerPool::new(gate.clone(), NonZeroUsize::new(2).unwrap(), 1).unwrap());
        let mut accepted = Vec::new();
        for i in 0..3 {
            let pool = pool.clone();
            accepted.push(tokio::spawn(async move {
                pool.reply(m(&format!("m{i}")), Arc::from([])).await
            }));
        }
        while pool.taken.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        let refused = pool.reply(m("one too many"), Arc::from([])).await;
        assert_eq!(refused.err(), Some(PoolError::Saturated));
        gate.open();
        for (i, r) in accepted.into_iter().enumerate() {
            assert_eq!(r.await.unwrap().unwrap().reply.text, format!("m{i}"));
        }
        assert_eq!(
            pool.taken.load(Ordering::Acquire),
            0,
            "every place given back"
        );
    }

    #[tokio::test]
    async fn a_panicking_assistant_gives_an_error_and_the_pool_goes_on() {
        let gate = Arc::new(Gated::default());
        gate.open();
        let pool = AnswerPool::new(gate, NonZeroUsize::MIN, 0).unwrap();
        let panicked = pool.reply(m("panic"), Arc::from([])).await;
        assert_eq!(panicked.err(), Some(PoolError::Panicked));
        let fine = pool.reply(m("fine"), Arc::from([])).await.unwrap();
        assert_eq!(fine.reply.text, "fine");
    }
}
