//! The knowledge base the assistant answers from, and its live reload.
//!
//! With `--kb DIR`, a change in the folder (watched), `SIGHUP`, or an
//! example question added through the admin API rebuilds the engine in the
//! background and swaps it into the answer threads at once: requests in
//! flight finish on the engine they started on. A knowledge base that does
//! not load keeps the old engine serving; the file and the problem are
//! logged, counted (`kb_reload_failures_total`) and shown by the admin API.
//! On several replicas each reloads from its own folder.
//!
//! Each engine loaded is then tuned in the background ([`Knowledge::keep_tuned`]):
//! the encoder's top layer fitted to the knowledge base's questions, on a
//! thread of its own, and swapped in the same way unless a reload came
//! first.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use support_chat_assistant::{
    Encoder, Engine, EngineConfig, KbEditError, KbError, KnowledgeBase, TuneConfig,
};

use crate::domain::answer_pool::AnswerPool;
use crate::domain::clock::{UnixMillis, now_millis};

/// Where the knowledge base comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KbSource {
    /// The sample built into the binary: read-only.
    Sample,
    /// A folder of Markdown files.
    Dir(PathBuf),
}

impl KbSource {
    fn load(&self) -> Result<KnowledgeBase, KbError> {
        match self {
            Self::Sample => Ok(KnowledgeBase::sample()),
            Self::Dir(dir) => KnowledgeBase::load_dir(dir),
        }
    }
}

/// The last load, and the last failure since it.
#[derive(Clone, Debug, Serialize)]
pub struct KbStatus {
    /// `built-in sample`, or the folder.
    pub source: String,
    pub articles: usize,
    pub questions: usize,
    pub loaded_at: UnixMillis,
    /// Loads since start-up, the first included.
    pub loads: u64,
    /// The engine answering reads an encoder tuned to this load's questions
    /// (false until its tuning, in the background, is done).
    pub tuned: bool,
    /// The newest failed reload, if it came after the last load.
    pub error: Option<KbFailure>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KbFailure {
    pub at: UnixMillis,
    /// The file at fault.
    pub file: String,
    pub message: String,
}

/// Why a question could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddQuestionError {
    #[error(
        "the knowledge base is the built-in sample, which is read-only; start with --kb DIR to edit one"
    )]
    ReadOnly,
    #[error(transparent)]
    Edit(#[from] KbEditError),
    #[error("the question was added, but the knowledge base did not reload")]
    Reload(#[source] KbError),
}

/// Writes the training texts' embeddings to `path` (`--embedding-cache`)
/// for the next start, which then skips encoding them. A failure (a
/// read-only folder) costs only that start's time, so it is logged.
pub fn keep_embeddings(encoder: &Encoder, path: &Path) {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let written = folder
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| encoder.save_trained(path));
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "embedding cache not written");
    }
}

/// How each loaded engine is tuned ([`Engine::tuned`]).
#[derive(Clone, Debug)]
pub struct Tuning {
    pub config: TuneConfig,
    /// Where the last tuning is kept for the next start.
    pub cache: Option<PathBuf>,
}

/// The knowledge base in use, and how to load it again.
pub struct Knowledge {
    source: KbSource,
    encoder: Option<Arc<Encoder>>,
    /// Where the training texts' embeddings are kept for the next start
    /// (`--embedding-cache`), written again after each reload.
    embedding_cache: Option<PathBuf>,
    /// How every reload trains (the out-of-scope rule's settings).
    config: EngineConfig,
    answers: Arc<AnswerPool>,
    engine: RwLock<Arc<Engine>>,
    status: Mutex<KbStatus>,
    /// One reload (or tuned engine's swap) at a time; a change during one
    /// is picked up by the next.
    reloading: tokio::sync::Mutex<()>,
    tuning: Option<Tuning>,
    /// Woken by each load, for [`Knowledge::keep_tuned`].
    loaded_new: tokio::sync::Notify,
}

impl Knowledge {
    /// Loads and trains the engine from `source` (start-up: a failure stops
    /// it). The duty-of-care detectors of `previous` (the engine a reload
    /// replaces) are kept when their examples are unchanged: they depend on
    /// nothing else, and training them would cost every reload again.
    pub fn train(
        source: &KbSource,
        encoder: Option<Arc<Encoder>>,
        config: &EngineConfig,
        previous: Option<&Engine>,
    ) -> Result<Engine, KbError> {
        let started = std::time::Instant::now();
        let kb = source.load()?;
        let engine =
            match previous.filter(|p| p.knowledge_base().care_training() == kb.care_training()) {
                Some(previous) => {
                    Engine::with_care(kb, config.clone(), encoder, previous.care().clone())
                }
                None => Engine::with_config(kb, config.clone(), encoder),
            };
        tracing::info!(
            articles = engine.knowledge_base().articles().len(),
            train_ms = started.elapsed().as_millis() as u64,
            scope_weight = engine.config().scope_weight.value(),
            scope_threshold = engine.scope_threshold(),
            answer_threshold = engine.config().answer_threshold.value(),
            "knowledge base loaded"
        );
        Ok(engine)
    }

