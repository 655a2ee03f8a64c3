//! The unanswered inbox in the console: each group of questions the
//! assistant could not answer well, added as an example question to an
//! article (the likeliest offered first; the knowledge base reloads) or
//! dismissed for good.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;
use support_chat_assistant::normalise;

use super::{ConsoleForm, Operator, page};
use crate::domain::knowledge::AddQuestionError;
use crate::domain::records::Review;
use crate::http::admin::AdminState;
use crate::http::admin::api::{inbox_items, knowledge_of, review, time};

/// Days of questions the inbox shows.
const INBOX_DAYS: usize = 30;

/// Items shown at most.
const INBOX_ITEMS: usize = 100;

fn message(status: StatusCode, operator: &Operator, title: &str, what: String) -> Response {
    super::notice(
        status,
        operator,
        title,
        &what,
        ("/console/inbox", "Back to the inbox"),
    )
}

/// `GET /console/inbox[?added=ARTICLE]`: most frequent first.
pub async fn inbox(
    State(state): State<AdminState>,
    operator: Operator,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(items) = inbox_items(&state, INBOX_DAYS).await else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            &operator,
            "Unavailable",
            "Nothing is recorded (--record off), or the records database did not answer.".into(),
        );
    };
    // The articles, to choose from; the engine's two likeliest first.
    let engine = knowledge_of(&state).ok().map(|k| k.engine());
    let articles: Vec<(String, String)> = engine
        .as_ref()
        .map(|e| {
            e.knowledge_base()
                .articles()
                .iter()
                .map(|a| (a.id.clone(), a.title.clone()))
                .collect()
        })
        .unwrap_or_default();
    let likeliest = |text: &str| -> Vec<(String, String)> {
        let Some(engine) = &engine else {
            return Vec::new();
        };
        let scored = engine.classify(&normalise(text));
        let mut order: Vec<usize> = [scored.best, scored.second]
            .into_iter()
            .filter(|&i| i < articles.len())
            .collect();
        order.dedup();
        let first = order.clone();
        order.extend((0..articles.len()).filter(|i| !first.contains(i)));
        order.into_iter().map(|i| articles[i].clone()).collect()
    };
    let added = query
        .as_deref()
        .and_then(|q| q.strip_prefix("added="))
        .filter(|id| articles.iter().any(|(a, _)| a == id))
        .map(str::to_owned);
    let csrf = operator.csrf();
    let rows = items
        .into_iter()
        .take(INBOX_ITEMS)
        .map(|item| {
            let options = likeliest(&item.text)
                .into_iter()
                .map(|(id, title)| view! { <option value=id>{title}</option> })
                .collect_view();
            let reasons = item.reasons.iter().copied().collect::<Vec<_>>().join(", ");
            let select_id = format!("article-{}", item.id);
            let add = format!("/console/inbox/{}/add", item.id);
            let dismiss = format!("/console/inbox/{}/dismiss", item.id);
            let dismiss_label = format!("Dismiss “{}”", item.text);
            let examples = item
                .examples
                .iter()
                .map(|e| view! { <li>{e.clone()}</li> })
                .collect_view();
            view! {
                <li class="complaint">
                    <h2>{item.text.clone()}</h2>
                    <p class="meta">
                        {item.count} " times · last " {time(item.last_seen)} " · " {reasons}
                    </p>
                    <details>
                        <summary>"Examples"</summary>
                        <ul>{examples}</ul>
                    </details>
                    <form method="post" action=add>
                        <input type="hidden" name="csrf" value=csrf.clone() />
                        <label for=select_id.clone()>"Add as an example question to"</label>
                        <select id=select_id name="article">{options}</select>
                        <button type="submit">"Add as example"</button>
                    </form>
                    <form method="post" action=dismiss>
                        <input type="hidden" name="csrf" value=csrf.clone() />
                        <button type="submit" class="secondary" aria-label=dismiss_label>"Dismiss"</button>
                    </form>
                </li>
            }
        })
        .collect_view();
    page(
        StatusCode::OK,
        "Inbox",
        Some(&operator),
        view! {
            <h1>"Unanswered questions"</h1>
            <p>"The last 30 days: questions handed off, out of scope, answered unsure or voted not helpful, alike ones grouped, the most frequent first."</p>
            <p role="status">{added.map(|id| format!("Added to “{id}”; the knowledge base reloaded and answers it now."))}</p>
            <ul class="queue">{rows}</ul>
        }
        .into_any(),
    )
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    article: String,
}

/// `POST /console/inbox/{id}/add`: the item's question added to the article,
/// the knowledge base reloaded, the item out of the inbox.
pub async fn add(
    State(state): State<AdminState>,
    operator: Operator,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<AddForm>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    let Ok(items) = inbox_items(&state, 366).await else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            &operator,
            "Unavailable",
            "The records database did not answer. Try again shortly.".into(),
        );
    };
    let Some(item) = items.into_iter().find(|i| i.id == id) else {
        return message(
            StatusCode::NOT_FOUND,
            &operator,
            "Not found",
            "That question is no longer in the inbox.".into(),
        );
    };
    let Ok(knowledge) = knowledge_of(&state) else {
        return message(
            StatusCode::CONFLICT,
            &operator,
            "Not added",
            "This server's assistant cannot be edited here.".into(),
        );
    };
    match knowledge.add_question(&form.article, &item.text).await {
        Ok(_) => {}
        Err(error @ (AddQuestionError::ReadOnly | AddQuestionError::Edit(_))) => {
            return message(
                StatusCode::CONFLICT,
                &operator,
                "Not added",
                format!("Not added: {error}."),
            );
        }
        Err(error) => {
            tracing::warn!(%error, "console: adding a question failed");
            return message(
                StatusCode::CONFLICT,
                &operator,
                "Not added",
                format!("{error}: the knowledge base page says why."),
            );
        }
    }
    if review(&state, &id, Review::Added).await.is_err() {
        tracing::warn!(%id, "console: a question was added but stays in the inbox");
    }
    tracing::info!(article = %form.article, "console: a question added as an example");
    Redirect::to(&format!("/console/inbox?added={}", form.article)).into_response()
}

/// `POST /console/inbox/{id}/dismiss`: out of the inbox for good.
pub async fn dismiss(
    State(state): State<AdminState>,
    operator: Operator,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<super::CsrfOnly>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    match review(&state, &id, Review::Dismissed).await {
        Ok(_) => Redirect::to("/console/inbox").into_response(),
        Err(_) => message(
            StatusCode::NOT_FOUND,
            &operator,
            "Not found",
            "That question is no longer in the inbox.".into(),
        ),
    }
}
