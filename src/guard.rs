//! The chat endpoint's trust boundary, as axum middleware: who the client is,
//! the per-client fixed-window limit, load shedding and the deadline; and the
//! GCRA flood guard (tower-governor) on the GET routes, keyed the same way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

use crate::app::AppState;
use crate::client_ip::{ClientIpConfig, ClientKey};
use crate::error::ApiError;

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The policy name in the `RateLimit` headers.
const POLICY: &str = "chat";

/// The rate-limit key of a request: its TCP peer, or with trusted proxies
/// configured, the first untrusted `X-Forwarded-For` hop from the right.
pub fn client_key(
    config: &ClientIpConfig,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> ClientKey {
    // Without ConnectInfo (never the case when served by `app::serve`) all
    // requests share one key: the safe direction to fail.
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("<invalid>"))
        .collect();
    config.client_key(peer, &forwarded)
}

/// 60 requests per 60 s per client (configurable), before anything parses
/// the request; every response carries the `RateLimit` headers.
pub async fn chat_rate_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let key = client_key(&state.client_ip, request.headers(), request.extensions());
    tracing::Span::current().record("client", tracing::field::display(key.redacted()));
    let decision = state.limiter.check(key);
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        tracing::info!(retry_after = decision.retry_after_secs(), "rate limited");
        ApiError::RateLimited {
            retry_after: decision.retry_after_secs(),
        }
        .into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (RATELIMIT_POLICY, decision.policy_header(POLICY)),
        (RATELIMIT, decision.ratelimit_header(POLICY)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// Sheds load: beyond `max_in_flight` chat requests at once, answer
/// `503 overloaded` at once instead of queueing.
pub async fn shed_load(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            tracing::warn!("overloaded: shedding a chat request");
            ApiError::Overloaded { retry_after: 1 }.into_response()
        }
    }
}

/// Ends a request that takes longer than the deadline (a slow body upload or
/// a slow answer) with a `503 timeout` envelope instead of a hung connection.
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out");
            ApiError::Timeout.into_response()
        }
    }
}

/// tower-governor's key: the same client key as the chat limiter.
#[derive(Clone)]
pub struct GovernorKey(pub Arc<ClientIpConfig>);

impl KeyExtractor for GovernorKey {
    type Key = ClientKey;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<ClientKey, GovernorError> {
        Ok(client_key(&self.0, request.headers(), request.extensions()))
    }
}

/// tower-governor's rejection as our envelope. Its wait is whole seconds
/// rounded down; one more second is never too early.
pub fn governor_error(error: GovernorError) -> Response {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::RateLimited {
            retry_after: wait_time + 1,
        }
        .into_response(),
        GovernorError::UnableToExtractKey | GovernorError::Other { .. } => {
            ApiError::Overloaded { retry_after: 1 }.into_response()
        }
    }
}
