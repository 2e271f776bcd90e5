//! Reading a run directory into the report's typed view ([`RunData`]): everything comes
//! through [`RunDir`] (the owner of the layout and its formats): the stage files of every
//! instance through the pipeline's own record types, `predictions.jsonl`, `usage.json`,
//! `run.json`, and the evaluation (official run report and log tree).
//!
//! - localization: the distinct files named ([`LocalizeSample`]);
//! - repair: each sample's normalized patch (the rerank key) ([`RepairSample`]);
//! - the submitted sample: the first repair sample whose patch is the prediction's;
//! - tokens and cost: `usage.json` (the records' sums, costed), else every record's `usage`;
//! - the candidates of the rerank rule: the pipeline's own [`build_candidates`] over the repair,
//!   regression, reproduction and execute records, so the curves re-run exactly its rule;
//! - official verdicts of other candidates, when graded ([`RunDir::read_verdicts`]);
//! - time per stage: the `end` line's `elapsed_ms` of each stage file, and the evaluation's
//!   `Test runtime` from `run_instance.log`.
//!
//! A directory without `instances/` is read as an evaluation alone (the official layout).
//! A garbled artifact is an error that names it, never an empty section.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use agentless_harness::predictions::{Prediction, load_predictions};
use serde::Deserialize;
use serde_json::Value;

use super::ReportingError;
use super::rundata::{EvalStatus, InstanceData, InstanceDetail, RunData, RunSettings, Tokens};
use super::runs::EvalRun;
use super::scaling::SampleOutcome;
use crate::artifact::key::sha256_hex;
use crate::artifact::{ArtifactError, RunDir, StageFile, StageId, StageKey, UsageFile};
use crate::pipeline::execute::Executions;
use crate::pipeline::llm::ModelFailure;
use crate::pipeline::localize::LocalizeSample;
use crate::pipeline::regression::{Regression, RegressionRecord};
use crate::pipeline::repair::{RepairSample, Repairs};
use crate::pipeline::repro::{ReproTest, ReproTests};
use crate::pipeline::sampling::Rec;
use crate::pipeline::select::{RerankRecord, build_candidates};

/// The rule's candidates from the report's samples (the inverse of what `load_run` builds).
fn inst_candidates(samples: &[SampleOutcome]) -> Vec<crate::pipeline::rerank::Candidate> {
    samples
        .iter()
        .map(|s| crate::pipeline::rerank::Candidate {
            normalized: s.normalized.clone(),
            regression_failures: s
                .regression_failures
                .unwrap_or(crate::pipeline::select::UNKNOWN_FAILURES),
            reproduction_passed: s.reproduction_passed.clone(),
        })
        .collect()
}

/// Read an instance's stage file (a missing file is `None`; a torn tail is ignored, as the
/// pipeline does).
fn stage_file<T: serde::de::DeserializeOwned>(
    run: &RunDir,
    id: &str,
    stage: StageId,
) -> Result<Option<StageFile<T>>, ReportingError> {
    Ok(run.read_stage(id, stage)?)
}

/// Tokens of every record carrying a `usage` object.
fn usage_of(records: &[Value]) -> Tokens {
    let mut t = Tokens::default();
    for r in records {
        let u = r.get("usage").or_else(|| r.get("data").and_then(|d| d.get("usage")));
        if let Some(u) = u.filter(|u| u.is_object()) {
            t.prompt += u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0);
            t.completion += u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0);
            t.requests += 1;
        }
    }
    t
}

/// `usage.json` as tokens per instance. The cost is kept only when a price was given (both
/// prices zero means "no price", not "free").
fn usage_by_instance(file: Option<UsageFile>) -> BTreeMap<String, Tokens> {
    let Some(file) = file else {
        return BTreeMap::new();
    };
    let priced = file.prices().given();
    file.instances
        .into_iter()
        .map(|(id, u)| {
            let t = Tokens {
                prompt: u.prompt_tokens,
                completion: u.completion_tokens,
                requests: 0,
                cost: priced.then_some(u.cost),
            };
            (id, t)
        })
        .collect()
}

