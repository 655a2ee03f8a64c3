//! The admin JSON API's handlers (`/admin/api/…`, behind the token). Every
//! error is the one envelope; every time is RFC 3339 UTC.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_chat_assistant::CareCategory;

use super::AdminState;
use crate::domain::care::CareComparison;
use crate::domain::clock::{UnixMillis, now_millis};
use crate::domain::handoff::{Handoff, HandoffDesk, Status};
use crate::domain::inbox::{self, Unanswered};
use crate::domain::knowledge::{AddQuestionError, Knowledge};
use crate::domain::records::{
    ConversationFilter, DaySummary, RecordStore, RecordedOutcome, Review, SessionHash,
    TranscriptTurn, day_of,
};
use crate::domain::session::SessionId;
use crate::http::error::{ApiError, BodyProblem};
use crate::http::extract::{ApiJson, Segment, WireShape};
use crate::http::guard::read_body;

const DAY_MS: i64 = 86_400_000;

/// The admin API's bodies are small: `{"text": …}`.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Reads a request's body (if any) for `ApiJson`, as the public guard does.
pub async fn read_small_body(request: Request, next: Next) -> Response {
    match read_body(request, MAX_BODY_BYTES, Duration::from_secs(5)).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// An RFC 3339 UTC time.
pub(super) fn time(at: UnixMillis) -> String {
    jiff::Timestamp::from_millisecond(at)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// The query string's parameters (the last of a repeated name wins).
pub(super) struct Params(HashMap<String, String>);

impl Params {
    pub(super) fn of(query: Option<String>) -> Self {
        Self(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A whole number from `min` to `max`; `default` when absent.
    pub(super) fn number(
        &self,
        name: &'static str,
        min: usize,
        max: usize,
        default: usize,
        expected: &'static str,
    ) -> Result<usize, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or(ApiError::InvalidQuery {
                    param: name,
                    expected,
                }),
        }
    }

    /// A `YYYY-MM-DD` date as the start of that UTC day.
    fn date(&self, name: &'static str) -> Result<Option<UnixMillis>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let invalid = ApiError::InvalidQuery {
            param: name,
            expected: "a date, YYYY-MM-DD",
        };
        let date: jiff::civil::Date = text.parse().map_err(|_| invalid.clone())?;
        let at = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| invalid)?
            .timestamp()
            .as_millisecond();
        Ok(Some(at))
    }
}

fn records(state: &AdminState) -> Result<&Arc<dyn RecordStore>, ApiError> {
    state.records.as_ref().ok_or(ApiError::Conflict {
        code: "records_off",
        message: "Nothing is recorded: the server runs with --record off.",
    })
}

pub(super) fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "admin API: the records database failed");
    ApiError::Unavailable { retry_after: 5 }
}

/// The start (UTC midnight) of the day `days - 1` days before today.
pub(super) fn days_back(days: usize) -> UnixMillis {
    let today = now_millis().div_euclid(DAY_MS) * DAY_MS;
    today - (days as i64 - 1) * DAY_MS
}

/// `GET /admin/api/summary?days=N` (1 to 366, default 30): every day, oldest first.
pub async fn summary(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::of(query);
    let days = params.number("days", 1, 366, 30, "a number of days from 1 to 366")?;
    let since = days_back(days);
    let kept = records(&state)?.summary(since).await.map_err(unavailable)?;
    let every_day: Vec<DaySummary> = (0..days as i64)
        .map(|i| {
            let day = day_of(since + i * DAY_MS);
            kept.iter()
                .find(|d| d.day == day)
                .cloned()
                .unwrap_or_else(|| DaySummary::empty(day))
        })
        .collect();
    // How conversations with a vulnerability cue fared against the rest.
    let care = match &state.complaints {
        Some(book) => {
            let outcomes = book.outcomes(since).await.map_err(unavailable)?;
            json!(CareComparison::of(&outcomes))
        }
        None => Value::Null,
    };
    Ok(Json(
        json!({ "from": day_of(since), "days": every_day, "care": care }),
    ))
}

/// Questions the inbox considers, at most.
const INBOX_CANDIDATES: usize = 5_000;

pub(super) async fn inbox_items(
    state: &AdminState,
    days: usize,
) -> Result<Vec<Unanswered>, ApiError> {
    let turns = records(state)?
        .open_turns(days_back(days), INBOX_CANDIDATES)
        .await
        .map_err(unavailable)?;
    Ok(inbox::group(turns))
}

