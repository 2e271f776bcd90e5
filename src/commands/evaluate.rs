//! `agentless-mini evaluate`: run predictions in Docker and judge them as the official
//! SWE-bench harness does — same log folder, same `report.json`, same run report — with a
//! progress bar, resume by run id, and every container removed on Ctrl-C / SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use agentless_harness::dataset::{self as ds, Instance};
use agentless_harness::evaluate::{EvalError, EvalOutcome, NetworkPolicy, RunSummary, run_evaluation};
use agentless_harness::integrity::run::IntegrityMode;
use agentless_harness::predictions::{Prediction, gold_predictions, load_predictions};
use agentless_harness::sandbox::{CancellationToken, DockerEnv};
use clap::Args;

use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::DownloadBar;
use crate::progress::evaluation::{Counts, EvaluationBars};
use crate::reporting::json::{EvaluationCounts, JsonSummary, JsonTarget};
use crate::settings::{ContainerArgs, EvaluationArgs};
use crate::signals::cancel_on_signals;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predictions file (JSONL, a JSON list, or a JSON object keyed by instance id), or
    /// `gold` for the dataset's own patches.
    #[arg(long)]
    pub predictions: String,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Names the run: log folder, container label, report file. Re-running with the same id
    /// skips instances finished with the same inputs.
    #[arg(long)]
    pub run_id: String,
    #[command(flatten)]
    pub containers: ContainerArgs,
    #[command(flatten)]
    pub evaluation: EvaluationArgs,
    /// Where to write the run report `<model>.<run_id>.json`.
    #[arg(long, default_value = ".")]
    pub report_dir: PathBuf,
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

/// Load the whole dataset (to check prediction ids) and the selection.
async fn load(args: &DatasetArgs, global: &GlobalArgs) -> anyhow::Result<(Vec<Instance>, Vec<Instance>)> {
    let bar = DownloadBar::new(global);
    let mut all = args.clone();
    all.instances.clear();
    all.instances_file = None;
    let full = super::load_instances(&all, &bar).await?;
    let mut ids = args.instances.clone();
    if let Some(file) = &args.instances_file {
        ids.extend(ds::read_id_file(file)?);
    }
    ids.retain(|s| !s.trim().is_empty());
    let selected = ds::select(full.clone(), &ids)?;
    Ok((full, selected))
}

pub async fn run(args: &EvaluateArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    if args.cluster.is_slurm() {
        return crate::cluster::submit_evaluate(args, global).await;
    }
    let started = std::time::Instant::now();
    let json = args.json.as_deref().map(JsonTarget::parse);
    if json.as_ref().is_some_and(JsonTarget::uses_stdout) {
        crate::printer::summaries_to_stderr();
    }
    let mut out = JsonSummary::new("evaluate", &args.run_id);
    let status = evaluate(args, global, &mut out).await?;
    if let Some(target) = &json {
        out.finish(status, started.elapsed());
        super::emit_json_summary(target, &out, &Printer::new(global))?;
    }
    Ok(status)
}

async fn evaluate(args: &EvaluateArgs, global: &GlobalArgs, out: &mut JsonSummary) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    agentless_harness::evaluate::logs::check_component("run id", &args.run_id).map_err(anyhow::Error::msg)?;
    let (full, selected) = load(&args.dataset, global).await?;
    // One task of a cluster run evaluates its shard only.
    let selected = crate::cluster::task::pick(selected);
    let predictions: Vec<Prediction> = if args.predictions == "gold" {
        gold_predictions(&full)
    } else {
        load_predictions(Path::new(&args.predictions))?
    };
    let known: std::collections::HashSet<&str> = full.iter().map(|i| i.instance_id.as_str()).collect();
    let unknown: Vec<&str> = predictions
        .iter()
        .map(|p| p.instance_id.as_str())
        .filter(|id| !known.contains(id))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "{} prediction(s) name instances not in the dataset: {}",
            unknown.len(),
            unknown.join(", ")
        );
    }
    let predicted: std::collections::HashSet<&str> = predictions.iter().map(|p| p.instance_id.as_str()).collect();
    let runnable = selected
        .iter()
        .filter(|i| predicted.contains(i.instance_id.as_str()))
        .count();
    if runnable == 0 {
        printer.warn("no selected instance has a prediction: nothing to evaluate");
        return Ok(ExitStatus::NothingSelected);
    }
    // The container flags, resolved once (a bad --specs fails before Docker is asked).
    let dataset_file = args.dataset.dataset.as_deref().filter(|d| d.is_file());
    let cfg = args
        .containers
        .resolve(&args.run_id, dataset_file, &selected)?
        .eval_config(&args.run_id, &args.evaluation);
    if cfg.network == NetworkPolicy::None {
        printer.warn(
            "--network none: the eval scripts' re-install of the package cannot reach the package index \
             and may fail, leaving stale code under test (reported as reinstall_failed)",
        );
    }
    let env = DockerEnv::connect().await?;
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let bars = EvaluationBars::new(global);
    let report_dir = crate::cluster::task::files_dir().unwrap_or_else(|| args.report_dir.clone());
    let evaluation_started = std::time::SystemTime::now();
    let summary = run_evaluation(&env, &selected, &predictions, &cfg, &report_dir, &bars, &cancel).await;
    bars.finish();
    let summary = summary?;
    if let (Some(path), Some(report)) = (&args.junit, &summary.report) {
        let details = crate::reporting::junit::JunitDetails::from_results(&args.run_id, &summary.results)
            .strict(args.evaluation.integrity == IntegrityMode::Strict)
            .started_at(evaluation_started);
        crate::reporting::junit::write_junit(path, report, &details)?;
        out.paths.junit = Some(path.clone());
    }
    out.evaluation = Some(evaluation_counts(&summary));
    out.paths.report = summary.report_path.clone();
    out.paths.hardened_report = summary.hardened_report_path.clone();
    out.paths.logs = Some(cfg.log_root.clone());
    let status = report(&printer, &bars.counts, &summary, &args.run_id);
    super::eval::print_hardened(&printer, &summary);
    Ok(status)
}