/// The repair samples in index order (a sample written twice counts once).
pub(crate) fn read_repairs(run: &RunDir, id: &str) -> Result<Repairs, ReportingError> {
    let Some(f) = stage_file::<Rec<RepairSample>>(run, id, StageId::Repair)? else {
        return Ok(Repairs {
            key: StageKey::of("no-repair"),
            samples: Vec::new(),
        });
    };
    let mut samples: Vec<RepairSample> = f
        .records
        .into_iter()
        .filter_map(|r| match r {
            Rec::Sample(s) => Some(s),
            Rec::Prompt(_) => None,
        })
        .collect();
    samples.sort_by_key(|s| s.index);
    samples.dedup_by_key(|s| s.index);
    let key = f.begin.map_or_else(|| StageKey::of("no-repair"), |b| b.key);
    Ok(Repairs { key, samples })
}

/// The regression tests, the reproduction tests (in rank order, as executed) and the
/// execution results of an instance. A stage without a file was turned off.
fn read_tests(run: &RunDir, id: &str) -> Result<(Regression, ReproTests, Executions), ReportingError> {
    let regression = match stage_file::<RegressionRecord>(run, id, StageId::Regression)? {
        None => Regression::disabled(),
        Some(f) => {
            let mut passing = Vec::new();
            let mut removed: Vec<String> = Vec::new();
            for r in &f.records {
                match r {
                    RegressionRecord::Run { passing: p, .. } => passing.clone_from(p),
                    RegressionRecord::Filter { removed: rm, .. } => removed.clone_from(rm),
                    RegressionRecord::Prompt(_) => {}
                }
            }
            let key = f.begin.map_or_else(|| StageKey::of("regression"), |b| b.key);
            Regression {
                key,
                enabled: true,
                tests: passing.into_iter().filter(|t| !removed.contains(t)).collect(),
                usage: Default::default(),
            }
        }
    };
    let mut results = std::collections::HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut exec_key = StageKey::of("no-execute");
    if let Some(f) = crate::pipeline::execute::read_file(&run.stage_file(id, StageId::Execute)?)? {
        if let Some(b) = f.begin {
            exec_key = b.key;
        }
        for r in f.records {
            for (t, _) in &r.repro {
                if !order.contains(t) {
                    order.push(t.clone());
                }
            }
            results.insert(r.normalized_sha.clone(), r);
        }
    }
    let repro_enabled = run.has_stage(id, StageId::Repro)?;
    let repro = ReproTests {
        key: StageKey::of("repro"),
        enabled: repro_enabled,
        tests: order
            .into_iter()
            .map(|id| ReproTest {
                id,
                code: String::new(),
                votes: 0,
            })
            .collect(),
        usage: Default::default(),
    };
    Ok((regression, repro, Executions { key: exec_key, results }))
}

/// A note on the model requests of a stage file that the backend rejected (recorded as
/// empty answers, never retried), if any: they must not go unseen.
fn rejected_note(id: &str, stage: StageId, records: &[Value]) -> Option<String> {
    let messages: Vec<String> = records
        .iter()
        .filter_map(|r| r.get("failure"))
        .filter_map(|f| ModelFailure::deserialize(f).ok())
        .filter(|f| !f.transient)
        .map(|f| f.message)
        .collect();
    let first = messages.first()?;
    Some(format!(
        "{id}: {} {} model request(s) rejected by the backend, recorded as empty answers (first: {})",
        messages.len(),
        stage.command(),
        first.chars().take(200).collect::<String>()
    ))
}

/// Read a run directory (or an evaluation-only folder).
pub fn load_run(run: &RunDir) -> Result<RunData, ReportingError> {
    load_run_with(run, None)
}

