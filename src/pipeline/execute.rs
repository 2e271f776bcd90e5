//! Execute (as swe-rl's Agentless Mini and Agentless do): every distinct candidate patch — one per
//! normalized form, represented by its first sample — runs in its own container from the
//! instance image: the patch is applied with the evaluation engine's cascade (`git apply`,
//! `git apply --reject`, `patch --fuzz=5`), the regression tests run (the eval script without
//! the test patch; a selected test that does not pass — missing counts — is a failure), then
//! each selected reproduction test runs (`Issue resolved` and neither other marker = passed),
//! the repository reset between tests. Candidates run in parallel under the container limit.
//!
//! Results are records keyed by the normalized patch, so more repair samples later only run
//! the new candidates; the stage key covers the tests, the image and the timeouts. A record
//! keeps the outcomes typed ([`ApplyResult`], [`RegressionOutcome`], [`ReproVerdict`]): a
//! refused patch, a failed cascade, a timed-out or unreadable regression run and a timed-out
//! reproduction test stay distinct. A timed-out, unreadable or unparsable regression run
//! counts every selected test as failed.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use agentless_harness::dataset::Instance;
use agentless_harness::grade::LogRejection;
use agentless_harness::grade::{GradingMode, parse_log, parser_for};
use agentless_harness::parse::TestStatus;
use agentless_harness::sandbox::{ApplyOutcome, ApplyStrategy, PatchRefusal};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::containers::{self, ReproVerdict, python_runner, regression_script, repro_outcome, tail};
use super::context::{Cx, Settings, StageError};
use super::events::{Event, StageOutcome};
use super::keys::{InstanceParts, KeyParts};
use super::regression::Regression;
use super::repair::Repairs;
use super::repro::ReproTests;
use crate::artifact::jsonl::{Opened, open_stage};
use crate::artifact::key::sha256_hex;
use crate::artifact::{ArtifactError, StageFile, StageId, StageKey};

/// Version 2: typed apply and regression outcomes (version 1 had `applied`, `apply_error`,
/// `regression_failed` and `regression_note`, and a timed-out reproduction test was `other`).
pub const FORMAT_VERSION: u32 = 2;

/// The results of one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateResult {
    pub normalized_sha: String,
    /// The sample whose patch ran.
    pub sample: usize,
    pub apply: ApplyResult,
    /// The regression run (None: not run — no regression tests, or the patch did not apply).
    pub regression: Option<RegressionOutcome>,
    /// Reproduction test id → verdict ([`ReproVerdict::TimedOut`] when it was killed).
    pub repro: Vec<(String, ReproVerdict)>,
    pub elapsed_ms: u64,
}

/// How applying the candidate patch ended (the harness's [`ApplyOutcome`], as recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyResult {
    /// Applied by `strategy` (`None`: applied by another tool, whose results were imported
    /// without the strategy; see `agentless-mini import`).
    Applied { strategy: Option<ApplyStrategy> },
    /// Every command of the cascade failed; `output` is the end of the last one's output.
    Failed { output: String },
    /// The patch names a path outside the repository: nothing ran.
    Refused(PatchRefusal),
}

impl ApplyResult {
    /// The record of an apply outcome (a failed cascade keeps the last 2,000 bytes of the
    /// last command's output).
    pub fn of(outcome: ApplyOutcome) -> ApplyResult {
        match outcome {
            ApplyOutcome::Applied { strategy, .. } => ApplyResult::Applied {
                strategy: Some(strategy),
            },
            ApplyOutcome::Failed { attempts } => ApplyResult::Failed {
                output: tail(attempts.last().map_or("", |a| a.output.as_str()), 2000),
            },
            ApplyOutcome::Refused(r) => ApplyResult::Refused(r),
        }
    }
}

/// How the candidate's regression run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionOutcome {
    /// The log was graded: the selected tests that did not pass (missing ones count).
    Ran { failed: Vec<String> },
    /// The run was killed at its timeout: every selected test counts as failed.
    TimedOut,
    /// The log could not be graded: every selected test counts as failed.
    Unreadable(LogRejection),
    /// No log parser is known for the repository: every selected test counts as failed.
    NoParser,
}

impl RegressionOutcome {
    /// How many of `selected` failed.
    pub fn failures(&self, selected: &[String]) -> usize {
        match self {
            RegressionOutcome::Ran { failed } => failed.iter().filter(|t| selected.contains(t)).count(),
            RegressionOutcome::TimedOut | RegressionOutcome::Unreadable(_) | RegressionOutcome::NoParser => {
                selected.len()
            }
        }
    }
}

