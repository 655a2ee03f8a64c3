//! Command line and environment. Every flag has an `SUPPORT_CHAT_*` env
//! fallback and a documented default; `support-chat --help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Serving options (serving is what runs without a subcommand).
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the chat endpoint, the widget and the demo page (the default).
    Serve(ServeArgs),
    /// Train on a `text,category` CSV and answer every row of another; the
    /// last line of stdout is one JSON object of scores. Rows whose category
    /// is `oos` are out of scope: right only when the engine hands off.
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Training CSV (`text,category`, header row).
    #[arg(long)]
    pub train: PathBuf,
    /// Test CSV (`text,category`, header row).
    #[arg(long)]
    pub test: PathBuf,
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

    /// This server's public base URL, as site owners should reference it in
    /// the embed snippet (e.g. `https://chat.example.com`). Default: the
    /// origin of each request (`http://` + its Host header).
    #[arg(long, env = "SUPPORT_CHAT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Origins allowed to call the API and load the widget, comma separated
    /// (e.g. `https://www.example.com,https://example.com`); `*` allows any.
    #[arg(
        long,
        env = "SUPPORT_CHAT_ALLOWED_ORIGINS",
        default_value = "*",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Longest accepted message, in characters after trimming.
    #[arg(long, env = "SUPPORT_CHAT_MAX_MESSAGE_CHARS", default_value_t = crate::api::DEFAULT_MAX_MESSAGE_CHARS)]
    pub max_message_chars: usize,

    /// Largest accepted chat request body, in bytes.
    #[arg(long, env = "SUPPORT_CHAT_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// Minutes of inactivity after which a conversation is forgotten.
    #[arg(long, env = "SUPPORT_CHAT_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u64,

    /// Most conversations kept at once; the least recently used is dropped first.
    #[arg(long, env = "SUPPORT_CHAT_MAX_SESSIONS", default_value_t = 100_000)]
    pub max_sessions: usize,

    /// Turns kept per conversation (older ones are dropped).
    #[arg(long, env = "SUPPORT_CHAT_MAX_TURNS", default_value_t = 20)]
    pub max_turns: usize,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Cli::parse_from(["support-chat"]).serve
    }
}
