//! How fast the records' writer can write: batches of the writer's size
//! (`records::BATCH`) into SQLite, and into PostgreSQL when
//! `SUPPORT_CHAT_TEST_DATABASE_URL` names a server (`benches/records.sh`
//! runs it through `.ci/with-postgres.sh`), against building the same
//! records alone in the same run. One JSON line of rows per second.
//! `ROWS` (default 40,000) sets how many: the database's cost a row grows
//! with its tables.

use std::sync::Arc;
use std::time::Instant;

use support_chat::domain::records::{
    BATCH, RecordKey, RecordStore, RecordedOutcome, TurnRecord, Write,
};
use support_chat::domain::session::SessionId;
use support_chat::store::sql::{DatabaseUrl, SqlRecords};
use support_chat_assistant::ArticleRef;

fn rows() -> usize {
    std::env::var("ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40_000)
}

fn records(key: &RecordKey) -> Vec<Write> {
    (0..rows())
        .map(|i| {
            let session = SessionId::mint();
            Write::Turn(TurnRecord {
                reply_id: key.reply_id(session),
                session: key.session_hash(session),
                message: format!("How long does an application take, question {i}?"),
                outcome: RecordedOutcome::Answered,
                confidence: 0.9,
                article: Some(ArticleRef {
                    id: "application-time".into(),
                    version: "0123456789ab".into(),
                }),
                embedding: None,
                complaint: false,
                care: None,
            })
        })
        .collect()
}

async fn rows_per_second(url: &str) -> f64 {
    let (store, key) = SqlRecords::open(&url.parse::<DatabaseUrl>().unwrap())
        .await
        .unwrap();
    let store: Arc<dyn RecordStore> = Arc::new(store);
    let batches: Vec<Vec<Write>> = records(&key).chunks(BATCH).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    for batch in batches {
        store.write(batch).await.unwrap();
    }
    rows() as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let key = RecordKey::random();
    let started = Instant::now();
    std::hint::black_box(records(&key));
    let build = rows() as f64 / started.elapsed().as_secs_f64();
    let folder = std::env::temp_dir().join(format!("support-chat-bench-{}", std::process::id()));
    let sqlite = rows_per_second(&format!("sqlite://{}/records.db", folder.display())).await;
    let postgres = match std::env::var("SUPPORT_CHAT_TEST_DATABASE_URL") {
        Ok(url) => Some(rows_per_second(&url).await),
        Err(_) => None,
    };
    let _ = std::fs::remove_dir_all(&folder);
    println!(
        "{}",
        serde_json::json!({
            "rows": rows(),
            "batch": BATCH,
            "build_rows_per_s": build.round(),
            "sqlite_rows_per_s": sqlite.round(),
            "postgres_rows_per_s": postgres.map(f64::round),
        })
    );
}
