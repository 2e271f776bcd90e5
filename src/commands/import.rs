//! `agentless-mini import --format swe-rl --from DIR --run-dir RUN`: another tool's artifacts
//! into a run directory (then `execute` and `rerank` work on them), and the swe-rl side of
//! `export --format swe-rl`. The conversion itself is `crate::interop::swerl`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::artifact::RunDir;
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::interop::swerl::format::Layout;
use crate::interop::swerl::{export, import};
use crate::printer::Printer;

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// swe-rl's Agentless Mini files, as `export --format swe-rl` writes them
    /// (docs/swe-rl-interop.md).
    #[default]
    SweRl,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The input format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ImportFormat,
    /// The folder holding `repair/output_{i}_normalized.jsonl` (or `_processed`) and the
    /// optional `loc.jsonl`, `regression_tests.jsonl`, `reproduction_tests.jsonl`, test results.
    #[arg(long = "from")]
    pub from: PathBuf,
    /// The run directory to write (created; imported instances' stage files are replaced,
    /// the old ones kept aside as `*.stale-*`).
    #[arg(long)]
    pub run_dir: PathBuf,
}

pub fn run(args: &ImportArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    if !args.from.is_dir() {
        usage_bail!("--from {}: not a folder", args.from.display());
    }
    let run = RunDir::create(&args.run_dir)?;
    let ImportFormat::SweRl = args.format;
    let s = import::import(&Layout::new(&args.from), &run)?;
    if s.results_without_code > 0 {
        printer.warn(&format!(
            "{} reproduction test result(s) left out: their test has no code in reproduction_tests.jsonl",
            s.results_without_code
        ));
    }
    for (id, n) in &s.disagreements {
        printer.warn(&format!(
            "{id}: {n} sample(s) had other test results than the first sample of the same normalized patch (the first one's are kept)"
        ));
    }
    printer.summary(&format!(
        "imported {} instances × {} samples ({} with localization, {} with regression tests, {} with reproduction tests; {} stage files unchanged) into {}; next: `agentless-mini rerank --run-dir {} --split NAME` (or --dataset; `execute` first to run the candidates here)",
        s.instances,
        s.samples,
        s.localized,
        s.with_regression_tests,
        s.with_repro_tests,
        s.unchanged,
        run.root().display(),
        run.root().display()
    ));
    Ok(ExitStatus::Success)
}

/// `export --format swe-rl`.
pub fn export_swerl(run_dir: &Path, out: &Path, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    crate::outputs::refuse_overwrite(("--out", out), &[("--run-dir", run_dir)])?;
    if out.exists() && fs_err::read_dir(out)?.next().is_some() {
        usage_bail!("--out {}: the folder is not empty", out.display());
    }
    let run = RunDir::at(run_dir);
    let s = export::export(&run, out)?;
    if s.instances == 0 {
        usage_bail!(
            "--run-dir {}: no instance with finished repair samples",
            run_dir.display()
        );
    }
    if !s.skipped.is_empty() {
        printer.warn(&format!(
            "left out (no finished repair samples): {}",
            s.skipped.join(", ")
        ));
    }
    let layout = Layout::new(out);
    printer.summary(&format!(
        "exported {} instances × up to {} samples ({} with localization) to {}\nrerank with swe-rl: python -m swerl.agentless_mini.rerank --patch_folder {} --num_samples {} --deduplicate --regression_test_file {} --applied_rankers regression reproduction --output_file {}",
        s.instances,
        s.num_samples,
        s.localized,
        out.display(),
        layout.repair_dir().display(),
        s.num_samples,
        layout.regression_tests().display(),
        out.join("all_preds.jsonl").display()
    ));
    Ok(ExitStatus::Success)
}
