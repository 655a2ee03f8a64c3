//! The widget: one [`Conversation`] in a signal, the actions that move it
//! (sending, retrying, opening and closing) and the thin view of it.

use std::time::Duration;

use js_sys::{Function, Object};
use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use support_chat_api::ChatResponse;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use crate::conversation::{Conversation, Failure, Outgoing};
use crate::js::{set, string_array};
use crate::storage;
use crate::text;
use crate::transcript::{Entry, Kind};
use crate::view::message;
use crate::wire::{delete_session, post_chat, post_feedback};

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
        let widget = Widget::new(api, greeting, open, emit);
        command_tx.set_value(Some(Box::new(move |name: String, text: Option<String>| {
            widget.command(&name, text)
        })));
        panel(widget, title, max_chars)
    })
    .forget();
    command
}

type Commands = StoredValue<Option<Box<dyn Fn(String, Option<String>) -> bool>>, LocalStorage>;

/// The JS function the loader calls, and the slot the widget fills with
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

fn now() -> f64 {
    js_sys::Date::now()
}

/// Reports a public event (`name`, `detail`) to the page.
type Emit = Box<dyn Fn(&str, &JsValue)>;

/// The widget's state and actions; `Copy`, so every handler holds one.
#[derive(Clone, Copy)]
struct Widget {
    conversation: RwSignal<Conversation>,
    open: RwSignal<bool>,
    draft: RwSignal<String>,
    /// The time the countdown last looked at (ticks while a wait runs).
    clock: RwSignal<f64>,
    /// "Delete this conversation" was pressed once: asking to confirm.
    confirming: RwSignal<bool>,
    api: StoredValue<String>,
    emit: StoredValue<Emit, LocalStorage>,
    input: NodeRef<html::Textarea>,
    launcher: NodeRef<html::Button>,
    log: NodeRef<html::Div>,
}

impl Widget {
    fn new(api: String, greeting: String, start_open: bool, emit: Function) -> Self {
        let saved = storage::load();
        let open = saved.open.unwrap_or(start_open);
        let conversation = Conversation::restore(greeting, saved);
        let emit = move |name: &str, detail: &JsValue| {
            let _ = emit.call2(&JsValue::NULL, &name.into(), detail);
        };
        let widget = Self {
            conversation: RwSignal::new(conversation),
            open: RwSignal::new(open),
            draft: RwSignal::new(String::new()),
            clock: RwSignal::new(now()),
            confirming: RwSignal::new(false),
            api: StoredValue::new(api),
            emit: StoredValue::new_local(Box::new(emit)),
            input: NodeRef::new(),
            launcher: NodeRef::new(),
            log: NodeRef::new(),
        };
        let offline = move |value| widget.conversation.update(|c| c.offline = value);
        offline(!window().navigator().on_line());
        // Dropping the handles keeps the listeners (for the page's lifetime).
        let _ = window_event_listener_untyped("online", move |_| offline(false));
        let _ = window_event_listener_untyped("offline", move |_| offline(true));
        widget
    }

    fn emit(&self, name: &str, detail: &JsValue) {
        self.emit.with_value(|emit| emit(name, detail));
    }

    /// Keeps the conversation for a reload (nothing before the first message).
    fn save(&self) {
        let open = self.open.get_untracked();
        self.conversation
            .with_untracked(|c| c.saved(open).map(|saved| storage::store(&saved)));
    }

    fn scroll_down(&self) {
        let log = self.log;
        request_animation_frame(move || {
            if let Some(log) = log.get_untracked() {
                log.set_scroll_top(log.scroll_height());
            }
        });
    }

