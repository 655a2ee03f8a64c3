//! `GET /admin/api/openapi.json` (on the admin listener): the admin API's
//! own OpenAPI 3.1 document.

use axum::Json;
use serde_json::{Value, json};

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": {
        "type": "object", "required": ["error"],
        "properties": { "error": { "type": "object", "required": ["code", "message", "status", "request_id"] } } } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn path(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

/// The usual failures of a call behind the token.
fn guarded(mut responses: Value) -> Value {
    responses["401"] = error("No or a wrong `Authorization: Bearer` token (`unauthorized`).");
    responses["429"] =
        error("Too many failed attempts from this client; `Retry-After` says when to try again.");
    responses["503"] = error("The records database did not answer (`unavailable`).");
    responses
}

pub async fn document() -> Json<Value> {
    let days = query(
        "days",
        "Days back from today (UTC), 1 to 366; default 30.",
        json!({ "type": "integer", "minimum": 1, "maximum": 366 }),
    );
    let conversation_id = path(
        "id",
        "A conversation's id: the keyed hash of its session id (32 hex digits).",
    );
    let count = json!({ "type": "integer", "minimum": 0 });
    let day = json!({ "type": "object", "properties": {
        "day": { "type": "string", "format": "date" }, "conversations": count, "messages": count,
        "answered": count, "clarified": count, "handed_off": count, "out_of_scope": count,
        "helpful": count, "not_helpful": count } });
    let turn = json!({ "type": "object", "properties": {
        "conversation": { "type": "string" }, "reply_id": { "type": "string" },
        "at": { "type": "string", "format": "date-time" },
        "message": { "type": "string", "description": "The visitor's words, redacted before they were written." },
        "outcome": { "enum": ["answered", "clarified", "handoff", "out_of_scope"] },
        "confidence": { "type": "number" },
        "article_id": { "type": ["string", "null"] }, "article_version": { "type": ["string", "null"] },
        "helpful": { "type": ["boolean", "null"] },
        "complaint": { "type": "boolean", "description": "The turn expressed dissatisfaction." },
        "care": { "enum": ["health", "life_events", "resilience", "capability", null], "description": "The vulnerability cue the turn showed, a category only; cleared at the retention period." } } });
    let channel = json!({ "enum": ["none", "pending", "done"], "description": "This way of delivery: not configured, still to go, or delivered." });
    let handoff = json!({ "type": "object", "properties": {
        "reference": { "type": "string" }, "conversation": { "type": "string" },
        "created_at": { "type": "string", "format": "date-time" },
        "contact": { "type": "object", "properties": { "email": { "type": "string" }, "name": { "type": ["string", "null"] }, "note": { "type": ["string", "null"] } } },
        "status": { "enum": ["pending", "retrying", "delivered", "failed"] },
        "attempts": count, "email": channel, "webhook": channel,
        "last_error": { "type": ["string", "null"] } } });
    let notice_way = json!({ "enum": ["none", "pending", "done"], "description": "This way's part in the notice: not configured on the replica that tried it (a way configured on some replicas only, or added since, did not carry it), still to go (also on a notice never tried: `none` or `skipped`), or delivered." });
    let when = json!({ "type": "string", "format": "date-time" });
    let complaint = json!({ "type": "object", "properties": {
        "reference": { "type": "string", "description": "e.g. `CO-7KQ2-M9XD`; the visitor was shown it." },
        "conversation": { "type": "string" }, "made_at": when, "age_days": { "type": "number" },
        "message": { "type": "string", "description": "The message that made it, redacted before it was written." },
        "status": { "enum": ["open", "acknowledged", "resolved"] },
        "acknowledge_by": when, "respond_by": { "type": "string", "format": "date-time", "description": "The final response is due within 8 weeks." },
        "acknowledged_at": { "type": ["string", "null"], "format": "date-time" },
        "resolved_at": { "type": ["string", "null"], "format": "date-time" },
        "handled_by": { "type": ["string", "null"] },
        "overdue": { "type": "boolean", "description": "The due date of the next step has passed." },
        "updated_at": when,
        "notice": { "enum": ["none", "pending", "sent", "failed", "skipped"], "description": "Whether the team was told of it as it was made, by the ways handoffs go: `pending` until sent (or while no way is configured), `skipped` when it was acknowledged first, `none` for complaints made before notices." },
        "notice_email": notice_way, "notice_webhook": notice_way,
        "notice_error": { "type": ["string", "null"], "description": "The last failed attempt's error, by way (e.g. `webhook: …`), kept until the next attempt; null when none failed or it was then sent." } } });
    let flagged = json!({ "type": "object", "properties": {
        "conversation": { "type": "string" }, "first_at": when, "last_at": when,
        "care": { "type": "array", "items": { "enum": ["health", "life_events", "resilience", "capability"] } },
        "messages": count, "answered": count, "handed_off": count, "handoff_requested": { "type": "boolean" },
        "helpful": count, "not_helpful": count, "complaint": { "type": "boolean" } } });
    let records_off =
        error("Nothing is recorded: the server runs with --record off (`records_off`).");
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "support-chat admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "On the admin listener only (--admin-addr), and only when SUPPORT_CHAT_ADMIN_TOKEN is set. \
                Every call needs `Authorization: Bearer <token>`; ten failed attempts a minute from one client are \
                refused with 429. Errors are the public API's envelope. Times are RFC 3339, UTC.",
        },
        "components": { "securitySchemes": { "token": { "type": "http", "scheme": "bearer" } } },
        "security": [{ "token": [] }],
        "paths": {
            "/admin/api/summary": { "get": {
                "summary": "Per day: conversations, messages, answered, clarified, handed off, out of scope, helpful, not helpful; and `care`: the same outcomes added up for conversations with a vulnerability cue against the rest.",
                "parameters": [days],
                "responses": guarded(json!({ "200": ok("Every day of the range, oldest first.", json!({ "type": "object",
                    "properties": { "from": { "type": "string", "format": "date" }, "days": { "type": "array", "items": day } } })) })),
            } },
            "/admin/api/unanswered": { "get": {
                "summary": "Questions handed off, out of scope, answered unsure or voted down, near-duplicates grouped (by the engine's embeddings), most frequent first.",
                "parameters": [days, query("limit", "Items at most, 1 to 1000; default 100.", json!({ "type": "integer" }))],
                "responses": guarded(json!({ "200": ok("The inbox.", json!({ "type": "object", "properties": { "items": { "type": "array", "items": {
                    "type": "object", "properties": { "id": { "type": "string" }, "text": { "type": "string" }, "count": count,
                    "last_seen": { "type": "string", "format": "date-time" },
                    "reasons": { "type": "array", "items": { "enum": ["handoff", "out_of_scope", "clarified", "low_confidence", "not_helpful"] } },
                    "examples": { "type": "array", "items": { "type": "string" } } } } } } })) })),
            } },
            "/admin/api/unanswered/{id}/dismiss": { "post": {
                "summary": "Takes an item's questions out of the inbox for good.",
                "parameters": [path("id", "The item's id.")],
                "responses": guarded(json!({ "204": { "description": "Dismissed." }, "404": error("No such item.") })),
            } },
            "/admin/api/conversations": { "get": {
                "summary": "Conversations, the most recent first.",
                "parameters": [
                    query("outcome", "Only those with a turn of this outcome.", json!({ "enum": ["answered", "clarified", "handoff", "out_of_scope"] })),
                    query("from", "From this UTC day.", json!({ "type": "string", "format": "date" })),
                    query("to", "To this UTC day, inclusive.", json!({ "type": "string", "format": "date" })),
                    query("q", "Only those where a message holds this text, in any case (up to 200 characters).", json!({ "type": "string" })),
                    query("session", "A visitor's own session id (subject access): only that conversation.", json!({ "type": "string" })),
                    query("page", "From 0.", json!({ "type": "integer" })),
                    query("per_page", "1 to 500; default 50.", json!({ "type": "integer" })),
                ],
                "responses": guarded(json!({ "200": ok("A page of conversations.", json!({ "type": "object" })), "400": error("A parameter out of its range (`invalid_query`).") })),
            } },
            "/admin/api/conversations/{id}": {
                "get": { "summary": "One transcript, redacted as kept, with outcomes, votes and the article version of each reply.",
                    "parameters": [conversation_id.clone()],
                    "responses": guarded(json!({ "200": ok("The transcript.", json!({ "type": "object", "properties": { "id": { "type": "string" }, "turns": { "type": "array", "items": turn } } })), "404": error("No such conversation.") })) },
                "delete": { "summary": "Erases everything kept of one conversation (erasure).",
                    "parameters": [conversation_id],
                    "responses": guarded(json!({ "204": { "description": "Erased (or there was nothing)." } })) },
            },
            "/admin/api/export": { "get": {
                "summary": "Every turn (or one conversation's), oldest first, streamed (subject access, archives).",
                "parameters": [
                    query("format", "`jsonl` (default) or `csv`.", json!({ "enum": ["jsonl", "csv"] })),
                    query("conversation", "Only this conversation.", json!({ "type": "string" })),
                ],
                "responses": guarded(json!({ "200": { "description": "One turn a line (JSON) or row (CSV, with a header).",
                    "content": { "application/x-ndjson": { "schema": turn }, "text/csv": {} } } })),
            } },
            "/admin/api/handoffs": { "get": {
                "summary": "Handoffs, the newest first, with their delivery status and attempts. A `failed` one has used every attempt (--handoff-max-attempts); retry it below.",
                "parameters": [
                    query("status", "Only those of this status.", json!({ "enum": ["pending", "retrying", "delivered", "failed"] })),
                    query("limit", "Items at most, 1 to 1000; default 100.", json!({ "type": "integer" })),
                ],
                "responses": guarded(json!({
                    "200": ok("The handoffs.", json!({ "type": "object", "properties": { "items": { "type": "array", "items": handoff } } })),
                    "400": error("A parameter out of its range (`invalid_query`)."),
                    "409": error("No handoff channel is configured (`handoffs_off`)."),
                })),
            } },
            "/admin/api/handoffs/{reference}/retry": { "post": {
                "summary": "Puts a failed handoff back in line, its attempts counted afresh.",
                "parameters": [path("reference", "The handoff's reference, e.g. `HO-7KQ2-M9XD`.")],
                "responses": guarded(json!({
                    "202": { "description": "Back in line; it is delivered shortly." },
                    "404": error("No failed handoff of that reference."),
                    "409": error("No handoff channel is configured (`handoffs_off`)."),
                })),
            } },
            "/admin/api/complaints": { "get": {
                "summary": "Complaint records: open first, then acknowledged, then resolved; the oldest first within each, with age and due dates.",
                "parameters": [
                    query("status", "Only those of this status.", json!({ "enum": ["open", "acknowledged", "resolved"] })),
                    query("limit", "Items at most, 1 to 1000; default 100.", json!({ "type": "integer" })),
                ],
                "responses": guarded(json!({
                    "200": ok("The complaints.", json!({ "type": "object", "properties": { "items": { "type": "array", "items": complaint } } })),
                    "400": error("A parameter out of its range (`invalid_query`)."),
                    "409": records_off,
                })),
            } },
            "/admin/api/complaints/{reference}": { "patch": {
                "summary": "Changes a complaint's status (the times it was acknowledged or resolved are set then) or who handles it.",
                "parameters": [path("reference", "The complaint's reference.")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false,
                    "properties": { "status": { "enum": ["open", "acknowledged", "resolved"] },
                        "handled_by": { "type": "string", "maxLength": 100, "description": "Empty clears it." },
                        "updated_at": { "type": "string", "format": "date-time", "description": "The complaint's `updated_at` as you read it: the change is made only if no other was made since (else `409 complaint_changed`)." } } } } } },
                "responses": guarded(json!({
                    "200": ok("The complaint as changed.", complaint),
                    "400": error("An unknown status, a handler too long or with control characters, or an unknown field (`invalid_request`)."),
                    "404": error("No complaint of that reference."),
                    "409": error("The records are off (`records_off`), or the complaint was changed since the `updated_at` sent (`complaint_changed`)."),
                })),
            } },
            "/admin/api/complaints/{reference}/notice/retry": { "post": {
                "summary": "Puts the failed notice of an open complaint back in line, its attempts counted afresh: sent again by each way that did not have it.",
                "parameters": [path("reference", "The complaint's reference.")],
                "responses": guarded(json!({
                    "202": { "description": "Back in line; it is sent shortly if a way to the team is configured." },
                    "404": error("No complaint of that reference."),
                    "409": error("The records are off (`records_off`), or its notice has not failed or the complaint is no longer open (`notice_not_failed`)."),
                })),
            } },
            "/admin/api/care": { "get": {
                "summary": "Conversations with a vulnerability cue, the most recent first: the cue categories (never the words) and how they fared.",
                "parameters": [days],
                "responses": guarded(json!({
                    "200": ok("The flagged conversations.", json!({ "type": "object", "properties": { "items": { "type": "array", "items": flagged } } })),
                    "400": error("A parameter out of its range (`invalid_query`)."),
                    "409": records_off,
                })),
            } },
            "/admin/api/kb": { "get": {
                "summary": "The knowledge base: its source, articles (with question counts and versions), the last load, whether the engine answering reads an encoder tuned to it (`tuned`: false until the background tuning after each load is done) and any reload error since.",
                "responses": guarded(json!({ "200": ok("The knowledge base.", json!({ "type": "object" })) })),
            } },
            "/admin/api/kb/{article}/questions": { "post": {
                "summary": "Adds an example question to an article's file (with --kb DIR), drops the same line from out-of-scope.txt, and reloads; the next visitor asking it gets that article.",
                "parameters": [path("article", "The article's id.")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["text"], "additionalProperties": false,
                    "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 300 } } } } } },
                "responses": guarded(json!({
                    "201": ok("Added and reloaded.", json!({ "type": "object" })),
                    "400": error("Not a question (`invalid_request`)."),
                    "404": error("No such article."),
                    "409": error("The built-in sample is read-only (`read_only`), the article has the question already (`duplicate`), or the knowledge base did not reload (`kb_error`)."),
                })),
            } },
        },
    }))
}
