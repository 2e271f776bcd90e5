//! Setting up and running a scope of the pipeline, shared by `eval` and the stage commands:
//! load and shard the dataset, resolve the settings and the container flags, open the run
//! directory, the model and the engine, record `run.json`, run, and summarize.

use std::sync::Arc;

use agentless_harness::dataset::{Instance, ResolvedDataset};
use agentless_harness::sandbox::{CancellationToken, DockerEnv};
use anyhow::Context as _;
use tokio::sync::Semaphore;

use super::args::PipelineArgs;
use super::identity::run_id_of;
use super::usage::write_usage;
use crate::artifact::manifest::{DatasetRecord, LocationsRecord, PromptsRecord};
use crate::artifact::{MANIFEST_FORMAT_VERSION, RunDir, RunManifest, StageId};
use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::pipeline::context::{Containers, Cx, Settings, StageError};
use crate::pipeline::llm::Llm;
use crate::pipeline::repo::{RepoCache, default_repos_dir};
use crate::pipeline::run::{InstanceReport, Scope, run_all};
use crate::printer::Printer;
use crate::progress::DownloadBar;
use crate::progress::stages::Bars;
use crate::settings::ContainerSettings;
use crate::signals::cancel_on_signals;

/// Which services a scope needs.
fn needs(scope: Scope, s: &Settings) -> (bool, bool) {
    let tests = s.repro.enabled || s.regression.enabled;
    match scope {
        Scope::All => (true, tests),
        Scope::Stage(StageId::Localize | StageId::Repair) => (true, false),
        Scope::Stage(StageId::Regression) => (
            s.regression.enabled && s.regression.filter_with_model,
            s.regression.enabled,
        ),
        Scope::Stage(StageId::Repro) => (s.repro.enabled, s.repro.enabled),
        Scope::Stage(StageId::Execute) => (false, tests),
        Scope::Stage(StageId::Rerank) => (false, false),
    }
}

/// Everything a command needs to run pipeline stages.
pub struct Prepared {
    pub cx: Cx,
    pub instances: Vec<Instance>,
    pub bars: Arc<Bars>,
    /// The container flags, resolved once: for the pipeline's containers and for the final
    /// evaluation alike, even when the pipeline itself runs no container.
    pub containers: ContainerSettings,
}

/// What `run.json` records of the dataset: for a hub dataset its repository, revision, commit
/// and the parquet's sha256; otherwise the split name or the file.
fn dataset_record(args: &DatasetArgs, source: Option<&ResolvedDataset>) -> DatasetRecord {
    match source {
        Some(s) => DatasetRecord {
            repo: Some(s.repo.clone()),
            split: Some(
                args.split
                    .as_deref()
                    .filter(|s| *s == "dev")
                    .unwrap_or("test")
                    .to_owned(),
            ),
            revision: Some(s.revision.clone()),
            commit: s.commit.clone(),
            sha256: Some(s.sha256.clone()),
            file: None,
        },
        None => DatasetRecord {
            split: args.split.clone(),
            file: args.dataset.clone(),
            ..DatasetRecord::default()
        },
    }
}

