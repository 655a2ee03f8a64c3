//! The console's pages: the overview, the complaints queue and the
//! handoffs, each reading the same stores as the admin API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::{ConsoleForm, Operator, page, table};
use crate::domain::care::{Amended, CareComparison, ComplaintStatus, NoticeState, Totals, amend};
use crate::domain::channel::Channel;
use crate::domain::clock::{UnixMillis, now_millis};
use crate::domain::records::{DaySummary, SessionHash};
use crate::http::admin::AdminState;
use crate::http::admin::api::{days_back, time};

const DAY_MS: i64 = 86_400_000;

/// Days the overview covers.
const OVERVIEW_DAYS: usize = 30;

/// A complaint is "near its due date" within this long of it.
const NEAR_DUE_MS: i64 = 2 * DAY_MS;

fn notice(status: StatusCode, title: &str, what: &str, operator: &Operator) -> Response {
    super::notice(
        status,
        operator,
        title,
        what,
        ("/console", "Back to the overview"),
    )
}

/// The database did not answer.
fn unavailable(operator: &Operator) -> Response {
    notice(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The records database did not answer. Try again shortly.",
        operator,
    )
}

/// What this page shows is not kept by this server's configuration.
fn not_kept(title: &str, why: &str, operator: &Operator) -> Response {
    notice(StatusCode::OK, title, why, operator)
}

const NO_CHANNEL: &str = "No handoff channel is configured: handoffs are not taken.";

const RECORD_OFF: &str = "Nothing is recorded: the server runs with --record off.";

fn percent(n: u64, of: u64) -> String {
    if of == 0 {
        "–".to_owned()
    } else {
        format!("{:.0} %", 100.0 * n as f64 / of as f64)
    }
}

/// Messages per day as bars: an SVG of numbers only (the table after it
/// holds the same numbers for everyone).
fn volume_chart(days: &[DaySummary]) -> String {
    let most = days.iter().map(|d| d.messages).max().unwrap_or(0).max(1);
    let (width, height, bar) = (days.len() * 12, 80u64, 10);
    let bars: String = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = d.messages * height / most;
            format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{bar}\" height=\"{h}\"></rect>",
                i * 12,
                height - h
            )
        })
        .collect();
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-labelledby=\"volume-caption\" preserveAspectRatio=\"none\">{bars}</svg>"
    )
}

fn totals_row(name: &'static str, t: &Totals) -> impl IntoView + use<> {
    view! {
        <tr>
            <th scope="row">{name}</th>
            <td>{t.conversations}</td>
            <td>{percent(t.answered, t.messages)}</td>
            <td>{percent(t.handed_off, t.messages)}</td>
            <td>{t.handoffs_requested}</td>
            <td>{percent(t.helpful, t.helpful + t.not_helpful)}</td>
            <td>{t.complaints}</td>
        </tr>
    }
}

