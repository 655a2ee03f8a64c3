//! Command line and environment. Every flag has an `SUPPORT_CHAT_*` env
//! fallback and a documented default; `support-chat --help` lists them, in
//! one group per concern. Flags parse into types that cannot hold a bad
//! value (durations, non-zero counts, quotas, URLs, secrets), so nothing
//! downstream clamps or re-checks them; the one check across flags is
//! [`ServeArgs::check`], run once where the flags are read.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::SecretString;

use crate::domain::client_ip::Ipv6Prefix;
use crate::domain::hours::BusinessHours;
use crate::domain::rate_limit::{NetworkQuotas, Quota, QuotaError};
use crate::http::client::TrustedProxies;
use crate::http::cors::AllowedOrigins;
use crate::store::redis::Fallback;
use crate::store::sql::DatabaseUrl;

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

impl Cli {
    /// The command line `argv` (program name first) alone: no `SUPPORT_CHAT_*`
    /// variable of the process is read, so tests get exactly the flags they name.
    pub fn from_flags<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = Cli::command().mut_args(|arg| arg.env(None::<&'static str>));
        let mut matches = command.try_get_matches_from(argv)?;
        Cli::from_arg_matches_mut(&mut matches)
    }
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
    #[arg(long, default_value_t = support_chat_assistant::DEFAULT_MAX_MISDIRECTED, allow_hyphen_values = true, value_parser = number_in(0.0_f64..=1.0, "a number"))]
    pub max_misdirected: f64,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// Cross-validation folds (2 to 20).
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=20))]
    pub folds: usize,
    /// Passes of tuning each fold's encoder to its fold, as the server
    /// tunes it (0: the encoder as it ships; minutes for a few hundred
    /// questions otherwise).
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100))]
    pub tune_epochs: usize,
    #[command(flatten)]
    pub cache: EmbeddingCacheArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// The embeddings file `eval` and `check-kb` keep between runs.
#[derive(Debug, Clone, Args)]
pub struct EmbeddingCacheArgs {
    /// File of sentence embeddings kept between runs (read if present,
    /// written after): running again after an edit encodes only what
    /// changed. A file that cannot be read or written is a warning.
    #[arg(long = "embedding-cache", value_name = "FILE")]
    pub path: Option<PathBuf>,
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
    #[arg(long, value_parser = count(1, usize::MAX))]
    pub shots: Option<NonZeroUsize>,
    /// Seed of the --shots draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Leave this many whole categories of the training file out, drawn
    /// with --split, and count their test rows as out of scope: the
    /// near-domain protocol (BENCHMARKS.md, "Out of scope").
    #[arg(long, value_parser = count(1, usize::MAX))]
    pub hold_out_intents: Option<NonZeroUsize>,
    /// Seed of the --hold-out-intents draw.
    #[arg(long, default_value_t = 1)]
    pub split: u64,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    #[command(flatten)]
    pub cache: EmbeddingCacheArgs,
    /// Passes of tuning the encoder's top layer to the training questions,
    /// as the server does (0: the encoder as it ships).
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100))]
    pub tune_epochs: usize,
}

impl AssistantArgs {
    /// How the encoder is tuned to the knowledge base (`None`: it is not).
    pub fn tune_config(&self) -> Option<support_chat_assistant::TuneConfig> {
        tune_config(self.tune_epochs)
    }

    /// Where the tuned layer is kept: beside the embedding cache,
    /// `embeddings.bin` → `embeddings-tuned.bin`.
    pub fn tune_cache(&self) -> Option<PathBuf> {
        let path = self.embedding_cache.0.as_deref()?;
        let stem = path.file_stem()?.to_string_lossy();
        Some(path.with_file_name(format!("{stem}-tuned.bin")))
    }
}

