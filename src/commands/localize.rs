//! `agentless-mini localize`: Localization only: N samples of the file-level localization prompt,
//! de-duplicated location sets. It reads and writes the same run-directory artifacts as `eval` (see
//! `crate::artifact`).

use clap::Args;

use super::eval::{PipelineArgs, run_scope};
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::Scope;

#[derive(Debug, Args)]
pub struct LocalizeArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &LocalizeArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    Ok(run_scope(&args.pipeline, global, Scope::Stage(StageId::Localize))
        .await?
        .0)
}
