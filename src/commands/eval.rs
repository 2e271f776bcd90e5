//! `agentless-mini eval`: the whole Agentless Mini pipeline — localize, repair, reproduction
//! and regression tests, execute, rerank — then `predictions.jsonl` and its evaluation. Also
//! the arguments, context set-up, progress bars and summary shared by the single-stage
//! commands (`localize`, `repair`, `gen-tests`, `select-regression`, `execute`, `rerank`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentless_harness::dataset::{Instance, ResolvedDataset};
use agentless_harness::evaluate::{EvalConfig, EvalOutcome, InstanceResult, RunProgress, RunSummary, run_evaluation};
use agentless_harness::grade::GradingMode;
use agentless_harness::images::{Arch, EnvSpecs, ImageOptions, Namespace};
use agentless_harness::integrity::run::{Flagged, IntegrityMode, hardened_run_report};
use agentless_harness::predictions::Prediction;
use agentless_harness::sandbox::{CancellationToken, DockerEnv, SandboxOptions};
use agentless_model::Usage;
use anyhow::Context as _;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Semaphore;

use crate::artifact::{RunDir, StageId, write_atomic};
use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::pipeline::context::{Containers, Cx, RegressionSettings, ReproSettings, Sampling, Settings};
use crate::pipeline::events::{Event, Reporter, StageOutcome};
use crate::pipeline::llm::{Llm, Thinking};
use crate::pipeline::repo::{RepoCache, default_repos_dir};
use crate::pipeline::run::{InstanceReport, Scope, run_all, write_predictions};
use crate::printer::Printer;
use crate::progress::{DownloadBar, bars_enabled};
use crate::reporting::json::{JsonSummary, JsonTarget, PipelineCounts};
use crate::status::StatusBoard;

