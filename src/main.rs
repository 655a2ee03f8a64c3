use clap::Parser;
use support_chat::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    support_chat::telemetry::init();
    let result = match cli.command {
        None => support_chat::startup::serve(cli.serve).await,
        Some(Command::Eval(args)) => eval(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("support-chat: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn eval(args: &support_chat::config::EvalArgs) -> Result<(), Box<dyn std::error::Error>> {
    let report = support_chat::domain::assistant::evaluate(&args.train, &args.test)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
