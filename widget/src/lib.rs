//! The support-chat widget: a Leptos client-side app compiled to wasm.
//!
//! `widget/loader.js` builds the host element, its shadow root and the
//! stylesheet link, reads the script tag's `data-*` attributes and owns the
//! public `window.SupportChat` API; it then calls [`start`] with the element to
//! render into and a function to report events through.
//!
//! It speaks to the server through the shared wire types of
//! `support_chat::api`, with gloo-net. JSON is read and written by the
//! browser (`JSON.parse`/`JSON.stringify`) rather than serde_json: that alone
//! keeps about 30 KB (gzip) out of the wasm, see BENCHMARKS.md.
//!
//! Size matters here (the whole widget must stay under 100 KB gzip), so the
//! code avoids `format!`, panics with messages and generic helpers.

use std::time::Duration;

use gloo_net::http::{Request, Response};
use js_sys::{Array, Function, JSON, Object, Reflect};
use leptos::either::Either;
use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use support_chat::api::{CHAT_PATH, ChatRequest, ChatResponse};
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

const NETWORK_ERROR: &str =
    "We couldn't reach support. Please check your connection and try again.";
const OFFLINE_ERROR: &str =
    "You appear to be offline. Check your connection, then press Try again.";
const SERVER_ERROR: &str = "Something went wrong on our side. Please try again in a moment.";
/// sessionStorage key (per host-page origin and tab). Bump the suffix if the format changes.
const STORE_KEY: &str = "support-chat:v1";
/// At most this many transcript entries, and about this many characters, are stored.
const STORE_MAX_ENTRIES: usize = 40;
const STORE_MAX_CHARS: usize = 24_000;

/// Who wrote a transcript entry (stored as this number too).
const VISITOR: u8 = 0;
const ASSISTANT: u8 = 1;
const HANDOFF: u8 = 2;
const NOTICE: u8 = 3;

#[derive(Clone, Debug)]
struct Entry {
    kind: u8,
    text: String,
}

/// Why a round trip failed.
enum Failure {
    /// `429`: wait this many seconds.
    RateLimited(u32),
    /// Any other problem: a sentence for the visitor, the envelope's `code`
    /// (or `network`/`offline`) and HTTP status (0 without a response).
    Other(String, String, u16),
}

/// Mounts the widget into `root` (inside the shadow root the loader made) and
/// returns the command function behind `SupportChat.open/close/toggle/send`.
/// `emit(name, detail)` reports the public events.
#[wasm_bindgen]
pub fn start(
    root: HtmlElement,
    api: String,
    title: String,
    greeting: String,
    open: bool,
    max_chars: u32,
    emit: Function,
) -> JsValue {
    let (command_tx, command) = command_channel();
    leptos::mount::mount_to(root, move || {
        chat_widget(api, title, greeting, open, max_chars, emit, command_tx)
    })
    .forget();
    command
}

type Commands = StoredValue<Option<Box<dyn Fn(String, Option<String>) -> bool>>, LocalStorage>;

/// The JS function the loader calls, and the slot the component fills with
/// the code it runs.
fn command_channel() -> (Commands, JsValue) {
    let slot: Commands = StoredValue::new_local(None);
    let function = Closure::<dyn Fn(String, Option<String>) -> bool>::new(
        move |name: String, text: Option<String>| {
            slot.with_value(|f| f.as_ref().is_some_and(|f| f(name, text)))
        },
    );
    (slot, function.into_js_value())
}

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