/// Arguments every pipeline command takes.
#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The run directory (artifacts, predictions, evaluation). Re-running with the same
    /// directory resumes: finished work is reused, work whose inputs changed is redone.
    #[arg(long, default_value = "runs/default")]
    pub run_dir: PathBuf,
    /// Only shard I of K (0-based): instance j goes to shard j mod K, as upstream.
    #[arg(long, value_name = "I/K", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,

    #[command(flatten)]
    pub model: super::model_args::ModelArgs,
    /// `model_name_or_path` written in predictions.jsonl.
    #[arg(long, default_value = "agentless-mini")]
    pub model_name: String,
    /// Model requests in flight at once, over all instances (upstream default 64).
    #[arg(long, default_value_t = 64)]
    pub max_concurrent_requests: usize,
    /// Containers running at once, over all instances (default: 3/4 of the CPUs, at most 8).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Instances in progress at once.
    #[arg(long, default_value_t = 4)]
    pub instance_jobs: usize,

    /// Repair samples per instance (500 in the paper).
    #[arg(long, default_value_t = 500)]
    pub num_samples: usize,
    /// Sampling temperature of repair (1.0 in the paper).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 4096)]
    pub max_tokens: u32,
    /// Localization samples (default: --num-samples, as the reference's full-pipeline example).
    #[arg(long)]
    pub loc_samples: Option<usize>,
    /// Localization temperature (default: --temperature).
    #[arg(long)]
    pub loc_temperature: Option<f64>,
    /// Token budget of the file contents in a repair prompt.
    #[arg(long, default_value_t = 60_000)]
    pub max_input_tokens: usize,
    /// Base seed of randomized prompts and per-sample model seeds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The model thinks first: only the text between the answer tags is parsed.
    #[arg(long)]
    pub thinking: bool,
    #[arg(long, default_value = "<solution>")]
    pub answer_start_tag: String,
    #[arg(long, default_value = "</solution>")]
    pub answer_end_tag: String,

    /// No reproduction tests.
    #[arg(long)]
    pub no_repro: bool,
    /// Cap on generated reproduction-test samples (sample 1 greedy, the rest at
    /// --repro-temperature); generation stops earlier once --num-repro-tests reproduce.
    #[arg(long, default_value_t = 160)]
    pub repro_samples: usize,
    /// Reproduction-test samples per batch (Agentless generates 40 in all).
    #[arg(long, default_value_t = 40)]
    pub repro_batch: usize,
    /// Token budget of the predicted test file in the reproduction-test prompt.
    #[arg(long, default_value_t = crate::pipeline::context::DEFAULT_REPRO_CONTEXT_TOKENS)]
    pub repro_context_tokens: usize,
    /// The prompt set (TOML or .json; see README "Prompt sets"); default: the embedded one.
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
    /// Given locations (JSONL of {"instance_id", "found_files"}, as swe-rl's
    /// resources/*_gt_loc.jsonl): localization is skipped and these files are repaired.
    #[arg(long, value_name = "FILE")]
    pub locations: Option<PathBuf>,
    #[arg(long, default_value_t = 0.8)]
    pub repro_temperature: f64,
    /// Reproduction tests to find and keep after voting (30 in the paper).
    #[arg(long, default_value_t = 30)]
    pub num_repro_tests: usize,
    /// Seconds allowed for one reproduction-test run.
    #[arg(long, default_value_t = 600, value_parser = crate::limits::seconds)]
    pub repro_timeout: u64,
    /// No regression tests.
    #[arg(long)]
    pub no_regression: bool,
    /// Keep every passing test as a regression test (skip the model's filter).
    #[arg(long)]
    pub no_regression_filter: bool,
    /// Seconds allowed for one run of the regression tests.
    #[arg(long, default_value_t = 1800, value_parser = crate::limits::seconds)]
    pub timeout: u64,

    /// Mirror cache of the repositories (default ~/.cache/agentless-mini/repos).
    #[arg(long)]
    pub repos_dir: Option<PathBuf>,
    /// Folder of the demo split's repository trees (default datasets/demo/repos).
    #[arg(long)]
    pub demo_repos: Option<PathBuf>,
    /// Image namespace (as `evaluate --namespace`).
    #[arg(long)]
    pub namespace: Option<String>,
    #[arg(long, default_value = "latest")]
    pub instance_image_tag: String,
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Environment specs for local SWE-bench image builds and generated eval scripts.
    #[arg(long)]
    pub specs: Option<PathBuf>,
    /// Memory limit per container in GiB (0.01 to 1048576).
    #[arg(long, default_value_t = 8.0, value_parser = crate::limits::memory_gib)]
    pub memory_gib: f64,
    /// CPU limit per container (0.01 to 1024).
    #[arg(long, default_value_t = 2.0, value_parser = crate::limits::cpus)]
    pub cpus: f64,
    /// Limit on each container's writable layer, e.g. 10g (1m to 1024t).
    #[arg(long, default_value = "10g", value_parser = crate::limits::disk)]
    pub disk: u64,

    /// Price per million prompt tokens, for the cost summary.
    #[arg(long, default_value_t = 0.0)]
    pub price_per_mtok_in: f64,
    /// Price per million completion tokens.
    #[arg(long, default_value_t = 0.0)]
    pub price_per_mtok_out: f64,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, k) = s.split_once('/').ok_or_else(|| format!("expected I/K, got {s:?}"))?;
    let i: usize = i.trim().parse().map_err(|_| format!("bad shard index in {s:?}"))?;
    let k: usize = k.trim().parse().map_err(|_| format!("bad shard count in {s:?}"))?;
    if k == 0 || i >= k {
        return Err(format!("shard {s}: need 0 <= I < K"));
    }
    Ok((i, k))
}