    /// The loader's commands: `open`, `close`, `toggle`, `send`.
    fn command(&self, name: &str, text: Option<String>) -> bool {
        match name {
            // The loader passes `text` on close/toggle when focus is in the
            // widget: only then does closing move it (to the launcher).
            "open" => self.set_open(true, true),
            "close" => self.set_open(false, text.is_some()),
            "toggle" => {
                let value = !self.open.get_untracked();
                self.set_open(value, value || text.is_some());
            }
            "send" => return self.send(&text.unwrap_or_default()),
            _ => return false,
        }
        true
    }

    /// `focus`: move focus (to the input on open, to the launcher on close).
    fn set_open(&self, value: bool, focus: bool) {
        if self.open.get_untracked() != value {
            self.open.set(value);
            self.save();
            self.emit(if value { "open" } else { "close" }, &JsValue::UNDEFINED);
        }
        if value {
            self.scroll_down();
        }
        if focus {
            let (input, launcher) = (self.input, self.launcher);
            request_animation_frame(move || {
                let _ = if value {
                    input.get_untracked().map(|e| e.focus())
                } else {
                    launcher.get_untracked().map(|e| e.focus())
                };
            });
        }
    }

    /// Sends a new message; false, doing nothing, when it may not go now.
    fn send(&self, text: &str) -> bool {
        let Some(outgoing) = self
            .conversation
            .try_update(|c| c.send(text, now()))
            .flatten()
        else {
            return false;
        };
        self.emit_message("sent", &outgoing.text, None);
        self.deliver(outgoing);
        true
    }

    /// The "Try again" button.
    fn resend(&self) {
        if let Some(outgoing) = self.conversation.try_update(|c| c.resend(now())).flatten() {
            self.deliver(outgoing);
        }
    }

    /// Puts `outgoing` on the wire and the answer on show.
    fn deliver(self, outgoing: Outgoing) {
        self.scroll_down();
        self.save();
        spawn_local(async move {
            let text = outgoing.text.clone();
            match post_chat(&self.api.get_value(), outgoing).await {
                Ok(reply) => {
                    self.emit_message("received", &reply.reply, Some(&reply));
                    self.conversation.update(|c| c.received(reply));
                }
                Err(failure) => self.fail(text, &failure),
            }
            self.scroll_down();
            self.save();
        });
    }

    fn fail(&self, text: String, failure: &Failure) {
        let (notice, give_back) = self
            .conversation
            .try_update(|c| c.failed(text, failure, now()))
            .expect("the widget is mounted");
        // Back in the box, unless the visitor has started typing another.
        if let Some(text) = give_back
            && self.draft.get_untracked().is_empty()
        {
            self.draft.set(text);
        }
        let detail = Object::new();
        let (code, status) = match failure {
            Failure::RateLimited { retry_after } => {
                set(&detail, "retryAfter", &(*retry_after).into());
                self.tick();
                ("rate_limited", 429)
            }
            Failure::Other { code, status, .. } => (code.as_str(), *status),
        };
        set(&detail, "code", &code.into());
        set(&detail, "message", &notice.into());
        set(&detail, "status", &status.into());
        self.emit("error", &detail);
    }

    /// Moves the countdown's clock every half second while a wait runs.
    fn tick(self) {
        self.clock.set(now());
        let handle = StoredValue::new(None::<IntervalHandle>);
        let tick = move || {
            self.clock.set(now());
            if self.conversation.with_untracked(|c| c.wait_left(now())) == 0
                && let Some(h) = handle.get_value()
            {
                h.clear();
            }
        };
        handle.set_value(set_interval_with_handle(tick, Duration::from_millis(500)).ok());
    }

    fn emit_message(&self, direction: &str, text: &str, reply: Option<&ChatResponse>) {
        let detail = Object::new();
        set(&detail, "direction", &direction.into());
        set(&detail, "text", &text.into());
        if let Some(reply) = reply {
            set(&detail, "handoff", &reply.handoff.into());
            set(&detail, "suggestions", &string_array(&reply.suggestions));
        }
        self.emit("message", &detail);
    }

