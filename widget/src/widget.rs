//! The widget component: its state, sending and the panel.

use std::time::Duration;

use js_sys::{Function, Object};
use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use support_chat::api::{ChatRequest, ChatResponse};
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use crate::js::{set, string_array};
use crate::storage;
use crate::text;
use crate::transcript::{Entry, Kind};
use crate::view::message;
use crate::wire::{Failure, post_chat};

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
    let saved = storage::load();
    let mut restored = vec![Entry {
        kind: Kind::Assistant,
        text: greeting,
    }];
    restored.extend(saved.entries);
    let started = StoredValue::new(restored.len() > 1);
    let open = RwSignal::new(saved.open.unwrap_or(start_open));
    let entries = RwSignal::new(restored);
    let session = StoredValue::new(saved.session);
    let suggestions = RwSignal::new(saved.suggestions);
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
        entries.with_untracked(|list| {
            suggestions.with_untracked(|quick| {
                session.with_value(|id| {
                    storage::store(&list[1..], id.as_deref(), open.get_untracked(), quick)
                })
            })
        });
    };

    let scroll_down = move || {
        request_animation_frame(move || {
            if let Some(log) = log_ref.get_untracked() {
                log.set_scroll_top(log.scroll_height());
            }
        });
    };

    let push = move |kind: Kind, text: String| {
        entries.update(|list| list.push(Entry { kind, text }));
        scroll_down();
    };

    let emit_message = move |direction: &str, text: &str, reply: Option<&ChatResponse>| {
        let detail = Object::new();
        set(&detail, "direction", &direction.into());
        set(&detail, "text", &text.into());
        if let Some(reply) = reply {
            set(&detail, "handoff", &reply.handoff.into());
            set(&detail, "suggestions", &string_array(&reply.suggestions));
        }
        emit.with_value(|emit| emit("message", &detail));
    };

    let countdown = move |secs: u32| {
        let deadline = js_sys::Date::now() + f64::from(secs) * 1000.0;
        wait.set(secs);
        let handle = StoredValue::new(None::<IntervalHandle>);
        let tick = move || {
            let left = text::seconds_left(deadline, js_sys::Date::now());
            wait.set(left);
            if left == 0
                && let Some(h) = handle.get_value()
            {
                h.clear();
            }
        };
        handle.set_value(set_interval_with_handle(tick, Duration::from_millis(500)).ok());
    };

    // A refused message goes back into the box to edit (unless the visitor
    // has started typing another).
    let give_back = move |text: String| {
        if draft.get_untracked().is_empty() {
            draft.set(text);
        }
    };

    let fail = move |text: String, failure: Failure| {
        let detail = Object::new();
        let (message, code, status) = match failure {
            Failure::RateLimited { retry_after } => {
                set(&detail, "retryAfter", &retry_after.into());
                countdown(retry_after);
                // Back in the box, to send by hand once the wait is over.
                give_back(text);
                (
                    text::rate_limited(retry_after),
                    "rate_limited".to_owned(),
                    429,
                )
            }
            Failure::Other {
                message,
                code,
                status,
            } => {
                if code == "invalid_session" {
                    session.set_value(None);
                }
                if status == 400 && code != "invalid_session" {
                    // The message itself was refused: give it back to edit.
                    give_back(text);
                } else {
                    retry.set(Some(text));
                }
                (message, code, status)
            }
        };
        push(Kind::Notice, message.clone());
        set(&detail, "code", &code.into());
        set(&detail, "message", &message.into());
        set(&detail, "status", &status.into());
        emit.with_value(|emit| emit("error", &detail));
    };

    let api = StoredValue::new(api);
    // Whether `text` (trimmed) may be sent now: not empty, nothing in flight, no wait.
    let may_send =
        move |text: &str| !text.is_empty() && !pending.get_untracked() && wait.get_untracked() == 0;
    // Sends `text`, already on show in the transcript.
    let deliver = move |text: String| {
        pending.set(true);
        retry.set(None);
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
                    let kind = if reply.handoff {
                        Kind::Handoff
                    } else {
                        Kind::Assistant
                    };
                    push(kind, reply.reply.clone());
                    emit_message("received", &reply.reply, Some(&reply));
                    suggestions.set(reply.suggestions);
                }
                Err(failure) => fail(text, failure),
            }
            pending.set(false);
            save();
        });
    };
    // Sends a new message: adds it to the transcript, then sends it. Returns
    // false, doing nothing, when it may not be sent now.
    let send_new = move |text: String| -> bool {
        let text = text.trim().to_owned();
        if !may_send(&text) {
            return false;
        }
        // In flight before anyone hears of it, so a "message" handler cannot send twice.
        pending.set(true);
        started.set_value(true);
        push(Kind::Visitor, text.clone());
        emit_message("sent", &text, None);
        deliver(text);
        true
    };
    // Sends a message again (the retry button): it is already in the transcript.
    let resend = move |text: String| {
        if may_send(&text) {
            deliver(text);
        }
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
            "send" => return send_new(text.unwrap_or_default()),
            _ => return false,
        }
        true
    })));

    // Dropping the handles keeps the listeners (for the page's lifetime).
    let _ = window_event_listener_untyped("online", move |_| offline.set(false));
    let _ = window_event_listener_untyped("offline", move |_| offline.set(true));

    let send_draft = move || {
        if send_new(draft.get_untracked()) {
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
            text::wait_status(secs)
        } else if offline.get() {
            text::OFFLINE_STATUS.to_owned()
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
                                    let _ = send_new(text.clone());
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
                            resend(text);
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