fn get(source: &JsValue, key: &str) -> JsValue {
    Reflect::get(source, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn strings(value: &JsValue) -> Vec<String> {
    if !Array::is_array(value) {
        return Vec::new();
    }
    Array::from(value)
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

fn session_storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

fn seconds(n: u32) -> String {
    let unit = if n == 1 { " second" } else { " seconds" };
    [n.to_string().as_str(), unit].concat()
}

fn chat_widget(
    api: String,
    title: String,
    greeting: String,
    start_open: bool,
    max_chars: u32,
    emit: Function,
    commands: Commands,
) -> impl IntoView {
    let emit = move |name: &str, detail: &JsValue| {
        let _ = emit.call2(&JsValue::NULL, &name.into(), detail);
    };
    let emit = StoredValue::new_local(emit);

    // Restore this tab's conversation, if the visitor has started one.
    let saved = session_storage()
        .and_then(|s| s.get_item(STORE_KEY).ok().flatten())
        .and_then(|text| JSON::parse(&text).ok())
        .unwrap_or(JsValue::UNDEFINED);
    let mut restored = vec![Entry {
        kind: ASSISTANT,
        text: greeting,
    }];
    if let Ok(list) = get(&saved, "m").dyn_into::<Array>() {
        for item in list.iter() {
            let kind = get(&item, "k").as_f64().unwrap_or(-1.0);
            if let Some(text) = get(&item, "t").as_string()
                && (0.0..=3.0).contains(&kind)
            {
                restored.push(Entry {
                    kind: kind as u8,
                    text,
                });
            }
        }
    }
    let started = StoredValue::new(restored.len() > 1);
    let open = RwSignal::new(get(&saved, "o").as_bool().unwrap_or(start_open));
    let entries = RwSignal::new(restored);
    let session = StoredValue::new(get(&saved, "s").as_string());
    let suggestions = RwSignal::new(strings(&get(&saved, "q")));
    let draft = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    // Seconds left before the server accepts another message (after a 429).
    let wait = RwSignal::new(0u32);
    // The message to send again with the retry button.
    let retry = RwSignal::new(None::<String>);
    let offline = RwSignal::new(!window().navigator().on_line());
    let input_ref = NodeRef::<html::Textarea>::new();
    let launcher_ref = NodeRef::<html::Button>::new();
    let log_ref = NodeRef::<html::Div>::new();

    // Nothing is stored before the visitor's first message.
    let save = move || {
        if !started.get_value() {
            return;
        }
        let Some(storage) = session_storage() else {
            return;
        };
        let state = Object::new();
        entries.with_untracked(|list| {
            let mut kept = Vec::new();
            let mut chars = 0;
            for entry in list.iter().skip(1).rev().take(STORE_MAX_ENTRIES) {
                chars += entry.text.len();
                if chars > STORE_MAX_CHARS {
                    break;
                }
                let item = Object::new();
                set(&item, "k", &entry.kind.into());
                set(&item, "t", &entry.text.as_str().into());
                kept.push(item);
            }
            let array = Array::new();
            for item in kept.iter().rev() {
                array.push(item);
            }
            set(&state, "m", &array);
        });
        if let Some(id) = session.get_value() {
            set(&state, "s", &id.into());
        }
        set(&state, "o", &open.get_untracked().into());
        let quick = Array::new();
        suggestions.with_untracked(|list| {
            for s in list {
                quick.push(&s.as_str().into());
            }
        });
        set(&state, "q", &quick);
        if let Ok(text) = JSON::stringify(&state) {
            let _ = storage.set_item(STORE_KEY, &String::from(text));
        }
    };

    let scroll_down = move || {
        request_animation_frame(move || {
            if let Some(log) = log_ref.get_untracked() {
                log.set_scroll_top(log.scroll_height());
            }
        });
    };

    let push = move |kind: u8, text: String| {
        entries.update(|list| list.push(Entry { kind, text }));
        scroll_down();
    };

    let emit_message = move |direction: &str, text: &str, reply: Option<&ChatResponse>| {
        let detail = Object::new();
        set(&detail, "direction", &direction.into());
        set(&detail, "text", &text.into());
        if let Some(reply) = reply {
            set(&detail, "handoff", &reply.handoff.into());
            let quick = Array::new();
            for s in &reply.suggestions {
                quick.push(&s.as_str().into());
            }
            set(&detail, "suggestions", &quick);
        }
        emit.with_value(|emit| emit("message", &detail));
    };

    let countdown = move |secs: u32| {
        let deadline = js_sys::Date::now() + f64::from(secs) * 1000.0;
        wait.set(secs);
        let handle = StoredValue::new(None::<IntervalHandle>);
        let tick = move || {
            let left = ((deadline - js_sys::Date::now()) / 1000.0).ceil().max(0.0) as u32;
            wait.set(left);
            if left == 0
                && let Some(h) = handle.get_value()
            {
                h.clear();
            }
        };
        handle.set_value(set_interval_with_handle(tick, Duration::from_millis(500)).ok());
    };

    let api = StoredValue::new(api);
    // Sends `text` (trimmed); `echo` adds it to the transcript (not on retry).
    // Returns false, doing nothing, when empty or when a send is not allowed yet.
    let send = move |text: String, echo: bool| -> bool {
        let text = text.trim().to_owned();
        if text.is_empty() || pending.get_untracked() || wait.get_untracked() > 0 {
            return false;
        }
        pending.set(true);
        retry.set(None);
        if echo {
            started.set_value(true);
            push(VISITOR, text.clone());
            emit_message("sent", &text, None);
        }
        scroll_down();
        save();
        spawn_local(async move {
            let request = ChatRequest {
                message: text.clone(),
                session: session.get_value(),
            };
            match post_chat(&api.get_value(), &request).await {
                Ok(reply) => {
                    session.set_value(Some(reply.session.clone()));
                    push(
                        if reply.handoff { HANDOFF } else { ASSISTANT },
                        reply.reply.clone(),
                    );
                    emit_message("received", &reply.reply, Some(&reply));
                    suggestions.set(reply.suggestions);
                }
                Err(failure) => {
                    let detail = Object::new();
                    let (message, code, status) = match failure {
                        Failure::RateLimited(secs) => {
                            set(&detail, "retryAfter", &secs.into());
                            countdown(secs);
                            // Back in the box, to send by hand once the wait is over.
                            if draft.get_untracked().is_empty() {
                                draft.set(text);
                            }
                            (
                                [
                                    "You've sent a lot of messages in a short time. Please wait ",
                                    &seconds(secs),
                                    " before sending another.",
                                ]
                                .concat(),
                                "rate_limited".to_owned(),
                                429,
                            )
                        }
                        Failure::Other(message, code, status) => {
                            if code == "invalid_session" {
                                session.set_value(None);
                            }
                            if status == 400 && code != "invalid_session" {
                                // The message itself was refused: give it back to edit.
                                if draft.get_untracked().is_empty() {
                                    draft.set(text);
                                }
                            } else {
                                retry.set(Some(text));
                            }
                            (message, code, status)
                        }
                    };
                    push(NOTICE, message.clone());
                    set(&detail, "code", &code.into());
                    set(&detail, "message", &message.into());
                    set(&detail, "status", &status.into());
                    emit.with_value(|emit| emit("error", &detail));
                }
            }
            pending.set(false);
            save();
        });
        true
    };

    // `focus`: move focus (to the input on open, to the launcher on close).
    let set_open = move |value: bool, focus: bool| {
        if open.get_untracked() != value {
            open.set(value);
            save();
            emit.with_value(|emit| emit(if value { "open" } else { "close" }, &JsValue::UNDEFINED));
        }
        if value {
            scroll_down();
        }
        if focus {
            request_animation_frame(move || {
                let _ = if value {
                    input_ref.get_untracked().map(|e| e.focus())
                } else {
                    launcher_ref.get_untracked().map(|e| e.focus())
                };
            });
        }
    };

    commands.set_value(Some(Box::new(move |name: String, text: Option<String>| {
        match name.as_str() {
            // The loader passes `text` on close/toggle when focus is in the
            // widget: only then does closing move it (to the launcher).
            "open" => set_open(true, true),
            "close" => set_open(false, text.is_some()),
            "toggle" => {
                let value = !open.get_untracked();
                set_open(value, value || text.is_some());
            }
            "send" => return send(text.unwrap_or_default(), true),
            _ => return false,
        }
        true
    })));

    // Dropping the handles keeps the listeners (for the page's lifetime).
    let _ = window_event_listener_untyped("online", move |_| offline.set(false));
    let _ = window_event_listener_untyped("offline", move |_| offline.set(true));

    let send_draft = move || {
        if send(draft.get_untracked(), true) {
            draft.set(String::new());
        }
    };

    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            if !ev.repeat() {
                send_draft();
            }
        }
    };

    let status = move || {
        let secs = wait.get();
        if secs > 0 {
            ["You can send another message in ", &seconds(secs), "."].concat()
        } else if offline.get() {
            "You're offline. Messages can't be sent until you reconnect.".to_owned()
        } else {
            String::new()
        }
    };

    let title_text = title.clone();
    view! {
        <button
            class="launcher"
            type="button"
            node_ref=launcher_ref
            aria-label="Chat with us"
            aria-controls="sc-panel"
            aria-expanded=move || if open.get() { "true" } else { "false" }
            on:click=move |_| set_open(!open.get_untracked(), true)
        ></button>
        <div
            class="panel"
            id="sc-panel"
            role="dialog"
            aria-labelledby="sc-title"
            hidden=move || !open.get()
            on:keydown=move |ev: KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.stop_propagation();
                    set_open(false, true);
                }
            }
        >
            <div class="header">
                <h2 class="title" id="sc-title">{title_text}</h2>
                <button class="close" type="button" aria-label="Close chat" on:click=move |_| set_open(false, true)></button>
            </div>
            <div class="log" role="log" aria-label="Conversation" tabindex="0" node_ref=log_ref>
                {move || entries.with(|list| list.iter().map(message).collect::<Vec<_>>())}
                <div class="msg assistant typing" hidden=move || !pending.get()>
                    <span class="sr">"Support is typing"</span>
                    <i></i>
                    <i></i>
                    <i></i>
                </div>
            </div>
            <div class="chips" role="group" aria-label="Suggested questions" hidden=move || pending.get() || suggestions.with(Vec::is_empty)>
                {move || {
                    suggestions
                        .get()
                        .into_iter()
                        .map(|text| {
                            let label = text.clone();
                            view! {
                                <button type="button" class="chip" on:click=move |_| {
                                    let _ = send(text.clone(), true);
                                }>{label}</button>
                            }
                        })
                        .collect::<Vec<_>>()
                }}
            </div>
            <div class="status" hidden=move || wait.get() == 0 && !offline.get() && retry.with(Option::is_none)>
                <span>{status}</span>
                <button
                    type="button"
                    class="retry"
                    hidden=move || retry.with(Option::is_none)
                    on:click=move |_| {
                        if let Some(text) = retry.get_untracked() {
                            send(text, false);
                        }
                    }
                >
                    "Try again"
                </button>
            </div>
            <form class="composer" on:submit=move |ev| {
                ev.prevent_default();
                send_draft();
            }>
                <textarea
                    node_ref=input_ref
                    rows="1"
                    aria-label="Your message"
                    aria-describedby="sc-count"
                    placeholder="Type your question"
                    maxlength=max_chars.to_string()
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=on_keydown
                ></textarea>
                <button class="send" type="submit" disabled=move || { pending.get() || wait.get() > 0 }>
                    "Send"
                </button>
            </form>
            <p class="count" id="sc-count">
                {move || draft.with(|d| d.encode_utf16().count()).to_string()}
                {["/", max_chars.to_string().as_str(), " characters"].concat()}
            </p>
        </div>
    }
}

