//! The connection-level edge (issue 9): slow headers, idle keep-alive and the
//! connection caps, attacked over real sockets on loopback. Every attack is a
//! bounded number of connections, closed when the test ends.

use std::time::Duration;

use axum::http::Request;
use http_body_util::Full;
use serde_json::json;
use support_chat::http::Assets;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;

const ATTACKER: [u8; 4] = [127, 0, 0, 1];
const VISITOR: [u8; 4] = [127, 0, 0, 2];

/// A connection that sends a request line and one header, then nothing.
async fn slow_headers(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = connect_from(ATTACKER, addr).await;
    stream
        .write_all(b"POST /public/v1/support/chat HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    stream
}

/// A chat request from `from` on fresh connections until one is answered
/// (a closed connection's place is freed once the server sees it close),
/// for at most 5 s.
async fn served_soon(from: [u8; 4], addr: std::net::SocketAddr) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let stream = connect_from(from, addr).await;
        let io = hyper_util::rt::TokioIo::new(stream);
        if let Ok((mut sender, connection)) = hyper::client::conn::http1::handshake(io).await {
            tokio::spawn(connection);
            let request = chat_request(json!({ "message": "hello" }).to_string());
            if let Ok(response) = sender.send_request(request).await {
                return response.status() == 200;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The visitor's chat request on a fresh connection of its own.
async fn visitor_asks(addr: std::net::SocketAddr) -> Reply {
    let body = json!({ "message": "How long does an application take?" }).to_string();
    send_on(connect_from(VISITOR, addr).await, chat_request(body)).await
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed_and_visitors_are_served_meanwhile()
{
    let addr = spawn(
        setup_with(
            &args(&["--header-read-timeout-secs", "1"]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(slow_headers(addr).await);
    }
    let reply = tokio::time::timeout(Duration::from_secs(5), visitor_asks(addr))
        .await
        .expect("a visitor is answered while 100 slow connections are open");
    assert_eq!(reply.status, 200);
    for (i, stream) in held.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "slow connection {i} is still open after the header timeout"
        );
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let addr = spawn(
        setup_with(
            &args(&["--header-read-timeout-secs", "1"]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(4)).await);
    let open_for = started.elapsed();
    assert!(
        open_for >= Duration::from_millis(900),
        "kept alive for the timeout, not closed at once ({open_for:?})"
    );
}

#[tokio::test]
async fn connections_over_the_per_client_cap_are_closed_at_once_while_other_clients_are_served() {
    let addr = spawn(
        setup_with(
            &args(&["--max-connections-per-client", "20"]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(slow_headers(addr).await);
    }
    // Let the server account for them before the next one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = slow_headers(addr).await;
    assert!(
        closed_within(&mut over, Duration::from_secs(1)).await,
        "the 21st connection from one client is closed at once"
    );
    assert_eq!(
        visitor_asks(addr).await.status,
        200,
        "another client is served"
    );
    // A held connection ends: its client may open another.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let request = chat_request(json!({ "message": "hello" }).to_string());
    assert_eq!(
        send_on(connect_from(ATTACKER, addr).await, request)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn connections_over_the_total_cap_are_closed_at_once_and_served_again_when_one_ends() {
    let addr =
        spawn(setup_with(&args(&["--max-connections", "10"]), Assets::default()).await).await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(slow_headers(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from(VISITOR, addr).await;
    assert!(closed_within(&mut over, Duration::from_secs(1)).await);
    held.clear();
    assert!(served_soon(VISITOR, addr).await);
}

#[tokio::test]
async fn trusted_proxies_are_not_held_to_the_per_client_cap() {
    let addr = spawn(
        setup_with(
            &args(&[
                "--max-connections-per-client",
                "2",
                "--trusted-proxies",
                "127.0.0.1",
            ]),
            Assets::default(),
        )
        .await,
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(slow_headers(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let request = Request::get("/healthz")
        .header("host", "localhost")
        .body(Full::default())
        .unwrap();
    assert_eq!(
        send_on(connect_from(ATTACKER, addr).await, request)
            .await
            .status,
        200
    );
}