/// The out-of-scope rule's settings: the server's, and `check-kb`'s, so the
/// check reports the rule as a server with the same flags serves it.
#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// Hand off as out of scope what scores under a threshold fitted when
    /// the knowledge base loads, so that at most this share (0 to 0.5) of
    /// its own questions, each held out by cross-validation, is handed off
    /// (docs/assistant.md, "How the assistant decides"); 0 turns the rule
    /// off. Default: 0.05 when the knowledge base has an out-of-scope.txt
    /// (the sample does), no rule without one.
    #[arg(long, env = "SUPPORT_CHAT_HANDOFF_TARGET", allow_hyphen_values = true, value_parser = number_in(0.0_f32..=0.5, "a share"))]
    pub handoff_target: Option<f32>,

    /// A fixed out-of-scope threshold instead of a fitted one (`check-kb`
    /// shows the scores); overrides --handoff-target.
    #[arg(long, env = "SUPPORT_CHAT_SCOPE_THRESHOLD", allow_hyphen_values = true, value_parser = finite)]
    pub scope_threshold: Option<f32>,

    /// How much the best article's margin counts in the out-of-scope score
    /// (0 to 5), instead of the weight chosen when the knowledge base loads
    /// by leaving its articles out (logged at load; `check-kb` shows the one
    /// chosen). 0.4 with --scope-threshold.
    #[arg(long, env = "SUPPORT_CHAT_SCOPE_WEIGHT", allow_hyphen_values = true, value_parser = number_in(0.0_f32..=5.0, "a weight"))]
    pub scope_weight: Option<f32>,

    /// The least confidence (0 to 1) in the best article to answer with it,
    /// instead of the one chosen with the out-of-scope threshold (for the
    /// fewest wrong answers in cross-validation; `check-kb` shows it). 0.3
    /// where there is no out-of-scope rule to fit it with (no
    /// out-of-scope.txt, --handoff-target 0, --scope-threshold given, or
    /// --encoder none).
    #[arg(long, env = "SUPPORT_CHAT_ANSWER_THRESHOLD", allow_hyphen_values = true, value_parser = number_in(0.0_f32..=1.0, "a confidence"))]
    pub answer_threshold: Option<f32>,
}

impl ScopeArgs {
    /// How the engine trains: the defaults, with the out-of-scope rule's settings.
    pub fn engine_config(&self) -> support_chat_assistant::EngineConfig {
        use support_chat_assistant::ScopeRule;
        let scope = match (self.scope_threshold, self.handoff_target) {
            (Some(threshold), _) => ScopeRule::Threshold(threshold),
            (None, Some(0.0)) => ScopeRule::Off,
            (None, Some(target)) => ScopeRule::Target(target),
            (None, None) => ScopeRule::Auto,
        };
        let scope_weight = match self.scope_weight {
            Some(weight) => support_chat_assistant::ScopeWeight::Given(weight),
            None => support_chat_assistant::ScopeWeight::Fitted,
        };
        let answer_threshold = match self.answer_threshold {
            Some(given) => support_chat_assistant::AnswerThreshold::Given(given),
            None => support_chat_assistant::AnswerThreshold::Fitted,
        };
        support_chat_assistant::EngineConfig {
            scope,
            scope_weight,
            answer_threshold,
            ..Default::default()
        }
    }
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
        default_value = support_chat_assistant::DEFAULT_MODEL_DIR
    )]
    pub model_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EncoderKind {
    Minilm,
    None,
}

/// Everything the server is started with, one group per concern.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listener: ListenerArgs,
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub chat: ChatArgs,
    #[command(flatten)]
    pub sessions: SessionArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub assistant: AssistantArgs,
    #[command(flatten)]
    pub records: RecordArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub handoff: HandoffArgs,
}

/// Where the server listens and how it treats connections.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Listener and connections")]
pub struct ListenerArgs {
    /// Address to listen on.
    #[arg(long, env = "SUPPORT_CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Seconds a client may take to send a request's headers; also how long
    /// an idle keep-alive connection is kept open. Slower connections are closed.
    #[arg(long = "header-read-timeout-secs", env = "SUPPORT_CHAT_HEADER_READ_TIMEOUT_SECS", default_value = "5", value_parser = seconds(1, 3600))]
    pub header_read_timeout: Duration,

    /// Read buffer per connection, in bytes (8192 to 1048576); a request's
    /// headers must fit in it.
    #[arg(long, env = "SUPPORT_CHAT_READ_BUFFER_BYTES", default_value_t = 16 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8192..=1024 * 1024))]
    pub read_buffer_bytes: usize,

    /// Connections open at once, in total; more are closed as they arrive.
    /// Lowered at start-up to fit the open-files limit.
    #[arg(long, env = "SUPPORT_CHAT_MAX_CONNECTIONS", default_value = "8192", value_parser = count(1, usize::MAX))]
    pub max_connections: NonZeroUsize,

    /// Connections open at once per client IP (IPv6: per prefix); more are
    /// closed as they arrive. Trusted proxies are exempt. Leaves room for a
    /// busy office behind one NAT address.
    #[arg(long, env = "SUPPORT_CHAT_MAX_CONNECTIONS_PER_CLIENT", default_value = "256", value_parser = count(1, usize::MAX))]
    pub max_connections_per_client: NonZeroUsize,

    /// Connections open at once from one IPv6 /48 (all its /64 clients
    /// together); more are closed as they arrive. Trusted proxies are exempt.
    #[arg(long, env = "SUPPORT_CHAT_MAX_CONNECTIONS_PER_NETWORK", default_value = "1024", value_parser = count(1, usize::MAX))]
    pub max_connections_per_network: NonZeroUsize,
}

