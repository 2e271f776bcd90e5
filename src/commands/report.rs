//! `agentless-mini report --run-dir DIR [--out report.html]`: one self-contained HTML page
//! for a run (resolve rates, test-time scaling curves from the recorded samples, where
//! instances were lost, tokens and cost, time per stage), and optionally the run's JUnit XML
//! and the computed numbers as JSON.

use std::path::{Path, PathBuf};

use agentless_harness::evaluate::NoRunProgress;
use agentless_harness::sandbox::{CancellationToken, DockerEnv};
use anyhow::Context as _;
use clap::Args;

use crate::artifact::RunDir;
use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::DownloadBar;
use crate::reporting::artifacts::load_run_with;
use crate::reporting::compare_html::ComparePage;
use crate::reporting::grading::{grade, pending};
use crate::reporting::html::render;
use crate::reporting::junit::{InstanceDetail, JunitDetails, write_junit};
use crate::reporting::rundata::ReportData;
use crate::reporting::runs::EvalRun;
use crate::settings::{ContainerArgs, EvaluationArgs};
use crate::signals::cancel_on_signals;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (`eval --run-dir`), or a folder holding an evaluation's run report
    /// and `logs/run_evaluation/` tree.
    #[arg(
        long,
        required_unless_present = "compare",
        default_value = ".",
        hide_default_value = true
    )]
    pub run_dir: PathBuf,
    /// The evaluation's run report (`<model>.<run_id>.json`) when the folder holds several.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Compare two runs on one page instead (run directories or run reports): newly
    /// resolved, newly broken and per-repository changes. Written to --out (default
    /// `compare.html`).
    #[arg(long, num_args = 2, value_names = ["BASE", "NEW"], conflicts_with_all = ["junit", "grade_candidates", "report"])]
    pub compare: Option<Vec<PathBuf>>,
    /// Where to write the page (default: `<run-dir>/report.html`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Random subsets per point of the samples curve.
    #[arg(long, default_value_t = 16)]
    pub draws: usize,
    /// Seed of the subsets (the page is reproducible for a given seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the evaluation as JUnit XML (one test case per instance).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write the computed numbers as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// First evaluate, with the official tests and no model calls, every distinct candidate
    /// patch the run did not submit (Docker), so the page knows the oracle and the rerank's
    /// misses. Verdicts are kept in the run directory; graded candidates are not redone.
    #[arg(long)]
    pub grade_candidates: bool,
    /// With --grade-candidates: the run's dataset.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// With --grade-candidates: the containers (as for `evaluate`; default: official images
    /// for SWE-bench, local builds for the demo split).
    #[command(flatten)]
    pub containers: ContainerArgs,
    /// With --grade-candidates: how each candidate is evaluated.
    #[command(flatten)]
    pub evaluation: EvaluationArgs,
}

/// Refuse an output (`--out`, `--json`, `--junit`) that is one of the files the report reads
/// (the run's predictions and run report, `--dataset`) or another output.
fn check_outputs(args: &ReportArgs) -> anyhow::Result<()> {
    let predictions = RunDir::at(&args.run_dir).predictions_file();
    let run_report = match &args.report {
        Some(r) => Some(r.clone()),
        None => crate::reporting::runs::locate_run_report(&args.run_dir).ok(),
    };
    let mut inputs: Vec<(&str, &Path)> = vec![("the run's", predictions.as_path())];
    if let Some(p) = &run_report {
        inputs.push(("the run report", p.as_path()));
    }
    if let Some(p) = &args.dataset.dataset {
        inputs.push(("--dataset", p.as_path()));
    }
    let outputs: [(&str, Option<&Path>); 3] = [
        ("--out", args.out.as_deref()),
        ("--json", args.json.as_deref()),
        ("--junit", args.junit.as_deref()),
    ];
    for (i, (flag, out)) in outputs.iter().enumerate() {
        let Some(out) = *out else { continue };
        let mut against = inputs.clone();
        against.extend(outputs[i + 1..].iter().filter_map(|(f, o)| o.map(|o| (*f, o))));
        crate::outputs::refuse_overwrite((flag, out), &against)?;
    }
    Ok(())
}

