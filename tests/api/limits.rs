//! The trust boundary: the per-client rate limit and who the client is,
//! slow bodies, load shedding and the flood guard on the file routes.

use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use axum::http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use support_chat::http::Assets;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

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
    let addr = spawn(setup().await).await;
    let replies =
        all_at_once((0..200).map(|_| async move { chat(addr, &hello()).await.status })).await;
    let ok = replies.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = replies
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, limited), (60, 140));
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
async fn a_byte_over_0x7f_in_x_forwarded_for_does_not_lose_the_entry_the_proxy_appended() {
    let (addr, _clock) = clocked(&[
        "--chat-rate-limit",
        "2/60s",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(send(addr, forwarded("198.51.100.9")).await.status, 200);
    }
    // The client prefixes garbage with a high byte; the proxy appends its
    // real address to the same line. It is still that client, still limited.
    let mut request = chat_request(hello().to_string());
    request.headers_mut().insert(
        "x-forwarded-for",
        axum::http::HeaderValue::from_bytes(b"\xff\xfe spoof, 198.51.100.9").unwrap(),
    );
    envelope(&send(addr, request).await, 429, "rate_limited");
    // And it is not the proxy's window either: another client is served.
    assert_eq!(send(addr, forwarded("198.51.100.10")).await.status, 200);
}

#[tokio::test]
async fn sixtofour_nat64_and_compatible_addresses_count_as_the_ipv4_they_carry() {
    let (addr, _clock) = clocked(&[
        "--chat-rate-limit",
        "1/60s",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    assert_eq!(send(addr, forwarded("192.0.2.33")).await.status, 200);
    for carrier in ["2002:c000:221::1", "64:ff9b::192.0.2.33", "::192.0.2.33"] {
        envelope(&send(addr, forwarded(carrier)).await, 429, "rate_limited");
    }
}

#[tokio::test]
async fn the_64s_of_one_ipv6_allocation_share_its_aggregate_quota() {
    let addr = spawn(
        setup_with(
            &args(&[
                "--chat-rate-limit",
                "2/60s",
                "--ipv6-aggregate-limits",
                "56=5/60s,48=8/60s",
                "--trusted-proxies",
                "127.0.0.1",
            ]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let mut statuses = Vec::new();
    for n in 0..6 {
        let client = format!("2001:db8:0:{n:x}::1");
        statuses.push(send(addr, forwarded(&client)).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "the /56 allows 5");
    let refused = send(addr, forwarded("2001:db8:0:ff::1")).await;
    envelope(&refused, 429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    // Another /56 of the same /48 has its own 5, until the /48's 8 are used.
    let mut other = Vec::new();
    for n in 0..5 {
        let client = format!("2001:db8:0:1{n:x}0::1");
        other.push(send(addr, forwarded(&client)).await.status.as_u16());
    }
    assert_eq!(other, [200, 200, 200, 429, 429], "the /48 allows 8 in all");
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
    let setup = setup_with(&args(&["--chat-rate-limit", "1/60s"]), Assets::default()).await;
    let addr = spawn_on(listener, setup);
    assert_eq!(chat(addr, &hello()).await.status, 200);
    envelope(&chat(addr, &hello()).await, 429, "rate_limited");
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
    let addr =
        spawn(setup_with(&args(&["--request-timeout-secs", "1"]), Assets::default()).await).await;
    let mut stream = slow_upload(addr).await;
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains(r#""code":"timeout""#), "{response}");
}

#[tokio::test]
async fn a_body_that_stalls_gets_a_timeout_envelope_after_the_body_read_timeout() {
    let addr =
        spawn(setup_with(&args(&["--body-read-timeout-secs", "1"]), Assets::default()).await).await;
    let mut stream = slow_upload(addr).await;
    let started = std::time::Instant::now();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains(r#""code":"timeout""#), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_uploads_hold_no_in_flight_place_so_others_are_still_answered() {
    let addr = spawn(
        setup_with(
            &args(&["--max-in-flight", "1", "--body-read-timeout-secs", "10"]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let mut holding = Vec::new();
    for _ in 0..20 {
        holding.push(slow_upload(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        assert_eq!(chat(addr, &hello()).await.status, 200);
    }
}

/// An assistant that answers the message "hold" only when released, and
/// says when it has started: it holds its request's in-flight place as long
/// as a test needs. Other messages are answered at once.
struct Held {
    engine: Arc<dyn support_chat_assistant::Assistant>,
    started: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl support_chat_assistant::Assistant for Held {
    fn reply(
        &self,
        message: &support_chat_assistant::Message,
        history: &[support_chat_assistant::Turn],
    ) -> support_chat_assistant::Answer {
        if message.as_str() != "hold" {
            return self.engine.reply(message, history);
        }
        self.started.store(true, SeqCst);
        // Blocking is fine: answers run on the answer pool, not on the
        // async workers that serve the other connections.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.released.load(SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.engine.reply(message, history)
    }
}

/// A server whose assistant holds the message "hold" until released.
async fn holding(flags: &[&str]) -> (std::net::SocketAddr, Arc<AtomicBool>, Arc<AtomicBool>) {
    let started = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicBool::new(false));
    let held = Arc::new(Held {
        engine: engine(),
        started: started.clone(),
        released: released.clone(),
    });
    let setup = setup_around(&args(flags), held, Assets::default()).await;
    (spawn(setup).await, started, released)
}

async fn until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_answer_thread_is_busy_and_the_queue_full_requests_are_shed_with_503() {
    // One answer thread, no waiting place (the queue itself is tested on
    // `AnswerPool`): while "hold" runs, the next request is shed at once.
    let (addr, started, released) =
        holding(&["--answer-threads", "1", "--answer-queue", "0"]).await;
    let first = tokio::spawn(async move { chat(addr, &json!({ "message": "hold" })).await.status });
    until(&started).await;
    let shed = chat(addr, &hello()).await;
    released.store(true, SeqCst);
    envelope(&shed, 503, "overloaded");
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(first.await.unwrap(), 200, "the running answer completes");
    assert_eq!(
        chat(addr, &hello()).await.status,
        200,
        "and the pool goes on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_answer_queue_of_new_questions_is_answered_in_full() {
    // Every place of the pool taken by questions the encoder has not seen:
    // the answers share the threads (and nest on their stacks), and every
    // one of them is answered.
    let addr = spawn(
        setup_with(
            &args(&[
                "--answer-threads",
                "2",
                "--answer-queue",
                "64",
                "--max-in-flight-per-client",
                "100",
                "--chat-rate-limit",
                "1000/60s",
            ]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let run = unique();
    let statuses = all_at_once((0..66).map(|i| {
        let message =
            format!("question {i} of run {run}: how long until the money arrives in our account");
        async move { chat(addr, &json!({ "message": message })).await.status }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_in_flight_cap_requests_are_shed_with_503_and_retry_after() {
    let (addr, started, released) = holding(&["--max-in-flight", "1"]).await;
    let first = tokio::spawn(async move { chat(addr, &json!({ "message": "hold" })).await.status });
    until(&started).await;
    let reply = chat(addr, &hello()).await;
    released.store(true, SeqCst);
    envelope(&reply, 503, "overloaded");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(
        first.await.unwrap(),
        200,
        "the request in flight is answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_in_flight_places_waits_its_turn_while_others_are_answered() {
    // Two answer threads: "hold" keeps one, the other client's request the other.
    let (addr, started, released) =
        holding(&["--max-in-flight-per-client", "1", "--answer-threads", "2"]).await;
    let held = tokio::spawn(async move { chat(addr, &json!({ "message": "hold" })).await.status });
    until(&started).await;
    let queued = tokio::spawn(async move { chat(addr, &hello()).await.status });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !queued.is_finished(),
        "the client's second request waits for its first"
    );
    let other = send_on(
        connect_from([127, 0, 0, 2], addr).await,
        chat_request(hello().to_string()),
    )
    .await;
    assert_eq!(other.status, 200, "another client is not held up");
    released.store(true, SeqCst);
    assert_eq!(held.await.unwrap(), 200);
    assert_eq!(queued.await.unwrap(), 200, "waited, not refused");
}

#[tokio::test]
async fn the_file_routes_have_a_flood_guard_that_answers_in_the_envelope() {
    let addr = spawn(
        setup_with(
            &args(&["--files-rate-limit", "2/60s", "--chat-rate-limit", "5/60s"]),
            Assets::default(),
        )
        .await,
    )
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