/// `eval`'s own arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Write predictions.jsonl but do not evaluate them.
    #[arg(long)]
    pub no_evaluate: bool,
    /// The evaluation's run id (default: the run directory's name).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Grading rules of the evaluation: v4 or v5.
    #[arg(long, default_value = "v4")]
    pub grading: GradingMode,
    /// Seconds allowed for the evaluation's eval script per instance.
    #[arg(long, default_value_t = 1800, value_parser = crate::limits::seconds)]
    pub eval_timeout: u64,
    /// Also write the results as JUnit XML (one test case per instance, class = repository).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write a machine-readable summary (counts, paths, wall time, exit status) to FILE,
    /// or to stdout with `-` (the human summary then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Integrity findings of the evaluation, as `evaluate --integrity`: always written;
    /// `strict` also writes the hardened run report (flagged instances unresolved).
    #[arg(long, default_value = "report", value_name = "report|strict")]
    pub integrity: IntegrityMode,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
}

impl PipelineArgs {
    /// The settings that shape outputs (and keys).
    pub fn settings(&self) -> Settings {
        let mut s = Settings::paper_defaults();
        s.seed = self.seed;
        s.thinking = Thinking {
            enabled: self.thinking,
            start_tag: self.answer_start_tag.clone(),
            end_tag: self.answer_end_tag.clone(),
        };
        s.repair = Sampling {
            samples: self.num_samples.max(1),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
        };
        s.localize = Sampling {
            samples: self.loc_samples.unwrap_or(self.num_samples).max(1),
            temperature: self.loc_temperature.unwrap_or(self.temperature),
            max_tokens: self.max_tokens,
        };
        s.max_input_tokens = self.max_input_tokens;
        s.repro = ReproSettings {
            enabled: !self.no_repro,
            sampling: Sampling {
                samples: self.repro_samples.max(1),
                temperature: self.repro_temperature,
                max_tokens: self.max_tokens,
            },
            top_n: self.num_repro_tests,
            batch: self.repro_batch.max(1),
            context_tokens: self.repro_context_tokens,
            timeout_s: self.repro_timeout.max(1),
        };
        s.regression = RegressionSettings {
            enabled: !self.no_regression,
            filter_with_model: !self.no_regression_filter,
            max_tokens: self.max_tokens,
            timeout_s: self.timeout.max(1),
        };
        s.execute_timeout_s = self.timeout.max(1);
        s.model_name = self.model_name.clone();
        s
    }

    /// [`Self::settings`] with the prompt set and the given locations read from their files.
    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        let mut s = self.settings();
        if let Some(p) = &self.prompts {
            s.prompts = Arc::new(crate::pipeline::prompts::PromptSet::load(p)?);
        }
        if let Some(p) = &self.locations {
            let text = fs_err::read_to_string(p)?;
            let given = crate::pipeline::localize::Locations::parse(&p.display().to_string(), &text)
                .map_err(anyhow::Error::msg)?;
            s.locations = Some(Arc::new(given));
        }
        Ok(s)
    }

    pub fn demo_repos(&self) -> PathBuf {
        if let Some(d) = &self.demo_repos {
            return d.clone();
        }
        if let Some(file) = &self.dataset.dataset {
            let beside = file.parent().unwrap_or(Path::new(".")).join("repos");
            if beside.is_dir() {
                return beside;
            }
        }
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/repos");
        if built_in.is_dir() {
            return built_in;
        }
        PathBuf::from("datasets/demo/repos")
    }

    fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| (std::thread::available_parallelism().map_or(1, |n| n.get()) * 3 / 4).clamp(1, 8))
            .max(1)
    }
}

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

