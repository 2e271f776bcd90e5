//! `agentless-mini grade`: re-grade SWE-bench test logs with the official rules.
//!
//! Reads `LOGS/<instance_id>/test_output.txt` (and `patch.diff`: absent or blank means no
//! patch), writes `OUT/<instance_id>/report.json` and `OUT/run-report.json`, and beside each
//! report the integrity findings the log folder allows (`integrity.json`). The grading is the
//! harness's ([`agentless_harness::regrade`]); this command reports each folder: a log whose
//! instance is not in the dataset, or that cannot be read, is an error that names it; the
//! others are still graded.

use std::path::PathBuf;

use agentless_harness::dataset::load_dataset;
use agentless_harness::grade::GradingMode;
use agentless_harness::regrade::{Graded, grade_log_folder};
use agentless_harness::report::VerdictKind;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The dataset the logs belong to (.parquet, .json or .jsonl).
    #[arg(long)]
    pub dataset: PathBuf,
    /// A folder with one sub-folder per instance holding `test_output.txt` (and `patch.diff`).
    #[arg(long)]
    pub logs: PathBuf,
    /// Where to write `<instance_id>/report.json` and `run-report.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Grading rules: v4 (swebench 4.1.0, the default) or v5 (swebench 5.x, stricter).
    #[arg(long, default_value = "v4")]
    pub grading: GradingMode,
}

pub fn run(args: &GradeArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let dataset = load_dataset(&args.dataset)?;
    let Some(graded) = grade_log_folder(&dataset, &args.dataset, &args.logs, &args.out, args.grading)? else {
        printer.warn(&format!("no instance folders in {}", args.logs.display()));
        return Ok(ExitStatus::NothingSelected);
    };
    for e in &graded.entries {
        let id = &e.name;
        match &e.result {
            Ok(Graded { verdict, integrity }) => {
                if let Some(r) = integrity
                    && r.flagged
                {
                    let kinds: Vec<String> = r.flagging_kinds().iter().map(ToString::to_string).collect();
                    printer.warn(&format!("{id}: flagged by integrity checks ({})", kinds.join(", ")));
                }
                if let VerdictKind::Rejected { why, .. } = &verdict.kind {
                    printer.note(&format!("{id}: not graded ({why}); reported as not applied"));
                }
            }
            Err(error) => {
                printer.error(&format!("{id}: {}", chain(error)));
            }
        }
    }
    let run_report = &graded.run_report;
    printer.summary(&format!(
        "graded {} logs: {} resolved, {} unresolved, {} without patch, {} errors, {} flagged ({} rules) -> {}",
        graded.entries.len(),
        run_report.resolved_instances,
        run_report.unresolved_instances,
        run_report.empty_patch_instances,
        graded.errors,
        graded.flagged.ids.len(),
        args.grading,
        args.out.display()
    ));
    Ok(if graded.errors > 0 {
        ExitStatus::PartialErrors
    } else {
        ExitStatus::Success
    })
}

/// An error and its causes, `: `-separated (as `anyhow`'s `{:#}` shows them).
fn chain(e: &dyn std::error::Error) -> String {
    std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