/// One transcript entry. All text is rendered as text nodes.
fn message(entry: &Entry) -> impl IntoView + use<> {
    let class = match entry.kind {
        VISITOR => "msg visitor",
        ASSISTANT => "msg assistant",
        HANDOFF => "msg assistant handoff",
        _ => "msg notice",
    };
    view! {
        <div class=class>
            {(entry.kind == HANDOFF).then(|| view! { <strong class="tag">"Our team can help"</strong> })}
            {linkify(&entry.text)}
        </div>
    }
}

/// Splits `text` into plain text and `http(s)` links, rendered as text nodes
/// and `<a>` elements (never as markup). Trailing punctuation stays text.
fn linkify(text: &str) -> Vec<Either<String, impl IntoView + use<>>> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = [rest.find("https://"), rest.find("http://")]
        .into_iter()
        .flatten()
        .min()
    {
        let (before, from) = rest.split_at(start);
        let end = from
            .find(|c: char| c.is_whitespace() || "<>\"'`".contains(c))
            .unwrap_or(from.len());
        let url = from[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        let (url, after) = from.split_at(url.len());
        if !before.is_empty() {
            parts.push(Either::Left(before.to_owned()));
        }
        if url.len() > "https://".len() {
            let href = url.to_owned();
            parts.push(Either::Right(
                view! { <a href=href target="_blank" rel="noopener noreferrer">{url.to_owned()}</a> },
            ));
        } else {
            parts.push(Either::Left(url.to_owned()));
        }
        rest = after;
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(Either::Left(rest.to_owned()));
    }
    parts
}

