//! What is kept of conversations, over real HTTP and the real database
//! (a SQLite file of its own, or with `.ci/with-postgres.sh` a PostgreSQL
//! database of its own): redacted before it is written, filed under a keyed
//! hash, erasable by the visitor, purged after the retention, and never a
//! reason for a chat to fail.

use axum::http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use support_chat_api::{FEEDBACK_PATH, SESSION_PATH};
use support_chat_assistant::KnowledgeBase;

use crate::helpers::*;

/// The personal data the redaction test sends, and what must never be stored.
const SECRETS: [&str; 7] = [
    "jo.bloggs@example.co.uk",
    "07700 900123",
    "4111 1111 1111 1111",
    "12-34-56",
    "87654321",
    "AB 12 34 56 C",
    "SW1A 1AA",
];

async fn say(addr: std::net::SocketAddr, message: &str, session: Option<&str>) -> Value {
    let reply = chat(addr, &json!({ "message": message, "session": session })).await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

fn json_request(method: &str, path: &str, body: Value) -> Request<Full<axum::body::Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.to_string().into()))
        .unwrap()
}

/// An answered turn of `session` at `at`, saying `message`, as the writer takes it.
fn answered_turn(
    key: &support_chat::domain::records::RecordKey,
    session: support_chat::domain::session::SessionId,
    at: support_chat::domain::clock::UnixMillis,
    message: &str,
) -> support_chat::domain::records::Write {
    use support_chat::domain::records::{RecordedOutcome, TurnRecord, Write};
    Write::Turn(TurnRecord {
        reply_id: key.reply_id_at(session, at),
        session: key.session_hash(session),
        message: message.into(),
        outcome: RecordedOutcome::Answered,
        confidence: 0.9,
        article: None,
        embedding: None,
        complaint: false,
        care: None,
    })
}

