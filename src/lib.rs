//! support-chat's server: the public chat endpoint, the widget's files and
//! the demo page, around the answer engine of `support_chat_assistant`, with
//! the wire types of `support_chat_api`. Three layers:
//!
//! * `domain`: rate limiting, client identity, sessions, the clock, the
//!   answer threads. Knows nothing of HTTP.
//! * `http`: the edge. [`http::app`] builds the whole axum router without a socket.
//! * `store`: the shared stores (Redis) behind the domain's traits.
//! * the process: `config` (flags and env), `telemetry` (logs), `startup`
//!   (load, bind, serve), and `main.rs`.

pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod store;
pub mod telemetry;
