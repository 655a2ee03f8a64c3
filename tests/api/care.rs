//! The duty of care over the real endpoint and the real database:
//! complaints recognised, recorded with due dates and kept three years;
//! visitors in difficulty given the support wording and a person, counted
//! among flagged conversations; ordinary questions (about complaints too)
//! answered as such.

use axum::http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const COMPLAINT: &str =
    "I've been waiting weeks and nobody answers my emails, this is a disgrace";
const DIFFICULTY: &str = "my husband died last month and I can't cope with the repayments";

async fn say(addr: std::net::SocketAddr, message: &str, session: Option<&str>) -> Value {
    let reply = chat(addr, &json!({ "message": message, "session": session })).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()
}

fn patch(reference: &str, body: Value) -> Request<Full<axum::body::Bytes>> {
    admin_request(
        "PATCH",
        &format!("/admin/api/complaints/{reference}"),
        Some(body),
    )
}

#[tokio::test]
async fn a_complaint_gets_the_approved_words_a_reference_a_person_and_a_record_with_due_dates() {
    let (public, admin, setup) = with_admin(&[]).await;
    let reply = say(public, COMPLAINT, None).await;
    let reference = reply["complaint"]
        .as_str()
        .expect("a complaint reference")
        .to_owned();
    assert!(
        reference.starts_with("CO-") && reference.len() == 12,
        "{reference}"
    );
    let text = reply["reply"].as_str().unwrap();
    assert!(
        text.contains("Financial Ombudsman Service"),
        "the complaints article: {text}"
    );
    assert!(
        text.ends_with(&format!("Your reference is {reference}.")),
        "{text}"
    );
    assert_eq!(reply["handoff"], true, "a person is offered");

    // The conversation goes on: the same complaint, and nothing deflected.
    let session = reply["session"].as_str().unwrap();
    let again = say(
        public,
        "and nobody has called me back either, it's appalling",
        Some(session),
    )
    .await;
    assert_eq!(
        again["complaint"],
        reference.as_str(),
        "one complaint per conversation"
    );
    let vague = say(public, "so what now", Some(session)).await;
    assert_eq!(vague["handoff"], true, "a person, not a guess: {vague}");

    let list = admin_get(admin, "/admin/api/complaints").await.json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let c = &items[0];
    assert_eq!(c["reference"], reference.as_str());
    assert_eq!(c["status"], "open");
    assert_eq!(
        c["message"], COMPLAINT,
        "redacted as recorded (nothing personal here)"
    );
    assert_eq!(c["overdue"], false);
    assert_eq!(c["notice"], "pending", "no way to the team configured here");
    let made: jiff::Timestamp = c["made_at"].as_str().unwrap().parse().unwrap();
    let due = |field: &str| {
        c[field]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    assert_eq!((due("acknowledge_by") - made).get_seconds(), 24 * 3600);
    assert_eq!((due("respond_by") - made).get_seconds(), 56 * 24 * 3600);

    // The team acknowledges it, then resolves it.
    let changed = send(
        admin,
        patch(
            &reference,
            json!({ "status": "acknowledged", "handled_by": "Sam" }),
        ),
    )
    .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let changed = changed.json();
    assert_eq!(
        (changed["status"].as_str(), changed["handled_by"].as_str()),
        (Some("acknowledged"), Some("Sam"))
    );
    assert!(changed["acknowledged_at"].is_string());
    // A change decided on the complaint as it was before that one is
    // refused; decided on it as it is now, made.
    let seen = c["updated_at"].as_str().unwrap();
    envelope(
        &send(
            admin,
            patch(&reference, json!({ "status": "open", "updated_at": seen })),
        )
        .await,
        409,
        "complaint_changed",
    );
    let seen = changed["updated_at"].as_str().unwrap();
    let named = send(
        admin,
        patch(
            &reference,
            json!({ "handled_by": "Alex", "updated_at": seen }),
        ),
    )
    .await;
    assert_eq!(named.status, 200, "{:?}", named.body);
    assert_eq!(named.json()["status"], "acknowledged", "not reopened");
    envelope(
        &send(
            admin,
            patch(
                &reference,
                json!({ "status": "open", "updated_at": "yesterday" }),
            ),
        )
        .await,
        400,
        "invalid_request",
    );
    let open = admin_get(admin, "/admin/api/complaints?status=open")
        .await
        .json();
    assert!(open["items"].as_array().unwrap().is_empty());
    let resolved = send(admin, patch(&reference, json!({ "status": "resolved" })))
        .await
        .json();
    assert!(resolved["resolved_at"].is_string());
    envelope(
        &send(admin, patch(&reference, json!({ "status": "closed" }))).await,
        400,
        "invalid_request",
    );
    envelope(
        &send(admin, patch(&reference, json!({ "stage": "open" }))).await,
        400,
        "invalid_request",
    );
    envelope(
        &send(admin, patch("CO-NONE-NONE", json!({ "status": "open" }))).await,
        404,
        "not_found",
    );
    envelope(
        &admin_get(admin, "/admin/api/complaints?status=lost").await,
        400,
        "invalid_query",
    );

    setup.state.chat.recorder.flush().await;
    let metrics = String::from_utf8(admin_get(admin, "/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.contains("complaints{status=\"resolved\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("complaints_opened_total"), "{metrics}");
}

#[tokio::test]
async fn complaints_sent_at_once_in_one_conversation_are_one_complaint_with_one_reference() {
    let (public, admin, _setup) = with_admin(&[]).await;
    let first = say(public, "How long does an application take?", None).await;
    let session = first["session"].as_str().unwrap().to_owned();
    // A visitor pressing send again and again, or two tabs: each opening
    // looks for the conversation's open complaint before it writes one.
    let replies = all_at_once((0..8).map(|_| {
        let session = session.clone();
        async move { say(public, COMPLAINT, Some(&session)).await }
    }))
    .await;
    let references: std::collections::BTreeSet<&str> = replies
        .iter()
        .map(|r| r["complaint"].as_str().expect("a complaint reference"))
        .collect();
    assert_eq!(references.len(), 1, "{references:?}");
    let list = admin_get(admin, "/admin/api/complaints").await.json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        Some(&items[0]["reference"].as_str().unwrap()),
        references.first()
    );
}

#[tokio::test]
async fn a_complaints_record_holds_no_contact_details_the_visitor_typed() {
    let (public, admin, _setup) = with_admin(&[]).await;
    let reply = say(
        public,
        "This is a disgrace, nobody has replied in three weeks. Email me at jo.bloggs@example.com or ring 07700 900123",
        None,
    )
    .await;
    assert!(reply["complaint"].is_string(), "{reply}");
    let list = admin_get(admin, "/admin/api/complaints").await.json();
    let message = list["items"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("[email]") && message.contains("[phone]"),
        "{message}"
    );
    assert!(
        !message.contains("jo.bloggs") && !message.contains("900123"),
        "{message}"
    );
}

#[tokio::test]
async fn a_visitor_in_difficulty_gets_the_support_words_and_a_person_and_is_counted_as_flagged() {
    let (public, admin, setup) = with_admin(&[]).await;
    let reply = say(public, DIFFICULTY, None).await;
    let text = reply["reply"].as_str().unwrap();
    assert!(
        text.starts_with("Thank you for telling us."),
        "the support article: {text}"
    );
    assert_eq!(reply["handoff"], true);
    assert_eq!(reply["complaint"], Value::Null);
    assert!(
        !text.to_lowercase().contains("vulnerab"),
        "never told how they were classed"
    );
    say(public, "How long does an application take?", None).await;
    setup.state.chat.recorder.flush().await;

    let care = admin_get(admin, "/admin/api/care").await.json();
    let items = care["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{care}");
    let flagged = &items[0];
    let categories = flagged["care"].as_array().unwrap();
    assert!(!categories.is_empty());
    for c in categories {
        assert!(
            ["health", "life_events", "resilience", "capability"].contains(&c.as_str().unwrap()),
            "only a category: {c}"
        );
    }
    assert_eq!(flagged["messages"], 1);
    let id = flagged["conversation"].as_str().unwrap();
    let transcript = admin_get(admin, &format!("/admin/api/conversations/{id}"))
        .await
        .json();
    let turn = &transcript["turns"][0];
    assert_eq!(turn["complaint"], false, "{transcript}");
    assert_eq!(
        turn["care"], categories[0],
        "the turn's own flag: {transcript}"
    );
    let summary = admin_get(admin, "/admin/api/summary?days=2").await.json(); // midnight (UTC) may pass
    assert_eq!(summary["care"]["flagged"]["conversations"], 1, "{summary}");
    assert_eq!(
        summary["care"]["unflagged"]["conversations"], 1,
        "{summary}"
    );
    assert_eq!(summary["care"]["unflagged"]["answered"], 1, "{summary}");
    let metrics = String::from_utf8(admin_get(admin, "/metrics").await.body.to_vec()).unwrap();
    assert!(metrics.contains("care_flags_total{category="), "{metrics}");
}

#[tokio::test]
async fn questions_about_complaints_and_repayments_are_answered_as_ordinary_questions() {
    let (public, admin, setup) = with_admin(&[]).await;
    for (question, article_words) in [
        ("how do I make a complaint?", "Financial Ombudsman Service"),
        ("when is my repayment due?", "repay"),
        ("Who can apply?", "apply"),
    ] {
        let reply = say(public, question, None).await;
        assert_eq!(reply["complaint"], Value::Null, "{question}: {reply}");
        assert_eq!(reply["handoff"], false, "{question}: {reply}");
        assert!(
            reply["reply"].as_str().unwrap().contains(article_words),
            "{question}: {reply}"
        );
    }
    setup.state.chat.recorder.flush().await;
    let complaints = admin_get(admin, "/admin/api/complaints").await.json();
    assert!(complaints["items"].as_array().unwrap().is_empty());
    let care = admin_get(admin, "/admin/api/care").await.json();
    assert!(care["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_complaints_conversation_outlives_the_retention_its_flags_do_not_and_erasure_keeps_the_record()
 {
    use support_chat::domain::care::{Complaint, ComplaintStatus};
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::{RecordedOutcome, TurnRecord, Write};
    use support_chat_assistant::CareCategory;
    // The server's own purge keeps far longer: only the call below purges.
    let (public, admin, setup) = with_admin(&[
        "--retention-days",
        "365",
        "--complaint-retention-days",
        "3650",
    ])
    .await;
    let store = setup.state.records.clone().unwrap();
    let book = setup.state.chat.complaints.clone().unwrap();
    let key = setup.state.chat.recorder.key().clone();
    let day = 24 * 60 * 60 * 1000;
    let old_turn = |session, complaint, care| TurnRecord {
        reply_id: key.reply_id_at(session, now_millis() - 40 * day),
        session: key.session_hash(session),
        message: "an old message".into(),
        outcome: RecordedOutcome::Answered,
        confidence: 0.9,
        article: None,
        embedding: None,
        complaint,
        care,
    };
    let (kept, gone, ancient, unresolved) = (
        support_chat::domain::session::SessionId::mint(),
        support_chat::domain::session::SessionId::mint(),
        support_chat::domain::session::SessionId::mint(),
        support_chat::domain::session::SessionId::mint(),
    );
    store
        .write(vec![
            Write::Turn(old_turn(kept, true, Some(CareCategory::Health))),
            Write::Turn(old_turn(gone, false, Some(CareCategory::Resilience))),
            Write::Turn(old_turn(ancient, true, None)),
            Write::Turn(old_turn(unresolved, true, None)),
        ])
        .await
        .unwrap();
    let recent = Complaint::new(
        key.session_hash(kept),
        "an old complaint".into(),
        now_millis() - 40 * day,
    );
    book.open(&recent).await.unwrap();
    let mut expired = Complaint::new(
        key.session_hash(ancient),
        "a very old complaint".into(),
        now_millis() - 1100 * day,
    );
    expired.set_status(ComplaintStatus::Resolved, now_millis() - 1090 * day);
    book.open(&expired).await.unwrap();
    // As old, but never resolved: still being handled, so kept.
    let standing = Complaint::new(
        key.session_hash(unresolved),
        "a very old complaint still open".into(),
        now_millis() - 1100 * day,
    );
    book.open(&standing).await.unwrap();

    store
        .purge(now_millis() - 30 * day, now_millis() - 1095 * day)
        .await
        .unwrap();
    let conversation = |session| {
        format!(
            "/admin/api/conversations/{}",
            key.session_hash(session).as_str()
        )
    };
    assert_eq!(
        admin_get(admin, &conversation(kept)).await.status,
        200,
        "kept with its complaint"
    );
    assert_eq!(
        admin_get(admin, &conversation(gone)).await.status,
        404,
        "purged on time"
    );
    assert_eq!(
        admin_get(admin, &conversation(ancient)).await.status,
        404,
        "the resolved complaint's three years are over"
    );
    assert_eq!(
        admin_get(admin, &conversation(unresolved)).await.status,
        200,
        "kept with its unresolved complaint"
    );
    let complaints = admin_get(admin, "/admin/api/complaints").await.json();
    let references: Vec<&str> = complaints["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        references,
        [standing.reference.as_str(), recent.reference.as_str()]
    );
    let care = admin_get(admin, "/admin/api/care?days=60").await.json();
    assert!(
        care["items"].as_array().unwrap().is_empty(),
        "the kept conversation lost its flag: {care}"
    );

    // A visitor erasing their conversation erases it, but not the complaint
    // record the rules require us to keep.
    let reply = say(public, COMPLAINT, None).await;
    let session = reply["session"].as_str().unwrap().to_owned();
    let erase = Request::delete(support_chat_api::SESSION_PATH)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(json!({ "session": session }).to_string().into()))
        .unwrap();
    assert_eq!(send(public, erase).await.status, 204);
    let complaints = admin_get(admin, "/admin/api/complaints").await.json();
    assert!(
        complaints["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["reference"] == reply["complaint"])
    );
}

#[tokio::test]
async fn without_records_a_complaint_still_gets_its_words_and_a_person_but_no_reference() {
    let setup = setup_with(&args(&["--record", "off"]), Default::default()).await;
    let public = spawn(setup).await;
    let reply = say(public, COMPLAINT, None).await;
    assert_eq!(reply["complaint"], Value::Null);
    assert_eq!(reply["handoff"], true);
    assert!(
        reply["reply"]
            .as_str()
            .unwrap()
            .contains("Financial Ombudsman Service")
    );
}
