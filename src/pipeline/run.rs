//! The orchestrator: per instance, the stages in order (or one stage, reading the others'
//! finished artifacts), instances `jobs` at a time; the model and container limits are shared
//! by all. It knows the stage graph; stages never call each other. A failure is tagged with
//! the stage it happened in, and each instance ends with a typed [`InstanceOutcome`].

use std::sync::Arc;

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
    pub outcome: InstanceOutcome,
}

/// How the stages of one instance ended.
#[derive(Debug, Clone)]
pub enum InstanceOutcome {
    /// Every stage of the scope finished (or was reused).
    Done,
    /// `stage` stopped with `error`; what finished before is on disk for a re-run.
    Failed { stage: StageId, error: Arc<StageError> },
    /// The run was cancelled (interrupted) before the scope finished.
    Cancelled,
}

impl InstanceReport {
    pub fn is_done(&self) -> bool {
        matches!(self.outcome, InstanceOutcome::Done)
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self.outcome, InstanceOutcome::Cancelled)
    }

    /// The failed stage and its error, if the instance failed.
    pub fn failure(&self) -> Option<(StageId, &StageError)> {
        match &self.outcome {
            InstanceOutcome::Failed { stage, error } => Some((*stage, error)),
            _ => None,
        }
    }
}

/// A stage's error with the stage it happened in.
type AtStage<T> = Result<T, (StageId, StageError)>;

/// Tag a stage's result with the stage.
fn at<T>(stage: StageId, r: Result<T, StageError>) -> AtStage<T> {
    r.map_err(|e| (stage, e))
}

fn add(u: &mut Usage, v: Usage) {
    u.prompt_tokens += v.prompt_tokens;
    u.completion_tokens += v.completion_tokens;
}