    /// The knowledge in use: `engine`, trained from `source`, answering on `answers`.
    pub fn new(
        source: KbSource,
        encoder: Option<Arc<Encoder>>,
        embedding_cache: Option<PathBuf>,
        config: EngineConfig,
        tuning: Option<Tuning>,
        engine: Arc<Engine>,
        answers: Arc<AnswerPool>,
    ) -> Self {
        let status = KbStatus {
            source: match &source {
                KbSource::Sample => "built-in sample".to_owned(),
                KbSource::Dir(dir) => dir.display().to_string(),
            },
            articles: 0,
            questions: 0,
            loaded_at: 0,
            loads: 0,
            tuned: false,
            error: None,
        };
        let knowledge = Self {
            source,
            encoder,
            embedding_cache,
            config,
            answers,
            engine: RwLock::new(engine.clone()),
            status: Mutex::new(status),
            reloading: tokio::sync::Mutex::new(()),
            tuning,
            loaded_new: tokio::sync::Notify::new(),
        };
        knowledge.loaded(&engine);
        knowledge
    }

    fn loaded(&self, engine: &Engine) {
        let kb = engine.knowledge_base();
        let mut status = self.lock_status();
        status.articles = kb.articles().len();
        status.questions = kb.articles().iter().map(|a| a.questions.len()).sum();
        status.loaded_at = now_millis();
        status.loads += 1;
        status.tuned = engine.is_tuned();
        status.error = None;
    }

