//! `POST /public/v1/support/chat`, behind the guard (`guard.rs`).

use axum::Json;
use axum::extract::State;
use support_chat_api::{ChatRequest, ChatResponse};
use support_chat_assistant::Message;

use super::error::ApiError;
use super::extract::ApiJson;
use super::state::ChatState;
use crate::domain::answer_pool::PoolError;
use crate::domain::session::SessionId;

pub async fn chat(
    State(state): State<ChatState>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
    let message = Message::parse(&request.message, state.max_message_chars.get())?;
    let session = match request.session.as_deref() {
        None => None,
        Some(text) => Some(SessionId::parse(text).ok_or(ApiError::InvalidSession)?),
    };
    let now = state.clock.now();
    let (session, history) = state.sessions.resume(session, now).await;
    let (reply, turn) = state
        .answers
        .reply(message, history)
        .await
        .map_err(|e| match e {
            PoolError::Saturated => {
                tracing::warn!("overloaded: every answer thread busy and the queue full");
                ApiError::Overloaded { retry_after: 1 }
            }
            PoolError::Panicked => ApiError::Internal,
        })?;
    state.sessions.append(session, turn, now).await;
    Ok(Json(ChatResponse {
        session: session.to_string(),
        reply: reply.text,
        suggestions: reply.suggestions,
        handoff: reply.handoff,
    }))
}