/// `GET /admin/api/unanswered?days=N&limit=M`: grouped, most frequent first.
pub async fn unanswered(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::of(query);
    let days = params.number("days", 1, 366, 30, "a number of days from 1 to 366")?;
    let limit = params.number("limit", 1, 1000, 100, "a number from 1 to 1000")?;
    let items: Vec<Value> = inbox_items(&state, days)
        .await?
        .into_iter()
        .take(limit)
        .map(|item| {
            json!({
                "id": item.id,
                "text": item.text,
                "count": item.count,
                "last_seen": time(item.last_seen),
                "reasons": item.reasons,
                "examples": item.examples,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `POST /admin/api/unanswered/{id}/dismiss`: the item's questions leave
/// the inbox for good (questions asked later form new items).
pub async fn dismiss(
    State(state): State<AdminState>,
    Segment(id): Segment,
) -> Result<StatusCode, ApiError> {
    review(&state, &id, Review::Dismissed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the inbox item `id`'s questions to `to`; `404` if there is none.
pub async fn review(state: &AdminState, id: &str, to: Review) -> Result<u64, ApiError> {
    let item = inbox_items(state, 366)
        .await?
        .into_iter()
        .find(|item| item.id == id)
        .ok_or(ApiError::NotFound)?;
    records(state)?
        .review(item.members, to)
        .await
        .map_err(unavailable)
}

/// `GET /admin/api/conversations?outcome=&from=&to=&q=&session=&page=&per_page=`.
pub async fn conversations(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::of(query);
    let outcome = match params.get("outcome") {
        None => None,
        Some(text) => Some(RecordedOutcome::parse(text).ok_or(ApiError::InvalidQuery {
            param: "outcome",
            expected: "answered, clarified, handoff or out_of_scope",
        })?),
    };
    let page = params.number("page", 0, 1_000_000, 0, "a page number from 0")?;
    let per_page = params.number("per_page", 1, 500, 50, "a number from 1 to 500")?;
    let from = params.date("from")?.unwrap_or(i64::MIN);
    let to = params.date("to")?.map_or(i64::MAX, |to| to + DAY_MS);
    let search = params.get("q").map(|q| q.chars().take(200).collect());
    // A visitor's own session id (subject access): only that conversation,
    // found by the database among all of them, not within one page.
    let session = match params.get("session") {
        None => None,
        Some(session) => {
            let id = SessionId::parse(session).ok_or(ApiError::InvalidQuery {
                param: "session",
                expected: "a session id, 32 lowercase hex digits",
            })?;
            Some(state.recorder.key().session_hash(id))
        }
    };
    let filter = ConversationFilter {
        from,
        to,
        outcome,
        search,
        session,
        page,
        per_page,
    };
    let records = records(&state)?;
    let list = records.conversations(filter).await.map_err(unavailable)?;
    let conversations: Vec<Value> = list
        .iter()
        .map(|c| {
            json!({
                "id": c.session.as_str(),
                "first_at": time(c.first_at),
                "last_at": time(c.last_at),
                "turns": c.turns,
                "answered": c.answered,
                "clarified": c.clarified,
                "handed_off": c.handed_off,
                "out_of_scope": c.out_of_scope,
            })
        })
        .collect();
    Ok(Json(
        json!({ "page": page, "per_page": per_page, "conversations": conversations }),
    ))
}

fn conversation_id(id: &str) -> Result<SessionHash, ApiError> {
    SessionHash::parse(id).ok_or(ApiError::NotFound)
}

/// One turn as the API shows it.
#[derive(Serialize)]
struct TurnJson<'a> {
    conversation: &'a str,
    reply_id: &'a str,
    at: String,
    message: &'a str,
    outcome: &'static str,
    confidence: f64,
    article_id: Option<&'a str>,
    article_version: Option<&'a str>,
    helpful: Option<bool>,
    complaint: bool,
    care: Option<&'static str>,
}

impl<'a> From<&'a TranscriptTurn> for TurnJson<'a> {
    fn from(t: &'a TranscriptTurn) -> Self {
        Self {
            conversation: t.session.as_str(),
            reply_id: &t.reply_id,
            at: time(t.at),
            message: &t.message,
            outcome: t.outcome.as_str(),
            confidence: t.confidence,
            article_id: t.article_id.as_deref(),
            article_version: t.article_version.as_deref(),
            helpful: t.helpful,
            complaint: t.complaint,
            care: t.care.map(CareCategory::as_str),
        }
    }
}

/// `GET /admin/api/conversations/{id}`: the transcript, redacted as kept.
pub async fn conversation(
    State(state): State<AdminState>,
    Segment(id): Segment,
) -> Result<Json<Value>, ApiError> {
    let hash = conversation_id(&id)?;
    let turns = records(&state)?
        .transcript(&hash)
        .await
        .map_err(unavailable)?;
    if turns.is_empty() {
        return Err(ApiError::NotFound);
    }
    let turns: Vec<TurnJson> = turns.iter().map(TurnJson::from).collect();
    Ok(Json(json!({ "id": hash.as_str(), "turns": turns })))
}

/// `DELETE /admin/api/conversations/{id}`: erases everything kept of it.
pub async fn erase_conversation(
    State(state): State<AdminState>,
    Segment(id): Segment,
) -> Result<StatusCode, ApiError> {
    let hash = conversation_id(&id)?;
    records(&state)?;
    state.recorder.erase(hash).await.map_err(unavailable)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/api/export?format=jsonl|csv[&conversation=ID]`, streamed.
pub async fn export(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::of(query);
    let csv = match params.get("format").unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => {
            return Err(ApiError::InvalidQuery {
                param: "format",
                expected: "jsonl or csv",
            });
        }
    };
    let only = match params.get("conversation") {
        None => None,
        Some(id) => Some(SessionHash::parse(id).ok_or(ApiError::InvalidQuery {
            param: "conversation",
            expected: "a conversation id, 32 lowercase hex digits",
        })?),
    };
    let rows = records(&state)?.export(only);
    let header = csv.then(|| Ok::<_, std::io::Error>(Bytes::from_static(CSV_HEADER.as_bytes())));
    let lines = rows.map(move |row| {
        row.map(|turn| {
            Bytes::from(if csv {
                csv_line(&turn)
            } else {
                json_line(&turn)
            })
        })
        .map_err(|error| {
            tracing::warn!(%error, "admin export: the records database failed mid-stream");
            std::io::Error::other(error)
        })
    });
    let body = Body::from_stream(futures_util::stream::iter(header).chain(lines));
    let (media, name) = if csv {
        (
            "text/csv; charset=utf-8",
            "attachment; filename=\"support-chat-records.csv\"",
        )
    } else {
        (
            "application/x-ndjson",
            "attachment; filename=\"support-chat-records.jsonl\"",
        )
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
    Ok(response)
}

const CSV_HEADER: &str = "conversation,reply_id,at,message,outcome,confidence,article_id,article_version,helpful,complaint,care\n";

fn json_line(turn: &TranscriptTurn) -> Vec<u8> {
    let mut line = serde_json::to_vec(&TurnJson::from(turn)).expect("a turn serialises");
    line.push(b'\n');
    line
}

fn csv_line(turn: &TranscriptTurn) -> Vec<u8> {
    // Every field quoted: a spreadsheet that splits on `;` (as Excel does in
    // many European locales) keeps "thanks;=HYPERLINK(…)" one text cell.
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let t = TurnJson::from(turn);
    let message = inert_in_a_spreadsheet(t.message);
    let confidence = format!("{:.3}", t.confidence);
    let helpful = t.helpful.map_or("", |h| if h { "true" } else { "false" });
    writer
        .write_record([
            t.conversation,
            t.reply_id,
            &t.at,
            &message,
            t.outcome,
            &confidence,
            t.article_id.unwrap_or(""),
            t.article_version.unwrap_or(""),
            helpful,
            if t.complaint { "true" } else { "false" },
            t.care.unwrap_or(""),
        ])
        .expect("writing to memory");
    writer.into_inner().expect("writing to memory")
}

/// A visitor's text as a spreadsheet shows it and never runs it: one that
/// begins as a formula would (`=`, `+`, `-`, `@`, a tab or a carriage
/// return; OWASP "CSV injection") gets a leading `'`, which Excel, Calc and
/// Sheets read as "text" and do not display. Only the message column is
/// visitor text; the others are the server's own ids, times and names.
fn inert_in_a_spreadsheet(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

pub(super) fn knowledge_of(state: &AdminState) -> Result<&Arc<Knowledge>, ApiError> {
    state.knowledge.as_ref().ok_or(ApiError::NotFound)
}

/// The last load, any error since, and the articles.
pub fn knowledge_status(state: &AdminState) -> Result<Value, ApiError> {
    let knowledge = knowledge_of(state)?;
    let engine = knowledge.engine();
    let articles: Vec<Value> = engine
        .knowledge_base()
        .articles()
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "title": a.title,
                "questions": a.questions.len(),
                "version": a.version(),
            })
        })
        .collect();
    let status = knowledge.status();
    Ok(json!({
        "source": status.source,
        "articles": articles,
        "questions": status.questions,
        "loaded_at": time(status.loaded_at),
        "loads": status.loads,
        "tuned": status.tuned,
        "error": status.error.map(|e| json!({ "at": time(e.at), "file": e.file, "message": e.message })),
    }))
}

/// `GET /admin/api/kb`.
pub async fn kb(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    knowledge_status(&state).map(Json)
}

/// `{"text": …}`: an example question to add to an article.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddQuestion {
    pub text: String,
}

impl WireShape for AddQuestion {
    const FIELDS: &'static [&'static str] = &["text"];
    const REQUIRED: &'static [&'static str] = &["text"];
}

