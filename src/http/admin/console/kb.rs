//! The knowledge base in the console: its articles (example counts,
//! versions), the last load and any reload error since, and on request the
//! `check-kb` report (cross-validation, confusions, the duty-of-care
//! detectors, financial promotions) of the knowledge base in use.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use leptos::prelude::*;
use serde::Deserialize;
use support_chat_assistant::{DEFAULT_MAX_MISDIRECTED, check_kb};

use super::{Operator, page, table};
use crate::http::admin::AdminState;
use crate::http::admin::api::{knowledge_of, time};

/// The check's folds, as `support-chat check-kb` runs it by default.
const FOLDS: usize = 5;

#[derive(Deserialize)]
pub struct KbQuery {
    #[serde(default)]
    check: Option<String>,
}

/// `GET /console/kb[?check=1]`.
pub async fn kb(
    State(state): State<AdminState>,
    operator: Operator,
    Query(query): Query<KbQuery>,
) -> Response {
    let Ok(knowledge) = knowledge_of(&state) else {
        return page(
            StatusCode::OK,
            "Knowledge base",
            Some(&operator),
            view! { <h1>"Knowledge base"</h1><p>"This server's assistant was given whole; there is nothing to show."</p> }
                .into_any(),
        );
    };
    let engine = knowledge.engine();
    let status = knowledge.status();
    let report = if query.check.is_some() {
        let kb = engine.knowledge_base().clone();
        let encoder = knowledge.encoder().cloned();
        let config = knowledge.config().clone();
        let checked = tokio::task::spawn_blocking(move || {
            // Untuned: tuned folds would take minutes of this server's CPU
            // (`support-chat check-kb` tunes them; the report says which).
            check_kb(
                &kb,
                FOLDS,
                DEFAULT_MAX_MISDIRECTED,
                encoder.as_ref(),
                None,
                config,
            )
            .map(|c| c.to_string())
            .map_err(|e| e.to_string())
        })
        .await;
        Some(match checked {
            Ok(Ok(text)) => text,
            Ok(Err(error)) => format!("The check could not run: {error}"),
            Err(_) => "The check could not run.".to_owned(),
        })
    } else {
        None
    };
    let rows = engine
        .knowledge_base()
        .articles()
        .iter()
        .map(|a| {
            view! {
                <tr>
                    <th scope="row">{a.id.clone()}</th>
                    <td>{a.title.clone()}</td>
                    <td>{a.questions.len()}</td>
                    <td><code>{a.version()}</code></td>
                </tr>
            }
        })
        .collect_view();
    let error = status.error.map(|e| {
        view! {
            <p class="problem" role="alert">
                "The last reload failed at " {time(e.at)} ", in " {e.file} ": " {e.message}
                ". The knowledge base loaded before it is still answering."
            </p>
        }
    });
    page(
        StatusCode::OK,
        "Knowledge base",
        Some(&operator),
        view! {
            <h1>"Knowledge base"</h1>
            <p>
                {status.source} ": " {status.articles} " articles, " {status.questions}
                " example questions; loaded " {time(status.loaded_at)} " (" {status.loads} " loads since start); "
                {if status.tuned { "the encoder is tuned to it." } else { "the encoder is not tuned to it (yet)." }}
            </p>
            {error}
            {table("Articles", &["Article", "Title", "Example questions", "Version"], rows.into_any())}
            <h2>"The check"</h2>
            {match report {
                Some(text) => view! { <pre class="report">{text}</pre> }.into_any(),
                None => view! {
                    <p>
                        "Cross-validation of the articles on their own questions, the duty-of-care detectors and the financial-promotion check, as "
                        <code>"support-chat check-kb"</code> " prints them. "
                        <a href="/console/kb?check=1">"Run the check"</a> " (a few seconds)."
                    </p>
                }.into_any(),
            }}
        }
        .into_any(),
    )
}
