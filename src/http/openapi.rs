//! `GET /public/v1/openapi.json`: the OpenAPI 3.1 description of the public
//! API. The wire types' schemas are written here from their field names
//! (`support_chat_api::field`), and tests hold them to what serde reads and
//! writes and the document's paths to the router's routes (every public
//! route is described, nothing else is). Statuses, headers and error codes
//! are listed beside the code that produces them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use support_chat_api::{
    CHAT_PATH, ChatRequest, DeleteSessionRequest, FEEDBACK_PATH, FeedbackRequest, HANDOFF_PATH,
    HandoffRequest, MAX_EMAIL_BYTES, MAX_NAME_CHARS, MAX_NOTE_CHARS, MESSAGE_PATTERN, NAME_PATTERN,
    NOTE_PATTERN, REPLY_ID_PATTERN, SESSION_PATH, SESSION_PATTERN, STATUS_PATH, field,
};

use super::assets::{WIDGET_FILES, WIDGET_PREFIX};
use super::error::ApiError;
use super::extract::WireShape;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/public/v1/openapi.json";

/// The document as served, serialised once when the router is built.
#[derive(Clone)]
pub struct OpenApi(Bytes);

impl OpenApi {
    /// The document for a server that accepts messages of up to `max_message_chars`.
    pub fn new(max_message_chars: usize) -> Self {
        Self(
            serde_json::to_vec(&document_for(max_message_chars))
                .expect("a JSON value serialises")
                .into(),
        )
    }
}

