//! `agentless-mini export --run-dir DIR --out DIR`: a run as a SWE-bench experiments
//! submission folder (predictions checked against the official schema, metadata, README,
//! trajectories, per-instance logs, results), or with `--format swe-rl` as swe-rl's Agentless
//! Mini artifact files (`crate::interop::swerl`).

use std::path::PathBuf;

use agentless_harness::predictions::load_predictions;
use anyhow::Context as _;
use clap::Args;

use crate::artifact::RunDir;
use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::DownloadBar;
use crate::publish::export::{ExportInput, Metadata, check_submission_path, experiments_split, export};
use crate::reporting::runs::EvalRun;

/// What `export` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A SWE-bench experiments submission folder (the leaderboard layout).
    #[default]
    Experiments,
    /// swe-rl's Agentless Mini files: localization, repair samples, normalized patches, test
    /// results; upstream's rerank.py runs on them (docs/swe-rl-interop.md).
    SweRl,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// The run: a pipeline run directory, or any folder holding a run report and its
    /// `logs/run_evaluation/` tree.
    #[arg(long)]
    pub run_dir: PathBuf,
    /// The submission folder to create (must be new or empty), e.g.
    /// `evaluation/verified/20261124_agentless-mini_mymodel`.
    #[arg(long)]
    pub out: PathBuf,
    /// Predictions file (default: `<run-dir>/predictions.jsonl`).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// The evaluated split, for totals per repository and per year and the id check
    /// (recommended: the leaderboard counts over the whole split).
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// `info.name` (default: "Agentless Mini + <model>").
    #[arg(long)]
    pub name: Option<String>,
    /// `tags.model` (repeatable; default: the predictions' model).
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// `tags.org` (repeatable).
    #[arg(long = "org")]
    pub orgs: Vec<String>,
    /// `info.site` (URL).
    #[arg(long)]
    pub site: Option<String>,
    /// `info.report`: the technical report the leaderboard requires (URL).
    #[arg(long)]
    pub report_url: Option<String>,
    /// `info.authors`.
    #[arg(long)]
    pub authors: Option<String>,
    /// `tags.os_model`: the model's weights are public.
    #[arg(long)]
    pub os_model: bool,
    /// `tags.system.attempts`: `1`, or `2+` when several samples were reranked (default:
    /// `2+` for a pipeline run, `1` otherwise).
    #[arg(long)]
    pub attempts: Option<String>,
}

pub async fn run(args: &ExportArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    if args.format == ExportFormat::SweRl {
        return super::import::export_swerl(&args.run_dir, &args.out, global);
    }
    let printer = Printer::new(global);
    let run_dir = RunDir::open(&args.run_dir)?;
    let preds_path = args.predictions.clone().unwrap_or_else(|| run_dir.predictions_file());
    let mut inputs: Vec<(&str, &std::path::Path)> = vec![
        ("--run-dir", args.run_dir.as_path()),
        ("--predictions", preds_path.as_path()),
    ];
    if let Some(p) = &args.dataset.dataset {
        inputs.push(("--dataset", p.as_path()));
    }
    crate::outputs::refuse_overwrite(("--out", args.out.as_path()), &inputs)?;
    let predictions = load_predictions(&preds_path)
        .with_context(|| format!("reading the run's predictions ({})", preds_path.display()))?;
    let eval = EvalRun::open(&args.run_dir, &[])?;
    if eval.model_log_dir.is_none() {
        printer.warn(&format!(
            "no logs/run_evaluation tree found for {}: the submission will have no logs",
            eval.report_path.display()
        ));
    }
    let dataset = if args.dataset.split.is_some() || args.dataset.dataset.is_some() {
        let bar = DownloadBar::new(global);
        Some(super::load_instances(&args.dataset, &bar).await?)
    } else {
        None
    };
    // The split as the experiments repository names its folders (and get_results.py prints it).
    let dataset_name = args.dataset.dataset.as_ref().map(|p| p.display().to_string());
    let expected = experiments_split(args.dataset.split.as_deref(), dataset_name.as_deref());
    let today: String = crate::reporting::junit::iso8601(std::time::SystemTime::now())[..10].replace('-', "");
    let (split, layout_notes) = check_submission_path(&args.out, expected, &today);
    let split_name = split.unwrap_or_else(|| "unknown".into());
    let model = predictions
        .first()
        .map(|p| p.model_name_or_path.clone())
        .unwrap_or_default();
    let pipeline = run_dir.has_instances();
    let attempts = args
        .attempts
        .clone()
        .unwrap_or_else(|| if pipeline { "2+".into() } else { "1".into() });
    if attempts != "1" && attempts != "2+" {
        anyhow::bail!("--attempts must be 1 or 2+");
    }
    let meta = Metadata {
        name: args.name.clone().unwrap_or_else(|| format!("Agentless Mini + {model}")),
        authors: args.authors.clone(),
        site: args.site.clone(),
        report: args.report_url.clone(),
        logo: None,
        models: if args.models.is_empty() {
            vec![model]
        } else {
            args.models.clone()
        },
        orgs: args.orgs.clone(),
        os_model: args.os_model,
        os_system: true,
        attempts,
    };
    let input = ExportInput {
        predictions: &predictions,
        eval: &eval,
        run_dir: pipeline.then_some(&run_dir),
        dataset: dataset.as_deref(),
        split_name: &split_name,
    };
    let s = export(&input, &meta, &args.out)?;
    for n in s.notes.iter().chain(&layout_notes) {
        printer.warn(n);
    }
    if meta.report.is_none() {
        printer.warn("no --report-url: the leaderboard requires a technical report (info.report in metadata.yaml)");
    }
    printer.summary(&format!(
        "exported {} predictions ({} resolved, {} log folders, {} trajectories, {} without a patch, {} without logs) to {}",
        s.predictions,
        s.resolved.len(),
        s.log_folders,
        s.trajectories,
        s.no_generation.len(),
        s.no_logs.len(),
        s.out.display()
    ));
    Ok(ExitStatus::Success)
}
