//! The widget's files as a customer's page fetches them.

use axum::http::Request;
use http_body_util::Full;
use support_chat::http::Assets;

use crate::helpers::*;

async fn server() -> std::net::SocketAddr {
    let (site, public) = fixture();
    let assets = Assets::load(&site, &public, 640).unwrap();
    spawn(setup_with_assets(assets).await).await
}

fn get(path: &str) -> axum::http::request::Builder {
    Request::get(path)
        .header("host", "localhost")
        .header("origin", "https://customer.example")
}

#[tokio::test]
async fn the_loader_names_the_content_hashed_build_and_is_revalidated_by_etag() {
    let addr = server().await;
    let loader = send(
        addr,
        get("/public/v1/support/widget.js")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(loader.status, 200);
    assert_eq!(
        loader.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(loader.header("access-control-allow-origin"), Some("*"));
    assert_eq!(loader.header("cache-control"), Some("public, max-age=300"));
    let text = String::from_utf8(loader.body.to_vec()).unwrap();
    assert!(!text.contains("__SUPPORT_CHAT_VERSION__"));
    assert!(
        text.contains(r#"var max = "640";"#),
        "the widget is told the server's message limit"
    );
    let version = text.split('"').nth(1).unwrap().to_owned();
    assert_eq!(version.len(), 16);

    let etag = loader.header("etag").unwrap();
    let again = send(
        addr,
        get("/public/v1/support/widget.js")
            .header("if-none-match", etag)
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let wasm = send(
        addr,
        get(&format!("/public/v1/support/widget-{version}.wasm"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(
        wasm.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let glue = send(
        addr,
        get(&format!("/public/v1/support/widget-{version}.js"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(glue.status, 200);
}

#[tokio::test]
async fn assets_are_served_compressed_when_the_browser_accepts_it() {
    let addr = server().await;
    let fetch = |encoding: &'static str| {
        get("/public/v1/support/widget.js")
            .header("accept-encoding", encoding)
            .body(Full::default())
            .unwrap()
    };
    let plain = send(addr, fetch("identity")).await;
    let br = send(addr, fetch("gzip, deflate, br")).await;
    let gzip = send(addr, fetch("gzip")).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert!(br.body.len() < plain.body.len() && gzip.body.len() < plain.body.len());
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    // Each encoding is its own representation, with its own validator.
    let tags = [&plain, &br, &gzip].map(|r| r.header("etag").unwrap().to_owned());
    assert!(
        tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
        "{tags:?}"
    );
    let revalidate = |encoding: &'static str, tag: &str| {
        get("/public/v1/support/widget.js")
            .header("accept-encoding", encoding)
            .header("if-none-match", tag)
            .body(Full::default())
            .unwrap()
    };
    assert_eq!(send(addr, revalidate("br", &tags[1])).await.status, 304);
    let other = send(addr, revalidate("gzip", &tags[1])).await;
    assert_eq!(
        other.status, 200,
        "a brotli tag does not validate the gzip body"
    );
    assert_eq!(other.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn the_stylesheet_and_public_files_are_served_and_others_are_404_envelopes() {
    let addr = server().await;
    let css = send(
        addr,
        get("/public/v1/support/widget.css")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let demo = send(addr, get("/demo.css").body(Full::default()).unwrap()).await;
    assert_eq!(demo.status, 200);
    let missing = send(
        addr,
        get("/public/v1/support/widget-0000.wasm")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
}

#[test]
fn a_missing_widget_build_is_a_clear_start_up_error() {
    let error = Assets::load("/nonexistent/site".as_ref(), "public".as_ref(), 1000)
        .unwrap_err()
        .to_string();
    assert!(error.contains("make build"), "{error}");
}
