//! The public chat API's contract (rate limit, strict input, one envelope,
//! sessions, CORS, OpenAPI), over real HTTP against the real router.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, StatusCode};
use common::*;
use http_body_util::Full;
use serde_json::{Value, json};
use support_chat::assets::Assets;
use support_chat::rate_limit::{FixedWindow, ManualClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server whose limiter and sessions read a manual clock.
async fn clocked(flags: &[&str]) -> (std::net::SocketAddr, ManualClock) {
    let args = args(flags);
    let clock = ManualClock::new();
    let mut state = with_args(&args, Assets::default());
    state.limiter = Arc::new(FixedWindow::new(args.chat_rate_limit, clock.clone()));
    state.clock = Arc::new(clock.clone());
    (spawn(state).await, clock)
}

fn hello() -> Value {
    json!({ "message": "hello" })
}

/// Asserts the one envelope, and returns it.
fn envelope(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["status"], status);
    assert!(!error["message"].as_str().unwrap().is_empty());
    assert_eq!(error["request_id"], reply.header("x-request-id").unwrap());
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body
}

#[tokio::test]
async fn request_61_in_a_window_gets_429_with_retry_after_rounded_up_and_a_retry_then_succeeds() {
    let (addr, clock) = clocked(&[]).await;
    for n in 1..=60 {
        let reply = chat(addr, &hello()).await;
        assert_eq!(reply.status, 200, "request {n}");
        assert_eq!(reply.header("ratelimit-policy"), Some("\"chat\";q=60;w=60"));
        assert_eq!(
            reply.header("ratelimit"),
            Some(format!("\"chat\";r={};t=60", 60 - n).as_str())
        );
    }
    let limited = chat(addr, &hello()).await;
    let body = envelope(&limited, 429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert_eq!(body["error"]["retry_after"], 60);
    assert_eq!(limited.header("ratelimit"), Some("\"chat\";r=0;t=60"));

    clock.advance(Duration::from_millis(59_200));
    let still = chat(addr, &hello()).await;
    assert_eq!(still.status, 429);
    assert_eq!(
        still.header("retry-after"),
        Some("1"),
        "0.8 s left rounds up to 1"
    );

    clock.advance(Duration::from_millis(800));
    assert_eq!(
        chat(addr, &hello()).await.status,
        200,
        "rejections did not extend the window"
    );
}

#[tokio::test]
async fn invalid_requests_count_against_the_limit_but_preflights_do_not() {
    let (addr, _clock) = clocked(&["--chat-rate-limit", "3/60s"]).await;
    for _ in 0..10 {
        let preflight = Request::options(CHAT)
            .header("host", "localhost")
            .header("origin", "https://customer.example")
            .header("access-control-request-method", "POST")
            .body(Full::default())
            .unwrap();
        assert!(send(addr, preflight).await.status.is_success());
    }
    for _ in 0..3 {
        envelope(
            &send(addr, chat_request("{oops")).await,
            400,
            "invalid_json",
        );
    }
    envelope(&chat(addr, &hello()).await, 429, "rate_limited");
}

#[tokio::test]
async fn of_200_simultaneous_requests_from_one_ip_exactly_60_succeed() {
    let addr = spawn(state()).await;
    let replies =
        futures_join_all((0..200).map(|_| async move { chat(addr, &hello()).await.status })).await;
    let ok = replies.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = replies
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, limited), (60, 140));
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

fn forwarded(xff: &str) -> Request<Full<axum::body::Bytes>> {
    let mut request = chat_request(hello().to_string());
    request
        .headers_mut()
        .insert("x-forwarded-for", xff.parse().unwrap());
    request
}