    /// Makes `engine` the one answering.
    fn swap(&self, engine: Arc<Engine>) {
        self.answers.swap(engine.clone());
        *self.engine.write().unwrap_or_else(PoisonError::into_inner) = engine;
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, KbStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn status(&self) -> KbStatus {
        self.lock_status().clone()
    }

    /// The engine answering now.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How every load trains: the out-of-scope rule's settings as given.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The sentence encoder the engines are trained with, if any.
    pub fn encoder(&self) -> Option<&Arc<Encoder>> {
        self.encoder.as_ref()
    }

    pub fn source(&self) -> &KbSource {
        &self.source
    }

    /// Loads the knowledge base again and, if it loads, trains and swaps
    /// in a new engine; if it does not, the old one keeps serving.
    pub async fn reload(&self) -> Result<(), KbError> {
        let _one_at_a_time = self.reloading.lock().await;
        let (source, encoder, cache, config, previous) = (
            self.source.clone(),
            self.encoder.clone(),
            self.embedding_cache.clone(),
            self.config.clone(),
            self.engine(),
        );
        let trained = tokio::task::spawn_blocking(move || {
            let trained = Knowledge::train(&source, encoder.clone(), &config, Some(&previous));
            if let (Ok(_), Some(encoder), Some(path)) = (&trained, encoder, cache) {
                keep_embeddings(&encoder, &path);
            }
            trained
        })
        .await
        .expect("training does not panic");
        match trained {
            Ok(engine) => {
                let engine = Arc::new(engine);
                self.swap(engine.clone());
                self.loaded(&engine);
                self.loaded_new.notify_one();
                metrics::counter!("kb_reloads_total").increment(1);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(file = %error.file, %error, "knowledge base did not reload: the previous one keeps serving");
                metrics::counter!("kb_reload_failures_total").increment(1);
                self.lock_status().error = Some(KbFailure {
                    at: now_millis(),
                    file: error.file.clone(),
                    message: error.to_string(),
                });
                Err(error)
            }
        }
    }

    /// Tunes each engine loaded, the first included, in the background
    /// ([`Engine::tuned`], on one thread of its own so that answers keep
    /// the others), and swaps the tuned one in unless a reload replaced the
    /// engine meanwhile (then that one is tuned next). Runs for the
    /// process's life; does nothing without tuning or an encoder.
    pub fn keep_tuned(self: &Arc<Self>) -> Result<(), rayon::ThreadPoolBuildError> {
        let Some(tuning) = self.tuning.clone().filter(|_| self.encoder.is_some()) else {
            return Ok(());
        };
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "kb-tuning".to_owned())
                .build()?,
        );
        let knowledge = self.clone();
        tokio::spawn(async move {
            loop {
                let engine = knowledge.engine();
                if !engine.is_tuned() {
                    knowledge.tune(engine, &tuning, &pool).await;
                }
                // A load since `engine` was read left a permit: no wait then.
                knowledge.loaded_new.notified().await;
            }
        });
        Ok(())
    }

    async fn tune(&self, base: Arc<Engine>, tuning: &Tuning, pool: &Arc<rayon::ThreadPool>) {
        let started = std::time::Instant::now();
        let (engine, tuning) = (base.clone(), tuning.clone());
        // On the pool's thread, not `spawn_blocking`: the runtime waits for
        // its blocking tasks when the server stops, and a tuning can take
        // minutes; a thread of the pool ends with the process.
        let (sent, tuned) = tokio::sync::oneshot::channel();
        pool.spawn(move || {
            let tuned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.tuned(tuning.config, tuning.cache.as_deref())
            }));
            let _ = sent.send(tuned);
        });
        // A bug in tuning leaves this load untuned, said so; the next load
        // is tuned again.
        let tuned = match tuned.await {
            Ok(Ok(tuned)) => tuned,
            failed => {
                let error = match &failed {
                    Ok(Err(panic)) => (panic.downcast_ref::<&str>().copied())
                        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("a panic"),
                    _ => "its thread ended without an answer",
                };
                metrics::counter!("kb_tuning_failures_total").increment(1);
                tracing::error!(%error, "tuning failed: the untuned engine keeps answering");
                return;
            }
        };
        let Some(tuned) = tuned else {
            tracing::info!("knowledge base not tuned: more training texts than tuning takes");
            return;
        };
        if let Some(error) = &tuned.cache_error {
            tracing::warn!(%error, "tuned layer not kept for the next start");
        }
        let _one_at_a_time = self.reloading.lock().await;
        if !Arc::ptr_eq(&self.engine(), &base) {
            tracing::info!("tuned engine dropped: the knowledge base reloaded meanwhile");
            return;
        }
        let (scope_threshold, answer_threshold) = (
            tuned.engine.scope_threshold(),
            tuned.engine.config().answer_threshold.value(),
        );
        self.swap(Arc::new(tuned.engine));
        self.lock_status().tuned = true;
        let source = if tuned.from_cache { "cache" } else { "tuning" };
        metrics::counter!("kb_tunings_total", "source" => source).increment(1);
        tracing::info!(
            tune_ms = started.elapsed().as_millis() as u64,
            from_cache = tuned.from_cache,
            scope_threshold,
            answer_threshold,
            "encoder tuned to the knowledge base"
        );
    }

    /// Adds `question` to article `id`'s examples in its file, and reloads:
    /// when this returns, the engine answering knows the question.
    pub async fn add_question(
        &self,
        id: &str,
        question: &str,
    ) -> Result<PathBuf, AddQuestionError> {
        let KbSource::Dir(dir) = &self.source else {
            return Err(AddQuestionError::ReadOnly);
        };
        let file = support_chat_assistant::append_question(dir, id, question)?;
        tracing::info!(article = id, file = %file.display(), "example question added");
        self.reload().await.map_err(AddQuestionError::Reload)?;
        Ok(file)
    }

    /// Reloads when the folder changes (quiet for `settle` after the last
    /// change). Does nothing for the built-in sample. Runs for the process's life.
    pub fn watch(self: &Arc<Self>, settle: Duration) -> Result<(), notify::Error> {
        use notify::Watcher;
        let KbSource::Dir(dir) = &self.source else {
            return Ok(());
        };
        let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
        let folder = dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| is_content_change(&folder, &e)) {
                    let _ = changed.send(());
                }
            })?;
        // Recursive: the care examples are in a folder of their own.
        watcher.watch(dir, notify::RecursiveMode::Recursive)?;
        let knowledge = self.clone();
        tokio::spawn(async move {
            // The watcher lives as long as this task.
            let _watcher = watcher;
            while changes.recv().await.is_some() {
                // Editors write in several steps: wait until it is quiet.
                while let Ok(Some(())) = tokio::time::timeout(settle, changes.recv()).await {}
                tracing::info!("knowledge base folder changed: reloading");
                let _ = knowledge.reload().await;
            }
        });
        Ok(())
    }
}

/// A change to a file the knowledge base is read from (its articles,
/// out-of-scope examples and care examples), not a read.
fn is_content_change(dir: &Path, event: &notify::Event) -> bool {
    use notify::EventKind;
    matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    ) && event
        .paths
        .iter()
        .any(|p| support_chat_assistant::KnowledgeBase::reads(dir, p))
}