pub async fn document(State(OpenApi(body)): State<OpenApi>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

/// An object schema of `properties`, of which `required` must be present,
/// and no other property when `closed`.
fn object(properties: Vec<(&str, Value)>, required: &[&str], closed: bool) -> Value {
    let mut schema = json!({
        "type": "object",
        "required": required,
        "properties": properties.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>(),
    });
    if closed {
        schema["additionalProperties"] = json!(false);
    }
    schema
}

/// The wire types' schemas, for a server taking messages of `max_message_chars`.
fn schemas(max_message_chars: usize) -> Value {
    let codes: Vec<&str> = ApiError::catalogue().iter().map(ApiError::code).collect();
    json!({
        "ChatRequest": object(vec![
            (field::MESSAGE, json!({
                "description": format!("The visitor's message: 1 to {max_message_chars} characters once trimmed, no control characters but tab and newline."),
                "type": "string", "minLength": 1, "maxLength": max_message_chars, "pattern": MESSAGE_PATTERN,
            })),
            (field::SESSION, json!({
                "description": "The `session` of the previous response; absent or `null` starts a conversation.",
                "type": ["string", "null"], "pattern": SESSION_PATTERN,
            })),
        ], ChatRequest::REQUIRED, true),
        "ChatResponse": object(vec![
            (field::SESSION, json!({ "description": "Opaque session id to echo on the next message.", "type": "string", "pattern": SESSION_PATTERN })),
            (field::REPLY, json!({ "description": "Plain text; URLs may appear and are meant to be shown as links.", "type": "string" })),
            (field::SUGGESTIONS, json!({ "description": "Quick replies the visitor may send next.", "type": "array", "items": { "type": "string" } })),
            (field::HANDOFF, json!({ "description": "True when the reply offers a person (a handoff, a complaint, or a visitor who may need more help).", "type": "boolean" })),
            (field::REPLY_ID, json!({ "description": format!("This reply's id, to vote on it (`POST {FEEDBACK_PATH}`)."), "type": "string", "pattern": REPLY_ID_PATTERN })),
            (field::COMPLAINT, json!({ "description": "When the message was taken as a complaint (any expression of dissatisfaction): the complaint's reference, also given in `reply`'s words; the reply then offers a person (`handoff` is true). Otherwise `null`.", "type": ["string", "null"], "pattern": "^CO-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$" })),
        ], &[field::SESSION, field::REPLY, field::SUGGESTIONS, field::HANDOFF, field::REPLY_ID, field::COMPLAINT], false),
        "FeedbackRequest": object(vec![
            (field::SESSION, json!({ "description": "The conversation the reply was in.", "type": "string", "pattern": SESSION_PATTERN })),
            (field::REPLY_ID, json!({ "description": "The `reply_id` of the reply voted on.", "type": "string", "pattern": REPLY_ID_PATTERN })),
            (field::HELPFUL, json!({ "description": "Whether it helped; a later vote on the same reply replaces this one.", "type": "boolean" })),
        ], FeedbackRequest::REQUIRED, true),
        "DeleteSessionRequest": object(vec![
            (field::SESSION, json!({ "description": "The conversation to erase: everything kept of it.", "type": "string", "pattern": SESSION_PATTERN })),
        ], DeleteSessionRequest::REQUIRED, true),
        "HandoffRequest": object(vec![
            (field::SESSION, json!({ "description": "The conversation to hand over; it must have at least one message.", "type": "string", "pattern": SESSION_PATTERN })),
            (field::EMAIL, json!({ "description": format!("Where the team writes back: an e-mail address of at most {MAX_EMAIL_BYTES} bytes."), "type": "string", "format": "email", "maxLength": MAX_EMAIL_BYTES })),
            (field::NAME, json!({ "description": format!("How to address the visitor: at most {MAX_NAME_CHARS} characters, one line."), "type": ["string", "null"], "maxLength": MAX_NAME_CHARS, "pattern": NAME_PATTERN })),
            (field::NOTE, json!({ "description": format!("Anything the visitor adds: at most {MAX_NOTE_CHARS} characters, no control characters but tab and newline."), "type": ["string", "null"], "maxLength": MAX_NOTE_CHARS, "pattern": NOTE_PATTERN })),
        ], HandoffRequest::REQUIRED, true),
        "HandoffResponse": object(vec![
            (field::REFERENCE, json!({ "description": "The handoff's reference, e.g. `HO-7KQ2-M9XD`, for the visitor to quote.", "type": "string", "pattern": "^HO-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$" })),
            (field::NEXT, json!({ "description": "What happens next and when, for people.", "type": "string" })),
        ], &[field::REFERENCE, field::NEXT], false),
        "Status": object(vec![
            (field::TAKES_HANDOFFS, json!({ "description": format!("Whether `POST {HANDOFF_PATH}` takes requests."), "type": "boolean" })),
            (field::OPEN, json!({ "description": "Whether someone is there now; `null` when no business hours are set.", "type": ["boolean", "null"] })),
            (field::NEXT, json!({ "description": "When someone will reply, for people; `null` when no business hours are set.", "type": ["string", "null"] })),
        ], &[field::TAKES_HANDOFFS, field::OPEN, field::NEXT], false),
        "ErrorEnvelope": object(vec![
            (field::ERROR, json!({ "$ref": "#/components/schemas/ErrorBody" })),
        ], &[field::ERROR], false),
        "ErrorBody": object(vec![
            (field::CODE, json!({ "description": "Stable, machine-readable code, e.g. `message_empty`.", "type": "string", "enum": codes })),
            (field::ERROR_MESSAGE, json!({ "description": "A sentence meant for people.", "type": "string" })),
            (field::STATUS, json!({ "description": "The HTTP status, repeated.", "type": "integer", "minimum": 400, "maximum": 599 })),
            (field::REQUEST_ID, json!({ "description": "The `X-Request-Id` of the response.", "type": "string" })),
            (field::PARAM, json!({ "description": "The request field at fault, where there is one.", "type": "string" })),
            (field::RETRY_AFTER, json!({ "description": "On `429`, and on `503` when the server is overloaded or its records are unavailable (not on `timeout` or `handoff_unavailable`): seconds until the client may send again (as `Retry-After`).", "type": "integer", "minimum": 1 })),
        ], &[field::CODE, field::ERROR_MESSAGE, field::STATUS, field::REQUEST_ID], false),
    })
}

/// A public POST's responses: `success` and the guard's and the body's errors,
/// plus `extra` statuses.
fn public_post_responses(success: Value, extra: &[u16]) -> Value {
    let mut responses = success;
    for status in [400, 405, 413, 415, 500].iter().chain(extra) {
        responses[status.to_string()] =
            error_response(*status, if *status == 405 { &["Allow"] } else { &[] });
    }
    for status in [429, 503] {
        responses[status.to_string()] = error_response(status, &["Retry-After"]);
    }
    responses
}

fn header_object(description: &str, schema: Value) -> Value {
    json!({ "description": description, "schema": schema })
}

fn error_response(status: u16, extra_headers: &[&str]) -> Value {
    let codes: Vec<&str> = ApiError::catalogue()
        .iter()
        .filter(|e| e.public() && e.status().as_u16() == status)
        .map(ApiError::code)
        .collect();
    let mut headers = BTreeMap::new();
    for name in ["RateLimit", "RateLimit-Policy", "X-Request-Id"]
        .iter()
        .chain(extra_headers)
    {
        headers.insert(
            *name,
            json!({ "$ref": format!("#/components/headers/{name}") }),
        );
    }
    json!({
        "description": format!("Error envelope; `error.code` is one of: {}.", codes.join(", ")),
        "headers": headers,
        "content": { "application/json": { "schema": {
            "allOf": [{ "$ref": "#/components/schemas/ErrorEnvelope" }],
            "properties": { "error": { "properties": { "code": { "enum": codes }, "status": { "const": status } } } },
        } } },
    })
}

/// An error envelope of one of `statuses` without the rate-limit headers
/// (the GET routes' 404, 405 and flood guard's 429).
fn plain_error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorEnvelope" } } },
    })
}

