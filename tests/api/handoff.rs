//! Handoffs that reach a person, with real parts: a real SMTP server
//! (aiosmtpd, `make setup-smtp`) the tests read the mail from, a real HTTP
//! receiver that verifies the webhook's signature, the real outbox in the
//! records database (SQLite, or PostgreSQL under `.ci/with-postgres.sh`),
//! and the real binary across a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Request;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use serde_json::{Value, json};
use sha2::Sha256;
use support_chat_api::{HANDOFF_PATH, STATUS_PATH};

use crate::helpers::*;

const WEBHOOK_SECRET: &str = "a webhook secret of some length";
/// A question the sample knowledge base hands off, with a phone number that
/// must not reach the team unredacted.
const QUESTION: &str = "do you have an office in Manchester? call me on 07700 900123";

/// A free port on loopback (for a server started after it is chosen).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real SMTP server (aiosmtpd) on `port`, writing each message it gets
/// to a folder as JSON; stopped by pid when dropped.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl SmtpSink {
    fn start(port: u16) -> Self {
        use std::io::{BufRead, BufReader};
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("target/smtp-venv/bin/python");
        assert!(python.exists(), "run `make setup-smtp` first");
        let dir = std::env::temp_dir().join(format!("support-chat-mail-{}", unique()));
        let mut child = std::process::Command::new(python)
            .arg(root.join("tests/support/smtp_sink.py"))
            .arg(port.to_string())
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP server started");
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut messages: Vec<Value> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect();
        messages.sort_by_key(|m| m["headers"]["Subject"].as_str().unwrap_or("").to_owned());
        messages
    }

    /// The first message whose subject holds `reference`, within `limit`.
    async fn wait_for(&self, reference: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self.messages().into_iter().find(|m| {
                m["headers"]["Subject"]
                    .as_str()
                    .is_some_and(|s| s.contains(reference))
            }) {
                return found;
            }
            assert!(Instant::now() < deadline, "no mail for {reference}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the webhook receiver got: the body, and whether its signature and
/// timestamp checked out (verified here from the header and the raw bytes,
/// with the scheme the README documents, not with the server's code).
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) body: Value,
    verified: bool,
    /// The signature header and the raw body, as received.
    signature: String,
    raw: Vec<u8>,
}

/// A real HTTP receiver on 127.0.0.1:0 for the handoff webhook.
#[derive(Clone)]
pub(crate) struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Delivery>>>,
    /// Answer `500` to this many requests first.
    failures: Arc<AtomicU32>,
    /// How long each request takes to answer.
    delay: Duration,
}

fn verify(header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (now - t).abs() <= 300 && expected == v1
}

