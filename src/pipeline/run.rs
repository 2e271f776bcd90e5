//! The orchestrator: per instance, the stages in order (or one stage, reading the others'
//! finished artifacts), instances `jobs` at a time; the model and container limits are shared
//! by all. It knows the stage graph; stages never call each other.

use agentless_harness::dataset::Instance;
use agentless_harness::predictions::Prediction;
use agentless_model::Usage;
use futures::StreamExt as _;

use super::context::{Cx, StageError};
use super::events::{Event, StageOutcome};
use super::execute::{self, Executions};
use super::regression::{self, Regression};
use super::repair;
use super::repro::{self, ReproTests};
use super::select::{self, RerankRecord};
use super::{localize, repo::Snapshot};
use crate::artifact::{ArtifactError, RunDir, StageId, write_atomic};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every stage (`eval`).
    All,
    /// One stage, its inputs read from finished artifacts.
    Stage(StageId),
}

/// How one instance went.
#[derive(Debug, Clone)]
pub struct InstanceReport {
    pub instance_id: String,
    /// The rerank's choice, when the rerank ran (or was reused).
    pub rerank: Option<RerankRecord>,
    /// Tokens of every model request behind this instance's artifacts (reused ones included).
    pub usage: Usage,
    /// Why the instance stopped, if it did.
    pub error: Option<String>,
    /// The stage the instance stopped in, if it failed.
    pub failed_stage: Option<StageId>,
    pub cancelled: bool,
}

fn add(u: &mut Usage, v: Usage) {
    u.prompt_tokens += v.prompt_tokens;
    u.completion_tokens += v.completion_tokens;
}

async fn snapshot(cx: &Cx, inst: &Instance) -> Result<Snapshot, StageError> {
    let repos = cx.repos.clone();
    let inst = inst.clone();
    tokio::task::spawn_blocking(move || repos.snapshot(&inst))
        .await
        .map_err(|e| StageError::Invalid(format!("repository task failed: {e}")))?
        .map_err(StageError::from)
}

fn tests_inputs_for_execute(cx: &Cx, inst: &Instance) -> Result<(Regression, ReproTests), StageError> {
    let s = &cx.settings;
    let reg = if s.regression.enabled {
        regression::load(cx, inst)?.ok_or_else(|| StageError::missing(StageId::Regression))?
    } else {
        Regression::disabled()
    };
    let rep = if s.repro.enabled {
        repro::load(cx, inst)?.ok_or_else(|| StageError::missing(StageId::Repro))?
    } else {
        ReproTests::disabled()
    };
    Ok((reg, rep))
}

/// `at` is set to the stage being run, so that a failure names the stage it happened in.
async fn run_scope(
    cx: &Cx,
    inst: &Instance,
    scope: Scope,
    usage: &mut Usage,
    at: &mut StageId,
) -> Result<Option<RerankRecord>, StageError> {
    match scope {
        Scope::All => {
            *at = StageId::Localize;
            let snap = snapshot(cx, inst).await?;
            let loc = localize::run(cx, inst, &snap).await?;
            loc.samples.iter().for_each(|s| add(usage, s.usage));
            *at = StageId::Repair;
            let repairs = repair::run(cx, inst, &snap, &loc).await?;
            repairs.samples.iter().for_each(|s| add(usage, s.usage));
            let (reg, rep) = tokio::join!(regression::run(cx, inst), repro::run(cx, inst, &snap));
            *at = StageId::Regression;
            let reg = reg?;
            *at = StageId::Repro;
            let rep = rep?;
            add(usage, reg.usage);
            add(usage, rep.usage);
            *at = StageId::Execute;
            let execs = execute::run(cx, inst, &repairs, &reg, &rep).await?;
            *at = StageId::Rerank;
            Ok(Some(select::run(cx, inst, &repairs, &reg, &rep, &execs)?))
        }
        Scope::Stage(StageId::Localize) => {
            let snap = snapshot(cx, inst).await?;
            let loc = localize::run(cx, inst, &snap).await?;
            loc.samples.iter().for_each(|s| add(usage, s.usage));
            Ok(None)
        }
        Scope::Stage(StageId::Repair) => {
            let snap = snapshot(cx, inst).await?;
            let loc = localize::load(cx, inst)?;
            let repairs = repair::run(cx, inst, &snap, &loc).await?;
            repairs.samples.iter().for_each(|s| add(usage, s.usage));
            Ok(None)
        }
        Scope::Stage(StageId::Regression) => {
            add(usage, regression::run(cx, inst).await?.usage);
            Ok(None)
        }
        Scope::Stage(StageId::Repro) => {
            let snap = snapshot(cx, inst).await?;
            add(usage, repro::run(cx, inst, &snap).await?.usage);
            Ok(None)
        }
        Scope::Stage(StageId::Execute) => {
            let repairs = repair::load(cx, inst)?;
            let (reg, rep) = tests_inputs_for_execute(cx, inst)?;
            execute::run(cx, inst, &repairs, &reg, &rep).await?;
            Ok(None)
        }
        Scope::Stage(StageId::Rerank) => {
            let repairs = repair::load(cx, inst)?;
            let (reg, rep) = tests_inputs_for_execute(cx, inst)?;
            let nothing = (!reg.enabled || reg.tests.is_empty()) && rep.tests.is_empty();
            let execs = match execute::load(cx, inst)? {
                Some(e) => e,
                None if nothing => Executions {
                    key: crate::artifact::StageKey::of("execute-nothing"),
                    results: Default::default(),
                },
                None => return Err(StageError::missing(StageId::Execute)),
            };
            Ok(Some(select::run(cx, inst, &repairs, &reg, &rep, &execs)?))
        }
    }
}

