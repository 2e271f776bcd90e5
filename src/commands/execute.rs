//! `agentless-mini execute`: Execute only: every distinct candidate patch against the selected
//! regression and reproduction tests, in containers. It reads and writes the same run-directory
//! artifacts as `eval` (see `crate::artifact`).

use clap::Args;

use super::eval::{PipelineArgs, run_scope};
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::Scope;

#[derive(Debug, Args)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &ExecuteArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    Ok(run_scope(&args.pipeline, global, Scope::Stage(StageId::Execute))
        .await?
        .0)
}
