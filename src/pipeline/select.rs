//! The rerank stage: candidates in sample order with their execution results, the rule of
//! [`super::rerank::select`], and the record of what it chose (and why).

use std::collections::BTreeSet;

use agentless_harness::dataset::Instance;
use serde::{Deserialize, Serialize};

use super::context::{Cx, StageError};
use super::events::{Event, StageOutcome};
use super::execute::Executions;
use super::keys::KeyParts;
use super::regression::Regression;
use super::repair::Repairs;
use super::repro::ReproTests;
use super::rerank::{Candidate, Filter, select};
use crate::artifact::jsonl::{Opened, open_stage};
use crate::artifact::key::sha256_hex;
use crate::artifact::{ArtifactError, StageFile, StageId, StageKey};

pub const FORMAT_VERSION: u32 = 1;
/// Failures of a candidate without regression results (the reference's value).
pub const UNKNOWN_FAILURES: usize = 10_000;

/// What the rerank chose for an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerankRecord {
    /// The chosen repair sample (None: no candidate, empty prediction).
    pub selected_sample: Option<usize>,
    /// The submitted `model_patch` (the sample's raw patch).
    pub patch: String,
    pub filter: Filter,
    pub pool: usize,
    pub votes: usize,
    pub selected_without_execution: Option<usize>,
    pub samples: usize,
    pub candidates: usize,
}

/// The candidates of the rule, one per repair sample, in sample order.
pub fn build_candidates(
    repairs: &Repairs,
    regression: &Regression,
    repro: &ReproTests,
    execs: &Executions,
) -> Vec<Candidate> {
    let selected: BTreeSet<&str> = repro.tests.iter().map(|t| t.id.as_str()).collect();
    let regression_on = regression.enabled && !regression.tests.is_empty();
    repairs
        .samples
        .iter()
        .map(|s| {
            let normalized = s.outcome.normalized().trim().to_owned();
            let result = (!normalized.is_empty())
                .then(|| execs.results.get(&sha256_hex(&normalized)))
                .flatten();
            let regression_failures = if !regression_on {
                0
            } else {
                match result {
                    Some(r) if r.applied() => r
                        .regression
                        .as_ref()
                        .map_or(UNKNOWN_FAILURES, |o| o.failures(&regression.tests)),
                    _ => UNKNOWN_FAILURES,
                }
            };
            let reproduction_passed = match result {
                Some(r) if repro.enabled => r
                    .repro_passed()
                    .into_iter()
                    .filter(|id| selected.contains(id.as_str()))
                    .collect(),
                _ => BTreeSet::new(),
            };
            Candidate {
                normalized,
                regression_failures,
                reproduction_passed,
            }
        })
        .collect()
}

/// What the rerank key has besides the shared parts: the keys of its inputs.
#[derive(Serialize)]
struct Extra<'a> {
    repair: &'a StageKey,
    samples: usize,
    regression: &'a StageKey,
    repro: &'a StageKey,
    repro_tests: Vec<&'a str>,
    execute: &'a StageKey,
}

/// The stage key of the rerank of these inputs.
pub fn key_of(repairs: &Repairs, regression: &Regression, repro: &ReproTests, execs: &Executions) -> StageKey {
    KeyParts {
        stage: "rerank",
        format_version: FORMAT_VERSION,
        prompt_version: None,
        instance: None,
        extra: Extra {
            repair: &repairs.key,
            samples: repairs.samples.len(),
            regression: &regression.key,
            repro: &repro.key,
            repro_tests: repro.tests.iter().map(|t| t.id.as_str()).collect(),
            execute: &execs.key,
        },
    }
    .key()
}

/// Run (or reuse) the rerank of an instance.
pub fn run(
    cx: &Cx,
    inst: &Instance,
    repairs: &Repairs,
    regression: &Regression,
    repro: &ReproTests,
    execs: &Executions,
) -> Result<RerankRecord, StageError> {
    let id = inst.instance_id.as_str();
    let stage = StageId::Rerank;
    let key = key_of(repairs, regression, repro, execs);
    let path = cx.run_dir.stage_file(id, stage)?;
    let mut writer = match open_stage::<RerankRecord>(&path, stage, FORMAT_VERSION, &key)? {
        Opened::Done(mut records) if records.len() == 1 => {
            cx.emit(Event::StageStarted {
                stage,
                instance: id.into(),
                reused: 1,
                todo: 0,
            });
            cx.emit(Event::StageFinished {
                stage,
                instance: id.into(),
                outcome: StageOutcome::Reused,
            });
            return Ok(records.remove(0));
        }
        Opened::Done(_) => {
            // A finished file with the right key but not exactly one record: written again.
            fs_err::remove_file(&path).map_err(|e| ArtifactError::io(&path, e))?;
            match open_stage::<RerankRecord>(&path, stage, FORMAT_VERSION, &key)? {
                Opened::Open(_, w) => w,
                Opened::Done(_) => {
                    return Err(ArtifactError::Corrupt {
                        path,
                        line: 1,
                        message: "the rerank file could not be removed to be written again".into(),
                    }
                    .into());
                }
            }
        }
        Opened::Open(_, w) => w,
    };
    cx.emit(Event::StageStarted {
        stage,
        instance: id.into(),
        reused: 0,
        todo: 1,
    });
    let cands = build_candidates(repairs, regression, repro, execs);
    let sel = select(&cands);
    let patch = sel
        .selected
        .and_then(|i| repairs.samples.get(i))
        .and_then(|s| s.outcome.patch())
        .unwrap_or_default()
        .to_owned();
    let rec = RerankRecord {
        selected_sample: sel.selected.and_then(|i| repairs.samples.get(i).map(|s| s.index)),
        patch,
        filter: sel.filter,
        pool: sel.pool,
        votes: sel.votes,
        selected_without_execution: sel.selected_without_execution,
        samples: repairs.samples.len(),
        candidates: cands.iter().filter(|c| !c.normalized.is_empty()).count(),
    };
    writer.record(&rec)?;
    writer.finish()?;
    cx.emit(Event::UnitDone {
        stage,
        instance: id.into(),
    });
    cx.emit(Event::StageFinished {
        stage,
        instance: id.into(),
        outcome: StageOutcome::Finished,
    });
    Ok(rec)
}

/// The finished rerank on disk.
pub fn load(cx: &Cx, inst: &Instance) -> Result<Option<RerankRecord>, StageError> {
    load_file(&cx.run_dir.stage_file(&inst.instance_id, StageId::Rerank)?)
}

/// [`load`] from the stage file at `path`.
pub fn load_file(path: &std::path::Path) -> Result<Option<RerankRecord>, StageError> {
    let Some(file) = StageFile::<RerankRecord>::read(path)? else {
        return Ok(None);
    };
    if file.end.is_none() {
        return Ok(None);
    }
    Ok(file.records.into_iter().next())
}
