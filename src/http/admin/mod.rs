//! The admin listener (`--admin-addr`, loopback by default): `GET /metrics`
//! for Prometheus, and, only when `SUPPORT_CHAT_ADMIN_TOKEN` is set, the
//! admin JSON API under `/admin/api/` (every call with `Authorization:
//! Bearer <token>`). Nothing here is ever routed on the public listener:
//! this router is built apart and served on its own socket.

mod api;
mod auth;
mod care;
mod console;
mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use auth::AdminAuth;

use super::error::ApiError;
use super::request_id;
use crate::domain::care::{ComplaintBook, ComplaintStatus};
use crate::domain::handoff::{HandoffDesk, Status};
use crate::domain::knowledge::Knowledge;
use crate::domain::records::{RecordStore, Recorder};
use crate::domain::session::SessionStore;
use crate::store::redis::Health;

/// What the admin side uses.
#[derive(Clone)]
pub struct AdminState {
    /// The records (none with `--record off`).
    pub records: Option<Arc<dyn RecordStore>>,
    pub recorder: Recorder,
    pub sessions: Arc<dyn SessionStore>,
    /// The knowledge base and its reload (none when the assistant was
    /// given whole, as in some tests).
    pub knowledge: Option<Arc<Knowledge>>,
    pub metrics: PrometheusHandle,
    pub auth: AdminAuth,
    /// Redis's health, where there is one (its fallbacks are a metric).
    pub redis: Option<Arc<Health>>,
    /// The handoff outbox, where handoffs are taken.
    pub handoffs: Option<Arc<HandoffDesk>>,
    /// The complaint records (none with `--record off`).
    pub complaints: Option<Arc<dyn ComplaintBook>>,
}

/// The admin router: `/metrics`, the API's OpenAPI document, and the API.
pub fn admin_app(state: AdminState) -> Router {
    let api = Router::new()
        .route("/admin/api/summary", only(get(api::summary), "GET, HEAD"))
        .route(
            "/admin/api/unanswered",
            only(get(api::unanswered), "GET, HEAD"),
        )
        .route(
            "/admin/api/unanswered/{id}/dismiss",
            only(post(api::dismiss), "POST"),
        )
        .route(
            "/admin/api/conversations",
            only(get(api::conversations), "GET, HEAD"),
        )
        .route(
            "/admin/api/conversations/{id}",
            only(
                get(api::conversation).delete(api::erase_conversation),
                "GET, HEAD, DELETE",
            ),
        )
        .route("/admin/api/export", only(get(api::export), "GET, HEAD"))
        .route(
            "/admin/api/complaints",
            only(get(care::complaints), "GET, HEAD"),
        )
        .route(
            "/admin/api/complaints/{reference}",
            only(patch(care::update_complaint), "PATCH"),
        )
        .route(
            "/admin/api/complaints/{reference}/notice/retry",
            only(post(care::retry_notice), "POST"),
        )
        .route("/admin/api/care", only(get(care::care), "GET, HEAD"))
        .route("/admin/api/handoffs", only(get(api::handoffs), "GET, HEAD"))
        .route(
            "/admin/api/handoffs/{reference}/retry",
            only(post(api::retry_handoff), "POST"),
        )
        .route("/admin/api/kb", only(get(api::kb), "GET, HEAD"))
        .route(
            "/admin/api/kb/{article}/questions",
            only(post(api::add_question), "POST"),
        )
        .layer(from_fn(api::read_small_body))
        .layer(from_fn_with_state(state.auth.clone(), auth::require_token));
    Router::new()
        .route("/metrics", only(get(render_metrics), "GET, HEAD"))
        .route(
            "/admin/api/openapi.json",
            only(get(openapi::document), "GET, HEAD"),
        )
        .merge(api)
        .merge(console::routes())
        .fallback(|uri: Uri| async move {
            if uri.path().starts_with("/console/") {
                console::not_found()
            } else {
                ApiError::NotFound.into_response()
            }
        })
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(request_id::middleware))
                .layer(
                    TraceLayer::new_for_http()
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                        .make_span_with(request_id::span),
                )
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::Internal.into_response()
                }))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                )),
        )
}

fn only(method: MethodRouter<AdminState>, allow: &'static str) -> MethodRouter<AdminState> {
    method.fallback(move || async move { ApiError::MethodNotAllowed { allow } })
}

/// Prometheus' text format. Gauges of state kept elsewhere are read now.
async fn render_metrics(State(state): State<AdminState>) -> Response {
    if let Some(live) = state.sessions.live().await {
        metrics::gauge!("sessions_live").set(live as f64);
    }
    if let Some(redis) = &state.redis {
        metrics::gauge!("redis_fallbacks").set(redis.failures() as f64);
        metrics::gauge!("redis_up").set(f64::from(u8::from(redis.is_up())));
    }
    if let Some(desk) = &state.handoffs {
        match desk.outbox.counts().await {
            Ok(counts) => {
                for status in Status::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| *s == status)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!("handoffs", "status" => status.as_str()).set(n as f64);
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: the handoff outbox did not answer"),
        }
    }
    if let Some(book) = &state.complaints {
        match book.counts().await {
            Ok(counts) => {
                for status in ComplaintStatus::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| *s == status)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!("complaints", "status" => status.as_str()).set(n as f64);
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: the complaint records did not answer"),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}
