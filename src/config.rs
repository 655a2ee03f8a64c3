//! Command line and environment. Every flag has an `SUPPORT_CHAT_*` env
//! fallback and a documented default; `support-chat --help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::domain::client_ip::TrustedProxies;
use crate::domain::rate_limit::{NetworkQuotas, Quota, QuotaError};
use crate::store::redis::Fallback;

#[derive(Debug, Parser)]
#[command(
    name = "support-chat",
    version,
    about = "The public support assistant of a UK business lender."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serving options: without a subcommand, support-chat serves the chat
    /// endpoint, the widget and the demo page.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train on a `text,category` CSV and answer every row of another; the
    /// last line of stdout is one JSON object of scores. Rows whose category
    /// is `oos` are out of scope: right only when the engine hands off.
    Eval(EvalArgs),
    /// Cross-validate a knowledge base on its own example questions: per
    /// article, how often its questions are answered with it and what they
    /// are mistaken for; the confidence histogram. Exits with status 1 when
    /// an article's questions go to another article more than
    /// --max-misdirected of the time.
    CheckKb(CheckKbArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckKbArgs {
    /// Knowledge-base folder. Default: the built-in sample.
    #[arg(long)]
    pub kb: Option<PathBuf>,
    /// One JSON object instead of the report for people.
    #[arg(long)]
    pub json: bool,
    /// Fail when an article's held-out questions are answered with another
    /// article more often than this (0 to 1).
    #[arg(long, default_value_t = crate::domain::assistant::DEFAULT_MAX_MISDIRECTED, value_parser = unit_interval)]
    pub max_misdirected: f64,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// Cross-validation folds (2 to 20).
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=20))]
    pub folds: usize,
}

fn unit_interval(input: &str) -> Result<f64, String> {
    input
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| (0.0..=1.0).contains(x))
        .ok_or_else(|| format!("{input:?} is not a number from 0 to 1"))
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Training CSV (`text,category`, header row).
    #[arg(long)]
    pub train: PathBuf,
    /// Test CSV (`text,category`, header row).
    #[arg(long)]
    pub test: PathBuf,
    /// Train on this many examples per category (the few-shot setting a
    /// site owner is in), drawn with --seed. Default: all of them.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub shots: Option<usize>,
    /// Seed of the --shots draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// File of sentence embeddings kept between runs (read if present,
    /// written after): re-running on the same texts skips the encoder.
    #[arg(long)]
    pub embedding_cache: Option<PathBuf>,
}

