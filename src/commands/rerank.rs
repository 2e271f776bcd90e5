//! `agentless-mini rerank`: the rerank rule over the finished repair samples and execution
//! results (no model, no containers), then `predictions.jsonl`. It reads and writes the same
//! run-directory artifacts as `eval` (see `crate::artifact`).

use clap::Args;

use super::eval::{PipelineArgs, run_scope};
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::{Scope, write_predictions};
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct RerankArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &RerankArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let (status, done) = run_scope(&args.pipeline, global, Scope::Stage(StageId::Rerank)).await?;
    if let Some((prepared, reports)) = done {
        let preds = write_predictions(&prepared.cx.run_dir, &args.pipeline.model_name, &reports)?;
        Printer::new(global).summary(&format!(
            "{} predictions ({} non-empty) in {}",
            preds.len(),
            preds.iter().filter(|p| !p.is_empty()).count(),
            prepared.cx.run_dir.predictions_file().display()
        ));
    }
    Ok(status)
}