/// [`load_run`] with the evaluation's run report named (`report --report FILE`), for a
/// folder that holds several. Several reports and none named is an error that lists them.
pub fn load_run_with(run: &RunDir, report: Option<&Path>) -> Result<RunData, ReportingError> {
    let run_dir = run.root();
    let mut notes = Vec::new();
    let eval = match EvalRun::open(report.unwrap_or(run_dir), &[run_dir.to_path_buf()]) {
        Ok(e) => Some(e),
        Err(e @ ReportingError::Ambiguous { .. }) => return Err(e),
        Err(e) if report.is_some() => return Err(e),
        Err(e) => {
            notes.push(format!("no evaluation found ({e}): outcomes are unknown"));
            None
        }
    };
    let preds_path = run.predictions_file();
    let predictions: Vec<Prediction> = if preds_path.is_file() {
        load_predictions(&preds_path).map_err(|e| ReportingError::Invalid(e.to_string()))?
    } else {
        Vec::new()
    };
    let by_id: BTreeMap<&str, &Prediction> = predictions.iter().map(|p| (p.instance_id.as_str(), p)).collect();

    let mut ids: BTreeSet<String> = BTreeSet::new();
    if run.has_instances() {
        ids.extend(run.instance_ids()?);
    } else if let Some(ev) = &eval {
        let r = &ev.report;
        ids.extend(
            r.completed_ids
                .iter()
                .chain(&r.empty_patch_ids)
                .chain(&r.error_ids)
                .cloned(),
        );
        notes.push("no pipeline artifacts (instances/): only the evaluation is shown".into());
    }
    ids.extend(predictions.iter().map(|p| p.instance_id.clone()));

    let status = |id: &str| -> Option<EvalStatus> {
        let r = &eval.as_ref()?.report;
        let has = |v: &[String]| v.binary_search_by(|x| x.as_str().cmp(id)).is_ok() || v.iter().any(|x| x == id);
        Some(if has(&r.resolved_ids) {
            EvalStatus::Resolved
        } else if has(&r.unresolved_ids) {
            EvalStatus::Unresolved
        } else if has(&r.empty_patch_ids) {
            EvalStatus::EmptyPatch
        } else if has(&r.error_ids) {
            EvalStatus::Error
        } else {
            EvalStatus::NotEvaluated
        })
    };
    let eval_logs = eval.as_ref().map(EvalRun::instance_logs).unwrap_or_default();
    let usage = usage_by_instance(run.usage()?);
    let verdicts = run.read_verdicts()?;

    let mut instances = Vec::new();
    let mut mismatches: Vec<String> = Vec::new();
    for id in &ids {
        let mut inst = InstanceData {
            instance_id: id.clone(),
            eval: status(id),
            ..Default::default()
        };
        let mut tokens = Tokens::default();
        let mut any_usage = false;
        // Generic pass over every stage file: time and tokens.
        for stage in StageId::ALL {
            if let Some(f) = stage_file::<Value>(run, id, stage)? {
                if let Some(end) = &f.end {
                    inst.stage_ms.insert(stage.name().to_owned(), end.elapsed_ms as f64);
                }
                let u = usage_of(&f.records);
                any_usage |= u.requests > 0;
                tokens.add(&u);
                if let Some(note) = rejected_note(id, stage, &f.records) {
                    notes.push(note);
                }
            }
        }
        if let Some(f) = stage_file::<Rec<LocalizeSample>>(run, id, StageId::Localize)? {
            let files: BTreeSet<&str> = f
                .records
                .iter()
                .filter_map(|r| match r {
                    Rec::Sample(s) => Some(s),
                    Rec::Prompt(_) => None,
                })
                .flat_map(|s| s.files.iter().map(String::as_str))
                .collect();
            inst.localized_files = Some(files.len());
        }
        let repairs = read_repairs(run, id)?;
        let patches: Vec<Option<&str>> = repairs.samples.iter().map(|s| s.outcome.patch()).collect();
        if !repairs.samples.is_empty() {
            // The rule's own candidates: normalized patch, failing regression tests, passed
            // reproduction tests, exactly as the rerank stage builds them.
            let (regression, repro, execs) = read_tests(run, id)?;
            let cands = build_candidates(&repairs, &regression, &repro, &execs);
            inst.repro_tests = repro.tests.iter().map(|t| t.id.clone()).collect();
            inst.samples = cands
                .into_iter()
                .map(|c| SampleOutcome {
                    correct: (!c.normalized.is_empty())
                        .then(|| verdicts.get(&(id.clone(), sha256_hex(&c.normalized))).copied())
                        .flatten(),
                    normalized: c.normalized,
                    regression_failures: Some(c.regression_failures),
                    reproduction_passed: c.reproduction_passed,
                })
                .collect();
        }
        // The submitted sample: the rerank's record, else the first whose patch is the prediction's.
        let rerank = stage_file::<RerankRecord>(run, id, StageId::Rerank)?.and_then(|f| f.records.into_iter().next());
        if let Some(r) = &rerank {
            let again = crate::pipeline::rerank::select(&inst_candidates(&inst.samples)).selected;
            let recorded = r
                .selected_sample
                .and_then(|index| repairs.samples.iter().position(|s| s.index == index));
            if again != recorded {
                mismatches.push(id.clone());
            }
        }
        inst.chosen = match rerank.as_ref().and_then(|r| r.selected_sample) {
            Some(index) => repairs.samples.iter().position(|s| s.index == index),
            None => by_id
                .get(id.as_str())
                .and_then(|p| p.model_patch.as_deref())
                .filter(|p| !p.trim().is_empty())
                .and_then(|p| patches.iter().position(|x| x.is_some_and(|x| x.trim() == p.trim()))),
        };
        if let Some(l) = eval_logs.get(id)
            && let Some(s) = l.test_seconds
        {
            inst.stage_ms.insert("evaluation".into(), s * 1000.0);
        }
        inst.integrity = eval_logs.get(id).and_then(|l| l.integrity.clone());
        inst.detail = detail_of(
            by_id.get(id.as_str()).and_then(|p| p.model_patch.as_deref()),
            eval_logs.get(id),
            rerank.as_ref().map(|r| r.votes),
            inst.chosen.and_then(|c| inst.samples.get(c)),
            &inst.repro_tests,
        );
        // usage.json is the records' sum, costed; the records give the request count.
        if let Some(u) = usage.get(id) {
            tokens.prompt = u.prompt;
            tokens.completion = u.completion;
            tokens.cost = u.cost;
            any_usage = true;
        }
        if any_usage {
            inst.tokens = Some(tokens);
        }
        instances.push(inst);
    }
    if !mismatches.is_empty() {
        notes.push(format!(
            "the rerank rule re-run on the recorded candidates does not give the recorded choice for {}: the curves may not match the run",
            mismatches.join(", ")
        ));
    }
    let title = run_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| run_dir.display().to_string());
    let hardened = eval
        .as_ref()
        .is_some_and(|e| super::runs::hardened_beside(&e.report_path).is_some());
    let settings = read_settings(run, eval.is_some().then_some(hardened))?;
    Ok(RunData {
        title,
        settings,
        source: run_dir
            .canonicalize()
            .unwrap_or_else(|_| run_dir.to_path_buf())
            .display()
            .to_string(),
        model: predictions
            .first()
            .map(|p| p.model_name_or_path.clone())
            .or_else(|| eval.as_ref().and_then(|e| e.model.clone())),
        run_id: eval.as_ref().and_then(|e| e.run_id.clone()),
        run_report: eval.map(|e| e.report),
        instances,
        notes,
    })
}

