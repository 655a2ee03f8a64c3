//! The router, buildable without a socket: [`app`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use leptos::prelude::*;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::assets::{self, WIDGET_PREFIX};
use super::demo::DemoPage;
use super::error::ApiError;
use super::extract::BodyLimit;
use super::openapi::OpenApi;
use super::ratelimit_headers::{RATELIMIT, RATELIMIT_POLICY};
use super::state::{AppState, Readiness};
use super::{chat, flood_guard, guard, openapi, request_id};
use crate::api::CHAT_PATH;
use crate::domain::in_flight::PerClient;
use crate::domain::rate_limit::Quota;

/// Settings the router is built with; no request reads them.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Origins allowed through CORS; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// The base URL the demo page embeds the widget from (default: the request's origin).
    pub public_url: Option<String>,
    /// The flood guard on the GET routes.
    pub files_rate_limit: Quota,
    /// How long a chat request may take, body upload included.
    pub request_timeout: Duration,
    /// How long a chat request's body may take to arrive.
    pub body_read_timeout: Duration,
    /// Chat requests served at once; more are shed with `503 overloaded`.
    pub max_in_flight: usize,
    /// One client's chat requests served at once; more wait their turn.
    pub max_in_flight_per_client: usize,
    /// Largest accepted chat request body, in bytes.
    pub max_body_bytes: usize,
}

/// Response headers cross-origin scripts (the widget) may read.
const EXPOSED_HEADERS: [HeaderName; 4] = [
    header::RETRY_AFTER,
    RATELIMIT,
    RATELIMIT_POLICY,
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

/// Readiness, for a load balancer: this replica serves (`200`), and how its
/// shared store is. Redis being down does not make a replica unready: it
/// serves with its fallback (see `store/redis.rs`).
async fn readyz(State(ready): State<Readiness>) -> axum::Json<serde_json::Value> {
    let redis = match &ready.redis {
        None => serde_json::json!("not configured"),
        Some(health) => serde_json::json!({
            "status": if health.is_up() { "up" } else { "down" },
            "fallbacks": health.failures(),
        }),
    };
    axum::Json(serde_json::json!({ "status": "ready", "redis": redis }))
}

/// Every route with its middleware. Needs no socket, but a tokio runtime: it
/// starts the task that prunes the flood guard's memory.
pub fn app(state: AppState, config: &RouterConfig) -> Router {
    // Leptos renders on the tokio runtime (an `Err` means it is set up already).
    let _ = any_spawner::Executor::init_tokio();
    let public_url = config.public_url.clone();
    let demo = leptos_axum::render_app_to_stream(move || {
        view! { <DemoPage public_url=public_url.clone() /> }
    });

    // The chat endpoint. Outermost first: the rate limit (before any parsing,
    // so invalid requests count), the deadline (the whole request), the body
    // limit, reading the body under its own deadline, the client's own places
    // (waiting its turn), and only then load shedding: no permit is held
    // while a body arrives, and one client cannot hold them all.
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let chat_routes = Router::new()
        .route(
            CHAT_PATH,
            post(chat::chat).fallback(|| async { ApiError::MethodNotAllowed { allow: "POST" } }),
        )
        .layer(from_fn_with_state(in_flight, guard::shed_load))
        .layer(from_fn_with_state(
            PerClient::new(config.max_in_flight_per_client),
            guard::per_client,
        ))
        .layer(from_fn_with_state(
            config.body_read_timeout,
            guard::buffer_body,
        ))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::Extension(BodyLimit(config.max_body_bytes)))
        .layer(from_fn_with_state(config.request_timeout, guard::deadline))
        .layer(from_fn_with_state(
            state.limit.clone(),
            guard::chat_rate_limit,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    // The demo page, the widget's files and the OpenAPI document, behind a
    // generous GCRA flood guard.
    let files =
        get(assets::serve).fallback(|| async { ApiError::MethodNotAllowed { allow: "GET, HEAD" } });
    let openapi = get(openapi::serve)
        .fallback(|| async { ApiError::MethodNotAllowed { allow: "GET, HEAD" } })
        .with_state(OpenApi::new(state.chat.max_message_chars));
    let file_routes = flood_guard::guard(
        Router::new()
            .route(&format!("{WIDGET_PREFIX}/{{file}}"), files.clone())
            .route("/{file}", files)
            .route("/public/v1/openapi.json", openapi)
            .route(
                "/",
                get(demo).layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                )),
            ),
        config.files_rate_limit,
        state.limit.client_ip.clone(),
    );

    // Layers run outside-in from the last added: request ids first (so every
    // response and log line has one), then tracing, a panic net (a 500
    // envelope; no input should reach it), CORS (which answers preflights
    // before any limiter counts them), then the nosniff header.
    Router::new()
        .route(
            "/readyz",
            get(readyz).fallback(|| async { ApiError::MethodNotAllowed { allow: "GET, HEAD" } }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) })
                .fallback(|| async { ApiError::MethodNotAllowed { allow: "GET, HEAD" } }),
        )
        .merge(chat_routes)
        .merge(file_routes)
        .fallback(|| async { ApiError::NotFound.into_response() })
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(cors(&config.allowed_origins))
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
