//! The router, buildable without a socket: [`app`]. Routes come in groups,
//! each with its own layers; the layers around all of them read top-down
//! (outermost first) in one `ServiceBuilder`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::assets::{self, WIDGET_FILES};
use super::cors::{AllowedOrigins, cors};
use super::error::ApiError;
use super::openapi::{self, OPENAPI_PATH, OpenApi};
use super::state::{AppState, Readiness};
use super::{chat, demo, flood_guard, guard, handoff, metrics, request_id};
use crate::domain::rate_limit::Quota;
use support_chat_api::{CHAT_PATH, FEEDBACK_PATH, HANDOFF_PATH, SESSION_PATH, STATUS_PATH};

/// Settings the router is built with; no request reads them.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Origins allowed through CORS.
    pub allowed_origins: AllowedOrigins,
    /// The base URL the demo page embeds the widget from (default: the request's origin).
    pub public_url: Option<url::Url>,
    /// The flood guard on the GET routes.
    pub files_rate_limit: Quota,
}

/// Every route with its middleware. Needs no socket, but a tokio runtime: it
/// starts the task that prunes the flood guard's memory.
pub fn app(state: AppState, config: &RouterConfig) -> Router {
    // Leptos renders on the tokio runtime (an `Err` means it is set up already).
    let _ = any_spawner::Executor::init_tokio();
    let outer = ServiceBuilder::new()
        // Request ids first, so every response and log line has one.
        .layer(from_fn(request_id::middleware))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(request_id::span),
        )
        // A panic is a 500 envelope; no input should reach it.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal.into_response()
        }))
        // CORS answers preflights before any limiter counts them.
        .layer(cors(&config.allowed_origins))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    public_routes(&state, config)
        .router
        .route_layer(from_fn(metrics::count))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
        .layer(outer)
}

/// A router and the paths it was given, so the OpenAPI document can be held
/// to the routes that really exist.
pub struct Routes {
    pub router: Router<AppState>,
    pub paths: Vec<&'static str>,
}

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    fn route(mut self, path: &'static str, method: MethodRouter<AppState>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, method);
        self
    }

    /// These routes, each behind `layer` as well.
    fn layered(mut self, layer: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = layer(self.router);
        self
    }

    fn merge(mut self, other: Routes) -> Self {
        self.paths.extend(other.paths);
        self.router = self.router.merge(other.router);
        self
    }
}

/// Every route of the public listener, in its groups.
pub fn public_routes(state: &AppState, config: &RouterConfig) -> Routes {
    Routes::new()
        .merge(health_routes())
        .merge(chat_routes(state))
        .merge(file_routes(state, config))
}

/// `/healthz` and `/readyz`: no limit, no body.
fn health_routes() -> Routes {
    Routes::new()
        .route("/healthz", only_get(get(healthz)))
        .route("/readyz", only_get(get(readyz)))
}

/// The public POSTs, each behind the guard (`guard.rs`) and never cached.
fn chat_routes(state: &AppState) -> Routes {
    let guard = state.guard.clone();
    Routes::new()
        .route(CHAT_PATH, only(post(chat::chat), "POST"))
        .route(FEEDBACK_PATH, only(post(chat::feedback), "POST"))
        .route(SESSION_PATH, only(delete(chat::delete_session), "DELETE"))
        .route(HANDOFF_PATH, only(post(handoff::handoff), "POST"))
        .layered(|routes| {
            routes.layer(
                ServiceBuilder::new()
                    .layer(SetResponseHeaderLayer::overriding(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("no-store"),
                    ))
                    .layer(from_fn_with_state(guard, guard::public_post)),
            )
        })
}

/// The demo page, the widget's files, the OpenAPI document and the
/// handoff status, behind a generous GCRA flood guard.
fn file_routes(state: &AppState, config: &RouterConfig) -> Routes {
    let public_url = config.public_url.clone();
    let openapi = OpenApi::new(state.chat.max_message_chars.get());
    let identity = state.guard.identity.clone();
    let quota = config.files_rate_limit;
    Routes::new()
        .route(
            "/",
            only_get(get(move |request| demo::page(public_url.clone(), request))),
        )
        .route(WIDGET_FILES, only_get(get(assets::file)))
        .route("/{file}", only_get(get(assets::file)))
        .route(
            OPENAPI_PATH,
            only_get(get(openapi::document).with_state(openapi)),
        )
        .route(STATUS_PATH, only_get(get(handoff::status)))
        .layered(|routes| flood_guard::guard(routes, quota, identity))
}

/// `method`, with every other method a `405` envelope naming `allow`.
fn only(method: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    method.fallback(move || async move { ApiError::MethodNotAllowed { allow } })
}

fn only_get(method: MethodRouter<AppState>) -> MethodRouter<AppState> {
    only(method, "GET, HEAD")
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
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
