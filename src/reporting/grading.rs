//! Official verdicts for the candidates a run did not submit (`report --grade-candidates`),
//! so the report knows the oracle ("some sample is correct") and where the rerank chose
//! wrong. No model is called: every distinct candidate patch (one per normalized form, the
//! pipeline's own [`crate::pipeline::execute::candidates`]) is evaluated with the official
//! tests by the evaluation engine, exactly as a submission would be.
//!
//! Candidates are graded in rounds: round `r` evaluates the `r`-th ungraded candidate of every
//! instance as model `candidate-<r>` of run `candidates-<run dir name>` (log tree
//! `candidates-<name>/candidate-<r>/<id>/` under the run's evaluation log root, run reports in
//! [`RunDir::candidates_report_dir`]). Each verdict is appended to the run's verdicts file
//! ([`RunDir::append_verdicts`]) as soon as its round ends; graded candidates are never
//! graded again, so an interrupted grading resumes. The FAIL_TO_PASS / PASS_TO_PASS tests are
//! used for this analysis only: they never influence what the pipeline submits.

use std::collections::{BTreeMap, BTreeSet};

use agentless_harness::dataset::Instance;
use agentless_harness::evaluate::{EvalConfig, EvalError, EvalOutcome, RunProgress, run_evaluation};
use agentless_harness::predictions::{Prediction, load_predictions};
use agentless_harness::sandbox::{CancellationToken, DockerEnv};

use super::ReportingError;
use super::artifacts::read_repairs;
use crate::artifact::key::sha256_hex;
use crate::artifact::{CandidateVerdict, RunDir};
use crate::pipeline::execute::candidates;

/// A candidate still to grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub instance_id: String,
    pub normalized_sha: String,
    pub patch: String,
}

/// The distinct candidates of every instance of the run without a verdict yet, in sample
/// order; the submitted one is skipped (the run's own evaluation judges it).
pub fn pending(run: &RunDir) -> Result<Vec<Pending>, ReportingError> {
    let known = run.read_verdicts()?;
    let preds_path = run.predictions_file();
    let submitted: BTreeMap<String, String> = if preds_path.is_file() {
        load_predictions(&preds_path)
            .map_err(|e| ReportingError::Invalid(e.to_string()))?
            .into_iter()
            .filter_map(|p| p.model_patch.map(|m| (p.instance_id, m)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut out = Vec::new();
    for id in run.instance_ids()? {
        let repairs = read_repairs(run, &id)?;
        let sub = submitted.get(&id).map(|s| s.trim());
        // The normalized form of the submitted patch: its verdict is the evaluation's.
        let submitted_sha: BTreeSet<String> = repairs
            .samples
            .iter()
            .filter(|s| s.outcome.patch().map(str::trim) == sub && sub.is_some())
            .map(|s| sha256_hex(s.outcome.normalized().trim()))
            .collect();
        for (sha, _, patch) in candidates(&repairs) {
            if submitted_sha.contains(&sha) || known.contains_key(&(id.clone(), sha.clone())) {
                continue;
            }
            out.push(Pending {
                instance_id: id.clone(),
                normalized_sha: sha,
                patch,
            });
        }
    }
    Ok(out)
}

/// `candidates-<run dir name>`: containers of two gradings of different runs never share
/// a name.
pub fn grading_run_id(run: &RunDir) -> String {
    let name = std::path::absolute(run.root())
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("candidates-{}", clean.trim_start_matches('.'))
}

/// Grade `todo` with the evaluation engine (`cfg` gives images, limits and timeout; its
/// run id and log root are set here). Returns the verdicts written.
pub async fn grade(
    env: &DockerEnv,
    dataset: &[Instance],
    todo: &[Pending],
    mut cfg: EvalConfig,
    run: &RunDir,
    progress: &dyn RunProgress,
    cancel: &CancellationToken,
) -> Result<Vec<CandidateVerdict>, ReportingError> {
    let by_id: BTreeMap<&str, &Instance> = dataset.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    let missing: Vec<&str> = todo
        .iter()
        .map(|p| p.instance_id.as_str())
        .filter(|id| !by_id.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(ReportingError::Invalid(format!(
            "the dataset has no instance {} (pass the split the run used)",
            missing.join(", ")
        )));
    }
    // Round r: the r-th pending candidate of each instance.
    let mut rounds: Vec<Vec<&Pending>> = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for p in todo {
        let r = seen.entry(p.instance_id.as_str()).or_insert(0);
        if rounds.len() <= *r {
            rounds.push(Vec::new());
        }
        rounds[*r].push(p);
        *r += 1;
    }
    cfg.run_id = grading_run_id(run);
    cfg.sandbox.run_id = cfg.run_id.clone();
    cfg.log_root = run.evaluation_log_root();
    let report_dir = run.candidates_report_dir();
    let mut written = Vec::new();
    for (r, round) in rounds.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let model = format!("candidate-{r}");
        let preds: Vec<Prediction> = round
            .iter()
            .map(|p| Prediction {
                instance_id: p.instance_id.clone(),
                model_name_or_path: model.clone(),
                model_patch: Some(p.patch.clone()),
            })
            .collect();
        let selected: Vec<Instance> = round
            .iter()
            .filter_map(|p| by_id.get(p.instance_id.as_str()).map(|i| (*i).clone()))
            .collect();
        let summary = run_evaluation(env, &selected, &preds, &cfg, &report_dir, progress, cancel)
            .await
            .map_err(|e| ReportingError::Invalid(e.to_string()))?;
        let mut round_verdicts = Vec::new();
        for res in &summary.results {
            let resolved = match &res.outcome {
                EvalOutcome::Resolved => true,
                // Not resolved, as the official run report counts them.
                EvalOutcome::Unresolved | EvalOutcome::EmptyPatch => false,
                EvalOutcome::Error(
                    EvalError::ApplyFailed { .. }
                    | EvalError::PatchRefused(_)
                    | EvalError::Timeout { .. }
                    | EvalError::DiskLimit(_),
                ) => false,
                // The engine failed, not the patch: stays unknown (a re-run grades it).
                EvalOutcome::Error(EvalError::Infra { .. } | EvalError::Cancelled) => continue,
            };
            let Some(p) = round.iter().find(|p| p.instance_id == res.instance_id) else {
                continue;
            };
            let v = CandidateVerdict {
                instance_id: p.instance_id.clone(),
                normalized_sha: p.normalized_sha.clone(),
                resolved,
            };
            round_verdicts.push(v);
        }
        run.append_verdicts(&round_verdicts)?;
        written.extend(round_verdicts);
        if summary.interrupted {
            break;
        }
    }
    Ok(written)
}