async fn grade_candidates(
    args: &ReportArgs,
    run_dir: &RunDir,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<()> {
    let todo = pending(run_dir)?;
    if todo.is_empty() {
        printer.summary("every candidate already has a verdict");
        return Ok(());
    }
    if args.dataset.split.is_none() && args.dataset.dataset.is_none() {
        anyhow::bail!("--grade-candidates needs the run's dataset: --split NAME or --dataset FILE");
    }
    let mut all = args.dataset.clone();
    all.instances.clear();
    all.instances_file = None;
    let dataset = super::load_instances(&all, &DownloadBar::new(global)).await?;
    // The container flags, resolved once, as for `evaluate` (they used to be hard-coded here:
    // 8 GiB, 2 CPUs, 4096 processes).
    let dataset_file = args.dataset.dataset.as_deref().filter(|d| d.is_file());
    let cfg = args
        .containers
        .resolve("candidates", dataset_file, &dataset)?
        .eval_config("candidates", &args.evaluation);
    let env = DockerEnv::connect().await?;
    let instances: std::collections::BTreeSet<&str> = todo.iter().map(|p| p.instance_id.as_str()).collect();
    printer.summary(&format!(
        "grading {} candidate patches of {} instances with the official tests",
        todo.len(),
        instances.len()
    ));
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let verdicts = grade(&env, &dataset, &todo, cfg, run_dir, &NoRunProgress, &cancel).await?;
    let correct = verdicts.iter().filter(|v| v.resolved).count();
    printer.summary(&format!(
        "graded {} of {} candidates: {correct} resolve their issue{}",
        verdicts.len(),
        todo.len(),
        if verdicts.len() < todo.len() {
            " (the rest had no verdict: re-run to retry)"
        } else {
            ""
        }
    ));
    Ok(())
}

/// `report --compare BASE NEW`.
fn run_compare(args: &ReportArgs, base: &Path, new: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let open = |p: &Path| EvalRun::open(p, &[]).with_context(|| format!("reading the run report of {}", p.display()));
    let (b, n) = (open(base)?, open(new)?);
    let page = ComparePage::build(
        &base.display().to_string(),
        &b.report,
        &new.display().to_string(),
        &n.report,
    );
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("compare.html"));
    crate::outputs::refuse_overwrite(
        ("--out", out.as_path()),
        &[("BASE", b.report_path.as_path()), ("NEW", n.report_path.as_path())],
    )?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    fs_err::write(&out, page.render())?;
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&page)?)?;
    }
    let c = &page.comparison;
    printer.summary(&format!(
        "{} newly resolved, {} newly broken ({:+.1} points)",
        c.newly_resolved.len(),
        c.newly_broken.len(),
        c.delta_points
    ));
    printer.summary(&format!("comparison: {}", out.display()));
    Ok(ExitStatus::Success)
}

pub async fn run(args: &ReportArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    if let Some([base, new]) = args.compare.as_deref() {
        return run_compare(args, base, new, &printer);
    }
    check_outputs(args)?;
    let run_dir = RunDir::open(&args.run_dir)?;
    if args.grade_candidates {
        grade_candidates(args, &run_dir, global, &printer).await?;
    }
    let run = load_run_with(&run_dir, args.report.as_deref())?;
    if run.instances.is_empty() {
        anyhow::bail!(
            "nothing to report in {}: no instances/, predictions.jsonl or run report (is it a run directory?)",
            args.run_dir.display()
        );
    }
    for n in &run.notes {
        printer.warn(n);
    }
    let data = ReportData::build(run, args.draws.max(1), args.seed);
    let out = args.out.clone().unwrap_or_else(|| args.run_dir.join("report.html"));
    let link_base = match out.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    fs_err::create_dir_all(&link_base)?;
    let page = render(&data, &link_base)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    fs_err::write(&out, page)?;
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&data)?)?;
    }
    if let Some(path) = &args.junit {
        let eval = EvalRun::open(
            args.report.as_deref().unwrap_or(&args.run_dir),
            std::slice::from_ref(&args.run_dir),
        )
        .context("--junit needs the run's evaluation")?;
        // A hardened report beside the official one: the run was strict, and so is its JUnit.
        let strict = crate::reporting::runs::hardened_beside(&eval.report_path).is_some();
        let mut details = JunitDetails::new(eval.run_id.clone().unwrap_or_default()).strict(strict);
        // When the evaluation ran: its run report's modification time.
        details.timestamp = fs_err::metadata(&eval.report_path).and_then(|m| m.modified()).ok();
        for (id, l) in eval.instance_logs() {
            details.instances.insert(id, InstanceDetail::from_logs(&l));
        }
        write_junit(path, &eval.report, &details)?;
        printer.note(&format!("JUnit XML: {}", path.display()));
    }
    let n = data.instances.len();
    let mut line = format!("{} of {n} resolved", data.resolved);
    if let Some(o) = data.oracle {
        line.push_str(&format!(", oracle {o}"));
    }
    let lost: Vec<String> = data
        .losses
        .iter()
        .filter(|(l, _)| *l != crate::reporting::rundata::Loss::Resolved)
        .map(|(l, c)| format!("{} {c}", l.label()))
        .collect();
    if !lost.is_empty() {
        line.push_str(&format!(" ({})", lost.join(", ")));
    }
    printer.summary(&line);
    printer.summary(&format!("report: {}", out.display()));
    Ok(ExitStatus::Success)
}