/// A GET route serving a file (gzip or br when accepted, ETag revalidation).
fn file(summary: &str, media: &str, parameter: Option<&str>) -> Value {
    let mut get = json!({
        "summary": summary,
        "responses": {
            "200": { "description": "The file (gzip or br when accepted).", "headers": {
                "ETag": { "schema": { "type": "string" } },
                "Cache-Control": { "schema": { "type": "string" } },
            }, "content": { media: {} } },
            "304": { "description": "Not modified (If-None-Match matched the ETag)." },
            "404": plain_error("No such file."),
            "429": plain_error("The flood guard: too many requests from this client; `Retry-After` says when to retry."),
        },
    });
    if let Some(name) = parameter {
        get["parameters"] = json!([{
            "name": name, "in": "path", "required": true,
            "schema": { "type": "string", "pattern": "^[A-Za-z0-9._-]+$" },
        }]);
        // Another route may hold the name (e.g. `chat`, which is POST only).
        get["responses"]["405"] = plain_error("The name is a route that does not accept GET.");
    }
    json!({ "get": get })
}

/// A small JSON GET (health).
fn status_route(summary: &str, example: &str) -> Value {
    json!({ "get": { "summary": summary,
        "responses": { "200": { "description": example, "content": { "application/json": {} } },
            "405": plain_error("Only GET and HEAD.") } } })
}