/// One chat round trip.
async fn post_chat(api: &str, request: &ChatRequest) -> Result<ChatResponse, Failure> {
    let body = Object::new();
    set(&body, "message", &request.message.as_str().into());
    if let Some(session) = &request.session {
        set(&body, "session", &session.as_str().into());
    }
    let body = JSON::stringify(&body).map(String::from).unwrap_or_default();
    let sent = match Request::post(&[api, CHAT_PATH].concat())
        .header("content-type", "application/json")
        .body(body)
    {
        Ok(request) => request.send().await,
        Err(e) => Err(e),
    };
    let response = match sent {
        Ok(response) => response,
        Err(_) if !window().navigator().on_line() => {
            return Err(Failure::Other(
                OFFLINE_ERROR.to_owned(),
                "offline".to_owned(),
                0,
            ));
        }
        Err(_) => {
            return Err(Failure::Other(
                NETWORK_ERROR.to_owned(),
                "network".to_owned(),
                0,
            ));
        }
    };
    let status = response.status();
    let value = read_json(&response).await;
    if response.ok()
        && let Some(session) = get(&value, "session").as_string()
    {
        return Ok(ChatResponse {
            session,
            reply: get(&value, "reply").as_string().unwrap_or_default(),
            suggestions: strings(&get(&value, "suggestions")),
            handoff: get(&value, "handoff").as_bool().unwrap_or(false),
        });
    }
    let error = get(&value, "error");
    if status == 429 {
        // `Retry-After` (exposed by CORS) is authoritative; the envelope repeats it.
        let secs = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .or_else(|| get(&error, "retry_after").as_f64().map(|n| n as u32))
            .unwrap_or(60)
            .max(1);
        return Err(Failure::RateLimited(secs));
    }
    Err(Failure::Other(
        get(&error, "message")
            .as_string()
            .unwrap_or_else(|| SERVER_ERROR.to_owned()),
        get(&error, "code")
            .as_string()
            .unwrap_or_else(|| "server".to_owned()),
        status,
    ))
}

async fn read_json(response: &Response) -> JsValue {
    match response.text().await {
        Ok(text) => JSON::parse(&text).unwrap_or(JsValue::UNDEFINED),
        Err(_) => JsValue::UNDEFINED,
    }
}