/// The `--json` counts of a run's results (also used by `eval`'s final evaluation).
pub fn evaluation_counts(summary: &RunSummary) -> EvaluationCounts {
    let mut c = EvaluationCounts {
        flagged: summary.flagged_ids.len(),
        ..EvaluationCounts::default()
    };
    for r in &summary.results {
        c.evaluated += 1;
        c.resumed += usize::from(r.resumed);
        match &r.outcome {
            EvalOutcome::Resolved => c.resolved += 1,
            EvalOutcome::Unresolved => c.unresolved += 1,
            EvalOutcome::EmptyPatch => c.empty_patches += 1,
            // Model failures are unresolved results (crate::exit); errors are the harness's.
            EvalOutcome::Error(e) if e.is_model_failure() => c.unresolved += 1,
            EvalOutcome::Error(_) => c.errors += 1,
        }
    }
    c
}

fn report(printer: &Printer, counts: &Counts, summary: &RunSummary, run_id: &str) -> ExitStatus {
    let mut harness_failures = 0usize;
    for r in &summary.results {
        if let EvalOutcome::Error(e) = &r.outcome {
            if e.is_model_failure() {
                printer.warn(&format!("{}: unresolved: {e}", r.instance_id));
            } else if !matches!(e, EvalError::Cancelled) {
                harness_failures += 1;
                printer.warn(&format!("{}: harness error: {e}", r.instance_id));
            }
        }
    }
    for r in &summary.results {
        if let Some(i) = r.integrity.as_ref().filter(|i| i.flagged) {
            let kinds: Vec<String> = i.flagging_kinds().iter().map(ToString::to_string).collect();
            printer.warn(&format!(
                "{}: flagged by integrity checks ({})",
                r.instance_id,
                kinds.join(", ")
            ));
        }
    }
    if !summary.leftover_containers.is_empty() {
        printer.warn(&format!(
            "containers of this run are still present: {} (remove them with `agentless-mini clean --run-id {run_id}`)",
            summary.leftover_containers.join(", ")
        ));
    }
    let empty = summary
        .results
        .iter()
        .filter(|r| r.outcome == EvalOutcome::EmptyPatch)
        .count();
    let resumed = counts.resumed.load(Ordering::Relaxed);
    let failed = counts.model_failures.load(Ordering::Relaxed);
    let line = format!(
        "{} resolved, {} unresolved{}, {} harness errors, {} empty patches{}",
        counts.resolved.load(Ordering::Relaxed),
        counts.unresolved.load(Ordering::Relaxed),
        if failed > 0 {
            format!(" ({failed} of them: patch did not apply, was refused, timed out or hit the disk limit)")
        } else {
            String::new()
        },
        counts.errors.load(Ordering::Relaxed),
        empty,
        if resumed > 0 {
            format!(" ({resumed} resumed from an earlier run)")
        } else {
            String::new()
        },
    );
    if summary.interrupted {
        printer.summary(&format!(
            "interrupted: {line}; every container was removed. Re-run with --run-id {run_id} to finish the rest."
        ));
        return ExitStatus::Interrupted;
    }
    match (&summary.report, &summary.report_path) {
        (Some(r), Some(path)) => printer.summary(&format!(
            "{}/{} instances resolved — {line} — report: {}",
            r.resolved_instances,
            r.total_instances,
            path.display()
        )),
        _ => printer.summary(&line),
    }
    if harness_failures > 0 {
        ExitStatus::PartialErrors
    } else {
        ExitStatus::Success
    }
}
