//! The HTTP edge: the router and its middleware, handlers, extractors, the
//! error envelope, request ids, assets, the demo page and the OpenAPI
//! document. It translates requests into `crate::domain` types and back;
//! nothing of the domain is decided here.

pub mod admin;
mod assets;
mod chat;
pub mod client;
pub mod cors;
mod demo;
mod error;
mod extract;
mod flood_guard;
pub mod guard;
mod handoff;
mod metrics;
mod openapi;
mod ratelimit_headers;
mod request_id;
mod router;
pub mod server;
mod state;

pub use assets::{AssetError, Assets, WIDGET_PREFIX};
pub use error::ApiError;
pub use router::{RouterConfig, Routes, app, public_routes};
pub use state::{AppState, ChatState, HandoffState, Readiness};