/// `POST /admin/api/kb/{article}/questions`: appends the question to the
/// article's file and reloads; `201` once the new engine answers.
pub async fn add_question(
    State(state): State<AdminState>,
    Segment(article): Segment,
    ApiJson(body): ApiJson<AddQuestion>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use support_chat_assistant::KbEditError;
    let knowledge = knowledge_of(&state)?;
    match knowledge.add_question(&article, &body.text).await {
        Ok(file) => Ok((
            StatusCode::CREATED,
            Json(
                json!({ "article": article, "file": file.display().to_string(), "reloaded": true }),
            ),
        )),
        Err(AddQuestionError::ReadOnly) => Err(ApiError::Conflict {
            code: "read_only",
            message: "The knowledge base is the built-in sample, which is read-only: start the server with --kb DIR to add questions.",
        }),
        Err(AddQuestionError::Edit(KbEditError::UnknownArticle(_))) => Err(ApiError::NotFound),
        Err(AddQuestionError::Edit(KbEditError::BadQuestion)) => Err(ApiError::InvalidRequest {
            problem: BodyProblem::InvalidValue,
            param: Some("text".into()),
            fields: AddQuestion::FIELDS,
        }),
        Err(AddQuestionError::Edit(KbEditError::Duplicate(_))) => Err(ApiError::Conflict {
            code: "duplicate",
            message: "That article already has this question.",
        }),
        Err(error) => {
            tracing::warn!(%error, "admin API: adding a question failed");
            Err(ApiError::Conflict {
                code: "kb_error",
                message: "The knowledge base could not be changed or reloaded; GET /admin/api/kb says why.",
            })
        }
    }
}

