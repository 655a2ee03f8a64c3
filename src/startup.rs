//! From flags to a running server: load the knowledge base and the assets,
//! build the state and the router, bind, and serve until told to stop.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{EncoderArgs, EncoderKind, ServeArgs};
use crate::domain::answer_pool::AnswerPool;
use crate::domain::assistant::{Assistant, Encoder, Engine, KnowledgeBase};
use crate::domain::client_ip::ClientIpConfig;
use crate::domain::clock::SystemClock;
use crate::domain::rate_limit::{Aggregated, FixedWindow, RateLimiter};
use crate::domain::session::{MemorySessions, SessionLimits, SessionStore};
use crate::http::server::{self, ConnectionLimits};
use crate::http::{AppState, Assets, ChatLimit, ChatState, Readiness, RouterConfig, app};
use crate::store::redis::{Redis, RedisLimiter, RedisSessions};

/// Flags that parse one by one but not together, or a store that cannot be
/// set up; the message names the flag.
#[derive(Debug)]
pub struct StartupError(String);

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

/// Refuses flags that parse one by one but not together. `serve` calls it
/// before loading anything, `state` again for callers that build state alone.
fn check(args: &ServeArgs) -> Result<(), StartupError> {
    if args.redis_url.is_some() && args.redis_key_secret.as_ref().is_none_or(|s| s.len() < 16) {
        return Err(StartupError(
            "--redis-url needs --redis-key-secret (SUPPORT_CHAT_REDIS_KEY_SECRET) of at least 16 characters, the same on every replica".into(),
        ));
    }
    if let Some(narrow) = args
        .ipv6_aggregate_limits
        .0
        .iter()
        .find(|n| n.prefix >= args.ipv6_prefix)
    {
        return Err(StartupError(format!(
            "--ipv6-aggregate-limits {narrow}: a network quota must be wider than --ipv6-prefix {}",
            args.ipv6_prefix
        )));
    }
    Ok(())
}

