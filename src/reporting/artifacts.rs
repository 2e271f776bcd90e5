//! Reading a run directory (see [`crate::artifact`]) into the report's typed view
//! ([`RunData`]): the stage files of every instance through the pipeline's own record types,
//! `predictions.jsonl`, and the evaluation (official run report and log tree).
//!
//! - localization: the distinct files named ([`LocalizeSample`]);
//! - repair: each sample's normalized patch (the rerank key) ([`RepairSample`]);
//! - the submitted sample: the first repair sample whose patch is the prediction's;
//! - tokens and cost: `usage.json` (the pipeline's totals), else every record's `usage`;
//! - the candidates of the rerank rule: the pipeline's own [`build_candidates`] over the repair,
//!   regression, reproduction and execute records, so the curves re-run exactly its rule;
//! - official verdicts of other candidates, when graded ([`VERDICTS_FILE`]);
//! - time per stage: the `end` line's `elapsed_ms` of each stage file, and the evaluation's
//!   `Test runtime` from `run_instance.log`.
//!
//! A directory without `instances/` is read as an evaluation alone (the official layout).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use agentless_harness::predictions::{Prediction, load_predictions};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ReportingError;
use super::rundata::{EvalStatus, InstanceData, InstanceDetail, RunData, RunSettings, Tokens};
use super::runs::EvalRun;
use super::scaling::SampleOutcome;
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageFile, StageId, StageKey};
use crate::pipeline::execute::Executions;
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

/// Read a stage file (a missing file is `None`; a torn tail is ignored, as the pipeline does).
fn stage_file<T: DeserializeOwned>(path: &Path) -> Result<Option<StageFile<T>>, ReportingError> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = fs_err::read(path).map_err(|e| ReportingError::io(path, e))?;
    Ok(Some(StageFile::<T>::parse(&bytes)))
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

/// `usage.json` as `eval` writes it: `{"price_per_mtok_in", "price_per_mtok_out",
/// "instances": {id: {"prompt_tokens", "completion_tokens", "cost"}}}`. The cost is kept only
/// when a price was given (both prices zero means "no price", not "free").
fn usage_file(run_dir: &Path) -> BTreeMap<String, Tokens> {
    let Ok(text) = fs_err::read_to_string(run_dir.join("usage.json")) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return BTreeMap::new();
    };
    let priced = ["price_per_mtok_in", "price_per_mtok_out"]
        .iter()
        .any(|k| v.get(*k).and_then(Value::as_f64).is_some_and(|p| p > 0.0));
    let mut out = BTreeMap::new();
    for (id, x) in v.get("instances").and_then(Value::as_object).into_iter().flatten() {
        let n = |k: &str| x.get(k).and_then(Value::as_u64).unwrap_or(0);
        let cost = if priced {
            x.get("cost").and_then(Value::as_f64)
        } else {
            None
        };
        out.insert(
            id.clone(),
            Tokens {
                prompt: n("prompt_tokens"),
                completion: n("completion_tokens"),
                requests: 0,
                cost,
            },
        );
    }
    out
}

/// Official verdicts of candidate patches other than the submitted one (written by
/// `report --grade-candidates`): `(instance_id, sha256 of the normalized patch) → resolved`.
pub const VERDICTS_FILE: &str = "candidate-verdicts.jsonl";

/// One line of [`VERDICTS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CandidateVerdict {
    pub instance_id: String,
    pub normalized_sha: String,
    pub resolved: bool,
}

pub(crate) fn read_verdicts(run_dir: &Path) -> Result<BTreeMap<(String, String), bool>, ReportingError> {
    let path = run_dir.join(VERDICTS_FILE);
    let mut out = BTreeMap::new();
    let Ok(text) = fs_err::read_to_string(&path) else {
        return Ok(out);
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: CandidateVerdict = serde_json::from_str(line).map_err(|e| ReportingError::Parse {
            path: path.clone(),
            what: "candidate verdict",
            message: format!("line {}: {e}", i + 1),
        })?;
        out.insert((v.instance_id, v.normalized_sha), v.resolved);
    }
    Ok(out)
}

