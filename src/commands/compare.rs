//! `agentless-mini compare BASE NEW`: what changed between two runs, and the regression
//! gate for nightly evaluation (exit 5 when NEW's resolve rate is below BASE's by more than
//! `--max-drop` percentage points). Each run's flagged instances are shown; a run with the
//! hardened report of `--integrity strict` is gated on it.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::reporting::ReportingError;
use crate::reporting::compare::{RunIntegrity, compare};
use crate::reporting::runs::{
    hardened_beside, is_hardened_report, locate_run_report, official_of_hardened, read_flagged_ids, read_run_report,
};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a run report (`<model>.<run_id>.json`) or a folder holding one (a run
    /// directory, a report directory). A hardened report (`<model>.<run_id>.hardened.json`,
    /// `--integrity strict`) beside it is found and gated on.
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

/// The official run report a path names, and its integrity: flagged ids and the hardened
/// report beside it. A hardened report named directly stands for its run: the official one
/// beside it is shown (when present), the hardened one gated on.
fn open_run(path: &Path) -> Result<(PathBuf, RunIntegrity), ReportingError> {
    let located = locate_run_report(path)?;
    let (official, hardened) = if is_hardened_report(&located) {
        match official_of_hardened(&located).filter(|p| p.is_file()) {
            Some(o) => (o, Some(located)),
            None => (located, None),
        }
    } else {
        let h = hardened_beside(&located);
        (located, h)
    };
    let hardened = match hardened {
        Some(p) => Some((p.display().to_string(), read_run_report(&p)?)),
        None => None,
    };
    let flagged = read_flagged_ids(&official)?;
    Ok((official, RunIntegrity { flagged, hardened }))
}

pub fn run(args: &CompareArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let (base_path, base_integrity) = open_run(&args.base)?;
    let (new_path, new_integrity) = open_run(&args.new)?;
    let base = read_run_report(&base_path)?;
    let new = read_run_report(&new_path)?;
    let cmp = compare(
        &base_path.display().to_string(),
        &base,
        &new_path.display().to_string(),
        &new,
    )
    .with_integrity(base_integrity, new_integrity);
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