/// Which engine answers, and where its model is.
#[derive(Debug, Clone, Args)]
pub struct EncoderArgs {
    /// The sentence encoder beside the lexical features: `minilm`
    /// (all-MiniLM-L6-v2, read from --model-dir) or `none` (lexical only).
    #[arg(long, env = "SUPPORT_CHAT_ENCODER", value_enum, default_value_t = EncoderKind::Minilm)]
    pub encoder: EncoderKind,
    /// Folder of the sentence encoder's files; `make model` fills the default.
    #[arg(
        long,
        env = "SUPPORT_CHAT_MODEL_DIR",
        default_value = crate::domain::assistant::DEFAULT_MODEL_DIR
    )]
    pub model_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EncoderKind {
    Minilm,
    None,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SUPPORT_CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder holding the built widget (`make build` writes it).
    #[arg(long, env = "SUPPORT_CHAT_WIDGET_DIR", default_value = "target/site")]
    pub widget_dir: PathBuf,

    /// Folder of the demo page's static files.
    #[arg(long, env = "SUPPORT_CHAT_PUBLIC_DIR", default_value = "public")]
    pub public_dir: PathBuf,

    /// Knowledge-base folder (one Markdown file per answer, see README).
    /// Default: the sample knowledge base built into the binary.
    #[arg(long, env = "SUPPORT_CHAT_KB")]
    pub kb: Option<PathBuf>,

    #[command(flatten)]
    pub encoder: EncoderArgs,

    /// Sentence embeddings of recent messages kept (about 1.7 KiB each), so a
    /// repeated message skips the encoder; 0 keeps none.
    #[arg(long, env = "SUPPORT_CHAT_EMBEDDING_CACHE_ENTRIES", default_value_t = 4096, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub embedding_cache_entries: usize,

    /// Threads answers are computed on (the encoder runs there, never on
    /// the async workers). Default: one per CPU core.
    #[arg(long, env = "SUPPORT_CHAT_ANSWER_THREADS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub answer_threads: Option<usize>,

    /// Chat requests that may wait for an answer thread; more are shed with
    /// `503 overloaded` at once.
    #[arg(long, env = "SUPPORT_CHAT_ANSWER_QUEUE", default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
    pub answer_queue: usize,

    /// This server's public base URL, as site owners should reference it in
    /// the embed snippet (e.g. `https://chat.example.com`). Default: none;
    /// the demo page loads the widget by relative URLs and shows the snippet
    /// with the origin the visitor's browser used.
    #[arg(long, env = "SUPPORT_CHAT_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,

    /// Origins allowed to call the API and load the widget, comma separated
    /// (e.g. `https://www.example.com,https://example.com`); `*` allows any.
    #[arg(
        long,
        env = "SUPPORT_CHAT_ALLOWED_ORIGINS",
        default_value = "*",
        value_delimiter = ',',
        value_parser = origin
    )]
    pub allowed_origins: Vec<String>,

    /// Chat requests allowed per client IP, as `<requests>/<window>` (units
    /// s, m, h). A fixed window that opens at the client's first request.
    #[arg(long, env = "SUPPORT_CHAT_CHAT_RATE_LIMIT", default_value = "60/60s")]
    pub chat_rate_limit: Quota,

    /// Flood guard on the page and widget files (GET), per client IP, as
    /// `<burst>/<window>`: up to `burst` at once, refilled evenly over the window.
    #[arg(long, env = "SUPPORT_CHAT_FILES_RATE_LIMIT", default_value = "300/60s", value_parser = files_quota)]
    pub files_rate_limit: Quota,

    /// Proxies whose `X-Forwarded-For` is believed, as comma-separated CIDRs
    /// or addresses (e.g. `10.0.0.0/8,192.168.1.1`). Default: none, so the
    /// TCP peer is the client.
    #[arg(long, env = "SUPPORT_CHAT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// Redis (or Valkey) shared by several replicas for the chat rate limit
    /// and the conversations: `redis://host:6379`, `rediss://…` (TLS) or
    /// `unix:///path/redis.sock`. Default: none, both stay in this process.
    #[arg(long, env = "SUPPORT_CHAT_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Secret that keys the HMAC under which client addresses are stored in
    /// Redis (the same on every replica; at least 16 characters). Required
    /// with `--redis-url`.
    #[arg(long, env = "SUPPORT_CHAT_REDIS_KEY_SECRET", hide_env_values = true)]
    pub redis_key_secret: Option<String>,

    /// Milliseconds a Redis call may take before the request goes on
    /// without it (see `--redis-fallback`).
    #[arg(long, env = "SUPPORT_CHAT_REDIS_TIMEOUT_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub redis_timeout_ms: u64,

    /// While Redis does not answer: `local` limits each replica on its own
    /// (at worst N times the limit across N replicas); `closed` refuses every
    /// chat request with `429` until it answers.
    #[arg(long, env = "SUPPORT_CHAT_REDIS_FALLBACK", value_enum, default_value_t = Fallback::Local)]
    pub redis_fallback: Fallback,

    /// Quotas of wider IPv6 networks, above each client's own, as
    /// `<prefix>=<requests>/<window>` pairs, comma separated; `""` for none.
    /// Every /64 of a /56 shares the /56's quota, and so on, so one
    /// allocation cannot multiply its budget by its size.
    #[arg(
        long,
        env = "SUPPORT_CHAT_IPV6_AGGREGATE_LIMITS",
        default_value = "56=240/60s,48=960/60s"
    )]
    pub ipv6_aggregate_limits: NetworkQuotas,

    /// IPv6 clients are rate-limited by this network prefix (32 to 128).
    #[arg(long, env = "SUPPORT_CHAT_IPV6_PREFIX", default_value_t = 64, value_parser = clap::value_parser!(u8).range(32..=128))]
    pub ipv6_prefix: u8,

    /// Seconds a client may take to send a request's headers; also how long
    /// an idle keep-alive connection is kept open. Slower connections are closed.
    #[arg(long, env = "SUPPORT_CHAT_HEADER_READ_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,

    /// Read buffer per connection, in bytes (8192 to 1048576); a request's
    /// headers must fit in it.
    #[arg(long, env = "SUPPORT_CHAT_READ_BUFFER_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(8192..=1024 * 1024))]
    pub read_buffer_bytes: u64,

    /// Connections open at once, in total; more are closed as they arrive.
    /// Lowered at start-up to fit the open-files limit.
    #[arg(long, env = "SUPPORT_CHAT_MAX_CONNECTIONS", default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Connections open at once per client IP (IPv6: per prefix); more are
    /// closed as they arrive. Trusted proxies are exempt. Leaves room for a
    /// busy office behind one NAT address.
    #[arg(long, env = "SUPPORT_CHAT_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_client: u64,

    /// Connections open at once from one IPv6 /48 (all its /64 clients
    /// together); more are closed as they arrive. Trusted proxies are exempt.
    #[arg(long, env = "SUPPORT_CHAT_MAX_CONNECTIONS_PER_NETWORK", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_network: u64,

    /// Seconds a chat request may take, body upload included, before it is
    /// answered with a `503 timeout` envelope.
    #[arg(long, env = "SUPPORT_CHAT_REQUEST_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// Seconds a chat request's body may take to arrive, before it is
    /// answered with a `503 timeout` envelope. The body is read before the
    /// request takes one of the `--max-in-flight` places.
    #[arg(long, env = "SUPPORT_CHAT_BODY_READ_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_read_timeout_secs: u64,

    /// Chat requests served at once (their bodies already read); more are
    /// shed with `503 overloaded`.
    #[arg(long, env = "SUPPORT_CHAT_MAX_IN_FLIGHT", default_value_t = 512, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_in_flight: usize,

    /// One client's chat requests worked on at once; more wait their turn
    /// (within the request timeout) rather than being refused.
    #[arg(long, env = "SUPPORT_CHAT_MAX_IN_FLIGHT_PER_CLIENT", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_in_flight_per_client: u64,

    /// Longest accepted message, in characters after trimming.
    #[arg(long, env = "SUPPORT_CHAT_MAX_MESSAGE_CHARS", default_value_t = crate::api::DEFAULT_MAX_MESSAGE_CHARS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_message_chars: usize,

    /// Largest accepted chat request body, in bytes.
    #[arg(long, env = "SUPPORT_CHAT_MAX_BODY_BYTES", default_value_t = 16 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..=16 * 1024 * 1024))]
    pub max_body_bytes: usize,

    /// Minutes of inactivity after which a conversation is forgotten.
    #[arg(long, env = "SUPPORT_CHAT_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 60))]
    pub session_idle_minutes: u64,

    /// Most conversations kept at once; the least recently used is dropped first.
    #[arg(long, env = "SUPPORT_CHAT_MAX_SESSIONS", default_value_t = 100_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    pub max_sessions: usize,

    /// Turns kept per conversation (older ones are dropped). The engine
    /// reads the last 3; keeping more only costs memory.
    #[arg(long, env = "SUPPORT_CHAT_MAX_TURNS", default_value_t = crate::domain::assistant::HISTORY_TURNS as u64, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub max_turns: u64,

    /// Memory all conversations may occupy together, in MiB, bookkeeping
    /// included; the least recently used conversations go first.
    #[arg(long, env = "SUPPORT_CHAT_SESSION_MEMORY_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024 * 1024))]
    pub session_memory_mib: u64,
}