impl Receiver {
    pub(crate) async fn start(failures: u32, delay: Duration) -> Self {
        use axum::routing::post;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            got: Arc::default(),
            failures: Arc::new(AtomicU32::new(failures)),
            delay,
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hooks/handoff",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let state = state.clone();
                    async move {
                        tokio::time::sleep(state.delay).await;
                        let signature = headers
                            .get("support-chat-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        let failing = state
                            .failures
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if failing {
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        state.got.lock().unwrap().push(Delivery {
                            body: serde_json::from_slice(&body).unwrap(),
                            verified: verify(signature, &body),
                            signature: signature.to_owned(),
                            raw: body.to_vec(),
                        });
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/handoff", self.addr)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.deliveries();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Flags that send handoffs by e-mail through `sink`.
fn mail_flags(sink: &SmtpSink) -> Vec<String> {
    [
        "--smtp-url",
        &sink.url(),
        "--handoff-email-to",
        "Lending team <team@lender.example>",
        "--handoff-email-from",
        "Support chat <chat@lender.example>",
    ]
    .map(str::to_owned)
    .to_vec()
}

pub(crate) fn webhook_flags(receiver: &Receiver) -> Vec<String> {
    [
        "--handoff-webhook-url",
        &receiver.url(),
        "--handoff-webhook-secret",
        WEBHOOK_SECRET,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// A conversation's session id, after one message.
async fn conversation(addr: SocketAddr, message: &str) -> String {
    let reply = chat(addr, &json!({ "message": message })).await;
    assert_eq!(reply.status, 200);
    reply.json()["session"].as_str().unwrap().to_owned()
}

pub(crate) fn handoff_request(body: &Value) -> Request<Full<axum::body::Bytes>> {
    Request::post(HANDOFF_PATH)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.to_string().into()))
        .unwrap()
}

async fn hand_off(addr: SocketAddr, body: &Value) -> Reply {
    send(addr, handoff_request(body)).await
}

/// A handoff as the admin API lists it, once `done` holds of it.
async fn admin_handoff(
    admin: SocketAddr,
    reference: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    admin_item(admin, "/admin/api/handoffs", reference, limit, done).await
}

/// The item of `reference` in the admin list at `path`, once `done` holds.
async fn admin_item(
    admin: SocketAddr,
    path: &str,
    reference: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let list = admin_get(admin, path).await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        let found = list.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["reference"] == reference)
            .cloned();
        if let Some(handoff) = found.filter(|h| done(h)) {
            return handoff;
        }
        assert!(Instant::now() < deadline, "{reference} never got there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_handoff_is_mailed_to_the_team_with_the_transcript_and_a_reply_address_that_works() {
    let sink = SmtpSink::start(free_port());
    let flags = mail_flags(&sink);
    let (public, admin, _setup) = with_admin(&strs(&flags)).await;
    let session = conversation(public, QUESTION).await;
    let reply = hand_off(
        public,
        &json!({ "session": session, "email": " jo.bloggs@example.co.uk ", "name": "Jo Bloggs",
                 "note": "Best after 2pm.\nThanks!" }),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let taken = reply.json();
    let reference = taken["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("HO-") && reference.len() == 12,
        "{reference}"
    );
    let told = taken["message"].as_str().unwrap();
    assert!(
        told.contains("jo.bloggs@example.co.uk") && told.contains(reference),
        "{told}"
    );

    let mail = sink.wait_for(reference, Duration::from_secs(20)).await;
    let headers = &mail["headers"];
    assert_eq!(mail["rcpt_tos"], json!(["team@lender.example"]));
    assert_eq!(headers["Reply-To"], "Jo Bloggs <jo.bloggs@example.co.uk>");
    assert_eq!(headers["From"], "Support chat <chat@lender.example>");
    assert_eq!(headers["Auto-Submitted"], "auto-generated");
    assert!(headers["Subject"].as_str().unwrap().contains("Jo Bloggs"));
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(&format!("Reference:  {reference}")), "{text}");
    assert!(text.contains("Best after 2pm.\n  Thanks!"), "{text}");
    assert!(
        text.contains("do you have an office in Manchester? call me on [phone]"),
        "{text}"
    );
    assert!(
        text.contains("answered with the article \"handoff\""),
        "{text}"
    );
    assert!(
        !text.contains("07700 900123"),
        "the transcript is redacted as stored"
    );

    let handoff = admin_handoff(admin, reference, Duration::from_secs(5), |h| {
        h["status"] == "delivered"
    })
    .await;
    assert_eq!(handoff["attempts"], 1);
    assert_eq!(handoff["email"], "done");
    assert_eq!(handoff["webhook"], "none");
    assert_eq!(handoff["contact"]["email"], "jo.bloggs@example.co.uk");
    let metrics = String::from_utf8(admin_get(admin, "/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.contains("handoffs{status=\"delivered\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_webhook_gets_the_handoff_as_json_signed_so_a_receiver_can_verify_it() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let flags = webhook_flags(&receiver);
    let (public, _admin, _setup) = with_admin(&strs(&flags)).await;
    let session = conversation(public, QUESTION).await;
    let reply = hand_off(
        public,
        &json!({ "session": session, "email": "jo@example.com" }),
    )
    .await;
    assert_eq!(reply.status, 202);
    let reference = reply.json()["reference"].as_str().unwrap().to_owned();
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert!(got[0].verified, "the signature and timestamp verify");
    let body = &got[0].body;
    assert_eq!(body["type"], "handoff");
    assert_eq!(body["reference"], reference);
    assert_eq!(
        body["contact"],
        json!({ "email": "jo@example.com", "name": null, "note": null })
    );
    let transcript = body["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), 1);
    assert_eq!(
        transcript[0]["message"],
        "do you have an office in Manchester? call me on [phone]"
    );
    assert_eq!(transcript[0]["outcome"], "answered");
    assert_eq!(transcript[0]["article"], "handoff");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["complaint"], Value::Null, "no complaint in it");
    assert_eq!(transcript[0]["complaint"], false);

    // The README's example verifier, as printed there, accepts it, and
    // refuses it with one byte of the body changed.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let example = readme
        .split("**Verifying the webhook.**")
        .nth(1)
        .and_then(|rest| rest.split("```python\n").nth(1))
        .and_then(|code| code.split("```").next())
        .expect("README.md has the example verifier");
    let run = |body: &[u8]| {
        let dir = std::env::temp_dir().join(format!("support-chat-verify-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("body"), body).unwrap();
        let script = format!(
            "{example}\nimport sys\nprint(verify(sys.argv[1].encode(), sys.argv[2], open(sys.argv[3], 'rb').read()))"
        );
        let out = std::process::Command::new("python3")
            .args(["-c", &script, WEBHOOK_SECRET, &got[0].signature])
            .arg(dir.join("body"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(run(&got[0].raw), "True");
    let mut tampered = got[0].raw.clone();
    tampered[1] ^= 1;
    assert_eq!(run(&tampered), "False");
}

#[tokio::test]
async fn a_handoff_from_a_conversation_with_a_complaint_says_so_with_its_reference_and_due_dates() {
    let sink = SmtpSink::start(free_port());
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let flags = [mail_flags(&sink), webhook_flags(&receiver)].concat();
    let (public, _admin, _setup) = with_admin(&strs(&flags)).await;
    let said = chat(public, &json!({ "message": crate::care::COMPLAINT })).await;
    assert_eq!(said.status, 200, "{:?}", said.body);
    let said = said.json();
    let complaint = said["complaint"].as_str().expect("a complaint").to_owned();
    let session = said["session"].as_str().unwrap();
    let reply = hand_off(
        public,
        &json!({ "session": session, "email": "jo@example.com", "name": "Jo" }),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let reference = reply.json()["reference"].as_str().unwrap().to_owned();

    let mail = sink.wait_for(&reference, Duration::from_secs(20)).await;
    let subject = mail["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("Complaint {complaint}, Handoff {reference}")),
        "{subject}"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "THIS CONVERSATION HOLDS A COMPLAINT ({complaint}, open)"
        )),
        "{text}"
    );
    assert!(text.contains("Acknowledge it by "), "{text}");
    assert!(
        text.contains(
            "Assistant:  recognised a complaint and answered with the article \"complaints\""
        ),
        "{text}"
    );

    // The complaint's own notice, and the handoff.
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let body = &got
        .iter()
        .find(|d| d.body["type"] == "handoff")
        .expect("the handoff")
        .body;
    assert_eq!(body["reference"], reference.as_str());
    let flagged = &body["complaint"];
    assert_eq!(flagged["reference"], complaint.as_str());
    assert_eq!(flagged["status"], "open");
    assert_eq!(due_after(flagged, "acknowledge_by"), 24 * 60 * 60);
    assert_eq!(due_after(flagged, "respond_by"), 8 * 7 * 24 * 60 * 60);
    assert_eq!(body["transcript"][0]["complaint"], true, "{body}");
}

/// Seconds from when the delivered `complaint` was made to its `due` time.
fn due_after(complaint: &Value, due: &str) -> i64 {
    let at = |field: &str| {
        complaint[field]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    };
    at(due) - at("made_at")
}

#[tokio::test]
async fn a_new_complaint_reaches_the_team_by_email_and_webhook_at_once_and_once_only() {
    let sink = SmtpSink::start(free_port());
    // The webhook refuses the first attempt: the notice is retried by that
    // way alone, and the e-mail already sent is not sent again.
    let receiver = Receiver::start(1, Duration::ZERO).await;
    let mut flags = [mail_flags(&sink), webhook_flags(&receiver)].concat();
    flags.extend(["--handoff-retry-secs", "1"].map(str::to_owned));
    let (public, admin, _setup) = with_admin(&strs(&flags)).await;
    let said = chat(public, &json!({ "message": crate::care::COMPLAINT })).await;
    assert_eq!(said.status, 200, "{:?}", said.body);
    let said = said.json();
    let complaint = said["complaint"].as_str().expect("a complaint").to_owned();
    let session = said["session"].as_str().unwrap().to_owned();

    let mail = sink.wait_for(&complaint, Duration::from_secs(20)).await;
    let subject = mail["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("Complaint {complaint}: acknowledge by ")),
        "{subject}"
    );
    assert!(mail["headers"]["Reply-To"].is_null(), "{mail}");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("A visitor made a complaint"), "{text}");
    assert!(text.contains(&format!("Reference:  {complaint}")), "{text}");
    assert!(text.contains(crate::care::COMPLAINT), "{text}");

    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert!(got[0].verified, "{:?}", got[0]);
    let body = &got[0].body;
    assert_eq!(body["type"], "complaint");
    assert_eq!(body["reference"], complaint.as_str());
    assert_eq!(body["conversation"].as_str().map(str::len), Some(32));
    assert_eq!(body["message"], crate::care::COMPLAINT);
    assert_eq!(
        due_after(&body["complaint"], "acknowledge_by"),
        24 * 60 * 60
    );
    assert_eq!(body["transcript"][0]["complaint"], true, "{body}");

    // More dissatisfaction in the same conversation is the same complaint:
    // no second notice, by either way.
    let again = chat(
        public,
        &json!({ "message": crate::care::COMPLAINT, "session": session }),
    )
    .await;
    assert_eq!(again.json()["complaint"], complaint.as_str());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.deliveries().len(), 1);
    let mails = sink.messages();
    let told = mails
        .iter()
        .filter(|m| {
            m["headers"]["Subject"]
                .as_str()
                .is_some_and(|s| s.contains(&complaint))
        })
        .count();
    assert_eq!(told, 1, "{mails:?}");
    let listed = admin_get(admin, "/admin/api/complaints").await.json();
    assert_eq!(listed["items"][0]["notice"], "sent", "{listed}");
    let ways = &listed["items"][0];
    assert_eq!(
        (&ways["notice_email"], &ways["notice_webhook"]),
        (&json!("done"), &json!("done"))
    );
}

#[tokio::test]
async fn a_notice_sent_before_the_e_mail_was_configured_shows_the_team_was_not_told_by_e_mail() {
    // A rolling change: the first replica has the webhook only, the second
    // (on the same database) the e-mail too.
    let database = fresh_database().await;
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let mut flags = vec!["--database".to_owned(), database];
    flags.extend(webhook_flags(&receiver));
    let (public, first, _first) = with_admin(&strs(&flags)).await;
    let said = chat(public, &json!({ "message": crate::care::COMPLAINT })).await;
    let complaint = said.json()["complaint"].as_str().unwrap().to_owned();
    let sent = admin_item(
        first,
        "/admin/api/complaints",
        &complaint,
        Duration::from_secs(20),
        |c| c["notice"] == "sent",
    )
    .await;
    assert_eq!(
        (&sent["notice_email"], &sent["notice_webhook"]),
        (&json!("none"), &json!("done")),
        "{sent}"
    );

    let sink = SmtpSink::start(free_port());
    flags.extend(mail_flags(&sink));
    let (_, second, _second) = with_admin(&strs(&flags)).await;
    let item = |admin| {
        let complaint = complaint.clone();
        async move {
            use crate::console::{get, sign_in, text};
            let (cookie, _) = sign_in(admin).await;
            let queue = text(&send(admin, get("/console/complaints", Some(&cookie))).await);
            let at = queue
                .find(&format!("<h2>{complaint}</h2>"))
                .expect("listed");
            queue[at..at + queue[at..].find("</li>").unwrap()].to_owned()
        }
    };
    let there = item(second).await;
    assert!(
        there.contains("The team was told when it was made, but not by e-mail: it was not configured where the notice went."),
        "{there}"
    );
    // Where the e-mail is not configured either, that is no news.
    let here = item(first).await;
    assert!(
        here.contains("The team was told when it was made."),
        "{here}"
    );
    assert!(sink.messages().is_empty(), "not sent again by the new way");
}

#[tokio::test]
async fn a_complaint_notice_that_failed_says_why_and_is_sent_again_by_hand() {
    // Both attempts allowed are refused: the notice fails, visibly.
    let receiver = Receiver::start(2, Duration::ZERO).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-retry-secs", "1", "--handoff-max-attempts", "2"].map(str::to_owned));
    let (public, admin, _setup) = with_admin(&strs(&flags)).await;
    let said = chat(public, &json!({ "message": crate::care::COMPLAINT })).await;
    let complaint = said.json()["complaint"].as_str().unwrap().to_owned();
    let complaints = "/admin/api/complaints";
    let limit = Duration::from_secs(20);
    let failed = admin_item(admin, complaints, &complaint, limit, |c| {
        c["notice"] == "failed"
    })
    .await;
    let error = failed["notice_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("webhook: ") && error.contains("500"),
        "{failed}"
    );
    assert!(receiver.deliveries().is_empty());

    let retry = |reference: &str| {
        let path = format!("{complaints}/{reference}/notice/retry");
        admin_request("POST", &path, None)
    };
    assert_eq!(send(admin, retry(&complaint)).await.status, 202);
    let sent = admin_item(admin, complaints, &complaint, limit, |c| {
        c["notice"] == "sent"
    })
    .await;
    assert!(sent["notice_error"].is_null(), "{sent}");
    let got = receiver.deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["reference"], complaint.as_str());
    // Only a failed notice goes back in line.
    envelope(
        &send(admin, retry(&complaint)).await,
        409,
        "notice_not_failed",
    );
    envelope(&send(admin, retry("CO-NONE-NONE")).await, 404, "not_found");
    let doc = admin_get(admin, "/admin/api/openapi.json").await.json();
    let path = &doc["paths"]["/admin/api/complaints/{reference}/notice/retry"];
    assert!(path["post"]["responses"]["202"].is_object(), "{doc}");
}

#[tokio::test]
async fn bad_handoff_requests_get_the_one_envelope_naming_the_field() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let flags = webhook_flags(&receiver);
    let (public, _admin, _setup) = with_admin(&strs(&flags)).await;
    let session = conversation(public, QUESTION).await;
    let long_name = "n".repeat(101);
    let long_note = "n".repeat(1001);
    let long_email = format!("{}@example.com", "a".repeat(250));
    let unknown = "0123456789abcdef0123456789abcdef";
    for (body, status, code, param) in [
        (
            json!({ "session": session, "email": "not an address" }),
            400,
            "email_invalid",
            Some("email"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com\r\nBcc: all@example.com" }),
            400,
            "email_invalid",
            Some("email"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com,all@example.com" }),
            400,
            "email_invalid",
            Some("email"),
        ),
        (
            json!({ "session": session, "email": long_email }),
            400,
            "email_invalid",
            Some("email"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com", "name": "Jo\r\nBcc: all@example.com" }),
            400,
            "name_invalid",
            Some("name"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com", "name": long_name }),
            400,
            "name_invalid",
            Some("name"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com", "note": "a\u{0}b" }),
            400,
            "note_invalid",
            Some("note"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com", "note": long_note }),
            400,
            "note_invalid",
            Some("note"),
        ),
        (
            json!({ "session": session }),
            400,
            "invalid_request",
            Some("email"),
        ),
        (
            json!({ "email": "jo@example.com" }),
            400,
            "invalid_request",
            Some("session"),
        ),
        (
            json!({ "session": session, "email": "jo@example.com", "cc": "x" }),
            400,
            "invalid_request",
            Some("cc"),
        ),
        (
            json!({ "session": session, "email": 5 }),
            400,
            "invalid_request",
            Some("email"),
        ),
        (
            json!({ "session": "nope", "email": "jo@example.com" }),
            400,
            "invalid_session",
            Some("session"),
        ),
        (
            json!({ "session": unknown, "email": "jo@example.com" }),
            404,
            "unknown_session",
            Some("session"),
        ),
    ] {
        let reply = hand_off(public, &body).await;
        let envelope = envelope(&reply, status, code);
        assert_eq!(envelope["error"]["param"].as_str(), param, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.deliveries().is_empty(), "nothing refused was sent");

    // Without a way to the team, handoffs are refused as such.
    let (plain, _, _) = with_admin(&[]).await;
    let session = conversation(plain, QUESTION).await;
    let reply = hand_off(
        plain,
        &json!({ "session": session, "email": "jo@example.com" }),
    )
    .await;
    envelope(&reply, 503, "handoff_unavailable");
}

#[tokio::test]
async fn a_conversation_and_a_client_may_ask_a_few_times_an_hour_then_get_429_with_retry_after() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-limit", "2/1h"].map(str::to_owned));
    let (public, _admin, _setup) = with_admin(&strs(&flags)).await;
    let first = conversation(public, QUESTION).await;
    let body = json!({ "session": first, "email": "jo@example.com" });
    for _ in 0..2 {
        assert_eq!(hand_off(public, &body).await.status, 202);
    }
    let refused = hand_off(public, &body).await;
    let envelope_body = envelope(&refused, 429, "handoff_limit");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(envelope_body["error"]["retry_after"], retry_after);

    // Another conversation from the same client: the client's cap holds too.
    let second = conversation(public, QUESTION).await;
    let body = json!({ "session": second, "email": "jo@example.com" });
    envelope(&hand_off(public, &body).await, 429, "handoff_limit");
    // Another client is not held to it.
    let stream = connect_from([127, 0, 0, 2], public).await;
    assert_eq!(send_on(stream, handoff_request(&body)).await.status, 202);
    assert_eq!(receiver.wait_for(3, Duration::from_secs(20)).await.len(), 3);
}

#[tokio::test]
async fn asked_for_many_times_at_once_a_conversation_still_gets_no_more_handoffs_than_its_cap() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-limit", "2/1h"].map(str::to_owned));
    let (public, _admin, _setup) = with_admin(&strs(&flags)).await;
    let session = conversation(public, QUESTION).await;
    let body = json!({ "session": session, "email": "jo@example.com" });
    let replies = futures_util::future::join_all((0..8).map(|_| hand_off(public, &body))).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 202, 429, 429, 429, 429, 429, 429]);
    assert_eq!(receiver.wait_for(2, Duration::from_secs(20)).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 2, "no more went out");
}

#[tokio::test]
async fn asked_for_at_once_through_two_replicas_a_conversation_still_gets_no_more_than_its_cap() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-limit", "2/1h"].map(str::to_owned));
    flags.extend(["--database".to_owned(), fresh_database().await]);
    let setup = setup_with(&args(&strs(&flags)), Default::default()).await;
    let recorder = setup.state.chat.recorder.clone();
    let one = spawn(setup).await;
    let two = spawn(setup_with(&args(&strs(&flags)), Default::default()).await).await;
    let session = conversation(one, QUESTION).await;
    // Written, so the other replica finds the conversation in the records.
    recorder.flush().await;
    let body = json!({ "session": session, "email": "jo@example.com" });
    let replies = futures_util::future::join_all(
        (0..8).map(|i| hand_off(if i % 2 == 0 { one } else { two }, &body)),
    )
    .await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 202, 429, 429, 429, 429, 429, 429]);
    assert_eq!(receiver.wait_for(2, Duration::from_secs(20)).await.len(), 2);
}

#[tokio::test]
async fn started_again_with_a_lower_cap_a_client_is_told_to_come_back_when_it_is_under_that_cap() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let database = fresh_database().await;
    let capped = |cap: &str| {
        let mut flags = webhook_flags(&receiver);
        flags.extend(["--database", &database, "--handoff-limit", cap].map(str::to_owned));
        flags
    };
    let (public, _admin, setup) = with_admin(&strs(&capped("3/1h"))).await;
    let session = conversation(public, QUESTION).await;
    let body = json!({ "session": session, "email": "jo@example.com" });
    for _ in 0..3 {
        assert_eq!(hand_off(public, &body).await.status, 202);
    }
    setup.state.chat.recorder.flush().await;
    back_date_handoffs(&database, &[50, 30, 10]).await;
    // Under a cap of 1 the count is under it once the newest (10 minutes
    // old) leaves the hour; under 2, once the one 30 minutes old does.
    for (cap, minutes_left) in [("1/1h", 50), ("2/1h", 30)] {
        let (again, _admin, _setup) = with_admin(&strs(&capped(cap))).await;
        let refused = hand_off(again, &body).await;
        let envelope_body = envelope(&refused, 429, "handoff_limit");
        let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        let expected = minutes_left * 60;
        assert!(
            (expected - 10..=expected + 1).contains(&retry_after),
            "{cap}: {retry_after} s, not about {expected} s"
        );
        assert_eq!(envelope_body["error"]["retry_after"], retry_after);
    }
}

/// Moves the handoffs in `database` back in time: one to each age in
/// `minutes` (which one gets which does not matter to the caps).
async fn back_date_handoffs(database: &str, minutes: &[i64]) {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(database).await.unwrap();
    let references: Vec<String> = sqlx::query("SELECT reference FROM handoffs")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(references.len(), minutes.len());
    let now = support_chat::domain::clock::now_millis();
    for (reference, minutes) in references.iter().zip(minutes) {
        sqlx::query("UPDATE handoffs SET created_ms = $1 WHERE reference = $2")
            .bind(now - minutes * 60_000)
            .bind(reference)
            .execute(&mut db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_undelivered_handoff_is_retried_with_backoff_then_failed_visibly_and_retried_by_hand() {
    // Two failures, then success: delivered on the third attempt.
    let receiver = Receiver::start(2, Duration::ZERO).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-retry-secs", "1", "--handoff-max-attempts", "3"].map(str::to_owned));
    let (public, admin, _setup) = with_admin(&strs(&flags)).await;
    let session = conversation(public, QUESTION).await;
    let body = json!({ "session": session, "email": "jo@example.com" });
    let reply = hand_off(public, &body).await;
    let reference = reply.json()["reference"].as_str().unwrap().to_owned();
    let retrying = admin_handoff(admin, &reference, Duration::from_secs(10), |h| {
        h["status"] == "retrying"
    })
    .await;
    assert!(
        retrying["last_error"].as_str().unwrap().contains("500"),
        "{retrying}"
    );
    let delivered = admin_handoff(admin, &reference, Duration::from_secs(20), |h| {
        h["status"] == "delivered"
    })
    .await;
    assert_eq!(delivered["attempts"], 3);
    assert_eq!(receiver.deliveries().len(), 1);

    // Three failures with three attempts allowed: failed, in the admin API
    // and the metrics, until it is retried by hand.
    receiver.failures.store(3, Ordering::SeqCst);
    let reply = hand_off(public, &body).await;
    let reference = reply.json()["reference"].as_str().unwrap().to_owned();
    let failed = admin_handoff(admin, &reference, Duration::from_secs(20), |h| {
        h["status"] == "failed"
    })
    .await;
    assert_eq!(failed["attempts"], 3);
    let failed_list = admin_get(admin, "/admin/api/handoffs?status=failed")
        .await
        .json();
    assert_eq!(failed_list["items"].as_array().unwrap().len(), 1);
    let metrics = String::from_utf8(admin_get(admin, "/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.contains("handoffs{status=\"failed\"} 1"),
        "{metrics}"
    );
    let retry = |reference: &str| {
        admin_request(
            "POST",
            &format!("/admin/api/handoffs/{reference}/retry"),
            None,
        )
    };
    assert_eq!(send(admin, retry(&reference)).await.status, 202);
    admin_handoff(admin, &reference, Duration::from_secs(10), |h| {
        h["status"] == "delivered"
    })
    .await;
    assert_eq!(receiver.deliveries().len(), 2);
    // Only a failed handoff goes back in line.
    envelope(&send(admin, retry(&reference)).await, 404, "not_found");
    envelope(&send(admin, retry("HO-NONE-NONE")).await, 404, "not_found");
    let bad = admin_get(admin, "/admin/api/handoffs?status=lost").await;
    envelope(&bad, 400, "invalid_query");
}

#[tokio::test]
async fn two_replicas_on_one_database_deliver_each_handoff_once() {
    // Slow answers keep deliveries in flight while the other replica looks.
    let receiver = Receiver::start(0, Duration::from_millis(150)).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-limit", "100/1h"].map(str::to_owned));
    let database = fresh_database().await;
    flags.extend(["--database".to_owned(), database]);
    let one = spawn(setup_with(&args(&strs(&flags)), Default::default()).await).await;
    let _two = spawn(setup_with(&args(&strs(&flags)), Default::default()).await).await;
    let mut references = Vec::new();
    for _ in 0..12 {
        let session = conversation(one, QUESTION).await;
        let reply = hand_off(
            one,
            &json!({ "session": session, "email": "jo@example.com" }),
        )
        .await;
        assert_eq!(reply.status, 202);
        references.push(reply.json()["reference"].as_str().unwrap().to_owned());
    }
    receiver.wait_for(12, Duration::from_secs(30)).await;
    // Both replicas poll every second: time enough for a second delivery.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut delivered: Vec<String> = receiver
        .deliveries()
        .iter()
        .map(|d| d.body["reference"].as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    references.sort();
    assert_eq!(delivered, references, "each once, none twice");
}

/// Business hours closed today and tomorrow (UTC), open every other day
/// from midnight: the day after tomorrow's weekday is when they reply.
fn closed_until_the_day_after_tomorrow() -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let tomorrow = today.tomorrow().unwrap();
    let then = tomorrow.tomorrow().unwrap();
    (
        format!("Mon-Sun 00:00-23:59 UTC; closed {today},{tomorrow}"),
        format!(
            "We're closed now; we'll reply from 0:00 on {}.",
            then.strftime("%A")
        ),
    )
}

async fn status(addr: SocketAddr) -> Value {
    let reply = send(
        addr,
        Request::get(STATUS_PATH)
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=60"));
    reply.json()
}

#[tokio::test]
async fn the_status_and_a_handoff_reply_say_whether_someone_is_there_and_when_they_will_reply() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let (hours, sentence) = closed_until_the_day_after_tomorrow();
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--business-hours".to_owned(), hours]);
    let (public, _admin, _setup) = with_admin(&strs(&flags)).await;
    assert_eq!(
        status(public).await,
        json!({ "handoff": true, "open": false, "message": sentence })
    );
    let reply = chat(public, &json!({ "message": QUESTION })).await.json();
    assert_eq!(reply["handoff"], true);
    assert!(
        reply["reply"].as_str().unwrap().ends_with(&sentence),
        "{reply}"
    );
    let session = reply["session"].as_str().unwrap();
    let taken = hand_off(
        public,
        &json!({ "session": session, "email": "jo@example.com" }),
    )
    .await;
    assert!(
        taken.json()["message"]
            .as_str()
            .unwrap()
            .contains(&sentence)
    );
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].body["availability"], sentence);

    // Open now: hours around the present hour.
    let hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    let open = format!(
        "Mon-Sun {:02}:00-{:02}:59 UTC",
        (hour - 1).max(0),
        (hour + 1).min(23)
    );
    let (public, _, _) = with_admin(&["--business-hours", &open]).await;
    let now = status(public).await;
    assert_eq!(now["open"], true);
    assert_eq!(now["handoff"], false, "no channel configured");
    assert!(
        now["message"]
            .as_str()
            .unwrap()
            .starts_with("Our team is in now")
    );
    // Without hours, nothing is said about them.
    let (public, _, _) = with_admin(&[]).await;
    assert_eq!(
        status(public).await,
        json!({ "handoff": false, "open": null, "message": null })
    );
}

#[tokio::test]
async fn the_handoff_responses_validate_against_the_served_openapi_document() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let mut flags = webhook_flags(&receiver);
    flags.extend(["--handoff-limit", "1/1h"].map(str::to_owned));
    let (public, _, _) = with_admin(&strs(&flags)).await;
    let doc = send(
        public,
        Request::get("/public/v1/openapi.json")
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await
    .json();
    let session = conversation(public, QUESTION).await;
    let body = json!({ "session": session, "email": "jo@example.com" });
    for (status, reply) in [
        (202, hand_off(public, &body).await),
        (429, hand_off(public, &body).await),
        (
            400,
            hand_off(public, &json!({ "session": session, "email": "x" })).await,
        ),
    ] {
        assert_documented(&doc, HANDOFF_PATH, "post", status, &reply);
    }
    let status_reply = send(
        public,
        Request::get(STATUS_PATH)
            .header("host", "localhost")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_documented(&doc, STATUS_PATH, "get", 200, &status_reply);
}

#[test]
fn smtp_down_a_handoff_is_still_taken_and_delivered_once_it_is_back_across_a_restart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let port = free_port();
    let database = runtime.block_on(fresh_database());
    let smtp = format!("smtp://127.0.0.1:{port}");
    let flags = [
        "--database",
        database.as_str(),
        "--smtp-url",
        smtp.as_str(),
        "--handoff-email-to",
        "team@lender.example",
        "--handoff-email-from",
        "chat@lender.example",
        "--handoff-retry-secs",
        "1",
    ];
    let env = [("SUPPORT_CHAT_ADMIN_TOKEN", ADMIN_TOKEN)];
    let (server, public, admin) = start_binary_with_admin(&flags, &env);
    let server = Running(server);
    let (public, admin): (SocketAddr, SocketAddr) =
        (public.parse().unwrap(), admin.parse().unwrap());
    let reference = runtime.block_on(async {
        let session = conversation(public, QUESTION).await;
        let reply = hand_off(
            public,
            &json!({ "session": session, "email": "jo@example.com" }),
        )
        .await;
        assert_eq!(reply.status, 202, "taken while the mail server is down");
        let reference = reply.json()["reference"].as_str().unwrap().to_owned();
        let waiting = admin_handoff(admin, &reference, Duration::from_secs(10), |h| {
            h["status"] == "retrying"
        })
        .await;
        assert!(
            waiting["last_error"].as_str().unwrap().contains("SMTP"),
            "{waiting}"
        );
        reference
    });
    // The process stops, the mail server comes back, and a new process on
    // the same database delivers what the old one took.
    let mut server = server;
    terminate(&mut server.0);
    let sink = SmtpSink::start(port);
    let (server, _public, admin) = start_binary_with_admin(&flags, &env);
    let _server = Running(server);
    let admin: SocketAddr = admin.parse().unwrap();
    runtime.block_on(async {
        let mail = sink.wait_for(&reference, Duration::from_secs(30)).await;
        assert_eq!(mail["headers"]["Reply-To"], "jo@example.com");
        let handoff = admin_handoff(admin, &reference, Duration::from_secs(5), |h| {
            h["status"] == "delivered"
        })
        .await;
        assert!(handoff["attempts"].as_u64().unwrap() >= 2, "{handoff}");
    });
}
