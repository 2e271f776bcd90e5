//! `agentless-mini evaluate`: run predictions in Docker and judge them as the official
//! SWE-bench harness does — same log folder, same `report.json`, same run report — with a
//! progress bar, resume by run id, and every container removed on Ctrl-C / SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentless_harness::dataset::{self as ds, Instance};
use agentless_harness::evaluate::{
    EvalConfig, EvalError, EvalOutcome, InstanceResult, NetworkPolicy, RunProgress, RunSummary, run_evaluation,
};
use agentless_harness::grade::GradingMode;
use agentless_harness::images::{Arch, EnvSpecs, ImageOptions, Namespace};
use agentless_harness::integrity::run::IntegrityMode;
use agentless_harness::predictions::{Prediction, gold_predictions, load_predictions};
use agentless_harness::sandbox::{CancellationToken, DockerEnv};
use anyhow::Context as _;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::{DownloadBar, bars_enabled};
use crate::reporting::json::{EvaluationCounts, JsonSummary, JsonTarget};
use crate::status::StatusBoard;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predictions file (JSONL, a JSON list, or a JSON object keyed by instance id), or
    /// `gold` for the dataset's own patches.
    #[arg(long)]
    pub predictions: String,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Names the run: log folder, container label, report file. Re-running with the same id
    /// skips instances finished with the same inputs.
    #[arg(long)]
    pub run_id: String,
    /// Instances evaluated at once (default: 3/4 of the CPUs, at most 8).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seconds allowed for each instance's eval script (the official --timeout; 1 to 604800).
    #[arg(long, default_value_t = 1800, value_parser = crate::limits::seconds)]
    pub timeout: u64,
    /// Grading rules: v4 (swebench 4.1.0) or v5 (5.x, stricter).
    #[arg(long, default_value = "v4")]
    pub grading: GradingMode,
    /// Image namespace: `swebench` pulls official images; an empty value (or `none`) uses
    /// local names and builds missing images; `host:port/ns` pulls from that registry.
    /// Default: `swebench` for SWE-bench instances, local builds for the demo split.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Instance image tag.
    #[arg(long, default_value = "latest")]
    pub instance_image_tag: String,
    /// Image architecture (x86_64 or arm64; default: the host's).
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Environment specs (JSON: repo → version → spec) for local SWE-bench image builds and
    /// for generating eval scripts when the dataset has no `eval_script` column.
    #[arg(long)]
    pub specs: Option<PathBuf>,
    /// Folder of the demo split's repository trees (default: datasets/demo/repos, or
    /// `repos/` beside a --dataset file).
    #[arg(long)]
    pub demo_repos: Option<PathBuf>,
    /// Rebuild locally built instance images even when they exist.
    #[arg(long)]
    pub force_rebuild: bool,
    /// Network policy. Default `install`: the eval script's steps before the test command
    /// (the package re-install) get the `bridge` network, as the official harness gives
    /// them; the tests run with none. `none`: no network at all (re-installs that need the
    /// package index fail; reported as the `reinstall_failed` finding). Any other value (a
    /// Docker network mode; `--network` alone means `bridge`): that network for the whole run.
    #[arg(long, num_args = 0..=1, default_value = "install", default_missing_value = "bridge")]
    pub network: String,
    /// Memory limit per container (e.g. 8g, 512m; 6m to 1024t).
    #[arg(long, default_value = "8g", value_parser = crate::limits::memory)]
    pub memory: u64,
    /// CPU limit per container (0.01 to 1024).
    #[arg(long, default_value_t = 2.0, value_parser = crate::limits::cpus)]
    pub cpus: f64,
    /// Process limit per container (1 to 4194304).
    #[arg(long, default_value_t = 4096, value_parser = crate::limits::pids)]
    pub pids_limit: i64,
    /// Limit on each container's writable layer (e.g. 10g; 1m to 1024t). At the limit the
    /// container is removed and the instance counts as unresolved (disk limit).
    #[arg(long, default_value = "10g", value_parser = crate::limits::disk)]
    pub disk: u64,
    /// Cap on the captured test output per instance (head and tail are kept), e.g. 64m (1k to 1t).
    #[arg(long, default_value = "64m", value_parser = crate::limits::size_in(1 << 10, 1 << 40))]
    pub max_output: u64,
    /// Where to write the run report `<model>.<run_id>.json`.
    #[arg(long, default_value = ".")]
    pub report_dir: PathBuf,
    /// Also write the results as JUnit XML (one test case per instance, class = repository).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write a machine-readable summary (counts, paths, wall time, exit status) to FILE,
    /// or to stdout with `-` (the human summary then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Integrity findings are always written beside the official verdicts; `strict` also
    /// writes the hardened run report `<model>.<run_id>.hardened.json`, where flagged
    /// instances count as unresolved (the official report is unchanged).
    #[arg(long, default_value = "report", value_name = "report|strict")]
    pub integrity: IntegrityMode,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
}

fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus * 3 / 4).clamp(1, 8)
}

/// Counts shown on the bar and in the summary.
#[derive(Default)]
struct Counts {
    resolved: AtomicUsize,
    unresolved: AtomicUsize,
    errors: AtomicUsize,
    resumed: AtomicUsize,
    /// Unresolved because the patch failed (does not apply, refused, timed out, disk limit).
    model_failures: AtomicUsize,
}

/// The progress bar: one bar with resolved / unresolved / error counts, and a status line
/// for image pulls and builds.
struct Bars {
    main: ProgressBar,
    images: ProgressBar,
    counts: Counts,
    printer: Printer,
    /// Plain status lines when stderr is not a terminal.
    status: StatusBoard,
}

impl Bars {
    fn new(global: &GlobalArgs) -> Self {
        let multi = MultiProgress::with_draw_target(if bars_enabled(global) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let main = multi.add(ProgressBar::new(0));
        main.set_style(
            ProgressStyle::with_template("{spinner} evaluating {pos}/{len} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        main.enable_steady_tick(Duration::from_millis(200));
        let images = multi.add(ProgressBar::new_spinner());
        images.set_style(ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        Bars {
            main,
            images,
            counts: Counts::default(),
            printer: Printer::new(global),
            status: StatusBoard::start(global, &[]),
        }
    }

    fn refresh(&self) {
        let c = &self.counts;
        self.main.set_message(format!(
            "✓ {} resolved  ✖ {} unresolved  ! {} error",
            c.resolved.load(Ordering::Relaxed),
            c.unresolved.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed)
        ));
    }

    fn finish(&self) {
        self.images.finish_and_clear();
        self.main.finish_and_clear();
    }
}

fn short(s: &str, n: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

impl RunProgress for Bars {
    fn planned(&self, total: usize) {
        self.main.set_length(total as u64);
        self.status.add_phase("evaluate", total);
        self.refresh();
    }
    fn finished(&self, r: &InstanceResult) {
        let c = &self.counts;
        match &r.outcome {
            EvalOutcome::EmptyPatch => return,
            EvalOutcome::Resolved => c.resolved.fetch_add(1, Ordering::Relaxed),
            EvalOutcome::Unresolved => c.unresolved.fetch_add(1, Ordering::Relaxed),
            EvalOutcome::Error(EvalError::Cancelled) => 0,
            // Model failures are ordinary unresolved results (see crate::exit).
            EvalOutcome::Error(e) if e.is_model_failure() => {
                c.model_failures.fetch_add(1, Ordering::Relaxed);
                c.unresolved.fetch_add(1, Ordering::Relaxed)
            }
            EvalOutcome::Error(_) => c.errors.fetch_add(1, Ordering::Relaxed),
        };
        if r.outcome == EvalOutcome::Resolved {
            self.status.resolved("evaluate");
        }
        self.status.instance_done("evaluate");
        if r.resumed {
            c.resumed.fetch_add(1, Ordering::Relaxed);
        }
        self.main.inc(1);
        self.refresh();
        if !matches!(r.outcome, EvalOutcome::Error(EvalError::Cancelled)) {
            self.main.suspend(|| {
                self.printer.note(&format!(
                    "{}: {}{} ({:.1} s, tests {:.1} s)",
                    r.instance_id,
                    describe(&r.outcome),
                    if r.resumed { " (resumed)" } else { "" },
                    r.timings.total.as_secs_f64(),
                    r.timings.tests.as_secs_f64()
                ));
            });
        }
    }
    fn image_status(&self, image: &str, message: &str) {
        self.images.set_message(format!("{image}: {}", short(message, 90)));
    }
    fn image_bytes(&self, image: &str, done: u64, total: u64) {
        self.images.set_message(format!(
            "{image}: pulling {:.1}/{:.1} MB",
            done as f64 / 1e6,
            total as f64 / 1e6
        ));
    }
}

fn describe(o: &EvalOutcome) -> String {
    match o {
        EvalOutcome::Resolved => "resolved".into(),
        EvalOutcome::Unresolved => "unresolved".into(),
        EvalOutcome::EmptyPatch => "empty patch (not run)".into(),
        EvalOutcome::Error(e) if e.is_model_failure() => format!("unresolved: {e}"),
        EvalOutcome::Error(e) => format!("error: {e}"),
    }
}

/// Load the whole dataset (to check prediction ids) and the selection.
async fn load(args: &DatasetArgs, global: &GlobalArgs) -> anyhow::Result<(Vec<Instance>, Vec<Instance>)> {
    let bar = DownloadBar::new(global);
    let mut all = args.clone();
    all.instances.clear();
    all.instances_file = None;
    let full = super::load_instances(&all, &bar).await?;
    let mut ids = args.instances.clone();
    if let Some(file) = &args.instances_file {
        ids.extend(ds::read_id_file(file)?);
    }
    ids.retain(|s| !s.trim().is_empty());
    let selected = ds::select(full.clone(), &ids)?;
    Ok((full, selected))
}

fn demo_repos(args: &EvaluateArgs) -> Option<PathBuf> {
    if let Some(d) = &args.demo_repos {
        return Some(d.clone());
    }
    if let Some(file) = &args.dataset.dataset {
        let beside = file.parent().unwrap_or(Path::new(".")).join("repos");
        if beside.is_dir() {
            return Some(beside);
        }
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/repos");
    if built_in.is_dir() {
        return Some(built_in);
    }
    Some(PathBuf::from("datasets/demo/repos"))
}

/// Cancel the run on Ctrl-C or SIGTERM (containers are removed, finished work is kept).
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
        tracing::warn!("interrupted: stopping and removing containers");
        cancel.cancel();
    });
}

pub async fn run(args: &EvaluateArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    if args.cluster.is_slurm() {
        return crate::cluster::submit_evaluate(args, global).await;
    }
    let started = std::time::Instant::now();
    let json = args.json.as_deref().map(JsonTarget::parse);
    if json.as_ref().is_some_and(JsonTarget::uses_stdout) {
        crate::printer::summaries_to_stderr();
    }
    let mut out = JsonSummary::new("evaluate", &args.run_id);
    let status = evaluate(args, global, &mut out).await?;
    if let Some(target) = &json {
        out.finish(status, started.elapsed());
        super::emit_json_summary(target, &out, &Printer::new(global))?;
    }
    Ok(status)
}

async fn evaluate(args: &EvaluateArgs, global: &GlobalArgs, out: &mut JsonSummary) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    agentless_harness::evaluate::logs::check_component("run id", &args.run_id).map_err(anyhow::Error::msg)?;
    if args.timeout == 0 {
        anyhow::bail!("--timeout must be at least 1 second");
    }
    let (full, selected) = load(&args.dataset, global).await?;
    // One task of a cluster run evaluates its shard only.
    let selected = crate::cluster::task::pick(selected);
    let predictions: Vec<Prediction> = if args.predictions == "gold" {
        gold_predictions(&full)
    } else {
        load_predictions(Path::new(&args.predictions))?
    };
    let known: std::collections::HashSet<&str> = full.iter().map(|i| i.instance_id.as_str()).collect();
    let unknown: Vec<&str> = predictions
        .iter()
        .map(|p| p.instance_id.as_str())
        .filter(|id| !known.contains(id))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "{} prediction(s) name instances not in the dataset: {}",
            unknown.len(),
            unknown.join(", ")
        );
    }
    let predicted: std::collections::HashSet<&str> = predictions.iter().map(|p| p.instance_id.as_str()).collect();
    let runnable = selected
        .iter()
        .filter(|i| predicted.contains(i.instance_id.as_str()))
        .count();
    if runnable == 0 {
        printer.warn("no selected instance has a prediction: nothing to evaluate");
        return Ok(ExitStatus::NothingSelected);
    }
    let specs = match &args.specs {
        Some(p) => Some(Arc::new(EnvSpecs::load(p)?)),
        None => None,
    };
    let env = DockerEnv::connect().await?;
    let mut cfg = EvalConfig::new(args.run_id.clone());
    cfg.timeout = Duration::from_secs(args.timeout);
    cfg.grading = args.grading;
    cfg.integrity = args.integrity;
    cfg.workers = args.workers.unwrap_or_else(default_workers).max(1);
    cfg.network = network_policy(&args.network);
    if cfg.network == NetworkPolicy::None {
        printer.warn(
            "--network none: the eval scripts' re-install of the package cannot reach the package index \
             and may fail, leaving stale code under test (reported as reinstall_failed)",
        );
    }
    cfg.sandbox.memory_bytes = Some(i64::try_from(args.memory).context("--memory is too large")?);
    cfg.sandbox.cpus = Some(args.cpus);
    cfg.sandbox.pids_limit = Some(args.pids_limit);
    cfg.sandbox.disk_bytes = Some(args.disk);
    cfg.sandbox.shard = crate::cluster::task::shard_label();
    cfg.sandbox.output_limit = usize::try_from(args.max_output).unwrap_or(usize::MAX);
    cfg.images = ImageOptions {
        namespace: Namespace::from_arg(args.namespace.as_deref()),
        tag: args.instance_image_tag.clone(),
        arch: args.arch.unwrap_or_else(Arch::host),
        specs,
        demo_repos: demo_repos(args),
        force_rebuild: args.force_rebuild,
    };
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let bars = Bars::new(global);
    let report_dir = crate::cluster::task::files_dir().unwrap_or_else(|| args.report_dir.clone());
    let evaluation_started = std::time::SystemTime::now();
    let summary = run_evaluation(&env, &selected, &predictions, &cfg, &report_dir, &bars, &cancel).await;
    bars.finish();
    let summary = summary?;
    if let (Some(path), Some(report)) = (&args.junit, &summary.report) {
        let details = crate::reporting::junit::JunitDetails::from_results(&args.run_id, &summary.results)
            .strict(args.integrity == IntegrityMode::Strict)
            .started_at(evaluation_started);
        crate::reporting::junit::write_junit(path, report, &details)?;
        out.paths.junit = Some(path.clone());
    }
    out.evaluation = Some(evaluation_counts(&summary));
    out.paths.report = summary.report_path.clone();
    out.paths.hardened_report = summary.hardened_report_path.clone();
    out.paths.logs = Some(cfg.log_root.clone());
    let status = report(&printer, &bars.counts, &summary, &args.run_id);
    super::eval::print_hardened(&printer, &summary);
    Ok(status)
}

