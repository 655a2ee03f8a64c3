//! The GCRA flood guard (tower-governor) on the GET routes, keyed like the
//! chat limiter, answering in the envelope.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

use super::client::ClientIdentity;
use super::error::ApiError;
use crate::domain::client_ip::ClientKey;
use crate::domain::rate_limit::Quota;

/// `routes` behind the guard: up to `quota.limit()` requests at once per
/// client, refilled evenly over `quota.window()`. Needs a tokio runtime: it
/// starts the task that forgets idle clients once a minute, so the guard's
/// memory stays bounded.
pub fn guard<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    quota: Quota,
    identity: Arc<ClientIdentity>,
) -> Router<S> {
    let config = GovernorConfigBuilder::default()
        .key_extractor(GovernorKey(identity))
        .period(quota.window() / quota.limit())
        .burst_size(quota.limit())
        .finish()
        .expect("a valid quota makes a valid governor");
    let state = config.limiter().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            state.retain_recent();
        }
    });
    routes.layer(GovernorLayer::new(config).error_handler(governor_error))
}

/// tower-governor's key: the same client key as the chat limiter.
#[derive(Clone)]
struct GovernorKey(Arc<ClientIdentity>);

impl KeyExtractor for GovernorKey {
    type Key = ClientKey;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<ClientKey, GovernorError> {
        Ok(self.0.client_key(request.headers(), request.extensions()))
    }
}

/// tower-governor's rejection as our envelope. Its wait is whole seconds
/// rounded down; one more second is never too early.
fn governor_error(error: GovernorError) -> Response {
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
