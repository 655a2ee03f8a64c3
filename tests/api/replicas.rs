//! Several replicas on one real Redis (Debian's `redis-server`, started here
//! on a unix socket in a temporary folder and stopped by its pid): one rate
//! limit and one conversation across them, and Redis failing as an
//! operational event, not an outage.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Request;
use http_body_util::Full;
use serde_json::json;
use support_chat::http::Assets;

use crate::helpers::*;

/// A redis-server of our own, on a unix socket; killed (by pid) when dropped.
struct RedisServer {
    dir: PathBuf,
    child: Child,
}

impl RedisServer {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("support-chat-redis-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Self::spawn(&dir);
        Self { dir, child }
    }

    fn spawn(dir: &std::path::Path) -> Child {
        let socket = dir.join("redis.sock");
        let _ = std::fs::remove_file(&socket);
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .args(["--unixsocketperm", "700"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn url(&self) -> String {
        format!("unix://{}", self.dir.join("redis.sock").display())
    }

    /// `kill -9`, as a crash would.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A fresh server on the same socket (empty, like a restarted cache).
    fn restart(&mut self) {
        self.child = Self::spawn(&self.dir);
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .arg("-s")
            .arg(self.dir.join("redis.sock"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A replica on `redis`, with `flags`; clients are told apart by
/// `X-Forwarded-For` from the trusted loopback proxy.
async fn replica(redis: &RedisServer, flags: &[&str]) -> std::net::SocketAddr {
    replica_and_admin(redis, flags).await.0
}

/// [`replica`]'s public and admin listeners.
async fn replica_and_admin(
    redis: &RedisServer,
    flags: &[&str],
) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let url = redis.url();
    let mut all = vec![
        "--redis-url",
        url.as_str(),
        "--redis-key-secret",
        "a test secret of enough length",
        "--trusted-proxies",
        "127.0.0.1",
    ];
    all.extend_from_slice(flags);
    spawn_both(setup_with(&args(&all), Assets::default()).await).await
}

/// What `GET /readyz` says.
async fn readiness(addr: std::net::SocketAddr) -> serde_json::Value {
    let request = Request::get("/readyz")
        .header("host", "localhost")
        .body(Full::default())
        .unwrap();
    send(addr, request).await.json()
}

fn from(client: &str, message: &str, session: Option<&str>) -> Request<Full<axum::body::Bytes>> {
    let mut request = chat_request(json!({ "message": message, "session": session }).to_string());
    request
        .headers_mut()
        .insert("x-forwarded-for", client.parse().unwrap());
    request
}

/// A handoff of `session` to jo@example.com, asked from `client`.
fn handoff_from(client: &str, session: &str) -> Request<Full<axum::body::Bytes>> {
    let body = json!({ "session": session, "email": "jo@example.com" });
    let mut request = crate::handoff::handoff_request(&body);
    request
        .headers_mut()
        .insert("x-forwarded-for", client.parse().unwrap());
    request
}

#[tokio::test]
async fn two_replicas_on_one_redis_grant_exactly_60_of_200_simultaneous_requests() {
    let redis = RedisServer::start();
    let (a, b) = (replica(&redis, &[]).await, replica(&redis, &[]).await);
    let requests = (0..200).map(|i| {
        let addr = if i % 2 == 0 { a } else { b };
        tokio::spawn(async move { send(addr, from("198.51.100.7", "hello", None)).await })
    });
    let mut ok = 0;
    let mut retry_after = Vec::new();
    for request in requests {
        let reply = request.await.unwrap();
        match reply.status.as_u16() {
            200 => ok += 1,
            429 => retry_after.push(reply.header("retry-after").unwrap().parse::<u64>().unwrap()),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 60);
    assert_eq!(retry_after.len(), 140);
    let (min, max) = (
        retry_after.iter().min().unwrap(),
        retry_after.iter().max().unwrap(),
    );
    assert!(
        max - min <= 1 && *max <= 60,
        "both replicas agree: {min}..{max}"
    );
    // The keys hold a keyed hash of the client, never its address.
    let keys = redis.cli(&["--scan", "--pattern", "support-chat:rl:*"]);
    assert!(!keys.is_empty());
    assert!(!keys.contains("198.51.100.7"), "{keys}");
}

#[tokio::test]
async fn a_conversation_started_on_one_replica_continues_on_the_other() {
    let redis = RedisServer::start();
    let (a, b) = (replica(&redis, &[]).await, replica(&redis, &[]).await);
    let first = send(a, from("198.51.100.8", "How do I complain?", None))
        .await
        .json();
    let session = first["session"].as_str().unwrap();
    let follow_up = send(
        b,
        from("198.51.100.8", "how long does that take?", Some(session)),
    )
    .await
    .json();
    assert_eq!(
        follow_up["session"], session,
        "replica b knows the conversation"
    );
    let alone = send(b, from("198.51.100.9", "how long does that take?", None))
        .await
        .json();
    assert_ne!(
        follow_up["reply"], alone["reply"],
        "the follow-up was read in the conversation's topic"
    );
    // Turns are capped (--max-turns 3) and expire with the conversation.
    for _ in 0..5 {
        send(a, from("198.51.100.8", "hello", Some(session))).await;
    }
    let key = format!("support-chat:s:{session}");
    assert_eq!(redis.cli(&["LLEN", &key]), "3");
    let ttl: i64 = redis.cli(&["PTTL", &key]).parse().unwrap();
    assert!(ttl > 29 * 60 * 1000 && ttl <= 30 * 60 * 1000, "{ttl}");
}

#[tokio::test]
async fn an_erase_redis_does_not_carry_out_is_a_503_and_its_retry_erases() {
    let redis = RedisServer::start();
    let a = replica(&redis, &[]).await;
    let first = send(a, from("198.51.100.19", "hello", None)).await.json();
    let session = first["session"].as_str().unwrap().to_owned();
    let key = format!("support-chat:s:{session}");
    assert_eq!(redis.cli(&["EXISTS", &key]), "1");
    let erase = || {
        let mut request = Request::delete(support_chat_api::SESSION_PATH)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(json!({ "session": session }).to_string().into()))
            .unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", "198.51.100.19".parse().unwrap());
        request
    };
    // Redis holds every write for 2 s: longer than the replica waits (250 ms).
    assert_eq!(redis.cli(&["CLIENT", "PAUSE", "2000", "WRITE"]), "OK");
    let refused = send(a, erase()).await;
    envelope(&refused, 503, "unavailable");
    assert_eq!(refused.header("retry-after"), Some("5"));
    // Read while writes are held (the timed-out DEL may still run after).
    assert_eq!(
        redis.cli(&["EXISTS", &key]),
        "1",
        "not erased, not said to be"
    );
    assert_eq!(redis.cli(&["CLIENT", "UNPAUSE"]), "OK");
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(a, erase()).await.status != 204 {
        assert!(Instant::now() < deadline, "the retry never erased");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(redis.cli(&["EXISTS", &key]), "0");
}

#[tokio::test]
async fn a_handoff_asked_of_a_replica_that_has_not_recorded_the_conversation_yet_is_taken() {
    // Each replica here records to a database of its own, so b never sees
    // a's turns: as when a has them still queued. Redis, shared, knows the
    // conversation is live.
    let redis = RedisServer::start();
    let hook = [
        "--handoff-webhook-url",
        "http://127.0.0.1:9/hook",
        "--handoff-webhook-secret",
        "a webhook secret of some length",
    ];
    let (a, b) = (replica(&redis, &hook).await, replica(&redis, &hook).await);
    let first = send(a, from("198.51.100.20", "hello", None)).await.json();
    let ask = |session: &str| handoff_from("198.51.100.20", session);
    let taken = send(b, ask(first["session"].as_str().unwrap())).await;
    assert_eq!(
        taken.status,
        202,
        "{}",
        String::from_utf8_lossy(&taken.body)
    );
    let never = support_chat::domain::session::SessionId::mint().to_string();
    envelope(&send(b, ask(&never)).await, 404, "unknown_session");
}

#[tokio::test]
async fn a_handoff_asked_of_one_replica_carries_the_turn_the_other_has_just_answered() {
    // One database and one Redis. Replica a answers and queues the turn
    // (its writer lingers before writing); the visitor asks b for a person
    // at once. What the team receives holds that turn all the same.
    let redis = RedisServer::start();
    let receiver = crate::handoff::Receiver::start(0, Duration::ZERO).await;
    let mut flags = crate::handoff::webhook_flags(&receiver);
    flags.extend(["--database".to_owned(), fresh_database().await]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (a, b) = (replica(&redis, &flags).await, replica(&redis, &flags).await);
    let question = "How long does an application take?";
    let first = send(a, from("198.51.100.21", question, None)).await.json();
    let session = first["session"].as_str().unwrap();
    let request = handoff_from("198.51.100.21", session);
    assert_eq!(send(b, request).await.status, 202);
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    let transcript = got[0].body["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), 1, "{transcript:?}");
    assert_eq!(transcript[0]["message"], question);
}

#[tokio::test]
async fn concurrent_turns_of_one_conversation_are_all_kept() {
    let redis = RedisServer::start();
    let a = replica(&redis, &["--max-turns", "50"]).await;
    let first = send(a, from("198.51.100.10", "hello", None)).await.json();
    let session = first["session"].as_str().unwrap().to_owned();
    let turns = (0..20).map(|_| {
        let session = session.clone();
        tokio::spawn(async move { send(a, from("198.51.100.10", "thanks", Some(&session))).await })
    });
    for turn in turns {
        assert_eq!(turn.await.unwrap().status, 200);
    }
    assert_eq!(
        redis.cli(&["LLEN", &format!("support-chat:s:{session}")]),
        "21"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_degrades_without_errors_and_shared_limiting_resumes_when_it_returns() {
    let mut redis = RedisServer::start();
    let ((a, a_admin), b) = (
        replica_and_admin(&redis, &["--chat-rate-limit", "1000/60s"]).await,
        replica(&redis, &["--chat-rate-limit", "1000/60s"]).await,
    );

    assert_eq!(
        send(a, from("198.51.100.11", "hello", None)).await.status,
        200
    );
    assert_eq!(readiness(a).await["redis"]["status"], "up");

    // kill -9 under load: every request is answered, none waits long.
    let load = tokio::spawn(async move {
        let mut slowest = Duration::ZERO;
        for i in 0..150 {
            let started = Instant::now();
            let reply = send(
                if i % 2 == 0 { a } else { b },
                from("198.51.100.12", "hello", None),
            )
            .await;
            assert_eq!(reply.status, 200, "request {i}");
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        slowest
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    redis.kill();
    let slowest = load.await.unwrap();
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request {slowest:?}"
    );
    let down = readiness(a).await;
    assert_eq!(down["redis"]["status"], "down", "{down}");
    let fallbacks = down["redis"]["fallbacks"].as_u64().unwrap();
    assert!(fallbacks > 0);
    // The same, as metrics. Gauges are the process's, set by each scrape
    // from its server's Redis: another test's scrape may come between.
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(a_admin, "redis_up").await != 0.0
        || metric(a_admin, "redis_fallbacks").await < fallbacks as f64
    {
        assert!(Instant::now() < deadline, "metrics do not show Redis down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Back: within about a second, both replicas share one window again.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness(a).await["redis"]["status"] != "up"
        || readiness(b).await["redis"]["status"] != "up"
    {
        assert!(Instant::now() < deadline, "did not reconnect");
        send(a, from("198.51.100.13", "hello", None)).await;
        send(b, from("198.51.100.13", "hello", None)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The script cache is gone after a restart, and after SCRIPT FLUSH too.
    assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]), "OK");
    let shared = replica(&redis, &["--chat-rate-limit", "3/60s"]).await;
    let other = replica(&redis, &["--chat-rate-limit", "3/60s"]).await;
    let mut statuses = Vec::new();
    for addr in [shared, other, shared, other, shared] {
        statuses.push(
            send(addr, from("198.51.100.14", "hello", None))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429],
        "one window across replicas"
    );
}

#[tokio::test]
async fn a_replica_starts_while_redis_is_down_and_can_fail_closed() {
    let mut redis = RedisServer::start();
    redis.kill();
    let open = replica(&redis, &[]).await;
    let closed = replica(&redis, &["--redis-fallback", "closed"]).await;
    assert_eq!(
        send(open, from("198.51.100.15", "hello", None))
            .await
            .status,
        200
    );
    let refused = send(closed, from("198.51.100.15", "hello", None)).await;
    envelope(&refused, 429, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("1"));
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if send(closed, from("198.51.100.16", "hello", None))
            .await
            .status
            == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "closed fallback never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_rate_limit_contract_holds_on_redis_too() {
    let redis = RedisServer::start();
    let addr = replica(&redis, &["--chat-rate-limit", "5/60s"]).await;
    for i in 0..5 {
        let reply = send(addr, from("198.51.100.17", "hello", None)).await;
        assert_eq!(reply.status, 200, "request {}", i + 1);
        assert_eq!(
            reply.header("ratelimit"),
            Some(format!(r#""chat";r={};t=60"#, 4 - i).as_str())
        );
    }
    let refused = send(addr, from("198.51.100.17", "hello", None)).await;
    envelope(&refused, 429, "rate_limited");
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&wait), "{wait}");
    // Invalid requests count too, and the envelope is the same.
    let bad = send(addr, from("198.51.100.18", "", None)).await;
    envelope(&bad, 400, "message_empty");
    assert_eq!(bad.header("ratelimit"), Some(r#""chat";r=4;t=60"#));
}

/// A CA and a certificate for `localhost`, made with the openssl CLI.
fn certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (make installs it)");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=support-chat test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san"), "subjectAltName=DNS:localhost").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san",
    ]);
}

#[tokio::test]
async fn rediss_connects_over_tls_with_the_systems_trust_store() {
    let dir = std::env::temp_dir().join(format!("support-chat-tls-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-auth-clients",
            "no",
        ])
        .args(["--tls-port", &port.to_string()])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server (TLS) did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ca = dir.join("ca.pem");
    let url = format!("rediss://localhost:{port}");
    // The binary trusts the test CA the way a deployment trusts its own: through
    // the system's trust store, which SSL_CERT_FILE points at.
    let (mut server, addr) = start_binary(
        &[
            "--redis-url",
            &url,
            "--redis-key-secret",
            "a test secret of enough length",
        ],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let reply = send(addr, from("198.51.100.20", "hello", None)).await;
    assert_eq!(reply.status, 200);
    let ready = readiness(addr).await;
    assert_eq!(ready["redis"]["status"], "up", "{ready}");
    let keys = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&ca)
        .args([
            "-h",
            "localhost",
            "-p",
            &port.to_string(),
            "--scan",
            "--pattern",
            "support-chat:*",
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&keys.stdout).trim().is_empty(),
        "keys were written over TLS"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    redis.kill().unwrap();
    redis.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_suite_runs_on_the_backend_it_was_asked_for() {
    let addr = spawn(setup().await).await;
    assert_eq!(chat(addr, &hello()).await.status, 200);
    let ready = readiness(addr).await;
    match std::env::var("SUPPORT_CHAT_TEST_REDIS_URL") {
        // Under .ci/with-redis.sh: every server of this run is on Redis, and it answers.
        Ok(_) => {
            assert_eq!(ready["redis"]["status"], "up", "{ready}");
            assert_eq!(ready["redis"]["fallbacks"], 0, "{ready}");
        }
        Err(_) => assert_eq!(ready["redis"], "not configured", "{ready}"),
    }
}

#[tokio::test]
async fn redis_keeps_the_most_recent_conversations_within_the_cap() {
    let redis = RedisServer::start();
    let addr = replica(&redis, &["--max-sessions", "3"]).await;
    let mut sessions = Vec::new();
    for i in 0..5 {
        let client = format!("198.51.100.{}", 30 + i);
        let reply = send(addr, from(&client, "hello", None)).await.json();
        sessions.push(reply["session"].as_str().unwrap().to_owned());
    }
    let kept: Vec<String> = sessions
        .iter()
        .map(|s| redis.cli(&["EXISTS", &format!("support-chat:s:{s}")]))
        .collect();
    assert_eq!(
        kept,
        ["0", "0", "1", "1", "1"],
        "the two least recently used went"
    );
    let resumed = send(addr, from("198.51.100.30", "hello", Some(&sessions[0])))
        .await
        .json();
    assert_ne!(
        resumed["session"],
        sessions[0].as_str(),
        "a forgotten one starts afresh"
    );
}

/// Sessions on `redis`, waiting 250 ms for an answer, as a replica does.
fn redis_sessions(redis: &RedisServer) -> support_chat::store::redis::RedisSessions {
    use std::num::NonZeroUsize;
    use support_chat::domain::session::SessionLimits;
    use support_chat::store::redis::{Redis, RedisSessions};
    RedisSessions::new(
        Redis::connect(&redis.url(), Duration::from_millis(250)).unwrap(),
        SessionLimits {
            idle: Duration::from_secs(60),
            max_turns: NonZeroUsize::new(8).unwrap(),
            max_sessions: NonZeroUsize::new(100).unwrap(),
            max_bytes: 1 << 20,
        },
    )
}

fn stored_turn(message: &str) -> support_chat_assistant::Turn {
    support_chat_assistant::Turn {
        message: message.into(),
        outcome: support_chat_assistant::Outcome::Handoff {
            out_of_scope: false,
        },
        confidence: 0.0,
        complaint: false,
    }
}

#[tokio::test]
async fn a_reply_finished_after_its_conversation_was_erased_leaves_nothing_on_redis() {
    use support_chat::domain::session::{Begun, SessionStore};
    let redis = RedisServer::start();
    let sessions = redis_sessions(&redis);
    let (id, _) = sessions.resume(None, Instant::now()).await;
    assert_eq!(Begun::of(None, id), Begun::New);
    sessions
        .append(id, stored_turn("hello"), Begun::New, Instant::now())
        .await;
    let key = format!("support-chat:s:{id}");
    assert_eq!(
        redis.cli(&["EXISTS", &key]),
        "1",
        "a new conversation is kept"
    );

    // A second message arrives, and while its reply is being made the
    // visitor erases the conversation (from another tab).
    let (same, _) = sessions.resume(Some(id), Instant::now()).await;
    assert_eq!(Begun::of(Some(id), same), Begun::Before);
    sessions.forget(id).await.unwrap();
    let late = stored_turn("my sort code is [sort code]");
    sessions
        .append(id, late, Begun::Before, Instant::now())
        .await;
    assert_eq!(redis.cli(&["EXISTS", &key]), "0", "the erase is not undone");
    assert_eq!(redis.cli(&["ZSCORE", "support-chat:sessions", &key]), "");
    assert_ne!(sessions.resume(Some(id), Instant::now()).await.0, id);
}

#[tokio::test]
async fn a_conversation_erased_while_redis_could_not_say_it_was_there_stays_erased() {
    use support_chat::domain::session::{Begun, SessionStore};
    let redis = RedisServer::start();
    let sessions = redis_sessions(&redis);
    let id = sessions.resume(None, Instant::now()).await.0;
    sessions
        .append(id, stored_turn("hello"), Begun::New, Instant::now())
        .await;
    let key = format!("support-chat:s:{id}");
    // Redis answers nothing for 1 s: the message's resume falls back to
    // the same id without its turns.
    assert_eq!(redis.cli(&["CLIENT", "PAUSE", "1000", "ALL"]), "OK");
    let (same, history) = sessions.resume(Some(id), Instant::now()).await;
    assert_eq!((same, history.len()), (id, 0));
    assert_eq!(Begun::of(Some(id), same), Begun::Before);
    // Redis is back, the visitor erases, then that message's reply is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sessions.forget(id).await.is_err() {
        assert!(Instant::now() < deadline, "the erase never went through");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(redis.cli(&["EXISTS", &key]), "0");
    sessions
        .append(
            id,
            stored_turn("hello again"),
            Begun::Before,
            Instant::now(),
        )
        .await;
    assert_eq!(redis.cli(&["EXISTS", &key]), "0", "the erase is not undone");
    // And an id Redis never had does not become a conversation either.
    let stranger = support_chat::domain::session::SessionId::mint();
    sessions
        .append(stranger, stored_turn("hi"), Begun::Before, Instant::now())
        .await;
    assert_eq!(
        redis.cli(&["EXISTS", &format!("support-chat:s:{stranger}")]),
        "0"
    );
}

#[test]
fn the_largest_turn_fits_what_a_redis_conversation_is_counted_at() {
    use support_chat_assistant::{MAX_ID_BYTES, Outcome, STORED_MESSAGE_BYTES, Turn};
    let turn = Turn {
        message: "\u{10ffff}".repeat(STORED_MESSAGE_BYTES / 4),
        outcome: Outcome::Clarify {
            candidates: vec!["\\".repeat(MAX_ID_BYTES); 2],
        },
        confidence: f32::MIN_POSITIVE,
        complaint: true,
    };
    let json = serde_json::to_string(&turn).unwrap();
    assert!(
        json.len() + 64 <= support_chat::store::redis::TURN_BYTES,
        "{} bytes of JSON",
        json.len()
    );
}

#[tokio::test]
async fn a_client_over_its_limit_is_refused_without_a_round_trip_until_its_window_ends() {
    let redis = RedisServer::start();
    let addr = replica(&redis, &["--chat-rate-limit", "2/60s"]).await;
    let scripts = || -> u64 {
        let stats = redis.cli(&["INFO", "commandstats"]);
        stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    for _ in 0..2 {
        assert_eq!(
            send(addr, from("198.51.100.40", "hello", None))
                .await
                .status,
            200
        );
    }
    envelope(
        &send(addr, from("198.51.100.40", "hello", None)).await,
        429,
        "rate_limited",
    );
    let before = scripts();
    for _ in 0..20 {
        let refused = send(addr, from("198.51.100.40", "hello", None)).await;
        envelope(&refused, 429, "rate_limited");
        let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((59..=60).contains(&wait), "{wait}");
    }
    assert_eq!(scripts(), before, "twenty refusals, no script run");
}

#[tokio::test]
async fn after_redis_returns_both_replicas_share_one_window_without_waiting_for_traffic() {
    let mut redis = RedisServer::start();
    let (a, b) = (replica(&redis, &[]).await, replica(&redis, &[]).await);
    redis.kill();
    // One request each finds Redis gone; nothing else is sent until the end.
    for addr in [a, b] {
        assert_eq!(
            send(addr, from("198.51.100.40", "hello", None))
                .await
                .status,
            200
        );
        assert_eq!(readiness(addr).await["redis"]["status"], "down");
    }
    redis.restart();
    // Only readiness is asked (it does not touch Redis): the replicas find
    // Redis again by themselves, within about a second.
    let back = Instant::now();
    while readiness(a).await["redis"]["status"] != "up"
        || readiness(b).await["redis"]["status"] != "up"
    {
        assert!(
            back.elapsed() < Duration::from_secs(3),
            "not back without traffic"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The very first requests after that are decided by Redis: one window.
    let requests = (0..100).map(|i| {
        let addr = if i % 2 == 0 { a } else { b };
        tokio::spawn(async move { send(addr, from("198.51.100.41", "hello", None)).await })
    });
    let mut ok = 0;
    for request in requests {
        match request.await.unwrap().status.as_u16() {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 60, "exactly the shared quota");
}