/// The `--json` counts of a run's results (also used by `eval`'s final evaluation).
pub fn evaluation_counts(summary: &RunSummary) -> EvaluationCounts {
    let mut c = EvaluationCounts {
        flagged: summary.flagged_ids.len(),
        ..EvaluationCounts::default()
    };
    for r in &summary.results {
        c.evaluated += 1;
        c.resumed += usize::from(r.resumed);
        match &r.outcome {
            EvalOutcome::Resolved => c.resolved += 1,
            EvalOutcome::Unresolved => c.unresolved += 1,
            EvalOutcome::EmptyPatch => c.empty_patches += 1,
            // Model failures are unresolved results (crate::exit); errors are the harness's.
            EvalOutcome::Error(e) if e.is_model_failure() => c.unresolved += 1,
            EvalOutcome::Error(_) => c.errors += 1,
        }
    }
    c
}

fn report(printer: &Printer, counts: &Counts, summary: &RunSummary, run_id: &str) -> ExitStatus {
    let mut harness_failures = 0usize;
    for r in &summary.results {
        if let EvalOutcome::Error(e) = &r.outcome {
            if e.is_model_failure() {
                printer.warn(&format!("{}: unresolved: {e}", r.instance_id));
            } else if !matches!(e, EvalError::Cancelled) {
                harness_failures += 1;
                printer.warn(&format!("{}: harness error: {e}", r.instance_id));
            }
        }
    }
    for r in &summary.results {
        if let Some(i) = r.integrity.as_ref().filter(|i| i.flagged) {
            let kinds: Vec<String> = i.flagging_kinds().iter().map(ToString::to_string).collect();
            printer.warn(&format!(
                "{}: flagged by integrity checks ({})",
                r.instance_id,
                kinds.join(", ")
            ));
        }
    }
    if !summary.leftover_containers.is_empty() {
        printer.warn(&format!(
            "containers of this run are still present: {} (remove them with `agentless-mini clean --run-id {run_id}`)",
            summary.leftover_containers.join(", ")
        ));
    }
    let empty = summary
        .results
        .iter()
        .filter(|r| r.outcome == EvalOutcome::EmptyPatch)
        .count();
    let resumed = counts.resumed.load(Ordering::Relaxed);
    let failed = counts.model_failures.load(Ordering::Relaxed);
    let line = format!(
        "{} resolved, {} unresolved{}, {} harness errors, {} empty patches{}",
        counts.resolved.load(Ordering::Relaxed),
        counts.unresolved.load(Ordering::Relaxed),
        if failed > 0 {
            format!(" ({failed} of them: patch did not apply, was refused, timed out or hit the disk limit)")
        } else {
            String::new()
        },
        counts.errors.load(Ordering::Relaxed),
        empty,
        if resumed > 0 {
            format!(" ({resumed} resumed from an earlier run)")
        } else {
            String::new()
        },
    );
    if summary.interrupted {
        printer.summary(&format!(
            "interrupted: {line}; every container was removed. Re-run with --run-id {run_id} to finish the rest."
        ));
        return ExitStatus::Interrupted;
    }
    match (&summary.report, &summary.report_path) {
        (Some(r), Some(path)) => printer.summary(&format!(
            "{}/{} instances resolved — {line} — report: {}",
            r.resolved_instances,
            r.total_instances,
            path.display()
        )),
        _ => printer.summary(&line),
    }
    if harness_failures > 0 {
        ExitStatus::PartialErrors
    } else {
        ExitStatus::Success
    }
}

/// `--network VALUE` → the policy (see the flag's help).
pub fn network_policy(value: &str) -> NetworkPolicy {
    match value {
        "install" => NetworkPolicy::default(),
        "none" => NetworkPolicy::None,
        other => NetworkPolicy::Full {
            network: other.to_owned(),
        },
    }
}
