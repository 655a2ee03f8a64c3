//! Stores outside the process: the domain's `RateLimiter` and
//! `SessionStore` on Redis (several replicas; the in-memory ones in
//! `crate::domain` stay the default), and the `RecordStore`, the handoff
//! `Outbox`, the `ComplaintBook` and the console's sessions on SQLite or PostgreSQL. Nothing here knows of HTTP.

pub mod care;
mod console;
mod erase;
mod notice;
pub mod outbox;
pub mod redis;
mod search;
pub mod sql;
mod write;
