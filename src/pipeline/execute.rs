//! Execute (as swe-rl's Agentless Mini and Agentless do): every distinct candidate patch — one per
//! normalized form, represented by its first sample — runs in its own container from the
//! instance image: the patch is applied with the evaluation engine's cascade (`git apply`,
//! `git apply --reject`, `patch --fuzz=5`), the regression tests run (the eval script without
//! the test patch; a selected test that does not pass — missing counts — is a failure), then
//! each selected reproduction test runs (`Issue resolved` and neither other marker = passed),
//! the repository reset between tests. Candidates run in parallel under the container limit.
//!
//! Results are records keyed by the normalized patch, so more repair samples later only run
//! the new candidates; the stage key covers the tests, the image and the timeouts.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use agentless_harness::dataset::Instance;
use agentless_harness::grade::{GradingMode, parse_log, parser_for};
use agentless_harness::parse::TestStatus;
use agentless_harness::sandbox::ApplyOutcome;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::containers::{self, ReproVerdict, python_runner, regression_script, repro_verdict, tail};
use super::context::{Cx, StageError};
use super::events::{Event, StageOutcome};
use super::regression::Regression;
use super::repair::Repairs;
use super::repro::ReproTests;
use crate::artifact::jsonl::{Opened, open_stage};
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageFile, StageId, StageKey};

pub const FORMAT_VERSION: u32 = 1;

/// The results of one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateResult {
    pub normalized_sha: String,
    /// The sample whose patch ran.
    pub sample: usize,
    pub applied: bool,
    /// The apply cascade's output when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_error: Option<String>,
    /// Selected regression tests that did not pass (None: not run).
    pub regression_failed: Option<Vec<String>>,
    /// Why the regression log could not be read, if so (every test then counts as failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression_note: Option<String>,
    /// Reproduction test id → verdict.
    pub repro: Vec<(String, ReproVerdict)>,
    pub elapsed_ms: u64,
}