/// Every turn recorded, oldest first, through the admin API's export.
/// The recorded messages, sorted: two turns of one millisecond are exported
/// in the order of their reply ids' random part, not the order they were sent.
async fn exported_messages(admin: std::net::SocketAddr) -> Vec<String> {
    let mut messages: Vec<String> = exported(admin)
        .await
        .iter()
        .map(|turn| turn["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    messages
}

async fn exported(admin: std::net::SocketAddr) -> Vec<Value> {
    let reply = admin_get(admin, "/admin/api/export?format=jsonl").await;
    assert_eq!(reply.status, 200);
    String::from_utf8(reply.body.to_vec())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The folder of a SQLite database URL ([`fresh_database`]'s, a folder of
/// its own), to read its files; `None` on PostgreSQL.
fn sqlite_folder(database: &str) -> Option<std::path::PathBuf> {
    let path = database.strip_prefix("sqlite://")?;
    Some(std::path::Path::new(path).parent()?.to_owned())
}

/// The files in `folder` (the database and its write-ahead log) whose bytes
/// hold `text`.
fn files_holding(folder: &std::path::Path, text: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(text.len()).any(|w| w == text.as_bytes())
        })
        .collect()
}

#[tokio::test]
async fn each_turn_is_recorded_redacted_with_its_outcome_and_the_article_version_it_showed() {
    let (public, admin, setup) = with_admin(&[]).await;
    let first = say(public, "How long does an application take?", None).await;
    let session = first["session"].as_str().unwrap();
    say(
        public,
        "I'm jo.bloggs@example.co.uk, call me on 07700 900123",
        Some(session),
    )
    .await;
    say(public, "what's the weather in Leeds", Some(session)).await;
    setup.state.chat.recorder.flush().await;

    let turns = exported(admin).await;
    assert_eq!(turns.len(), 3, "{turns:?}");
    let conversation = turns[0]["conversation"].as_str().unwrap();
    assert!(turns.iter().all(|t| t["conversation"] == conversation));
    assert_ne!(
        conversation, session,
        "filed under a keyed hash, not the session id"
    );
    assert_eq!(turns[0]["reply_id"], first["reply_id"]);
    assert_eq!(turns[0]["outcome"], "answered");
    assert_eq!(turns[0]["article_id"], "application-time");
    let article = KnowledgeBase::sample();
    let version = article.get("application-time").unwrap().version();
    assert_eq!(turns[0]["article_version"], version.as_str());
    assert_eq!(
        turns[1]["message"], "I'm [email], call me on [phone]",
        "redacted before it was written"
    );
    assert_eq!(turns[2]["outcome"], "out_of_scope");

    // The transcript, by its id.
    let transcript = admin_get(admin, &format!("/admin/api/conversations/{conversation}")).await;
    assert_eq!(transcript.status, 200);
    assert_eq!(transcript.json()["turns"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn no_raw_personal_data_reaches_the_database() {
    // A database of this test's own: on SQLite, its files are read below.
    let database = fresh_database().await;
    let (public, admin, setup) = with_admin(&["--database", &database]).await;
    let mut session = None;
    for secret in SECRETS {
        let message = format!("my details are {secret}, please help me apply");
        let reply = say(public, &message, session.as_deref()).await;
        session = reply["session"].as_str().map(str::to_owned);
    }
    setup.state.chat.recorder.flush().await;
    let stored = serde_json::to_string(&exported(admin).await).unwrap();
    assert!(
        stored.contains("[email]") && stored.contains("[card]"),
        "{stored}"
    );
    for secret in SECRETS {
        assert!(!stored.contains(secret), "{secret} in {stored}");
    }
    let Some(folder) = sqlite_folder(&database) else {
        return;
    };
    // The file and its write-ahead log, byte by byte.
    assert!(folder.join("records.db").is_file(), "{folder:?}");
    for secret in SECRETS {
        assert_eq!(
            files_holding(&folder, secret),
            Vec::<std::path::PathBuf>::new(),
            "{secret}"
        );
    }
}

#[tokio::test]
async fn a_message_is_kept_as_written_whatever_characters_it_holds() {
    // What a JSON, CSV or `COPY` text writer could mistake for its own
    // syntax: quotes, commas, backslashes, `COPY`'s end-of-data line and NULL
    // mark, line breaks, tabs, and text outside ASCII (PostgreSQL takes them
    // in `COPY`'s binary format: lengths, not escapes).
    let messages = [
        r#"He said "hello", then "goodbye""#,
        "first line\n\\.\nlast line after the end-of-data mark",
        "\\.",
        "\\N",
        "a\ttab, a comma, and a \\ backslash",
        "\"",
        "Ça coûte combien ? 💷 ありがとう",
    ];
    let (public, admin, setup) = with_admin(&[]).await;
    let mut session = None;
    for message in messages {
        let reply = say(public, message, session.as_deref()).await;
        session = reply["session"].as_str().map(str::to_owned);
    }
    setup.state.chat.recorder.flush().await;
    let mut sent = messages.map(str::to_owned);
    sent.sort();
    assert_eq!(exported_messages(admin).await, sent);
}

#[tokio::test]
async fn nothing_is_recorded_before_a_visitors_first_message() {
    let (public, admin, setup) = with_admin(&[]).await;
    for path in ["/", "/healthz", "/readyz", "/public/v1/openapi.json"] {
        let request = Request::get(path)
            .header("host", "localhost")
            .body(Full::default())
            .unwrap();
        assert!(send(public, request).await.status.is_success(), "{path}");
    }
    let bogus = json!({ "session": "0123456789abcdef0123456789abcdef", "reply_id": "0123456789abcdef0123456789abcdef", "helpful": true });
    let refused = send(public, json_request("POST", FEEDBACK_PATH, bogus)).await;
    envelope(&refused, 404, "unknown_reply");
    setup.state.chat.recorder.flush().await;
    assert!(exported(admin).await.is_empty());
}

#[tokio::test]
async fn a_vote_is_kept_the_latest_per_reply_and_a_reply_not_given_in_that_session_is_unknown() {
    let (public, admin, setup) = with_admin(&[]).await;
    let reply = say(public, "Do I need a personal guarantee?", None).await;
    let (session, reply_id) = (
        reply["session"].as_str().unwrap(),
        reply["reply_id"].as_str().unwrap(),
    );
    for (helpful, series) in [
        (true, r#"feedback_total{vote="helpful"}"#),
        (false, r#"feedback_total{vote="not_helpful"}"#),
    ] {
        let counted = metric(admin, series).await;
        let vote = json!({ "session": session, "reply_id": reply_id, "helpful": helpful });
        let answer = send(public, json_request("POST", FEEDBACK_PATH, vote)).await;
        assert_eq!(answer.status, 204);
        assert!(answer.header("ratelimit").is_some(), "in the chat's window");
        assert!(metric(admin, series).await > counted, "{series}");
    }
    let other = say(public, "hello", None).await;
    let elsewhere = json!({ "session": other["session"], "reply_id": reply_id, "helpful": true });
    envelope(
        &send(public, json_request("POST", FEEDBACK_PATH, elsewhere)).await,
        404,
        "unknown_reply",
    );
    for bad in [
        json!({ "session": session, "reply_id": reply_id }),
        json!({ "session": session, "reply_id": reply_id, "helpful": "yes" }),
        json!({ "session": session, "reply_id": reply_id, "helpful": true, "extra": 1 }),
    ] {
        envelope(
            &send(public, json_request("POST", FEEDBACK_PATH, bad)).await,
            400,
            "invalid_request",
        );
    }
    setup.state.chat.recorder.flush().await;
    let turns = exported(admin).await;
    let voted = turns.iter().find(|t| t["reply_id"] == reply_id).unwrap();
    assert_eq!(voted["helpful"], false, "the latest vote wins");
    // Two days: midnight (UTC) may pass between the vote and the summary.
    let summary = admin_get(admin, "/admin/api/summary?days=2").await.json();
    assert_eq!(
        (summed(&summary, "not_helpful"), summed(&summary, "helpful")),
        (1, 0)
    );
}

#[tokio::test]
async fn a_visitor_who_deletes_their_conversation_leaves_nothing_of_it_behind() {
    // A database of this test's own: on SQLite, its files are read below.
    let database = fresh_database().await;
    let (public, admin, setup) = with_admin(&["--database", &database]).await;
    let kept = say(public, "hello", None).await;
    const MARK: &str = "Quillfeather Mercantile";
    let first = say(
        public,
        &format!("How long does an application take for {MARK}?"),
        None,
    )
    .await;
    let session = first["session"].as_str().unwrap();
    // Written before the erasure: its pages reach the file and its log.
    setup.state.chat.recorder.flush().await;
    assert_eq!(exported(admin).await.len(), 2);
    say(
        public,
        &format!("and what does {MARK} need?"),
        Some(session),
    )
    .await;
    // No flush: the erasure waits for whatever of it is still queued.
    let erased = send(
        public,
        json_request("DELETE", SESSION_PATH, json!({ "session": session })),
    )
    .await;
    assert_eq!(erased.status, 204);
    let unknown = json!({ "session": "0123456789abcdef0123456789abcdef" });
    assert_eq!(
        send(public, json_request("DELETE", SESSION_PATH, unknown))
            .await
            .status,
        204
    );
    envelope(
        &send(
            public,
            json_request("DELETE", SESSION_PATH, json!({ "session": "nope" })),
        )
        .await,
        400,
        "invalid_session",
    );
    setup.state.chat.recorder.flush().await;
    let turns = exported(admin).await;
    assert_eq!(turns.len(), 1, "only the other visitor's: {turns:?}");
    assert_eq!(turns[0]["reply_id"], kept["reply_id"]);
    // The conversation itself is gone too: its id starts a new one.
    let after = say(public, "hello", Some(session)).await;
    assert_ne!(after["session"], session);
    let Some(folder) = sqlite_folder(&database) else {
        return;
    };
    // Nor is it in the file's free space or its write-ahead log.
    assert_eq!(
        files_holding(&folder, MARK),
        Vec::<std::path::PathBuf>::new(),
        "erased text"
    );
}

#[tokio::test]
async fn deleting_a_conversation_counts_in_the_chats_rate_window() {
    let (public, _, _setup) = with_admin(&["--chat-rate-limit", "2/60s"]).await;
    let reply = say(public, "hello", None).await;
    let erase = || {
        json_request(
            "DELETE",
            SESSION_PATH,
            json!({ "session": reply["session"] }),
        )
    };
    let erased = send(public, erase()).await;
    assert_eq!(erased.status, 204);
    let window = erased.header("ratelimit").unwrap_or_default();
    assert!(
        window.starts_with("\"chat\";r=0;"),
        "the chat's window, used up: {window}"
    );
    envelope(&chat(public, &hello()).await, 429, "rate_limited");
    let refused = send(public, erase()).await;
    envelope(&refused, 429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test]
async fn the_server_purges_what_is_past_retention_when_it_starts_and_leaves_none_of_it_in_the_file()
{
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::RecordedOutcome;
    let database = fresh_database().await;
    const OLD: &str = "Thistlewood Haberdashery asked long ago";
    {
        // A server that keeps a year: its own purge leaves the old turn.
        let (public, admin, setup) =
            with_admin(&["--database", &database, "--retention-days", "365"]).await;
        say(public, "hello", None).await;
        let at = now_millis() - 40 * 24 * 60 * 60 * 1000;
        record_turn(&setup, OLD, RecordedOutcome::HandedOff, 0.1, at).await;
        setup.state.chat.recorder.flush().await;
        assert_eq!(exported(admin).await.len(), 2);
    }
    // The next start keeps 30 days, and purges as it starts.
    let (_, admin, _setup) = with_admin(&["--database", &database, "--retention-days", "30"]).await;
    let started = std::time::Instant::now();
    while exported(admin).await.len() > 1 {
        assert!(started.elapsed().as_secs() < 10, "not purged at start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(exported_messages(admin).await, ["hello"]);
    let Some(folder) = sqlite_folder(&database) else {
        return;
    };
    // The purge's scrub follows its deletes: wait for the log to empty.
    let started = std::time::Instant::now();
    loop {
        let holding = files_holding(&folder, OLD);
        if holding.is_empty() {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "purged text in {holding:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn with_record_off_chats_work_and_nothing_is_kept() {
    let (public, admin, setup) = with_admin(&["--record", "off"]).await;
    let reply = say(public, "hello", None).await;
    let vote =
        json!({ "session": reply["session"], "reply_id": reply["reply_id"], "helpful": true });
    assert_eq!(
        send(public, json_request("POST", FEEDBACK_PATH, vote))
            .await
            .status,
        204
    );
    assert!(setup.state.records.is_none());
    envelope(
        &admin_get(admin, "/admin/api/summary").await,
        409,
        "records_off",
    );
}

#[tokio::test]
async fn records_older_than_the_retention_are_purged() {
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::RecordedOutcome;
    // The server's own purge (at start, then hourly) keeps a year: only
    // this test's call purges the month-old record below.
    let (public, admin, setup) = with_admin(&["--retention-days", "365"]).await;
    say(public, "hello", None).await;
    let store = setup.state.records.clone().unwrap();
    let day = 24 * 60 * 60 * 1000;
    let at = now_millis() - 31 * day;
    record_turn(
        &setup,
        "an old question",
        RecordedOutcome::HandedOff,
        0.1,
        at,
    )
    .await;
    setup.state.chat.recorder.flush().await;
    assert_eq!(exported(admin).await.len(), 2);
    let purged = store
        .purge(now_millis() - 30 * day, now_millis() - 1095 * day)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let left = exported(admin).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["message"], "hello");
}

#[tokio::test]
async fn a_full_record_queue_drops_records_and_never_a_chat() {
    let (public, admin, setup) = with_admin(&["--record-queue", "1"]).await;
    const FULL: &str = r#"records_dropped_total{reason="queue_full"}"#;
    let dropped_before = metric(admin, FULL).await;
    let replies = (0..20).map(|i| {
        tokio::spawn(async move {
            chat(
                public,
                &json!({ "message": format!("question number {i}") }),
            )
            .await
            .status
        })
    });
    for reply in replies {
        assert_eq!(reply.await.unwrap(), 200);
    }
    setup.state.chat.recorder.flush().await;
    let kept = exported(admin).await.len();
    // The writer waits for a batch to fill (100 ms) while the queue holds
    // one write: the chats that come meanwhile lose their records.
    assert!((1..20).contains(&kept), "{kept}");
    let dropped = metric(admin, FULL).await - dropped_before;
    assert!(
        dropped >= (20 - kept) as f64,
        "{kept} kept, {dropped} dropped"
    );
    let metrics = String::from_utf8(admin_get(admin, "/metrics").await.body.to_vec()).unwrap();
    assert!(metrics.contains("records_written_total"), "{metrics}");
}

/// A database that takes no writes until [`Outage::end`]: on SQLite its
/// write lock held past the writer's busy timeout; on PostgreSQL the
/// database closed to connections and the server's own ones ended, as a
/// restart of the database server does to them.
enum Outage {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection, String),
}

impl Outage {
    async fn begin(url: &str) -> Self {
        use sqlx::Connection;
        if !on_postgres() {
            let mut lock = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut lock)
                .await
                .unwrap();
            return Self::Sqlite(lock);
        }
        let server = std::env::var("SUPPORT_CHAT_TEST_DATABASE_URL").unwrap();
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        let name = url::Url::parse(url).unwrap().path()[1..].to_owned();
        sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&mut admin)
            .await
            .unwrap();
        Self::Postgres(admin, name)
    }

    async fn end(self) {
        match self {
            Self::Sqlite(mut lock) => {
                sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
            }
            Self::Postgres(mut admin, name) => {
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn while_the_database_takes_no_writes_chats_are_answered_and_their_records_dropped_and_counted()
 {
    const DOWN: &str = r#"records_dropped_total{reason="database"}"#;
    let url = fresh_database().await;
    let (public, admin, setup) = with_admin(&["--database", &url]).await;
    let recorder = &setup.state.chat.recorder;
    say(public, "before the outage", None).await;
    recorder.flush().await;
    let dropped = metric(admin, DOWN).await;

    let outage = Outage::begin(&url).await;
    let started = std::time::Instant::now();
    say(public, "during the outage", None).await;
    let waited = started.elapsed();
    recorder.flush().await;
    let counted = metric(admin, DOWN).await;
    // Ended before any assertion: a failed one leaves no database closed.
    outage.end().await;
    assert!(
        waited < std::time::Duration::from_secs(2),
        "the chat does not wait for the database"
    );
    assert!(counted > dropped, "counted");

    say(public, "after the outage", None).await;
    recorder.flush().await;
    assert_eq!(
        exported_messages(admin).await,
        ["after the outage", "before the outage"]
    );
}

#[tokio::test]
async fn a_reply_recorded_twice_is_kept_once_and_the_rest_of_its_batch_with_it() {
    use support_chat::domain::records::{RecordStore, RecordedOutcome, TurnRecord, Write};
    use support_chat::domain::session::SessionId;
    use support_chat::store::sql::SqlRecords;

    let url = fresh_database().await.parse().unwrap();
    let (store, key) = SqlRecords::open(&url).await.unwrap();
    let id = SessionId::mint();
    let turn = |message: &str| TurnRecord {
        reply_id: key.reply_id(id),
        session: key.session_hash(id),
        message: message.into(),
        outcome: RecordedOutcome::OutOfScope,
        confidence: 0.25,
        article: None,
        embedding: Some(vec![0.6, -0.8]),
        complaint: false,
        care: None,
    };
    let first = turn("the first");
    store.write(vec![Write::Turn(first.clone())]).await.unwrap();
    // Two replicas' ids of one conversation can meet (the same millisecond
    // and the same 16 random bits); that must not cost the rest of a batch.
    let again = TurnRecord {
        message: "the first, again".into(),
        ..first.clone()
    };
    let second = TurnRecord {
        // A millisecond later: the transcript's order.
        reply_id: key.reply_id_at(id, first.reply_id.at() + 1),
        ..turn("the second")
    };
    store
        .write(vec![Write::Turn(again), Write::Turn(second.clone())])
        .await
        .unwrap();
    let kept: Vec<(String, String)> = store
        .transcript(&first.session)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.reply_id, t.message))
        .collect();
    let expected = [first, second].map(|t| (t.reply_id.as_str().to_owned(), t.message));
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn turns_kept_before_reply_ids_began_with_their_time_get_ids_that_do_and_keep_their_votes() {
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::{RecordStore, ReplyId, day_of};
    use support_chat::domain::session::SessionId;
    use support_chat::store::sql::SqlRecords;

    let url = fresh_database().await;
    let (_, key) = SqlRecords::open(&url.parse().unwrap()).await.unwrap();
    // The database as an older server left it: migration 5 not yet run, the
    // time index there, and turns whose reply ids do not begin with their
    // time (random, from before, or a millisecond off).
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    let session = key.session_hash(SessionId::mint());
    let day = 24 * 60 * 60 * 1000;
    let (old, recent) = (now_millis() - 40 * day, now_millis() - 1000);
    let random = "f3a9c0d2e4b6a8c0e1d3f5a7b9c1d3e5";
    let off_by_one = format!("{}a1b2c3d4e5f60718293a", ReplyId::first_at(recent - 1));
    for statement in [
        "CREATE INDEX turns_by_time ON turns (at_ms)",
        "DELETE FROM _sqlx_migrations WHERE version = 5",
    ] {
        sqlx::query(statement).execute(&raw).await.unwrap();
    }
    let turn = "INSERT INTO turns (reply_id, session_hash, at_ms, day, message, outcome, confidence) \
                VALUES ($1, $2, $3, $4, 'a question', 'handoff', 0.2)";
    let vote = "INSERT INTO feedback (reply_id, session_hash, at_ms, day, helpful) \
                VALUES ($1, $2, $3, $4, 0)";
    for (sql, reply_id, at) in [
        (turn, random, old),
        (turn, off_by_one.as_str(), recent),
        (vote, random, old),
    ] {
        sqlx::query(sql)
            .bind(reply_id)
            .bind(session.as_str())
            .bind(at)
            .bind(day_of(at))
            .execute(&raw)
            .await
            .unwrap();
    }
    raw.close().await;

    let (store, _) = SqlRecords::open(&url.parse().unwrap()).await.unwrap();
    let turns = store.transcript(&session).await.unwrap();
    assert_eq!(turns.len(), 2);
    for turn in &turns {
        assert!(
            turn.reply_id.starts_with(&ReplyId::first_at(turn.at)),
            "{} at {}",
            turn.reply_id,
            turn.at
        );
    }
    assert_eq!(
        turns[0].reply_id[12..],
        random[12..],
        "the rest of the id is kept"
    );
    assert_eq!(turns[0].helpful, Some(false), "its vote followed it");
    // Found by time now: the month-old one goes with the retention.
    store.purge(now_millis() - 30 * day, 0).await.unwrap();
    let left = store.transcript(&session).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, recent);
}

#[tokio::test]
async fn an_export_pages_through_every_turn_once_in_time_order() {
    use futures_util::StreamExt;
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::{RecordStore, Write};
    use support_chat::domain::session::SessionId;
    use support_chat::store::sql::SqlRecords;

    let url = fresh_database().await.parse().unwrap();
    let (store, key) = SqlRecords::open(&url).await.unwrap();
    let sessions = [SessionId::mint(), SessionId::mint(), SessionId::mint()];
    let start = now_millis() - 60_000;
    // Three pages and a bit (a page is 500), written out of order, three
    // turns to a millisecond, one of each conversation (two replies of one
    // conversation in one millisecond may share an id: 16 random bits).
    let turns: Vec<Write> = (0..1201)
        .rev()
        .map(|i: i64| {
            let session = sessions[(i % 3) as usize];
            answered_turn(&key, session, start + i / 3, &format!("question {i}"))
        })
        .collect();
    store.write(turns).await.unwrap();

    let all: Vec<_> = store.export(None).map(Result::unwrap).collect().await;
    assert_eq!(all.len(), 1201);
    assert!(
        all.windows(2)
            .all(|w| w[0].reply_id < w[1].reply_id && w[0].at <= w[1].at)
    );
    assert_eq!((all[0].at, all[1200].at), (start, start + 400));
    let first = key.session_hash(sessions[0]);
    let mine: Vec<_> = store
        .export(Some(first.clone()))
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(mine.len(), 401);
    assert!(mine.iter().all(|t| t.session == first));
}

#[tokio::test]
async fn what_another_replica_still_had_queued_of_an_erased_conversation_is_never_written() {
    use support_chat::domain::clock::now_millis;
    use support_chat::domain::records::{FeedbackRecord, RecordStore, Write};
    use support_chat::domain::session::SessionId;
    use support_chat::store::sql::SqlRecords;

    let url = fresh_database().await.parse().unwrap();
    let (store, key) = SqlRecords::open(&url).await.unwrap();
    let turn = |session, message: &str| answered_turn(&key, session, now_millis(), message);
    let (erased, other) = (SessionId::mint(), SessionId::mint());
    store.write(vec![turn(erased, "before")]).await.unwrap();
    assert_eq!(store.erase(&key.session_hash(erased)).await.unwrap(), 1);
    // One replica erased it; another's writer now writes what it had queued.
    let vote = Write::Feedback(FeedbackRecord {
        reply_id: key.reply_id_at(erased, now_millis()),
        session: key.session_hash(erased),
        at: now_millis(),
        helpful: true,
    });
    store
        .write(vec![
            turn(erased, "queued"),
            vote,
            turn(other, "someone else"),
        ])
        .await
        .unwrap();
    assert!(
        store
            .transcript(&key.session_hash(erased))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .transcript(&key.session_hash(other))
            .await
            .unwrap()
            .len(),
        1,
        "the rest of the batch is written"
    );
    // What is said in it well after the erase (the team erased it, the
    // visitor chats on under the same session) is recorded as usual.
    let later = answered_turn(&key, erased, now_millis() + 60_000, "a minute later");
    store.write(vec![later]).await.unwrap();
    let kept = store.transcript(&key.session_hash(erased)).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].message, "a minute later");
    // A write and an erase at once: whichever goes first, nothing is left.
    for _ in 0..20 {
        let session = SessionId::mint();
        let (written, gone) = tokio::join!(
            store.write(vec![turn(session, "racing")]),
            store.erase(&key.session_hash(session))
        );
        written.unwrap();
        gone.unwrap();
        assert!(
            store
                .transcript(&key.session_hash(session))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_conversation_erased_while_one_of_its_replies_is_being_made_stays_erased() {
    let (public, admin, setup) = with_admin(&["--chat-rate-limit", "1000/60s"]).await;
    for round in 0..15 {
        let first = say(public, "How long does an application take?", None).await;
        let session = first["session"].as_str().unwrap().to_owned();
        // A new question, so that its reply takes the engine's time; the
        // erase (from another tab) lands before, during or after it.
        let follow_up = format!("and what do I need for a loan of {round}0,000 pounds?");
        let asked = json!({ "message": follow_up, "session": session });
        let erase = json_request("DELETE", SESSION_PATH, json!({ "session": session }));
        let (reply, gone) = tokio::join!(chat(public, &asked), send(public, erase));
        assert_eq!(reply.status, 200);
        assert_eq!(gone.status, 204);
        let after = say(public, "hello", Some(&session)).await;
        assert_ne!(
            after["session"], session,
            "round {round}: the erased conversation came back"
        );
    }
    setup.state.chat.recorder.flush().await;
    let turns = exported(admin).await;
    assert!(
        turns
            .iter()
            .all(|t| t["message"] != "How long does an application take?"),
        "{turns:?}"
    );
}
