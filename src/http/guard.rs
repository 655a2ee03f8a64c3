//! The chat endpoint's trust boundary, as axum middleware: the per-client
//! fixed-window limit, the deadline, reading the body, the per-client places,
//! load shedding.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::client::client_key;
use super::error::ApiError;
use super::extract::read_body;
use super::ratelimit_headers;
use super::state::ChatLimit;
use crate::domain::client_ip::ClientKey;
use crate::domain::in_flight::PerClient;

/// The policy name in the `RateLimit` headers.
const POLICY: &str = "chat";

/// 60 requests per 60 s per client (configurable), before anything parses
/// the request; every response carries the `RateLimit` headers.
pub async fn chat_rate_limit(
    State(limit): State<ChatLimit>,
    request: Request,
    next: Next,
) -> Response {
    let key = client_key(&limit.client_ip, request.headers(), request.extensions());
    tracing::Span::current().record("client", tracing::field::display(key.redacted()));
    let decision = limit.limiter.check(key).await;
    let mut response = if decision.allowed {
        // For the per-client place further in.
        let mut request = request;
        request.extensions_mut().insert(key);
        next.run(request).await
    } else {
        tracing::info!(retry_after = decision.retry_after_secs(), "rate limited");
        ApiError::RateLimited {
            retry_after: decision.retry_after_secs(),
        }
        .into_response()
    };
    ratelimit_headers::insert(response.headers_mut(), &decision, POLICY);
    response
}

/// Reads the whole body, under its own deadline, before anything else waits
/// for it: so a client that dribbles its body holds no shared permit, and
/// one that stalls gets a `503 timeout` envelope.
pub async fn buffer_body(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let head = parts.clone();
    let read = read_body(Request::from_parts(parts, body), &());
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(head, Body::from(bytes))).await,
        Ok(Err(error)) => error.into_response(),
        Err(_) => {
            tracing::warn!("request body too slow");
            ApiError::Timeout.into_response()
        }
    }
}

/// At most `--max-in-flight-per-client` of one client's chat requests are
/// worked on at once; the others wait their turn (under the request's
/// deadline), so no client takes every shared place and none is refused.
pub async fn per_client(State(places): State<PerClient>, request: Request, next: Next) -> Response {
    match request.extensions().get::<ClientKey>().copied() {
        Some(key) => {
            let _place = places.enter(key).await;
            next.run(request).await
        }
        // Only behind `chat_rate_limit`, which always sets the key.
        None => next.run(request).await,
    }
}

/// Sheds load: beyond `max_in_flight` chat requests at once, answer
/// `503 overloaded` at once instead of queueing.
pub async fn shed_load(
    State(in_flight): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match in_flight.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            tracing::warn!("overloaded: shedding a chat request");
            ApiError::Overloaded { retry_after: 1 }.into_response()
        }
    }
}

/// Ends a request that takes longer than the deadline (a slow body upload or
/// a slow answer) with a `503 timeout` envelope instead of a hung connection.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out");
            ApiError::Timeout.into_response()
        }
    }
}
