//! The domain: who a client is, how often it may ask, what it said before,
//! and what the assistant answers. Nothing here knows of HTTP (no `axum`,
//! `http`, `hyper` or `tower`; `make invariants` checks it): the edge in
//! `crate::http` translates requests into these types and back.

pub mod assistant;
pub mod client_ip;
pub mod clock;
pub mod in_flight;
pub mod message;
pub mod rate_limit;
pub mod session;
