//! Conversations in the console: search and list, read a transcript
//! (redacted as stored, with each reply's outcome, article version, vote
//! and duty-of-care flag), export it or everything, erase one.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use serde::Deserialize;

use support_chat_assistant::CareCategory;

use super::{ConsoleForm, Operator, page, table};
use crate::domain::records::{ConversationFilter, SessionHash};
use crate::http::admin::AdminState;
use crate::http::admin::api::{export as export_api, time};

/// Conversations a page lists.
const PER_PAGE: usize = 50;

/// Longest search text, in characters.
const MAX_SEARCH_CHARS: usize = 200;

fn notice(status: StatusCode, operator: &Operator, title: &str, what: &str) -> Response {
    let back = ("/console/conversations", "Back to the conversations");
    super::notice(status, operator, title, what, back)
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<usize>,
}

/// `GET /console/conversations?q=&page=`: the most recent first.
pub async fn list(
    State(state): State<AdminState>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some(records) = &state.records else {
        return notice(
            StatusCode::OK,
            &operator,
            "Conversations",
            "Nothing is recorded: the server runs with --record off.",
        );
    };
    let search: Option<String> = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(MAX_SEARCH_CHARS).collect());
    let page_number = query.page.unwrap_or(0).min(1_000_000);
    let filter = ConversationFilter {
        from: i64::MIN,
        to: i64::MAX,
        outcome: None,
        search: search.clone(),
        session: None,
        page: page_number,
        per_page: PER_PAGE,
    };
    let Ok(list) = records.conversations(filter).await else {
        return notice(
            StatusCode::SERVICE_UNAVAILABLE,
            &operator,
            "Unavailable",
            "The records database did not answer. Try again shortly.",
        );
    };
    let more = list.len() == PER_PAGE;
    let rows = list
        .into_iter()
        .map(|c| {
            let href = format!("/console/conversations/{}", c.session.as_str());
            view! {
                <tr>
                    <th scope="row"><a href=href>{time(c.last_at)}</a></th>
                    <td>{c.turns}</td>
                    <td>{c.answered}</td>
                    <td>{c.clarified}</td>
                    <td>{c.handed_off}</td>
                    <td>{c.out_of_scope}</td>
                </tr>
            }
        })
        .collect_view();
    let next = more.then(|| {
        let q = search.clone().unwrap_or_default();
        let href = format!(
            "/console/conversations?q={}&page={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>(),
            page_number + 1
        );
        view! { <p><a href=href>"Older conversations"</a></p> }
    });
    page(
        StatusCode::OK,
        "Conversations",
        Some(&operator),
        view! {
            <h1>"Conversations"</h1>
            <form method="get" action="/console/conversations" role="search">
                <label for="q">"Only those where a message holds"</label>
                <input id="q" name="q" type="search" maxlength="200" value=search.unwrap_or_default() />
                <button type="submit">"Search"</button>
            </form>
            <p>
                "Export everything: " <a href="/console/export?format=csv">"CSV"</a> " · "
                <a href="/console/export?format=jsonl">"JSON lines"</a>
            </p>
            {table("Conversations", &["Last message", "Messages", "Answered", "Clarified", "Handed off", "Out of scope"], rows.into_any())}
            {next}
        }
        .into_any(),
    )
}

