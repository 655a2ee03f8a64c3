//! `GET /public/v1/openapi.json`: the OpenAPI 3.1 description of the public
//! API. Schemas are generated from the shared wire types (`crate::api`, via
//! schemars, server-side only); statuses, headers and error codes are listed
//! here beside the code that produces them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::api::{CHAT_PATH, ChatRequest, ChatResponse, ErrorEnvelope};

/// The document as served, serialised once when the router is built.
#[derive(Clone)]
pub struct OpenApi(Bytes);

impl OpenApi {
    /// The document for a server that accepts messages of up to `max_message_chars`.
    pub fn new(max_message_chars: usize) -> Self {
        let mut document = document();
        if let Some(max) =
            document.pointer_mut("/components/schemas/ChatRequest/properties/message/maxLength")
        {
            *max = json!(max_message_chars);
        }
        Self(
            serde_json::to_vec(&document)
                .expect("a JSON value serialises")
                .into(),
        )
    }
}

pub async fn serve(State(OpenApi(body)): State<OpenApi>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

fn header_object(description: &str, schema: Value) -> Value {
    json!({ "description": description, "schema": schema })
}

fn error_response(status: u16, extra_headers: &[&str]) -> Value {
    let codes: Vec<&str> = ApiError::catalogue()
        .iter()
        .filter(|e| e.status().as_u16() == status)
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

/// The whole document, for the default message length.
fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    generator.subschema_for::<ChatRequest>();
    generator.subschema_for::<ChatResponse>();
    generator.subschema_for::<ErrorEnvelope>();
    let mut schemas = generator.take_definitions(true);
    // Codes are a closed set: list them in the schema too.
    let codes: Vec<&str> = ApiError::catalogue().iter().map(ApiError::code).collect();
    if let Some(code) = schemas
        .get_mut("ErrorBody")
        .and_then(|s| s.pointer_mut("/properties/code"))
    {
        code["enum"] = json!(codes);
    }

    let rate_headers = json!({
        "RateLimit": { "$ref": "#/components/headers/RateLimit" },
        "RateLimit-Policy": { "$ref": "#/components/headers/RateLimit-Policy" },
        "X-Request-Id": { "$ref": "#/components/headers/X-Request-Id" },
    });
    let file = |description: &str, media: &str| {
        json!({ "get": {
            "summary": description,
            "responses": {
                "200": { "description": "The file (gzip or br when accepted).", "headers": {
                    "ETag": { "schema": { "type": "string" } },
                    "Cache-Control": { "schema": { "type": "string" } },
                }, "content": { media: {} } },
                "304": { "description": "Not modified (If-None-Match matched the ETag)." },
                "429": error_response(429, &["Retry-After"]),
            },
        } })
    };

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
            "/public/v1/support/widget.js": file("The widget's loader: a classic script.", "text/javascript"),
            "/public/v1/support/widget.css": file("The widget's stylesheet.", "text/css"),
            "/public/v1/openapi.json": { "get": { "summary": "This document.",
                "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": {} } } } } },
            "/healthz": { "get": { "summary": "Liveness.",
                "responses": { "200": { "description": "`{\"status\":\"ok\"}`", "content": { "application/json": {} } } } } },
        },
        "components": {
            "schemas": schemas,
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
