//! Documented process exit codes (also listed in the README).

use std::process::ExitCode;

/// How a command ended, mapped to a stable process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every selected item was processed (says nothing about how many were resolved).
    Success = 0,
    /// An unexpected internal error, or an error that stopped the command.
    Failure = 1,
    /// Usage or configuration error (clap's convention).
    Usage = 2,
    /// The command finished, but some items recorded errors (bad log, container failure, ...).
    PartialErrors = 3,
    /// Nothing was selected to run.
    NothingSelected = 4,
    /// A regression gate failed (`compare --max-drop`).
    GateFailed = 5,
    /// Interrupted by Ctrl-C or SIGTERM; finished work is kept and a re-run resumes.
    Interrupted = 130,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}