    /// Sends a vote on entry `index` (once).
    fn vote(self, index: usize, helpful: bool) {
        let Some(vote) = self
            .conversation
            .try_update(|c| c.vote(index, helpful))
            .flatten()
        else {
            return;
        };
        self.save();
        spawn_local(async move {
            if post_feedback(&self.api.get_value(), &vote).await.is_err() {
                self.conversation
                    .update(|c| c.vote_failed(index, text::FEEDBACK_ERROR.to_owned()));
            }
            self.save();
        });
    }

    /// Erases the conversation here and on the server.
    fn erase(self) {
        self.confirming.set(false);
        let session = self
            .conversation
            .try_update(|c| c.erase(text::ERASED.to_owned()))
            .flatten();
        storage::forget();
        self.draft.set(String::new());
        self.focus_input();
        let Some(session) = session else {
            return;
        };
        spawn_local(async move {
            if let Err(failure) = delete_session(&self.api.get_value(), &session).await {
                let message = match failure {
                    Failure::Other { message, .. } => message,
                    Failure::RateLimited { retry_after } => text::rate_limited(retry_after),
                };
                self.conversation.update(|c| {
                    // Not erased on the server: the session stays, to try again.
                    c.session = Some(session);
                    c.entries.push(Entry::new(
                        Kind::Notice,
                        [text::ERASE_FAILED, &message].concat(),
                    ));
                });
            }
        });
    }

    fn focus_input(&self) {
        let input = self.input;
        request_animation_frame(move || {
            let _ = input.get_untracked().map(|e| e.focus());
        });
    }

    fn send_draft(&self) {
        if self.send(&self.draft.get_untracked()) {
            self.draft.set(String::new());
        }
    }

    /// Seconds of the wait left, read against the ticking clock.
    fn waiting(&self) -> bool {
        let now = self.clock.get();
        self.conversation.with(|c| c.wait_left(now) > 0)
    }
}

/// The launcher and the panel.
fn panel(w: Widget, title: String, max_chars: u32) -> impl IntoView {
    view! {
        <button
            class="launcher"
            type="button"
            node_ref=w.launcher
            aria-label="Chat with us"
            aria-controls="sc-panel"
            aria-expanded=move || if w.open.get() { "true" } else { "false" }
            on:click=move |_| w.set_open(!w.open.get_untracked(), true)
        ></button>
        <div
            class="panel"
            id="sc-panel"
            role="dialog"
            aria-labelledby="sc-title"
            hidden=move || !w.open.get()
            on:keydown=move |ev: KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.stop_propagation();
                    w.set_open(false, true);
                }
            }
        >
            <div class="header">
                <h2 class="title" id="sc-title">{title}</h2>
                <button class="close" type="button" aria-label="Close chat" on:click=move |_| w.set_open(false, true)></button>
            </div>
            {transcript(w)}
            {quick_replies(w)}
            {status_line(w)}
            {composer(w, max_chars)}
        </div>
    }
}

/// The messages, and the typing dots while a reply is on its way.
fn transcript(w: Widget) -> impl IntoView {
    let pending = move || w.conversation.with(|c| c.pending);
    view! {
        <div class="log" role="log" aria-label="Conversation" tabindex="0" node_ref=w.log>
            {move || {
                w.conversation
                    .with(|c| {
                        c.entries
                            .iter()
                            .enumerate()
                            .map(|(index, entry)| {
                                let offer = c.offer_person && entry.vote == Some(false);
                                view! {
                                    {message(entry)}
                                    {entry.votable().then(|| feedback(w, index, entry.vote, offer))}
                                }
                            })
                            .collect::<Vec<_>>()
                    })
            }}
            <div class="msg assistant typing" hidden=move || !pending()>
                <span class="sr">"Support is typing"</span>
                <i></i>
                <i></i>
                <i></i>
            </div>
        </div>
    }
}

