//! `GET /`: the hosted demo page, rendered on the server with Leptos
//! (leptos_axum). It embeds the widget with the same two tags a customer's
//! site uses, and shows them for site owners to copy. It is served under
//! the strict Content-Security-Policy a customer's page would send
//! (widget/README.md): the scripts Leptos appends carry the request's nonce,
//! which the policy names, and nothing else inline runs.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use leptos::nonce::use_nonce;
use leptos::prelude::*;

use super::assets::WIDGET_PREFIX;

/// The demo page for the configured public URL.
pub async fn page(public_url: Option<url::Url>, request: Request) -> Response {
    let render = leptos_axum::render_app_async_with_context(
        || {},
        move || view! { <DemoPage public_url=public_url.clone() /> },
    );
    render(request).await
}

/// The page's policy: the widget from this server (or the public URL's
/// origin), Leptos' own scripts by `nonce`, nothing else.
fn content_security_policy(public_url: Option<&url::Url>, nonce: Option<&str>) -> String {
    let sources = match public_url {
        Some(url) => format!("'self' {}", url.origin().ascii_serialization()),
        None => "'self'".to_owned(),
    };
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src {sources}{nonce} 'wasm-unsafe-eval'; \
         style-src {sources}; connect-src {sources}; img-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// The two tags that install the widget on any page, for a server at `base`.
pub fn embed_snippet(base: &str) -> String {
    format!(
        "<link rel=\"stylesheet\" href=\"{base}{WIDGET_PREFIX}/widget.css\">\n\
         <script src=\"{base}{WIDGET_PREFIX}/widget.js\" defer></script>"
    )
}

/// How this page configures the widget: the `data-*` attributes on its
/// script tag, shown on the page as they are used (see widget/README.md).
const TITLE: &str = "Example Business Finance";
const GREETING: &str = "Hello! Ask me about applying, eligibility or repayments.";
const POSITION: &str = "right";
const ACCENT: &str = "#0a4d8c";
const THEME: &str = "auto";

/// The script tag exactly as this page uses it, for a server at `base`.
pub fn configured_snippet(base: &str) -> String {
    format!(
        "<script src=\"{base}{WIDGET_PREFIX}/widget.js\" defer\n  \
         data-title=\"{TITLE}\"\n  \
         data-greeting=\"{GREETING}\"\n  \
         data-position=\"{POSITION}\"\n  \
         data-accent=\"{ACCENT}\"\n  \
         data-theme=\"{THEME}\"></script>"
    )
}

#[component]
pub fn DemoPage(public_url: Option<url::Url>) -> impl IntoView {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        let nonce = use_nonce().map(|n| n.to_string());
        let policy = content_security_policy(public_url.as_ref(), nonce.as_deref());
        response.insert_header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy).expect("an origin and a nonce are header-safe"),
        );
        response.insert_header(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
    }
    // The page loads the widget from wherever it was itself loaded from
    // (relative URLs: right behind TLS and proxies, and nothing of the
    // request is reflected into it). The snippets to copy name the
    // configured public URL; without one, `demo.js` writes in the page's
    // own origin (`data-origin`), and without script they stay relative.
    let base = public_url
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let fill_origin = base.is_empty().then_some("");
    let css = format!("{base}{WIDGET_PREFIX}/widget.css");
    let js = format!("{base}{WIDGET_PREFIX}/widget.js");
    let snippet = embed_snippet(&base);
    let configured = configured_snippet(&base);
    view! {
        <!DOCTYPE html>
        <html lang="en-GB">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>"Example Business Finance: funding for UK limited companies"</title>
                <meta name="description" content="Short-term working capital for UK limited companies, with no personal guarantee." />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href="/demo.css" />
                <link rel="stylesheet" href=css />
                <script src=js defer data-title=TITLE data-greeting=GREETING data-position=POSITION data-accent=ACCENT data-theme=THEME></script>
                // Wires the buttons below to the widget's JS API (`window.SupportChat`).
                <script src="/demo.js" defer></script>
            </head>
            <body>
                <header class="site-header">
                    <span class="logo">"Example Business Finance"</span>
                    <span class="tag">"Demo site"</span>
                </header>
                <main>
                    <section class="hero">
                        <h1>"Funding for UK limited companies"</h1>
                        <p class="lead">
                            "We lend to your company, not to you personally: short-term working capital with no personal guarantee."
                        </p>
                        <p>"Questions? Open the chat in the corner and ask, for example, "<q>"How long does an application take?"</q></p>
                    </section>
                    <section class="cards">
                        <article>
                            <h2>"For limited companies"</h2>
                            <p>"Your company borrows in its own name. Directors are not asked to sign a personal guarantee."</p>
                        </article>
                        <article>
                            <h2>"Short-term working capital"</h2>
                            <p>"Cover stock, payroll or a gap between invoices, and repay over a short term."</p>
                        </article>
                        <article>
                            <h2>"Clear offers"</h2>
                            <p>"Your offer sets out the full cost before you accept. No surprises."</p>
                        </article>
                    </section>
                    <section class="embed">
                        <h2>"Add this assistant to your site"</h2>
                        <p>"Paste these two tags into any page. The chat runs in its own isolated box and talks to this server."</p>
                        <pre><code data-origin=fill_origin>{snippet}</code></pre>
                        <p class="note">"This page embeds the widget with exactly these tags, configured by data attributes on the script tag:"</p>
                        <pre><code data-origin=fill_origin>{configured}</code></pre>
                        <p class="note">
                            "Every attribute is optional. The others: "<code>"data-api"</code>" (the chat server, default: where the script comes from) and "
                            <code>"data-open"</code>" (start open). Page CSS can set "<code>"--support-chat-accent"</code>" and the "
                            <code>"support-chat-widget"</code>" element's "<code>"z-index"</code>"; nothing else reaches inside the widget."
                        </p>
                    </section>
                    <section class="embed api-demo">
                        <h2>"Drive it from your page"</h2>
                        <p>"The widget has a small JavaScript API, "<code>"window.SupportChat"</code>". These buttons use it:"</p>
                        <p class="buttons">
                            <button type="button" data-chat="open">"SupportChat.open()"</button>
                            <button type="button" data-chat="close">"SupportChat.close()"</button>
                            <button type="button" data-chat="send" data-text="How long does an application take?">
                                "SupportChat.send(\"How long does an application take?\")"
                            </button>
                        </p>
                        <p class="note">"Events it reported, via "<code>"SupportChat.on(…)"</code>":"</p>
                        <ol class="events" aria-live="polite"></ol>
                    </section>
                </main>
                <footer>
                    <p>"Sample content for demonstration. Not a real lender."</p>
                </footer>
            </body>
        </html>
    }
}
