//! The `support-chat` binary itself: start-up, graceful shutdown, failures.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::helpers::{
    BIN, Running, binary_with_fixture, binary_with_fixture_and, chat, start_binary, terminate,
    unique,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_then_the_server_exits_cleanly() {
    let (mut child, addr) = start_binary(&[], &[]);
    let body = r#"{"message":"How long does an application take?"}"#;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /public/v1/support/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "still serving the request in flight"
    );

    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"session\""));

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_broken_knowledge_base_stops_start_up_with_a_message_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("support-chat-kb-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("good.md"),
        "---\nid: a\ntitle: A\nquestions:\n  - what is a\n---\nA.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.md"),
        "---\nid: b\ntitle: B\n---\nNo questions here.\n",
    )
    .unwrap();
    // Asset fixtures, so the failure is the knowledge base's whatever was
    // built before this test (CI runs it before the widget is built).
    let output = binary_with_fixture()
        .arg("--kb")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.md"), "{stderr}");
}

#[test]
fn a_missing_widget_build_stops_start_up_with_a_clear_message() {
    let output = Command::new(BIN)
        .args(["--widget-dir", "/nonexistent", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("make build"));
}

#[tokio::test]
async fn a_missing_model_stops_start_up_naming_the_make_target_unless_told_to_run_lexical_only() {
    let output = binary_with_fixture()
        .args(["--model-dir", "/nonexistent/model"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("make model"), "{stderr}");
    assert!(stderr.contains("/nonexistent/model"), "{stderr}");
    assert!(stderr.contains("--encoder none"), "{stderr}");

    let (mut server, addr) = start_binary(
        &["--model-dir", "/nonexistent/model", "--encoder", "none"],
        &[],
    );
    let message = serde_json::json!({ "message": "How long does an application take?" });
    let reply = chat(addr.parse().unwrap(), &message).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["handoff"], false, "the lexical engine answers");
}

#[test]
fn bad_flags_are_refused_with_the_reason() {
    let output = Command::new(BIN)
        .args(["--chat-rate-limit", "0/60s"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("0/60s"));
    for (flag, value, says) in [
        ("--trusted-proxies", "not-an-ip", "not-an-ip"),
        (
            "--files-rate-limit",
            "2000000000/1s",
            "faster than once a nanosecond",
        ),
        ("--read-buffer-bytes", "4096", "4096"),
        ("--header-read-timeout-secs", "0", "0"),
        ("--max-connections-per-client", "0", "0"),
        ("--ipv6-aggregate-limits", "200=1/1s", "32 to 127"),
        (
            "--allowed-origins",
            "https://a.example/path",
            "invalid origin",
        ),
        ("--public-url", "javascript:alert(1)", "invalid public URL"),
        (
            "--public-url",
            "https://x.example/\"><script>",
            "invalid public URL",
        ),
        (
            "--session-idle-minutes",
            "99999999999999999",
            "99999999999999999",
        ),
        ("--max-message-chars", "0", "0"),
        ("--embedding-cache", "", "expected a file, or off"),
        ("--tune-epochs", "101", "101"),
        ("--max-body-bytes", "0", "0"),
        (
            "--ipv6-aggregate-limits",
            "64=100/60s",
            "wider than --ipv6-prefix 64",
        ),
    ] {
        let output = Command::new(BIN).args([flag, value]).output().unwrap();
        assert!(!output.status.success(), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains(says),
            "{flag} {value}: {stderr}"
        );
    }
}

#[test]
fn eval_prints_one_json_object_as_its_last_line() {
    let dir = std::env::temp_dir().join(format!("support-chat-eval-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let train = "text,category\n\
        how long does an application take,timing\nhow quickly can I apply,timing\nwhen will I hear back,timing\n\
        do I need a personal guarantee,guarantee\nam I personally liable,guarantee\nwill directors guarantee the loan,guarantee\n";
    let test = "text,category\nhow long will my application take,timing\nis a personal guarantee needed,guarantee\nwhat is the capital of France,oos\n";
    std::fs::write(dir.join("train.csv"), train).unwrap();
    std::fs::write(dir.join("test.csv"), test).unwrap();
    let output = Command::new(BIN)
        .arg("eval")
        .arg("--train")
        .arg(dir.join("train.csv"))
        .arg("--test")
        .arg(dir.join("test.csv"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["n"], 3);
    assert_eq!(report["in_scope_n"], 2);
    assert_eq!(report["oos_n"], 1);
    for key in [
        "in_scope_accuracy",
        "oos_recall",
        "train_ms",
        "us_per_query",
    ] {
        assert!(report[key].is_number(), "{key}: {report}");
    }
    let curve = &report["oos_curve"];
    assert_eq!(curve["recall_at"].as_array().unwrap().len(), 3, "{report}");
    assert!(curve["auc"].is_number(), "{report}");

    // The near-domain protocol: one of the two categories is held out of
    // training, and its test row counts as out of scope.
    let held = Command::new(BIN)
        .arg("eval")
        .arg("--train")
        .arg(dir.join("train.csv"))
        .arg("--test")
        .arg(dir.join("test.csv"))
        .args(["--hold-out-intents", "1", "--split", "2"])
        .output()
        .unwrap();
    assert!(
        held.status.success(),
        "{}",
        String::from_utf8_lossy(&held.stderr)
    );
    let stdout = String::from_utf8(held.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["in_scope_n"], 1, "{report}");
    assert_eq!(report["oos_n"], 2, "{report}");
    assert_eq!(
        report["train_n"], 3,
        "one category's three questions: {report}"
    );
}

#[test]
fn check_kb_reports_the_sample_and_fails_a_knowledge_base_that_confuses_itself() {
    // Untuned here (minutes otherwise): `make check-kb` runs it tuned. The
    // embeddings are kept for the next check (this test's second run, and
    // the next suite's).
    let file = Path::new(BIN).with_file_name("check-kb-embeddings.bin");
    let cache = format!("--embedding-cache={}", file.display());
    let sample = Command::new(BIN)
        .args(["check-kb", "--tune-epochs", "0", &cache])
        .output()
        .unwrap();
    assert!(file.is_file(), "the embeddings are written after a check");
    let report = String::from_utf8_lossy(&sample.stdout);
    assert!(
        report.contains("334 questions, 5-fold cross-validation"),
        "{report}"
    );
    // The answer threshold's histogram, and the out-of-scope rule's curve
    // with the point it is served at.
    assert!(report.contains("<- threshold"), "{report}");
    assert!(report.contains("  5 % -> "), "{report}");
    assert!(report.contains("served by default at 5 % ("), "{report}");
    assert!(report.contains("untuned"), "{report}");
    // The rule as a server given the same flag would serve it.
    let given = Command::new(BIN)
        .args([
            "check-kb",
            "--tune-epochs",
            "0",
            "--handoff-target",
            "0.08",
            &cache,
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&given.stdout);
    assert!(report.contains("  8 % -> "), "{report}");
    assert!(report.contains("served at 8 % ("), "{report}");
    let json = Command::new(BIN)
        .args(["check-kb", "--json", "--tune-epochs", "0", &cache])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["articles"].as_array().unwrap().len(), 21);
    assert_eq!(value["scope"]["served"]["target"], 0.05, "{value}");
    // The sample passes: the exit status is the verdict.
    assert_eq!(value["passed"], true, "{value}");
    assert_eq!(json.status.code(), Some(0));
    assert_eq!(sample.status.code(), Some(0));

    // Two articles asked the same way: one of them cannot be reached.
    let dir = std::env::temp_dir().join(format!("support-chat-check-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let questions =
        "  - how do i apply\n  - where can i apply\n  - can i apply online\n  - i want to apply\n";
    for id in ["apply-a", "apply-b"] {
        std::fs::write(
            dir.join(format!("{id}.md")),
            format!("---\nid: {id}\ntitle: Apply {id}\nquestions:\n{questions}---\nAnswer.\n"),
        )
        .unwrap();
    }
    // Its cache "file" is a folder, which can be neither read nor written:
    // warnings, and the exit status is still the check's verdict.
    let failing = Command::new(BIN)
        .args(["check-kb", "--tune-epochs", "0", "--max-misdirected", "0.1"])
        .arg(format!("--embedding-cache={}", dir.display()))
        .arg("--kb")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(failing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failing.stdout).contains("FAIL"));
    let warned = String::from_utf8_lossy(&failing.stderr);
    assert!(warned.contains("; encoding without it"), "{warned}");
    assert!(warned.contains("; not kept"), "{warned}");
    let partial = format!("{}.partial-", dir.file_name().unwrap().to_string_lossy());
    let left = std::fs::read_dir(dir.parent().unwrap()).unwrap().flatten();
    assert!(
        !left
            .into_iter()
            .any(|e| e.file_name().to_string_lossy().starts_with(&partial)),
        "nothing half-written is left beside it"
    );
    let missing = Command::new(BIN)
        .args(["check-kb", "--kb", "/nonexistent/kb"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unanswered_question_survives_a_restart_and_one_admin_call_teaches_the_assistant() {
    use crate::helpers::{
        ADMIN_TOKEN, admin_get, admin_request, fresh_database, sample_kb_copy, send,
    };
    let kb = sample_kb_copy();
    let database = fresh_database().await;
    let kb_flag = kb.display().to_string();
    let flags = ["--kb", kb_flag.as_str(), "--database", database.as_str()];
    let env = [("SUPPORT_CHAT_ADMIN_TOKEN", ADMIN_TOKEN)];
    let (server, public, admin) = crate::helpers::start_binary_with_admin(&flags, &env);
    let mut server = crate::helpers::Running(server);
    let (public, admin): (std::net::SocketAddr, std::net::SocketAddr) =
        (public.parse().unwrap(), admin.parse().unwrap());
    let question = "do you have a branch in Manchester?";
    for asked in [question, "Is there a Manchester branch?"] {
        let reply = chat(public, &serde_json::json!({ "message": asked }))
            .await
            .json();
        assert!(reply["handoff"].as_bool().unwrap(), "{reply}");
    }
    // Seconds later, redacted and grouped, in the inbox.
    let item_of = |inbox: serde_json::Value| {
        inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["text"].as_str().unwrap().contains("Manchester"))
            .cloned()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let inbox = admin_get(admin, "/admin/api/unanswered").await.json();
        let item = item_of(inbox);
        if item.as_ref().is_some_and(|i| i["count"] == 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not one item of two: {item:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A restart keeps it, and what was still queued at SIGTERM is written.
    chat(public, &serde_json::json!({ "message": "one last hello" })).await;
    terminate(&mut server.0);
    let (server, public, admin) = crate::helpers::start_binary_with_admin(&flags, &env);
    let mut server = crate::helpers::Running(server);
    let (public, admin): (std::net::SocketAddr, std::net::SocketAddr) =
        (public.parse().unwrap(), admin.parse().unwrap());
    let inbox = admin_get(admin, "/admin/api/unanswered").await.json();
    assert_eq!(item_of(inbox).unwrap()["count"], 2);
    let export = admin_get(admin, "/admin/api/export").await;
    assert!(String::from_utf8_lossy(&export.body).contains("one last hello"));

    // One call adds it as an example; the next visitor asking gets the answer.
    let added = send(
        admin,
        admin_request(
            "POST",
            "/admin/api/kb/handoff/questions",
            Some(serde_json::json!({ "text": question })),
        ),
    )
    .await;
    assert_eq!(added.status, 201);
    let contact = support_chat_assistant::KnowledgeBase::load_dir(&kb).unwrap();
    let contact = &contact.get("handoff").unwrap().body;
    let reply = chat(public, &serde_json::json!({ "message": question }))
        .await
        .json();
    assert!(
        reply["reply"]
            .as_str()
            .unwrap()
            .starts_with(contact.as_str()),
        "{reply}"
    );
    terminate(&mut server.0);
}

#[tokio::test]
async fn sighup_reloads_the_knowledge_base() {
    use crate::helpers::{
        ADMIN_TOKEN, Running, admin_get, sample_kb_copy, start_binary_with_admin,
    };
    let kb = sample_kb_copy().display().to_string();
    let env = [("SUPPORT_CHAT_ADMIN_TOKEN", ADMIN_TOKEN)];
    let (server, _, admin) = start_binary_with_admin(&["--kb", &kb], &env);
    let server = Running(server);
    let admin: std::net::SocketAddr = admin.parse().unwrap();
    assert_eq!(admin_get(admin, "/admin/api/kb").await.json()["loads"], 1);
    assert!(
        Command::new("kill")
            .args(["-HUP", &server.0.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while admin_get(admin, "/admin/api/kb").await.json()["loads"] != 2 {
        assert!(std::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_reload_adds_its_new_questions_to_the_embeddings_file_and_never_a_visitors_message() {
    use crate::helpers::{ADMIN_TOKEN, admin_get, sample_kb_copy, start_binary_with_admin};
    use sha2::{Digest, Sha256};
    // The file's texts, by their SHA-256 (after its first line, records
    // of a 32-byte hash and 384 floats).
    let hashes = |path: &Path| -> std::collections::HashSet<Vec<u8>> {
        let bytes = std::fs::read(path).unwrap();
        let start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        let records = bytes[start..].chunks_exact(32 + 384 * 4);
        records.map(|r| r[..32].to_vec()).collect()
    };
    let hash = |text: &str| Sha256::digest(support_chat_assistant::normalise(text)).to_vec();
    let kb = sample_kb_copy();
    let dir = std::env::temp_dir().join(format!("support-chat-kept-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = dir.join("embeddings.bin");
    // Started from the test run's file, so it trains in about a second.
    let shared = Path::new(BIN).with_file_name("test-embeddings.bin");
    let _ = std::fs::copy(shared, &cache);
    let flag = format!("--embedding-cache={}", cache.display());
    let env = [("SUPPORT_CHAT_ADMIN_TOKEN", ADMIN_TOKEN)];
    let (server, public, admin) =
        start_binary_with_admin(&["--kb", kb.to_str().unwrap(), &flag], &env);
    let _server = Running(server);
    let (public, admin): (std::net::SocketAddr, std::net::SocketAddr) =
        (public.parse().unwrap(), admin.parse().unwrap());
    let started = hashes(&cache);

    let visitor = "Could a bakery in Harrogate borrow for two new ovens?";
    assert_eq!(
        chat(public, &serde_json::json!({ "message": visitor }))
            .await
            .status,
        200
    );
    let question = "can a bakery borrow for new ovens";
    let article = kb.join("about-chat.md");
    let text = std::fs::read_to_string(&article).unwrap();
    let text = text.replacen("questions:\n", &format!("questions:\n  - {question}\n"), 1);
    std::fs::write(&article, text).unwrap(); // the folder is watched
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while admin_get(admin, "/admin/api/kb").await.json()["loads"] == 1 {
        assert!(std::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let reloaded = hashes(&cache);
    assert!(
        reloaded.contains(&hash(question)),
        "the new question is kept"
    );
    assert!(
        reloaded.is_superset(&started),
        "and every text trained before"
    );
    assert!(!reloaded.contains(&hash(visitor)), "nothing a visitor sent");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&kb);
}

/// Starts the binary with `flags` and returns it with its address and the
/// lines it logged before it listened.
fn start_logging(flags: &[&str]) -> (Running, std::net::SocketAddr, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Running(
        binary_with_fixture_and(flags)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut logged = Vec::new();
    loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        if let Some((_, rest)) = line.split_once("listening on http://") {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            std::thread::spawn(move || lines.for_each(drop));
            return (child, addr, logged);
        }
        logged.push(line);
    }
}

#[tokio::test]
async fn the_training_texts_embeddings_are_kept_for_the_next_start_which_answers_the_same() {
    let dir = std::env::temp_dir().join(format!("support-chat-embeddings-{}", unique()));
    let cache = dir.join("new folder").join("embeddings.bin");
    let flag = format!("--embedding-cache={}", cache.display());
    let question = serde_json::json!({ "message": "How long does an application take?" });
    // Each start: what it logged about the cache, and its answer.
    let start = |name: &'static str| {
        let flag = flag.clone();
        let question = question.clone();
        async move {
            let (server, addr, logged) = start_logging(&[&flag]);
            let reply = chat(addr, &question).await;
            drop(server); // stopped by pid
            assert_eq!(reply.status, 200, "{name} start");
            let mut reply = reply.json();
            for varies in ["session", "reply_id"] {
                reply.as_object_mut().unwrap().remove(varies);
            }
            let cache_lines: Vec<String> = logged
                .into_iter()
                .filter(|l| l.contains("embedding cache"))
                .collect();
            (cache_lines, reply)
        }
    };
    let read = |lines: &[String]| -> usize {
        let line = lines.iter().find(|l| l.contains("embedding cache read"));
        let entries = line.and_then(|l| l.split_once("entries="));
        entries.map_or(0, |(_, n)| n.trim().parse().unwrap())
    };

    let (first, answer) = start("first").await;
    assert_eq!(read(&first), 0, "nothing to read yet: {first:?}");
    assert!(cache.exists(), "written once trained, its folder made");
    let (second, same) = start("second").await;
    assert!(
        read(&second) > 2000,
        "the training texts read (the duty-of-care examples alone are over 2,000): {second:?}"
    );
    assert_eq!(same, answer, "the same engine either way");

    std::fs::write(&cache, b"not an embedding cache").unwrap();
    let (garbled, same) = start("garbled").await;
    assert!(
        garbled
            .iter()
            .any(|l| l.contains("embedding cache unreadable")),
        "{garbled:?}"
    );
    assert_eq!(same, answer, "trained around it");
    let (mended, _) = start("mended").await;
    assert!(read(&mended) > 2000, "written whole again: {mended:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
