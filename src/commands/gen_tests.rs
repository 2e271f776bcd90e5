//! `agentless-mini gen-tests`: Reproduction tests only: predict a test file, generate tests, keep
//! those that reproduce the issue on the original code, vote to the top N. It reads and writes the
//! same run-directory artifacts as `eval` (see `crate::artifact`).

use clap::Args;

use super::eval::{PipelineArgs, run_scope};
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::Scope;

#[derive(Debug, Args)]
pub struct GenTestsArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &GenTestsArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    Ok(run_scope(&args.pipeline, global, Scope::Stage(StageId::Repro)).await?.0)
}
