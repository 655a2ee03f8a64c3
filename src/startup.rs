//! From flags to a running server: load the knowledge base and the assets,
//! build the state and the router, bind, and serve until told to stop.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use secrecy::ExposeSecret;
use support_chat_assistant::{Assistant, Encoder, EncoderError, Engine, KbError, KnowledgeBase};

use crate::config::{ConfigError, EncoderArgs, EncoderKind, ServeArgs};
use crate::domain::answer_pool::AnswerPool;
use crate::domain::clock::SystemClock;
use crate::domain::rate_limit::{Aggregated, FixedWindow, RateLimiter};
use crate::domain::session::{MemorySessions, SessionLimits, SessionStore};
use crate::http::client::ClientIdentity;
use crate::http::guard::{Bounds, Guard};
use crate::http::server::{self, ConnectionLimits};
use crate::http::{AppState, AssetError, Assets, ChatState, Readiness, RouterConfig, app};
use crate::store::redis::{Redis, RedisLimiter, RedisSessions};

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
    #[error("cannot read the open-files limit")]
    FilesLimit(#[source] std::io::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The shared state `args` describe, around an `assistant` and `assets` already loaded.
pub fn state(
    args: &ServeArgs,
    assistant: Arc<dyn Assistant>,
    assets: Assets,
) -> Result<AppState, StartupError> {
    let redis = match &args.redis.url {
        Some(url) => Some(Redis::connect(url, args.redis.timeout).map_err(StartupError::Redis)?),
        None => None,
    };
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
    let sessions: Arc<dyn SessionStore> = match &redis {
        Some(redis) => Arc::new(RedisSessions::new(redis.clone(), session_limits(args))),
        None => Arc::new(memory_sessions(args)),
    };
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
        },
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

/// File descriptors kept free of connections: the listener, logs, the
/// knowledge base and asset files at start-up, and headroom.
const RESERVED_FILES: u64 = 64;

/// Loads everything `args` names, binds, and serves until SIGINT or SIGTERM,
/// letting requests in flight finish. `args` were checked where they were read.
pub async fn run(args: ServeArgs) -> Result<(), StartupError> {
    // Cheap checks first: a missing file fails before the encoder runs.
    let assets = Assets::load(
        &args.site.widget_dir,
        &args.site.public_dir,
        args.chat.max_message_chars.get(),
    )?;
    let kb = match &args.assistant.kb {
        Some(dir) => KnowledgeBase::load_dir(dir)?,
        None => KnowledgeBase::sample(),
    };
    let encoder = encoder(
        &args.assistant.encoder,
        args.assistant.embedding_cache_entries,
    )?;
    let started = std::time::Instant::now();
    let engine = Engine::new(kb, encoder);
    tracing::info!(
        articles = engine.knowledge_base().articles().len(),
        train_ms = started.elapsed().as_millis() as u64,
        "knowledge base loaded"
    );
    let state = state(&args, Arc::new(engine), assets)?;
    // Each connection is a file descriptor: raise the soft limit to the hard one.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).map_err(StartupError::FilesLimit)?;
    let limits = connection_limits(&args, nofile);
    let identity = state.guard.identity.clone();
    let addr = args.listener.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })?;
    tracing::info!(
        nofile,
        max_connections = limits.max_connections,
        "connection limits"
    );
    let local = listener
        .local_addr()
        .map_err(|source| StartupError::Listen { addr, source })?;
    tracing::info!("listening on http://{local}");
    let router = app(state, &router_config(&args));
    server::serve(listener, router, limits, identity, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async { tokio::signal::ctrl_c().await.ok() };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => signal.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
