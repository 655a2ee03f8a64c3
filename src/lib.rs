//! support-chat's server: the public chat endpoint, the widget's files and
//! the demo page, around the answer engine of `support_chat_assistant`, with
//! the wire types of `support_chat_api`. Its layers:
//!
//! * `domain`: rate limiting, client identity, sessions, records, handoffs,
//!   business hours, the answer threads. Knows nothing of HTTP.
//! * `http`: the edge. [`http::app`] builds the whole axum router without a socket.
//! * `store`: the stores (Redis, SQL) behind the domain's traits.
//! * `outbound`: the ways a handoff reaches the team (SMTP, webhook),
//!   behind the domain's `Courier`.
//! * the process: `config` (flags and env), `telemetry` (logs), `startup`
//!   (load, bind, serve), and `main.rs`.

pub mod config;
pub mod domain;
pub mod http;
pub mod outbound;
pub mod startup;
pub mod store;
pub mod telemetry;
