//! `ApiJson`: the JSON body of a public POST, as its wire type, or an
//! [`ApiError`] built from what went wrong *structurally*: where the syntax
//! broke (line and column), that the body is not an object, which of the
//! type's own field names is missing or mistyped. Nothing the client sent
//! is ever copied into the error: an unknown field is not named back unless
//! it is a plain identifier, and serde's own messages (which quote the
//! client's text) are never used.
//!
//! The body itself was read once, by the guard in front of every public
//! POST (`guard.rs`), under one size limit and one deadline; the extractor
//! takes it from there ([`ReadBody`]) and never reads the request again.
//!
//! [`Segment`]: the admin API's one path parameter, refused in the envelope.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::Value;
use support_chat_api::{ChatRequest, DeleteSessionRequest, FeedbackRequest, HandoffRequest, field};

use super::error::{ApiError, BodyProblem};

/// A public POST's JSON body as its wire type `T`.
pub struct ApiJson<T>(pub T);

/// A route's one path parameter, as `Path<String>` reads it, but with its
/// refusal in the one envelope: a segment that does not decode to UTF-8
/// names nothing there is, so it is `404 not_found`, not axum's plain text.
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(Segment(segment)),
            Err(_) => Err(ApiError::NotFound),
        }
    }
}

/// The body the guard read, handed to the handler's extractor.
#[derive(Clone, Debug)]
pub struct ReadBody(pub Bytes);

/// What a wire type accepts, in its serde names: every field, and those
/// that must be present. Tests hold each list to what serde does.
pub trait WireShape: DeserializeOwned {
    /// Every field name the type accepts.
    const FIELDS: &'static [&'static str];
    /// The fields that must be present (the rest may be absent or `null`).
    const REQUIRED: &'static [&'static str];
}

impl WireShape for ChatRequest {
    const FIELDS: &'static [&'static str] = &[field::MESSAGE, field::SESSION];
    const REQUIRED: &'static [&'static str] = &[field::MESSAGE];
}

impl WireShape for FeedbackRequest {
    const FIELDS: &'static [&'static str] = &[field::SESSION, field::REPLY_ID, field::HELPFUL];
    const REQUIRED: &'static [&'static str] = Self::FIELDS;
}

impl WireShape for DeleteSessionRequest {
    const FIELDS: &'static [&'static str] = &[field::SESSION];
    const REQUIRED: &'static [&'static str] = Self::FIELDS;
}

impl WireShape for HandoffRequest {
    const FIELDS: &'static [&'static str] =
        &[field::SESSION, field::EMAIL, field::NAME, field::NOTE];
    const REQUIRED: &'static [&'static str] = &[field::SESSION, field::EMAIL];
}

impl<T: WireShape, S: Send + Sync> FromRequestParts<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if !is_json(parts.headers.get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let Some(ReadBody(body)) = parts.extensions.get::<ReadBody>() else {
            // A route that takes a JSON body without the guard in front: a bug.
            tracing::error!("a JSON body was asked for on a route without the guard");
            return Err(ApiError::Internal);
        };
        parse::<T>(body).map(ApiJson)
    }
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Syntax errors are `invalid_json`; well-formed JSON of the wrong shape is
/// `invalid_request`, naming the field at fault where it is one of `T`'s.
pub fn parse<T: WireShape>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        use serde_json::error::Category;
        let problem = match error.classify() {
            Category::Eof => BodyProblem::Truncated,
            Category::Io | Category::Syntax | Category::Data => BodyProblem::Syntax {
                line: error.line(),
                column: error.column(),
            },
        };
        ApiError::InvalidJson { problem }
    })?;
    let shape_error = |problem, param| ApiError::InvalidRequest {
        problem,
        param,
        fields: T::FIELDS,
    };
    let Value::Object(object) = &value else {
        return Err(shape_error(BodyProblem::NotAnObject, None));
    };
    if let Some(unknown) = object.keys().find(|k| !T::FIELDS.contains(&k.as_str())) {
        let param = is_safe_identifier(unknown).then(|| unknown.clone());
        return Err(shape_error(BodyProblem::UnknownField, param));
    }
    if let Some(missing) = T::REQUIRED.iter().find(|f| !object.contains_key(**f)) {
        return Err(shape_error(
            BodyProblem::MissingField,
            Some((*missing).to_owned()),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        // Every key is one of T's own names by now: the path names no client text.
        let param = error
            .path()
            .iter()
            .next()
            .map(ToString::to_string)
            .filter(|name| is_safe_identifier(name));
        shape_error(BodyProblem::WrongType, param)
    })
}

