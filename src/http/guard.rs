//! The trust boundary of every public POST, in one function that reads in
//! the order it runs ([`public_post`]):
//!
//! 1. who the client is (the one [`ClientKey`], passed on from here, never
//!    looked up again);
//! 2. its fixed-window rate limit, before anything is parsed, so invalid
//!    requests count; every response carries the `RateLimit` headers;
//! 3. the request's deadline, around everything that follows;
//! 4. reading the body, once, under one size limit and its own deadline,
//!    before any shared place is taken: a client that dribbles its body
//!    holds nothing others need;
//! 5. the client's own places: at most `--max-in-flight-per-client` of its
//!    requests are worked on at once, the rest wait their turn (allowed
//!    requests are never refused for this);
//! 6. load shedding: beyond `--max-in-flight`, `503 overloaded` at once;
//! 7. the handler, which takes the body read in step 4 (`ReadBody`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::Semaphore;

use super::client::ClientIdentity;
use super::error::ApiError;
use super::extract::ReadBody;
use super::ratelimit_headers;
use crate::domain::client_ip::ClientKey;
use crate::domain::in_flight::PerClient;
use crate::domain::rate_limit::RateLimiter;

/// The policy name in the `RateLimit` headers.
const POLICY: &str = "chat";

/// What the guard holds: the shared limiter and the places, and the bounds
/// it enforces.
#[derive(Clone)]
pub struct Guard {
    pub limiter: Arc<dyn RateLimiter>,
    pub identity: Arc<ClientIdentity>,
    places: PerClient,
    in_flight: Arc<Semaphore>,
    bounds: Bounds,
}

/// The guard's bounds (from the chat limits' flags).
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// How long a request may take, body upload included.
    pub request_timeout: Duration,
    /// How long its body may take to arrive.
    pub body_read_timeout: Duration,
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Requests worked on at once, in all; more are shed.
    pub max_in_flight: usize,
    /// One client's requests worked on at once; more wait their turn.
    pub max_in_flight_per_client: usize,
}

impl Guard {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        identity: Arc<ClientIdentity>,
        bounds: Bounds,
    ) -> Self {
        Self {
            limiter,
            identity,
            places: PerClient::new(bounds.max_in_flight_per_client),
            in_flight: Arc::new(Semaphore::new(bounds.max_in_flight)),
            bounds,
        }
    }

    /// Steps 4 to 7, for a client already allowed in.
    async fn admit(&self, client: ClientKey, request: Request, next: Next) -> Response {
        let (parts, body) = request.into_parts();
        let limit = self.bounds.max_body_bytes;
        let body =
            match tokio::time::timeout(self.bounds.body_read_timeout, read(body, limit)).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(error)) => return error.into_response(),
                Err(_) => {
                    tracing::warn!("request body too slow");
                    return ApiError::Timeout.into_response();
                }
            };
        let _place = self.places.enter(client).await;
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            tracing::warn!("overloaded: shedding a request");
            return ApiError::Overloaded { retry_after: 1 }.into_response();
        };
        let mut request = Request::from_parts(parts, Body::empty());
        request.extensions_mut().insert(ReadBody(body));
        // Handlers that cap per client take this key, never their own.
        request.extensions_mut().insert(client);
        next.run(request).await
    }
}

/// Every public POST passes here (see the module docs).
pub async fn public_post(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let client = guard
        .identity
        .client_key(request.headers(), request.extensions());
    tracing::Span::current().record("client", tracing::field::display(client.redacted()));
    let decision = guard.limiter.check(client).await;
    let mut response = if decision.allowed {
        let admitted = guard.admit(client, request, next);
        match tokio::time::timeout(guard.bounds.request_timeout, admitted).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!("request timed out");
                ApiError::Timeout.into_response()
            }
        }
    } else {
        tracing::info!(retry_after = decision.retry_after_secs(), "rate limited");
        metrics::counter!("rate_limited_total", "policy" => POLICY).increment(1);
        ApiError::RateLimited {
            retry_after: decision.retry_after_secs(),
        }
        .into_response()
    };
    ratelimit_headers::insert(response.headers_mut(), &decision, POLICY);
    response
}

/// Reads `request`'s whole body, at most `limit` bytes, within `deadline`,
/// and hands it on as `ReadBody`: the one way a body is read.
pub async fn read_body(
    request: Request,
    limit: usize,
    deadline: Duration,
) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(deadline, read(body, limit)).await {
        Ok(read) => read?,
        Err(_) => {
            tracing::warn!("request body too slow");
            return Err(ApiError::Timeout);
        }
    };
    let mut request = Request::from_parts(parts, Body::empty());
    request.extensions_mut().insert(ReadBody(body));
    Ok(request)
}

/// The whole body, at most `limit` bytes (a `413` says so).
async fn read(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge { limit }),
        Err(_) => Err(ApiError::UnreadableBody),
    }
}