/// The per-instance drill-down from the prediction, the evaluation's log folder and the
/// rerank record.
fn detail_of(
    patch: Option<&str>,
    logs: Option<&super::runs::InstanceLogs>,
    votes: Option<usize>,
    chosen: Option<&SampleOutcome>,
    repro_tests: &[String],
) -> InstanceDetail {
    let mut d = InstanceDetail {
        patch: patch.filter(|p| !p.trim().is_empty()).map(str::to_owned),
        votes,
        ..Default::default()
    };
    if let Some(c) = chosen {
        d.repro_passed = repro_tests
            .iter()
            .map(|t| (t.clone(), c.reproduction_passed.contains(t)))
            .collect();
    }
    if let Some(l) = logs {
        d.log_dir = Some(l.dir.clone());
        // An evaluation alone has no predictions: the patch it evaluated is in its log folder.
        if d.patch.is_none() && l.has_patch {
            d.patch = fs_err::read_to_string(l.dir.join("patch.diff"))
                .ok()
                .filter(|p| !p.trim().is_empty());
        }
        if let Some(ts) = l.report.as_ref().and_then(|r| r.tests_status.as_ref()) {
            d.fail_to_pass_failed = Some(ts.fail_to_pass.failure.clone());
            d.pass_to_pass_failed = Some(ts.pass_to_pass.failure.clone());
            d.fail_to_pass_total = ts.fail_to_pass.success.len() + ts.fail_to_pass.failure.len();
            d.pass_to_pass_total = ts.pass_to_pass.success.len() + ts.pass_to_pass.failure.len();
        }
        d.eval_problem = if l.apply_failed {
            Some("the patch did not apply".into())
        } else if l.timed_out {
            Some("the tests ran past the timeout".into())
        } else if l.report.is_none() {
            l.last_error
                .clone()
                .or_else(|| Some("no report.json: the harness could not grade it".into()))
        } else {
            None
        };
    }
    d
}

