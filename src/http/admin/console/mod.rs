//! The operator console under `/console` on the admin listener: pages
//! rendered on the server with Leptos, forms that work without JavaScript
//! (the pages send none). Signing in with the admin token sets an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind a TLS proxy) that
//! lasts [`CONSOLE_SESSION`] (the session is kept where the records are, so
//! every replica on that database knows it); every form carries the session's token and a
//! post without it, or from another site, is refused. Failed sign-ins count
//! against the admin API's limit. Every page has a strict
//! Content-Security-Policy: its own stylesheet (and a blank icon), no script.

mod conversations;
mod inbox;
mod kb;
mod pages;

use axum::Form;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AdminState;
use super::auth::CONSOLE_SESSION;
use crate::domain::console::ConsoleSession;
use crate::http::error::ApiError;

/// The session cookie's name.
const COOKIE: &str = "console";

const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../../../style/console.css");

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/console", get(pages::overview))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/complaints", get(pages::complaints))
        .route(
            "/console/complaints/{reference}",
            post(pages::change_complaint),
        )
        .route(
            "/console/complaints/{reference}/notice",
            post(pages::retry_notice),
        )
        .route("/console/inbox", get(inbox::inbox))
        .route("/console/inbox/{id}/add", post(inbox::add))
        .route("/console/inbox/{id}/dismiss", post(inbox::dismiss))
        .route("/console/conversations", get(conversations::list))
        .route(
            "/console/conversations/{id}",
            get(conversations::transcript),
        )
        .route(
            "/console/conversations/{id}/erase",
            post(conversations::erase),
        )
        .route("/console/export", get(conversations::export))
        .route("/console/kb", get(kb::kb))
        .route("/console/handoffs", get(pages::handoffs))
        .route(
            "/console/handoffs/{reference}/retry",
            post(pages::retry_handoff),
        )
        .route("/console/console.css", get(stylesheet))
        .method_not_allowed_fallback(|| async { method_not_allowed() })
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// A whole page: the shell (navigation and sign-out when signed in) around
/// `main`, with the policy headers.
fn page(status: StatusCode, title: &str, operator: Option<&Operator>, main: AnyView) -> Response {
    let title = format!("{title} · support-chat console");
    let nav = operator.map(|o| {
        let csrf = o.session.csrf.clone();
        view! {
            <nav aria-label="Console">
                <a href="/console">"Overview"</a>
                <a href="/console/inbox">"Inbox"</a>
                <a href="/console/complaints">"Complaints"</a>
                <a href="/console/conversations">"Conversations"</a>
                <a href="/console/handoffs">"Handoffs"</a>
                <a href="/console/kb">"Knowledge base"</a>
                <form method="post" action="/console/sign-out">
                    <input type="hidden" name="csrf" value=csrf />
                    <button type="submit">"Sign out"</button>
                </form>
            </nav>
        }
    });
    let html = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <title>{title}</title>
                <link rel="stylesheet" href="/console/console.css" />
                <link rel="icon" href="data:," />
            </head>
            <body>
                <header>
                    <p class="brand">"support-chat console"</p>
                    {nav}
                </header>
                <main id="main">{main}</main>
            </body>
        </html>
    }
    .to_html();
    let mut response = (status, format!("<!DOCTYPE html>{html}")).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A table of `rows` under these column headings (labelled by the element
/// `labelled_by` names, if any), scrolling sideways on a narrow screen.
fn table(name: &'static str, columns: &[&'static str], rows: AnyView) -> AnyView {
    let headings = columns
        .iter()
        .map(|c| view! { <th scope="col">{*c}</th> })
        .collect_view();
    // The box scrolls sideways on a narrow screen, so a keyboard must be
    // able to reach it (WCAG 2.1.1): a named, focusable region.
    view! {
        <div class="scroll" role="region" aria-label=name tabindex="0">
            <table aria-label=name>
                <thead><tr>{headings}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A page that only tells the operator something, with a way back
/// (`back`: the link's target and words). `role="alert"` so it is heard.
fn notice(
    status: StatusCode,
    operator: &Operator,
    title: &str,
    what: &str,
    back: (&'static str, &'static str),
) -> Response {
    let (heading, what) = (title.to_owned(), what.to_owned());
    let (href, words) = back;
    page(
        status,
        title,
        Some(operator),
        view! {
            <h1>{heading}</h1>
            <p role="alert">{what}</p>
            <p><a href=href>{words}</a></p>
        }
        .into_any(),
    )
}

/// A signed-in operator: the request carried a live session's cookie (and,
/// for a post, came from this site).
pub struct Operator {
    id: String,
    session: ConsoleSession,
}

impl Operator {
    /// The refusal of a form whose token is not the session's.
    fn refusal(&self, csrf: &str) -> Option<Response> {
        // Constant time, as every secret here is compared.
        let same: bool = csrf.as_bytes().ct_eq(self.session.csrf.as_bytes()).into();
        (!same).then(|| refused("The form has expired. Reload the page and try again."))
    }

    fn csrf(&self) -> String {
        self.session.csrf.clone()
    }
}

/// A console address that is no page: a page saying so, not the API's
/// JSON envelope.
pub fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page in the console.",
    )
}