async fn snapshot(cx: &Cx, inst: &Instance) -> Result<Snapshot, StageError> {
    let repos = cx.repos.clone();
    let inst = inst.clone();
    Ok(tokio::task::spawn_blocking(move || repos.snapshot(&inst)).await??)
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

/// Run `scope` for one instance; a failure carries the stage it happened in.
async fn run_scope(cx: &Cx, inst: &Instance, scope: Scope, usage: &mut Usage) -> AtStage<Option<RerankRecord>> {
    use StageId::{Execute, Localize, Regression, Repair, Repro, Rerank};
    match scope {
        Scope::All => {
            let snap = at(Localize, snapshot(cx, inst).await)?;
            let loc = at(Localize, localize::run(cx, inst, &snap).await)?;
            loc.samples.iter().for_each(|s| add(usage, s.usage));
            let repairs = at(Repair, repair::run(cx, inst, &snap, &loc).await)?;
            repairs.samples.iter().for_each(|s| add(usage, s.usage));
            let (reg, rep) = tokio::join!(regression::run(cx, inst), repro::run(cx, inst, &snap));
            let reg = at(Regression, reg)?;
            let rep = at(Repro, rep)?;
            add(usage, reg.usage);
            add(usage, rep.usage);
            let execs = at(Execute, execute::run(cx, inst, &repairs, &reg, &rep).await)?;
            Ok(Some(at(Rerank, select::run(cx, inst, &repairs, &reg, &rep, &execs))?))
        }
        Scope::Stage(stage) => at(stage, run_stage(cx, inst, stage, usage).await),
    }
}

/// Run one stage for an instance, its inputs read from finished artifacts.
async fn run_stage(
    cx: &Cx,
    inst: &Instance,
    stage: StageId,
    usage: &mut Usage,
) -> Result<Option<RerankRecord>, StageError> {
    match stage {
        StageId::Localize => {
            let snap = snapshot(cx, inst).await?;
            let loc = localize::run(cx, inst, &snap).await?;
            loc.samples.iter().for_each(|s| add(usage, s.usage));
            Ok(None)
        }
        StageId::Repair => {
            let snap = snapshot(cx, inst).await?;
            let loc = localize::load(cx, inst)?;
            let repairs = repair::run(cx, inst, &snap, &loc).await?;
            repairs.samples.iter().for_each(|s| add(usage, s.usage));
            Ok(None)
        }
        StageId::Regression => {
            add(usage, regression::run(cx, inst).await?.usage);
            Ok(None)
        }
        StageId::Repro => {
            let snap = snapshot(cx, inst).await?;
            add(usage, repro::run(cx, inst, &snap).await?.usage);
            Ok(None)
        }
        StageId::Execute => {
            let repairs = repair::load(cx, inst)?;
            let (reg, rep) = tests_inputs_for_execute(cx, inst)?;
            execute::run(cx, inst, &repairs, &reg, &rep).await?;
            Ok(None)
        }
        StageId::Rerank => {
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
    let result = run_scope(cx, inst, scope, &mut usage).await;
    let (rerank, outcome) = match result {
        Ok(r) => (r, InstanceOutcome::Done),
        Err((_, e)) if e.is_cancelled() => (None, InstanceOutcome::Cancelled),
        Err((stage, e)) => {
            let error = Arc::new(e);
            cx.emit(Event::StageFinished {
                stage,
                instance: inst.instance_id.clone(),
                outcome: StageOutcome::Failed(error.clone()),
            });
            // A stage cut short by a cancel may fail in other ways (a container removed).
            let outcome = if cx.cancel.is_cancelled() {
                InstanceOutcome::Cancelled
            } else {
                InstanceOutcome::Failed { stage, error }
            };
            (None, outcome)
        }
    };
    InstanceReport {
        instance_id: inst.instance_id.clone(),
        rerank,
        usage,
        outcome,
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use agentless_harness::sandbox::CancellationToken;

    use super::*;
    use crate::pipeline::context::Settings;
    use crate::pipeline::events::Reporter;
    use crate::pipeline::localize::Locations;
    use crate::pipeline::repo::RepoCache;

    #[derive(Default)]
    struct Failures(Mutex<Vec<(StageId, Arc<StageError>)>>);

    impl Reporter for Failures {
        fn event(&self, event: &Event) {
            if let Event::StageFinished {
                stage,
                outcome: StageOutcome::Failed(e),
                ..
            } = event
            {
                self.0.lock().unwrap().push((*stage, e.clone()));
            }
        }
    }

    /// Regression: every failure of an `eval` run was once reported as a localize failure.
    /// Here localization succeeds (given locations) and the repair stage has no model: the
    /// instance fails in `repair`, with the typed error, and the event names the same stage.
    #[test]
    fn an_eval_failure_names_the_stage_it_happened_in() {
        let inst = crate::demo::instances().unwrap().remove(0);
        let tmp = tempfile::tempdir().unwrap();
        let mut settings = Settings::paper_defaults();
        let line = format!(
            "{{\"instance_id\": \"{}\", \"found_files\": [\"confparse/config.py\"]}}\n",
            inst.instance_id
        );
        settings.locations = Some(Arc::new(Locations::parse("given.jsonl", &line).unwrap()));
        let reporter = Arc::new(Failures::default());
        let cx = Cx {
            settings: Arc::new(settings),
            run_dir: RunDir::create(tmp.path().join("run")).unwrap(),
            llm: None,
            containers: None,
            repos: RepoCache::new(
                tmp.path().join("repos"),
                Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/repos")),
            ),
            reporter: reporter.clone(),
            cancel: CancellationToken::new(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let report = rt.block_on(run_instance(&cx, &inst, Scope::All));
        let Some((stage, error)) = report.failure() else {
            panic!("expected a failure: {:?}", report.outcome);
        };
        assert_eq!(stage, StageId::Repair);
        assert!(matches!(error, StageError::NoModel), "{error:?}");
        let events = reporter.0.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, StageId::Repair);
        assert!(report.rerank.is_none() && !report.is_done() && !report.is_cancelled());
    }
}
