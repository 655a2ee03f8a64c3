//! `POST /public/v1/support/chat`.

use axum::Json;
use axum::extract::State;

use crate::api::{ChatRequest, ChatResponse};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::session::SessionId;

pub async fn chat(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
    let message = validate_message(&request.message, state.limits.max_message_chars)?;
    let session = match request.session.as_deref() {
        None => None,
        Some(text) => Some(SessionId::parse(text).ok_or(ApiError::InvalidSession)?),
    };
    let now = state.clock.now();
    let (session, history) = state.sessions.resume(session, now);
    let (reply, turn) = state.assistant.reply(message, &history);
    state.sessions.append(session, turn, now);
    Ok(Json(ChatResponse {
        session: session.to_string(),
        reply: reply.text,
        suggestions: reply.suggestions,
        handoff: reply.handoff,
    }))
}

/// Trimmed; 1 to `max_chars` characters; no control characters but tab and newline.
pub fn validate_message(message: &str, max_chars: usize) -> Result<&str, ApiError> {
    let message = message.trim();
    if message.is_empty() {
        return Err(ApiError::MessageEmpty);
    }
    if message.chars().count() > max_chars {
        return Err(ApiError::MessageTooLong { max: max_chars });
    }
    if message
        .chars()
        .any(|c| c.is_control() && c != '\t' && c != '\n')
    {
        return Err(ApiError::MessageControlChars);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(validate_message("  hello \n", 10), Ok("hello"));
        assert_eq!(validate_message(" \t\n ", 10), Err(ApiError::MessageEmpty));
        assert_eq!(validate_message(&"é".repeat(10), 10), Ok("éééééééééé"));
        assert_eq!(
            validate_message(&"é".repeat(11), 10),
            Err(ApiError::MessageTooLong { max: 10 })
        );
        assert_eq!(validate_message("😀 ok", 10), Ok("😀 ok"));
    }

    #[test]
    fn control_characters_other_than_tab_and_newline_are_rejected() {
        assert_eq!(validate_message("a\tb\nc", 10), Ok("a\tb\nc"));
        for bad in ["a\0b", "a\u{7}b", "a\rb", "a\u{1b}[31mb", "a\u{85}b"] {
            assert_eq!(
                validate_message(bad, 10),
                Err(ApiError::MessageControlChars),
                "{bad:?}"
            );
        }
    }
}
