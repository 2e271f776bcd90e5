//! `agentless-mini repair`: Repair only: N SEARCH/REPLACE samples per instance from the finished
//! localization. It reads and writes the same run-directory artifacts as `eval` (see
//! `crate::artifact`).

use clap::Args;

use super::eval::{PipelineArgs, run_scope};
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::Scope;

#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &RepairArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    Ok(run_scope(&args.pipeline, global, Scope::Stage(StageId::Repair))
        .await?
        .0)
}
