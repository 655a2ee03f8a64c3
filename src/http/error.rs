//! `ApiError`: the only place error responses are built. Every error under
//! `/public/v1` leaves as the one JSON envelope of [`crate::api::ErrorEnvelope`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request_id;
use crate::api::{ErrorBody, ErrorEnvelope};
use crate::domain::message::MessageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
    UnsupportedMediaType,
    PayloadTooLarge {
        limit: usize,
    },
    InvalidJson {
        detail: String,
    },
    InvalidRequest {
        param: Option<String>,
        detail: String,
    },
    /// The message field was refused (empty, too long, control characters).
    Message(MessageError),
    InvalidSession,
    RateLimited {
        retry_after: u64,
    },
    Timeout,
    Overloaded {
        retry_after: u64,
    },
    /// A bug: a handler panicked. No input should ever get here.
    Internal,
}

impl ApiError {
    /// One of each kind, for the OpenAPI document's catalogue of codes.
    pub fn catalogue() -> [ApiError; 14] {
        [
            Self::NotFound,
            Self::MethodNotAllowed { allow: "POST" },
            Self::UnsupportedMediaType,
            Self::PayloadTooLarge { limit: 16 * 1024 },
            Self::InvalidJson {
                detail: String::new(),
            },
            Self::InvalidRequest {
                param: None,
                detail: String::new(),
            },
            Self::Message(MessageError::Empty),
            Self::Message(MessageError::TooLong {
                max: crate::api::DEFAULT_MAX_MESSAGE_CHARS,
            }),
            Self::Message(MessageError::ControlChars),
            Self::InvalidSession,
            Self::RateLimited { retry_after: 1 },
            Self::Timeout,
            Self::Overloaded { retry_after: 1 },
            Self::Internal,
        ]
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidJson { .. }
            | Self::InvalidRequest { .. }
            | Self::Message(_)
            | Self::InvalidSession => StatusCode::BAD_REQUEST,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::InvalidJson { .. } => "invalid_json",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Message(MessageError::Empty) => "message_empty",
            Self::Message(MessageError::TooLong { .. }) => "message_too_long",
            Self::Message(MessageError::ControlChars) => "message_invalid_characters",
            Self::InvalidSession => "invalid_session",
            Self::RateLimited { .. } => "rate_limited",
            Self::Timeout => "timeout",
            Self::Overloaded { .. } => "overloaded",
            Self::Internal => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::NotFound => "There is nothing at this address.".into(),
            Self::MethodNotAllowed { allow } => format!("This address only accepts {allow}."),
            Self::UnsupportedMediaType => {
                "Send the request body as JSON with `Content-Type: application/json`.".into()
            }
            Self::PayloadTooLarge { limit } => {
                format!("The request body is larger than {limit} bytes.")
            }
            Self::InvalidJson { detail } => {
                format!("The request body is not valid JSON: {detail}.")
            }
            Self::InvalidRequest { detail, .. } => {
                format!("The request is not of the expected shape: {detail}.")
            }
            Self::Message(why) => why.to_string(),
            Self::InvalidSession => "The session id is not one this server issued.".into(),
            Self::RateLimited { retry_after } => {
                format!(
                    "Too many requests. Please wait {} and try again.",
                    seconds(*retry_after)
                )
            }
            Self::Timeout => "The request took too long and was stopped. Please try again.".into(),
            Self::Overloaded { retry_after } => {
                format!(
                    "The assistant is busy. Please try again in {}.",
                    seconds(*retry_after)
                )
            }
            Self::Internal => "Something went wrong on our side. Please try again.".into(),
        }
    }

    fn param(&self) -> Option<String> {
        match self {
            Self::InvalidRequest { param, .. } => param.clone(),
            Self::Message(_) => Some("message".into()),
            Self::InvalidSession => Some("session".into()),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } | Self::Overloaded { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code().into(),
                message: self.message(),
                status: self.status().as_u16(),
                request_id: request_id::current().unwrap_or_default(),
                param: self.param(),
                retry_after: self.retry_after(),
            },
        }
    }
}

fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".into()
    } else {
        format!("{n} seconds")
    }
}

impl From<MessageError> for ApiError {
    fn from(why: MessageError) -> Self {
        Self::Message(why)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.envelope())).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Self::MethodNotAllowed { allow } = self {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}
