//! support-chat: the public support assistant of a UK business lender.
//!
//! Without the default `ssr` feature this crate is only [`api`], the wire
//! types that the wasm widget (`widget/`) compiles in. With it, it is the
//! server, in three layers:
//!
//! * `domain`: rate limiting, client identity, sessions, the clock, the
//!   assistant. Knows nothing of HTTP.
//! * `http`: the edge. [`http::app`] builds the whole axum router without a socket.
//! * `store`: the shared stores (Redis) behind the domain's traits.
//! * the process: `config` (flags and env), `telemetry` (logs), `startup`
//!   (load, bind, serve), and `main.rs`.

pub mod api;

#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod domain;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod telemetry;