/// The run's settings from `run.json` (see `eval`), the start from its modification time and
/// the wall time up to the last artifact written. `hardened`: None when there is no evaluation.
fn read_settings(run: &RunDir, hardened: Option<bool>) -> Result<RunSettings, ArtifactError> {
    let mut s = RunSettings {
        grading: hardened.map(|h| if h { "hardened" } else { "official" }.to_owned()),
        ..Default::default()
    };
    let Some(m) = run.manifest()? else {
        return Ok(s);
    };
    s.repair_samples = m.setting_u64(&["repair", "samples"]);
    s.repair_temperature = m.setting_f64(&["repair", "temperature"]);
    s.localize_samples = m.setting_u64(&["localize", "samples"]);
    s.repro_samples = m.setting_u64(&["repro", "sampling", "samples"]);
    s.seed = m.setting_u64(&["seed"]);
    s.version = m.version;
    let d = m.dataset;
    s.dataset_repo = d.repo;
    s.dataset_split = d.split;
    s.dataset_revision = d.revision;
    s.dataset_commit = d.commit;
    s.dataset_sha256 = d.sha256;
    s.dataset_file = d.file.map(|f| f.display().to_string());
    if let Some((start, last)) = run.activity_span() {
        s.started = Some(httpdate::fmt_http_date(start));
        // run.json is written first; nothing after it (an evaluation alone, a copied
        // folder) means the wall time is unknown, not zero.
        s.wall_s = last
            .duration_since(start)
            .ok()
            .map(|d| d.as_secs_f64())
            .filter(|w| *w > 0.0);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_requests_become_a_note() {
        let records: Vec<Value> = vec![
            serde_json::json!({"kind": "sample", "index": 0, "failure": {"message": "busy", "transient": true}}),
            serde_json::json!({"kind": "sample", "index": 1, "failure": {"message": "400: context length", "transient": false}}),
            serde_json::json!({"kind": "sample", "index": 2}),
        ];
        let note = rejected_note("x__y-1", StageId::Repro, &records).unwrap();
        assert_eq!(
            note,
            "x__y-1: 1 gen-tests model request(s) rejected by the backend, recorded as empty answers (first: 400: context length)"
        );
        assert!(rejected_note("x__y-1", StageId::Repro, &records[..1]).is_none());
    }
}
