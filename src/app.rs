//! The router, buildable without a socket ([`app`]), and [`serve`], which binds it.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use leptos::prelude::*;
use tokio::sync::Semaphore;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::api::CHAT_PATH;
use crate::assets::{Assets, WIDGET_PREFIX};
use crate::assistant::{Assistant, Engine, KnowledgeBase};
use crate::client_ip::{ClientIpConfig, ClientIpConfigError};
use crate::config::ServeArgs;
use crate::demo::DemoPage;
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::guard::{self, GovernorKey};
use crate::rate_limit::{Clock, FixedWindow, Quota, RateLimiter, SystemClock};
use crate::session::{MemorySessions, SessionLimits, SessionStore};
use crate::{chat, request_id};

/// Everything a request may need, cheap to clone. Fields are public so tests
/// can swap in, e.g., a limiter on a manual clock.
#[derive(Clone)]
pub struct AppState {
    pub assistant: Arc<dyn Assistant>,
    pub sessions: Arc<dyn SessionStore>,
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    pub client_ip: Arc<ClientIpConfig>,
    pub in_flight: Arc<Semaphore>,
    pub request_timeout: Duration,
    pub files_rate_limit: Quota,
    pub assets: Assets,
    pub limits: Limits,
    pub allowed_origins: Vec<String>,
    pub public_url: Option<String>,
}

impl axum::extract::FromRef<AppState> for Assets {
    fn from_ref(state: &AppState) -> Self {
        state.assets.clone()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_message_chars: usize,
    pub max_body_bytes: usize,
}

impl AppState {
    /// The state `args` describe, around an `assistant` and `assets` already loaded.
    pub fn new(
        args: &ServeArgs,
        assistant: Arc<dyn Assistant>,
        assets: Assets,
    ) -> Result<Self, ClientIpConfigError> {
        let sessions = MemorySessions::new(SessionLimits {
            idle: Duration::from_secs(args.session_idle_minutes * 60),
            max_turns: args.max_turns,
            max_sessions: NonZeroUsize::new(args.max_sessions).unwrap_or(NonZeroUsize::MIN),
        });
        Ok(Self {
            assistant,
            sessions: Arc::new(sessions),
            limiter: Arc::new(FixedWindow::new(args.chat_rate_limit, SystemClock)),
            clock: Arc::new(SystemClock),
            client_ip: Arc::new(ClientIpConfig::new(
                &args.trusted_proxies,
                args.ipv6_prefix,
            )?),
            in_flight: Arc::new(Semaphore::new(args.max_in_flight.max(1))),
            request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
            files_rate_limit: args.files_rate_limit,
            assets,
            limits: Limits {
                max_message_chars: args.max_message_chars,
                max_body_bytes: args.max_body_bytes,
            },
            allowed_origins: args.allowed_origins.clone(),
            public_url: args.public_url.clone(),
        })
    }
}

/// Response headers cross-origin scripts (the widget) may read.
const EXPOSED_HEADERS: [HeaderName; 4] = [
    header::RETRY_AFTER,
    guard::RATELIMIT,
    guard::RATELIMIT_POLICY,
    request_id::HEADER,
];

/// Public ring: any origin by default, no credentials; or only the listed ones.
fn cors(allowed_origins: &[String]) -> CorsLayer {
    let origins = if allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::HEAD, Method::POST])
        .allow_headers([header::CONTENT_TYPE, request_id::HEADER])
        .expose_headers(EXPOSED_HEADERS)
        .max_age(Duration::from_secs(24 * 60 * 60))
}

/// Every route with its middleware. Needs no socket, but a tokio runtime: it
/// starts the task that prunes the flood guard's memory.
pub fn app(state: AppState) -> Router {
    // Leptos renders on the tokio runtime (an `Err` means it is set up already).
    let _ = any_spawner::Executor::init_tokio();
    let public_url = state.public_url.clone();
    let demo = leptos_axum::render_app_to_stream(move || {
        view! { <DemoPage public_url=public_url.clone() /> }
    });

    // The chat endpoint. Outermost first: the rate limit (before any parsing,
    // so invalid requests count), load shedding, the deadline (which covers
    // reading the body), then the body limit the JSON extractor enforces.
    let chat_routes = Router::new()
        .route(
            CHAT_PATH,
            post(chat::chat).fallback(|| async { ApiError::MethodNotAllowed { allow: "POST" } }),
        )
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::Extension(BodyLimit(state.limits.max_body_bytes)))
        .layer(from_fn_with_state(state.clone(), guard::deadline))
        .layer(from_fn_with_state(state.clone(), guard::shed_load))
        .layer(from_fn_with_state(state.clone(), guard::chat_rate_limit))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    // The demo page and the widget's files, behind a generous GCRA flood guard
    // keyed like the chat limiter: up to `limit` at once, refilled over `window`.
    let quota = state.files_rate_limit;
    let flood_guard = GovernorConfigBuilder::default()
        .key_extractor(GovernorKey(state.client_ip.clone()))
        .period(quota.window / quota.limit)
        .burst_size(quota.limit)
        .finish()
        .expect("a valid quota makes a valid governor");
    let guard_state = flood_guard.limiter().clone();
    // Forget idle clients once a minute so the guard's memory stays bounded.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            guard_state.retain_recent();
        }
    });
    let files = get(crate::assets::serve)
        .fallback(|| async { ApiError::MethodNotAllowed { allow: "GET, HEAD" } });
    let file_routes = Router::new()
        .route(&format!("{WIDGET_PREFIX}/{{file}}"), files.clone())
        .route("/{file}", files)
        .route("/", get(demo))
        .layer(GovernorLayer::new(flood_guard).error_handler(guard::governor_error));

    // Layers run outside-in from the last added: request ids first (so every
    // response and log line has one), then tracing, a panic net (a 500
    // envelope; no input should reach it), CORS (which answers preflights
    // before any limiter counts them), then the nosniff header.
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/public/v1/openapi.json", get(crate::openapi::serve))
        .merge(chat_routes)
        .merge(file_routes)
        .fallback(|| async { ApiError::NotFound.into_response() })
        .with_state(state.clone())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(cors(&state.allowed_origins))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal.into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|request: &axum::extract::Request| {
                    let id = request
                        .headers()
                        .get(&request_id::HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id,
                        client = tracing::field::Empty,
                    )
                }),
        )
        .layer(axum::middleware::from_fn(request_id::middleware))
}

/// Loads everything `args` names, binds, and serves until SIGINT or SIGTERM,
/// letting requests in flight finish.
pub async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let kb = match &args.kb {
        Some(dir) => KnowledgeBase::load_dir(dir)?,
        None => KnowledgeBase::sample(),
    };
    let started = std::time::Instant::now();
    let engine = Engine::new(kb);
    tracing::info!(
        articles = engine.knowledge_base().articles().len(),
        train_ms = started.elapsed().as_millis() as u64,
        "knowledge base loaded"
    );
    let assets = Assets::load(&args.widget_dir, &args.public_dir, args.max_message_chars)?;
    let state = AppState::new(&args, Arc::new(engine), assets)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
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
