//! `agentless-mini eval`: the whole Agentless Mini pipeline — localize, repair, reproduction
//! and regression tests, execute, rerank — then `predictions.jsonl` and its evaluation. The
//! pieces it shares with the stage commands are modules of their own: the flags ([`args`]),
//! setting up and running a scope ([`prepare`]), the run id ([`identity`]), usage and cost
//! ([`usage`]); the evaluation of the predictions is [`handoff`]. Progress bars live in
//! `crate::progress::stages`, signals in `crate::signals`.

pub mod args;
pub mod handoff;
pub mod identity;
pub mod prepare;
pub mod usage;

use std::path::PathBuf;

use agentless_harness::predictions::Prediction;
use clap::Args;

pub use self::args::PipelineArgs;
pub use self::handoff::print_hardened;
pub use self::identity::run_id_of;
pub use self::prepare::{Prepared, prepare, run_scope};
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::run::{InstanceReport, Scope, write_predictions};
use crate::printer::Printer;
use crate::reporting::json::{JsonSummary, JsonTarget, PipelineCounts};
use crate::settings::EvaluationArgs;

/// `eval`'s own arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Write predictions.jsonl but do not evaluate them.
    #[arg(long)]
    pub no_evaluate: bool,
    /// The evaluation's run id (default: the run directory's name).
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub evaluation: EvaluationArgs,
    /// Also write the results as JUnit XML (one test case per instance, class = repository).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write a machine-readable summary (counts, paths, wall time, exit status) to FILE,
    /// or to stdout with `-` (the human summary then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
}

pub async fn run(args: &EvalArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    if args.cluster.is_slurm() {
        return crate::cluster::submit_eval(args, global).await;
    }
    let started = std::time::Instant::now();
    let json = args.json.as_deref().map(JsonTarget::parse);
    if json.as_ref().is_some_and(JsonTarget::uses_stdout) {
        crate::printer::summaries_to_stderr();
    }
    let run_id = args.run_id.clone().unwrap_or_else(|| run_id_of(&args.pipeline.run_dir));
    let mut out = JsonSummary::new("eval", &run_id);
    out.paths.run_dir = Some(args.pipeline.run_dir.clone());
    let status = eval(args, global, &mut out).await?;
    if let Some(target) = &json {
        out.finish(status, started.elapsed());
        super::emit_json_summary(target, &out, &Printer::new(global))?;
    }
    Ok(status)
}

/// The pipeline's counts for `--json`.
fn pipeline_counts(reports: &[InstanceReport], predictions: &[Prediction]) -> PipelineCounts {
    let cancelled = reports.iter().filter(|r| r.is_cancelled()).count();
    let failed = reports.iter().filter(|r| r.failure().is_some()).count();
    PipelineCounts {
        instances: reports.len(),
        done: reports.iter().filter(|r| r.is_done()).count(),
        failed,
        cancelled,
        predictions: predictions.len(),
        non_empty_predictions: predictions.iter().filter(|p| !p.is_empty()).count(),
        prompt_tokens: reports.iter().map(|r| r.usage.prompt_tokens).sum(),
        completion_tokens: reports.iter().map(|r| r.usage.completion_tokens).sum(),
    }
}

async fn eval(args: &EvalArgs, global: &GlobalArgs, out: &mut JsonSummary) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let (status, done) = run_scope(&args.pipeline, global, Scope::All).await?;
    let Some((prepared, reports)) = done else {
        return Ok(status);
    };
    if status == ExitStatus::Interrupted {
        out.pipeline = Some(pipeline_counts(&reports, &[]));
        return Ok(status);
    }
    let predictions = write_predictions(&prepared.cx.run_dir, &args.pipeline.model_name, &reports)?;
    out.pipeline = Some(pipeline_counts(&reports, &predictions));
    out.paths.predictions = Some(prepared.cx.run_dir.predictions_file());
    for r in &reports {
        if let Some(rr) = &r.rerank {
            printer.note(&format!(
                "{}: sample {:?} of {} ({} candidates, {:?}, {} votes)",
                r.instance_id, rr.selected_sample, rr.samples, rr.candidates, rr.filter, rr.votes
            ));
        }
    }
    printer.summary(&format!(
        "{} predictions ({} non-empty) in {}",
        predictions.len(),
        predictions.iter().filter(|p| !p.is_empty()).count(),
        prepared.cx.run_dir.predictions_file().display()
    ));
    if args.no_evaluate || predictions.is_empty() {
        return Ok(status);
    }
    handoff::evaluate_predictions(args, &prepared, &predictions, status, out, &printer).await
}