/// The widget's files, the demo page and who may embed them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Widget and demo page")]
pub struct SiteArgs {
    /// Folder holding the built widget (`make build` writes it).
    #[arg(long, env = "SUPPORT_CHAT_WIDGET_DIR", default_value = "target/site")]
    pub widget_dir: PathBuf,

    /// Folder of the demo page's static files.
    #[arg(long, env = "SUPPORT_CHAT_PUBLIC_DIR", default_value = "public")]
    pub public_dir: PathBuf,

    /// This server's public base URL, as site owners should reference it in
    /// the embed snippet (e.g. `https://chat.example.com`). Default: none;
    /// the demo page loads the widget by relative URLs and shows the snippet
    /// with the origin the visitor's browser used.
    #[arg(long, env = "SUPPORT_CHAT_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<url::Url>,

    /// Origins allowed to call the API and load the widget, comma separated
    /// (e.g. `https://www.example.com,https://example.com`); `*` allows any.
    #[arg(long, env = "SUPPORT_CHAT_ALLOWED_ORIGINS", default_value = "*")]
    pub allowed_origins: AllowedOrigins,

    /// Flood guard on the page and widget files (GET), per client IP, as
    /// `<burst>/<window>`: up to `burst` at once, refilled evenly over the window.
    #[arg(long, env = "SUPPORT_CHAT_FILES_RATE_LIMIT", default_value = "300/60s", value_parser = files_quota)]
    pub files_rate_limit: Quota,
}

/// Who a client is and how much of the chat endpoint it may use.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Chat limits")]
pub struct ChatArgs {
    /// Chat requests allowed per client IP, as `<requests>/<window>` (units
    /// s, m, h). A fixed window that opens at the client's first request.
    #[arg(long, env = "SUPPORT_CHAT_CHAT_RATE_LIMIT", default_value = "60/60s")]
    pub chat_rate_limit: Quota,

    /// Proxies whose `X-Forwarded-For` is believed, as comma-separated CIDRs
    /// or addresses (e.g. `10.0.0.0/8,192.168.1.1`). Default: none, so the
    /// TCP peer is the client.
    #[arg(long, env = "SUPPORT_CHAT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// IPv6 clients are rate-limited by this network prefix (32 to 128).
    #[arg(long, env = "SUPPORT_CHAT_IPV6_PREFIX", default_value = "64")]
    pub ipv6_prefix: Ipv6Prefix,

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

    /// Seconds a chat request may take, body upload included, before it is
    /// answered with a `503 timeout` envelope.
    #[arg(long = "request-timeout-secs", env = "SUPPORT_CHAT_REQUEST_TIMEOUT_SECS", default_value = "10", value_parser = seconds(1, 3600))]
    pub request_timeout: Duration,

    /// Seconds a chat request's body may take to arrive, before it is
    /// answered with a `503 timeout` envelope. The body is read before the
    /// request takes one of the `--max-in-flight` places.
    #[arg(long = "body-read-timeout-secs", env = "SUPPORT_CHAT_BODY_READ_TIMEOUT_SECS", default_value = "5", value_parser = seconds(1, 3600))]
    pub body_read_timeout: Duration,

    /// Chat requests served at once (their bodies already read); more are
    /// shed with `503 overloaded`.
    #[arg(long, env = "SUPPORT_CHAT_MAX_IN_FLIGHT", default_value = "512", value_parser = count(1, 1_000_000))]
    pub max_in_flight: NonZeroUsize,

    /// One client's chat requests worked on at once; more wait their turn
    /// (within the request timeout) rather than being refused.
    #[arg(long, env = "SUPPORT_CHAT_MAX_IN_FLIGHT_PER_CLIENT", default_value = "32", value_parser = count(1, 1_000_000))]
    pub max_in_flight_per_client: NonZeroUsize,

    /// Longest accepted message, in characters after trimming.
    #[arg(long, env = "SUPPORT_CHAT_MAX_MESSAGE_CHARS", default_value = "1000", value_parser = count(1, 100_000))]
    pub max_message_chars: NonZeroUsize,

    /// Largest accepted chat request body, in bytes.
    #[arg(long, env = "SUPPORT_CHAT_MAX_BODY_BYTES", default_value_t = 16 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..=16 * 1024 * 1024))]
    pub max_body_bytes: usize,
}

/// How long and how much of each conversation is kept.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sessions")]
pub struct SessionArgs {
    /// Minutes of inactivity after which a conversation is forgotten.
    #[arg(long = "session-idle-minutes", env = "SUPPORT_CHAT_SESSION_IDLE_MINUTES", default_value = "30", value_parser = minutes(1, 7 * 24 * 60))]
    pub idle: Duration,

