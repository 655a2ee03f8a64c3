//! The public POSTs, each behind the guard (`guard.rs`): a message
//! (`…/chat`), a vote on a reply (`…/feedback`), and erasing a
//! conversation (`DELETE …/session`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use support_chat_api::{ChatRequest, ChatResponse, DeleteSessionRequest, FeedbackRequest};
use support_chat_assistant::Message;

use super::error::ApiError;
use super::extract::ApiJson;
use super::state::ChatState;
use crate::domain::answer_pool::PoolError;
use crate::domain::care::Complaint;
use crate::domain::clock::now_millis;
use crate::domain::records::{
    FeedbackRecord, RecordedOutcome, SessionHash, TurnRecord, Write, inbox_candidate,
};
use crate::domain::session::{Begun, SessionId};

fn session_of(text: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(text).ok_or(ApiError::InvalidSession)
}

pub async fn chat(
    State(state): State<ChatState>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
    // Redacted at once: neither the engine nor the records see personal data.
    let message = Message::parse(&request.message, state.max_message_chars.get())?.redacted();
    let asked = request.session.as_deref().map(session_of).transpose()?;
    let now = state.clock.now();
    let (session, history) = state.sessions.resume(asked, now).await;
    let begun = Begun::of(asked, session);
    let answer = state
        .answers
        .reply(message.clone(), history)
        .await
        .map_err(|e| match e {
            PoolError::Saturated => {
                tracing::warn!("overloaded: every answer thread busy and the queue full");
                ApiError::Overloaded { retry_after: 1 }
            }
            PoolError::Panicked => ApiError::Internal,
        })?;
    state
        .sessions
        .append(session, answer.turn.clone(), begun, now)
        .await;
    let key = state.recorder.key();
    let reply_id = key.reply_id(session);
    let outcome = RecordedOutcome::of(&answer.turn.outcome);
    metrics::counter!("chat_replies_total", "outcome" => outcome.as_str()).increment(1);
    let signals = answer.signals;
    if let Some(category) = signals.care {
        metrics::counter!("care_flags_total", "category" => category.as_str()).increment(1);
    }
    let complaint = if signals.complaint {
        open_complaint(&state, key.session_hash(session), &message).await
    } else {
        None
    };
    state.recorder.record(Write::Turn(TurnRecord {
        reply_id: reply_id.clone(),
        session: key.session_hash(session),
        message: message.as_str().to_owned(),
        outcome,
        confidence: answer.turn.confidence,
        article: answer.article,
        // Only the inbox groups by it: kept for the turns it may show.
        embedding: answer
            .embedding
            .filter(|_| inbox_candidate(outcome, answer.turn.confidence))
            .map(|e| e.to_vec()),
        complaint: signals.complaint,
        care: signals.care,
    }));
    let mut reply = answer.reply.text;
    if answer.reply.handoff
        && let Some(hours) = &state.hours
    {
        reply.push_str("\n\n");
        reply.push_str(&hours.sentence(jiff::Timestamp::now()));
    }
    if let Some(reference) = &complaint {
        reply.push_str("\n\nWe have recorded this as a complaint. Your reference is ");
        reply.push_str(reference);
        reply.push('.');
    }
    Ok(Json(ChatResponse {
        session: session.to_string(),
        reply,
        suggestions: answer.reply.suggestions,
        handoff: answer.reply.handoff,
        reply_id: reply_id.as_str().to_owned(),
        complaint,
    }))
}

/// Records a complaint made in `session` (or finds the one it has open):
/// its reference. A complaint the database does not take still gets the
/// complaints wording and a person; it is logged and counted, never silent.
async fn open_complaint(
    state: &ChatState,
    session: SessionHash,
    message: &Message,
) -> Option<String> {
    let book = state.complaints.as_ref()?;
    let complaint = Complaint::new(session, message.as_str().to_owned(), now_millis());
    match book.open(&complaint).await {
        Ok(standing) => {
            if standing.reference == complaint.reference {
                metrics::counter!("complaints_opened_total").increment(1);
                tracing::info!(reference = %standing.reference, "complaint recorded");
            }
            Some(standing.reference)
        }
        Err(error) => {
            metrics::counter!("complaints_unrecorded_total").increment(1);
            tracing::error!(%error, "a complaint could not be recorded: the visitor was answered without a reference");
            None
        }
    }
}

/// A vote on a reply this server gave in that session; the latest wins.
pub async fn feedback(
    State(state): State<ChatState>,
    ApiJson(request): ApiJson<FeedbackRequest>,
) -> Result<StatusCode, ApiError> {
    let session = session_of(&request.session)?;
    let key = state.recorder.key();
    let reply_id = key
        .verify(session, &request.reply_id)
        .ok_or(ApiError::UnknownReply)?;
    let vote = if request.helpful {
        "helpful"
    } else {
        "not_helpful"
    };
    metrics::counter!("feedback_total", "vote" => vote).increment(1);
    state.recorder.record(Write::Feedback(FeedbackRecord {
        reply_id,
        session: key.session_hash(session),
        at: now_millis(),
        helpful: request.helpful,
    }));
    Ok(StatusCode::NO_CONTENT)
}

/// Erases a conversation: its live turns, and everything recorded of it
/// (after whatever of it is still queued). An unknown one is a `204` too;
/// a `503` when either store did not answer, so the visitor tries again
/// rather than being told it is gone (both steps can be repeated).
pub async fn delete_session(
    State(state): State<ChatState>,
    ApiJson(request): ApiJson<DeleteSessionRequest>,
) -> Result<StatusCode, ApiError> {
    let session = session_of(&request.session)?;
    let forgotten = state.sessions.forget(session).await;
    let hash = state.recorder.key().session_hash(session);
    let erased = state.recorder.erase(hash).await;
    if let Err(error) = &forgotten {
        tracing::warn!(%error, "a visitor's live conversation could not be erased now");
    }
    if let Err(error) = &erased {
        tracing::warn!(%error, "a visitor's recorded conversation could not be erased now");
    }
    if forgotten.is_err() || erased.is_err() {
        return Err(ApiError::Unavailable { retry_after: 5 });
    }
    metrics::counter!("sessions_erased_total").increment(1);
    Ok(StatusCode::NO_CONTENT)
}
