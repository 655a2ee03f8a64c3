//! From flags to a running server: load the knowledge base and the assets,
//! build the state and the router, bind, and serve until told to stop.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use secrecy::ExposeSecret;
use support_chat_assistant::{Assistant, Encoder, EncoderError, KbError};

use crate::config::{ConfigError, EncoderArgs, EncoderKind, Recording, ServeArgs};
use crate::domain::answer_pool::AnswerPool;
use crate::domain::care::ComplaintBook;
use crate::domain::clock::SystemClock;
use crate::domain::console::{ConsoleSessions, MemoryConsoleSessions};
use crate::domain::handoff::{Courier, Delivery, Dispatch, HandoffCap, HandoffDesk};
use crate::domain::knowledge::{KbSource, Knowledge, Tuning, keep_embeddings};
use crate::domain::rate_limit::{Aggregated, FixedWindow, RateLimiter};
use crate::domain::records::{RecordError, RecordStore, Recorder, Retention, purge_every};
use crate::domain::session::{MemorySessions, SessionLimits, SessionStore};
use crate::http::admin::{AdminAuth, AdminState, admin_app};
use crate::http::client::ClientIdentity;
use crate::http::guard::{Bounds, Guard};
use crate::http::server::{self, ConnectionLimits};
use crate::http::{
    AppState, AssetError, Assets, ChatState, HandoffState, Readiness, RouterConfig, app,
};
use crate::outbound::mail::{Mail, MailError};
use crate::outbound::webhook::Webhook;
use crate::store::redis::{Redis, RedisLimiter, RedisSessions};
use crate::store::sql::SqlRecords;