/// `GET /console/conversations/{id}`: one transcript.
pub async fn transcript(
    State(state): State<AdminState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Response {
    let (Some(records), Some(hash)) = (&state.records, SessionHash::parse(&id)) else {
        return notice(
            StatusCode::NOT_FOUND,
            &operator,
            "Not found",
            "No such conversation.",
        );
    };
    let turns = match records.transcript(&hash).await {
        Ok(turns) if !turns.is_empty() => turns,
        Ok(_) => {
            return notice(
                StatusCode::NOT_FOUND,
                &operator,
                "Not found",
                "No such conversation.",
            );
        }
        Err(_) => {
            return notice(
                StatusCode::SERVICE_UNAVAILABLE,
                &operator,
                "Unavailable",
                "The records database did not answer. Try again shortly.",
            );
        }
    };
    let rows = turns
        .into_iter()
        .map(|t| {
            let article = match (t.article_id, t.article_version) {
                (Some(id), Some(version)) => format!("{id} ({version})"),
                (Some(id), None) => id,
                _ => "–".to_owned(),
            };
            let vote = match t.helpful {
                Some(true) => "helpful",
                Some(false) => "not helpful",
                None => "–",
            };
            let flag = match (t.complaint, t.care) {
                (true, _) => "complaint".to_owned(),
                (false, Some(cue)) => cue_label(cue).to_owned(),
                (false, None) => "–".to_owned(),
            };
            view! {
                <tr>
                    <th scope="row">{time(t.at)}</th>
                    <td>{t.message}</td>
                    <td>{t.outcome.as_str()}</td>
                    <td>{format!("{:.2}", t.confidence)}</td>
                    <td>{article}</td>
                    <td>{vote}</td>
                    <td>{flag}</td>
                </tr>
            }
        })
        .collect_view();
    let csv = format!("/console/export?format=csv&conversation={}", hash.as_str());
    let jsonl = format!(
        "/console/export?format=jsonl&conversation={}",
        hash.as_str()
    );
    let erase = format!("/console/conversations/{}/erase", hash.as_str());
    page(
        StatusCode::OK,
        "Conversation",
        Some(&operator),
        view! {
            <h1>"Conversation " {hash.as_str().to_owned()}</h1>
            <p>"The visitor's words as stored: personal details were redacted before they were written."</p>
            {table("Transcript", &["When", "Visitor", "Outcome", "Confidence", "Article (version)", "Vote", "Flag"], rows.into_any())}
            <p>"Export: " <a href=csv>"CSV"</a> " · " <a href=jsonl>"JSON lines"</a></p>
            <form method="post" action=erase>
                <input type="hidden" name="csrf" value=operator.csrf() />
                <label class="confirm">
                    <input type="checkbox" name="confirm" value="yes" required />
                    " Erase it for good: nothing of it can be brought back"
                </label>
                <button type="submit" class="secondary">"Erase this conversation"</button>
            </form>
        }
        .into_any(),
    )
}

/// The erase form: the box ticked, or nothing is erased.
#[derive(Deserialize)]
pub struct EraseForm {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/conversations/{id}/erase` with the box ticked: everything
/// kept of it goes (a complaint record stays, as the rules require). One
/// click cannot do it: the browser asks for the box, and so does this.
pub async fn erase(
    State(state): State<AdminState>,
    operator: Operator,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<EraseForm>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    if form.confirm.as_deref() != Some("yes") {
        return notice(
            StatusCode::BAD_REQUEST,
            &operator,
            "Not erased",
            "Nothing was erased: tick “Erase it for good” beside the button to confirm.",
        );
    }
    let Some(hash) = SessionHash::parse(&id).filter(|_| state.records.is_some()) else {
        return notice(
            StatusCode::NOT_FOUND,
            &operator,
            "Not found",
            "No such conversation.",
        );
    };
    if state.recorder.erase(hash).await.is_err() {
        return notice(
            StatusCode::SERVICE_UNAVAILABLE,
            &operator,
            "Unavailable",
            "The records database did not answer: nothing was erased. Try again shortly.",
        );
    }
    tracing::info!("console: a conversation erased");
    notice(
        StatusCode::OK,
        &operator,
        "Erased",
        "Everything kept of the conversation was erased, except a complaint record, which the rules require us to keep.",
    )
}

/// `GET /console/export?format=csv|jsonl[&conversation=ID]`: the admin
/// API's export, for a signed-in operator.
pub async fn export(
    State(state): State<AdminState>,
    _operator: Operator,
    query: RawQuery,
) -> Response {
    export_api(State(state), query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A cue's category in words an operator reads at a glance.
fn cue_label(cue: CareCategory) -> &'static str {
    match cue {
        CareCategory::Health => "cue: health",
        CareCategory::LifeEvents => "cue: life events",
        CareCategory::Resilience => "cue: financial difficulty",
        CareCategory::Capability => "cue: capability",
    }
}