    /// Most conversations kept at once; the least recently used is dropped first.
    #[arg(long = "max-sessions", env = "SUPPORT_CHAT_MAX_SESSIONS", default_value = "100000", value_parser = count(1, 100_000_000))]
    pub max_sessions: NonZeroUsize,

    /// Turns kept per conversation (older ones are dropped). The engine
    /// reads the last 3; keeping more only costs memory.
    #[arg(long = "max-turns", env = "SUPPORT_CHAT_MAX_TURNS", default_value_t = NonZeroUsize::new(support_chat_assistant::HISTORY_TURNS).expect("not zero"), value_parser = count(1, 100))]
    pub max_turns: NonZeroUsize,

    /// Memory all conversations may occupy together, in MiB, bookkeeping
    /// included; the least recently used conversations go first.
    #[arg(long = "session-memory-mib", env = "SUPPORT_CHAT_SESSION_MEMORY_MIB", default_value = "64", value_parser = mebibytes(1, 1024 * 1024))]
    pub memory_bytes: usize,
}

/// Redis for several replicas.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Several replicas (Redis)")]
pub struct RedisArgs {
    /// Redis (or Valkey) shared by several replicas for the chat rate limit
    /// and the conversations: `redis://host:6379`, `rediss://…` (TLS) or
    /// `unix:///path/redis.sock`. Default: none, both stay in this process.
    #[arg(
        long = "redis-url",
        env = "SUPPORT_CHAT_REDIS_URL",
        requires = "key_secret"
    )]
    pub url: Option<String>,

    /// Secret that keys the HMAC under which client addresses are stored in
    /// Redis (the same on every replica; at least 16 characters). Required
    /// with `--redis-url`.
    #[arg(long = "redis-key-secret", env = "SUPPORT_CHAT_REDIS_KEY_SECRET", hide_env_values = true, value_parser = secret(16))]
    pub key_secret: Option<SecretString>,

    /// Milliseconds a Redis call may take before the request goes on
    /// without it (see `--redis-fallback`).
    #[arg(long = "redis-timeout-ms", env = "SUPPORT_CHAT_REDIS_TIMEOUT_MS", default_value = "250", value_parser = milliseconds(10, 10_000))]
    pub timeout: Duration,

    /// While Redis does not answer: `local` limits each replica on its own
    /// (at worst N times the limit across N replicas); `closed` refuses every
    /// chat request with `429` until it answers.
    #[arg(long = "redis-fallback", env = "SUPPORT_CHAT_REDIS_FALLBACK", value_enum, default_value_t = Fallback::Local)]
    pub fallback: Fallback,
}

/// The knowledge base, the engine and the threads it answers on.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Assistant")]
pub struct AssistantArgs {
    /// Knowledge-base folder (one Markdown file per answer, see docs/assistant.md).
    /// Default: the sample knowledge base built into the binary.
    #[arg(long, env = "SUPPORT_CHAT_KB")]
    pub kb: Option<PathBuf>,

    #[command(flatten)]
    pub encoder: EncoderArgs,

    #[command(flatten)]
    pub scope: ScopeArgs,

    /// Sentence embeddings of recent messages kept (about 1.7 KiB each), so a
    /// repeated message skips the encoder; 0 keeps none. The training
    /// texts' are kept apart, all of them, whatever this says.
    #[arg(long, env = "SUPPORT_CHAT_EMBEDDING_CACHE_ENTRIES", default_value_t = 4096, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub embedding_cache_entries: usize,

    /// File of the training texts' sentence embeddings (the knowledge
    /// base's questions and the built-in duty-of-care and out-of-scope
    /// examples), written when start-up training and each reload are done,
    /// and read at the next start, which then skips encoding them: most of
    /// start-up's time.
    /// It holds each text's SHA-256 and embedding, never a text, and nothing
    /// visitors sent. `off` keeps none.
    #[arg(long, env = "SUPPORT_CHAT_EMBEDDING_CACHE", default_value = "data/embeddings.bin", value_parser = embedding_cache)]
    pub embedding_cache: EmbeddingCache,

    /// Passes of tuning the encoder's top layer to the knowledge base's
    /// questions after each load (in the background, on one thread; the
    /// untuned engine answers meanwhile), kept beside --embedding-cache
    /// (`…-tuned.bin`) for the next start; 0 turns tuning off. Knowledge
    /// bases of more than 2,000 training texts are not tuned.
    #[arg(long, env = "SUPPORT_CHAT_TUNE_EPOCHS", default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100))]
    pub tune_epochs: usize,