/// Why the server did not start; each keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Assets(#[from] AssetError),
    #[error(transparent)]
    KnowledgeBase(#[from] KbError),
    #[error(
        "the sentence encoder did not load. Run `make model` to fetch it, point --model-dir \
         (SUPPORT_CHAT_MODEL_DIR) at its folder, or pass --encoder none for the lexical-only engine"
    )]
    Encoder(#[source] EncoderError),
    #[error("--redis-url")]
    Redis(#[source] redis::RedisError),
    #[error("cannot start the answer threads")]
    AnswerThreads(#[source] rayon::ThreadPoolBuildError),
    #[error("cannot start the thread that tunes the encoder to the knowledge base")]
    TuningThread(#[source] rayon::ThreadPoolBuildError),
    #[error("cannot read the open-files limit")]
    FilesLimit(#[source] std::io::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("--database {url}")]
    Records {
        url: String,
        #[source]
        source: RecordError,
    },
    #[error("cannot watch the knowledge base's folder")]
    Watch(#[source] notify::Error),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("--handoff-webhook-url: cannot make an HTTP client")]
    Webhook(#[source] reqwest::Error),
}

/// The records `args` describe: the store and its recorder (writing in
/// the background from now on), or `None` and a recorder that keeps nothing.
pub async fn records(
    args: &ServeArgs,
) -> Result<(Option<Arc<SqlRecords>>, Recorder), StartupError> {
    let records = &args.records;
    if records.record == Recording::Off {
        return Ok((None, Recorder::off()));
    }
    let (store, key) = SqlRecords::open(&records.database)
        .await
        .map_err(|source| StartupError::Records {
            url: records.database.redacted(),
            source,
        })?;
    let store = Arc::new(store);
    let retention = Retention {
        records: records.retention,
        complaints: records.complaint_retention,
    };
    purge_every(store.clone(), retention, PURGE_EVERY);
    let recorder = Recorder::start(store.clone(), key, records.record_queue.get());
    Ok((Some(store), recorder))
}

/// The handoff desk `args` describe, with this replica's delivery worker
/// started; `None` when no way to the team is configured.
pub fn handoffs(
    args: &ServeArgs,
    store: Option<&Arc<SqlRecords>>,
    recorder: &Recorder,
    sessions: &Arc<dyn SessionStore>,
) -> Result<Option<Arc<HandoffDesk>>, StartupError> {
    let handoff = &args.handoff;
    let Some(store) = store.filter(|_| handoff.configured()) else {
        return Ok(None);
    };
    let email: Option<Arc<dyn Courier>> = match (&handoff.smtp_url, &handoff.handoff_email_from) {
        (Some(url), Some(from)) => {
            let login = handoff
                .smtp_username
                .clone()
                .zip(handoff.smtp_password.clone());
            let to = handoff.handoff_email_to.clone();
            Some(Arc::new(Mail::new(
                url,
                login,
                from.clone(),
                to,
                SMTP_TIMEOUT,
            )?))
        }
        _ => None,
    };
    let webhook: Option<Arc<dyn Courier>> = match (
        &handoff.handoff_webhook_url,
        &handoff.handoff_webhook_secret,
    ) {
        (Some(url), Some(secret)) => Some(Arc::new(
            Webhook::new(url.clone(), secret.clone(), WEBHOOK_TIMEOUT)
                .map_err(StartupError::Webhook)?,
        )),
        _ => None,
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    let hours = handoff.business_hours.clone();
    let zone = hours
        .as_ref()
        .map_or(jiff::tz::TimeZone::UTC, |h| h.zone().clone());
    let worker = Arc::new(Dispatch {
        outbox: store.clone(),
        records: store.clone(),
        complaints: store.clone(),
        email: email.clone(),
        webhook: webhook.clone(),
        delivery: Delivery {
            first_retry: handoff.first_retry,
            max_wait: MAX_RETRY_WAIT,
            max_attempts: handoff.max_attempts,
            lease: DELIVERY_LEASE,
        },
        wake: wake.clone(),
        availability: Box::new(move || hours.as_ref().map(|h| h.sentence(jiff::Timestamp::now()))),
        zone,
        owner: replica_name(),
    })
    .start();
    let desk = HandoffDesk {
        outbox: store.clone(),
        records: store.clone(),
        recorder: recorder.clone(),
        sessions: sessions.clone(),
        cap: HandoffCap {
            per_window: handoff.handoff_limit.limit(),
            window: handoff.handoff_limit.window(),
        },
        by_email: email.is_some(),
        by_webhook: webhook.is_some(),
        wake,
        worker,
    };
    Ok(Some(Arc::new(desk)))
}

/// How long an SMTP exchange may take before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a webhook may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest wait between two attempts at a handoff.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60 * 60);
/// How long a replica holds a handoff it is delivering: longer than both
/// channels' timeouts together, so no other replica takes it meanwhile. A
/// replica that dies mid-attempt leaves its claim to lapse after this.
const DELIVERY_LEASE: Duration = Duration::from_secs(2 * 60);
/// How long shutdown waits for a delivery under way.
const DELIVERY_GRACE: Duration = Duration::from_secs(50);

/// This replica's name in the outbox's claims: unique per process.
fn replica_name() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{random}", std::process::id())
}

/// How often records past retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// The shared state `args` describe, around an `assistant` and `assets`
/// already loaded. Opens the records database (unless `--record off`).
pub async fn state(
    args: &ServeArgs,
    assistant: Arc<dyn Assistant>,
    assets: Assets,
) -> Result<AppState, StartupError> {
    // Metrics recorded from here on are kept.
    crate::telemetry::metrics();
    let (store, recorder) = records(args).await?;
    let redis = match &args.redis.url {
        Some(url) => Some(Redis::connect(url, args.redis.timeout).map_err(StartupError::Redis)?),
        None => None,
    };
    let sessions: Arc<dyn SessionStore> = match &redis {
        Some(redis) => Arc::new(RedisSessions::new(redis.clone(), session_limits(args))),
        None => Arc::new(memory_sessions(args)),
    };
    let desk = handoffs(args, store.as_ref(), &recorder, &sessions)?;
    let complaints = store.clone().map(|s| s as Arc<dyn ComplaintBook>);
    let consoles: Arc<dyn ConsoleSessions> = match &store {
        Some(store) => store.clone(),
        None => Arc::new(MemoryConsoleSessions::default()),
    };
    let records = store.map(|s| s as Arc<dyn RecordStore>);
    let hours = args.handoff.business_hours.clone().map(Arc::new);
    let secret: Arc<[u8]> = args
        .redis
        .key_secret
        .as_ref()
        .map_or(&[][..], |s| s.expose_secret().as_bytes())
        .into();
    // The chat limit of `quota`, named `name`: on Redis when configured.
    let limiter = |name: &str, quota| -> Arc<dyn RateLimiter> {
        match &redis {
            Some(redis) => Arc::new(RedisLimiter::new(
                redis.clone(),
                name,
                quota,
                secret.clone(),
                args.redis.fallback,
            )),
            None => Arc::new(FixedWindow::new(quota, SystemClock)),
        }
    };
    let chat = &args.chat;
    let wider = chat
        .ipv6_aggregate_limits
        .0
        .iter()
        .map(|n| (n.prefix, limiter(&format!("chat/{}", n.prefix), n.quota)))
        .collect();
    let own = limiter("chat", chat.chat_rate_limit);
    let threads = args
        .assistant
        .answer_threads
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
    let answers = AnswerPool::new(assistant, threads, args.assistant.answer_queue)
        .map_err(StartupError::AnswerThreads)?;
    let identity = ClientIdentity::new(chat.trusted_proxies.clone(), chat.ipv6_prefix);
    let bounds = Bounds {
        request_timeout: chat.request_timeout,
        body_read_timeout: chat.body_read_timeout,
        max_body_bytes: chat.max_body_bytes,
        max_in_flight: chat.max_in_flight.get(),
        max_in_flight_per_client: chat.max_in_flight_per_client.get(),
    };
    Ok(AppState {
        chat: ChatState {
            answers: Arc::new(answers),
            sessions,
            clock: Arc::new(SystemClock),
            max_message_chars: chat.max_message_chars,
            recorder,
            hours: hours.clone(),
            complaints: complaints.clone(),
        },
        records,
        consoles,
        handoff: HandoffState { desk, hours },
        guard: Guard::new(
            Arc::new(Aggregated::new(own, wider)),
            Arc::new(identity),
            bounds,
        ),
        assets,
        ready: Readiness {
            redis: redis.map(|r| r.health()),
        },
    })
}

/// The sentence encoder `args` choose, loaded, keeping `cache_entries`
/// recent embeddings; `None` for the lexical-only engine.
pub fn encoder(
    args: &EncoderArgs,
    cache_entries: usize,
) -> Result<Option<Arc<Encoder>>, StartupError> {
    if args.encoder == EncoderKind::None {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let encoder = Encoder::load(&args.model_dir, cache_entries).map_err(StartupError::Encoder)?;
    tracing::info!(
        model_dir = %args.model_dir.display(),
        load_ms = started.elapsed().as_millis() as u64,
        "sentence encoder loaded"
    );
    Ok(Some(Arc::new(encoder)))
}

/// How much of the conversations `args` keep.
fn session_limits(args: &ServeArgs) -> SessionLimits {
    SessionLimits {
        idle: args.sessions.idle,
        max_turns: args.sessions.max_turns,
        max_sessions: args.sessions.max_sessions,
        max_bytes: args.sessions.memory_bytes,
    }
}

/// The in-memory session store `args` describe.
pub fn memory_sessions(args: &ServeArgs) -> MemorySessions {
    MemorySessions::new(session_limits(args))
}

/// The admin side of `state`: its records, sessions and knowledge.
pub fn admin_state(
    args: &ServeArgs,
    state: &AppState,
    knowledge: Option<Arc<Knowledge>>,
) -> AdminState {
    AdminState {
        records: state.records.clone(),
        recorder: state.chat.recorder.clone(),
        sessions: state.chat.sessions.clone(),
        knowledge,
        metrics: crate::telemetry::metrics(),
        auth: AdminAuth::new(
            args.admin.admin_token.clone(),
            state.guard.identity.clone(),
            state.consoles.clone(),
        ),
        redis: state.ready.redis.clone(),
        handoffs: state.handoff.desk.clone(),
        complaints: state.chat.complaints.clone(),
    }
}

/// The knowledge base `args` name.
pub fn kb_source(args: &ServeArgs) -> KbSource {
    match &args.assistant.kb {
        Some(dir) => KbSource::Dir(dir.clone()),
        None => KbSource::Sample,
    }
}

/// The router settings `args` describe.
pub fn router_config(args: &ServeArgs) -> RouterConfig {
    RouterConfig {
        allowed_origins: args.site.allowed_origins.clone(),
        public_url: args.site.public_url.clone(),
        files_rate_limit: args.site.files_rate_limit,
    }
}

/// The connection bounds `args` describe, with the total lowered to leave
/// `RESERVED_FILES` of the open-files limit `nofile` free.
pub fn connection_limits(args: &ServeArgs, nofile: u64) -> ConnectionLimits {
    let listener = &args.listener;
    let fit = usize::try_from(nofile.saturating_sub(RESERVED_FILES))
        .ok()
        .and_then(NonZeroUsize::new)
        .unwrap_or(NonZeroUsize::MIN);
    if listener.max_connections > fit {
        tracing::warn!(
            requested = listener.max_connections,
            allowed = fit,
            nofile,
            "--max-connections lowered to fit the open-files limit"
        );
    }
    ConnectionLimits {
        header_read_timeout: listener.header_read_timeout,
        read_buffer_bytes: listener.read_buffer_bytes,
        max_connections: listener.max_connections.min(fit),
        max_connections_per_client: listener.max_connections_per_client,
        max_connections_per_network: listener.max_connections_per_network,
    }
}

/// Fills the encoder's cache from `path` (`--embedding-cache`). A missing
/// file, or one another model wrote, adds nothing; an unreadable one is
/// logged and trained around.
fn read_embeddings(encoder: &Encoder, path: &Path) {
    match encoder.load_cache(path) {
        Ok(entries) => tracing::info!(path = %path.display(), entries, "embedding cache read"),
        Err(error) => tracing::warn!(
            path = %path.display(),
            %error,
            "embedding cache unreadable: encoding the training texts instead"
        ),
    }
}

/// File descriptors kept free of connections: the listener, logs, the
/// knowledge base and asset files at start-up, and headroom.
const RESERVED_FILES: u64 = 64;

/// Loads everything `args` names, binds both listeners, and serves until
/// SIGINT or SIGTERM, letting requests in flight finish and the records
/// queue drain. `args` were checked where they were read.
pub async fn run(args: ServeArgs) -> Result<(), StartupError> {
    // Cheap checks first: a missing file fails before the encoder runs.
    let started = std::time::Instant::now();
    let assets = Assets::load(
        &args.site.widget_dir,
        &args.site.public_dir,
        args.chat.max_message_chars.get(),
    )?;
    let compress_ms = started.elapsed().as_millis();
    tracing::info!(compress_ms, "assets read and compressed");
    let source = kb_source(&args);
    let encoder = encoder(
        &args.assistant.encoder,
        args.assistant.embedding_cache_entries,
    )?;
    let config = args.assistant.scope.engine_config();
    let cache = args.assistant.embedding_cache.0.as_deref();
    if let (Some(encoder), Some(path)) = (&encoder, cache) {
        read_embeddings(encoder, path);
    }
    let engine = Arc::new(Knowledge::train(&source, encoder.clone(), &config, None)?);
    if let (Some(encoder), Some(path)) = (&encoder, cache) {
        keep_embeddings(encoder, path);
    }
    let state = state(&args, engine.clone(), assets).await?;
    let knowledge = Arc::new(Knowledge::new(
        source,
        encoder,
        cache.map(Path::to_path_buf),
        config,
        args.assistant.tune_config().map(|config| Tuning {
            config,
            cache: args.assistant.tune_cache(),
        }),
        engine,
        state.chat.answers.clone(),
    ));
    knowledge.watch(KB_SETTLE).map_err(StartupError::Watch)?;
    knowledge.keep_tuned().map_err(StartupError::TuningThread)?;
    reload_on_hangup(knowledge.clone());
    let admin = admin_state(&args, &state, Some(knowledge));
    // Each connection is a file descriptor: raise the soft limit to the hard one.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).map_err(StartupError::FilesLimit)?;
    let limits = connection_limits(&args, nofile);
    let identity = state.guard.identity.clone();
    let recorder = state.chat.recorder.clone();
    let desk = state.handoff.desk.clone();
    let public = bind(args.listener.addr).await?;
    let admin_listener = bind(args.admin.admin_addr).await?;
    tracing::info!(
        nofile,
        max_connections = limits.max_connections,
        "connection limits"
    );
    let shutdown = shutdown_signal();
    let records = if recorder.is_on() {
        args.records.database.redacted()
    } else {
        "off".to_owned()
    };
    tracing::info!(
        records,
        "listening on http://{}",
        local(&public, args.listener.addr)?
    );
    tracing::info!(
        admin_api = admin.auth.enabled(),
        "admin listener (metrics, admin API) on http://{}",
        local(&admin_listener, args.admin.admin_addr)?
    );
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let admin_stopping = {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    };
    let admin_server = tokio::spawn(server::serve(
        admin_listener,
        admin_app(admin),
        limits,
        identity.clone(),
        admin_stopping,
    ));
    let router = app(state, &router_config(&args));
    server::serve(public, router, limits, identity, signal).await;
    let _ = admin_server.await;
    // Every request has ended: what they queued is written before exit,
    // and a handoff being delivered is delivered (or its attempt recorded).
    if let Some(desk) = desk {
        desk.worker.stop(DELIVERY_GRACE).await;
    }
    recorder.flush().await;
    tracing::info!("stopped");
    Ok(())
}

/// How long the knowledge base's folder must be quiet before a reload.
const KB_SETTLE: Duration = Duration::from_millis(300);

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartupError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })
}

fn local(listener: &tokio::net::TcpListener, addr: SocketAddr) -> Result<SocketAddr, StartupError> {
    listener
        .local_addr()
        .map_err(|source| StartupError::Listen { addr, source })
}

/// `SIGHUP` reloads the knowledge base.
fn reload_on_hangup(knowledge: Arc<Knowledge>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP: the knowledge base reloads on changes only");
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the knowledge base");
            let _ = knowledge.reload().await;
        }
    });
}

/// `SIGTERM` or `SIGINT`, listened for from this call on (not from the
/// future's first poll): one that comes as soon as "listening" is logged
/// stops the server gently too, instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = [SignalKind::terminate(), SignalKind::interrupt()].map(signal);
    async move {
        let [terminate, interrupt] = signals.map(|signal| async move {
            match signal {
                Ok(mut signal) => signal.recv().await,
                Err(_) => std::future::pending().await,
            }
        });
        tokio::select! {
            _ = terminate => {},
            _ = interrupt => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