/// A name the envelope may repeat: 1 to 64 of `[A-Za-z0-9_]`, not starting
/// with a digit. Anything else a client sent is not echoed back.
fn is_safe_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire type's lists are serde's: a full value writes exactly
    /// `FIELDS`; without a required field it does not parse, without the
    /// others it does.
    pub fn assert_shape_is_serdes<T: WireShape + serde::Serialize>(full: &T) {
        let Value::Object(written) = serde_json::to_value(full).unwrap() else {
            panic!("not an object");
        };
        let mut names: Vec<&str> = written.keys().map(String::as_str).collect();
        let mut fields = T::FIELDS.to_vec();
        names.sort_unstable();
        fields.sort_unstable();
        assert_eq!(names, fields);
        for field in T::FIELDS {
            let mut without = written.clone();
            without.remove(*field);
            let parsed = serde_json::from_value::<T>(Value::Object(without));
            assert_eq!(parsed.is_err(), T::REQUIRED.contains(field), "{field}");
        }
    }

    #[test]
    fn every_public_requests_shape_is_serdes() {
        assert_shape_is_serdes(&ChatRequest {
            message: "hi".into(),
            session: Some("s".into()),
        });
        assert_shape_is_serdes(&FeedbackRequest {
            session: "s".into(),
            reply_id: "r".into(),
            helpful: true,
        });
        assert_shape_is_serdes(&DeleteSessionRequest {
            session: "s".into(),
        });
        assert_shape_is_serdes(&HandoffRequest {
            session: "s".into(),
            email: "e".into(),
            name: Some("n".into()),
            note: Some("n".into()),
        });
    }

    fn err(body: &str) -> ApiError {
        parse::<ChatRequest>(body.as_bytes()).unwrap_err()
    }

    fn param(error: ApiError) -> Option<String> {
        match error {
            ApiError::InvalidRequest { param, .. } => param,
            other => panic!("{other:?}"),
        }
    }

    fn message(error: &ApiError) -> String {
        error.envelope().error.message
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
    fn syntax_errors_are_invalid_json_and_say_where() {
        for body in ["", "{", "{\"message\": }", "[1,", "{} trailing"] {
            assert_eq!(err(body).code(), "invalid_json", "{body:?}");
        }
        assert!(message(&err("{} x")).contains("line 1, column 4"));
        assert!(message(&err("{\"message\":")).contains("ends before"));
    }

    #[test]
    fn shape_errors_name_the_field() {
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
    fn a_json_array_is_not_a_chat_body_even_when_serde_would_take_it() {
        assert!(serde_json::from_str::<ChatRequest>(r#"["hello"]"#).is_ok());
        let error = err(r#"["hello"]"#);
        assert_eq!(error.code(), "invalid_request");
        assert!(message(&error).contains("JSON object"), "{error:?}");
    }

    #[test]
    fn a_null_session_is_accepted() {
        let request: ChatRequest = parse(br#"{"message": "hi", "session": null}"#).unwrap();
        assert_eq!(request.session, None);
    }

    #[test]
    fn nothing_the_client_sent_reaches_the_error_message() {
        for body in [
            r#"{"message": "hi", "<script>alert(1)</script>": 1}"#,
            r#"{"message": "hi", "a`<img src=x onerror=alert(1)>`": 1}"#,
            r#"{"message": "hi", "session": {"\" <img src=x onerror=alert(1)>": 1}}"#,
            r#"{"message": ["<img src=x onerror=alert(1)>"]}"#,
            r#""<script>alert(1)</script>""#,
            r#"{"message": "<img src=x onerror=alert(1)>"} <img>"#,
        ] {
            let error = err(body);
            let envelope = serde_json::to_string(&error.envelope()).unwrap();
            assert!(
                !envelope.contains("<img") && !envelope.contains("script"),
                "{body}: {envelope}"
            );
        }
        let unknown = err(r#"{"message": "hi", "<script>": 1}"#);
        assert!(
            message(&unknown).contains("`message`"),
            "the accepted names are ours"
        );
        assert_eq!(param(unknown), None);
        assert_eq!(
            param(err(r#"{"message": "hi", "extra_1": 1}"#)).as_deref(),
            Some("extra_1")
        );
        assert!(is_safe_identifier("session"));
        for bad in ["", "1a", "a-b", "a b", "é", &"a".repeat(65)] {
            assert!(!is_safe_identifier(bad), "{bad:?}");
        }
    }
}
