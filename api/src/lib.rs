//! The public wire types of the support chat (`POST …/chat`, `POST
//! …/feedback`, `DELETE …/session`, `POST …/handoff`, `GET …/status`),
//! shared verbatim by the server and the wasm widget. Data only: no logic,
//! no server types.

use serde::{Deserialize, Serialize};

/// Path of the chat endpoint, relative to the API base.
pub const CHAT_PATH: &str = "/public/v1/support/chat";

/// Path of the feedback endpoint (a vote on one reply).
pub const FEEDBACK_PATH: &str = "/public/v1/support/feedback";

/// Path of the session endpoint (`DELETE`: erase a conversation).
pub const SESSION_PATH: &str = "/public/v1/support/session";

/// Path of the handoff endpoint (a visitor asks a person to get in touch).
pub const HANDOFF_PATH: &str = "/public/v1/support/handoff";

/// Path of the status endpoint (`GET`: whether handoffs are taken, and
/// whether someone is there now).
pub const STATUS_PATH: &str = "/public/v1/support/status";

/// Longest e-mail address a handoff takes, in bytes (RFC 5321).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest name a handoff takes, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest note a handoff takes, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Default longest accepted message, in characters (after trimming).
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 1000;

/// What the server accepts as a message, as an ECMA-262 pattern for the
/// OpenAPI document: no control characters but tab and newline, and at least
/// one character that is not white space.
pub const MESSAGE_PATTERN: &str = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x08\x0b-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";

/// What the server accepts as a handoff's name, as an ECMA-262 pattern:
/// no control characters (one line).
pub const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// What the server accepts as a handoff's note: no control characters but
/// tab and newline.
pub const NOTE_PATTERN: &str = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";

/// The form of a session id the server issues: 32 lowercase hex digits.
pub const SESSION_PATTERN: &str = "^[0-9a-f]{32}$";

/// The form of a reply id the server issues: 32 lowercase hex digits.
pub const REPLY_ID_PATTERN: &str = "^[0-9a-f]{32}$";

/// The JSON field names of the types below, for clients that read and write
/// JSON without serde (the widget does, for size). A test proves they are the
/// names serde uses, so a renamed field cannot compile into a broken widget.
pub mod field {
    /// [`ChatRequest::message`](super::ChatRequest::message).
    pub const MESSAGE: &str = "message";
    /// [`ChatRequest::session`](super::ChatRequest::session) and
    /// [`ChatResponse::session`](super::ChatResponse::session).
    pub const SESSION: &str = "session";
    /// [`ChatResponse::reply`](super::ChatResponse::reply).
    pub const REPLY: &str = "reply";
    /// [`ChatResponse::suggestions`](super::ChatResponse::suggestions).
    pub const SUGGESTIONS: &str = "suggestions";
    /// [`ChatResponse::handoff`](super::ChatResponse::handoff).
    pub const HANDOFF: &str = "handoff";
    /// [`ChatResponse::complaint`](super::ChatResponse::complaint).
    pub const COMPLAINT: &str = "complaint";
    /// [`ChatResponse::reply_id`](super::ChatResponse::reply_id) and
    /// [`FeedbackRequest::reply_id`](super::FeedbackRequest::reply_id).
    pub const REPLY_ID: &str = "reply_id";
    /// [`FeedbackRequest::helpful`](super::FeedbackRequest::helpful).
    pub const HELPFUL: &str = "helpful";
    /// [`HandoffRequest::email`](super::HandoffRequest::email).
    pub const EMAIL: &str = "email";
    /// [`HandoffRequest::name`](super::HandoffRequest::name).
    pub const NAME: &str = "name";
    /// [`HandoffRequest::note`](super::HandoffRequest::note).
    pub const NOTE: &str = "note";
    /// [`HandoffResponse::reference`](super::HandoffResponse::reference).
    pub const REFERENCE: &str = "reference";
    /// [`HandoffResponse::message`](super::HandoffResponse::message) and
    /// [`Status::message`](super::Status::message).
    pub const NEXT: &str = "message";
    /// [`Status::handoff`](super::Status::handoff).
    pub const TAKES_HANDOFFS: &str = "handoff";
    /// [`Status::open`](super::Status::open).
    pub const OPEN: &str = "open";
    /// [`ErrorEnvelope::error`](super::ErrorEnvelope::error).
    pub const ERROR: &str = "error";
    /// [`ErrorBody::code`](super::ErrorBody::code).
    pub const CODE: &str = "code";
    /// [`ErrorBody::message`](super::ErrorBody::message).
    pub const ERROR_MESSAGE: &str = "message";
    /// [`ErrorBody::status`](super::ErrorBody::status).
    pub const STATUS: &str = "status";
    /// [`ErrorBody::request_id`](super::ErrorBody::request_id).
    pub const REQUEST_ID: &str = "request_id";
    /// [`ErrorBody::param`](super::ErrorBody::param).
    pub const PARAM: &str = "param";
    /// [`ErrorBody::retry_after`](super::ErrorBody::retry_after).
    pub const RETRY_AFTER: &str = "retry_after";
}

