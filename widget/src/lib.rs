//! The support-chat widget: a Leptos client-side app compiled to wasm.
//!
//! `widget/loader.js` builds the host element, its shadow root and the
//! stylesheet link, reads the script tag's `data-*` attributes and owns the
//! public `window.SupportChat` API; it then calls `start` with the element to
//! render into and a function to report events through.
//!
//! * `conversation.rs`: the conversation and every way it moves (sending,
//!   waiting, a `429` countdown, retrying, offline, restoring).
//! * `transcript.rs`, `links.rs`, `text.rs`: pure logic (what an entry is,
//!   where the links in a reply are, the sentences about waiting).
//!   All four are compiled natively too, and unit-tested there.
//! * `storage.rs`: the sessionStorage format (documented there) and its cap.
//! * `wire.rs`: the round trips (chat, feedback, erase, handoff, status),
//!   with the shared wire types of `support_chat_api`.
//! * `view.rs`: the view pieces (one message, its links).
//! * `widget.rs`: the conversation in a signal, the actions on it, and the
//!   panel's view.
//!
//! Size matters here (the whole widget must stay under 100 KB gzip), so the
//! code avoids `format!`, panics with messages and generic helpers, and uses
//! plain functions rather than `#[component]`s (each component costs bytes
//! for props it does not need).

// Public so the native build (the crate is an rlib too) keeps them: there,
// nothing else uses them but their tests.
pub mod conversation;
pub mod links;
pub mod storage;
pub mod text;
pub mod transcript;

#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod view;
#[cfg(target_arch = "wasm32")]
mod widget;
#[cfg(target_arch = "wasm32")]
mod wire;

#[cfg(target_arch = "wasm32")]
pub use widget::start;