/// `GET /console`: the last 30 days at a glance.
pub async fn overview(State(state): State<AdminState>, operator: Operator) -> Response {
    let since = days_back(OVERVIEW_DAYS);
    let Some(records) = &state.records else {
        return not_kept("Overview", RECORD_OFF, &operator);
    };
    let Ok(kept) = records.summary(since).await else {
        return unavailable(&operator);
    };
    let days: Vec<DaySummary> = (0..OVERVIEW_DAYS as i64)
        .map(|i| {
            let day = crate::domain::records::day_of(since + i * DAY_MS);
            kept.iter()
                .find(|d| d.day == day)
                .cloned()
                .unwrap_or_else(|| DaySummary::empty(day))
        })
        .collect();
    let sum = |f: fn(&DaySummary) -> u64| days.iter().map(f).sum::<u64>();
    let messages = sum(|d| d.messages);
    let votes = sum(|d| d.helpful) + sum(|d| d.not_helpful);
    let (open, near_due, comparison) = match &state.complaints {
        Some(book) => {
            let open = book.complaints(Some(ComplaintStatus::Open), 1000).await;
            let acknowledged = book
                .complaints(Some(ComplaintStatus::Acknowledged), 1000)
                .await;
            let outcomes = book.outcomes(since).await;
            let (Ok(open), Ok(acknowledged), Ok(outcomes)) = (open, acknowledged, outcomes) else {
                return unavailable(&operator);
            };
            let now = now_millis();
            let due = |at: UnixMillis| at - now < NEAR_DUE_MS;
            let near = open.iter().filter(|c| due(c.acknowledge_by)).count()
                + acknowledged.iter().filter(|c| due(c.respond_by)).count();
            (
                open.len() + acknowledged.len(),
                near,
                CareComparison::of(&outcomes),
            )
        }
        None => (0, 0, CareComparison::default()),
    };
    let rates = [
        ("Conversations", sum(|d| d.conversations).to_string()),
        ("Messages", messages.to_string()),
        ("Answered", percent(sum(|d| d.answered), messages)),
        ("Clarified", percent(sum(|d| d.clarified), messages)),
        ("Handed off", percent(sum(|d| d.handed_off), messages)),
        ("Out of scope", percent(sum(|d| d.out_of_scope), messages)),
        ("Helpful (of votes)", percent(sum(|d| d.helpful), votes)),
        ("Complaints not resolved", open.to_string()),
        (
            "Of them due within two days or overdue",
            near_due.to_string(),
        ),
    ];
    let chart = volume_chart(&days);
    let rows = days
        .iter()
        .map(|d| {
            view! {
                <tr>
                    <th scope="row">{d.day.clone()}</th>
                    <td>{d.conversations}</td>
                    <td>{d.messages}</td>
                    <td>{d.answered}</td>
                    <td>{d.handed_off}</td>
                    <td>{d.out_of_scope}</td>
                    <td>{d.helpful}</td>
                    <td>{d.not_helpful}</td>
                </tr>
            }
        })
        .collect_view();
    page(
        StatusCode::OK,
        "Overview",
        Some(&operator),
        view! {
            <h1>"The last 30 days"</h1>
            <dl class="figures">
                {rates.into_iter().map(|(name, value)| view! { <div><dt>{name}</dt><dd>{value}</dd></div> }).collect_view()}
            </dl>
            <h2>"Customers who may need more help"</h2>
            <p>"Conversations with a vulnerability cue against the rest: how they fared."</p>
            {table("Flagged and not flagged", &["Conversations", "Number", "Answered", "Handed off", "Asked for a person", "Helpful", "With a complaint"], view! { {totals_row("Flagged", &comparison.flagged)} {totals_row("Not flagged", &comparison.unflagged)} }.into_any())}
            <h2 id="volume-caption">"Messages per day"</h2>
            <div inner_html=chart></div>
            {table("Messages per day", &["Day", "Conversations", "Messages", "Answered", "Handed off", "Out of scope", "Helpful", "Not helpful"], rows.into_any())}
        }
        .into_any(),
    )
}

