//! Shared by the integration tests: a real server on port 0 and a tiny client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use support_chat::app::{AppState, app};
use support_chat::assets::Assets;
use support_chat::assistant::{Engine, KnowledgeBase};
use support_chat::config::ServeArgs;
use tokio::net::{TcpListener, TcpStream};

pub const CHAT: &str = "/public/v1/support/chat";

/// The state `make run` would build, but without the widget (no wasm needed).
pub fn state() -> AppState {
    with_assets(Assets::default())
}

/// The state `make run` would build, with the sample knowledge base.
pub fn with_assets(assets: Assets) -> AppState {
    with_args(&ServeArgs::default(), assets)
}

/// The state these flags describe, with the sample knowledge base (trained once per test binary).
pub fn with_args(args: &ServeArgs, assets: Assets) -> AppState {
    static ENGINE: std::sync::OnceLock<Arc<Engine>> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(|| Arc::new(Engine::new(KnowledgeBase::sample())));
    AppState::new(args, engine.clone(), assets).unwrap()
}

/// `ServeArgs` from command-line flags, as the binary would parse them.
pub fn args(flags: &[&str]) -> ServeArgs {
    use clap::Parser;
    let argv = std::iter::once("support-chat").chain(flags.iter().copied());
    support_chat::config::Cli::parse_from(argv).serve
}

/// Starts the real router on 127.0.0.1:0 and returns its address.
pub async fn spawn(state: AppState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends one request on a fresh connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A JSON POST to the chat endpoint with `body` as is.
pub fn chat_request(body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(CHAT)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

pub async fn chat(addr: SocketAddr, body: &Value) -> Reply {
    send(addr, chat_request(body.to_string())).await
}

/// A widget build and a public folder in a fresh temporary directory.
pub fn fixture() -> (PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!(
        "support-chat-assets-{}",
        support_chat::random_hex::<8>()
    ));
    let site = root.join("site");
    let public = root.join("public");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(
        site.join("pkg/support_chat_widget.js"),
        "export default function init() {}",
    )
    .unwrap();
    std::fs::write(
        site.join("pkg/support_chat_widget_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(
        site.join("widget.js"),
        "var version = \"__SUPPORT_CHAT_VERSION__\"; var max = \"__SUPPORT_CHAT_MAX_CHARS__\";"
            .repeat(20),
    )
    .unwrap();
    std::fs::write(site.join("widget.css"), ":host { color: red; }").unwrap();
    std::fs::write(public.join("demo.css"), "body { margin: 0 }").unwrap();
    (site, public)
}
