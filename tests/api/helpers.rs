//! Shared by the test modules: a real server on port 0, a tiny client, and
//! assertions on the one error envelope.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use serde_json::json;
use support_chat::config::ServeArgs;
use support_chat::domain::clock::{ManualClock, UnixMillis};
use support_chat::domain::rate_limit::FixedWindow;
use support_chat::domain::records::{RecordedOutcome, TurnRecord, Write};
use support_chat::domain::session::SessionId;
use support_chat::http::admin::{AdminState, admin_app};
use support_chat::http::server::{self, ConnectionLimits};
use support_chat::http::{AppState, Assets, RouterConfig, app};
use support_chat::startup;
use support_chat_assistant::{Assistant, DEFAULT_MODEL_DIR, Encoder, Engine, KnowledgeBase};
use tokio::net::{TcpListener, TcpStream};

pub const CHAT: &str = "/public/v1/support/chat";

/// What a server is built from: the shared state, the router's settings and
/// the connection bounds.
#[derive(Clone)]
pub struct Setup {
    pub state: AppState,
    pub admin: AdminState,
    pub config: RouterConfig,
    pub connections: ConnectionLimits,
}

/// What `make run` would build, but without the widget (no wasm needed).
pub async fn setup() -> Setup {
    setup_with_assets(Assets::default()).await
}

/// What `make run` would build, with the sample knowledge base.
pub async fn setup_with_assets(assets: Assets) -> Setup {
    setup_with(&args(&[]), assets).await
}

/// The sentence encoder `make model` fetched, shared by every test here.
pub fn encoder() -> Arc<Encoder> {
    static ENCODER: std::sync::OnceLock<Arc<Encoder>> = std::sync::OnceLock::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR);
    ENCODER
        .get_or_init(|| Arc::new(Encoder::load(&dir, 4096).expect("run `make model`")))
        .clone()
}

/// What these flags describe, with the sample knowledge base (trained once per test binary).
///
/// With `SUPPORT_CHAT_TEST_REDIS_URL` set (`.ci/with-redis.sh` does, in
/// `make unit`), every server keeps its rate limits and conversations on that
/// Redis, under a secret of its own so that servers do not share windows:
/// the whole suite then runs against the Redis backend too. Likewise every
/// server keeps its records in a database of its own: a fresh SQLite file,
/// or with `SUPPORT_CHAT_TEST_DATABASE_URL` (`.ci/with-postgres.sh`) a fresh
/// database on that PostgreSQL server.
pub async fn setup_with(args: &ServeArgs, assets: Assets) -> Setup {
    setup_around(args, engine(), assets).await
}

/// The sample knowledge base's engine with the encoder, trained once per test binary.
pub fn engine() -> Arc<Engine> {
    static ENGINE: std::sync::OnceLock<Arc<Engine>> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::new(KnowledgeBase::sample(), Some(encoder()))))
        .clone()
}

/// [`setup_with`] around another assistant.
pub async fn setup_around(
    args: &ServeArgs,
    assistant: Arc<dyn Assistant>,
    assets: Assets,
) -> Setup {
    let mut args = args.clone();
    if let (Ok(url), None) = (
        std::env::var("SUPPORT_CHAT_TEST_REDIS_URL"),
        &args.redis.url,
    ) {
        args.redis.url = Some(url);
        args.redis.key_secret = Some(format!("test secret {}", unique()).into());
    }
    if args.records.database == args_default_database() {
        args.records.database = fresh_database().await.parse().unwrap();
    }
    let args = &args;
    let state = startup::state(args, assistant, assets).await.unwrap();
    Setup {
        admin: startup::admin_state(args, &state, None),
        state,
        config: startup::router_config(args),
        connections: startup::connection_limits(args, u64::MAX),
    }
}

fn args_default_database() -> support_chat::store::sql::DatabaseUrl {
    args(&[]).records.database
}

/// A database of its own for one server: a fresh SQLite file, or a fresh
/// database on the PostgreSQL server `SUPPORT_CHAT_TEST_DATABASE_URL` names.
pub async fn fresh_database() -> String {
    match std::env::var("SUPPORT_CHAT_TEST_DATABASE_URL") {
        Ok(server) => {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let name = format!("test_{}", unique().replace('-', "_"));
            let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            let mut url = url::Url::parse(&server).unwrap();
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        Err(_) => {
            let dir = std::env::temp_dir().join(format!("support-chat-records-{}", unique()));
            format!("sqlite://{}/records.db", dir.display())
        }
    }
}

/// Whether this run keeps its records on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os("SUPPORT_CHAT_TEST_DATABASE_URL").is_some()
}

