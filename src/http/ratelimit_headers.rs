//! The `RateLimit` and `RateLimit-Policy` response headers
//! (draft-ietf-httpapi-ratelimit-headers) of a rate-limit [`Decision`]:
//! `RateLimit-Policy: "chat";q=60;w=60` and
//! `RateLimit: "chat";r=<remaining>;t=<seconds to reset, rounded up>`.
//! `Retry-After` is [`Decision::retry_after_secs`], set by [`ApiError`](super::error::ApiError).

use std::fmt;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::domain::rate_limit::Decision;

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Sets both headers of `decision` for the policy `name`.
pub fn insert(headers: &mut HeaderMap, decision: &Decision, name: &str) {
    for (header, value) in [
        (RATELIMIT_POLICY, policy(decision, name)),
        (RATELIMIT, ratelimit(decision, name)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header, value);
        }
    }
}

/// `RateLimit-Policy` value, e.g. `"chat";q=60;w=60`.
fn policy(decision: &Decision, name: &str) -> String {
    format!(
        "{};q={};w={}",
        SfString(name),
        decision.limit,
        decision.window_secs()
    )
}

/// `RateLimit` value, e.g. `"chat";r=59;t=60`.
fn ratelimit(decision: &Decision, name: &str) -> String {
    format!(
        "{};r={};t={}",
        SfString(name),
        decision.remaining,
        decision.reset_secs()
    )
}

/// An RFC 8941 sf-string: quoted, `"` and `\` escaped, anything outside
/// printable ASCII replaced by `?` so the header value stays valid.
struct SfString<'a>(&'a str);

impl fmt::Display for SfString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                ' '..='~' => f.write_char(c)?,
                _ => f.write_char('?')?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use super::*;
    use crate::domain::client_ip::ClientKey;
    use crate::domain::clock::ManualClock;
    use crate::domain::rate_limit::FixedWindow;

    fn limiter() -> (FixedWindow<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        (
            FixedWindow::new("60/60s".parse().unwrap(), clock.clone()),
            clock,
        )
    }

    fn key() -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    }

    #[test]
    fn headers_follow_the_ratelimit_draft_format() {
        let (limiter, clock) = limiter();
        let d = limiter.check_now(key());
        assert_eq!(policy(&d, "chat"), r#""chat";q=60;w=60"#);
        assert_eq!(ratelimit(&d, "chat"), r#""chat";r=59;t=60"#);
        clock.advance(Duration::from_millis(10_001));
        let d = limiter.check_now(key());
        assert_eq!(ratelimit(&d, "chat"), r#""chat";r=58;t=50"#);
        for _ in 0..58 {
            assert!(limiter.check_now(key()).allowed);
        }
        clock.advance(Duration::from_millis(49_998));
        let d = limiter.check_now(key());
        assert!(!d.allowed);
        assert_eq!(ratelimit(&d, "chat"), r#""chat";r=0;t=1"#);
        assert_eq!(d.retry_after_secs(), 1);
    }

    #[test]
    fn header_policy_names_are_escaped_as_structured_field_strings() {
        let (limiter, _clock) = limiter();
        let d = limiter.check_now(key());
        assert_eq!(policy(&d, r#"a"b\c"#), r#""a\"b\\c";q=60;w=60"#);
        assert_eq!(policy(&d, "é\n"), r#""??";q=60;w=60"#);
    }
}
