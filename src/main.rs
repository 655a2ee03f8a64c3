use clap::Parser;
use support_chat::config::{CheckKbArgs, Cli, Command};
use support_chat::domain::assistant::{KnowledgeBase, Shots};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    support_chat::telemetry::init();
    let result = match cli.command {
        None => support_chat::startup::serve(cli.serve).await,
        Some(Command::Eval(args)) => eval(&args),
        Some(Command::CheckKb(args)) => return check_kb(&args),
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
    let shots = args.shots.map(|per_category| Shots {
        per_category,
        seed: args.seed,
    });
    let report = support_chat::domain::assistant::evaluate(&args.train, &args.test, shots)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Exit status: 0 passed, 1 an article below the minimum, 2 the knowledge base did not load.
fn check_kb(args: &CheckKbArgs) -> std::process::ExitCode {
    let kb = match &args.kb {
        Some(dir) => match KnowledgeBase::load_dir(dir) {
            Ok(kb) => kb,
            Err(error) => {
                eprintln!("support-chat: {error}");
                return std::process::ExitCode::from(2);
            }
        },
        None => KnowledgeBase::sample(),
    };
    let check =
        match support_chat::domain::assistant::check_kb(&kb, args.folds, args.max_misdirected) {
            Ok(check) => check,
            Err(error) => {
                eprintln!("support-chat: {error}");
                return std::process::ExitCode::from(2);
            }
        };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&check).expect("the report serialises")
        );
    } else {
        println!("{check}");
    }
    if check.passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