/// A bar over instances, with elapsed time and ETA.
const BAR_TEMPLATE: &str = "{prefix:>17} {bar:30} {pos}/{len} [{elapsed_precise}, ETA {eta}] {msg}";

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(BAR_TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Progress bars, one per stage over the instances (totals known up front), fed by pipeline
/// events.
pub struct Bars {
    multi: MultiProgress,
    bars: Vec<(StageId, ProgressBar)>,
    /// The final evaluation's bar, added once its size is known.
    evaluation: Mutex<Option<ProgressBar>>,
    notes: Mutex<Vec<String>>,
    printer: Printer,
    tokens: Mutex<HashMap<String, Usage>>,
    /// Plain status lines when stderr is not a terminal.
    pub status: StatusBoard,
}

impl Bars {
    /// Bars for `stages`, each over `instances` instances.
    pub fn new(global: &GlobalArgs, stages: &[StageId], instances: usize) -> Bars {
        let target = if bars_enabled(global) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let bars = stages
            .iter()
            .map(|&s| {
                let b = multi.add(ProgressBar::new(instances as u64));
                b.set_style(bar_style());
                b.set_prefix(s.command());
                (s, b)
            })
            .collect();
        Bars {
            multi,
            bars,
            evaluation: Mutex::default(),
            notes: Mutex::default(),
            printer: Printer::new(global),
            tokens: Mutex::default(),
            status: StatusBoard::start(
                global,
                &stages.iter().map(|s| (s.command(), instances)).collect::<Vec<_>>(),
            ),
        }
    }

    fn bar(&self, stage: StageId) -> Option<&ProgressBar> {
        self.bars.iter().find(|(s, _)| *s == stage).map(|(_, b)| b)
    }

    /// A stage bar's message: its units (samples, tests, candidates) while it runs, and the
    /// tokens so far on the first bar.
    fn refresh_units(&self, stage: StageId) {
        let Some(b) = self.bar(stage) else { return };
        let mut msg = self
            .status
            .phase(stage.command())
            .filter(|p| p.units_total > 0)
            .map(|p| format!("{}/{} units", p.units_done, p.units_total))
            .unwrap_or_default();
        if self.bars.first().is_some_and(|(s, _)| *s == stage) {
            let t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            let total: u64 = t.values().map(|u| u.prompt_tokens + u.completion_tokens).sum();
            if total > 0 {
                msg = format!("{msg} · {total} tokens");
            }
        }
        b.set_message(msg);
    }

    /// Starts the final evaluation's bar over `total` instances.
    pub fn start_evaluation(&self, total: usize) {
        let b = self.multi.add(ProgressBar::new(total as u64));
        b.set_style(bar_style());
        b.set_prefix("evaluate");
        *self.evaluation.lock().unwrap_or_else(|p| p.into_inner()) = Some(b);
        self.status.add_phase("evaluate", total);
    }

    /// One instance of the final evaluation finished.
    pub fn evaluated(&self, resolved: bool) {
        if resolved {
            self.status.resolved("evaluate");
        }
        self.status.instance_done("evaluate");
        if let Some(b) = self.evaluation.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.inc(1);
            if let Some(p) = self.status.phase("evaluate") {
                b.set_message(format!("{} resolved", p.resolved.unwrap_or(0)));
            }
        }
    }

    pub fn finish(&self) {
        for (_, b) in &self.bars {
            b.finish_and_clear();
        }
        if let Some(b) = self.evaluation.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Reporter for Bars {
    fn event(&self, event: &Event) {
        match event {
            Event::StageStarted {
                stage, reused, todo, ..
            } => {
                self.status.units_planned(stage.command(), *reused, *todo);
                self.refresh_units(*stage);
            }
            Event::UnitDone { stage, .. } => {
                self.status.unit_done(stage.command());
                self.refresh_units(*stage);
            }
            Event::ModelCall { instance, usage, .. } => {
                {
                    let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
                    let e = t.entry(instance.clone()).or_default();
                    e.prompt_tokens += usage.prompt_tokens;
                    e.completion_tokens += usage.completion_tokens;
                }
                if let Some((s, _)) = self.bars.first() {
                    self.refresh_units(*s);
                }
            }
            Event::StageFinished { stage, outcome, .. } => {
                self.status.instance_done(stage.command());
                if let Some(b) = self.bar(*stage) {
                    b.inc(1);
                    if let StageOutcome::Skipped(why) = outcome {
                        b.set_message(format!("skipped ({why})"));
                    }
                }
            }
            Event::Warning { instance, message } => {
                let line = format!("{instance}: {message}");
                self.multi.suspend(|| self.printer.warn(&line));
                self.notes.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
            Event::Note { instance, message } => {
                let line = format!("{instance}: {message}");
                self.multi.suspend(|| self.printer.note(&line));
                self.notes.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        }
    }
}

/// Cancel on Ctrl-C or SIGTERM: running containers are removed, finished work is kept.
fn cancel_on_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                let _ = tokio::signal::ctrl_c().await;
                cancel.cancel();
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::warn!("interrupted: stopping; finished work is kept");
        cancel.cancel();
    });
}

/// Everything a command needs to run pipeline stages.
pub struct Prepared {
    pub cx: Cx,
    pub instances: Vec<Instance>,
    pub bars: Arc<Bars>,
    /// The container settings from the flags, also for the final evaluation when the
    /// pipeline itself runs no container.
    pub images: ImageOptions,
    pub sandbox: SandboxOptions,
}

/// Image and sandbox settings from the container flags (the specs file is read here, so a
/// bad `--specs` fails before any work).
fn container_options(args: &PipelineArgs) -> anyhow::Result<(ImageOptions, SandboxOptions)> {
    let specs = match &args.specs {
        Some(p) => Some(Arc::new(EnvSpecs::load(p)?)),
        None => None,
    };
    let mut sandbox = SandboxOptions::new(run_id_of(&args.run_dir));
    sandbox.memory_bytes = Some((args.memory_gib * (1u64 << 30) as f64) as i64);
    sandbox.cpus = Some(args.cpus);
    sandbox.disk_bytes = Some(args.disk);
    sandbox.shard = crate::cluster::task::shard_label();
    let images = ImageOptions {
        namespace: Namespace::from_arg(args.namespace.as_deref()),
        tag: args.instance_image_tag.clone(),
        arch: args.arch.unwrap_or_else(Arch::host),
        specs,
        demo_repos: Some(args.demo_repos()),
        force_rebuild: false,
    };
    Ok((images, sandbox))
}

/// What `run.json` records of the dataset: for a hub dataset its repository, revision, commit
/// and the parquet's sha256; otherwise the split name or the file.
fn dataset_record(args: &DatasetArgs, source: Option<&ResolvedDataset>) -> serde_json::Value {
    match source {
        Some(s) => serde_json::json!({
            "repo": s.repo,
            "split": args.split.as_deref().filter(|s| *s == "dev").unwrap_or("test"),
            "revision": s.revision,
            "commit": s.commit,
            "sha256": s.sha256,
        }),
        None => serde_json::json!({
            "split": args.split,
            "file": args.dataset,
        }),
    }
}

/// Load the dataset, apply the shard, open the run directory, the model and the engine.
pub async fn prepare(args: &PipelineArgs, global: &GlobalArgs, scope: Scope) -> anyhow::Result<Option<Prepared>> {
    let download = DownloadBar::new(global);
    let (mut instances, source) = super::load_instances_with_source(&args.dataset, &download).await?;
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
        Some(Llm::new(model, args.max_concurrent_requests, cancel.clone()))
    } else {
        None
    };
    let (images, sandbox) = container_options(args)?;
    let containers = if need_docker {
        Some(Containers {
            env: DockerEnv::connect().await?,
            slots: Arc::new(Semaphore::new(args.workers())),
            images: images.clone(),
            run_id: sandbox.run_id.clone(),
            sandbox: sandbox.clone(),
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
        Some(args.demo_repos()),
    );
    let settings_json = serde_json::json!({
        "settings": &settings,
        "model": args.model.model,
        "instances": instances.iter().map(|i| i.instance_id.as_str()).collect::<Vec<_>>(),
        "shard": args.shard,
        "version": env!("CARGO_PKG_VERSION"),
        "dataset": dataset_record(&args.dataset, source.as_ref()),
        "prompts": {
            "file": args.prompts,
            "name": settings.prompts.name,
            "fingerprint": settings.prompts.fingerprint(),
            "default": settings.prompts.is_default(),
        },
        "locations": settings.locations.as_ref().map(|l| serde_json::json!({"file": l.path, "sha256": l.sha256})),
    });
    write_atomic(
        &run_dir.settings_file(),
        serde_json::to_string_pretty(&settings_json)?.as_bytes(),
    )?;
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
        images,
        sandbox,
    }))
}

