//! One chat round trip, with the wire types of `support_chat_api` and their
//! field names from `support_chat_api::field` (so they are written once).

use gloo_net::http::{Request, RequestBuilder, Response};
use js_sys::{JSON, Object};
use leptos::prelude::window;
use support_chat_api::{
    CHAT_PATH, ChatResponse, FEEDBACK_PATH, HANDOFF_PATH, HandoffResponse, SESSION_PATH, field,
};
use wasm_bindgen::JsValue;

use crate::conversation::{Failure, Outgoing, Vote};
use crate::js::{get, set, strings};
use crate::text::{NETWORK_ERROR, OFFLINE_ERROR, SERVER_ERROR};

fn other(message: &str, code: &str, status: u16) -> Failure {
    Failure::Other {
        message: message.to_owned(),
        code: code.to_owned(),
        status,
    }
}

/// Sends `outgoing` to the chat endpoint under `api`.
pub async fn post_chat(api: &str, outgoing: Outgoing) -> Result<ChatResponse, Failure> {
    let body = Object::new();
    set(&body, field::MESSAGE, &outgoing.text.as_str().into());
    if let Some(session) = &outgoing.session {
        set(&body, field::SESSION, &session.as_str().into());
    }
    let value = round_trip(Request::post(&[api, CHAT_PATH].concat()), &body).await?;
    match get(&value, field::SESSION).as_string() {
        Some(session) => Ok(ChatResponse {
            session,
            reply: get(&value, field::REPLY).as_string().unwrap_or_default(),
            suggestions: strings(&get(&value, field::SUGGESTIONS)),
            handoff: get(&value, field::HANDOFF).as_bool().unwrap_or(false),
            reply_id: get(&value, field::REPLY_ID).as_string().unwrap_or_default(),
            // The reference is in the reply's words: nothing more to show.
            complaint: None,
        }),
        None => Err(other(SERVER_ERROR, "server", 200)),
    }
}

/// Sends the visitor's vote on one reply.
pub async fn post_feedback(api: &str, vote: &Vote) -> Result<(), Failure> {
    let body = Object::new();
    set(&body, field::SESSION, &vote.session.as_str().into());
    set(&body, field::REPLY_ID, &vote.reply_id.as_str().into());
    set(&body, field::HELPFUL, &vote.helpful.into());
    round_trip(Request::post(&[api, FEEDBACK_PATH].concat()), &body)
        .await
        .map(drop)
}

/// Erases the conversation `session` on the server.
pub async fn delete_session(api: &str, session: &str) -> Result<(), Failure> {
    let body = Object::new();
    set(&body, field::SESSION, &session.into());
    round_trip(Request::delete(&[api, SESSION_PATH].concat()), &body)
        .await
        .map(drop)
}

/// Asks a person to get in touch about `session`; `fields` are the
/// address, the name and the note (blank ones are left out).
pub async fn post_handoff(
    api: &str,
    session: &str,
    fields: &[String; 3],
) -> Result<HandoffResponse, Failure> {
    let body = Object::new();
    set(&body, field::SESSION, &session.into());
    for (name, value) in [field::EMAIL, field::NAME, field::NOTE].iter().zip(fields) {
        if !value.trim().is_empty() {
            set(&body, name, &value.trim().into());
        }
    }
    let value = round_trip(Request::post(&[api, HANDOFF_PATH].concat()), &body).await?;
    Ok(HandoffResponse {
        reference: get(&value, field::REFERENCE)
            .as_string()
            .unwrap_or_default(),
        message: get(&value, field::NEXT).as_string().unwrap_or_default(),
    })
}

/// Sends `body` as JSON with `request`; the response's JSON when it is a
/// success, or why it failed.
async fn round_trip(request: RequestBuilder, body: &Object) -> Result<JsValue, Failure> {
    let body = JSON::stringify(body).map(String::from).unwrap_or_default();
    let sent = match request
        .header("content-type", "application/json")
        .body(body)
    {
        Ok(request) => request.send().await,
        Err(e) => Err(e),
    };
    let response = match sent {
        Ok(response) => response,
        Err(_) if !window().navigator().on_line() => {
            return Err(other(OFFLINE_ERROR, "offline", 0));
        }
        Err(_) => return Err(other(NETWORK_ERROR, "network", 0)),
    };
    let status = response.status();
    let value = read_json(&response).await;
    if response.ok() {
        return Ok(value);
    }
    let error = get(&value, field::ERROR);
    if status == 429 {
        // `Retry-After` (exposed by CORS) is authoritative; the envelope repeats it.
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .or_else(|| get(&error, field::RETRY_AFTER).as_f64().map(|n| n as u32))
            .unwrap_or(60)
            .max(1);
        return Err(Failure::RateLimited { retry_after });
    }
    Err(Failure::Other {
        message: get(&error, field::ERROR_MESSAGE)
            .as_string()
            .unwrap_or_else(|| SERVER_ERROR.to_owned()),
        code: get(&error, field::CODE)
            .as_string()
            .unwrap_or_else(|| "server".to_owned()),
        status,
    })
}

async fn read_json(response: &Response) -> JsValue {
    match response.text().await {
        Ok(text) => JSON::parse(&text).unwrap_or(JsValue::UNDEFINED),
        Err(_) => JsValue::UNDEFINED,
    }
}