/// Run `scope` for one instance. Errors are reported in the result (and as an event), never
/// raised: other instances go on.
pub async fn run_instance(cx: &Cx, inst: &Instance, scope: Scope) -> InstanceReport {
    let mut usage = Usage::default();
    let mut at = match scope {
        Scope::Stage(s) => s,
        Scope::All => StageId::Localize,
    };
    let result = run_scope(cx, inst, scope, &mut usage, &mut at).await;
    let (rerank, error, cancelled) = match result {
        Ok(r) => (r, None, false),
        Err(StageError::Cancelled) => (None, Some("interrupted".to_owned()), true),
        Err(e) => {
            let msg = e.to_string();
            cx.emit(Event::StageFinished {
                stage: at,
                instance: inst.instance_id.clone(),
                outcome: StageOutcome::Failed(msg.clone()),
            });
            (None, Some(msg), false)
        }
    };
    InstanceReport {
        instance_id: inst.instance_id.clone(),
        rerank,
        usage,
        failed_stage: (error.is_some() && !cancelled).then_some(at),
        error,
        cancelled: cancelled || cx.cancel.is_cancelled(),
    }
}

/// Run `scope` for every instance, `jobs` instances at a time; reports in dataset order.
pub async fn run_all(cx: &Cx, instances: &[Instance], scope: Scope, jobs: usize) -> Vec<InstanceReport> {
    let mut reports: Vec<(usize, InstanceReport)> = futures::stream::iter(instances.iter().enumerate())
        .map(|(i, inst)| async move { (i, run_instance(cx, inst, scope).await) })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// Write `predictions.jsonl`: the rows already there for other instances, updated with the
/// reranked patches of `reports` (an instance with no candidate gets an empty patch). Sorted by
/// instance id; written atomically. Returns the predictions of `reports`.
pub fn write_predictions(
    run_dir: &RunDir,
    model_name: &str,
    reports: &[InstanceReport],
) -> Result<Vec<Prediction>, ArtifactError> {
    let path = run_dir.predictions_file();
    let mut rows: std::collections::BTreeMap<String, Prediction> = match fs_err::read_to_string(&path) {
        Ok(text) => agentless_harness::predictions::parse_predictions(&path, &text)
            .map_err(|e| ArtifactError::Invalid(e.to_string()))?
            .into_iter()
            .map(|p| (p.instance_id.clone(), p))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(ArtifactError::Io { path, source: e }),
    };
    let mut mine = Vec::new();
    for r in reports {
        if let Some(rr) = &r.rerank {
            let p = Prediction {
                instance_id: r.instance_id.clone(),
                model_name_or_path: model_name.to_owned(),
                model_patch: Some(rr.patch.clone()),
            };
            rows.insert(p.instance_id.clone(), p.clone());
            mine.push(p);
        }
    }
    let mut text = String::new();
    for p in rows.values() {
        let line = serde_json::json!({"model_name_or_path": p.model_name_or_path, "instance_id": p.instance_id, "model_patch": p.model_patch});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    write_atomic(&path, text.as_bytes()).map_err(ArtifactError::Write)?;
    Ok(mine)
}