/// Load the dataset, apply the shard, open the run directory, the model and the engine.
pub async fn prepare(args: &PipelineArgs, global: &GlobalArgs, scope: Scope) -> anyhow::Result<Option<Prepared>> {
    let download = DownloadBar::new(global);
    let (mut instances, source) = crate::commands::load_instances_with_source(&args.dataset, &download).await?;
    if let Some((i, k)) = args.shard {
        instances = instances
            .into_iter()
            .enumerate()
            .filter(|(j, _)| j % k == i)
            .map(|(_, x)| x)
            .collect();
    }
    if instances.is_empty() {
        return Ok(None);
    }
    let mut settings = args.load_settings()?;
    let (need_model, need_docker) = needs(scope, &settings);
    // Before any work: a bad container flag (a missing --specs file) is refused here.
    let container_settings = args.containers.resolve(
        &run_id_of(&args.run_dir),
        args.dataset.dataset.as_deref().filter(|d| d.is_file()),
        &instances,
    )?;
    let run_dir = RunDir::create(&args.run_dir)?;
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let llm = if need_model {
        let model = args
            .model
            .open(global)
            .await
            .with_context(|| format!("opening the model {}", args.model.model))?;
        settings.tokens = crate::pipeline::context::TokenCounter::of_model(model.clone());
        Some(Llm::new(
            model,
            args.model.max_concurrent_requests.max(1),
            cancel.clone(),
        ))
    } else {
        None
    };
    let containers = if need_docker {
        Some(Containers {
            env: DockerEnv::connect().await?,
            slots: Arc::new(Semaphore::new(container_settings.workers)),
            images: container_settings.images.clone(),
            run_id: container_settings.sandbox.run_id.clone(),
            sandbox: container_settings.sandbox.clone(),
        })
    } else {
        None
    };
    let stages: Vec<StageId> = match scope {
        Scope::All => StageId::ALL.to_vec(),
        Scope::Stage(s) => vec![s],
    };
    let bars = Arc::new(Bars::new(global, &stages, instances.len()));
    let repos = RepoCache::new(
        args.repos_dir.clone().unwrap_or_else(default_repos_dir),
        container_settings.images.demo_repos.clone(),
    );
    let manifest = RunManifest {
        format_version: MANIFEST_FORMAT_VERSION,
        settings: serde_json::to_value(&settings)?,
        model: Some(args.model.model.clone()),
        instances: instances.iter().map(|i| i.instance_id.clone()).collect(),
        shard: args.shard,
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        dataset: dataset_record(&args.dataset, source.as_ref()),
        prompts: Some(PromptsRecord {
            file: args.prompts.clone(),
            name: settings.prompts.name.clone(),
            fingerprint: settings.prompts.fingerprint(),
            default: settings.prompts.is_default(),
        }),
        locations: settings.locations.as_ref().map(|l| LocationsRecord {
            file: l.path.clone().into(),
            sha256: l.sha256.clone(),
        }),
    };
    run_dir.write_manifest(&manifest)?;
    let cx = Cx {
        settings: Arc::new(settings),
        run_dir,
        llm,
        containers,
        repos,
        reporter: bars.clone(),
        cancel,
    };
    Ok(Some(Prepared {
        cx,
        instances,
        bars,
        containers: container_settings,
    }))
}

/// Run a scope over the selected instances and summarize; shared by every pipeline command.
pub async fn run_scope(
    args: &PipelineArgs,
    global: &GlobalArgs,
    scope: Scope,
) -> anyhow::Result<(ExitStatus, Option<(Prepared, Vec<InstanceReport>)>)> {
    let printer = Printer::new(global);
    let Some(prepared) = prepare(args, global, scope).await? else {
        printer.warn("no instance selected");
        return Ok((ExitStatus::NothingSelected, None));
    };
    let reports = run_all(&prepared.cx, &prepared.instances, scope, args.instance_jobs).await;
    prepared.bars.finish();
    if let Some(c) = &prepared.cx.containers {
        let (_, errors) = c.env.remove_tracked().await;
        for e in errors {
            printer.warn(&format!("removing a container: {e}"));
        }
    }
    let (tin, tout, cost) = write_usage(args, &prepared.cx.run_dir, &reports)?;
    let failed: Vec<(&str, StageId, &StageError)> = reports
        .iter()
        .filter_map(|r| r.failure().map(|(stage, e)| (r.instance_id.as_str(), stage, e)))
        .collect();
    for (id, stage, error) in &failed {
        printer.warn(&format!("{id}: {stage} failed: {error}"));
    }
    let cancelled = reports.iter().any(InstanceReport::is_cancelled) || prepared.cx.cancel.is_cancelled();
    let done = reports.iter().filter(|r| r.is_done()).count();
    let stage = match scope {
        Scope::All => "eval".to_owned(),
        Scope::Stage(s) => s.command().to_owned(),
    };
    printer.summary(&format!(
        "{stage}: {done}/{} instances done, {} failed; {tin} prompt + {tout} completion tokens (cost {cost:.4}); artifacts in {}",
        reports.len(),
        failed.len(),
        prepared.cx.run_dir.root().display()
    ));
    let status = if cancelled {
        printer.summary("interrupted: finished work is kept; run the same command again to resume");
        ExitStatus::Interrupted
    } else if failed.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::PartialErrors
    };
    Ok((status, Some((prepared, reports))))
}
