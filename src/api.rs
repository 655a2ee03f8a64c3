//! The public wire types of `POST /public/v1/support/chat`, shared verbatim by
//! the server and the wasm widget. Data only: no logic, no server types.

use serde::{Deserialize, Serialize};

/// Path of the chat endpoint, relative to the API base.
pub const CHAT_PATH: &str = "/public/v1/support/chat";

/// Default longest accepted message, in characters (after trimming).
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 1000;

/// What a visitor sends. Unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ChatResponse {
    /// Opaque session id to echo on the next message.
    pub session: String,
    /// Plain text; URLs may appear and are meant to be shown as links.
    pub reply: String,
    /// Quick replies the visitor may send next.
    pub suggestions: Vec<String>,
    /// True when the assistant hands the visitor to a person.
    pub handoff: bool,
}

/// The one error envelope of every route under `/public/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
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
    /// On `429`: seconds until the client may send again (as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}