/// What a visitor sends. Unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The visitor's message: 1 to 1,000 characters once trimmed.
    pub message: String,
    /// The `session` of the previous response; absent or `null` starts a conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// The assistant's answer. The shape is fixed by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Opaque session id to echo on the next message.
    pub session: String,
    /// Plain text; URLs may appear and are meant to be shown as links.
    pub reply: String,
    /// Quick replies the visitor may send next.
    pub suggestions: Vec<String>,
    /// True when the assistant hands the visitor to a person.
    pub handoff: bool,
    /// This reply's id, to vote on it (`FEEDBACK_PATH`).
    pub reply_id: String,
    /// When the message was taken as a complaint: its reference (e.g.
    /// `CO-7KQ2-M9XD`), also given in `reply`'s words; otherwise `null`.
    pub complaint: Option<String>,
}

/// A visitor's vote on one reply. Unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The conversation the reply was in.
    pub session: String,
    /// The `reply_id` of the reply voted on.
    pub reply_id: String,
    /// Whether it helped; a later vote on the same reply replaces this one.
    pub helpful: bool,
}

/// Erase a conversation: everything kept of it. Unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteSessionRequest {
    /// The conversation to erase.
    pub session: String,
}

/// A visitor asks a person to get in touch about a conversation. Unknown
/// fields are rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// The conversation to hand over (it must have at least one message).
    pub session: String,
    /// Where the team writes back: an address of at most 254 bytes.
    pub email: String,
    /// How to address the visitor: at most 100 characters, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Anything the visitor adds: at most 1,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A handoff taken (`202`): stored, and on its way to the team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffResponse {
    /// The handoff's reference, e.g. `HO-7KQ2-M9XD`, for the visitor to quote.
    pub reference: String,
    /// What happens next and when, for people.
    pub message: String,
}

/// Whether handoffs are taken and someone is there (`GET STATUS_PATH`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Whether `HANDOFF_PATH` takes requests (records and a delivery channel configured).
    pub handoff: bool,
    /// Whether someone is there now; `null` when no business hours are set.
    pub open: Option<bool>,
    /// When someone will reply, for people; `null` when no business hours are set.
    pub message: Option<String>,
}

/// The one error envelope of every route under `/public/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `message_empty`.
    pub code: String,
    /// A sentence meant for people.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// The `X-Request-Id` of the response.
    pub request_id: String,
    /// The request field at fault, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// On `429`, and on `503` when the server is overloaded or its records
    /// are unavailable: seconds until the client may send again (as
    /// `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: impl Serialize) -> Vec<String> {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<String> = map.keys().cloned().collect();
                keys.sort();
                keys
            }
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_field_constants_are_the_names_serde_writes() {
        let request = ChatRequest {
            message: "hi".into(),
            session: Some("s".into()),
        };
        assert_eq!(keys(&request), [field::MESSAGE, field::SESSION]);
        let response = ChatResponse {
            session: "s".into(),
            reply: "r".into(),
            suggestions: vec![],
            handoff: false,
            reply_id: "r".into(),
            complaint: None,
        };
        let mut expected = [
            field::SESSION,
            field::REPLY,
            field::SUGGESTIONS,
            field::HANDOFF,
            field::REPLY_ID,
            field::COMPLAINT,
        ];
        expected.sort();
        assert_eq!(keys(&response), expected);
        let envelope = ErrorEnvelope {
            error: ErrorBody {
                code: "c".into(),
                message: "m".into(),
                status: 429,
                request_id: "r".into(),
                param: Some("p".into()),
                retry_after: Some(1),
            },
        };
        assert_eq!(keys(&envelope), [field::ERROR]);
        let mut expected = [
            field::CODE,
            field::ERROR_MESSAGE,
            field::STATUS,
            field::REQUEST_ID,
            field::PARAM,
            field::RETRY_AFTER,
        ];
        expected.sort();
        assert_eq!(keys(&envelope.error), expected);
    }

    #[test]
    fn the_feedback_and_session_requests_use_the_constants() {
        let feedback = FeedbackRequest {
            session: "s".into(),
            reply_id: "r".into(),
            helpful: true,
        };
        let mut expected = [field::SESSION, field::REPLY_ID, field::HELPFUL];
        expected.sort();
        assert_eq!(keys(&feedback), expected);
        let delete = DeleteSessionRequest {
            session: "s".into(),
        };
        assert_eq!(keys(&delete), [field::SESSION]);
    }

    #[test]
    fn the_handoff_and_status_types_use_the_constants() {
        let request = HandoffRequest {
            session: "s".into(),
            email: "e".into(),
            name: Some("n".into()),
            note: Some("n".into()),
        };
        let mut expected = [field::SESSION, field::EMAIL, field::NAME, field::NOTE];
        expected.sort();
        assert_eq!(keys(&request), expected);
        let response = HandoffResponse {
            reference: "r".into(),
            message: "m".into(),
        };
        let mut expected = [field::REFERENCE, field::NEXT];
        expected.sort();
        assert_eq!(keys(&response), expected);
        let status = Status {
            handoff: true,
            open: Some(false),
            message: None,
        };
        let mut expected = [field::TAKES_HANDOFFS, field::OPEN, field::NEXT];
        expected.sort();
        assert_eq!(keys(&status), expected);
    }

    #[test]
    fn a_request_the_widget_writes_with_the_constants_parses() {
        let json = format!(
            r#"{{"{}":"hello","{}":"abc"}}"#,
            field::MESSAGE,
            field::SESSION
        );
        let request: ChatRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(request.message, "hello");
        assert_eq!(request.session.as_deref(), Some("abc"));
    }
}