/// The repair samples in index order (a sample written twice counts once).
pub(crate) fn read_repairs(dir: &Path) -> Result<Repairs, ReportingError> {
    let Some(f) = stage_file::<Rec<RepairSample>>(&dir.join("repair.jsonl"))? else {
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
fn read_tests(dir: &Path) -> Result<(Regression, ReproTests, Executions), ReportingError> {
    let regression = match stage_file::<RegressionRecord>(&dir.join("regression.jsonl"))? {
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
    if let Some(f) = crate::pipeline::execute::read_file(&dir.join("execute.jsonl"))? {
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
    let repro_enabled = dir.join("repro.jsonl").is_file();
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
    let messages: Vec<&str> = records
        .iter()
        .filter_map(|r| r.get("failure"))
        .filter(|f| f.get("transient") == Some(&Value::Bool(false)))
        .map(|f| f.get("message").and_then(Value::as_str).unwrap_or(""))
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
pub fn load_run(run_dir: &Path) -> Result<RunData, ReportingError> {
    load_run_with(run_dir, None)
}

/// [`load_run`] with the evaluation's run report named (`report --report FILE`), for a
/// folder that holds several. Several reports and none named is an error that lists them.
pub fn load_run_with(run_dir: &Path, report: Option<&Path>) -> Result<RunData, ReportingError> {
    if !run_dir.is_dir() {
        return Err(ReportingError::Invalid(format!(
            "{} is not a directory",
            run_dir.display()
        )));
    }
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
    let preds_path = run_dir.join("predictions.jsonl");
    let predictions: Vec<Prediction> = if preds_path.is_file() {
        load_predictions(&preds_path).map_err(|e| ReportingError::Invalid(e.to_string()))?
    } else {
        Vec::new()
    };
    let by_id: BTreeMap<&str, &Prediction> = predictions.iter().map(|p| (p.instance_id.as_str(), p)).collect();

    let instances_dir = run_dir.join("instances");
    let mut ids: BTreeSet<String> = BTreeSet::new();
    if instances_dir.is_dir() {
        for e in fs_err::read_dir(&instances_dir)
            .map_err(|e| ReportingError::io(&instances_dir, e))?
            .flatten()
        {
            if e.path().is_dir() {
                ids.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
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
    let usage = usage_file(run_dir);
    let verdicts = read_verdicts(run_dir)?;

    let mut instances = Vec::new();
    let mut mismatches: Vec<String> = Vec::new();
    for id in &ids {
        let dir = instances_dir.join(id);
        let mut inst = InstanceData {
            instance_id: id.clone(),
            eval: status(id),
            ..Default::default()
        };
        let mut tokens = Tokens::default();
        let mut any_usage = false;
        // Generic pass over every stage file: time and tokens.
        for stage in StageId::ALL {
            let path = dir.join(format!("{}.jsonl", stage.name()));
            if let Some(f) = stage_file::<Value>(&path)? {
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
        if let Some(f) = stage_file::<Rec<LocalizeSample>>(&dir.join("localize.jsonl"))? {
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
        let repairs = read_repairs(&dir)?;
        let patches: Vec<Option<&str>> = repairs.samples.iter().map(|s| s.outcome.patch()).collect();
        if !repairs.samples.is_empty() {
            // The rule's own candidates: normalized patch, failing regression tests, passed
            // reproduction tests, exactly as the rerank stage builds them.
            let (regression, repro, execs) = read_tests(&dir)?;
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
        let rerank = stage_file::<RerankRecord>(&dir.join("rerank.jsonl"))?.and_then(|f| f.records.into_iter().next());
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
        // usage.json is the pipeline's own total; the records give the request count.
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
    let settings = read_settings(run_dir, eval.is_some().then_some(hardened));
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
fn read_settings(run_dir: &Path, hardened: Option<bool>) -> RunSettings {
    let mut s = RunSettings {
        grading: hardened.map(|h| if h { "hardened" } else { "official" }.to_owned()),
        ..Default::default()
    };
    let path = run_dir.join("run.json");
    let Ok(text) = fs_err::read_to_string(&path) else {
        return s;
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return s;
    };
    let st = &v["settings"];
    let text_of = |x: &Value| x.as_str().map(str::to_owned);
    s.repair_samples = st["repair"]["samples"].as_u64();
    s.repair_temperature = st["repair"]["temperature"].as_f64();
    s.localize_samples = st["localize"]["samples"].as_u64();
    s.repro_samples = st["repro"]["sampling"]["samples"].as_u64();
    s.seed = st["seed"].as_u64();
    s.version = text_of(&v["version"]);
    let d = &v["dataset"];
    s.dataset_repo = text_of(&d["repo"]);
    s.dataset_split = text_of(&d["split"]);
    s.dataset_revision = text_of(&d["revision"]);
    s.dataset_commit = text_of(&d["commit"]);
    s.dataset_sha256 = text_of(&d["sha256"]);
    s.dataset_file = text_of(&d["file"]);
    let modified = |p: &Path| fs_err::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(start) = modified(&path) {
        s.started = Some(httpdate::fmt_http_date(start));
        let mut last = start;
        let mut stack = vec![run_dir.join("instances")];
        for f in ["predictions.jsonl", "usage.json"] {
            if let Some(t) = modified(&run_dir.join(f)) {
                last = last.max(t);
            }
        }
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs_err::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(t) = modified(&p) {
                    last = last.max(t);
                }
            }
        }
        // run.json is written first; nothing after it (an evaluation alone, a copied
        // folder) means the wall time is unknown, not zero.
        s.wall_s = last
            .duration_since(start)
            .ok()
            .map(|d| d.as_secs_f64())
            .filter(|w| *w > 0.0);
    }
    s
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
