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
use crate::js::{get, set, string_array};
use crate::storage;
use crate::text;
use crate::transcript::{Entry, Kind};
use crate::view::message;
use crate::wire::{delete_session, post_chat, post_feedback, post_handoff};

/// Mounts the widget into `root` (inside the shadow root the loader made) and
/// returns the command function behind `SupportChat.open/close/toggle/send`.
/// `options` holds what the loader read from the script tag (`api`,
/// `title`, `greeting`, `open`, `maxChars`, `consent`, `privacy`);
/// `emit(name, detail)` reports the public events.
#[wasm_bindgen]
pub fn start(root: HtmlElement, options: Object, emit: Function) -> JsValue {
    let option = |name: &str| get(&options, name).as_string().unwrap_or_default();
    let (api, title, greeting) = (option("api"), option("title"), option("greeting"));
    let consent = [option("consent"), option("privacy")];
    let open = get(&options, "open").is_truthy();
    let max_chars = get(&options, "maxChars").as_f64().unwrap_or(1000.0) as u32;
    let (command_tx, command) = command_channel();
    leptos::mount::mount_to(root, move || {
        let widget = Widget::new(api, greeting, open, emit, consent);
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
    /// From `GET …/status`, once the panel has opened (`fetch_status`):
    /// whether handoffs are taken.
    takes_handoffs: RwSignal<bool>,
    asked_status: RwSignal<bool>,
    /// The handoff form (see `contact_form`): open, on the wire.
    form_open: RwSignal<bool>,
    sending: RwSignal<bool>,
    /// The site owner's consent sentence and privacy notice URL.
    consent: StoredValue<[String; 2]>,
    form: NodeRef<html::Form>,
}

impl Widget {
    fn new(
        api: String,
        greeting: String,
        start_open: bool,
        emit: Function,
        consent: [String; 2],
    ) -> Self {
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
            takes_handoffs: RwSignal::new(false),
            asked_status: RwSignal::new(false),
            form_open: RwSignal::new(false),
            sending: RwSignal::new(false),
            consent: StoredValue::new(consent),
            form: NodeRef::new(),
        };
        if open {
            widget.fetch_status();
        }
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
            // The loader's answer to `status` (see `fetch_status`).
            "handoff" => self.takes_handoffs.set(true),
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
            self.fetch_status();
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

    /// Sends a vote on entry `index` (once). Kept for a reload only once the
    /// server has it: one the page left with is offered again, not thanked.
    fn vote(self, index: usize, helpful: bool) {
        let Some(vote) = self
            .conversation
            .try_update(|c| c.vote(index, helpful))
            .flatten()
        else {
            return;
        };
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
        // Not while a reply is on its way (see `erase`, the view).
        if self.conversation.with_untracked(|c| c.pending) {
            return;
        }
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
                    // Not erased on the server: the session stays, here and
                    // in the tab's storage, to try again (after a reload too).
                    c.session = Some(session);
                    c.entries.push(Entry::new(
                        Kind::Notice,
                        [text::ERASE_FAILED, &message].concat(),
                    ));
                });
                self.save();
            }
        });
    }

    /// Asks once whether handoffs are taken and when someone will reply.
    /// The loader asks the server (`GET …/status`, see `loader.js`), writes
    /// the opening hours into the two places that show them (`.hours` in
    /// the header, `.when` in the form: static elements, never re-rendered)
    /// and answers with the `handoff` command.
    fn fetch_status(self) {
        if !self.asked_status.get_untracked() {
            self.asked_status.set(true);
            self.emit("status", &JsValue::UNDEFINED);
        }
    }

    /// Whether the server takes handoffs (so the form may be offered).
    fn takes_handoffs(&self) -> bool {
        self.takes_handoffs.get()
    }

    /// Opens the form (or, if it cannot be sent, asks for a person in the chat).
    fn ask_for_person(&self) {
        if !self.takes_handoffs() || self.conversation.with_untracked(|c| c.session.is_none()) {
            let _ = self.send(text::ASK_FOR_PERSON);
            return;
        }
        self.refuse("", false);
        let [consent, privacy] = self.consent.get_value();
        self.set_text(".consent span", &consent);
        if let Some(link) = self.in_form("a") {
            let _ = if privacy.is_empty() {
                link.set_attribute("hidden", "")
            } else {
                link.set_attribute("href", &privacy)
            };
        }
        self.form_open.set(true);
        self.focus_in_form("input");
    }

    fn close_form(&self) {
        self.form_open.set(false);
        self.focus_input();
    }

    /// The form's element `selector` (the form's markup is static).
    fn in_form(&self, selector: &str) -> Option<web_sys::Element> {
        self.form.get_untracked()?.query_selector(selector).ok()?
    }

    fn set_text(&self, selector: &str, text: &str) {
        if let Some(element) = self.in_form(selector) {
            element.set_text_content(Some(text));
        }
    }

    fn focus_in_form(&self, selector: &'static str) {
        let w = *self;
        request_animation_frame(move || {
            if let Some(element) = w.in_form(selector) {
                let _ = element.unchecked_into::<HtmlElement>().focus();
            }
        });
    }

    /// The browser checks the address (`type=email`, `required`) in its
    /// own words; then the form goes out, and a refusal is shown above its
    /// buttons, announced.
    fn submit_form(self) {
        let Some(email) = self.in_form("input") else {
            return;
        };
        let email: web_sys::HtmlInputElement = email.unchecked_into();
        if !email.check_validity() {
            self.refuse(&email.validation_message().unwrap_or_default(), true);
            return;
        }
        // An input's and a textarea's `value` are the same property.
        let value = |name: &str| {
            self.in_form(name)
                .map(|e| e.unchecked_into::<web_sys::HtmlInputElement>().value())
                .unwrap_or_default()
        };
        let fields = [email.value(), value("#sc-name"), value("textarea")];
        let session = self.conversation.with_untracked(|c| c.session.clone());
        let Some(session) = session.filter(|_| !self.sending.get_untracked()) else {
            return;
        };
        self.sending.set(true);
        spawn_local(async move {
            let result = post_handoff(&self.api.get_value(), &session, &fields).await;
            self.sending.set(false);
            match result {
                Ok(taken) => {
                    self.conversation.update(|c| {
                        c.offer_person = false;
                        c.entries.push(Entry::new(Kind::Notice, taken.message));
                    });
                    if let Some(form) = self.form.get_untracked() {
                        form.reset();
                    }
                    self.emit("handoff", &taken.reference.into());
                    self.save();
                    self.scroll_down();
                }
                Err(Failure::RateLimited { retry_after }) => {
                    self.refuse(&text::rate_limited(retry_after), false)
                }
                Err(Failure::Other { message, code, .. }) => {
                    self.refuse(&message, code == "email_invalid")
                }
            }
        });
    }

    /// Shows why the form was not sent (or clears it with `""`), marking
    /// and focusing the address when it is at fault.
    fn refuse(&self, message: &str, email_at_fault: bool) {
        self.set_text(".error", message);
        if let Some(email) = self.in_form("input") {
            let _ = email.set_attribute(
                "aria-invalid",
                if email_at_fault { "true" } else { "false" },
            );
        }
        if email_at_fault {
            self.focus_in_form("input");
        }
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
                <div>
                    <h2 class="title" id="sc-title">{title}</h2>
                    <p class="hours"></p>
                </div>
                <button class="close" type="button" aria-label="Close chat" on:click=move |_| w.set_open(false, true)></button>
            </div>
            {transcript(w)}
            {contact_form(w)}
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
                <button type="button" class="person" on:click=move |_| w.ask_for_person()>
                    "Talk to a person"
                </button>
            })}
        </div>
    }
}

