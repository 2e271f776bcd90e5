//! agentless-mini: the Agentless Mini pipeline of SWE-RL over SWE-bench, as a CLI.
//!
//! Data flows one way: dataset → stages → artifacts on disk → reports. The `harness`
//! crate executes and judges instances (it knows nothing of models); the `model` crate
//! talks to models; `swerl-reward` scores patches. This crate holds the CLI, the pipeline
//! stages and the reporters (the only code that prints). See ARCHITECTURE.md.

pub mod artifact;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod demo;
pub mod exit;
pub mod interop;
pub mod limits;
pub mod logging;
pub mod outputs;
pub mod pipeline;
pub mod printer;
pub mod progress;
pub mod publish;
pub mod reporting;
pub mod settings;
pub mod signals;
pub mod status;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

/// Parse the command line, run the command, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.verbose, cli.global.quiet, cli.global.color.ansi_on_stderr());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitStatus::Failure.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            commands::report_error(&err);
            ExitStatus::of_error(&err).into()
        }
    }
}

/// Dispatch one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let global = cli.global;
    match cli.command {
        Command::Eval(args) => commands::eval::run(&args, &global).await,
        Command::Localize(args) => commands::localize::run(&args, &global).await,
        Command::Repair(args) => commands::repair::run(&args, &global).await,
        Command::GenTests(args) => commands::gen_tests::run(&args, &global).await,
        Command::SelectRegression(args) => commands::select_regression::run(&args, &global).await,
        Command::Execute(args) => commands::execute::run(&args, &global).await,
        Command::Rerank(args) => commands::rerank::run(&args, &global).await,
        Command::Grade(args) => commands::grade::run(&args, &global),
        Command::Dataset(args) => commands::dataset::run(&args, &global).await,
        Command::Evaluate(args) => commands::evaluate::run(&args, &global).await,
        Command::Clean(args) => commands::clean::run(&args, &global).await,
        Command::Compare(args) => commands::compare::run(&args, &global),
        Command::Submit(args) => commands::submit::run(&args, &global).await,
        Command::Export(args) => commands::export::run(&args, &global).await,
        Command::Import(args) => commands::import::run(&args, &global),
        Command::Report(args) => commands::report::run(&args, &global).await,
        Command::Reward(args) => commands::reward::run(&args, &global).await,
        Command::Chat(args) => commands::chat::run(&args, &global).await,
        Command::Serve(args) => commands::serve::run(&args, &global).await,
        Command::Status(args) => cluster::status::run(&args, &global).await,
        Command::Plan(args) => cluster::plan::run(&args, &global).await,
        Command::SlurmTask(args) => cluster::task::run(&args, &global).await,
        Command::Prompts(args) => commands::prompts::run(&args, &global).await,
        Command::Pycheck(args) => commands::pycheck::run(&args, &global).await,
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "agentless-mini", &mut std::io::stdout());
            Ok(ExitStatus::Success)
        }
    }
}
