use clap::Parser;
use support_chat::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    support_chat::telemetry::init();
    let result = match cli.command {
        None => support_chat::app::serve(cli.serve).await,
        Some(Command::Serve(args)) => support_chat::app::serve(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("support-chat: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