/// The contact form's markup. Static on purpose: one string costs the
/// widget far fewer bytes than a tree of views (the 100 KB budget, see
/// `lib.rs`); what varies is set on it as text or attributes when it opens
/// (`Widget::ask_for_person`, the loader for the hours), so nothing the site
/// owner or the server wrote is ever parsed as HTML.
const FORM: &str = "<h3 id=\"sc-form-title\">Ask a person to email you</h3>\
<p>We'll send this conversation to our team and they'll reply by email. <span class=\"when\"></span></p>\
<label for=\"sc-email\">Email (required)</label>\
<input id=\"sc-email\" type=\"email\" required autocomplete=\"email\" maxlength=\"254\" aria-describedby=\"sc-form-error\">\
<label for=\"sc-name\">Name (optional)</label>\
<input id=\"sc-name\" autocomplete=\"name\" maxlength=\"100\">\
<label for=\"sc-note\">Anything to add (optional)</label>\
<textarea id=\"sc-note\" rows=\"2\" maxlength=\"1000\"></textarea>\
<p class=\"consent\"><span></span> <a target=\"_blank\" rel=\"noopener\">Privacy notice</a></p>\
<p class=\"error\" id=\"sc-form-error\" role=\"alert\"></p>\
<div class=\"actions\"><button type=\"submit\" class=\"send\">Send request</button>\
<button type=\"reset\" class=\"cancel\">Cancel</button></div>";