fn desk(state: &AdminState) -> Result<&Arc<HandoffDesk>, ApiError> {
    state.handoffs.as_ref().ok_or(ApiError::Conflict {
        code: "handoffs_off",
        message: "No handoff channel is configured (--smtp-url, --handoff-webhook-url).",
    })
}

/// A handoff as the admin API shows it.
fn handoff_json(handoff: &Handoff) -> Value {
    json!({
        "reference": handoff.reference,
        "conversation": handoff.session.as_str(),
        "created_at": time(handoff.created),
        "contact": handoff.contact,
        "status": handoff.status,
        "attempts": handoff.attempts,
        "email": handoff.email,
        "webhook": handoff.webhook,
        "last_error": handoff.last_error,
    })
}

/// `GET /admin/api/handoffs?status=S&limit=N`: the newest first.
pub async fn handoffs(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::of(query);
    let status = match params.get("status") {
        None => None,
        Some(text) => Some(Status::parse(text).ok_or(ApiError::InvalidQuery {
            param: "status",
            expected: "pending, retrying, delivered or failed",
        })?),
    };
    let limit = params.number("limit", 1, 1000, 100, "a number from 1 to 1000")?;
    let items = desk(&state)?
        .outbox
        .handoffs(status, limit)
        .await
        .map_err(unavailable)?;
    let items: Vec<Value> = items.iter().map(handoff_json).collect();
    Ok(Json(json!({ "items": items })))
}

/// `POST /admin/api/handoffs/{reference}/retry`: a failed handoff, tried again.
pub async fn retry_handoff(
    State(state): State<AdminState>,
    Segment(reference): Segment,
) -> Result<StatusCode, ApiError> {
    if desk(&state)?.retry(&reference).await.map_err(unavailable)? {
        tracing::info!(%reference, "handoff put back in line by hand");
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::NotFound)
    }
}
