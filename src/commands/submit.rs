//! `agentless-mini submit`: the sb-cli flow — upload each prediction to the SWE-bench API,
//! poll until evaluated, fetch and save the report. The API URL and key come from flags or
//! `SWEBENCH_API_URL` / `SWEBENCH_API_KEY`; the key is never printed (not in `--help`, not in
//! errors, not in logs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentless_harness::predictions::load_predictions;
use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::artifact::RunDir;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::bars_enabled;
use crate::publish::submit::{ApiKey, DEFAULT_API_URL, SubmitConfig, SubmitProgress, Subset, report_text, submit};

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Predictions file (JSONL, JSON list or object), as for `evaluate`.
    #[arg(long, conflicts_with = "run_dir", required_unless_present = "run_dir")]
    pub predictions: Option<PathBuf>,
    /// A pipeline run directory: its `predictions.jsonl` is submitted.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// The API's dataset: swe-bench_verified, swe-bench_lite or swe-bench-m.
    #[arg(long, default_value = "swe-bench_verified")]
    pub subset: Subset,
    /// The split (`test`, or `dev` for swe-bench-m / lite).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Run id on the server (default: the name of the folder holding the predictions, as
    /// sb-cli's `PARENT`).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Only these instances (comma-separated); also sent to the API as `instance_ids`.
    #[arg(long, value_delimiter = ',')]
    pub instance_ids: Vec<String>,
    /// Where to save `<subset>__<split>__<run_id>.json` (and `.response.json`).
    #[arg(short, long, default_value = "sb-cli-reports")]
    pub output_dir: PathBuf,
    /// Replace an existing report file instead of writing `<name>-N.json`.
    #[arg(long)]
    pub overwrite: bool,
    /// Upload only; do not wait for the evaluation or fetch the report.
    #[arg(long)]
    pub no_wait: bool,
    /// API base URL.
    #[arg(long, env = "SWEBENCH_API_URL", default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// API key (prefer the environment variable: a flag is visible to other users in `ps`).
    #[arg(long, env = "SWEBENCH_API_KEY", hide_env_values = true, value_parser = parse_key)]
    pub api_key: Option<ApiKey>,
    /// Seconds between polls of the job status.
    #[arg(long, default_value_t = 8.0)]
    pub poll_interval: f64,
    /// Seconds to wait for the evaluation to finish.
    #[arg(long, default_value_t = 1800.0)]
    pub timeout: f64,
    /// Attempts per request on 5xx, 429 and connection failures (the first included).
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Seconds before the first retry (doubling each time, at most 30 s, with jitter; a
    /// server's `Retry-After` of up to 2 min is waited instead).
    #[arg(long, default_value_t = 1.0)]
    pub retry_delay: f64,
}

fn parse_key(s: &str) -> Result<ApiKey, String> {
    ApiKey::new(s).map_err(|e| e.to_string())
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
}

/// Upload counts and poll state on one bar.
struct Bar {
    bar: ProgressBar,
    printer: Printer,
}

impl SubmitProgress for Bar {
    fn uploaded(&self, _id: &str, _launched: bool) {
        self.bar.inc(1);
    }
    fn retrying(&self, endpoint: &str, attempt: u32, delay: Duration, reason: &str) {
        self.bar.suspend(|| {
            self.printer
                .warn(&format!("{endpoint}: {reason}; attempt {attempt} in {delay:?}"));
        });
    }
    fn polled(&self, phase: &'static str, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message(phase);
    }
}

pub async fn run(args: &SubmitArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let key = args
        .api_key
        .clone()
        .context("no API key: set SWEBENCH_API_KEY (or pass --api-key)")?;
    let path: PathBuf = match (&args.predictions, &args.run_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => RunDir::open(dir)?.predictions_file(),
        (None, None) => anyhow::bail!("pass --predictions FILE or --run-dir DIR"),
    };
    let predictions = load_predictions(&path)?;
    let run_id = match &args.run_id {
        Some(r) => r.clone(),
        None => parent_name(&path).context("cannot name the run from the predictions' folder: pass --run-id")?,
    };
    let mut cfg = SubmitConfig::new(&args.api_url, key, args.subset, &args.split, &run_id);
    cfg.instance_ids = args
        .instance_ids
        .iter()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect();
    cfg.output_dir = args.output_dir.clone();
    cfg.overwrite = args.overwrite;
    cfg.wait = !args.no_wait;
    cfg.poll_interval = seconds("poll-interval", args.poll_interval)?;
    cfg.completion_timeout = seconds("timeout", args.timeout)?;
    cfg.running_timeout = cfg.running_timeout.min(cfg.completion_timeout);
    cfg.retry.max_attempts = args.retries.max(1);
    cfg.retry.base_delay = seconds("retry-delay", args.retry_delay)?;
    printer.summary(&format!(
        "submitting {} predictions to {} as run {run_id} ({} {})",
        if cfg.instance_ids.is_empty() {
            predictions.len()
        } else {
            cfg.instance_ids.len()
        },
        cfg.base_url,
        cfg.subset.as_str(),
        cfg.split
    ));
    let bar = ProgressBar::new(predictions.len() as u64);
    bar.set_draw_target(if bars_enabled(global) {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("uploading");
    let progress = Bar { bar, printer };
    let outcome = submit(&predictions, &cfg, &progress).await;
    progress.bar.finish_and_clear();
    let outcome = outcome?;
    if !outcome.existing_ids.is_empty() {
        printer.warn(&format!(
            "{} predictions were already submitted for this run id; they are not evaluated again",
            outcome.existing_ids.len()
        ));
    }
    printer.summary(&format!(
        "{} new predictions uploaded (they cannot be changed)",
        outcome.new_ids.len()
    ));
    if let (Some(report), Some(path)) = (&outcome.report, &outcome.report_path) {
        printer.summary(&report_text(report));
        printer.summary(&format!("report: {}", path.display()));
    }
    Ok(ExitStatus::Success)
}

fn parent_name(path: &Path) -> Option<String> {
    let abs = std::path::absolute(path).ok()?;
    Some(abs.parent()?.file_name()?.to_str()?.to_owned())
}
