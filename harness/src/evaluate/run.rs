//! A whole run: the selected instances with predictions evaluated by `workers` at a time,
//! finished ones resumed, every container removed at the end (also after a cancel), and the
//! official run report `<model>.<run_id>.json` written (not after a cancel: a re-run with the
//! same run id finishes the rest and writes it), with the integrity keys after the official
//! ones, and in strict integrity mode the hardened `<model>.<run_id>.hardened.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::{EvalConfig, EvalError, EvalOutcome, InstanceResult, RunProgress, evaluate_instance};
use crate::dataset::Instance;
use crate::grade::classify_infra_failure;
use crate::integrity::run::{Flagged, write_run_reports};
use crate::predictions::Prediction;
use crate::report::{InstanceOutcome, RunReport, RunReportFlavor, make_run_report_as};
use crate::sandbox::DockerEnv;

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// One result per selected instance that has a prediction, in dataset order.
    pub results: Vec<InstanceResult>,
    /// The run report (None when interrupted).
    pub report: Option<RunReport>,
    pub report_path: Option<PathBuf>,
    pub interrupted: bool,
    /// Containers of this run still present after the final sweep (should be empty).
    pub leftover_containers: Vec<String>,
    /// Instances whose integrity findings flag them (sorted).
    pub flagged_ids: Vec<String>,
    /// The hardened run report (strict integrity mode only).
    pub hardened_report_path: Option<PathBuf>,
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("{0}")]
    Invalid(String),
    #[error("writing the run report {path}: {source}")]
    Report {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `<report_dir>/<model with / → __>.<run_id>.json` (the model of the first prediction).
pub fn run_report_path(report_dir: &Path, predictions: &[Prediction], run_id: &str) -> PathBuf {
    let model = predictions
        .first()
        .map_or_else(|| "None".to_owned(), Prediction::model_dir_name);
    report_dir.join(format!("{model}.{run_id}.json"))
}

/// Evaluate `predictions` on the `selected` instances. Predictions for instances outside
/// the selection are counted as submitted but not run (as officially with `--instance_ids`).
pub async fn run_evaluation(
    env: &DockerEnv,
    selected: &[Instance],
    predictions: &[Prediction],
    cfg: &EvalConfig,
    report_dir: &Path,
    progress: &dyn RunProgress,
    cancel: &CancellationToken,
) -> Result<RunSummary, RunError> {
    super::logs::check_component("run id", &cfg.run_id).map_err(RunError::Invalid)?;
    for p in predictions {
        super::logs::check_component("model name", &p.model_dir_name()).map_err(RunError::Invalid)?;
        super::logs::check_component("instance id", &p.instance_id).map_err(RunError::Invalid)?;
    }
    let by_id: HashMap<&str, &Prediction> = predictions.iter().map(|p| (p.instance_id.as_str(), p)).collect();
    let jobs: Vec<(&Instance, &Prediction)> = selected
        .iter()
        .filter_map(|i| by_id.get(i.instance_id.as_str()).map(|p| (i, *p)))
        .collect();
    let to_run = jobs.iter().filter(|(_, p)| !p.is_empty()).count();
    progress.planned(to_run);
    let workers = cfg.workers.max(1);
    let mut results: Vec<InstanceResult> = futures::stream::iter(jobs.iter().copied())
        .map(|(inst, pred)| async move {
            let r = evaluate_instance(env, inst, pred, cfg, progress, cancel).await;
            progress.finished(&r);
            r
        })
        .buffer_unordered(workers)
        .collect()
        .await;
    // Dataset order.
    let order: HashMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, x)| (x.instance_id.as_str(), i))
        .collect();
    results.sort_by_key(|r| order.get(r.instance_id.as_str()).copied().unwrap_or(usize::MAX));
    // Whatever a worker could not remove (a crash inside a task, a cancel mid-call).
    let (_, errors) = env.remove_tracked().await;
    for e in errors {
        tracing::warn!("final container sweep: {e}");
    }
    // After a cancel, a container whose creation raced the signal may not be tracked yet:
    // sweep this run's (this shard's, in a cluster task) containers by label too.
    // A create request already sent when the worker was dropped can still land after the
    // first sweep, so sweep until a pass finds nothing (a few passes, half a second apart).
    if cancel.is_cancelled() {
        for _ in 0..6 {
            let swept = match &cfg.sandbox.shard {
                Some(shard) => env.remove_shard(&cfg.run_id, shard).await,
                None => env.remove_labelled(Some(&cfg.run_id)).await,
            };
            match swept {
                Ok(found) if found.is_empty() => break,
                Ok(_) => {}
                Err(e) => tracing::warn!("final container sweep by label: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    let leftover_containers = match env.list_labelled(Some(&cfg.run_id)).await {
        Ok(list) => list.into_iter().map(|c| c.name).collect(),
        Err(e) => {
            tracing::warn!("listing containers after the run: {e}");
            Vec::new()
        }
    };
    let flagged = Flagged::from_reports(results.iter().filter_map(|r| r.integrity.as_ref()));
    let flagged_ids: Vec<String> = flagged.ids.iter().cloned().collect();
    let interrupted = cancel.is_cancelled()
        || results
            .iter()
            .any(|r| r.outcome == EvalOutcome::Error(EvalError::Cancelled));
    if interrupted {
        return Ok(RunSummary {
            results,
            report: None,
            report_path: None,
            interrupted,
            leftover_containers,
            flagged_ids,
            hardened_report_path: None,
        });
    }
    let mut outcomes: BTreeMap<String, InstanceOutcome> = BTreeMap::new();
    for p in predictions {
        // Not selected: submitted, not bucketed (make_run_report only buckets the selection).
        outcomes.insert(p.instance_id.clone(), InstanceOutcome::Error);
    }
    for r in &results {
        if let Some(o) = r.outcome.for_run_report() {
            outcomes.insert(r.instance_id.clone(), o);
        }
    }
    // 5.x classifies failures from the test output and run_instance.log, concatenated.
    let log_dirs: HashMap<&str, &Path> = results
        .iter()
        .filter_map(|r| Some((r.instance_id.as_str(), r.log_dir.as_deref()?)))
        .collect();
    let classify = |id: &str| {
        let dir = log_dirs.get(id)?;
        let text: Vec<String> = [super::logs::TEST_OUTPUT_FILE, super::logs::INSTANCE_LOG_FILE]
            .iter()
            .filter_map(|f| std::fs::read(dir.join(f)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        classify_infra_failure(&text.join("\n"))
    };
    let flavor = RunReportFlavor {
        mode: cfg.grading,
        docker_client: true,
    };
    let mut report = make_run_report_as(selected, &outcomes, flavor, &classify);
    report.disk_limit_ids = results
        .iter()
        .filter(|r| matches!(r.outcome, EvalOutcome::Error(EvalError::DiskLimit(_))))
        .map(|r| r.instance_id.clone())
        .collect();
    report.disk_limit_ids.sort();
    if flavor.writes_unstopped() {
        let mut unremoved = Vec::new();
        for image in selected.iter().filter_map(|i| i.image.as_deref()) {
            if crate::images::image_exists(env, image).await.unwrap_or(false) {
                unremoved.push(image.to_owned());
            }
        }
        unremoved.sort();
        unremoved.dedup();
        report.unstopped_instances = Some(leftover_containers.len());
        report.unstopped_containers = Some(leftover_containers.clone());
        report.unremoved_images = Some(unremoved);
    }
    let path = run_report_path(report_dir, predictions, &cfg.run_id);
    let hardened_report_path = fs_err::create_dir_all(report_dir)
        .and_then(|()| write_run_reports(&path, &report, &flagged, cfg.integrity))
        .map_err(|source| RunError::Report {
            path: path.clone(),
            source,
        })?;
    Ok(RunSummary {
        results,
        report: Some(report),
        report_path: Some(path),
        interrupted,
        leftover_containers,
        flagged_ids,
        hardened_report_path,
    })
}
