//! CORS: which pages may call the public API and load the widget.

use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ratelimit_headers::{RATELIMIT, RATELIMIT_POLICY};
use super::request_id;

/// `*` (any page), or a list of origins (`scheme://host[:port]`), parsed
/// from a comma-separated flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<HeaderValue>),
}

impl FromStr for AllowedOrigins {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let entries: Vec<&str> = input
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.contains(&"*") {
            return Ok(Self::Any);
        }
        entries
            .into_iter()
            .map(origin)
            .collect::<Result<_, _>>()
            .map(Self::List)
    }
}

/// An origin: an `http(s)` URL with a host and nothing after it.
fn origin(input: &str) -> Result<HeaderValue, String> {
    let error = || {
        format!(
            "invalid origin {input:?}: expected \"*\" or scheme://host[:port], e.g. \"https://www.example.com\""
        )
    };
    let url = url::Url::parse(input).map_err(|_| error())?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !bare {
        return Err(error());
    }
    // The serialised origin, as browsers send it (no trailing slash).
    HeaderValue::from_str(&url.origin().ascii_serialization()).map_err(|_| error())
}

/// Response headers cross-origin scripts (the widget) may read.
const EXPOSED_HEADERS: [HeaderName; 4] = [
    header::RETRY_AFTER,
    RATELIMIT,
    RATELIMIT_POLICY,
    request_id::HEADER,
];

/// How long browsers may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Public ring: any origin by default, no credentials; or only the listed ones.
pub fn cors(allowed: &AllowedOrigins) -> CorsLayer {
    let origins = match allowed {
        AllowedOrigins::Any => AllowOrigin::any(),
        AllowedOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, request_id::HEADER])
        .expose_headers(EXPOSED_HEADERS)
        .max_age(PREFLIGHT_MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_star_or_bare_http_origins() {
        assert_eq!("*".parse::<AllowedOrigins>(), Ok(AllowedOrigins::Any));
        assert_eq!(" a , *".parse::<AllowedOrigins>(), Ok(AllowedOrigins::Any));
        let AllowedOrigins::List(list) = "https://www.example.com, http://localhost:8080"
            .parse::<AllowedOrigins>()
            .unwrap()
        else {
            panic!("a list");
        };
        assert_eq!(list, ["https://www.example.com", "http://localhost:8080"]);
        for bad in [
            "www.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://example.com?q",
            "https://user@example.com",
        ] {
            let err = bad.parse::<AllowedOrigins>().unwrap_err();
            assert!(err.contains("invalid origin"), "{bad}: {err}");
        }
    }
}