/// `GET /console/complaints`: open first, the oldest first.
pub async fn complaints(State(state): State<AdminState>, operator: Operator) -> Response {
    let Some(book) = &state.complaints else {
        return not_kept("Complaints", RECORD_OFF, &operator);
    };
    let Ok(all) = book.complaints(None, 500).await else {
        return unavailable(&operator);
    };
    // Each conversation's newest handoff, if it asked for a person; not
    // "No handoff asked for" when the outbox did not answer.
    let sessions: Vec<SessionHash> = all.iter().map(|c| c.session.clone()).collect();
    let handoffs = match &state.handoffs {
        Some(desk) => match desk.outbox.handoffs_of(&sessions).await {
            Ok(handoffs) => handoffs,
            Err(_) => return unavailable(&operator),
        },
        None => Vec::new(),
    };
    let ways = state.handoffs.is_some();
    // The ways configured here: one a notice went without shows.
    let (by_email, by_webhook) = state
        .handoffs
        .as_ref()
        .map_or((false, false), |desk| (desk.by_email, desk.by_webhook));
    let now = now_millis();
    let csrf = operator.csrf();
    let items = all
        .into_iter()
        .map(|c| {
            let age_days = (now - c.made) / DAY_MS;
            let overdue = c.overdue(now);
            let action = format!("/console/complaints/{}", c.reference);
            let options = ComplaintStatus::ALL
                .into_iter()
                .map(|s| {
                    let selected = s == c.status;
                    view! { <option value=s.as_str() selected=selected>{s.as_str()}</option> }
                })
                .collect_view();
            let label = format!("Status of {}", c.reference);
            let transcript = format!("/console/conversations/{}", c.session.as_str());
            let handoff = handoffs
                .iter()
                .find(|h| h.session == c.session)
                .map_or_else(
                    || "No handoff asked for.".to_owned(),
                    |h| format!("Handoff {}: {}.", h.reference, h.status.as_str()),
                );
            let told = match c.notice {
                NoticeState::Sent => {
                    let missed = [("e-mail", by_email, c.notice_email), ("webhook", by_webhook, c.notice_webhook)]
                        .into_iter()
                        .filter(|&(_, here, way)| here && way == Channel::None)
                        .map(|(name, ..)| name)
                        .collect::<Vec<_>>();
                    match missed[..] {
                        [] => " The team was told when it was made.".to_owned(),
                        _ => format!(
                            " The team was told when it was made, but not by {}: it was not configured where the notice went.",
                            missed.join(" or ")
                        ),
                    }
                }
                NoticeState::Pending if ways => " The team is not told yet.".to_owned(),
                NoticeState::Pending => {
                    " No way to the team is configured: nobody is told.".to_owned()
                }
                NoticeState::Failed => format!(
                    " Telling the team failed: {}.",
                    c.notice_error.as_deref().unwrap_or("no error was kept")
                ),
                NoticeState::Skipped => " Acknowledged before the team was told.".to_owned(),
                NoticeState::None => String::new(),
            };
            // A failed notice of a complaint nobody has taken up yet.
            let tell_again = (c.notice == NoticeState::Failed && c.status == ComplaintStatus::Open)
                .then(|| {
                    let action = format!("/console/complaints/{}/notice", c.reference);
                    let label = format!("Tell the team of {} again", c.reference);
                    view! {
                        <form method="post" action=action>
                            <input type="hidden" name="csrf" value=csrf.clone() />
                            <button type="submit" aria-label=label>"Tell the team again"</button>
                        </form>
                    }
                });
            view! {
                <li class="complaint">
                    <h2>{c.reference.clone()}</h2>
                    <p class="meta">
                        "Made " {time(c.made)} " (" {age_days} " days ago) · acknowledge by "
                        {time(c.acknowledge_by)} " · final response by " {time(c.respond_by)}
                        {overdue.then(|| view! { <strong class="overdue">" · overdue"</strong> })}
                    </p>
                    <blockquote>{c.message.clone()}</blockquote>
                    <p>{handoff} {told} " " <a href=transcript>"Read the conversation"</a></p>
                    {tell_again}
                    <form method="post" action=action>
                        <input type="hidden" name="csrf" value=csrf.clone() />
                        <input type="hidden" name="updated" value=c.updated />
                        <label>{label}
                            <select name="status">{options}</select>
                        </label>
                        <button type="submit">"Save"</button>
                    </form>
                </li>
            }
        })
        .collect_view();
    page(
        StatusCode::OK,
        "Complaints",
        Some(&operator),
        view! {
            <h1>"Complaints"</h1>
            <p>"Open first, then acknowledged, then resolved; the oldest first in each."</p>
            <ul class="queue">{items}</ul>
        }
        .into_any(),
    )
}

#[derive(Deserialize)]
pub struct StatusChange {
    csrf: String,
    status: String,
    /// The complaint's `updated` on the page the person decided on.
    #[serde(default)]
    updated: Option<UnixMillis>,
}

/// `POST /console/complaints/{reference}`: a new status, then back to the queue.
pub async fn change_complaint(
    State(state): State<AdminState>,
    operator: Operator,
    Path(reference): Path<String>,
    ConsoleForm(form): ConsoleForm<StatusChange>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    let Some(book) = &state.complaints else {
        return not_kept("Complaints", RECORD_OFF, &operator);
    };
    let Some(status) = ComplaintStatus::parse(&form.status) else {
        return super::refused("That is not a complaint status.");
    };
    let now = now_millis();
    let changed = amend(book.as_ref(), &reference, form.updated, |c| {
        c.set_status(status, now)
    })
    .await;
    match changed {
        Err(_) => return unavailable(&operator),
        Ok(Amended::Done(_)) => {}
        Ok(Amended::Stale(current)) => {
            let what = format!(
                "Someone changed {reference} after this page was loaded: it is now {}{}. \
                 Your change was not saved; look at it again before you decide.",
                current.status.as_str(),
                current
                    .handled_by
                    .map(|h| format!(", handled by {h}"))
                    .unwrap_or_default()
            );
            let back = ("/console/complaints", "Back to the complaints");
            let title = "Changed since you looked";
            return super::notice(StatusCode::CONFLICT, &operator, title, &what, back);
        }
        Ok(Amended::Missing) => {
            return notice(
                StatusCode::NOT_FOUND,
                "Not found",
                "No complaint of that reference.",
                &operator,
            );
        }
    }
    tracing::info!(%reference, status = status.as_str(), "console: complaint updated");
    Redirect::to("/console/complaints").into_response()
}