/// `ServeArgs` from command-line flags (and never the environment), checked
/// as the binary checks them.
pub fn args(flags: &[&str]) -> ServeArgs {
    let argv = std::iter::once("support-chat").chain(flags.iter().copied());
    let args = support_chat::config::Cli::from_flags(argv)
        .unwrap_or_else(|e| panic!("{e}"))
        .serve;
    args.check().unwrap();
    args
}

/// Starts the real router on 127.0.0.1:0 and returns its address.
pub async fn spawn(setup: Setup) -> SocketAddr {
    spawn_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), setup)
}

/// Starts the public and the admin listeners on 127.0.0.1:0; their addresses.
pub async fn spawn_both(setup: Setup) -> (SocketAddr, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity = setup.state.guard.identity.clone();
    tokio::spawn(server::serve(
        listener,
        admin_app(setup.admin.clone()),
        setup.connections,
        identity,
        std::future::pending(),
    ));
    (spawn(setup).await, addr)
}

/// Serves the real router on `listener`, through the real accept loop, and
/// returns its address.
pub fn spawn_on(listener: TcpListener, setup: Setup) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let identity = setup.state.guard.identity.clone();
    let router = app(setup.state, &setup.config);
    let never = std::future::pending();
    tokio::spawn(server::serve(
        listener,
        router,
        setup.connections,
        identity,
        never,
    ));
    addr
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends one request on a fresh connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    send_on(TcpStream::connect(addr).await.unwrap(), request).await
}

/// Sends one request on `stream`.
pub async fn send_on(stream: TcpStream, request: Request<Full<Bytes>>) -> Reply {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A JSON POST to the chat endpoint with `body` as is.
pub fn chat_request(body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(CHAT)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

pub async fn chat(addr: SocketAddr, body: &Value) -> Reply {
    send(addr, chat_request(body.to_string())).await
}

/// A widget build and a public folder in a fresh temporary directory.
pub fn fixture() -> (PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("support-chat-assets-{}", unique()));
    let site = root.join("site");
    let public = root.join("public");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(
        site.join("pkg/support_chat_widget.js"),
        "export default function init() {}",
    )
    .unwrap();
    std::fs::write(
        site.join("pkg/support_chat_widget_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(
        site.join("widget.js"),
        "var version = \"__SUPPORT_CHAT_VERSION__\"; var max = \"__SUPPORT_CHAT_MAX_CHARS__\";"
            .repeat(20),
    )
    .unwrap();
    std::fs::write(site.join("widget.css"), ":host { color: red; }").unwrap();
    std::fs::write(public.join("demo.css"), "body { margin: 0 }").unwrap();
    (site, public)
}

/// A name no other test (in this or another process) uses at the same time.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A server whose limiter and sessions read a manual clock.
pub async fn clocked(flags: &[&str]) -> (std::net::SocketAddr, ManualClock) {
    let args = args(flags);
    let clock = ManualClock::new();
    let mut setup = setup_with(&args, Assets::default()).await;
    setup.state.guard.limiter =
        Arc::new(FixedWindow::new(args.chat.chat_rate_limit, clock.clone()));
    setup.state.chat.clock = Arc::new(clock.clone());
    // Redis keeps time by its own clock: these tests move time by hand.
    setup.state.chat.sessions = Arc::new(startup::memory_sessions(&args));
    (spawn(setup).await, clock)
}

pub fn hello() -> Value {
    json!({ "message": "hello" })
}

/// Asserts the one envelope, and returns it.
pub fn envelope(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["status"], status);
    assert!(!error["message"].as_str().unwrap().is_empty());
    assert_eq!(error["request_id"], reply.header("x-request-id").unwrap());
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body
}

/// A connection to `addr` from the loopback address `from` (e.g. 127.0.0.2),
/// so one test can play several clients.
pub async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("any 127.0.0.0/8 address is local");
    socket.connect(addr).await.unwrap()
}

