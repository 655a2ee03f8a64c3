//! Stores shared by several replicas: implementations of the domain's
//! `RateLimiter` and `SessionStore` on an external server. The in-memory
//! ones in `crate::domain` stay the default; nothing here knows of HTTP.

pub mod redis;