    /// Threads answers are computed on (the encoder runs there, never on
    /// the async workers). Default: one per CPU core.
    #[arg(long, env = "SUPPORT_CHAT_ANSWER_THREADS", value_parser = count(1, 256))]
    pub answer_threads: Option<NonZeroUsize>,

    /// Chat requests that may wait for an answer thread; more are shed with
    /// `503 overloaded` at once.
    #[arg(long, env = "SUPPORT_CHAT_ANSWER_QUEUE", default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
    pub answer_queue: usize,
}

/// What is kept of conversations, where, and for how long (README, "Records and privacy").
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Records")]
pub struct RecordArgs {
    /// Where records are kept: `sqlite://PATH` (created with its schema on
    /// first start; `sqlite:///abs/path.db` absolute) or a `postgres://` URL
    /// (for several replicas).
    #[arg(
        long,
        env = "SUPPORT_CHAT_DATABASE",
        default_value = "sqlite://data/support-chat.db"
    )]
    pub database: DatabaseUrl,

    /// `on`: every turn and vote is recorded (redacted); `off`: nothing is,
    /// and no database is opened.
    #[arg(long, env = "SUPPORT_CHAT_RECORD", value_enum, default_value_t = Recording::On)]
    pub record: Recording,

    /// Days records are kept; older ones are purged every hour.
    #[arg(long = "retention-days", env = "SUPPORT_CHAT_RETENTION_DAYS", default_value = "30", value_parser = days(1, 3650))]
    pub retention: Duration,

    /// Days a complaint record, and its conversation, are kept (three years
    /// by default, as complaint records must be), and longer while it is not
    /// resolved; at least --retention-days.
    #[arg(long = "complaint-retention-days", env = "SUPPORT_CHAT_COMPLAINT_RETENTION_DAYS", default_value = "1095", value_parser = days(1, 36500))]
    pub complaint_retention: Duration,

    /// Records waiting to be written at most; more are dropped (and counted)
    /// rather than slow a chat.
    #[arg(long, env = "SUPPORT_CHAT_RECORD_QUEUE", default_value = "10000", value_parser = count(1, 1_000_000))]
    pub record_queue: NonZeroUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recording {
    On,
    Off,
}

/// The admin listener: metrics, and the admin API when a token is set.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Admin")]
pub struct AdminArgs {
    /// Address of the admin listener (`/metrics`, `/admin/api/…`); keep it
    /// on loopback or a private network. Nothing of it is on `--addr`.
    #[arg(
        long,
        env = "SUPPORT_CHAT_ADMIN_ADDR",
        default_value = "127.0.0.1:3001"
    )]
    pub admin_addr: SocketAddr,

    /// The admin API's bearer token (at least 24 characters); without it
    /// the admin API is off. Prefer the environment variable to the flag.
    #[arg(long, env = "SUPPORT_CHAT_ADMIN_TOKEN", hide_env_values = true, value_parser = secret(24))]
    pub admin_token: Option<SecretString>,
}

/// Handoffs to a person: how they reach the team, how often a visitor may
/// ask, and when someone is there (README, "Handoffs").
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Handoffs")]
pub struct HandoffArgs {
    /// SMTP server handoffs are mailed through: `smtp://host:port` (plain,
    /// for a relay on this host or network), `smtp://host:port?tls=required`
    /// (STARTTLS) or `smtps://host:port` (TLS). Log-in from
    /// SUPPORT_CHAT_SMTP_USERNAME and SUPPORT_CHAT_SMTP_PASSWORD.
    #[arg(long, env = "SUPPORT_CHAT_SMTP_URL", requires_all = ["handoff_email_to", "handoff_email_from"])]
    pub smtp_url: Option<String>,