/// Whether the server closes `stream` within `limit` (end of stream or a
/// reset; anything it writes first is read and ignored).
pub async fn closed_within(stream: &mut TcpStream, limit: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The real `support-chat` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_support-chat");

/// The binary set to serve on a free port with asset fixtures of its own,
/// so it does not depend on whether the widget was built.
pub fn binary_with_fixture() -> std::process::Command {
    binary_with_fixture_and(&[])
}

/// [`binary_with_fixture`] with `flags`; its records in a SQLite file of its
/// own unless they name a `--database`.
pub fn binary_with_fixture_and(flags: &[&str]) -> std::process::Command {
    let (site, public) = fixture();
    let mut command = std::process::Command::new(BIN);
    command
        .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(flags);
    if !flags.contains(&"--database") {
        let records = site.parent().unwrap().join("records.db");
        command.arg(format!("--database=sqlite://{}", records.display()));
    }
    if !flags.iter().any(|f| f.starts_with("--tune-epochs")) {
        // Answers that change when the tuned engine swaps in would race
        // the tests that read them: only the tuning tests (`api::tuning`)
        // tune.
        command.arg("--tune-epochs=0");
    }
    if !flags.iter().any(|f| f.starts_with("--embedding-cache")) {
        // One file for every binary this test run starts, beside the binary.
        let cache = Path::new(BIN).with_file_name("test-embeddings.bin");
        command.arg(format!("--embedding-cache={}", cache.display()));
    }
    command
        .arg("--widget-dir")
        .arg(&site)
        .arg("--public-dir")
        .arg(&public);
    command
}

/// Starts the binary on a free port with `flags` and `env` (and a widget
/// fixture), and returns it with its address, read from its "listening on"
/// log line. The caller stops it by pid (`Child::kill`).
pub fn start_binary(flags: &[&str], env: &[(&str, &str)]) -> (std::process::Child, String) {
    let (child, addr, _) = start_binary_with_admin(flags, env);
    (child, addr)
}

/// [`start_binary`], with the admin listener's address too.
pub fn start_binary_with_admin(
    flags: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = binary_with_fixture_and(flags)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = |line: &str, after: &str| {
        line.split_once(after).map(|(_, rest)| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    };
    let (mut public, mut admin) = (None, None);
    while public.is_none() || admin.is_none() {
        let line = lines
            .next()
            .expect("the server logs its addresses")
            .unwrap();
        // Not a terminal: plain text, as a log file or collector wants it.
        assert!(
            !line.contains('\x1b'),
            "colour codes in a piped log: {line:?}"
        );
        public = public.or_else(|| address(&line, "listening on http://"));
        admin = admin.or_else(|| address(&line, "(metrics, admin API) on http://"));
    }
    std::thread::spawn(move || lines.for_each(drop));
    (child, public.unwrap(), admin.unwrap())
}

/// A started binary, killed (by pid) if the test ends before stopping it.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The admin token the tests configure.
pub const ADMIN_TOKEN: &str = "an admin token of enough length";

/// A request to the admin listener with the test token.
pub fn admin_request(method: &str, path: &str, body: Option<Value>) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    request
        .body(Full::new(
            body.map_or_else(Bytes::new, |b| b.to_string().into()),
        ))
        .unwrap()
}

/// `GET path` on the admin listener, with the test token.
pub async fn admin_get(admin: SocketAddr, path: &str) -> Reply {
    send(admin, admin_request("GET", path, None)).await
}

/// `field` of an admin summary (`/admin/api/summary`) summed over its days,
/// so that a test whose chats cross midnight (UTC) counts them all the same.
pub fn summed(summary: &Value, field: &str) -> u64 {
    let days = summary["days"].as_array().expect("a summary has days");
    days.iter().map(|d| d[field].as_u64().unwrap()).sum()
}

/// The value of one series (`name{labels}` as Prometheus' text shows it) on
/// the admin listener's `/metrics`; 0 before anything counted it. Counters
/// are the process's, shared by the tests running at once: compare growth,
/// at least what this test caused.
pub async fn metric(admin: SocketAddr, series: &str) -> f64 {
    let body = admin_get(admin, "/metrics").await.body;
    let text = String::from_utf8(body.to_vec()).expect("Prometheus text is UTF-8");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// One turn of `outcome` written straight to `setup`'s records at `at`, as
/// the recorder writes a chat's, in a conversation of its own: for what the
/// sample's engine does not say on demand (a clarification, a turn of days
/// ago). Its session id.
pub async fn record_turn(
    setup: &Setup,
    message: &str,
    outcome: RecordedOutcome,
    confidence: f32,
    at: UnixMillis,
) -> SessionId {
    let key = setup.state.chat.recorder.key();
    let session = SessionId::mint();
    let turn = TurnRecord {
        reply_id: key.reply_id_at(session, at),
        session: key.session_hash(session),
        message: message.into(),
        outcome,
        confidence,
        article: None,
        embedding: None,
        complaint: false,
        care: None,
    };
    let store = setup.state.records.as_ref().expect("records on");
    store.write(vec![Write::Turn(turn)]).await.unwrap();
    session
}

/// A server with the admin API on (the test token), and both its addresses.
pub async fn with_admin(flags: &[&str]) -> (SocketAddr, SocketAddr, Setup) {
    let mut all = vec!["--admin-token", ADMIN_TOKEN];
    all.extend_from_slice(flags);
    let setup = setup_with(&args(&all), Assets::default()).await;
    let (public, admin) = spawn_both(setup.clone()).await;
    (public, admin, setup)
}

/// A copy of the sample knowledge base's files in a fresh folder.
pub fn sample_kb_copy() -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("assistant/src/sample_kb");
    let to = std::env::temp_dir().join(format!("support-chat-kb-{}", unique()));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// Sends SIGTERM to `child` (by pid) and waits for it to exit cleanly.
pub fn terminate(child: &mut std::process::Child) {
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
}

/// Asserts that `reply` is what the OpenAPI document `doc` says `method
/// path` answers with `status`: its JSON body validates against the
/// documented schema and it carries every documented header.
pub fn assert_documented(doc: &Value, path: &str, method: &str, status: u16, reply: &Reply) {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    let documented = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        documented.is_object(),
        "{method} {path} does not document {status}"
    );
    let pointer = format!(
        "#/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1")
    );
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": documented["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map_or(pointer, str::to_owned),
        "paths": doc["paths"],
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let body = reply.json();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {body} does not validate: {errors:?}"
    );
    for name in documented["headers"]
        .as_object()
        .into_iter()
        .flat_map(|headers| headers.keys())
    {
        assert!(
            reply.header(&name.to_lowercase()).is_some(),
            "{status} lacks the documented {name} header"
        );
    }
}