/// The whole document, for messages of up to `max_message_chars`.
fn document_for(max_message_chars: usize) -> Value {
    let rate_headers = json!({
        "RateLimit": { "$ref": "#/components/headers/RateLimit" },
        "RateLimit-Policy": { "$ref": "#/components/headers/RateLimit-Policy" },
        "X-Request-Id": { "$ref": "#/components/headers/X-Request-Id" },
    });
    let widget_js = format!("{WIDGET_PREFIX}/widget.js");
    let widget_css = format!("{WIDGET_PREFIX}/widget.css");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "support-chat public API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The public, anonymous support chat of a UK business lender. No API key: \
                each client IP may send, by default, 60 chat requests per 60 seconds (a fixed window \
                that opens at its first request; the operator may change it, and every response's \
                RateLimit-Policy header states the quota in force). Every error is the one JSON envelope.",
        },
        "paths": {
            CHAT_PATH: {
                "post": {
                    "operationId": "chat",
                    "summary": "Send a visitor's message; get the assistant's reply and the session id to echo next time.",
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/ChatRequest" } } } },
                    "responses": {
                        "200": { "description": "The reply.", "headers": rate_headers,
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ChatResponse" } } } },
                        "400": error_response(400, &[]),
                        "405": error_response(405, &["Allow"]),
                        "413": error_response(413, &[]),
                        "415": error_response(415, &[]),
                        "429": error_response(429, &["Retry-After"]),
                        "500": error_response(500, &[]),
                        "503": error_response(503, &["Retry-After"]),
                    },
                },
                "options": { "summary": "CORS preflight; not rate limited.",
                    "responses": { "200": { "description": "Access-Control-Allow-* headers and Access-Control-Max-Age." } } },
            },
            FEEDBACK_PATH: {
                "post": {
                    "operationId": "feedback",
                    "summary": "Vote on one reply of a conversation: helpful or not. The latest vote per reply wins. Same rate limit as chat.",
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/FeedbackRequest" } } } },
                    "responses": public_post_responses(json!({ "204": { "description": "Recorded.", "headers": rate_headers } }), &[404]),
                },
                "options": { "summary": "CORS preflight; not rate limited.",
                    "responses": { "200": { "description": "Access-Control-Allow-* headers." } } },
            },
            SESSION_PATH: {
                "delete": {
                    "operationId": "deleteSession",
                    "summary": "Erase a conversation: its turns, everything recorded of it, and the session itself. An unknown session is a 204 too. Same rate limit as chat.",
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/DeleteSessionRequest" } } } },
                    "responses": public_post_responses(json!({ "204": { "description": "Erased.", "headers": rate_headers } }), &[]),
                },
                "options": { "summary": "CORS preflight; not rate limited.",
                    "responses": { "200": { "description": "Access-Control-Allow-* headers." } } },
            },
            HANDOFF_PATH: {
                "post": {
                    "operationId": "handoff",
                    "summary": "Ask a person to get in touch about a conversation: the team gets its transcript and the visitor's contact by e-mail and/or webhook. `202` only once the request is stored; it is then delivered, retried until it is. Same rate limit as chat, and at most a few per conversation and per client an hour (`handoff_limit`).",
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/HandoffRequest" } } } },
                    "responses": public_post_responses(json!({ "202": { "description": "Stored, and on its way to the team.", "headers": rate_headers,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/HandoffResponse" } } } } }), &[404]),
                },
                "options": { "summary": "CORS preflight; not rate limited.",
                    "responses": { "200": { "description": "Access-Control-Allow-* headers." } } },
            },
            STATUS_PATH: { "get": {
                "operationId": "status",
                "summary": "Whether handoffs are taken here, and whether someone is there now (business hours).",
                "responses": {
                    "200": { "description": "The status; it may be cached for a minute.",
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Status" } } } },
                    "405": plain_error("Only GET and HEAD."),
                    "429": plain_error("The flood guard."),
                },
            } },
            widget_js: file("The widget's loader: a classic script.", "text/javascript", None),
            widget_css: file("The widget's stylesheet.", "text/css", None),
            WIDGET_FILES: file("The widget's files: the loader, the stylesheet, and the content-hashed build they load (`widget-<hash>.js`, `widget-<hash>.wasm`, cached immutable).", "*/*", Some("file")),
            "/": file("The demo page (HTML), embedding the widget as a customer's site would.", "text/html", None),
            "/{file}": file("The demo page's static files (stylesheet, script, icon).", "*/*", Some("file")),
            OPENAPI_PATH: { "get": { "summary": "This document.",
                "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": {} } },
                    "405": plain_error("Only GET and HEAD."),
                    "429": plain_error("The flood guard.") } } },
            "/healthz": status_route("Liveness.", "`{\"status\":\"ok\"}`"),
            "/readyz": status_route("Readiness: this replica serves, and the state of its Redis when one is configured.", "`{\"status\":\"ready\",\"redis\":\"not configured\"}`"),
        },
        "components": {
            "schemas": schemas(max_message_chars),
            "headers": {
                "RateLimit": header_object("Remaining requests and seconds until the window resets, e.g. `\"chat\";r=59;t=60`.", json!({ "type": "string" })),
                "RateLimit-Policy": header_object("The quota, e.g. `\"chat\";q=60;w=60`.", json!({ "type": "string" })),
                "Retry-After": header_object("Whole seconds, rounded up, to wait before retrying.", json!({ "type": "integer", "minimum": 1 })),
                "X-Request-Id": header_object("This request's id, also in the error envelope and the logs.", json!({ "type": "string" })),
                "Allow": header_object("The methods this path accepts.", json!({ "type": "string" })),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use support_chat_api::{ChatResponse, DEFAULT_MAX_MESSAGE_CHARS, ErrorBody, ErrorEnvelope};

    use super::*;

    fn document() -> Value {
        document_for(DEFAULT_MAX_MESSAGE_CHARS)
    }

    /// The property names a schema lists.
    fn properties(name: &str) -> Vec<String> {
        let doc = document();
        let mut names: Vec<String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// The keys serde writes for `value`.
    fn written(value: impl Serialize) -> Vec<String> {
        let mut keys: Vec<String> = serde_json::to_value(value)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_schema_lists_exactly_the_fields_serde_writes() {
        let request = ChatRequest {
            message: "m".into(),
            session: Some("s".into()),
        };
        assert_eq!(properties("ChatRequest"), written(&request));
        let response = ChatResponse {
            session: "s".into(),
            reply: "r".into(),
            suggestions: vec![],
            handoff: false,
            reply_id: "i".into(),
            complaint: Some("CO-AAAA-AAAA".into()),
        };
        assert_eq!(properties("ChatResponse"), written(&response));
        let feedback = FeedbackRequest {
            session: "s".into(),
            reply_id: "i".into(),
            helpful: true,
        };
        assert_eq!(properties("FeedbackRequest"), written(&feedback));
        let delete = DeleteSessionRequest {
            session: "s".into(),
        };
        assert_eq!(properties("DeleteSessionRequest"), written(&delete));
        let handoff = HandoffRequest {
            session: "s".into(),
            email: "e".into(),
            name: Some("n".into()),
            note: Some("n".into()),
        };
        assert_eq!(properties("HandoffRequest"), written(&handoff));
        let taken = support_chat_api::HandoffResponse {
            reference: "r".into(),
            message: "m".into(),
        };
        assert_eq!(properties("HandoffResponse"), written(&taken));
        let status = support_chat_api::Status {
            handoff: true,
            open: None,
            message: None,
        };
        assert_eq!(properties("Status"), written(&status));
        let body = ErrorBody {
            code: "c".into(),
            message: "m".into(),
            status: 400,
            request_id: "r".into(),
            param: Some("p".into()),
            retry_after: Some(1),
        };
        assert_eq!(properties("ErrorBody"), written(&body));
        assert_eq!(
            properties("ErrorEnvelope"),
            written(ErrorEnvelope { error: body })
        );
    }

    #[test]
    fn the_message_length_follows_the_servers_limit() {
        let doc = document_for(42);
        let message = &doc["components"]["schemas"]["ChatRequest"]["properties"]["message"];
        assert_eq!(message["maxLength"], 42);
        assert!(message["description"].as_str().unwrap().contains("42"));
    }
}