/// A console page asked for with a method it does not take (axum adds
/// `Allow`): a page saying so, not an empty body.
fn method_not_allowed() -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Not allowed",
        "This console page cannot be asked for that way.",
    )
}

fn refused(why: &str) -> Response {
    problem(StatusCode::FORBIDDEN, "Refused", why)
}

/// A page that says why a post was not taken, with the way back.
fn problem(status: StatusCode, title: &str, why: &str) -> Response {
    let (heading, why) = (title.to_owned(), why.to_owned());
    page(
        status,
        title,
        None,
        view! {
            <h1>{heading}</h1>
            <p>{why}</p>
            <p><a href="/console">"Back to the console"</a></p>
        }
        .into_any(),
    )
}

/// A console form's fields. A form without one of them, or with one that
/// does not read, gets a page saying so (400), not a plain-text rejection.
pub struct ConsoleForm<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ConsoleForm<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match Form::<T>::from_request(request, state).await {
            Ok(Form(fields)) => Ok(Self(fields)),
            Err(rejection) => Err(problem(
                StatusCode::BAD_REQUEST,
                "Not understood",
                &format!(
                    "The form was not complete: {}. Reload the page and try again.",
                    rejection.body_text()
                ),
            )),
        }
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a state-changing request comes from another site: the browser's
/// `Sec-Fetch-Site` where it sends one, else an `Origin` that is not this
/// host's.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (None, _) => false,
        (Some(origin), Some(host)) => {
            origin != format!("http://{host}") && origin != format!("https://{host}")
        }
        (Some(_), None) => true,
    }
}

impl FromRequestParts<AdminState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Response> {
        if !state.auth.enabled() {
            return Err(ApiError::NotFound.into_response());
        }
        let post = parts.method != Method::GET && parts.method != Method::HEAD;
        if post && cross_site(&parts.headers) {
            return Err(refused(
                "A form from another site cannot change anything here.",
            ));
        }
        let session = match cookie_value(&parts.headers, COOKIE) {
            Some(id) => state.auth.console(id).await.map(|s| (id.to_owned(), s)),
            None => None,
        };
        match session {
            Some((id, session)) => Ok(Operator { id, session }),
            None if post => Err(refused("Sign in first.")),
            None => Err(Redirect::to("/console/sign-in").into_response()),
        }
    }
}

/// Whether the console is reached over TLS (a proxy in front says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn sign_in_form(status: StatusCode, problem: Option<String>) -> Response {
    let described = problem.is_some().then_some("sign-in-problem");
    page(
        status,
        "Sign in",
        None,
        view! {
            <h1>"Sign in"</h1>
            <p>"Use the admin token the server was started with (SUPPORT_CHAT_ADMIN_TOKEN)."</p>
            {problem.map(|p| view! { <p id="sign-in-problem" class="problem" role="alert">{p}</p> })}
            <form method="post" action="/console/sign-in">
                <label for="token">"Admin token"</label>
                <input id="token" name="token" type="password" autocomplete="current-password"
                    required aria-describedby=described />
                <button type="submit">"Sign in"</button>
            </form>
        }
        .into_any(),
    )
}

async fn sign_in_page(State(state): State<AdminState>) -> Response {
    if !state.auth.enabled() {
        return ApiError::NotFound.into_response();
    }
    sign_in_form(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(State(state): State<AdminState>, request: axum::extract::Request) -> Response {
    if !state.auth.enabled() {
        return ApiError::NotFound.into_response();
    }
    let (parts, body) = request.into_parts();
    if cross_site(&parts.headers) {
        return refused("A form from another site cannot sign in here.");
    }
    let client = state.auth.client(&parts.headers, &parts.extensions);
    let secure = if over_tls(&parts.headers) {
        "; Secure"
    } else {
        ""
    };
    let request = axum::extract::Request::from_parts(parts, body);
    let Ok(Form(form)) = Form::<SignIn>::from_request(request, &state).await else {
        return sign_in_form(
            StatusCode::BAD_REQUEST,
            Some("Enter the admin token.".into()),
        );
    };
    match state.auth.check(client, Some(form.token.trim())) {
        Ok(()) => {}
        Err(ApiError::RateLimited { retry_after }) => {
            let mut page = sign_in_form(
                StatusCode::TOO_MANY_REQUESTS,
                Some(format!(
                    "Too many failed attempts. Try again in {retry_after} seconds."
                )),
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return page;
        }
        Err(_) => {
            return sign_in_form(
                StatusCode::UNAUTHORIZED,
                Some("That is not the admin token.".into()),
            );
        }
    }
    let Ok((id, _)) = state.auth.open_console().await else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The records database did not answer. Try again shortly.",
        );
    };
    let cookie = format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        CONSOLE_SESSION.as_secs()
    );
    tracing::info!("console: signed in");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/console")).into_response()
}

/// A form that carries nothing but the session's form token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

async fn sign_out(
    State(state): State<AdminState>,
    operator: Operator,
    ConsoleForm(form): ConsoleForm<CsrfOnly>,
) -> Response {
    if let Some(refusal) = operator.refusal(&form.csrf) {
        return refusal;
    }
    if state.auth.close_console(&operator.id).await.is_err() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The records database did not answer, so you are still signed in. Try again shortly.",
        );
    }
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/sign-in"),
    )
        .into_response()
}