    /// The SMTP log-in's user name (with SUPPORT_CHAT_SMTP_PASSWORD).
    #[arg(
        long,
        env = "SUPPORT_CHAT_SMTP_USERNAME",
        requires = "smtp_password",
        hide = true
    )]
    pub smtp_username: Option<String>,

    /// The SMTP log-in's password; environment only in practice.
    #[arg(long, env = "SUPPORT_CHAT_SMTP_PASSWORD", hide_env_values = true, requires = "smtp_username", value_parser = secret(1), hide = true)]
    pub smtp_password: Option<SecretString>,

    /// Where handoffs are mailed: the team's address(es), comma separated.
    #[arg(long, env = "SUPPORT_CHAT_HANDOFF_EMAIL_TO", value_delimiter = ',', value_parser = mailbox, requires = "smtp_url")]
    pub handoff_email_to: Vec<lettre::message::Mailbox>,

    /// The sender of handoff mails, e.g. `Support chat <chat@lender.example>`
    /// (an address your mail server may send as).
    #[arg(long, env = "SUPPORT_CHAT_HANDOFF_EMAIL_FROM", value_parser = mailbox, requires = "smtp_url")]
    pub handoff_email_from: Option<lettre::message::Mailbox>,

    /// URL handoffs are POSTed to as signed JSON (README, "Handoffs"); the
    /// key is SUPPORT_CHAT_HANDOFF_WEBHOOK_SECRET.
    #[arg(long, env = "SUPPORT_CHAT_HANDOFF_WEBHOOK_URL", value_parser = webhook_url, requires = "handoff_webhook_secret")]
    pub handoff_webhook_url: Option<url::Url>,

    /// The webhook's signing key (at least 16 characters).
    #[arg(long, env = "SUPPORT_CHAT_HANDOFF_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret(16), requires = "handoff_webhook_url")]
    pub handoff_webhook_secret: Option<SecretString>,

    /// Handoffs one conversation, and one client, may ask for, as
    /// `<requests>/<window>`: more get `429` until the window has passed.
    #[arg(long, env = "SUPPORT_CHAT_HANDOFF_LIMIT", default_value = "3/1h")]
    pub handoff_limit: Quota,

    /// Seconds before the first retry of an undelivered handoff; each later
    /// wait doubles, up to an hour.
    #[arg(long = "handoff-retry-secs", env = "SUPPORT_CHAT_HANDOFF_RETRY_SECS", default_value = "30", value_parser = seconds(1, 3600))]
    pub first_retry: Duration,

    /// Attempts before an undelivered handoff is marked failed (the
    /// defaults keep trying for about 13 hours); retry it from the admin API.
    #[arg(long = "handoff-max-attempts", env = "SUPPORT_CHAT_HANDOFF_MAX_ATTEMPTS", default_value = "20", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,

    /// When someone is there to answer, e.g. `Mon-Fri 09:00-17:30
    /// Europe/London; closed 2026-12-25,2026-12-26`: the assistant and the
    /// widget tell visitors when to expect a reply. Default: not said.
    #[arg(long, env = "SUPPORT_CHAT_BUSINESS_HOURS")]
    pub business_hours: Option<BusinessHours>,
}

impl HandoffArgs {
    /// Whether handoffs have a way to the team.
    pub fn configured(&self) -> bool {
        self.smtp_url.is_some() || self.handoff_webhook_url.is_some()
    }
}

/// Flags that parse one by one but not together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "--ipv6-aggregate-limits {network}: a network quota must be wider than --ipv6-prefix {prefix}"
    )]
    NarrowAggregate { network: String, prefix: u8 },
    #[error(
        "handoffs are kept in the records database until delivered: --smtp-url and --handoff-webhook-url need --record on"
    )]
    HandoffsWithoutRecords,
    #[error("--complaint-retention-days must be at least --retention-days")]
    ShortComplaintRetention,
}

impl ServeArgs {
    /// The flags' one check across groups. Run once, where the flags are read
    /// (`main`, and the tests' flag helper), before anything loads.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.handoff.configured() && self.records.record == Recording::Off {
            return Err(ConfigError::HandoffsWithoutRecords);
        }
        if self.records.complaint_retention < self.records.retention {
            return Err(ConfigError::ShortComplaintRetention);
        }
        let prefix = self.chat.ipv6_prefix.get();
        match self
            .chat
            .ipv6_aggregate_limits
            .0
            .iter()
            .find(|n| n.prefix >= prefix)
        {
            Some(narrow) => Err(ConfigError::NarrowAggregate {
                network: narrow.to_string(),
                prefix,
            }),
            None => Ok(()),
        }
    }
}

impl Default for ServeArgs {
    /// Every default, and nothing from the environment.
    fn default() -> Self {
        Cli::from_flags(["support-chat"])
            .expect("the defaults parse")
            .serve
    }
}

/// A count from `min` to `max`, as a [`NonZeroUsize`] (`min` ≥ 1).
fn count(min: u64, max: usize) -> impl TypedValueParser<Value = NonZeroUsize> {
    clap::builder::RangedU64ValueParser::<usize>::new()
        .range(min.max(1)..=max as u64)
        .map(|n| NonZeroUsize::new(n).expect("the range starts at 1"))
}

/// Whole seconds from `min` to `max`, as a [`Duration`].
fn seconds(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(Duration::from_secs)
}

/// Whole minutes from `min` to `max`, as a [`Duration`].
fn minutes(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(|m| Duration::from_secs(m * 60))
}

/// Whole milliseconds from `min` to `max`, as a [`Duration`].
fn milliseconds(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(Duration::from_millis)
}

/// Whole days from `min` to `max`, as a [`Duration`].
fn days(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(|d| Duration::from_secs(d * 24 * 60 * 60))
}

