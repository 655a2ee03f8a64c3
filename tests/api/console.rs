//! The operator console over real HTTP on the admin listener: signing in
//! and out, the cookie's attributes, refusals (no session, a wrong or
//! missing form token, a post from another site), the policy headers, and
//! the complaints queue worked through its forms.

use std::net::SocketAddr;

use axum::http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::helpers::*;

/// The console's routes and the method each answers.
const PAGES: [&str; 6] = [
    "/console",
    "/console/inbox",
    "/console/complaints",
    "/console/conversations",
    "/console/handoffs",
    "/console/kb",
];
const POSTS: [&str; 7] = [
    "/console/sign-out",
    "/console/inbox/0123456789abcdef0123456789abcdef/add",
    "/console/inbox/0123456789abcdef0123456789abcdef/dismiss",
    "/console/complaints/CO-AAAA-AAAA",
    "/console/complaints/CO-AAAA-AAAA/notice",
    "/console/handoffs/HO-AAAA-AAAA/retry",
    "/console/conversations/0123456789abcdef0123456789abcdef/erase",
];

fn form(path: &str, cookie: Option<&str>, body: &str) -> Request<Full<axum::body::Bytes>> {
    let mut request = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Full::new(body.to_owned().into())).unwrap()
}

pub(crate) fn get(path: &str, cookie: Option<&str>) -> Request<Full<axum::body::Bytes>> {
    let mut request = Request::get(path).header("host", "localhost");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Full::default()).unwrap()
}

/// The sign-in form, filled with the right token.
fn sign_in_form() -> Request<Full<axum::body::Bytes>> {
    form(
        "/console/sign-in",
        None,
        &format!("token={}", ADMIN_TOKEN.replace(' ', "+")),
    )
}

pub(crate) fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// The value of the first `name="csrf"` field on a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    page[at..at + 32].to_owned()
}

