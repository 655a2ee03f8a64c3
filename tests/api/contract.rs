//! The public chat API's contract: strict input, one envelope, sessions,
//! request ids, CORS and the OpenAPI document, over real HTTP.

use std::time::Duration;

use axum::http::Request;
use http_body_util::Full;
use serde_json::json;
use support_chat::http::Assets;

use crate::helpers::*;

/// What is sent and what must come back.
struct Case<'a> {
    name: &'a str,
    content_type: Option<&'a str>,
    body: Vec<u8>,
    status: u16,
    code: &'a str,
    /// The field the envelope must name.
    param: Option<&'a str>,
}

/// Every bad input the endpoint promises to refuse, and how.
#[tokio::test]
async fn the_whole_bad_input_catalogue_gets_the_documented_envelope_and_never_a_500() {
    let addr =
        spawn(setup_with(&args(&["--chat-rate-limit", "1000/60s"]), Assets::default()).await).await;
    let long = "a".repeat(1001);
    let huge = format!(r#"{{"message": "{}"}}"#, "a".repeat(17 * 1024));
    let cases: Vec<Case> = vec![
        Case {
            name: "text/plain body",
            content_type: Some("text/plain"),
            body: hello().to_string().into(),
            status: 415,
            code: "unsupported_media_type",
            param: None,
        },
        Case {
            name: "no content type",
            content_type: None,
            body: hello().to_string().into(),
            status: 415,
            code: "unsupported_media_type",
            param: None,
        },
        Case {
            name: "form body",
            content_type: Some("application/x-www-form-urlencoded"),
            body: b"message=hi".to_vec(),
            status: 415,
            code: "unsupported_media_type",
            param: None,
        },
        Case {
            name: "body over 16 KiB",
            content_type: Some("application/json"),
            body: huge.into(),
            status: 413,
            code: "payload_too_large",
            param: None,
        },
        Case {
            name: "empty body",
            content_type: Some("application/json"),
            body: vec![],
            status: 400,
            code: "invalid_json",
            param: None,
        },
        Case {
            name: "malformed JSON",
            content_type: Some("application/json"),
            body: b"{\"message\": \"hi\"".to_vec(),
            status: 400,
            code: "invalid_json",
            param: None,
        },
        Case {
            name: "trailing garbage",
            content_type: Some("application/json"),
            body: b"{\"message\": \"hi\"} x".to_vec(),
            status: 400,
            code: "invalid_json",
            param: None,
        },
        Case {
            name: "invalid UTF-8",
            content_type: Some("application/json"),
            body: b"{\"message\": \"\xff\xfe\"}".to_vec(),
            status: 400,
            code: "invalid_json",
            param: None,
        },
        Case {
            name: "array body",
            content_type: Some("application/json"),
            body: b"[]".to_vec(),
            status: 400,
            code: "invalid_request",
            param: None,
        },
        Case {
            name: "missing message",
            content_type: Some("application/json"),
            body: b"{}".to_vec(),
            status: 400,
            code: "invalid_request",
            param: Some("message"),
        },
        Case {
            name: "message of wrong type",
            content_type: Some("application/json"),
            body: br#"{"message": 42}"#.to_vec(),
            status: 400,
            code: "invalid_request",
            param: Some("message"),
        },
        Case {
            name: "message null",
            content_type: Some("application/json"),
            body: br#"{"message": null}"#.to_vec(),
            status: 400,
            code: "invalid_request",
            param: Some("message"),
        },
        Case {
            name: "unknown field",
            content_type: Some("application/json"),
            body: br#"{"message": "hi", "admin": true}"#.to_vec(),
            status: 400,
            code: "invalid_request",
            param: Some("admin"),
        },
        Case {
            name: "session of wrong type",
            content_type: Some("application/json"),
            body: br#"{"message": "hi", "session": 7}"#.to_vec(),
            status: 400,
            code: "invalid_request",
            param: Some("session"),
        },
        Case {
            name: "empty message",
            content_type: Some("application/json"),
            body: br#"{"message": ""}"#.to_vec(),
            status: 400,
            code: "message_empty",
            param: Some("message"),
        },
        Case {
            name: "blank message",
            content_type: Some("application/json"),
            body: br#"{"message": " \n\t "}"#.to_vec(),
            status: 400,
            code: "message_empty",
            param: Some("message"),
        },
        Case {
            name: "message over 1,000 characters",
            content_type: Some("application/json"),
            body: json!({ "message": long }).to_string().into(),
            status: 400,
            code: "message_too_long",
            param: Some("message"),
        },
        Case {
            name: "NUL in message",
            content_type: Some("application/json"),
            body: br#"{"message": "a\u0000b"}"#.to_vec(),
            status: 400,
            code: "message_invalid_characters",
            param: Some("message"),
        },
        Case {
            name: "escape sequence in message",
            content_type: Some("application/json"),
            body: br#"{"message": "\u001b[31mred"}"#.to_vec(),
            status: 400,
            code: "message_invalid_characters",
            param: Some("message"),
        },
        Case {
            name: "session not ours",
            content_type: Some("application/json"),
            body: br#"{"message": "hi", "session": "abc"}"#.to_vec(),
            status: 400,
            code: "invalid_session",
            param: Some("session"),
        },
        Case {
            name: "session uppercase",
            content_type: Some("application/json"),
            body: json!({ "message": "hi", "session": "A".repeat(32) })
                .to_string()
                .into(),
            status: 400,
            code: "invalid_session",
            param: Some("session"),
        },
    ];
    for Case {
        name,
        content_type,
        body,
        status,
        code,
        param,
    } in cases
    {
        let mut request = Request::post(CHAT).header("host", "localhost");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let reply = send(addr, request.body(Full::new(body.into())).unwrap()).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{name}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = envelope(&reply, status, code);
        assert_eq!(body["error"]["param"].as_str(), param, "{name}: {body}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
        assert!(reply.header("ratelimit").is_some(), "{name}");
    }
}

#[tokio::test]
async fn nothing_a_client_sends_comes_back_in_an_error_message() {
    let addr =
        spawn(setup_with(&args(&["--chat-rate-limit", "1000/60s"]), Assets::default()).await).await;
    for body in [
        r#"{"message": "hi", "a`<img src=x onerror=alert(1)>`": 1}"#,
        r#"{"message": "hi", "<img src=x onerror=alert(1)>": 1}"#,
        r#"{"message": "hi", "session": {"\" <img src=x onerror=alert(1)>": 1}}"#,
        r#"{"message": ["\" <img src=x onerror=alert(1)>"]}"#,
        r#"{"message": "<img src=x onerror=alert(1)>"} <img src=x onerror=alert(1)>"#,
        r#"["<img src=x onerror=alert(1)>"]"#,
    ] {
        let reply = send(addr, chat_request(body.to_owned())).await;
        assert_eq!(reply.status, 400, "{body}");
        let text = String::from_utf8_lossy(&reply.body);
        assert!(
            !text.contains("<img") && !text.contains("onerror"),
            "{body}: {text}"
        );
    }
    // A JSON array is not a chat body, whatever serde would make of it.
    let reply = send(addr, chat_request(r#"["hello"]"#)).await;
    let body = envelope(&reply, 400, "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON object"),
        "{body}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_public_route_and_nothing_else() {
    let setup = setup().await;
    let routes = support_chat::http::public_routes(&setup.state, &setup.config).paths;
    let addr = spawn(setup).await;
    let doc = send(
        addr,
        Request::get("/public/v1/openapi.json")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await
    .json();
    let documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in ["/", "/readyz", "/healthz", CHAT] {
        assert!(routes.contains(&route), "{route} is a route");
    }
    for route in &routes {
        assert!(
            documented.contains(route),
            "{route} is routed but not documented"
        );
    }
    for path in documented {
        // A concrete path is served by one of the routes' templates.
        let served = routes.contains(&path)
            || routes.iter().any(|route| {
                route
                    .strip_suffix("{file}")
                    .and_then(|prefix| path.strip_prefix(prefix))
                    .is_some_and(|name| !name.is_empty() && !name.contains('/'))
            });
        assert!(served, "{path} is documented but not routed");
    }
}

#[tokio::test]
async fn awkward_but_valid_messages_are_answered_without_echoing_them() {
    let addr = spawn(setup().await).await;
    for message in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        &"😀".repeat(1000),
        "  padded with tabs\tand\nnewlines  ",
        "Ünïcödé ✓ 日本語 עברית",
        "'; DROP TABLE sessions; --",
    ] {
        let reply = chat(addr, &json!({ "message": message, "session": null })).await;
        assert_eq!(reply.status, 200, "{message:?}");
        let body = reply.json();
        let text = body["reply"].as_str().unwrap();
        assert!(
            !text.contains("<script") && !text.contains("<img") && !text.contains("DROP TABLE"),
            "{text}"
        );
        assert_eq!(body.as_object().unwrap().len(), 6);
    }
}

#[tokio::test]
async fn an_unknown_or_expired_session_starts_a_new_conversation_with_a_new_id() {
    let (addr, clock) = clocked(&[]).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    let fresh = chat(addr, &json!({ "message": "hi", "session": unknown }))
        .await
        .json();
    assert_ne!(fresh["session"], unknown);
    let session = fresh["session"].as_str().unwrap().to_owned();
    let kept = chat(addr, &json!({ "message": "hi", "session": session }))
        .await
        .json();
    assert_eq!(kept["session"], session.as_str());
    clock.advance(Duration::from_secs(30 * 60));
    let expired = chat(addr, &json!({ "message": "hi", "session": session }))
        .await
        .json();
    assert_ne!(
        expired["session"],
        session.as_str(),
        "30 idle minutes end a conversation"
    );
}

#[tokio::test]
async fn other_methods_get_405_with_allow_and_unknown_paths_404() {
    let addr = spawn(setup().await).await;
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let request = Request::builder()
            .method(method)
            .uri(CHAT)
            .header("host", "localhost")
            .body(Full::default())
            .unwrap();
        let reply = send(addr, request).await;
        envelope(&reply, 405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("POST"));
    }
    for path in ["/public/v1/openapi.json", "/public/v1/support/widget.js"] {
        let request = Request::post(path)
            .header("host", "localhost")
            .body(Full::default())
            .unwrap();
        let reply = send(addr, request).await;
        envelope(&reply, 405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{path}");
    }
    let request = Request::get("/public/v1/support/nope/deeper")
        .header("host", "localhost")
        .body(Full::default())
        .unwrap();
    envelope(&send(addr, request).await, 404, "not_found");
}

#[tokio::test]
async fn request_ids_are_kept_when_well_formed_and_replaced_otherwise() {
    let addr = spawn(setup().await).await;
    let mut request = chat_request("{");
    request
        .headers_mut()
        .insert("x-request-id", "client-id_1.2".parse().unwrap());
    let kept = send(addr, request).await;
    assert_eq!(kept.header("x-request-id"), Some("client-id_1.2"));
    assert_eq!(kept.json()["error"]["request_id"], "client-id_1.2");
    let mut request = chat_request("{");
    request
        .headers_mut()
        .insert("x-request-id", "has spaces and <tags>".parse().unwrap());
    let replaced = send(addr, request).await;
    assert_ne!(
        replaced.header("x-request-id"),
        Some("has spaces and <tags>")
    );
    assert_eq!(
        replaced.json()["error"]["request_id"],
        replaced.header("x-request-id").unwrap()
    );
}

#[tokio::test]
async fn cors_exposes_the_rate_limit_headers_and_can_be_restricted_to_listed_origins() {
    let addr = spawn(setup().await).await;
    let mut request = chat_request(hello().to_string());
    request
        .headers_mut()
        .insert("origin", "https://anyone.example".parse().unwrap());
    let open = send(addr, request).await;
    assert_eq!(open.header("access-control-allow-origin"), Some("*"));
    let exposed = open
        .header("access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    for name in [
        "retry-after",
        "ratelimit",
        "ratelimit-policy",
        "x-request-id",
    ] {
        assert!(exposed.split(',').any(|h| h.trim() == name), "{exposed}");
    }

    let addr = spawn(
        setup_with(
            &args(&["--allowed-origins", "https://shop.example"]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let from = |origin: &'static str| {
        let mut request = chat_request(hello().to_string());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    assert_eq!(
        send(addr, from("https://shop.example"))
            .await
            .header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        send(addr, from("https://evil.example"))
            .await
            .header("access-control-allow-origin"),
        None
    );
}

#[tokio::test]
async fn real_responses_validate_against_the_served_openapi_document() {
    let (addr, _clock) = clocked(&["--chat-rate-limit", "4/60s"]).await;
    let doc = send(
        addr,
        Request::get("/public/v1/openapi.json")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(doc["openapi"], "3.1.0");
    let responses = [
        (200, chat(addr, &hello()).await),
        (400, chat(addr, &json!({ "message": "" })).await),
        (
            413,
            send(
                addr,
                chat_request(format!(r#"{{"message":"{}"}}"#, "a".repeat(20_000))),
            )
            .await,
        ),
        (
            415,
            send(
                addr,
                Request::post(CHAT)
                    .header("host", "localhost")
                    .body(Full::new("hi".into()))
                    .unwrap(),
            )
            .await,
        ),
        (429, chat(addr, &hello()).await),
    ];
    for (status, reply) in responses {
        assert_documented(&doc, CHAT, "post", status, &reply);
    }
    // The schemas have teeth: an error envelope is not a chat response, nor the reverse.
    let strict = |name: &str| {
        let schema = json!({ "$ref": format!("#/components/schemas/{name}"), "components": doc["components"] });
        jsonschema::validator_for(&schema).unwrap()
    };
    assert!(!strict("ChatResponse").is_valid(&json!({ "error": {} })));
    assert!(
        !strict("ChatResponse")
            .is_valid(&json!({ "session": "s", "reply": "r", "suggestions": [] }))
    );
    assert!(
        !strict("ErrorEnvelope").is_valid(
            &json!({ "session": "s", "reply": "r", "suggestions": [], "handoff": false })
        )
    );
    let listed = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, support_chat::http::ApiError::catalogue().len());
}
