//! [`RateLimiter`], the interface the server uses, and its [`Decision`].

use std::time::Duration;

use crate::domain::Pending;
use crate::domain::client_ip::ClientKey;

/// Decides whether a client's request may proceed, and counts it if so.
///
/// Implementations must be exact under concurrency (check and count
/// atomically per key).
pub trait RateLimiter: Send + Sync + 'static {
    fn check(&self, key: ClientKey) -> Pending<'_, Decision>;
}

/// The outcome of one [`RateLimiter::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (otherwise: 429).
    pub allowed: bool,
    /// The quota's request count.
    pub limit: u32,
    /// Requests left in the current window after this one.
    pub remaining: u32,
    /// Time until the client's current window ends (0 < reset_after ≤ window).
    pub reset_after: Duration,
    /// The quota's window.
    pub window: Duration,
}

impl Decision {
    /// `Retry-After` value for a rejected request: whole seconds until the
    /// window resets, rounded up, within `1..=window seconds`.
    pub fn retry_after_secs(&self) -> u64 {
        self.reset_secs()
    }

    /// Seconds until the window resets, rounded up, within `1..=window seconds`.
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_after).clamp(1, self.window_secs().max(1))
    }

    /// The window in whole seconds, rounded up.
    pub fn window_secs(&self) -> u64 {
        ceil_secs(self.window)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