impl CandidateResult {
    /// The ids of the reproduction tests it passes.
    pub fn repro_passed(&self) -> BTreeSet<String> {
        self.repro
            .iter()
            .filter(|(_, v)| *v == ReproVerdict::Resolved)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Execution results of an instance, by normalized-patch hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Executions {
    pub key: StageKey,
    pub results: HashMap<String, CandidateResult>,
}

/// The distinct candidates of the repair samples: (normalized hash, first sample, its patch).
pub fn candidates(repairs: &Repairs) -> Vec<(String, usize, String)> {
    let mut out: Vec<(String, usize, String)> = Vec::new();
    for s in &repairs.samples {
        let (Some(patch), normalized) = (s.outcome.patch(), s.outcome.normalized()) else {
            continue;
        };
        if normalized.trim().is_empty() {
            continue;
        }
        let sha = sha256_hex(normalized.trim());
        if !out.iter().any(|(h, _, _)| *h == sha) {
            out.push((sha, s.index, patch.to_owned()));
        }
    }
    out
}

#[derive(Serialize)]
struct KeyParts<'a> {
    stage: &'static str,
    format_version: u32,
    instance_id: &'a str,
    base_commit: &'a str,
    image: &'a str,
    script_sha: String,
    regression: Option<&'a [String]>,
    repro: Vec<(&'a str, String)>,
    timeout_s: u64,
    repro_timeout_s: u64,
}

/// Run (or resume) the execution of every candidate of an instance.
pub async fn run(
    cx: &Cx,
    inst: &Instance,
    repairs: &Repairs,
    regression: &Regression,
    repro: &ReproTests,
) -> Result<Executions, StageError> {
    let s = cx.settings.clone();
    let id = inst.instance_id.as_str();
    let stage = StageId::Execute;
    let cands = candidates(repairs);
    let nothing_to_test = (!regression.enabled || regression.tests.is_empty()) && repro.tests.is_empty();
    if nothing_to_test {
        cx.emit(Event::StageFinished {
            stage,
            instance: id.into(),
            outcome: StageOutcome::Skipped("no regression or reproduction tests".into()),
        });
        return Ok(Executions {
            key: StageKey::of("execute-nothing"),
            results: HashMap::new(),
        });
    }
    let eval = containers::eval_script(cx, inst)?;
    let script = regression_script(&eval)?;
    let image = containers::image(cx, inst).await?;
    let key = StageKey::of(&KeyParts {
        stage: "execute",
        format_version: FORMAT_VERSION,
        instance_id: id,
        base_commit: &inst.base_commit,
        image: &image,
        script_sha: sha256_hex(&script),
        regression: regression.enabled.then_some(regression.tests.as_slice()),
        repro: repro
            .tests
            .iter()
            .map(|t| (t.id.as_str(), sha256_hex(&t.code)))
            .collect(),
        timeout_s: s.execute_timeout_s,
        repro_timeout_s: s.repro.timeout_s,
    });
    let path = cx.run_dir.stage_file(id, stage)?;
    let (records, writer) = match open_stage::<CandidateResult>(&path, stage, FORMAT_VERSION, &key)? {
        Opened::Done(records) => {
            let have: BTreeSet<&str> = records.iter().map(|r| r.normalized_sha.as_str()).collect();
            if cands.iter().all(|(h, _, _)| have.contains(h.as_str())) {
                cx.emit(Event::StageStarted {
                    stage,
                    instance: id.into(),
                    reused: cands.len(),
                    todo: 0,
                });
                cx.emit(Event::StageFinished {
                    stage,
                    instance: id.into(),
                    outcome: StageOutcome::Reused,
                });
                return Ok(Executions {
                    key,
                    results: records.into_iter().map(|r| (r.normalized_sha.clone(), r)).collect(),
                });
            }
            crate::artifact::jsonl::reopen_finished::<CandidateResult>(&path)?
        }
        Opened::Open(records, writer) => (records, writer),
    };
    let mut writer = writer;
    let mut results: HashMap<String, CandidateResult> =
        records.into_iter().map(|r| (r.normalized_sha.clone(), r)).collect();
    let todo: Vec<&(String, usize, String)> = cands.iter().filter(|(h, _, _)| !results.contains_key(h)).collect();
    cx.emit(Event::StageStarted {
        stage,
        instance: id.into(),
        reused: cands.len() - todo.len(),
        todo: todo.len(),
    });
    let regression_tests: Option<&[String]> =
        (regression.enabled && !regression.tests.is_empty()).then_some(regression.tests.as_slice());
    let mut stream = futures::stream::iter(todo.into_iter().map(|(sha, sample, patch)| {
        let (script, eval, image) = (&script, &eval, &image);
        async move {
            run_candidate(
                cx,
                inst,
                image,
                sha,
                *sample,
                patch,
                regression_tests.map(|t| (t, script.as_str())),
                &repro.tests,
                eval,
            )
            .await
        }
    }))
    .buffer_unordered(cands.len().max(1));
    let mut first_error = None;
    while let Some(r) = stream.next().await {
        match r {
            Ok(res) => {
                writer.record(&res)?;
                cx.emit(Event::UnitDone {
                    stage,
                    instance: id.into(),
                });
                results.insert(res.normalized_sha.clone(), res);
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
        }
    }
    drop(stream);
    if let Some(e) = first_error {
        return Err(e);
    }
    writer.finish()?;
    cx.emit(Event::StageFinished {
        stage,
        instance: id.into(),
        outcome: StageOutcome::Finished,
    });
    Ok(Executions { key, results })
}

#[allow(clippy::too_many_arguments, reason = "one candidate's inputs")]
async fn run_candidate(
    cx: &Cx,
    inst: &Instance,
    image: &str,
    sha: &str,
    sample: usize,
    patch: &str,
    regression: Option<(&[String], &str)>,
    repro: &[super::repro::ReproTest],
    eval: &str,
) -> Result<CandidateResult, StageError> {
    let started = Instant::now();
    let s = &cx.settings;
    let slot = containers::start(cx, inst, image).await?;
    let result: Result<CandidateResult, StageError> = async {
        let mut res = CandidateResult {
            normalized_sha: sha.to_owned(),
            sample,
            applied: false,
            apply_error: None,
            regression_failed: None,
            regression_note: None,
            repro: Vec::new(),
            elapsed_ms: 0,
        };
        let applied = slot
            .sandbox()
            .apply_patch(patch)
            .await
            .map_err(|e| StageError::Container(e.to_string()))?;
        match applied {
            ApplyOutcome::Applied { .. } => res.applied = true,
            ApplyOutcome::Failed { attempts } => {
                res.apply_error = Some(tail(
                    &attempts.last().map(|a| a.output.clone()).unwrap_or_default(),
                    2000,
                ));
                return Ok(res);
            }
            ApplyOutcome::Refused(r) => {
                res.apply_error = Some(r.to_string());
                return Ok(res);
            }
        }
        slot.checkpoint().await?;
        if let Some((tests, script)) = regression {
            let out = slot
                .run_script("regression.sh", script, Duration::from_secs(s.execute_timeout_s))
                .await?;
            let (statuses, note) = if out.timed_out {
                (None, Some(format!("timed out after {} s", s.execute_timeout_s)))
            } else {
                match parser_for(inst).map(|p| parse_log(&out.text(), p, GradingMode::V4)) {
                    Some(Ok(map)) => (Some(map), None),
                    Some(Err(e)) => (None, Some(e.to_string())),
                    None => (None, Some(format!("no log parser for {}", inst.repo))),
                }
            };
            let failed = tests
                .iter()
                .filter(|t| {
                    !statuses
                        .as_ref()
                        .is_some_and(|m| matches!(m.get(t.as_str()), Some(TestStatus::Passed | TestStatus::Xfail)))
                })
                .cloned()
                .collect();
            res.regression_failed = Some(failed);
            res.regression_note = note;
            slot.reset().await?;
        }
        for t in repro {
            let file = format!("reproduce_bug_{}.py", t.id.trim_start_matches("repro-"));
            slot.sandbox()
                .write_file(&format!("{}/{file}", containers::REPO_DIR), t.code.as_bytes())
                .await
                .map_err(|e| StageError::Container(e.to_string()))?;
            let out = slot
                .run_script(
                    "run_repro.sh",
                    &python_runner(eval, &file),
                    Duration::from_secs(s.repro.timeout_s),
                )
                .await?;
            let verdict = if out.timed_out {
                ReproVerdict::Other
            } else {
                repro_verdict(&out.text())
            };
            res.repro.push((t.id.clone(), verdict));
            slot.reset().await?;
        }
        Ok(res)
    }
    .await;
    slot.remove().await;
    let mut res = result?;
    res.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(res)
}

/// The finished execution results on disk, whatever settings made them.
pub fn load(cx: &Cx, inst: &Instance) -> Result<Option<Executions>, StageError> {
    load_file(&cx.run_dir.stage_file(&inst.instance_id, StageId::Execute)?)
}

/// [`load`] from the stage file at `path`.
pub fn load_file(path: &std::path::Path) -> Result<Option<Executions>, StageError> {
    let Some(file) = StageFile::<CandidateResult>::read(path)? else {
        return Ok(None);
    };
    let (Some(b), Some(_)) = (file.begin, file.end) else {
        return Ok(None);
    };
    Ok(Some(Executions {
        key: b.key,
        results: file
            .records
            .into_iter()
            .map(|r| (r.normalized_sha.clone(), r))
            .collect(),
    }))
}