/// Whole MiB from `min` to `max`, in bytes.
fn mebibytes(min: u64, max: u64) -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(|mib| usize::try_from(mib << 20).unwrap_or(usize::MAX))
}

/// A secret of at least `min` characters; its `Debug` prints no value.
fn secret(min: usize) -> impl Fn(&str) -> Result<SecretString, String> + Clone {
    move |input: &str| {
        if input.chars().count() < min {
            return Err(format!("must be at least {min} characters"));
        }
        Ok(SecretString::from(input))
    }
}

/// An e-mail address, optionally with a display name (`Team <team@x.example>`).
fn mailbox(input: &str) -> Result<lettre::message::Mailbox, String> {
    input
        .trim()
        .parse()
        .map_err(|e| format!("invalid e-mail address {input:?}: {e}"))
}

/// An absolute `http(s)` URL to POST to.
fn webhook_url(input: &str) -> Result<url::Url, String> {
    url::Url::parse(input.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("invalid webhook URL {input:?}: expected an http(s) URL"))
}

/// `--embedding-cache`: a file, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingCache(pub Option<PathBuf>);

fn embedding_cache(input: &str) -> Result<EmbeddingCache, String> {
    match input.trim() {
        "" => Err("expected a file, or off".into()),
        "off" => Ok(EmbeddingCache(None)),
        path => Ok(EmbeddingCache(Some(path.into()))),
    }
}

/// `--tune-epochs`: the default tuning with that many passes, or none.
pub fn tune_config(epochs: usize) -> Option<support_chat_assistant::TuneConfig> {
    (epochs > 0).then(|| support_chat_assistant::TuneConfig {
        epochs,
        ..support_chat_assistant::TuneConfig::default()
    })
}

fn finite(input: &str) -> Result<f32, String> {
    input
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{input:?} is not a number"))
}