/// Signs in: the session cookie (`console=…`) and the overview's form token.
pub(crate) async fn sign_in(admin: SocketAddr) -> (String, String) {
    let reply = send(admin, sign_in_form()).await;
    assert_eq!(reply.status, 303, "{}", text(&reply));
    assert_eq!(reply.header("location"), Some("/console"));
    let cookie = reply.header("set-cookie").unwrap().to_owned();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let overview = send(admin, get("/console", Some(&pair))).await;
    assert_eq!(overview.status, 200, "{}", text(&overview));
    (pair, csrf_of(&text(&overview)))
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_every_page_has_a_strict_policy() {
    let (_public, admin, _setup) = with_admin(&[]).await;
    let page = send(admin, get("/console/sign-in", None)).await;
    assert_eq!(page.status, 200);
    assert!(text(&page).contains("<label for=\"token\">Admin token</label>"));

    let reply = send(admin, sign_in_form()).await;
    let cookie = reply.header("set-cookie").unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
    assert!(
        !cookie.contains(ADMIN_TOKEN),
        "the cookie is a session id, never the token"
    );
    // Behind a TLS proxy the cookie is Secure.
    let mut over_tls = sign_in_form();
    over_tls
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    assert!(
        send(admin, over_tls)
            .await
            .header("set-cookie")
            .unwrap()
            .contains("; Secure")
    );

    let (cookie, _) = sign_in(admin).await;
    for path in PAGES.iter().chain(["/console/sign-in"].iter()) {
        let reply = send(admin, get(path, Some(&cookie))).await;
        assert_eq!(reply.status, 200, "{path}: {}", text(&reply));
        let policy = reply.header("content-security-policy").unwrap();
        assert!(
            policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(
            !policy.contains("script-src"),
            "the console runs no script: {policy}"
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
        assert!(
            text(&reply).starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{path}"
        );
    }
    // A console address that is no page gets a page too, with the same
    // policy; the API's get the JSON envelope.
    let missing = send(admin, get("/console/no-such-page", Some(&cookie))).await;
    assert_eq!(missing.status, 404);
    assert!(
        text(&missing).contains("<h1>Not found</h1>"),
        "{}",
        text(&missing)
    );
    assert!(
        missing
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    // A page asked for with a method it does not take: a page too, and
    // the methods it does take.
    let mut delete = get("/console/inbox", Some(&cookie));
    *delete.method_mut() = axum::http::Method::DELETE;
    let refused = send(admin, delete).await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow"), Some("GET,HEAD"));
    assert!(
        text(&refused).contains("<h1>Not allowed</h1>"),
        "{}",
        text(&refused)
    );
    assert!(
        refused
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let sign_out = send(admin, get("/console/sign-out", Some(&cookie))).await;
    assert_eq!(sign_out.status, 405);
    assert_eq!(sign_out.header("allow"), Some("POST"));
    envelope(
        &admin_get(admin, "/admin/api/no-such-thing").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn every_console_route_refuses_a_request_without_a_session_and_a_form_from_another_site() {
    let (_public, admin, _setup) = with_admin(&[]).await;
    for path in PAGES {
        let reply = send(admin, get(path, None)).await;
        assert_eq!(reply.status, 303, "{path}");
        assert_eq!(reply.header("location"), Some("/console/sign-in"), "{path}");
        let forged = send(
            admin,
            get(path, Some("console=0123456789abcdef0123456789abcdef")),
        )
        .await;
        assert_eq!(forged.status, 303, "an unknown session: {path}");
    }
    let (cookie, csrf) = sign_in(admin).await;
    for path in POSTS {
        let body = format!("csrf={csrf}&status=resolved&article=cost");
        assert_eq!(
            send(admin, form(path, None, &body)).await.status,
            403,
            "no session: {path}"
        );
        let wrong = send(
            admin,
            form(path, Some(&cookie), "csrf=0&status=resolved&article=cost"),
        )
        .await;
        assert_eq!(wrong.status, 403, "a wrong form token: {path}");
        for (header, value) in [
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let mut request = form(path, Some(&cookie), &body);
            request.headers_mut().insert(header, value.parse().unwrap());
            let reply = send(admin, request).await;
            assert_eq!(reply.status, 403, "{header}: {path}");
            assert!(text(&reply).contains("another site"), "{path}");
        }
    }
    // Signing in from another site's form is refused too.
    let mut request = form("/console/sign-in", None, "token=x");
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert_eq!(send(admin, request).await.status, 403);
}

#[tokio::test]
async fn a_wrong_token_is_told_and_counted_and_ten_a_minute_lock_the_client_out() {
    let (_public, admin, _setup) = with_admin(&[]).await;
    for _ in 0..10 {
        let reply = send(admin, form("/console/sign-in", None, "token=not+the+token")).await;
        assert_eq!(reply.status, 401);
        assert!(text(&reply).contains("That is not the admin token."));
        assert!(reply.header("set-cookie").is_none());
    }
    let eleventh = send(admin, form("/console/sign-in", None, "token=not+the+token")).await;
    assert_eq!(eleventh.status, 429);
    let locked = send(admin, sign_in_form()).await;
    assert_eq!(
        locked.status, 429,
        "even the right token, until the minute is over"
    );
    assert!(text(&locked).contains("Too many failed attempts"));
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(text(&locked).contains(&format!("Try again in {retry_after} seconds")));
}

#[tokio::test]
async fn a_form_missing_a_field_gets_a_page_that_says_so_and_changes_nothing() {
    let (_public, admin, _setup) = with_admin(&[]).await;
    let (cookie, csrf) = sign_in(admin).await;
    for (path, body) in [
        ("/console/sign-out", String::new()),
        ("/console/complaints/CO-0000-0000", format!("csrf={csrf}")),
        (
            "/console/handoffs/HO-0000-0000/retry",
            "csrf=a&csrf=b".to_owned(),
        ),
    ] {
        let reply = send(admin, form(path, Some(&cookie), &body)).await;
        assert_eq!(reply.status, 400, "{path}: {}", text(&reply));
        let page = text(&reply);
        assert!(page.contains("<h1>Not understood</h1>"), "{path}: {page}");
        assert!(
            reply.header("content-security-policy").is_some(),
            "a console page like the others"
        );
    }
    assert_eq!(
        send(admin, get("/console", Some(&cookie))).await.status,
        200,
        "still signed in"
    );
}

#[tokio::test]
async fn without_an_admin_token_there_is_no_console() {
    let setup = setup_with(&args(&[]), Default::default()).await;
    let (_public, admin) = spawn_both(setup).await;
    assert_eq!(send(admin, get("/console/sign-in", None)).await.status, 404);
    assert_eq!(send(admin, get("/console", None)).await.status, 404);
}

#[tokio::test]
async fn the_overview_counts_the_conversations_and_a_complaint_is_worked_through_the_queue() {
    let (public, admin, setup) = with_admin(&[]).await;
    let complaint = "I've been waiting weeks and nobody answers my emails, this is a disgrace";
    let said = chat(public, &json!({ "message": complaint })).await.json();
    let reference = said["complaint"].as_str().unwrap().to_owned();
    chat(public, &json!({ "message": "How much can I borrow?" })).await;
    setup.state.chat.recorder.flush().await;

    let (cookie, csrf) = sign_in(admin).await;
    let overview = text(&send(admin, get("/console", Some(&cookie))).await);
    assert!(
        overview.contains("<dt>Conversations</dt><dd>2</dd>"),
        "{overview}"
    );
    assert!(
        overview.contains("<dt>Complaints not resolved</dt><dd>1</dd>"),
        "{overview}"
    );
    assert!(
        overview.contains("<svg class=\"chart\""),
        "a chart, and a table of the same numbers"
    );

    let queue = text(&send(admin, get("/console/complaints", Some(&cookie))).await);
    assert!(queue.contains(&format!("<h2>{reference}</h2>")), "{queue}");
    assert!(queue.contains("this is a disgrace"), "the redacted words");
    let at = queue
        .find("href=\"/console/conversations/")
        .expect("a transcript link")
        + 6;
    let href = &queue[at..at + queue[at..].find('"').unwrap()];
    let transcript = text(&send(admin, get(href, Some(&cookie))).await);
    assert!(
        transcript.contains("<td>complaint</td>"),
        "the turn is flagged: {transcript}"
    );
    // The form says which version of the complaint the person decided on.
    let marker = "name=\"updated\" value=\"";
    let at = queue.find(marker).expect("the version it shows") + marker.len();
    let updated = &queue[at..at + queue[at..].find('"').unwrap()];
    let decide = |status: &str| {
        form(
            &format!("/console/complaints/{reference}"),
            Some(&cookie),
            &format!("csrf={csrf}&status={status}&updated={updated}"),
        )
    };
    let change = send(admin, decide("acknowledged")).await;
    assert_eq!(change.status, 303, "{}", text(&change));
    assert_eq!(change.header("location"), Some("/console/complaints"));
    let listed = admin_get(admin, "/admin/api/complaints").await.json();
    assert_eq!(listed["items"][0]["status"], "acknowledged");
    assert!(listed["items"][0]["acknowledged_at"].is_string());
    // The same page sent again, as a colleague's open tab would: refused,
    // told what it is now, and nothing changed.
    let stale = send(admin, decide("open")).await;
    assert_eq!(stale.status, 409);
    let page = text(&stale);
    assert!(
        page.contains("Changed since you looked") && page.contains("it is now acknowledged"),
        "{page}"
    );
    let listed = admin_get(admin, "/admin/api/complaints").await.json();
    assert_eq!(listed["items"][0]["status"], "acknowledged");

    // Signing out ends the session: its cookie opens nothing after.
    let out = send(
        admin,
        form("/console/sign-out", Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        send(admin, get("/console", Some(&cookie))).await.status,
        303
    );
}

#[tokio::test]
async fn each_complaint_says_whether_its_conversation_asked_for_a_person() {
    let (public, admin, setup) = with_admin(&[
        "--handoff-webhook-url",
        "http://127.0.0.1:9/hook",
        "--handoff-webhook-secret",
        "a webhook secret of some length",
    ])
    .await;
    let complaint = "I've been waiting weeks and nobody answers my emails, this is a disgrace";
    let asked = chat(public, &json!({ "message": complaint })).await.json();
    let alone = chat(public, &json!({ "message": complaint })).await.json();
    setup.state.chat.recorder.flush().await;
    let handoff = json!({ "session": asked["session"], "email": "jo@example.com" });
    let taken = send(public, crate::handoff::handoff_request(&handoff)).await;
    assert_eq!(taken.status, 202, "{}", text(&taken));
    let reference = taken.json()["reference"].as_str().unwrap().to_owned();

    let (cookie, _) = sign_in(admin).await;
    let queue = text(&send(admin, get("/console/complaints", Some(&cookie))).await);
    let item = |complaint: &Value| {
        let at = queue
            .find(&format!(
                "<h2>{}</h2>",
                complaint["complaint"].as_str().unwrap()
            ))
            .expect("listed");
        queue[at..at + queue[at..].find("</li>").unwrap()].to_owned()
    };
    assert!(
        item(&asked).contains(&format!("Handoff {reference}: ")),
        "{queue}"
    );
    assert!(item(&alone).contains("No handoff asked for."), "{queue}");
    // Its webhook refuses connections: the notice is still to go.
    assert!(
        item(&alone).contains("The team is not told yet."),
        "{queue}"
    );
}

#[tokio::test]
async fn a_complaint_whose_notice_failed_shows_why_and_the_team_is_told_again_from_the_queue() {
    // The webhook refuses the one attempt allowed, then takes the next.
    let receiver = crate::handoff::Receiver::start(1, std::time::Duration::ZERO).await;
    let mut flags = crate::handoff::webhook_flags(&receiver);
    flags.extend(["--handoff-max-attempts", "1"].map(str::to_owned));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (public, admin, _setup) = with_admin(&flags).await;
    let complaint = "I've been waiting weeks and nobody answers my emails, this is a disgrace";
    let said = chat(public, &json!({ "message": complaint })).await.json();
    let reference = said["complaint"].as_str().unwrap().to_owned();
    let (cookie, csrf) = sign_in(admin).await;
    let item = || async {
        let queue = text(&send(admin, get("/console/complaints", Some(&cookie))).await);
        let at = queue
            .find(&format!("<h2>{reference}</h2>"))
            .expect("listed");
        queue[at..at + queue[at..].find("</li>").unwrap()].to_owned()
    };
    // The item once it says `wanted`, within 20 s.
    let item_saying = |wanted: &'static str| {
        let item = &item;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let found = item().await;
                if found.contains(wanted) {
                    return found;
                }
                assert!(std::time::Instant::now() < deadline, "{found}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let failed = item_saying("Telling the team failed: webhook: ").await;
    assert!(failed.contains("500"), "the error is shown: {failed}");
    let action = format!("/console/complaints/{reference}/notice");
    assert!(failed.contains(&format!("action=\"{action}\"")), "{failed}");
    assert!(failed.contains("Tell the team again"), "{failed}");

    let body = format!("csrf={csrf}");
    let again = send(admin, form(&action, Some(&cookie), &body)).await;
    assert_eq!(again.status, 303, "{}", text(&again));
    assert_eq!(again.header("location").unwrap(), "/console/complaints");
    receiver
        .wait_for(1, std::time::Duration::from_secs(20))
        .await;
    let told = item_saying("The team was told when it was made.").await;
    assert!(!told.contains("Tell the team again"), "{told}");
    // Sent: a second press (a stale page) changes nothing and says so.
    let stale = send(admin, form(&action, Some(&cookie), &body)).await;
    assert_eq!(stale.status, 409);
    assert!(
        text(&stale).contains("notice has not failed, or the complaint is no longer open"),
        "{}",
        text(&stale)
    );
    let unknown = "/console/complaints/CO-NONE-NONE/notice";
    let missing = send(admin, form(unknown, Some(&cookie), &body)).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn an_unanswered_question_added_from_the_inbox_is_answered_by_that_article_next_time() {
    let kb = sample_kb_copy();
    let (public, admin, _knowledge, setup) =
        with_knowledge_and_setup(support_chat::domain::knowledge::KbSource::Dir(kb.clone())).await;
    let question = "do you have a branch in Manchester?";
    let before = chat(public, &json!({ "message": question })).await.json();
    assert_eq!(before["handoff"], true, "not answered yet: {before}");
    chat(
        public,
        &json!({ "message": "Where is your branch in Leeds?" }),
    )
    .await;
    setup.state.chat.recorder.flush().await;

    let (cookie, csrf) = sign_in(admin).await;
    let inbox = text(&send(admin, get("/console/inbox", Some(&cookie))).await);
    assert!(
        inbox.contains("do you have a branch in Manchester"),
        "{inbox}"
    );
    let at = inbox.find("action=\"/console/inbox/").unwrap() + 8;
    let action = &inbox[at..at + inbox[at..].find('"').unwrap()];
    assert!(action.ends_with("/add"), "{action}");
    let item_text = &inbox[..at];
    let item_text = &item_text[item_text.rfind("<h2>").unwrap() + 4..];
    let item_text = item_text[..item_text.find("</h2>").unwrap()].to_owned();

    let added = send(
        admin,
        form(
            action,
            Some(&cookie),
            &format!("csrf={csrf}&article=what-we-offer"),
        ),
    )
    .await;
    assert_eq!(added.status, 303, "{}", text(&added));
    assert_eq!(
        added.header("location"),
        Some("/console/inbox?added=what-we-offer")
    );
    let after = text(
        &send(
            admin,
            get("/console/inbox?added=what-we-offer", Some(&cookie)),
        )
        .await,
    );
    assert!(after.contains("Added to “what-we-offer”"), "{after}");
    assert!(
        !after.contains(&format!("<h2>{item_text}</h2>")),
        "out of the inbox: {after}"
    );
    let file = std::fs::read_to_string(kb.join("what-we-offer.md")).unwrap();
    assert!(file.contains(&item_text), "{file}");

    // The knowledge base page counts it, and runs the check on request.
    let kb_page = text(&send(admin, get("/console/kb", Some(&cookie))).await);
    assert!(
        kb_page.contains("<th scope=\"row\">what-we-offer</th>"),
        "{kb_page}"
    );
    let checked = text(&send(admin, get("/console/kb?check=1", Some(&cookie))).await);
    assert!(checked.contains("5-fold cross-validation"), "{checked}");
    assert!(checked.contains("Duty-of-care detectors"), "{checked}");
    assert!(
        checked.contains("Each fold's engine untuned"),
        "the console's check says it is the untuned one: {checked}"
    );

    // The next visitor asking it gets that article.
    chat(public, &json!({ "message": item_text })).await;
    setup.state.chat.recorder.flush().await;
    let export = admin_get(admin, "/admin/api/export").await;
    let last: serde_json::Value = String::from_utf8_lossy(&export.body)
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(
        (last["outcome"].as_str(), last["article_id"].as_str()),
        (Some("answered"), Some("what-we-offer")),
        "{last}"
    );

    // Dismissing takes an item out for good.
    let inbox = text(&send(admin, get("/console/inbox", Some(&cookie))).await);
    let other = if item_text.contains("Manchester") {
        "Leeds"
    } else {
        "Manchester"
    };
    assert!(
        inbox.contains(other),
        "the other question, still there: {inbox}"
    );
    let at = inbox.find("/dismiss\"").unwrap();
    let start = inbox[..at].rfind("action=\"").unwrap() + 8;
    let action = format!("{}/dismiss", &inbox[start..at]);
    let dismissed = send(admin, form(&action, Some(&cookie), &format!("csrf={csrf}"))).await;
    assert_eq!(dismissed.status, 303);
    let inbox = text(&send(admin, get("/console/inbox", Some(&cookie))).await);
    assert!(!inbox.contains(other), "{inbox}");
}

#[tokio::test]
async fn conversations_are_searched_read_redacted_exported_and_erased() {
    let (public, admin, setup) = with_admin(&[]).await;
    let said = chat(
        public,
        &json!({ "message": "How long does an application take? write to jo.bloggs@example.com" }),
    )
    .await
    .json();
    let session = said["session"].as_str().unwrap();
    chat(
        public,
        &json!({ "message": "and who can apply?", "session": session }),
    )
    .await;
    chat(public, &json!({ "message": "hello" })).await;
    setup.state.chat.recorder.flush().await;

    let (cookie, csrf) = sign_in(admin).await;
    let list = text(
        &send(
            admin,
            get("/console/conversations?q=application", Some(&cookie)),
        )
        .await,
    );
    let at = list
        .find("href=\"/console/conversations/")
        .expect("one listed")
        + 6;
    let href = list[at..at + list[at..].find('"').unwrap()].to_owned();
    assert_eq!(
        list.matches("href=\"/console/conversations/").count(),
        1,
        "only the match: {list}"
    );

    let transcript = text(&send(admin, get(&href, Some(&cookie))).await);
    assert!(
        transcript.contains("write to [email]"),
        "redacted as stored: {transcript}"
    );
    assert!(!transcript.contains("jo.bloggs"), "{transcript}");
    assert!(transcript.contains("and who can apply?"), "{transcript}");
    assert!(
        transcript.contains("application-time ("),
        "the article and its version: {transcript}"
    );

    let id = href.rsplit('/').next().unwrap().to_owned();
    let csv = send(
        admin,
        get(
            &format!("/console/export?format=csv&conversation={id}"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        text(&csv).lines().count(),
        3,
        "a header and two turns: {}",
        text(&csv)
    );
    assert_eq!(
        send(admin, get("/console/export?format=csv", None))
            .await
            .status,
        303,
        "signed in only"
    );

    let page = text(&send(admin, get(&href, Some(&cookie))).await);
    assert!(
        page.contains(r#"<input type="checkbox" name="confirm" value="yes" required"#),
        "{page}"
    );
    let unconfirmed = send(
        admin,
        form(
            &format!("{href}/erase"),
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(unconfirmed.status, 400, "{}", text(&unconfirmed));
    assert!(text(&unconfirmed).contains("Nothing was erased"));
    assert_eq!(send(admin, get(&href, Some(&cookie))).await.status, 200);
    let erased = send(
        admin,
        form(
            &format!("{href}/erase"),
            Some(&cookie),
            &format!("csrf={csrf}&confirm=yes"),
        ),
    )
    .await;
    assert_eq!(erased.status, 200, "{}", text(&erased));
    assert!(text(&erased).contains("was erased"));
    assert_eq!(send(admin, get(&href, Some(&cookie))).await.status, 404);
    assert_eq!(
        admin_get(admin, &format!("/admin/api/conversations/{id}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_sign_in_holds_on_every_replica_on_the_database_and_a_sign_out_ends_it_on_all() {
    let database = fresh_database().await;
    let (_, first, _first) = with_admin(&["--database", &database]).await;
    let (_, second, _second) = with_admin(&["--database", &database]).await;
    let (cookie, csrf) = sign_in(first).await;
    let there = send(second, get("/console", Some(&cookie))).await;
    assert_eq!(there.status, 200, "signed in on the other replica too");
    assert_eq!(csrf_of(&text(&there)), csrf, "the same session");
    // Filed under the cookie's SHA-256, never the cookie itself.
    use sqlx::Connection;
    let mut db = sqlx::AnyConnection::connect(&database).await.unwrap();
    let filed: Vec<String> = sqlx::query_scalar("SELECT cookie_hash FROM console_sessions")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let id = cookie.split_once('=').unwrap().1;
    assert_eq!(filed, [support_chat::domain::console::cookie_hash(id)]);

    let out = send(
        second,
        form("/console/sign-out", Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(out.status, 303);
    for replica in [first, second] {
        let after = send(replica, get("/console", Some(&cookie))).await;
        assert_eq!(after.status, 303, "signed out everywhere");
        assert_eq!(after.header("location"), Some("/console/sign-in"));
    }
}

#[tokio::test]
async fn with_records_off_the_console_keeps_its_sessions_in_memory() {
    let (_, admin, _setup) = with_admin(&["--record", "off"]).await;
    let (cookie, csrf) = sign_in(admin).await;
    let out = send(
        admin,
        form("/console/sign-out", Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(out.status, 303);
    assert_eq!(
        send(admin, get("/console", Some(&cookie))).await.status,
        303
    );
}
