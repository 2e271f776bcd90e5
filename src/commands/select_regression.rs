//! `agentless-mini select-regression`: Regression tests only: the tests that pass on the original
//! code, minus those the model says the fix may change. It reads and writes the same run-directory
//! artifacts as `eval` (see `crate::artifact`).

use clap::Args;

use super::eval::{PipelineArgs, run_scope};
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::Scope;

#[derive(Debug, Args)]
pub struct SelectRegressionArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &SelectRegressionArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    Ok(run_scope(&args.pipeline, global, Scope::Stage(StageId::Regression))
        .await?
        .0)
}