/// "Was this helpful?" under an answer: once, then thanks; after "Not
/// helpful", a person is offered.
fn feedback(w: Widget, index: usize, vote: Option<bool>, offer: bool) -> impl IntoView {
    let button = move |helpful: bool, label: &'static str| {
        view! {
            <button
                type="button"
                class="vote"
                aria-pressed=if vote == Some(helpful) { "true" } else { "false" }
                disabled=vote.is_some()
                on:click=move |_| w.vote(index, helpful)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="feedback" role="group" aria-label="Was this answer helpful?">
            <span>{if vote.is_some() { text::THANKS_FEEDBACK } else { text::ASK_FEEDBACK }}</span>
            {button(true, "Helpful")}
            {button(false, "Not helpful")}
            {offer.then(|| view! {
                <button type="button" class="person" on:click=move |_| {
                    let _ = w.send(text::ASK_FOR_PERSON);
                }>"Talk to a person"</button>
            })}
        </div>
    }
}

fn quick_replies(w: Widget) -> impl IntoView {
    let hidden = move || {
        w.conversation
            .with(|c| c.pending || c.suggestions.is_empty())
    };
    view! {
        <div class="chips" role="group" aria-label="Suggested questions" hidden=hidden>
            {move || {
                w.conversation
                    .with(|c| c.suggestions.clone())
                    .into_iter()
                    .map(|text| {
                        let label = text.clone();
                        view! {
                            <button type="button" class="chip" on:click=move |_| {
                                let _ = w.send(&text);
                            }>{label}</button>
                        }
                    })
                    .collect::<Vec<_>>()
            }}
        </div>
    }
}

/// The wait, being offline, or a failed message to try again.
fn status_line(w: Widget) -> impl IntoView {
    let no_retry = move || w.conversation.with(|c| c.retry.is_none());
    let status = move || {
        let now = w.clock.get();
        w.conversation.with(|c| c.status(now))
    };
    view! {
        <div class="status" hidden=move || status().is_empty() && no_retry()>
            <span>{status}</span>
            <button type="button" class="retry" hidden=no_retry on:click=move |_| w.resend()>
                "Try again"
            </button>
        </div>
    }
}

fn composer(w: Widget, max_chars: u32) -> impl IntoView {
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            if !ev.repeat() {
                w.send_draft();
            }
        }
    };
    let busy = move || w.conversation.with(|c| c.pending) || w.waiting();
    view! {
        <form class="composer" on:submit=move |ev| {
            ev.prevent_default();
            w.send_draft();
        }>
            <textarea
                node_ref=w.input
                rows="1"
                aria-label="Your message"
                aria-describedby="sc-count"
                placeholder="Type your question"
                maxlength=max_chars.to_string()
                prop:value=move || w.draft.get()
                on:input=move |ev| w.draft.set(event_target_value(&ev))
                on:keydown=on_keydown
            ></textarea>
            <button class="send" type="submit" disabled=busy>
                "Send"
            </button>
        </form>
        <div class="footer">
            <p class="count" id="sc-count">
                {move || w.draft.with(|d| d.encode_utf16().count()).to_string()}
                {["/", max_chars.to_string().as_str(), " characters"].concat()}
            </p>
            {erase(w)}
        </div>
    }
}

/// "Delete this conversation", asked twice: here and on the server.
fn erase(w: Widget) -> impl IntoView {
    let started = move || w.conversation.with(Conversation::started);
    view! {
        <button
            type="button"
            class="erase"
            hidden=move || !started() || w.confirming.get()
            on:click=move |_| w.confirming.set(true)
        >
            "Delete this conversation"
        </button>
        <p class="confirm" role="group" aria-label="Delete this conversation?" hidden=move || !w.confirming.get()>
            <span>{text::CONFIRM_ERASE}</span>
            <button type="button" on:click=move |_| w.erase()>"Delete"</button>
            <button type="button" on:click=move |_| w.confirming.set(false)>"Keep it"</button>
        </p>
    }
}
