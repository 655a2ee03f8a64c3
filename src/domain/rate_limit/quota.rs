//! [`Quota`]: `limit` requests per `window`, valid by construction.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `limit` requests per `window`. Parses from and displays as `"60/60s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: u32,
    window: Duration,
}

impl Quota {
    /// A quota of `limit` requests per `window`; both must be non-zero, and
    /// the window at most ~584 years (it is stored as `u64` nanoseconds).
    pub fn new(limit: u32, window: Duration) -> Result<Self, QuotaError> {
        let quota = Quota { limit, window };
        quota.validate().map_err(|why| QuotaError {
            message: format!("invalid rate limit {quota}: {why}"),
        })?;
        Ok(quota)
    }

    /// Requests allowed per window (at least 1).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window (at least 1 second, at most ~584 years).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The window in nanoseconds; it fits, as [`Quota::new`] checked.
    pub fn window_nanos(&self) -> u64 {
        self.window.as_nanos() as u64
    }

    fn validate(&self) -> Result<(), &'static str> {
        if self.limit == 0 {
            return Err("the request count must be at least 1");
        }
        if self.window.is_zero() {
            return Err("the window must be at least 1 second");
        }
        if u64::try_from(self.window.as_nanos()).is_err() {
            return Err("the window is too long");
        }
        Ok(())
    }
}

/// `"60/60s"`: the window is always shown in seconds, so `"100/1m"` displays
/// as `"100/60s"` and parses back to the same quota.
impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.window.subsec_nanos() == 0 {
            write!(f, "{}/{}s", self.limit, self.window.as_secs())
        } else {
            write!(f, "{}/{}s", self.limit, self.window.as_secs_f64())
        }
    }
}

/// Parses `"<requests>/<number><unit>"` with unit `s`, `m` or `h`, e.g.
/// `"60/60s"`, `"100/1m"`, `"5/1h"`. Surrounding whitespace is ignored;
/// anything else (signs, decimals, spaces inside, other units, zero) is an
/// error.
impl FromStr for Quota {
    type Err = QuotaError;

    fn from_str(input: &str) -> Result<Self, QuotaError> {
        let error = |why: &str| QuotaError {
            message: format!(
                "invalid rate limit {input:?}: {why} (expected \"<requests>/<number><s|m|h>\", e.g. \"60/60s\", \"100/1m\" or \"5/1h\")"
            ),
        };
        let (count, window) = input
            .trim()
            .split_once('/')
            .ok_or_else(|| error("missing '/'"))?;
        let limit: u32 = parse_digits(count)
            .ok_or_else(|| error("the request count must be a whole number below 2^32"))?;
        let (amount, unit_secs) = match window.as_bytes().last() {
            Some(b's') => (&window[..window.len() - 1], 1),
            Some(b'm') => (&window[..window.len() - 1], 60),
            Some(b'h') => (&window[..window.len() - 1], 3600),
            _ => return Err(error("the window must end in a unit: s, m or h")),
        };
        let amount: u64 =
            parse_digits(amount).ok_or_else(|| error("the window must be a whole number"))?;
        let secs = amount
            .checked_mul(unit_secs)
            .ok_or_else(|| error("the window is too long"))?;
        let quota = Quota {
            limit,
            window: Duration::from_secs(secs),
        };
        quota.validate().map_err(error)?;
        Ok(quota)
    }
}

/// Non-empty ASCII digits only (no sign, no whitespace), without overflow.
fn parse_digits<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Invalid quota; the message quotes the input and says what is expected
/// (a leaf: nothing underneath it to keep).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QuotaError {
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_from_count_slash_duration() {
        let q = |s: &str| s.parse::<Quota>().unwrap();
        assert_eq!(
            q("60/60s"),
            Quota::new(60, Duration::from_secs(60)).unwrap()
        );
        assert_eq!(q("100/1m").window, Duration::from_secs(60));
        assert_eq!(
            q("5/1h"),
            Quota {
                limit: 5,
                window: Duration::from_secs(3600)
            }
        );
        assert_eq!(q(" 60/60s\n"), q("60/60s"));
        assert_eq!(q("4294967295/1s").limit, u32::MAX);
    }

    #[test]
    fn quotas_display_in_seconds_and_round_trip() {
        assert_eq!(
            Quota::new(60, Duration::from_secs(60)).unwrap().to_string(),
            "60/60s"
        );
        let q: Quota = "5/1h".parse().unwrap();
        assert_eq!(q.to_string(), "5/3600s");
        assert_eq!(q.to_string().parse::<Quota>().unwrap(), q);
    }

    #[test]
    fn zero_and_garbage_quotas_are_rejected_with_a_clear_message() {
        for (input, why) in [
            ("", "missing '/'"),
            ("60", "missing '/'"),
            ("abc", "missing '/'"),
            ("0/60s", "at least 1"),
            ("60/0s", "at least 1 second"),
            ("60/0h", "at least 1 second"),
            ("60/60", "must end in a unit"),
            ("60/60x", "must end in a unit"),
            ("60/60S", "must end in a unit"),
            ("60/s", "whole number"),
            ("-1/60s", "request count"),
            ("+1/60s", "request count"),
            ("60/-1s", "whole number"),
            ("60/1.5s", "whole number"),
            ("60 / 60s", "request count"),
            ("4294967296/1s", "below 2^32"),
            ("1/99999999999999999999h", "whole number"),
            ("1/9999999999999999999h", "too long"),
            ("60/60s/60s", "whole number"),
        ] {
            let err = input.parse::<Quota>().unwrap_err().to_string();
            assert!(err.contains(why), "{input:?}: {err}");
            assert!(err.contains(&format!("{input:?}")), "{input:?}: {err}");
            assert!(err.contains("e.g. \"60/60s\""), "{input:?}: {err}");
        }
        assert!(Quota::new(0, Duration::from_secs(1)).is_err());
        assert!(Quota::new(1, Duration::ZERO).is_err());
    }
}
