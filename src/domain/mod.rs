//! The server's domain: who a client is, how often it may ask, what it said
//! before, and the threads answers are computed on (the answer engine itself
//! is the `support_chat_assistant` crate). Nothing here knows of HTTP (no `axum`,
//! `http`, `hyper` or `tower`; `make invariants` checks it): the edge in
//! `crate::http` translates requests into these types and back.

use std::future::Future;
use std::pin::Pin;

pub mod answer_pool;
pub mod care;
pub mod channel;
pub mod client_ip;
pub mod clock;
pub mod console;
pub mod handoff;
pub mod hours;
pub mod in_flight;
pub mod inbox;
pub mod knowledge;
pub mod rate_limit;
pub mod records;
pub mod reference;
pub mod session;

/// What the domain's store traits return: a boxed future, so the traits stay
/// usable as `dyn` objects whether the store is in memory or on Redis.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