/// A number in `range` (NaN never is), called `what` in the error: "a
/// share" reads "\"0.6\" is not a share from 0 to 0.5". Its flag takes
/// `allow_hyphen_values`, so that a negative value meets this error rather
/// than clap's unknown-flag one.
fn number_in<T>(
    range: RangeInclusive<T>,
    what: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + fmt::Display + Clone + Send + Sync + 'static,
{
    move |input: &str| {
        input
            .trim()
            .parse::<T>()
            .ok()
            .filter(|x| range.contains(x))
            .ok_or_else(|| {
                let (low, high) = (range.start(), range.end());
                format!("{input:?} is not {what} from {low} to {high}")
            })
    }
}

/// An absolute `http(s)` URL, nothing after its path: it is written into
/// the demo page's snippets.
fn public_url(input: &str) -> Result<url::Url, String> {
    let error = || {
        format!(
            "invalid public URL {input:?}: expected an http(s) URL, e.g. \"https://chat.example.com\""
        )
    };
    let input = input.trim();
    // Nothing a browser would have to escape: it is written into the page.
    let printable = input
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"\"'<>`\\".contains(&b));
    let url = url::Url::parse(input).map_err(|_| error())?;
    let plain = printable
        && matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if plain { Ok(url) } else { Err(error()) }
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

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn flags(argv: &[&str]) -> Result<ServeArgs, clap::Error> {
        Cli::from_flags(std::iter::once("support-chat").chain(argv.iter().copied()))
            .map(|cli| cli.serve)
    }

    #[test]
    fn flags_alone_ignore_the_environment() {
        // SAFETY: this test binary's other tests do not read this variable.
        unsafe { std::env::set_var("SUPPORT_CHAT_CHAT_RATE_LIMIT", "1/1s") };
        let args = flags(&[]).unwrap();
        assert_eq!(args.chat.chat_rate_limit.to_string(), "60/60s");
        assert_eq!(
            ServeArgs::default().chat.chat_rate_limit.to_string(),
            "60/60s"
        );
    }

    #[test]
    fn durations_and_counts_are_typed_and_ranged() {
        let args = flags(&["--request-timeout-secs", "7", "--session-idle-minutes", "2"]).unwrap();
        assert_eq!(args.chat.request_timeout, Duration::from_secs(7));
        assert_eq!(args.sessions.idle, Duration::from_secs(120));
        assert_eq!(args.sessions.memory_bytes, 64 << 20);
        for bad in [
            &["--max-in-flight", "0"][..],
            &["--request-timeout-secs", "0"],
            &["--ipv6-prefix", "129"],
            &["--max-turns", "101"],
        ] {
            assert!(flags(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_out_of_scope_rule_follows_the_knowledge_base_unless_a_target_or_a_threshold_is_given() {
        use support_chat_assistant::ScopeRule;
        let scope = |args: &[&str]| flags(args).unwrap().assistant.scope.engine_config().scope;
        assert_eq!(scope(&[]), ScopeRule::Auto);
        assert_eq!(scope(&["--handoff-target", "0.1"]), ScopeRule::Target(0.1));
        assert_eq!(scope(&["--handoff-target", "0"]), ScopeRule::Off);
        assert_eq!(
            scope(&["--handoff-target", "0.1", "--scope-threshold", "-0.25"]),
            ScopeRule::Threshold(-0.25)
        );
        let weight = |args: &[&str]| {
            flags(args)
                .unwrap()
                .assistant
                .scope
                .engine_config()
                .scope_weight
        };
        use support_chat_assistant::ScopeWeight;
        assert_eq!(weight(&[]), ScopeWeight::Fitted);
        assert_eq!(weight(&["--scope-weight", "0.4"]), ScopeWeight::Given(0.4));
        use support_chat_assistant::AnswerThreshold;
        let answer = |args: &[&str]| {
            let cfg = flags(args).unwrap().assistant.scope.engine_config();
            cfg.answer_threshold
        };
        assert_eq!(answer(&[]), AnswerThreshold::Fitted);
        let given = answer(&["--answer-threshold", "0.45"]);
        assert_eq!(given, AnswerThreshold::Given(0.45));
        for bad in [
            ["--handoff-target", "0.6"],
            ["--scope-threshold", "NaN"],
            ["--scope-weight", "7"],
            ["--answer-threshold", "1.5"],
            ["--answer-threshold", "NaN"],
            ["--answer-threshold", "-0.1"],
            ["--scope-weight", "-1"],
        ] {
            let err = flags(&bad).unwrap_err().to_string();
            assert!(err.contains(bad[0]), "{err}");
            assert!(err.contains(&format!("{:?} is not", bad[1])), "{err}");
        }
    }

    #[test]
    fn the_redis_secret_is_required_long_enough_and_never_printed() {
        let err = flags(&["--redis-url", "redis://127.0.0.1:1"]).unwrap_err();
        assert!(err.to_string().contains("--redis-key-secret"), "{err}");
        let err = flags(&["--redis-key-secret", "short"]).unwrap_err();
        assert!(err.to_string().contains("at least 16"), "{err}");
        let secret = "a secret of some length";
        let args = flags(&["--redis-url", "redis://x", "--redis-key-secret", secret]).unwrap();
        assert!(!format!("{args:?}").contains(secret));
        assert_eq!(args.redis.key_secret.unwrap().expose_secret(), secret);
    }

    #[test]
    fn an_aggregate_quota_narrower_than_the_client_prefix_is_refused() {
        let args = flags(&["--ipv6-prefix", "48"]).unwrap();
        let err = args.check().unwrap_err().to_string();
        assert!(err.contains("56=240/60s"), "{err}");
        assert!(flags(&[]).unwrap().check().is_ok());
    }

    #[test]
    fn handoff_channels_come_whole_and_need_the_records() {
        let err = flags(&["--smtp-url", "smtp://127.0.0.1:25"]).unwrap_err();
        assert!(err.to_string().contains("--handoff-email-to"), "{err}");
        let err = flags(&["--handoff-webhook-url", "https://hooks.example/x"]).unwrap_err();
        assert!(
            err.to_string().contains("--handoff-webhook-secret"),
            "{err}"
        );
        let err = flags(&["--handoff-email-to", "not an address"]).unwrap_err();
        assert!(err.to_string().contains("invalid e-mail address"), "{err}");
        let args = flags(&[
            "--smtp-url",
            "smtp://127.0.0.1:25",
            "--handoff-email-to",
            "a@lender.example,b@lender.example",
            "--handoff-email-from",
            "Chat <chat@lender.example>",
            "--business-hours",
            "Mon-Fri 09:00-17:30 Europe/London",
        ])
        .unwrap();
        assert_eq!(args.handoff.handoff_email_to.len(), 2);
        assert!(args.check().is_ok());
        let mut off = args.clone();
        off.records.record = Recording::Off;
        assert!(matches!(
            off.check(),
            Err(ConfigError::HandoffsWithoutRecords)
        ));
        let err = flags(&["--business-hours", "whenever"]).unwrap_err();
        assert!(err.to_string().contains("invalid business hours"), "{err}");
    }

    #[test]
    fn a_public_url_is_a_plain_http_url() {
        assert!(public_url("https://chat.example.com/").is_ok());
        for bad in [
            "chat.example.com",
            "ftp://x",
            "https://a\"><script>",
            "https://x.example/\"><script>",
            "https://user:pw@x",
            "https://x/?q=1",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }
}