#[tokio::test]
async fn a_spoofed_forwarded_for_header_cannot_change_the_key_of_an_untrusted_peer() {
    let (addr, _clock) = clocked(&["--chat-rate-limit", "2/60s"]).await;
    for xff in ["1.1.1.1", "2.2.2.2"] {
        assert_eq!(send(addr, forwarded(xff)).await.status, 200);
    }
    envelope(&send(addr, forwarded("3.3.3.3")).await, 429, "rate_limited");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_first_untrusted_hop_from_the_right_is_the_client() {
    let (addr, _clock) = clocked(&[
        "--chat-rate-limit",
        "1/60s",
        "--trusted-proxies",
        "127.0.0.1,10.0.0.0/8",
    ])
    .await;
    assert_eq!(send(addr, forwarded("203.0.113.7")).await.status, 200);
    // The same client behind a second trusted hop, with a spoofed leftmost entry.
    envelope(
        &send(addr, forwarded("6.6.6.6, 203.0.113.7, 10.1.2.3")).await,
        429,
        "rate_limited",
    );
    // Another client has its own window.
    assert_eq!(send(addr, forwarded("198.51.100.9")).await.status, 200);
}

#[tokio::test]
async fn ipv6_clients_share_a_window_per_64_and_ipv4_mapped_addresses_count_as_ipv4() {
    let (addr, _clock) = clocked(&[
        "--chat-rate-limit",
        "1/60s",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    assert_eq!(send(addr, forwarded("2001:db8:0:1::1")).await.status, 200);
    envelope(
        &send(addr, forwarded("2001:db8:0:1:ffff::2")).await,
        429,
        "rate_limited",
    );
    assert_eq!(send(addr, forwarded("2001:db8:0:2::1")).await.status, 200);
    assert_eq!(send(addr, forwarded("192.0.2.1")).await.status, 200);
    envelope(
        &send(addr, forwarded("::ffff:192.0.2.1")).await,
        429,
        "rate_limited",
    );
}

#[tokio::test]
async fn a_real_ipv6_peer_is_served_and_keyed() {
    let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("note: no IPv6 loopback here; skipping");
        return;
    };
    let addr = listener.local_addr().unwrap();
    let service = support_chat::app::app(with_args(
        &args(&["--chat-rate-limit", "1/60s"]),
        Assets::default(),
    ))
    .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    assert_eq!(chat(addr, &hello()).await.status, 200);
    envelope(&chat(addr, &hello()).await, 429, "rate_limited");
}

/// What is sent (name, content type, body) and what must come back (status, code, param).
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<u8>,
    u16,
    &'a str,
    Option<&'a str>,
);

/// Every bad input the endpoint promises to refuse, and how.
#[tokio::test]
async fn the_whole_bad_input_catalogue_gets_the_documented_envelope_and_never_a_500() {
    let addr = spawn(with_args(
        &args(&["--chat-rate-limit", "1000/60s"]),
        Assets::default(),
    ))
    .await;
    let long = "a".repeat(1001);
    let huge = format!(r#"{{"message": "{}"}}"#, "a".repeat(17 * 1024));
    let cases: Vec<Case> = vec![
        (
            "text/plain body",
            Some("text/plain"),
            hello().to_string().into(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "no content type",
            None,
            hello().to_string().into(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "form body",
            Some("application/x-www-form-urlencoded"),
            b"message=hi".to_vec(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "body over 16 KiB",
            Some("application/json"),
            huge.into(),
            413,
            "payload_too_large",
            None,
        ),
        (
            "empty body",
            Some("application/json"),
            vec![],
            400,
            "invalid_json",
            None,
        ),
        (
            "malformed JSON",
            Some("application/json"),
            b"{\"message\": \"hi\"".to_vec(),
            400,
            "invalid_json",
            None,
        ),
        (
            "trailing garbage",
            Some("application/json"),
            b"{\"message\": \"hi\"} x".to_vec(),
            400,
            "invalid_json",
            None,
        ),
        (
            "invalid UTF-8",
            Some("application/json"),
            b"{\"message\": \"\xff\xfe\"}".to_vec(),
            400,
            "invalid_json",
            None,
        ),
        (
            "array body",
            Some("application/json"),
            b"[]".to_vec(),
            400,
            "invalid_request",
            None,
        ),
        (
            "missing message",
            Some("application/json"),
            b"{}".to_vec(),
            400,
            "invalid_request",
            Some("message"),
        ),
        (
            "message of wrong type",
            Some("application/json"),
            br#"{"message": 42}"#.to_vec(),
            400,
            "invalid_request",
            Some("message"),
        ),
        (
            "message null",
            Some("application/json"),
            br#"{"message": null}"#.to_vec(),
            400,
            "invalid_request",
            Some("message"),
        ),
        (
            "unknown field",
            Some("application/json"),
            br#"{"message": "hi", "admin": true}"#.to_vec(),
            400,
            "invalid_request",
            Some("admin"),
        ),
        (
            "session of wrong type",
            Some("application/json"),
            br#"{"message": "hi", "session": 7}"#.to_vec(),
            400,
            "invalid_request",
            Some("session"),
        ),
        (
            "empty message",
            Some("application/json"),
            br#"{"message": ""}"#.to_vec(),
            400,
            "message_empty",
            Some("message"),
        ),
        (
            "blank message",
            Some("application/json"),
            br#"{"message": " \n\t "}"#.to_vec(),
            400,
            "message_empty",
            Some("message"),
        ),
        (
            "message over 1,000 characters",
            Some("application/json"),
            json!({ "message": long }).to_string().into(),
            400,
            "message_too_long",
            Some("message"),
        ),
        (
            "NUL in message",
            Some("application/json"),
            br#"{"message": "a\u0000b"}"#.to_vec(),
            400,
            "message_invalid_characters",
            Some("message"),
        ),
        (
            "escape sequence in message",
            Some("application/json"),
            br#"{"message": "\u001b[31mred"}"#.to_vec(),
            400,
            "message_invalid_characters",
            Some("message"),
        ),
        (
            "session not ours",
            Some("application/json"),
            br#"{"message": "hi", "session": "abc"}"#.to_vec(),
            400,
            "invalid_session",
            Some("session"),
        ),
        (
            "session uppercase",
            Some("application/json"),
            json!({ "message": "hi", "session": "A".repeat(32) })
                .to_string()
                .into(),
            400,
            "invalid_session",
            Some("session"),
        ),
    ];
    for (name, content_type, body, status, code, param) in cases {
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
async fn awkward_but_valid_messages_are_answered_without_echoing_them() {
    let addr = spawn(state()).await;
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
        assert_eq!(body.as_object().unwrap().len(), 4);
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
    let addr = spawn(state()).await;
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
    let request = Request::get("/public/v1/support/nope/deeper")
        .header("host", "localhost")
        .body(Full::default())
        .unwrap();
    envelope(&send(addr, request).await, 404, "not_found");
}

/// Opens a chat request whose body never finishes arriving.
async fn slow_upload(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"message\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut buffer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[tokio::test]
async fn a_slow_body_ends_with_a_timeout_envelope_not_a_hung_connection() {
    let addr = spawn(with_args(
        &args(&["--request-timeout-secs", "1"]),
        Assets::default(),
    ))
    .await;
    let mut stream = slow_upload(addr).await;
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains(r#""code":"timeout""#), "{response}");
}

#[tokio::test]
async fn beyond_the_in_flight_cap_requests_are_shed_with_503_and_retry_after() {
    let addr = spawn(with_args(
        &args(&["--max-in-flight", "1", "--request-timeout-secs", "5"]),
        Assets::default(),
    ))
    .await;
    let _holding = slow_upload(addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = chat(addr, &hello()).await;
    envelope(&reply, 503, "overloaded");
    assert_eq!(reply.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn request_ids_are_kept_when_well_formed_and_replaced_otherwise() {
    let addr = spawn(state()).await;
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
    let addr = spawn(state()).await;
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

    let addr = spawn(with_args(
        &args(&["--allowed-origins", "https://shop.example"]),
        Assets::default(),
    ))
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
async fn the_file_routes_have_a_flood_guard_that_answers_in_the_envelope() {
    let addr = spawn(with_args(
        &args(&["--files-rate-limit", "2/60s", "--chat-rate-limit", "5/60s"]),
        Assets::default(),
    ))
    .await;
    let page = || {
        Request::get("/")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap()
    };
    assert_eq!(send(addr, page()).await.status, 200);
    assert_eq!(send(addr, page()).await.status, 200);
    let limited = send(addr, page()).await;
    envelope(&limited, 429, "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=31).contains(&retry), "{retry}");
    assert_eq!(
        chat(addr, &hello()).await.status,
        200,
        "the flood guard never limits the chat endpoint"
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
    let operation = &doc["paths"][CHAT]["post"];
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
        assert_eq!(reply.status.as_u16(), status);
        let documented = &operation["responses"][status.to_string()];
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": documented["content"]["application/json"]["schema"]["$ref"].as_str().map_or_else(
                || format!("#/paths/{}/post/responses/{status}/content/application~1json/schema", CHAT.replace('/', "~1")),
                str::to_owned,
            ),
            "paths": doc["paths"],
            "components": doc["components"],
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        let body = reply.json();
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{status}: {body} does not validate: {errors:?}"
        );
        for name in documented["headers"].as_object().unwrap().keys() {
            assert!(
                reply.header(&name.to_lowercase()).is_some(),
                "{status} lacks the documented {name} header"
            );
        }
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
    assert_eq!(listed, support_chat::error::ApiError::catalogue().len());
}
