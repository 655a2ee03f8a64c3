//! The encoder tuned to the knowledge base (`Knowledge::keep_tuned`), in the
//! real binary: in the background after each load while the untuned engine
//! answers, then swapped in, and kept in a file the next start reads.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    ADMIN_TOKEN, BIN, Running, admin_get, admin_request, chat, sample_kb_copy, send,
    start_binary_with_admin, terminate, unique,
};

/// Waits until the admin API says whether the engine answering is tuned,
/// at most `limit`; how long it took.
async fn wait_until_tuned(admin: SocketAddr, tuned: bool, limit: Duration) -> Duration {
    let started = Instant::now();
    while admin_get(admin, "/admin/api/kb").await.json()["tuned"] != tuned {
        assert!(
            started.elapsed() < limit,
            "tuned is not {tuned} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// The `kb_tunings_total` count of `source` on `/metrics`.
async fn tunings(admin: SocketAddr, source: &str) -> Option<String> {
    let metrics = admin_get(admin, "/metrics").await.body;
    let line = format!("kb_tunings_total{{source=\"{source}\"}} ");
    String::from_utf8(metrics.to_vec())
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()).map(str::to_owned))
}

/// `message` answered with the cost article, not handed off.
async fn answered_with_cost(public: SocketAddr, message: &str) {
    let reply = chat(public, &json!({ "message": message })).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["handoff"], false, "{body}");
    assert!(
        body["reply"]
            .as_str()
            .unwrap()
            .starts_with("The cost depends"),
        "{body}"
    );
}

#[tokio::test]
async fn the_encoder_is_tuned_in_the_background_after_each_load_and_the_next_start_reads_it_back() {
    let kb = sample_kb_copy();
    let dir = std::env::temp_dir().join(format!("support-chat-tuning-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let cache = dir.join("embeddings.bin");
    // Started from the test run's file, so it trains in about a second.
    let _ = std::fs::copy(Path::new(BIN).with_file_name("test-embeddings.bin"), &cache);
    let cache_flag = format!("--embedding-cache={}", cache.display());
    let flags = ["--kb", kb.to_str().unwrap(), &cache_flag, "--tune-epochs=2"];
    let env = [("SUPPORT_CHAT_ADMIN_TOKEN", ADMIN_TOKEN)];
    let (server, public, admin) = start_binary_with_admin(&flags, &env);
    let mut server = Running(server);
    let (public, admin): (SocketAddr, SocketAddr) =
        (public.parse().unwrap(), admin.parse().unwrap());

    // Tuning takes seconds on its one thread; the untuned engine answers meanwhile.
    assert_eq!(
        admin_get(admin, "/admin/api/kb").await.json()["tuned"],
        false
    );
    answered_with_cost(public, "How much does it cost?").await;
    wait_until_tuned(admin, true, Duration::from_secs(240)).await;
    answered_with_cost(public, "How much does it cost?").await;
    assert_eq!(tunings(admin, "tuning").await.as_deref(), Some("1"));
    assert!(
        dir.join("embeddings-tuned.bin").is_file(),
        "kept for the next start"
    );

    // A reload swaps in an untuned engine at once (the new question is
    // answered from then on), and that one is tuned in its turn.
    let question = "what will a loan for a bakery oven cost me";
    let added = send(
        admin,
        admin_request(
            "POST",
            "/admin/api/kb/cost/questions",
            Some(json!({ "text": question })),
        ),
    )
    .await;
    assert!(added.status.is_success(), "{:?}", added.body);
    // (The folder's watcher may reload once more for the same write.)
    let status = admin_get(admin, "/admin/api/kb").await.json();
    assert!(status["loads"].as_u64() >= Some(2), "{status}");
    assert_eq!(status["tuned"], false, "{status}");
    answered_with_cost(public, question).await;
    wait_until_tuned(admin, true, Duration::from_secs(240)).await;
    // Tuned anew, unless the watcher's reload of the same files came in
    // between: then the first tuning of the new files was dropped and the
    // second read what it had kept.
    let count = |n: Option<String>| n.map_or(0, |n| n.parse::<u64>().unwrap());
    let tuned = count(tunings(admin, "tuning").await) + count(tunings(admin, "cache").await);
    assert_eq!(tuned, 2);
    terminate(&mut server.0);

    // The same knowledge base again: its tuning is read, not redone.
    let (server, public, admin) = start_binary_with_admin(&flags, &env);
    let _server = Running(server);
    let (public, admin): (SocketAddr, SocketAddr) =
        (public.parse().unwrap(), admin.parse().unwrap());
    wait_until_tuned(admin, true, Duration::from_secs(120)).await;
    assert_eq!(tunings(admin, "cache").await.as_deref(), Some("1"));
    assert_eq!(tunings(admin, "tuning").await, None);
    answered_with_cost(public, question).await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&kb);
}

#[tokio::test]
async fn a_server_told_to_stop_while_it_tunes_stops_at_once() {
    // A hundred passes: minutes of tuning, were the server to wait for it.
    let flags = ["--tune-epochs=100"];
    let env = [("SUPPORT_CHAT_ADMIN_TOKEN", ADMIN_TOKEN)];
    let (server, _, admin) = start_binary_with_admin(&flags, &env);
    let mut server = Running(server);
    let admin: SocketAddr = admin.parse().unwrap();
    assert_eq!(
        admin_get(admin, "/admin/api/kb").await.json()["tuned"],
        false,
        "still tuning"
    );
    let asked = Instant::now();
    terminate(&mut server.0);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped after {:?}",
        asked.elapsed()
    );
}
