//! Per-client rate limiting for `POST /public/v1/support/chat`.
//!
//! # Semantics: fixed window, started by the client's first request
//!
//! Each [`ClientKey`](crate::domain::client_ip::ClientKey) gets `limit`
//! requests per `window` (60 per 60 s by default). The window is a **fixed
//! window that starts at that client's first request**, not a sliding window
//! and not aligned to the wall clock:
//!
//! * The first request at time `t` opens the window `[t, t + window)`.
//! * Requests inside it are allowed until `limit` have been allowed; later
//!   ones are rejected. Rejected requests are not counted and never move or
//!   extend the window.
//! * The first request at or after `t + window` opens a new window there.
//!
//! A client can therefore get up to `2 × limit` requests in a short span that
//! straddles a window boundary; that is inherent to fixed windows and accepted.
//!
//! A rejection carries [`Decision::retry_after_secs`], the whole seconds,
//! **rounded up**, until the window resets (1 ≤ N ≤ window seconds), so a
//! retry after `N` seconds is always in a new window. Check-and-count is one
//! critical section per key, so it is exact under concurrency: of 200
//! simultaneous requests from one key, exactly `limit` succeed.
//!
//! * `quota.rs`: [`Quota`], valid by construction, parsed from `"60/60s"`.
//! * `limiter.rs`: the [`RateLimiter`] trait and its [`Decision`].
//! * `fixed_window.rs`: [`FixedWindow`], the in-process implementation.
//! * `aggregated.rs`: [`Aggregated`], a client's quota plus those of the wider
//!   IPv6 networks it is in (/56, /48 by default).
//!
//! The HTTP edge turns a [`Decision`] into `RateLimit`/`RateLimit-Policy`
//! and `Retry-After` headers (`http/ratelimit_headers.rs`).

mod aggregated;
mod fixed_window;
mod limiter;
mod quota;

pub use aggregated::{Aggregated, NetworkQuota, NetworkQuotas};
pub use fixed_window::FixedWindow;
pub use limiter::{Decision, RateLimiter};
pub use quota::{Quota, QuotaError};