/// `*`, or an origin: `http(s)://host[:port]`, nothing after it.
fn origin(input: &str) -> Result<String, String> {
    let input = input.trim();
    let well_formed = input == "*"
        || ["https://", "http://"].iter().any(|scheme| {
            input.strip_prefix(scheme).is_some_and(|host| {
                !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
        });
    if well_formed {
        Ok(input.to_owned())
    } else {
        Err(format!(
            "invalid origin {input:?}: expected \"*\" or scheme://host[:port], e.g. \"https://www.example.com\""
        ))
    }
}

/// An absolute `http(s)` URL with nothing that could break out of an HTML
/// attribute (it is written into the demo page).
fn public_url(input: &str) -> Result<String, String> {
    let input = input.trim();
    let ok = (input.starts_with("https://") || input.starts_with("http://"))
        && input.len() > "https://".len()
        && input
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'<>`\\".contains(&b));
    if ok {
        Ok(input.to_owned())
    } else {
        Err(format!(
            "invalid public URL {input:?}: expected an http(s) URL, e.g. \"https://chat.example.com\""
        ))
    }
}

/// A flood-guard quota: governor refills one request per `window / burst`,
/// which must be at least a nanosecond.
fn files_quota(input: &str) -> Result<Quota, String> {
    let quota: Quota = input.parse().map_err(|e: QuotaError| e.to_string())?;
    if (quota.window() / quota.limit()).is_zero() {
        return Err(format!(
            "invalid rate limit {input:?}: a burst of {} per {}s refills faster than once a nanosecond",
            quota.limit(),
            quota.window().as_secs()
        ));
    }
    Ok(quota)
}

impl Default for ServeArgs {
    fn default() -> Self {
        Cli::parse_from(["support-chat"]).serve
    }
}