/// After a handoff: an offer to leave an email, and the form it opens
/// ("Cancel" resets it, which closes it; so does a request sent).
fn contact_form(w: Widget) -> impl IntoView {
    let offered = move || {
        w.takes_handoffs()
            && !w.form_open.get()
            && w.conversation
                .with(|c| c.entries.last().is_some_and(|e| e.kind == Kind::Handoff))
    };
    view! {
        <button type="button" class="offer" hidden=move || !offered() on:click=move |_| w.ask_for_person()>
            "Ask a person to email me"
        </button>
        <form
            class="contact"
            aria-labelledby="sc-form-title"
            novalidate
            node_ref=w.form
            hidden=move || !w.form_open.get()
            on:submit=move |ev| {
                ev.prevent_default();
                w.submit_form();
            }
            on:reset=move |_| w.close_form()
            inner_html=FORM
        ></form>
    }
}

fn quick_replies(w: Widget) -> impl IntoView {
    let hidden = move || {
        w.conversation
            .with(|c| c.pending || c.suggestions.is_empty())
    };
    view! {
        <div class="chips" role="group" aria-label="Suggested questions" hidden=move || hidden() || w.form_open.get()>
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
        <form class="composer" hidden=move || w.form_open.get() on:submit=move |ev| {
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
        <div class="footer" hidden=move || w.form_open.get()>
            <p class="count" id="sc-count">
                {move || w.draft.with(|d| d.encode_utf16().count()).to_string()}
                {["/", max_chars.to_string().as_str(), " characters"].concat()}
            </p>
            {erase(w)}
        </div>
    }
}

/// "Delete this conversation", asked twice: here and on the server.
///
/// Not while a reply is on its way: that turn would be kept if it came more
/// than 5 s after the erase (the records' allowance for replicas' clocks), and
/// a complaint it opens is kept whatever. So the button hides meanwhile (as the quick replies do), and a "Delete"
/// already on show does nothing until the reply is in (`Widget::erase`).
///
/// Focus follows the question (the button asked hides): to "Keep it", the
/// safe answer, when it opens, and back to the button when it is kept.
fn erase(w: Widget) -> impl IntoView {
    let may_erase = move || w.conversation.with(|c| c.started() && !c.pending);
    let (ask, keep) = (
        NodeRef::<html::Button>::new(),
        NodeRef::<html::Button>::new(),
    );
    let confirming = move |open: bool| {
        w.confirming.set(open);
        request_animation_frame(move || {
            let _ = if open { keep } else { ask }
                .get_untracked()
                .map(|e| e.focus());
        });
    };
    view! {
        <button
            node_ref=ask
            type="button"
            class="erase"
            hidden=move || !may_erase() || w.confirming.get()
            on:click=move |_| confirming(true)
        >
            "Delete this conversation"
        </button>
        <p class="confirm" role="group" aria-label="Delete this conversation?" hidden=move || !w.confirming.get()>
            <span>{text::CONFIRM_ERASE}</span>
            <button type="button" on:click=move |_| w.erase()>"Delete"</button>
            <button node_ref=keep type="button" on:click=move |_| confirming(false)>"Keep it"</button>
        </p>
    }
}
