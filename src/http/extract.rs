//! `ApiJson`: axum's `Json`, but every way a body can be wrong is an
//! [`ApiError`] (so it leaves in the one envelope), and a wrong field is named.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = read_body(request, state).await?;
        parse(&body).map(ApiJson)
    }
}

/// The whole body, within the `DefaultBodyLimit` in force (a 413 says it).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(usize::MAX, |l| l.0);
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::InvalidJson {
                    detail: "the body could not be read".into(),
                }
            }
        })
}

/// The body limit in force, so a 413 can say it. Set beside `DefaultBodyLimit`.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Syntax errors are `invalid_json`; well-formed JSON of the wrong shape is
/// `invalid_request` with `param` naming the field where one can be named.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let error = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => {
            return match deserializer.end() {
                Ok(()) => Ok(value),
                Err(e) => Err(ApiError::InvalidJson {
                    detail: without_position(&e.to_string()),
                }),
            };
        }
        Err(error) => error,
    };
    let path = error.path().to_string();
    let inner = error.into_inner();
    let detail = safe_names(&without_position(&inner.to_string()));
    // A shape error found before a syntax error further on is still invalid JSON.
    let well_formed = || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
    match inner.classify() {
        serde_json::error::Category::Data if well_formed() => {
            let param = if path == "." {
                backticked(&detail)
            } else {
                Some(path).filter(|p| is_safe_identifier(p))
            };
            Err(ApiError::InvalidRequest { param, detail })
        }
        serde_json::error::Category::Data => Err(ApiError::InvalidJson {
            detail: "the body is not well-formed JSON".into(),
        }),
        _ => Err(ApiError::InvalidJson { detail }),
    }
}

/// serde_json appends " at line 1 column 9"; the envelope keeps the sentence only.
fn without_position(detail: &str) -> String {
    detail
        .split(" at line ")
        .next()
        .unwrap_or(detail)
        .to_owned()
}

/// The field named in "missing field `message`" or "unknown field `x`, expected ...".
fn backticked(detail: &str) -> Option<String> {
    let (_, rest) = detail.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    (detail.starts_with("missing field") || detail.starts_with("unknown field"))
        .then(|| name.to_owned())
}

/// A name the envelope may repeat: 1 to 64 of `[A-Za-z0-9_]`, not starting
/// with a digit. Anything else a client sent is not echoed back.
fn is_safe_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `detail` with every backticked name that is not a safe identifier, and
/// every double-quoted value (serde quotes the string it found), replaced:
/// nothing a client sent is echoed back but plain field names.
fn safe_names(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut rest = detail;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        let Some(len) = rest[start + 1..].find(quote) else {
            break;
        };
        let inner = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        out.push(quote);
        if quote == '`' && is_safe_identifier(inner) {
            out.push_str(inner);
        } else {
            out.push('…');
        }
        out.push(quote);
        rest = &rest[start + 2 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChatRequest;

    fn err(body: &str) -> ApiError {
        parse::<ChatRequest>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn content_type_must_be_json_and_may_carry_parameters() {
        let v = |s: &'static str| header::HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("Application/JSON; charset=utf-8"))));
        assert!(!is_json(Some(&v("text/plain"))));
        assert!(!is_json(Some(&v("application/jsonp"))));
        assert!(!is_json(None));
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        for body in ["", "{", "{\"message\": }", "[1,", "{} trailing"] {
            assert_eq!(err(body).code(), "invalid_json", "{body:?}");
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        let param = |e: ApiError| match e {
            ApiError::InvalidRequest { param, .. } => param,
            other => panic!("{other:?}"),
        };
        assert_eq!(param(err("{}")).as_deref(), Some("message"));
        assert_eq!(param(err(r#"{"message": 1}"#)).as_deref(), Some("message"));
        assert_eq!(
            param(err(r#"{"message": "hi", "session": 5}"#)).as_deref(),
            Some("session")
        );
        assert_eq!(
            param(err(r#"{"message": "hi", "admin": true}"#)).as_deref(),
            Some("admin")
        );
        assert_eq!(err("[]").code(), "invalid_request");
        assert_eq!(err("\"hi\"").code(), "invalid_request");
    }

    #[test]
    fn a_null_session_is_accepted() {
        let request: ChatRequest = parse(br#"{"message": "hi", "session": null}"#).unwrap();
        assert_eq!(request.session, None);
    }

    #[test]
    fn field_names_that_are_not_plain_identifiers_are_not_echoed() {
        let ApiError::InvalidRequest { param, detail } =
            err(r#"{"message": "hi", "<script>alert(1)</script>": 1}"#)
        else {
            panic!("not invalid_request");
        };
        assert_eq!(param, None);
        assert!(!detail.contains("script"), "{detail}");
        assert!(detail.contains("`message`"), "{detail}");
        let ApiError::InvalidRequest { detail, .. } = err(r#""<script>alert(1)</script>""#) else {
            panic!("not invalid_request");
        };
        assert!(!detail.contains("script"), "{detail}");
        let ApiError::InvalidRequest { param, .. } = err(r#"{"message": "hi", "extra_1": 1}"#)
        else {
            panic!("not invalid_request");
        };
        assert_eq!(param.as_deref(), Some("extra_1"));
        assert!(is_safe_identifier("session"));
        for bad in ["", "1a", "a-b", "a b", "é", &"a".repeat(65)] {
            assert!(!is_safe_identifier(bad), "{bad:?}");
        }
    }
}