/// A server answering from `source`, reloading it live: its addresses and
/// its knowledge.
pub async fn with_knowledge(
    source: support_chat::domain::knowledge::KbSource,
) -> (
    SocketAddr,
    SocketAddr,
    Arc<support_chat::domain::knowledge::Knowledge>,
) {
    let (public, admin, knowledge, _) = with_knowledge_and_setup(source).await;
    (public, admin, knowledge)
}

/// [`with_knowledge`], and the server's setup (its records, to flush).
pub async fn with_knowledge_and_setup(
    source: support_chat::domain::knowledge::KbSource,
) -> (
    SocketAddr,
    SocketAddr,
    Arc<support_chat::domain::knowledge::Knowledge>,
    Setup,
) {
    let engine = match &source {
        support_chat::domain::knowledge::KbSource::Sample => engine(),
        support_chat::domain::knowledge::KbSource::Dir(_) => Arc::new(
            support_chat::domain::knowledge::Knowledge::train(
                &source,
                Some(encoder()),
                &Default::default(),
                None,
            )
            .unwrap(),
        ),
    };
    let args = args(&["--admin-token", ADMIN_TOKEN]);
    let mut setup =
        setup_around(&args, engine.clone(), support_chat::http::Assets::default()).await;
    let knowledge = Arc::new(support_chat::domain::knowledge::Knowledge::new(
        source,
        Some(encoder()),
        None,
        Default::default(),
        None,
        engine,
        setup.state.chat.answers.clone(),
    ));
    knowledge
        .watch(std::time::Duration::from_millis(100))
        .unwrap();
    setup.admin = startup::admin_state(&args, &setup.state, Some(knowledge.clone()));
    let (public, admin) = spawn_both(setup.clone()).await;
    (public, admin, knowledge, setup)
}

/// Runs `futures` at once, each a task of its own; their outputs in order.
pub async fn all_at_once<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
