//! `ApiError`: the only place error responses are built. Every error under
//! `/public/v1` leaves as the one JSON envelope of [`support_chat_api::ErrorEnvelope`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request_id;
use support_chat_api::{ErrorBody, ErrorEnvelope};
use support_chat_assistant::MessageError;

use crate::domain::handoff::ContactError;

/// What is wrong with a JSON body, as far as the envelope tells: only
/// structure (a position, a field of the wire type), never the client's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProblem {
    /// Not well-formed JSON at this line and column.
    Syntax { line: usize, column: usize },
    /// The body ends before the JSON does.
    Truncated,
    /// Well-formed, but not a JSON object.
    NotAnObject,
    /// A field the endpoint does not accept.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field of the wrong type.
    WrongType,
    /// A field of the right type whose value is not accepted.
    InvalidValue,
}

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
    /// The body could not be read off the connection.
    UnreadableBody,
    InvalidJson {
        problem: BodyProblem,
    },
    InvalidRequest {
        problem: BodyProblem,
        /// The field at fault: one of the wire type's, or a plain identifier.
        param: Option<String>,
        /// The fields the endpoint accepts.
        fields: &'static [&'static str],
    },
    /// The message field was refused (empty, too long, control characters).
    Message(MessageError),
    InvalidSession,
    /// A reply id this server did not give in that session.
    UnknownReply,
    /// A handoff's contact field was refused.
    Contact(ContactError),
    /// A handoff of a session with nothing recorded.
    UnknownSession,
    /// This session or client asked for too many handoffs lately.
    HandoffLimited {
        retry_after: u64,
    },
    /// No way to the team is configured here.
    HandoffsOff,
    /// A query parameter out of its range (`param` names it).
    InvalidQuery {
        param: &'static str,
        expected: &'static str,
    },
    /// No or a wrong admin token.
    Unauthorized,
    /// The request cannot be done in the server's present state (our words).
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    /// A part the request needs (the records database) did not answer.
    Unavailable {
        retry_after: u64,
    },
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
    pub fn catalogue() -> [ApiError; 27] {
        [
            Self::NotFound,
            Self::MethodNotAllowed { allow: "POST" },
            Self::UnsupportedMediaType,
            Self::PayloadTooLarge { limit: 16 * 1024 },
            Self::InvalidJson {
                problem: BodyProblem::Truncated,
            },
            Self::InvalidRequest {
                problem: BodyProblem::NotAnObject,
                param: None,
                fields: &[],
            },
            Self::Message(MessageError::Empty),
            Self::Message(MessageError::TooLong {
                max: support_chat_api::DEFAULT_MAX_MESSAGE_CHARS,
            }),
            Self::Message(MessageError::ControlChars),
            Self::InvalidSession,
            Self::UnknownReply,
            Self::Contact(ContactError::Email),
            Self::Contact(ContactError::Name),
            Self::Contact(ContactError::Note),
            Self::UnknownSession,
            Self::HandoffLimited { retry_after: 1 },
            Self::HandoffsOff,
            Self::InvalidQuery {
                param: "days",
                expected: "",
            },
            Self::Unauthorized,
            Self::Conflict {
                code: "read_only",
                message: "",
            },
            Self::Conflict {
                code: "records_off",
                message: "",
            },
            Self::Conflict {
                code: "handoffs_off",
                message: "",
            },
            Self::RateLimited { retry_after: 1 },
            Self::Timeout,
            Self::Overloaded { retry_after: 1 },
            Self::Unavailable { retry_after: 1 },
            Self::Internal,
        ]
    }

    /// Whether the public API can answer with this kind (the others are
    /// the admin API's).
    pub fn public(&self) -> bool {
        !matches!(
            self,
            Self::InvalidQuery { .. } | Self::Unauthorized | Self::Conflict { .. }
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnreadableBody
            | Self::InvalidJson { .. }
            | Self::InvalidRequest { .. }
            | Self::Message(_)
            | Self::InvalidSession
            | Self::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownReply | Self::UnknownSession => StatusCode::NOT_FOUND,
            Self::Contact(_) => StatusCode::BAD_REQUEST,
            Self::HandoffLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::HandoffsOff => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::Overloaded { .. } | Self::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
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
            Self::UnreadableBody | Self::InvalidJson { .. } => "invalid_json",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Message(MessageError::Empty) => "message_empty",
            Self::Message(MessageError::TooLong { .. }) => "message_too_long",
            Self::Message(MessageError::ControlChars) => "message_invalid_characters",
            Self::InvalidSession => "invalid_session",
            Self::UnknownReply => "unknown_reply",
            Self::Contact(ContactError::Email) => "email_invalid",
            Self::Contact(ContactError::Name) => "name_invalid",
            Self::Contact(ContactError::Note) => "note_invalid",
            Self::UnknownSession => "unknown_session",
            Self::HandoffLimited { .. } => "handoff_limit",
            Self::HandoffsOff => "handoff_unavailable",
            Self::InvalidQuery { .. } => "invalid_query",
            Self::Unauthorized => "unauthorized",
            Self::Conflict { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            Self::Timeout => "timeout",
            Self::Overloaded { .. } => "overloaded",
            Self::Unavailable { .. } => "unavailable",
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
            Self::UnreadableBody => "The request body could not be read.".into(),
            Self::InvalidJson {
                problem: BodyProblem::Syntax { line, column },
            } => {
                format!("The request body is not valid JSON (line {line}, column {column}).")
            }
            Self::InvalidJson { .. } => {
                "The request body is not valid JSON: it ends before the JSON does.".into()
            }
            Self::InvalidRequest {
                problem,
                param,
                fields,
            } => shape_message(*problem, param.as_deref(), fields),
            Self::Message(why) => why.to_string(),
            Self::InvalidSession => "The session id is not one this server issued.".into(),
            Self::UnknownReply => {
                "The reply id is not one this server gave in that conversation.".into()
            }
            Self::Contact(why) => why.to_string(),
            Self::UnknownSession => {
                "Nothing is recorded under this session: send a message first.".into()
            }
            Self::HandoffLimited { retry_after } => format!(
                "This conversation has asked for a person several times already; you can ask again in {}.",
                seconds(*retry_after)
            ),
            Self::HandoffsOff => {
                "We cannot take contact requests here; please use the contact details in the chat."
                    .into()
            }
            Self::InvalidQuery { param, expected } => {
                format!("The query parameter `{param}` must be {expected}.")
            }
            Self::Unauthorized => "Send the admin token as `Authorization: Bearer <token>`.".into(),
            Self::Conflict { message, .. } => (*message).into(),
            Self::Unavailable { retry_after } => format!(
                "This cannot be done right now. Please try again in {}.",
                seconds(*retry_after)
            ),
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
            Self::UnknownReply => Some("reply_id".into()),
            Self::Contact(why) => Some(why.field().into()),
            Self::UnknownSession => Some("session".into()),
            Self::InvalidQuery { param, .. } => Some((*param).into()),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after }
            | Self::Overloaded { retry_after }
            | Self::Unavailable { retry_after }
            | Self::HandoffLimited { retry_after } => Some(*retry_after),
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

/// The sentence for a body of the wrong shape, from our own words and the
/// wire type's own field names only.
fn shape_message(problem: BodyProblem, param: Option<&str>, fields: &[&str]) -> String {
    let accepted = fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match (problem, param) {
        (BodyProblem::NotAnObject, _) => "The request body must be a JSON object.".into(),
        (BodyProblem::UnknownField, Some(name)) => {
            format!("The field `{name}` is not accepted here; the fields are {accepted}.")
        }
        (BodyProblem::UnknownField, None) => {
            format!("The request has a field that is not accepted here; the fields are {accepted}.")
        }
        (BodyProblem::MissingField, Some(name)) => format!("The field `{name}` is required."),
        (BodyProblem::WrongType, Some(name)) => {
            format!("The field `{name}` is not of the expected type.")
        }
        (BodyProblem::InvalidValue, Some(name)) => {
            format!("The field `{name}` has a value that is not accepted.")
        }
        _ => "The request is not of the expected shape.".into(),
    }
}

fn seconds(n: u64) -> String {
    match n {
        1 => "1 second".into(),
        0..120 => format!("{n} seconds"),
        _ => format!("{} minutes", n.div_ceil(60)),
    }
}

impl From<MessageError> for ApiError {
    fn from(why: MessageError) -> Self {
        Self::Message(why)
    }
}

impl From<ContactError> for ApiError {
    fn from(why: ContactError) -> Self {
        Self::Contact(why)
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
        if let Self::Unauthorized = self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
