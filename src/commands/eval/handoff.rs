//! `eval`'s hand-off to the evaluation: the run's predictions evaluated as `evaluate` would,
//! with the container flags resolved once for the pipeline, logs in the run directory, the
//! final evaluation's bar, JUnit, the `--json` counts and the summary lines.

use agentless_harness::dataset::Instance;
use agentless_harness::evaluate::{EvalOutcome, RunSummary, run_evaluation};
use agentless_harness::integrity::run::{Flagged, IntegrityMode, hardened_run_report};
use agentless_harness::predictions::Prediction;
use agentless_harness::sandbox::DockerEnv;

use super::EvalArgs;
use super::identity::run_id_of;
use super::prepare::Prepared;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::stages::EvalStatus;
use crate::reporting::json::JsonSummary;

/// Evaluate `predictions` (the pipeline ended with `status`); the exit status of the whole run.
pub async fn evaluate_predictions(
    args: &EvalArgs,
    prepared: &Prepared,
    predictions: &[Prediction],
    status: ExitStatus,
    out: &mut JsonSummary,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let env = match &prepared.cx.containers {
        Some(c) => c.env.clone(),
        None => DockerEnv::connect().await?,
    };
    let run_id = args.run_id.clone().unwrap_or_else(|| run_id_of(&args.pipeline.run_dir));
    // The container flags as resolved for the pipeline, whether or not it ran a container.
    let mut cfg = prepared.containers.eval_config(&run_id, &args.evaluation);
    cfg.log_root = prepared.cx.run_dir.evaluation_log_root();
    let evaluated: Vec<Instance> = prepared
        .instances
        .iter()
        .filter(|i| predictions.iter().any(|p| p.instance_id == i.instance_id))
        .cloned()
        .collect();
    let evaluation_started = std::time::SystemTime::now();
    let summary = run_evaluation(
        &env,
        &evaluated,
        predictions,
        &cfg,
        prepared.cx.run_dir.files_dir(),
        &EvalStatus(&prepared.bars),
        &prepared.cx.cancel,
    )
    .await;
    prepared.bars.finish();
    let summary = summary?;
    if let (Some(path), Some(report)) = (&args.junit, &summary.report) {
        let details = crate::reporting::junit::JunitDetails::from_results(&run_id, &summary.results)
            .strict(args.evaluation.integrity == IntegrityMode::Strict)
            .started_at(evaluation_started);
        crate::reporting::junit::write_junit(path, report, &details)?;
        out.paths.junit = Some(path.clone());
    }
    out.evaluation = Some(crate::commands::evaluate::evaluation_counts(&summary));
    out.paths.report = summary.report_path.clone();
    out.paths.hardened_report = summary.hardened_report_path.clone();
    out.paths.logs = Some(cfg.log_root.clone());
    for r in &summary.results {
        if let Some(i) = r.integrity.as_ref().filter(|i| i.flagged) {
            let kinds: Vec<String> = i.flagging_kinds().iter().map(ToString::to_string).collect();
            printer.warn(&format!(
                "evaluation of {}: flagged by integrity checks ({})",
                r.instance_id,
                kinds.join(", ")
            ));
        }
    }
    let resolved = summary
        .results
        .iter()
        .filter(|r| r.outcome == EvalOutcome::Resolved)
        .count();
    // Model failures (does not apply, refused, timed out, disk limit) are unresolved results;
    // only the harness's own failures make the exit code 3 (see crate::exit).
    let errors = summary
        .results
        .iter()
        .filter(|r| matches!(&r.outcome, EvalOutcome::Error(e) if !e.is_model_failure()))
        .count();
    for r in &summary.results {
        if let EvalOutcome::Error(e) = &r.outcome {
            let what = if e.is_model_failure() { "unresolved" } else { "error" };
            printer.warn(&format!("evaluation of {}: {what}: {e}", r.instance_id));
        }
    }
    printer.summary(&format!(
        "evaluation: {resolved}/{} resolved, {errors} harness errors{}",
        evaluated.len(),
        summary
            .report_path
            .as_ref()
            .map(|p| format!("; report {}", p.display()))
            .unwrap_or_default()
    ));
    print_hardened(printer, &summary);
    if summary.interrupted {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(if errors > 0 && status == ExitStatus::Success {
        ExitStatus::PartialErrors
    } else {
        status
    })
}

/// Where the hardened run report of `--integrity strict` is, and what it counts.
pub fn print_hardened(printer: &Printer, summary: &RunSummary) {
    let (Some(path), Some(report)) = (&summary.hardened_report_path, &summary.report) else {
        return;
    };
    let flagged = Flagged {
        ids: summary.flagged_ids.iter().cloned().collect(),
    };
    let h = hardened_run_report(report, &flagged);
    printer.summary(&format!(
        "hardened report (--integrity strict, {} flagged count as unresolved): {}/{} resolved — {}",
        flagged.ids.len(),
        h.resolved_instances,
        h.total_instances,
        path.display()
    ));
}
