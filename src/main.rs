use clap::Parser;
use support_chat::config::{CheckKbArgs, Cli, Command};
use support_chat::domain::assistant::{KnowledgeBase, Shots};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // Only the server logs: the subcommands' stdout is their report.
        None => {
            support_chat::telemetry::init();
            support_chat::startup::serve(cli.serve).await
        }
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

/// Embeddings `eval` keeps: every text of a BANKING77-sized run.
const EVAL_CACHE_ENTRIES: usize = 1 << 16;

fn eval(args: &support_chat::config::EvalArgs) -> Result<(), Box<dyn std::error::Error>> {
    let shots = args.shots.map(|per_category| Shots {
        per_category,
        seed: args.seed,
    });
    let encoder = support_chat::startup::encoder(&args.encoder, EVAL_CACHE_ENTRIES)?;
    if let (Some(encoder), Some(path)) = (&encoder, &args.embedding_cache)
        && let Err(error) = encoder.load_cache(path)
    {
        eprintln!(
            "support-chat: {}: {error}; encoding without it",
            path.display()
        );
    }
    let report = support_chat::domain::assistant::evaluate(
        &args.train,
        &args.test,
        shots,
        encoder.as_ref(),
    )?;
    if let (Some(encoder), Some(path)) = (&encoder, &args.embedding_cache) {
        encoder.save_cache(path)?;
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Exit status: 0 passed, 1 an article below the minimum, 2 the knowledge base
/// or the encoder did not load.
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
    let encoder = match support_chat::startup::encoder(&args.encoder, EVAL_CACHE_ENTRIES) {
        Ok(encoder) => encoder,
        Err(error) => {
            eprintln!("support-chat: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let check = match support_chat::domain::assistant::check_kb(
        &kb,
        args.folds,
        args.max_misdirected,
        encoder.as_ref(),
    ) {
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
