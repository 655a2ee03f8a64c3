//! The duty of care on the admin side: complaint records (`GET`, `PATCH`)
//! and the conversations with a vulnerability cue, with their outcomes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminState;
use super::api::{Params, days_back, time, unavailable};
use crate::domain::care::{Amended, Complaint, ComplaintBook, ComplaintStatus, amend};
use crate::domain::clock::now_millis;
use crate::domain::records::RecordError;
use crate::http::error::{ApiError, BodyProblem};
use crate::http::extract::Segment;
use crate::http::extract::{ApiJson, WireShape};

fn book(state: &AdminState) -> Result<&Arc<dyn ComplaintBook>, ApiError> {
    state.complaints.as_ref().ok_or(ApiError::Conflict {
        code: "records_off",
        message: "Nothing is recorded: the server runs with --record off.",
    })
}

const DAY_MS: f64 = 86_400_000.0;

/// A complaint as the admin API shows it, with its age and whether a due
/// date has passed.
fn complaint_json(c: &Complaint, now: i64) -> Value {
    json!({
        "reference": c.reference,
        "conversation": c.session.as_str(),
        "made_at": time(c.made),
        "age_days": ((now - c.made) as f64 / DAY_MS * 10.0).floor() / 10.0,
        "message": c.message,
        "status": c.status,
        "acknowledge_by": time(c.acknowledge_by),
        "respond_by": time(c.respond_by),
        "acknowledged_at": c.acknowledged.map(time),
        "resolved_at": c.resolved.map(time),
        "handled_by": c.handled_by,
        "overdue": c.overdue(now),
        "updated_at": time(c.updated),
        "notice": c.notice,
        "notice_email": c.notice_email,
        "notice_webhook": c.notice_webhook,
        "notice_error": c.notice_error,
    })
}

fn status_param(text: &str) -> Result<ComplaintStatus, ApiError> {
    ComplaintStatus::parse(text).ok_or(ApiError::InvalidQuery {
        param: "status",
        expected: "open, acknowledged or resolved",
    })
}

/// `GET /admin/api/complaints?status=S&limit=N`: open first, the oldest first.
pub async fn complaints(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::of(query);
    let status = params.get("status").map(status_param).transpose()?;
    let limit = params.number("limit", 1, 1000, 100, "a number from 1 to 1000")?;
    let found = book(&state)?
        .complaints(status, limit)
        .await
        .map_err(unavailable)?;
    let now = now_millis();
    let items: Vec<Value> = found.iter().map(|c| complaint_json(c, now)).collect();
    Ok(Json(json!({ "items": items })))
}

/// `{"status"?, "handled_by"?, "updated_at"?}`: a complaint's new status
/// and handler, made only if it is still as it was at `updated_at` when given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintChange {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub handled_by: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl WireShape for ComplaintChange {
    const FIELDS: &'static [&'static str] = &["status", "handled_by", "updated_at"];
    const REQUIRED: &'static [&'static str] = &[];
}

/// Longest `handled_by`, in characters.
const MAX_HANDLER_CHARS: usize = 100;

/// `PATCH /admin/api/complaints/{reference}`: the complaint, changed.
pub async fn update_complaint(
    State(state): State<AdminState>,
    Segment(reference): Segment,
    ApiJson(change): ApiJson<ComplaintChange>,
) -> Result<Json<Value>, ApiError> {
    let invalid = |param: &str| ApiError::InvalidRequest {
        problem: BodyProblem::InvalidValue,
        param: Some(param.to_owned()),
        fields: ComplaintChange::FIELDS,
    };
    let status = match change.status.as_deref() {
        Some(text) => Some(ComplaintStatus::parse(text).ok_or_else(|| invalid("status"))?),
        None => None,
    };
    let handler = change.handled_by.map(|h| h.trim().to_owned());
    if handler
        .as_ref()
        .is_some_and(|h| h.chars().count() > MAX_HANDLER_CHARS || h.chars().any(char::is_control))
    {
        return Err(invalid("handled_by"));
    }
    let seen = match change.updated_at.as_deref() {
        Some(text) => Some(
            text.parse::<jiff::Timestamp>()
                .map_err(|_| invalid("updated_at"))?
                .as_millisecond(),
        ),
        None => None,
    };
    let book = book(&state)?;
    let now = now_millis();
    let amended = amend(book.as_ref(), &reference, seen, |complaint| {
        if let Some(status) = status {
            complaint.set_status(status, now);
        }
        if let Some(handler) = &handler {
            complaint.handled_by = Some(handler.clone()).filter(|h| !h.is_empty());
            complaint.updated = now;
        }
    })
    .await
    .map_err(unavailable)?;
    let complaint = match amended {
        Amended::Done(complaint) => complaint,
        Amended::Stale(_) => {
            return Err(ApiError::Conflict {
                code: "complaint_changed",
                message: "The complaint was changed after the updated_at you sent: read it again, then decide.",
            });
        }
        Amended::Missing => return Err(ApiError::NotFound),
    };
    tracing::info!(%reference, status = complaint.status.as_str(), "complaint updated");
    Ok(Json(complaint_json(&complaint, now)))
}

/// Puts the failed notice of the open complaint `reference` back in line
/// and wakes this replica's worker; false if there is no such notice.
pub(super) async fn notice_again(
    state: &AdminState,
    book: &dyn ComplaintBook,
    reference: &str,
) -> Result<bool, RecordError> {
    let again = book.retry_notice(reference, now_millis()).await?;
    if again {
        if let Some(desk) = &state.handoffs {
            desk.wake.notify_one();
        }
        tracing::info!(%reference, "complaint notice put back in line by hand");
    }
    Ok(again)
}

/// `POST /admin/api/complaints/{reference}/notice/retry`: the failed
/// notice of an open complaint, sent again by each way it failed on.
pub async fn retry_notice(
    State(state): State<AdminState>,
    Segment(reference): Segment,
) -> Result<StatusCode, ApiError> {
    let book = book(&state)?;
    if notice_again(&state, book.as_ref(), &reference)
        .await
        .map_err(unavailable)?
    {
        return Ok(StatusCode::ACCEPTED);
    }
    match book.complaint(&reference).await.map_err(unavailable)? {
        None => Err(ApiError::NotFound),
        Some(_) => Err(ApiError::Conflict {
            code: "notice_not_failed",
            message: "Only a failed notice of an open complaint is sent again; this one's notice has not failed, or the complaint is acknowledged or resolved.",
        }),
    }
}

/// `GET /admin/api/care?days=N`: conversations with a vulnerability cue
/// (categories only), the most recent first, with their outcomes.
pub async fn care(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::of(query);
    let days = params.number("days", 1, 366, 30, "a number of days from 1 to 366")?;
    let outcomes = book(&state)?
        .outcomes(days_back(days))
        .await
        .map_err(unavailable)?;
    let items: Vec<Value> = outcomes
        .iter()
        .filter(|c| !c.care.is_empty())
        .map(|c| {
            json!({
                "conversation": c.session.as_str(),
                "first_at": time(c.first_at),
                "last_at": time(c.last_at),
                "care": c.care,
                "messages": c.messages,
                "answered": c.answered,
                "handed_off": c.handed_off,
                "handoff_requested": c.handoff_requested,
                "helpful": c.helpful,
                "not_helpful": c.not_helpful,
                "complaint": c.complaint,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
