//! [`Aggregated`]: a client's own quota, and above it the quotas of the
//! wider IPv6 networks it belongs to, so that one allocation (a /48 holds
//! 65,536 /64s) cannot multiply its budget by its size.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::limiter::{Decision, RateLimiter};
use super::quota::{Quota, QuotaError};
use crate::domain::Pending;
use crate::domain::client_ip::ClientKey;

/// The quota of every IPv6 network of `prefix` bits: `"56=240/60s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkQuota {
    pub prefix: u8,
    pub quota: Quota,
}

impl FromStr for NetworkQuota {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let (prefix, quota) = input.trim().split_once('=').ok_or_else(|| {
            format!("invalid network quota {input:?}: expected \"<prefix length>=<quota>\", e.g. \"56=240/60s\"")
        })?;
        let prefix: u8 = prefix
            .trim()
            .parse()
            .ok()
            .filter(|p| (32..=127).contains(p))
            .ok_or_else(|| {
                format!("invalid network quota {input:?}: the prefix length must be 32 to 127")
            })?;
        let quota = quota.parse().map_err(|e: QuotaError| e.to_string())?;
        Ok(Self { prefix, quota })
    }
}

impl fmt::Display for NetworkQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.prefix, self.quota)
    }
}

/// A comma-separated list of [`NetworkQuota`]s, e.g.
/// `"56=240/60s,48=960/60s"`; empty (or only commas and spaces) for none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkQuotas(pub Vec<NetworkQuota>);

impl FromStr for NetworkQuotas {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        input
            .split(',')
            .filter(|item| !item.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(NetworkQuotas)
    }
}

/// A limiter that also checks each IPv6 key's wider networks.
pub struct Aggregated {
    own: Arc<dyn RateLimiter>,
    /// `(prefix length, limiter)`, e.g. `(56, …)`, `(48, …)`.
    wider: Vec<(u8, Arc<dyn RateLimiter>)>,
}

impl Aggregated {
    pub fn new(own: Arc<dyn RateLimiter>, wider: Vec<(u8, Arc<dyn RateLimiter>)>) -> Self {
        Self { own, wider }
    }
}

impl RateLimiter for Aggregated {
    /// The client's own decision, unless a wider network is over its quota:
    /// then a rejection that waits for that network's window. A request a
    /// wider quota refuses has still counted against the client's own (the
    /// cautious side: it never grants more than either quota).
    fn check(&self, key: ClientKey) -> Pending<'_, Decision> {
        Box::pin(async move {
            let own = self.own.check(key).await;
            if !own.allowed {
                return own;
            }
            for (prefix, limiter) in &self.wider {
                if let Some(network) = key.widened(*prefix) {
                    let wide = limiter.check(network).await;
                    if !wide.allowed {
                        return Decision {
                            allowed: false,
                            remaining: 0,
                            reset_after: wide.reset_after,
                            // A longer network window: the wait may exceed the client's own.
                            window: own.window.max(wide.window),
                            ..own
                        };
                    }
                }
            }
            own
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::domain::clock::ManualClock;
    use crate::domain::rate_limit::FixedWindow;

    fn key(ip: &str) -> ClientKey {
        ClientKey::from_ip(ip.parse::<IpAddr>().unwrap())
    }

    fn limiter(clock: &ManualClock) -> Aggregated {
        let quota = |q: &str| -> Arc<dyn RateLimiter> {
            Arc::new(FixedWindow::new(q.parse().unwrap(), clock.clone()))
        };
        Aggregated::new(
            quota("2/60s"),
            vec![(56, quota("5/60s")), (48, quota("8/120s"))],
        )
    }

    #[tokio::test]
    async fn the_64s_of_one_56_share_its_quota_and_wait_for_its_window() {
        let clock = ManualClock::new();
        let limiter = limiter(&clock);
        let mut allowed = 0;
        for n in 0..10 {
            let k = key(&format!("2001:db8:0:{n:x}::1"));
            for _ in 0..2 {
                allowed += u32::from(limiter.check(k).await.allowed);
            }
        }
        assert_eq!(allowed, 5, "ten /64s of one /56 get the /56's 5, not 20");
        clock.advance(Duration::from_secs(20));
        let refused = limiter.check(key("2001:db8:0:ff::1")).await;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs(), 40, "the /56's window");
        assert_eq!(refused.limit, 2, "the headers keep the client's own policy");
    }

    #[tokio::test]
    async fn the_48_caps_its_56s_together() {
        let clock = ManualClock::new();
        let limiter = limiter(&clock);
        let mut allowed = 0;
        for n in 0..20 {
            let k = key(&format!("2001:db8:0:{n:x}00::1"));
            allowed += usize::from(limiter.check(k).await.allowed);
        }
        assert_eq!(allowed, 8, "twenty /56s of one /48 get the /48's 8");
    }

    #[test]
    fn network_quotas_parse_from_prefix_equals_quota() {
        let q: NetworkQuota = " 56=240/60s ".parse().unwrap();
        assert_eq!(q.prefix, 56);
        assert_eq!(q.quota, "240/60s".parse().unwrap());
        assert_eq!(q.to_string(), "56=240/60s");
        for (bad, says) in [
            ("56", "expected"),
            ("x=1/1s", "32 to 127"),
            ("128=1/1s", "32 to 127"),
            ("31=1/1s", "32 to 127"),
            ("56=0/60s", "at least 1"),
        ] {
            let err = bad.parse::<NetworkQuota>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_list_of_network_quotas_may_be_empty() {
        let list: NetworkQuotas = "56=240/60s, 48=960/60s".parse().unwrap();
        assert_eq!(list.0.len(), 2);
        assert_eq!(
            "".parse::<NetworkQuotas>().unwrap(),
            NetworkQuotas::default()
        );
        assert_eq!(
            " , ".parse::<NetworkQuotas>().unwrap(),
            NetworkQuotas::default()
        );
        assert!("56=240/60s,nonsense".parse::<NetworkQuotas>().is_err());
    }

    #[tokio::test]
    async fn a_longer_network_window_is_the_wait_a_refusal_gives() {
        let clock = ManualClock::new();
        let quota = |q: &str| -> Arc<dyn RateLimiter> {
            Arc::new(FixedWindow::new(q.parse().unwrap(), clock.clone()))
        };
        let limiter = Aggregated::new(quota("10/60s"), vec![(48, quota("1/1h"))]);
        assert!(limiter.check(key("2001:db8::1")).await.allowed);
        let refused = limiter.check(key("2001:db8:0:1::1")).await;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs(), 3600);
    }

    #[tokio::test]
    async fn ipv4_clients_have_only_their_own_quota() {
        let clock = ManualClock::new();
        let limiter = limiter(&clock);
        let mut allowed = 0;
        for n in 0..10 {
            allowed += usize::from(limiter.check(key(&format!("192.0.2.{n}"))).await.allowed);
        }
        assert_eq!(allowed, 10);
    }
}
