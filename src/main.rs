use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use support_chat::config::{CheckKbArgs, Cli, Command, EmbeddingCacheArgs, EncoderArgs, EvalArgs};
use support_chat_assistant::{Encoder, HoldOut, KnowledgeBase, Shots};

/// mimalloc, not glibc's malloc: see `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // Only the server logs: the subcommands' stdout is their report.
        None => {
            support_chat::telemetry::init();
            let served = match cli.serve.check() {
                Ok(()) => support_chat::startup::run(cli.serve)
                    .await
                    .map_err(Into::into),
                Err(error) => Err(error.into()),
            };
            exit(served, ExitCode::FAILURE)
        }
        Some(Command::Eval(args)) => exit(eval(&args), ExitCode::FAILURE),
        Some(Command::CheckKb(args)) => check_kb(&args),
    }
}

/// Success, or the error with its causes on stderr and `status`.
fn exit(result: Result<(), Box<dyn Error>>, status: ExitCode) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("support-chat: {}", chain(error.as_ref()));
            status
        }
    }
}

/// `error: its cause: the cause's cause`.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Embeddings `eval` keeps: every text of a BANKING77-sized run.
const EVAL_CACHE_ENTRIES: usize = 1 << 16;

fn eval(args: &EvalArgs) -> Result<(), Box<dyn Error>> {
    let shots = args.shots.map(|per_category| Shots {
        per_category: per_category.get(),
        seed: args.seed,
    });
    let encoder = encoder_with_cache(&args.encoder, &args.cache)?;
    let hold_out = args.hold_out_intents.map(|intents| HoldOut {
        intents: intents.get(),
        split: args.split,
    });
    let report = support_chat_assistant::evaluate(
        &args.train,
        &args.test,
        shots,
        hold_out,
        encoder.as_ref(),
        support_chat::config::tune_config(args.tune_epochs),
    )?;
    keep_cache(encoder.as_deref(), &args.cache);
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The encoder of `eval` and `check-kb`, its embeddings read from the
/// cache file when that is there and good (else it encodes without it).
fn encoder_with_cache(
    args: &EncoderArgs,
    cache: &EmbeddingCacheArgs,
) -> Result<Option<Arc<Encoder>>, Box<dyn Error>> {
    let encoder = support_chat::startup::encoder(args, EVAL_CACHE_ENTRIES)?;
    if let (Some(encoder), Some(path)) = (&encoder, &cache.path)
        && let Err(error) = encoder.load_cache(path)
    {
        eprintln!(
            "support-chat: {}: {error}; encoding without it",
            path.display()
        );
    }
    Ok(encoder)
}

/// Writes the cache file after a run. A file not written is a warning: the
/// run's report and exit status are what it was asked for.
fn keep_cache(encoder: Option<&Encoder>, cache: &EmbeddingCacheArgs) {
    if let (Some(encoder), Some(path)) = (encoder, &cache.path)
        && let Err(error) = encoder.save_cache(path)
    {
        eprintln!("support-chat: {}: {error}; not kept", path.display());
    }
}

/// Exit status: 0 passed, 1 an article below the minimum, 2 the knowledge base
/// or the encoder did not load.
fn check_kb(args: &CheckKbArgs) -> ExitCode {
    let checked = (|| -> Result<_, Box<dyn Error>> {
        let kb = match &args.kb {
            Some(dir) => KnowledgeBase::load_dir(dir)?,
            None => KnowledgeBase::sample(),
        };
        let encoder = encoder_with_cache(&args.encoder, &args.cache)?;
        let check = support_chat_assistant::check_kb(
            &kb,
            args.folds,
            args.max_misdirected,
            encoder.as_ref(),
            support_chat::config::tune_config(args.tune_epochs),
            args.scope.engine_config(),
        )?;
        keep_cache(encoder.as_deref(), &args.cache);
        Ok(check)
    })();
    let check = match checked {
        Ok(check) => check,
        Err(error) => return exit(Err(error), ExitCode::from(2)),
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
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
