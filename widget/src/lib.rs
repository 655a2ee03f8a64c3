//! The support-chat widget: a Leptos client-side app compiled to wasm and
//! mounted by `widget/loader.js` inside a shadow root on any page.
//!
//! It speaks to the server only through the shared wire types of
//! `support_chat::api`, with gloo-net.

use gloo_net::http::Request;
use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use support_chat::api::{
    CHAT_PATH, ChatRequest, ChatResponse, DEFAULT_MAX_MESSAGE_CHARS, ErrorEnvelope,
};
use wasm_bindgen::prelude::*;
use web_sys::{Element, HtmlElement, ShadowRootInit, ShadowRootMode};

const NETWORK_ERROR: &str =
    "We couldn't reach support. Please check your connection and try again.";
const SERVER_ERROR: &str = "Something went wrong on our side. Please try again in a moment.";

/// What the page configured on the script tag.
#[derive(Clone, Debug)]
struct Config {
    api: String,
    title: String,
    greeting: String,
}

impl Config {
    fn from_script(script: Option<&Element>, api: String) -> Self {
        let attr = |name: &str, default: &str| {
            script
                .and_then(|s| s.get_attribute(name))
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            api,
            title: attr("data-title", "Support"),
            greeting: attr("data-greeting", "Hello! How can we help?"),
        }
    }
}

/// Mounts the widget in a shadow root on a new `<support-chat-widget>` element
/// at the end of `<body>`. Called once by the loader.
#[wasm_bindgen]
pub fn start(script: Option<Element>, api: String, css_url: String) -> Result<(), JsValue> {
    let document = document();
    let host = document.create_element("support-chat-widget")?;
    let shadow = host.attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))?;
    let link = document.create_element("link")?;
    link.set_attribute("rel", "stylesheet")?;
    link.set_attribute("href", &css_url)?;
    shadow.append_child(&link)?;
    let root: HtmlElement = document.create_element("div")?.unchecked_into();
    root.set_class_name("root");
    shadow.append_child(&root)?;
    document
        .body()
        .ok_or("the page has no <body>")?
        .append_child(&host)?;

    let config = Config::from_script(script.as_ref(), api);
    leptos::mount::mount_to(root, move || view! { <ChatWidget config /> }).forget();
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Author {
    Visitor,
    Assistant,
    Notice,
}

#[derive(Clone, Debug)]
struct Entry {
    id: usize,
    author: Author,
    text: String,
    handoff: bool,
}

#[component]
fn ChatWidget(config: Config) -> impl IntoView {
    let open = RwSignal::new(false);
    let entries = RwSignal::new(vec![Entry {
        id: 0,
        author: Author::Assistant,
        text: config.greeting.clone(),
        handoff: false,
    }]);
    let draft = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let session = StoredValue::new(None::<String>);
    let input_ref = NodeRef::<html::Textarea>::new();
    let launcher_ref = NodeRef::<html::Button>::new();

    let push = move |author: Author, text: String, handoff: bool| {
        entries.update(|list| {
            let id = list.len();
            list.push(Entry {
                id,
                author,
                text,
                handoff,
            });
        });
    };

    let api = StoredValue::new(config.api.clone());
    let send = move || {
        let message = draft.get_untracked().trim().to_owned();
        if message.is_empty() || pending.get_untracked() {
            return;
        }
        draft.set(String::new());
        push(Author::Visitor, message.clone(), false);
        pending.set(true);
        let api = api.get_value();
        spawn_local(async move {
            let request = ChatRequest {
                message,
                session: session.get_value(),
            };
            match post_chat(&api, &request).await {
                Ok(response) => {
                    session.set_value(Some(response.session));
                    push(Author::Assistant, response.reply, response.handoff);
                }
                Err(notice) => push(Author::Notice, notice, false),
            }
            pending.set(false);
        });
    };

    let set_open = move |value: bool| {
        open.set(value);
        let target = if value {
            input_ref.get().map(|e| e.unchecked_into::<HtmlElement>())
        } else {
            launcher_ref.get().map(|e| e.unchecked_into())
        };
        if let Some(element) = target {
            // After this update has rendered the panel.
            request_animation_frame(move || drop(element.focus()));
        }
    };

    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        } else if ev.key() == "Escape" {
            set_open(false);
        }
    };

    let title = config.title.clone();
    view! {
        <button
            class="launcher"
            type="button"
            node_ref=launcher_ref
            aria-label=move || if open.get() { "Close support chat" } else { "Open support chat" }
            aria-expanded=move || open.get().to_string()
            on:click=move |_| set_open(!open.get_untracked())
        >
            <span aria-hidden="true">{move || if open.get() { "×" } else { "💬" }}</span>
        </button>
        <div class="panel" role="dialog" aria-label=title.clone() hidden=move || !open.get()>
            <header class="header">
                <h2 class="title">{title.clone()}</h2>
                <button class="close" type="button" aria-label="Close support chat" on:click=move |_| set_open(false)>
                    "×"
                </button>
            </header>
            <ol class="log" role="log" aria-live="polite">
                <For each=move || entries.get() key=|entry| entry.id let:entry>
                    <li class="message" class:visitor=entry.author == Author::Visitor class:assistant=entry.author == Author::Assistant class:notice=entry.author == Author::Notice class:handoff=entry.handoff>
                        {entry.text}
                    </li>
                </For>
                <Show when=move || pending.get()>
                    <li class="message assistant typing" aria-label="The assistant is typing">
                        <span></span>
                        <span></span>
                        <span></span>
                    </li>
                </Show>
            </ol>
            <form class="composer" on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <textarea
                    node_ref=input_ref
                    rows="1"
                    aria-label="Your message"
                    placeholder="Type your question"
                    maxlength=DEFAULT_MAX_MESSAGE_CHARS.to_string()
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=on_keydown
                ></textarea>
                <button class="send" type="submit" disabled=move || pending.get()>
                    "Send"
                </button>
            </form>
        </div>
    }
}

/// One chat round trip; `Err` is a sentence to show the visitor.
async fn post_chat(api: &str, request: &ChatRequest) -> Result<ChatResponse, String> {
    let response = Request::post(&format!("{api}{CHAT_PATH}"))
        .json(request)
        .map_err(|_| SERVER_ERROR.to_owned())?
        .send()
        .await
        .map_err(|_| NETWORK_ERROR.to_owned())?;
    if response.ok() {
        return response
            .json::<ChatResponse>()
            .await
            .map_err(|_| SERVER_ERROR.to_owned());
    }
    match response.json::<ErrorEnvelope>().await {
        Ok(envelope) => Err(envelope.error.message),
        Err(_) => Err(SERVER_ERROR.to_owned()),
    }
}