/// The shared state `args` describe, around an `assistant` and `assets` already loaded.
pub fn state(
    args: &ServeArgs,
    assistant: Arc<dyn Assistant>,
    assets: Assets,
) -> Result<AppState, StartupError> {
    check(args)?;
    let client_ip = ClientIpConfig::new(args.trusted_proxies.clone(), args.ipv6_prefix)
        .map_err(|e| StartupError(e.to_string()))?;
    let redis = match &args.redis_url {
        Some(url) => Some(
            Redis::connect(url, Duration::from_millis(args.redis_timeout_ms))
                .map_err(|e| StartupError(format!("--redis-url: {e}")))?,
        ),
        None => None,
    };
    let secret: Arc<[u8]> = args
        .redis_key_secret
        .as_deref()
        .unwrap_or("")
        .as_bytes()
        .into();
    // The chat limit of `quota`, named `name`: on Redis when configured.
    let limiter = |name: &str, quota| -> Arc<dyn RateLimiter> {
        match &redis {
            Some(redis) => Arc::new(RedisLimiter::new(
                redis.clone(),
                name,
                quota,
                secret.clone(),
                args.redis_fallback,
            )),
            None => Arc::new(FixedWindow::new(quota, SystemClock)),
        }
    };
    let wider = args
        .ipv6_aggregate_limits
        .0
        .iter()
        .map(|n| (n.prefix, limiter(&format!("chat/{}", n.prefix), n.quota)))
        .collect();
    let own = limiter("chat", args.chat_rate_limit);
    let sessions: Arc<dyn SessionStore> = match &redis {
        Some(redis) => Arc::new(RedisSessions::new(
            redis.clone(),
            args.max_turns as usize,
            session_idle(args),
            args.max_sessions,
            session_bytes(args),
        )),
        None => Arc::new(memory_sessions(args)),
    };
    let threads = args
        .answer_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let answers = AnswerPool::new(assistant, threads, args.answer_queue)
        .map_err(|e| StartupError(format!("cannot start the answer threads: {e}")))?;
    Ok(AppState {
        chat: ChatState {
            answers: Arc::new(answers),
            sessions,
            clock: Arc::new(SystemClock),
            max_message_chars: args.max_message_chars,
        },
        limit: ChatLimit {
            limiter: Arc::new(Aggregated::new(own, wider)),
            client_ip: Arc::new(client_ip),
        },
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
    let encoder = Encoder::load(&args.model_dir, cache_entries).map_err(|e| {
        StartupError(format!(
            "the sentence encoder did not load ({e}). Run `make model` to fetch it, \
             point --model-dir (SUPPORT_CHAT_MODEL_DIR) at its folder, \
             or pass --encoder none for the lexical-only engine"
        ))
    })?;
    tracing::info!(
        model_dir = %args.model_dir.display(),
        load_ms = started.elapsed().as_millis() as u64,
        "sentence encoder loaded"
    );
    Ok(Some(Arc::new(encoder)))
}

/// The in-memory session store `args` describe.
pub fn memory_sessions(args: &ServeArgs) -> MemorySessions {
    MemorySessions::new(SessionLimits {
        idle: session_idle(args),
        max_turns: args.max_turns as usize,
        max_sessions: NonZeroUsize::new(args.max_sessions).unwrap_or(NonZeroUsize::MIN),
        max_bytes: session_bytes(args),
    })
}

/// `--session-idle-minutes` as a duration.
fn session_idle(args: &ServeArgs) -> Duration {
    Duration::from_secs(args.session_idle_minutes * 60)
}

/// `--session-memory-mib` in bytes.
fn session_bytes(args: &ServeArgs) -> usize {
    usize::try_from(args.session_memory_mib << 20).unwrap_or(usize::MAX)
}

/// The router settings `args` describe.
pub fn router_config(args: &ServeArgs) -> RouterConfig {
    RouterConfig {
        allowed_origins: args.allowed_origins.clone(),
        public_url: args.public_url.clone(),
        files_rate_limit: args.files_rate_limit,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        body_read_timeout: Duration::from_secs(args.body_read_timeout_secs),
        max_in_flight: args.max_in_flight,
        max_in_flight_per_client: args.max_in_flight_per_client as usize,
        max_body_bytes: args.max_body_bytes,
    }
}

/// The connection bounds `args` describe, with the total lowered to leave
/// `RESERVED_FILES` of the open-files limit `nofile` free.
pub fn connection_limits(args: &ServeArgs, nofile: u64) -> ConnectionLimits {
    let fit = nofile.saturating_sub(RESERVED_FILES).max(1);
    if args.max_connections > fit {
        tracing::warn!(
            requested = args.max_connections,
            allowed = fit,
            nofile,
            "--max-connections lowered to fit the open-files limit"
        );
    }
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        read_buffer_bytes: args.read_buffer_bytes as usize,
        max_connections: args.max_connections.min(fit) as usize,
        max_connections_per_client: args.max_connections_per_client as usize,
        max_connections_per_network: args.max_connections_per_network as usize,
    }
}

/// File descriptors kept free of connections: the listener, logs, the
/// knowledge base and asset files at start-up, and headroom.
const RESERVED_FILES: u64 = 64;

/// Loads everything `args` names, binds, and serves until SIGINT or SIGTERM,
/// letting requests in flight finish.
pub async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    check(&args)?;
    // Cheap checks first: a missing file fails before the encoder runs.
    let assets = Assets::load(&args.widget_dir, &args.public_dir, args.max_message_chars)?;
    let kb = match &args.kb {
        Some(dir) => KnowledgeBase::load_dir(dir)?,
        None => KnowledgeBase::sample(),
    };
    let encoder = encoder(&args.encoder, args.embedding_cache_entries)?;
    let started = std::time::Instant::now();
    let engine = Engine::new(kb, encoder);
    tracing::info!(
        articles = engine.knowledge_base().articles().len(),
        train_ms = started.elapsed().as_millis() as u64,
        "knowledge base loaded"
    );
    let state = state(&args, Arc::new(engine), assets)?;
    // Each connection is a file descriptor: raise the soft limit to the hard one.
    let nofile = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("cannot read the open-files limit: {e}"))?;
    let limits = connection_limits(&args, nofile);
    let client_ip = state.limit.client_ip.clone();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    tracing::info!(
        nofile,
        max_connections = limits.max_connections,
        "connection limits"
    );
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let router = app(state, &router_config(&args));
    server::serve(listener, router, limits, client_ip, shutdown_signal()).await;
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
