//! One chat round trip, with the wire types of `support_chat_api` and their
//! field names from `support_chat_api::field` (so they are written once).

use gloo_net::http::{Request, Response};
use js_sys::{JSON, Object};
use leptos::prelude::window;
use support_chat_api::{CHAT_PATH, ChatRequest, ChatResponse, field};
use wasm_bindgen::JsValue;

use crate::conversation::{Failure, Outgoing};
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
    let request = ChatRequest {
        message: outgoing.text,
        session: outgoing.session,
    };
    let body = Object::new();
    set(&body, field::MESSAGE, &request.message.as_str().into());
    if let Some(session) = &request.session {
        set(&body, field::SESSION, &session.as_str().into());
    }
    let body = JSON::stringify(&body).map(String::from).unwrap_or_default();
    let sent = match Request::post(&[api, CHAT_PATH].concat())
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
    if response.ok()
        && let Some(session) = get(&value, field::SESSION).as_string()
    {
        return Ok(ChatResponse {
            session,
            reply: get(&value, field::REPLY).as_string().unwrap_or_default(),
            suggestions: strings(&get(&value, field::SUGGESTIONS)),
            handoff: get(&value, field::HANDOFF).as_bool().unwrap_or(false),
        });
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