/// A run id from the run directory's name (letters, digits, `-`, `_`, `.`).
pub(crate) fn run_id_of(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with('.') {
        format!("run{id}")
    } else {
        id
    }
}

/// Tokens and cost per instance, written to `usage.json` and summarized.
fn write_usage(args: &PipelineArgs, run_dir: &RunDir, reports: &[InstanceReport]) -> anyhow::Result<(u64, u64, f64)> {
    let cost = |u: &Usage| {
        u.prompt_tokens as f64 * args.price_per_mtok_in / 1e6
            + u.completion_tokens as f64 * args.price_per_mtok_out / 1e6
    };
    let mut per: serde_json::Map<String, serde_json::Value> = match fs_err::read_to_string(run_dir.usage_file()) {
        Ok(t) => serde_json::from_str::<serde_json::Value>(&t)
            .ok()
            .and_then(|v| v.get("instances").and_then(|i| i.as_object().cloned()))
            .unwrap_or_default(),
        Err(_) => Default::default(),
    };
    for r in reports {
        let entry = per
            .entry(r.instance_id.clone())
            .or_insert_with(|| serde_json::json!({}));
        if let Some(obj) = entry.as_object_mut() {
            let prev_in = obj.get("prompt_tokens").and_then(|v| v.as_u64()).unwrap_or(0);
            let prev_out = obj.get("completion_tokens").and_then(|v| v.as_u64()).unwrap_or(0);
            // A stage command reports only its stage's tokens: keep the larger total seen.
            let u = Usage {
                prompt_tokens: prev_in.max(r.usage.prompt_tokens),
                completion_tokens: prev_out.max(r.usage.completion_tokens),
            };
            obj.insert("prompt_tokens".into(), u.prompt_tokens.into());
            obj.insert("completion_tokens".into(), u.completion_tokens.into());
            obj.insert("cost".into(), serde_json::json!(cost(&u)));
        }
    }
    let (mut tin, mut tout) = (0u64, 0u64);
    for r in reports {
        tin += r.usage.prompt_tokens;
        tout += r.usage.completion_tokens;
    }
    let total_cost = cost(&Usage {
        prompt_tokens: tin,
        completion_tokens: tout,
    });
    let doc = serde_json::json!({
        "price_per_mtok_in": args.price_per_mtok_in,
        "price_per_mtok_out": args.price_per_mtok_out,
        "instances": per,
    });
    write_atomic(&run_dir.usage_file(), serde_json::to_string_pretty(&doc)?.as_bytes())?;
    Ok((tin, tout, total_cost))
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
    let failed: Vec<&InstanceReport> = reports.iter().filter(|r| r.error.is_some() && !r.cancelled).collect();
    for r in &failed {
        let stage = r.failed_stage.map(|s| format!("{s} failed: ")).unwrap_or_default();
        printer.warn(&format!(
            "{}: {stage}{}",
            r.instance_id,
            r.error.as_deref().unwrap_or("")
        ));
    }
    let cancelled = reports.iter().any(|r| r.cancelled) || prepared.cx.cancel.is_cancelled();
    let done = reports.len() - failed.len() - reports.iter().filter(|r| r.cancelled).count();
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

pub async fn run(args: &EvalArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    if args.cluster.is_slurm() {
        return crate::cluster::submit_eval(args, global).await;
    }
    let started = std::time::Instant::now();
    let json = args.json.as_deref().map(JsonTarget::parse);
    if json.as_ref().is_some_and(JsonTarget::uses_stdout) {
        crate::printer::summaries_to_stderr();
    }
    let run_id = args.run_id.clone().unwrap_or_else(|| run_id_of(&args.pipeline.run_dir));
    let mut out = JsonSummary::new("eval", &run_id);
    out.paths.run_dir = Some(args.pipeline.run_dir.clone());
    let status = eval(args, global, &mut out).await?;
    if let Some(target) = &json {
        out.finish(status, started.elapsed());
        super::emit_json_summary(target, &out, &Printer::new(global))?;
    }
    Ok(status)
}

/// The pipeline's counts for `--json`.
fn pipeline_counts(reports: &[InstanceReport], predictions: &[Prediction]) -> PipelineCounts {
    let cancelled = reports.iter().filter(|r| r.cancelled).count();
    let failed = reports.iter().filter(|r| r.error.is_some() && !r.cancelled).count();
    PipelineCounts {
        instances: reports.len(),
        done: reports.len() - failed - cancelled,
        failed,
        cancelled,
        predictions: predictions.len(),
        non_empty_predictions: predictions.iter().filter(|p| !p.is_empty()).count(),
        prompt_tokens: reports.iter().map(|r| r.usage.prompt_tokens).sum(),
        completion_tokens: reports.iter().map(|r| r.usage.completion_tokens).sum(),
    }
}

async fn eval(args: &EvalArgs, global: &GlobalArgs, out: &mut JsonSummary) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let (status, done) = run_scope(&args.pipeline, global, Scope::All).await?;
    let Some((prepared, reports)) = done else {
        return Ok(status);
    };
    if status == ExitStatus::Interrupted {
        out.pipeline = Some(pipeline_counts(&reports, &[]));
        return Ok(status);
    }
    let predictions = write_predictions(&prepared.cx.run_dir, &args.pipeline.model_name, &reports)?;
    out.pipeline = Some(pipeline_counts(&reports, &predictions));
    out.paths.predictions = Some(prepared.cx.run_dir.predictions_file());
    for r in &reports {
        if let Some(rr) = &r.rerank {
            printer.note(&format!(
                "{}: sample {:?} of {} ({} candidates, {:?}, {} votes)",
                r.instance_id, rr.selected_sample, rr.samples, rr.candidates, rr.filter, rr.votes
            ));
        }
    }
    printer.summary(&format!(
        "{} predictions ({} non-empty) in {}",
        predictions.len(),
        predictions.iter().filter(|p| !p.is_empty()).count(),
        prepared.cx.run_dir.predictions_file().display()
    ));
    if args.no_evaluate || predictions.is_empty() {
        return Ok(status);
    }
    let env = match &prepared.cx.containers {
        Some(c) => c.env.clone(),
        None => DockerEnv::connect().await?,
    };
    let run_id = args.run_id.clone().unwrap_or_else(|| run_id_of(&args.pipeline.run_dir));
    let mut cfg = EvalConfig::new(run_id.clone());
    cfg.log_root = prepared.cx.run_dir.evaluation_log_root();
    cfg.timeout = Duration::from_secs(args.eval_timeout.max(1));
    cfg.grading = args.grading;
    cfg.integrity = args.integrity;
    cfg.workers = args.pipeline.workers();
    cfg.images = prepared.images.clone();
    cfg.sandbox = prepared.sandbox.clone();
    cfg.sandbox.run_id = run_id.clone();
    let evaluated: Vec<Instance> = prepared
        .instances
        .iter()
        .filter(|i| predictions.iter().any(|p| p.instance_id == i.instance_id))
        .cloned()
        .collect();
    let evaluation_started = std::time::SystemTime::now();
    let summary = run_evaluation(
        &env,
        &evaluated,
        &predictions,
        &cfg,
        prepared.cx.run_dir.files_dir(),
        &EvalStatus(&prepared.bars),
        &prepared.cx.cancel,
    )
    .await;
    prepared.bars.finish();
    let summary = summary?;
    if let (Some(path), Some(report)) = (&args.junit, &summary.report) {
        let details = crate::reporting::junit::JunitDetails::from_results(&run_id, &summary.results)
            .strict(args.integrity == IntegrityMode::Strict)
            .started_at(evaluation_started);
        crate::reporting::junit::write_junit(path, report, &details)?;
        out.paths.junit = Some(path.clone());
    }
    out.evaluation = Some(super::evaluate::evaluation_counts(&summary));
    out.paths.report = summary.report_path.clone();
    out.paths.hardened_report = summary.hardened_report_path.clone();
    out.paths.logs = Some(cfg.log_root.clone());
    for r in &summary.results {
        if let Some(i) = r.integrity.as_ref().filter(|i| i.flagged) {
            let kinds: Vec<String> = i.flagging_kinds().iter().map(ToString::to_string).collect();
            printer.warn(&format!(
                "evaluation of {}: flagged by integrity checks ({})",
                r.instance_id,
                kinds.join(", ")
            ));
        }
    }
    let resolved = summary
        .results
        .iter()
        .filter(|r| r.outcome == EvalOutcome::Resolved)
        .count();
    // Model failures (does not apply, refused, timed out, disk limit) are unresolved results;
    // only the harness's own failures make the exit code 3 (see crate::exit).
    let errors = summary
        .results
        .iter()
        .filter(|r| matches!(&r.outcome, EvalOutcome::Error(e) if !e.is_model_failure()))
        .count();
    for r in &summary.results {
        if let EvalOutcome::Error(e) = &r.outcome {
            let what = if e.is_model_failure() { "unresolved" } else { "error" };
            printer.warn(&format!("evaluation of {}: {what}: {e}", r.instance_id));
        }
    }
    printer.summary(&format!(
        "evaluation: {resolved}/{} resolved, {errors} harness errors{}",
        evaluated.len(),
        summary
            .report_path
            .as_ref()
            .map(|p| format!("; report {}", p.display()))
            .unwrap_or_default()
    ));
    print_hardened(&printer, &summary);
    if summary.interrupted {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(if errors > 0 && status == ExitStatus::Success {
        ExitStatus::PartialErrors
    } else {
        status
    })
}

/// The final evaluation's progress: its bar and the `evaluate` phase of the status lines.
struct EvalStatus<'a>(&'a Bars);