/// `POST /console/complaints/{reference}/notice`: a failed notice sent again.
pub async fn retry_notice(
    State(state): State<AdminState>,
    operator: Operator,
    Path(reference): Path<String>,
    ConsoleForm(form): ConsoleForm<super::CsrfOnly>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    let Some(book) = &state.complaints else {
        return not_kept("Complaints", RECORD_OFF, &operator);
    };
    match super::super::care::notice_again(&state, book.as_ref(), &reference).await {
        Ok(true) => Redirect::to("/console/complaints").into_response(),
        Ok(false) => match book.complaint(&reference).await {
            Ok(Some(_)) => {
                let what = format!(
                    "{reference}'s notice has not failed, or the complaint is no longer open: \
                     nothing was sent. Look at the queue again."
                );
                let back = ("/console/complaints", "Back to the complaints");
                super::notice(
                    StatusCode::CONFLICT,
                    &operator,
                    "Nothing to send",
                    &what,
                    back,
                )
            }
            Ok(None) => notice(
                StatusCode::NOT_FOUND,
                "Not found",
                "No complaint of that reference.",
                &operator,
            ),
            Err(_) => unavailable(&operator),
        },
        Err(_) => unavailable(&operator),
    }
}

/// `GET /console/handoffs`: the newest first, failed ones with a retry.
pub async fn handoffs(State(state): State<AdminState>, operator: Operator) -> Response {
    let Some(desk) = &state.handoffs else {
        return not_kept("Handoffs", NO_CHANNEL, &operator);
    };
    let Ok(all) = desk.outbox.handoffs(None, 200).await else {
        return unavailable(&operator);
    };
    let csrf = operator.csrf();
    let rows = all
        .into_iter()
        .map(|h| {
            let failed = h.status == crate::domain::handoff::Status::Failed;
            let action = format!("/console/handoffs/{}/retry", h.reference);
            let label = format!("Retry {}", h.reference);
            view! {
                <tr>
                    <th scope="row">{h.reference.clone()}</th>
                    <td>{time(h.created)}</td>
                    <td>{h.status.as_str()}</td>
                    <td>{h.attempts}</td>
                    <td>{h.last_error.clone().unwrap_or_default()}</td>
                    <td>{failed.then(|| view! {
                        <form method="post" action=action>
                            <input type="hidden" name="csrf" value=csrf.clone() />
                            <button type="submit" aria-label=label>"Retry"</button>
                        </form>
                    })}</td>
                </tr>
            }
        })
        .collect_view();
    page(
        StatusCode::OK,
        "Handoffs",
        Some(&operator),
        view! {
            <h1>"Handoffs"</h1>
            {table("Handoffs", &["Reference", "Taken", "Status", "Attempts", "Last error", "Action"], rows.into_any())}
        }
        .into_any(),
    )
}

/// `POST /console/handoffs/{reference}/retry`.
pub async fn retry_handoff(
    State(state): State<AdminState>,
    operator: Operator,
    Path(reference): Path<String>,
    ConsoleForm(form): ConsoleForm<super::CsrfOnly>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    let Some(desk) = &state.handoffs else {
        return not_kept("Handoffs", NO_CHANNEL, &operator);
    };
    match desk.retry(&reference).await {
        Ok(true) => Redirect::to("/console/handoffs").into_response(),
        Ok(false) => notice(
            StatusCode::NOT_FOUND,
            "Not found",
            "No failed handoff of that reference.",
            &operator,
        ),
        Err(_) => unavailable(&operator),
    }
}
