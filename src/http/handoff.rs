//! A visitor asks a person to get in touch (`POST …/handoff`, behind the
//! guard like every public POST), and the widget asks whether anyone takes
//! handoffs and is there now (`GET …/status`).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use support_chat_api::{HandoffRequest, HandoffResponse, Status};

use super::error::ApiError;
use super::extract::ApiJson;
use super::state::HandoffState;
use crate::domain::client_ip::ClientKey;
use crate::domain::handoff::{Contact, HandoffError};
use crate::domain::hours::Availability;
use crate::domain::session::SessionId;

/// Takes a handoff: `202` once it is in the outbox, never before.
pub async fn handoff(
    State(state): State<HandoffState>,
    Extension(client): Extension<ClientKey>,
    ApiJson(request): ApiJson<HandoffRequest>,
) -> Result<(StatusCode, Json<HandoffResponse>), ApiError> {
    let session = SessionId::parse(&request.session).ok_or(ApiError::InvalidSession)?;
    let contact = Contact::parse(
        &request.email,
        request.name.as_deref(),
        request.note.as_deref(),
    )?;
    let Some(desk) = &state.desk else {
        return Err(ApiError::HandoffsOff);
    };
    let email = contact.email.clone();
    let handoff = desk
        .take(session, &client.to_string(), contact)
        .await
        .map_err(|error| match error {
            HandoffError::UnknownSession => ApiError::UnknownSession,
            HandoffError::Capped { retry_after_secs } => {
                metrics::counter!("rate_limited_total", "policy" => "handoff").increment(1);
                ApiError::HandoffLimited {
                    retry_after: retry_after_secs,
                }
            }
            HandoffError::Store(error) => {
                tracing::error!(%error, "a handoff could not be stored: refused, not lost");
                ApiError::Unavailable { retry_after: 5 }
            }
        })?;
    tracing::info!(reference = %handoff.reference, "handoff taken");
    let when = state
        .sentence()
        .unwrap_or_else(|| "We'll reply as soon as we can.".to_owned());
    Ok((
        StatusCode::ACCEPTED,
        Json(HandoffResponse {
            message: format!(
                "Thank you. Our team has your conversation and will reply to {email}. {when} Your reference is {}.",
                handoff.reference
            ),
            reference: handoff.reference,
        }),
    ))
}

/// Whether handoffs are taken, and whether someone is there now.
pub async fn status(State(state): State<HandoffState>) -> Response {
    let now = jiff::Timestamp::now();
    let status = Status {
        handoff: state.desk.is_some(),
        open: state
            .hours
            .as_ref()
            .map(|h| h.at(now) == Availability::Open),
        message: state.sentence(),
    };
    (
        // It changes with the hour: a cache may keep it a minute.
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        )],
        Json(status),
    )
        .into_response()
}