impl RunProgress for EvalStatus<'_> {
    fn planned(&self, total: usize) {
        self.0.start_evaluation(total);
    }
    fn finished(&self, r: &InstanceResult) {
        if r.outcome == EvalOutcome::EmptyPatch {
            return; // not among the planned ones
        }
        self.0.evaluated(r.outcome == EvalOutcome::Resolved);
    }
}

/// Where the hardened run report of `--integrity strict` is, and what it counts.
pub(crate) fn print_hardened(printer: &Printer, summary: &RunSummary) {
    let (Some(path), Some(report)) = (&summary.hardened_report_path, &summary.report) else {
        return;
    };
    let flagged = Flagged {
        ids: summary.flagged_ids.iter().cloned().collect(),
    };
    let h = hardened_run_report(report, &flagged);
    printer.summary(&format!(
        "hardened report (--integrity strict, {} flagged count as unresolved): {}/{} resolved — {}",
        flagged.ids.len(),
        h.resolved_instances,
        h.total_instances,
        path.display()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!(parse_shard("0/4"), Ok((0, 4)));
        assert_eq!(parse_shard("3/4"), Ok((3, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
        assert!(parse_shard("x").is_err());
    }

    #[test]
    fn bar_template_parses() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }

    #[test]
    fn run_ids() {
        assert_eq!(run_id_of(Path::new("runs/demo run")), "demo-run");
        assert_eq!(run_id_of(Path::new("/")), "run");
    }
}
