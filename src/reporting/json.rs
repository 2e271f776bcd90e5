//! The machine-readable summary of `eval` and `evaluate` (`--json FILE`, or `-` for stdout):
//! counts, the paths of what the run wrote, wall time and the exit status. It is written when
//! the command reaches its end, also when it was interrupted; an error that stops the command
//! before that writes none (the exit code and the error message say why).
//!
//! The format (`format: 1`) is documented in the README; new keys may be added, none removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::exit::ExitStatus;

/// The summary's format version.
pub const FORMAT: u32 = 1;

/// Instance counts of the evaluation (`evaluate`, or `eval`'s final evaluation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvaluationCounts {
    /// Instances with a prediction that were selected.
    pub evaluated: usize,
    pub resolved: usize,
    pub unresolved: usize,
    /// The harness failed on them (images, containers, log files). Patches that do not apply,
    /// are refused, time out or hit the disk limit count as unresolved.
    pub errors: usize,
    pub empty_patches: usize,
    /// Flagged by the integrity checks (the official verdict is unchanged).
    pub flagged: usize,
    /// Finished in an earlier invocation and reused.
    pub resumed: usize,
}

/// Counts of `eval`'s pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PipelineCounts {
    pub instances: usize,
    /// Instances that went through every stage.
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub predictions: usize,
    pub non_empty_predictions: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Where the run's outputs are (absent: not written by this run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Paths {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<PathBuf>,
    /// The official run report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// The hardened run report (`--integrity strict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardened_report: Option<PathBuf>,
    /// The per-instance log folders' root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junit: Option<PathBuf>,
}

/// The whole summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonSummary {
    pub format: u32,
    pub command: &'static str,
    pub run_id: String,
    pub exit_code: u8,
    /// The exit status in words: `success`, `partial_errors`, `interrupted`, ...
    pub exit_status: &'static str,
    pub wall_time_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<EvaluationCounts>,
    pub paths: Paths,
}

impl JsonSummary {
    /// An empty summary; [`JsonSummary::finish`] records how the command ended.
    pub fn new(command: &'static str, run_id: &str) -> JsonSummary {
        JsonSummary {
            format: FORMAT,
            command,
            run_id: run_id.to_owned(),
            exit_code: 0,
            exit_status: "",
            wall_time_s: 0.0,
            pipeline: None,
            evaluation: None,
            paths: Paths::default(),
        }
    }

    /// Records how the command ended, once its counts and paths are filled in.
    pub fn finish(&mut self, status: ExitStatus, wall: Duration) {
        self.exit_code = status as u8;
        self.exit_status = status_word(status);
        self.wall_time_s = (wall.as_secs_f64() * 1000.0).round() / 1000.0;
    }

    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Where `--json` sends the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonTarget {
    Stdout,
    File(PathBuf),
}

impl JsonTarget {
    pub fn parse(arg: &str) -> JsonTarget {
        if arg == "-" {
            JsonTarget::Stdout
        } else {
            JsonTarget::File(PathBuf::from(arg))
        }
    }

    /// Whether the human summary must leave stdout (it goes to stderr instead).
    pub fn uses_stdout(&self) -> bool {
        *self == JsonTarget::Stdout
    }

    /// The file, when one (written atomically by the caller).
    pub fn file(&self) -> Option<&Path> {
        match self {
            JsonTarget::Stdout => None,
            JsonTarget::File(p) => Some(p),
        }
    }
}

fn status_word(s: ExitStatus) -> &'static str {
    match s {
        ExitStatus::Success => "success",
        ExitStatus::Failure => "failure",
        ExitStatus::Usage => "usage",
        ExitStatus::PartialErrors => "partial_errors",
        ExitStatus::NothingSelected => "nothing_selected",
        ExitStatus::GateFailed => "gate_failed",
        ExitStatus::Interrupted => "interrupted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shape() {
        let mut s = JsonSummary::new("evaluate", "r1");
        s.finish(ExitStatus::PartialErrors, Duration::from_millis(12345));
        s.evaluation = Some(EvaluationCounts {
            evaluated: 3,
            resolved: 1,
            unresolved: 1,
            errors: 1,
            ..EvaluationCounts::default()
        });
        s.paths.report = Some(PathBuf::from("m.r1.json"));
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).expect("json");
        assert_eq!(v["format"], 1);
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["exit_status"], "partial_errors");
        assert_eq!(v["wall_time_s"], 12.345);
        assert_eq!(v["evaluation"]["errors"], 1);
        assert_eq!(v["paths"]["report"], "m.r1.json");
        assert!(v.get("pipeline").is_none());
        assert!(v["paths"].get("junit").is_none());
    }

    #[test]
    fn dash_means_stdout() {
        assert!(JsonTarget::parse("-").uses_stdout());
        assert_eq!(JsonTarget::parse("a.json").file(), Some(Path::new("a.json")));
    }
}
