//! The chat endpoint and its neighbours over real HTTP.

use axum::http::Request;
use http_body_util::Full;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_seed_question_gets_a_sensible_answer_and_a_session() {
    let addr = spawn(setup().await).await;
    let reply = chat(
        addr,
        &json!({ "message": "How long does an application take?" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert!(
        body["reply"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("appl"),
        "{body}"
    );
    assert!(body["session"].as_str().unwrap().len() == 32);
    assert!(body["suggestions"].is_array());
    assert_eq!(body["handoff"], false);
    assert_eq!(
        body["complaint"],
        serde_json::Value::Null,
        "no complaint, no reference"
    );
    let reply_id = body["reply_id"].as_str().unwrap();
    assert!(reply_id.len() == 32 && reply_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        body.as_object().unwrap().len(),
        6,
        "the success shape is fixed: {body}"
    );
}

#[tokio::test]
async fn echoing_the_session_continues_the_conversation() {
    let addr = spawn(setup().await).await;
    let first = chat(addr, &json!({ "message": "hello" })).await.json();
    let session = first["session"].as_str().unwrap();
    let second = chat(
        addr,
        &json!({ "message": "Do I need a personal guarantee?", "session": session }),
    )
    .await
    .json();
    assert_eq!(second["session"], session);
}

#[tokio::test]
async fn a_cross_origin_preflight_is_answered_for_a_json_post() {
    let addr = spawn(setup().await).await;
    let preflight = Request::options(CHAT)
        .header("host", "localhost")
        .header("origin", "https://customer.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Full::default())
        .unwrap();
    let reply = send(addr, preflight).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(
        reply
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        reply
            .header("access-control-allow-headers")
            .unwrap()
            .contains("content-type")
    );
    assert_eq!(reply.header("access-control-max-age"), Some("86400"));
}

#[tokio::test]
async fn the_demo_page_embeds_the_widget_with_the_two_public_tags() {
    let addr = spawn(setup().await).await;
    let page = send(
        addr,
        Request::get("/")
            .header("host", "evil.example\"><script>")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("public, max-age=300"));
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains(r#"<script src="/public/v1/support/widget.js" defer"#),
        "{html}"
    );
    assert!(html.contains(r#"<link rel="stylesheet" href="/public/v1/support/widget.css""#));
    assert!(
        !html.contains("evil.example"),
        "the Host header is not reflected"
    );
    assert!(html.contains("Funding for UK limited companies"));
}

#[tokio::test]
async fn the_demo_page_runs_under_a_strict_policy_whose_nonce_its_scripts_carry() {
    let addr = spawn(setup().await).await;
    let page = send(
        addr,
        Request::get("/")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    let policy = page
        .header("content-security-policy")
        .expect("a policy")
        .to_owned();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    // Every inline script carries the nonce the policy names; nothing else is inline.
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap();
        if tag.contains("src=") {
            continue;
        }
        let nonce = tag
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("an inline script without a nonce: <script{tag}>"));
        assert!(
            policy.contains(&format!("'nonce-{nonce}'")),
            "{policy} / {nonce}"
        );
    }
    assert!(!html.contains("style=\""), "no inline styles");
}

#[tokio::test]
async fn with_a_public_url_the_demo_page_and_its_snippets_name_it() {
    let args = args(&["--public-url", "https://chat.example.com/"]);
    let addr = spawn(setup_with(&args, support_chat::http::Assets::default()).await).await;
    let page = send(
        addr,
        Request::get("/")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(
        html.contains(
            r#"<script src="https://chat.example.com/public/v1/support/widget.js" defer"#
        ),
        "{html}"
    );
    assert!(
        html.contains("&lt;script src=\"https://chat.example.com/public/v1/support/widget.js\"")
    );
    assert!(
        !html.contains("data-origin"),
        "nothing for demo.js to fill in"
    );
}

#[tokio::test]
async fn healthz_answers_ok() {
    let addr = spawn(setup().await).await;
    let reply = send(
        addr,
        Request::get("/healthz")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({ "status": "ok" }));
}
