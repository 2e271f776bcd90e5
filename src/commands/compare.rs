//! `agentless-mini compare BASE NEW`: what changed between two runs, and the regression
//! gate for nightly evaluation (exit 5 when NEW's resolve rate is below BASE's by more than
//! `--max-drop` percentage points).

use std::path::PathBuf;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::reporting::compare::compare;
use crate::reporting::runs::{locate_run_report, read_run_report};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a run report (`<model>.<run_id>.json`) or a folder holding one (a run
    /// directory, a report directory).
    pub base: PathBuf,
    /// The run under test, in the same forms.
    pub new: PathBuf,
    /// Largest allowed drop of the resolve rate, in percentage points (`0.5` or `0.5%`).
    /// NEW below BASE by more than this exits with code 5.
    #[arg(long, default_value = "0", value_parser = parse_points)]
    pub max_drop: f64,
    /// Print the comparison as JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_points(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| format!("not a number of percentage points: {s:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!(
            "--max-drop must be a non-negative number of percentage points, got {s:?}"
        ));
    }
    Ok(v)
}

pub fn run(args: &CompareArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let base_path = locate_run_report(&args.base)?;
    let new_path = locate_run_report(&args.new)?;
    let base = read_run_report(&base_path)?;
    let new = read_run_report(&new_path)?;
    let cmp = compare(
        &base_path.display().to_string(),
        &base,
        &new_path.display().to_string(),
        &new,
    );
    let gate = cmp.gate(args.max_drop);
    if args.json {
        let doc = serde_json::json!({ "comparison": cmp, "gate": gate });
        printer.data(&serde_json::to_string_pretty(&doc)?);
    } else {
        printer.data(&cmp.render(Some(&gate)));
    }
    Ok(if gate.passed {
        ExitStatus::Success
    } else {
        ExitStatus::GateFailed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points() {
        assert_eq!(parse_points("0"), Ok(0.0));
        assert_eq!(parse_points("0.5%"), Ok(0.5));
        assert!(parse_points("-1").is_err());
        assert!(parse_points("lots").is_err());
    }
}