impl CandidateResult {
    pub fn applied(&self) -> bool {
        matches!(self.apply, ApplyResult::Applied { .. })
    }

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

/// What the execute key has besides the shared parts.
#[derive(Serialize)]
struct Extra<'a> {
    image: &'a str,
    script_sha: String,
    regression: Option<&'a [String]>,
    repro: Vec<(&'a str, String)>,
    timeout_s: u64,
    repro_timeout_s: u64,
}

/// The stage key of an instance's candidates run in `image` with `script` (the regression
/// script) against the selected tests.
pub fn key_of(
    s: &Settings,
    inst: &Instance,
    image: &str,
    script: &str,
    regression: &Regression,
    repro: &ReproTests,
) -> StageKey {
    KeyParts {
        stage: "execute",
        format_version: FORMAT_VERSION,
        prompt_version: None,
        instance: Some(InstanceParts::of(inst)),
        extra: Extra {
            image,
            script_sha: sha256_hex(script),
            regression: regression.enabled.then_some(regression.tests.as_slice()),
            repro: repro
                .tests
                .iter()
                .map(|t| (t.id.as_str(), sha256_hex(&t.code)))
                .collect(),
            timeout_s: s.execute_timeout_s,
            repro_timeout_s: s.repro.timeout_s,
        },
    }
    .key()
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
    let key = key_of(&s, inst, &image, &script, regression, repro);
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
        let apply = ApplyResult::of(slot.sandbox().apply_patch(patch).await?);
        let mut res = CandidateResult {
            normalized_sha: sha.to_owned(),
            sample,
            apply,
            regression: None,
            repro: Vec::new(),
            elapsed_ms: 0,
        };
        if !res.applied() {
            return Ok(res);
        }
        slot.checkpoint().await?;
        if let Some((tests, script)) = regression {
            let out = slot
                .run_script("regression.sh", script, Duration::from_secs(s.execute_timeout_s))
                .await?;
            res.regression = Some(if out.timed_out {
                RegressionOutcome::TimedOut
            } else {
                match parser_for(inst).map(|p| parse_log(&out.text(), p, GradingMode::V4)) {
                    Some(Ok(map)) => RegressionOutcome::Ran {
                        failed: tests
                            .iter()
                            .filter(|t| !matches!(map.get(t.as_str()), Some(TestStatus::Passed | TestStatus::Xfail)))
                            .cloned()
                            .collect(),
                    },
                    Some(Err(rejection)) => RegressionOutcome::Unreadable(rejection),
                    None => RegressionOutcome::NoParser,
                }
            });
            slot.reset().await?;
        }
        for t in repro {
            let file = format!("reproduce_bug_{}.py", t.id.trim_start_matches("repro-"));
            slot.sandbox()
                .write_file(&format!("{}/{file}", containers::REPO_DIR), t.code.as_bytes())
                .await?;
            let out = slot
                .run_script(
                    "run_repro.sh",
                    &python_runner(eval, &file),
                    Duration::from_secs(s.repro.timeout_s),
                )
                .await?;
            res.repro.push((t.id.clone(), repro_outcome(&out)));
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

/// Read an execute file written by this format version. A file of another version is refused
/// with an error naming it and its version (version 1 records cannot be converted: they kept
/// a refused patch and a failed cascade, and an unreadable log and a timeout, as the same
/// text); the `execute` stage moves such a file aside and runs again.
pub fn read_file(path: &Path) -> Result<Option<StageFile<CandidateResult>>, ArtifactError> {
    let Some(file) = StageFile::<CandidateResult>::read(path)? else {
        return Ok(None);
    };
    match &file.begin {
        Some(b) if b.format_version != FORMAT_VERSION => Err(ArtifactError::Version {
            path: path.to_path_buf(),
            stage: StageId::Execute,
            found: b.format_version,
            expected: FORMAT_VERSION,
        }),
        _ => Ok(Some(file)),
    }
}

/// The finished execution results on disk, whatever settings made them.
pub fn load(cx: &Cx, inst: &Instance) -> Result<Option<Executions>, StageError> {
    load_file(&cx.run_dir.stage_file(&inst.instance_id, StageId::Execute)?)
}

/// [`load`] from the stage file at `path` (refused when its format version is not this one).
pub fn load_file(path: &std::path::Path) -> Result<Option<Executions>, StageError> {
    let Some(file) = read_file(path)? else {
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

#[cfg(test)]
mod tests {
    use agentless_harness::sandbox::{ApplyAttempt, RefusalReason};

    use super::*;
    use crate::artifact::jsonl::Envelope;
    use crate::artifact::{Begin, End};

    fn result(apply: ApplyResult, regression: Option<RegressionOutcome>) -> CandidateResult {
        CandidateResult {
            normalized_sha: "n".into(),
            sample: 3,
            apply,
            regression,
            repro: vec![
                ("repro-a".into(), ReproVerdict::Resolved),
                ("repro-b".into(), ReproVerdict::TimedOut),
            ],
            elapsed_ms: 5,
        }
    }

    #[test]
    fn apply_outcomes_keep_their_kind() {
        let refusal = PatchRefusal {
            path: "../etc/passwd".into(),
            reason: RefusalReason::ParentTraversal,
        };
        assert_eq!(
            ApplyResult::of(ApplyOutcome::Refused(refusal.clone())),
            ApplyResult::Refused(refusal)
        );
        let attempt = |output: &str| ApplyAttempt {
            strategy: ApplyStrategy::GitApply,
            exit_code: Some(1),
            output: output.into(),
        };
        assert_eq!(
            ApplyResult::of(ApplyOutcome::Failed {
                attempts: vec![attempt("first"), attempt(&format!("{}end", "x".repeat(3000)))]
            }),
            ApplyResult::Failed {
                output: format!("{}end", "x".repeat(1997))
            }
        );
        assert_eq!(
            ApplyResult::of(ApplyOutcome::Applied {
                strategy: ApplyStrategy::PatchFuzz,
                output: String::new(),
                failed: vec![attempt("no")],
            }),
            ApplyResult::Applied {
                strategy: Some(ApplyStrategy::PatchFuzz)
            }
        );
    }

    #[test]
    fn an_unread_regression_run_fails_every_selected_test() {
        let selected = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let ran = RegressionOutcome::Ran {
            failed: vec!["b".into(), "not-selected".into()],
        };
        assert_eq!(ran.failures(&selected), 1);
        assert_eq!(RegressionOutcome::TimedOut.failures(&selected), 3);
        assert_eq!(RegressionOutcome::NoParser.failures(&selected), 3);
        assert_eq!(
            RegressionOutcome::Unreadable(LogRejection::MissingMarkers).failures(&selected),
            3
        );
    }

    #[test]
    fn records_round_trip_typed() {
        for r in [
            result(
                ApplyResult::Applied {
                    strategy: Some(ApplyStrategy::GitApply),
                },
                Some(RegressionOutcome::Unreadable(LogRejection::FailureMarker {
                    marker: ">>>>> Tests Timed Out".into(),
                })),
            ),
            result(
                ApplyResult::Refused(PatchRefusal {
                    path: "/abs".into(),
                    reason: RefusalReason::AbsolutePath,
                }),
                None,
            ),
            result(ApplyResult::Failed { output: "rej".into() }, None),
            result(
                ApplyResult::Applied {
                    strategy: Some(ApplyStrategy::GitApplyReject),
                },
                Some(RegressionOutcome::Ran {
                    failed: vec!["t".into()],
                }),
            ),
        ] {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<CandidateResult>(&text).unwrap(), r, "{text}");
        }
        let r = result(
            ApplyResult::Refused(PatchRefusal {
                path: "/abs".into(),
                reason: RefusalReason::AbsolutePath,
            }),
            Some(RegressionOutcome::TimedOut),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["apply"],
            serde_json::json!({"refused": {"path": "/abs", "reason": "absolute_path"}})
        );
        assert_eq!(v["regression"], serde_json::json!("timed_out"));
        assert_eq!(v["repro"][1], serde_json::json!(["repro-b", "timed_out"]));
    }

    fn file(version: u32, record: serde_json::Value) -> String {
        let begin = Envelope::<()>::Begin(Begin {
            stage: StageId::Execute,
            format_version: version,
            key: StageKey("sha256:k".into()),
            started_at_unix: 0,
        });
        let end = Envelope::<()>::End(End {
            records: 1,
            elapsed_ms: 1,
        });
        format!(
            "{}\n{}\n{}\n",
            serde_json::to_string(&begin).unwrap(),
            serde_json::json!({"type": "record", "data": record}),
            serde_json::to_string(&end).unwrap()
        )
    }

    /// A version-1 record (as written before the typed outcomes) is refused, naming the file
    /// and both versions, instead of being read as a file with no results.
    #[test]
    fn an_old_execute_file_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("execute.jsonl");
        let v1 = serde_json::json!({
            "normalized_sha": "n", "sample": 0, "applied": false,
            "apply_error": "patch refused: \"/abs\" is an absolute path",
            "regression_failed": null, "repro": [["repro-a", "other"]], "elapsed_ms": 3
        });
        fs_err::write(&path, file(1, v1)).unwrap();
        let e = read_file(&path).unwrap_err();
        assert!(
            matches!(
                e,
                ArtifactError::Version {
                    found: 1,
                    expected: 2,
                    stage: StageId::Execute,
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("execute format version 1"), "{msg}");
        assert!(msg.contains("agentless-mini execute"), "{msg}");
        // The current version reads.
        let r = result(ApplyResult::Failed { output: "x".into() }, None);
        fs_err::write(&path, file(FORMAT_VERSION, serde_json::to_value(&r).unwrap())).unwrap();
        let f = read_file(&path).unwrap().expect("file");
        assert_eq!(f.records, [r]);
    }
}
