//! Documented process exit codes (also listed in the README), and the one policy that maps
//! how a command ended to them.
//!
//! - `0`: every selected item was processed. Model failures are ordinary results: a patch
//!   that does not apply, is refused by the path checks, is empty, or whose tests time out
//!   counts as unresolved, not as an error.
//! - `1`: an error stopped the command (I/O, an unreachable engine, a bad input file).
//! - `2`: usage: a bad flag or value (clap), or an invalid combination found after parsing
//!   ([`crate::commands::UsageError`]: an output that is also an input, `serve` on a public
//!   address without a key).
//! - `3`: the command finished, but the harness itself failed on some items (image, engine,
//!   log files, a container killed at the disk limit, an unscorable line).
//! - `4`: nothing was selected. `5`: the regression gate failed. `130`: interrupted.

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

impl ExitStatus {
    /// The status of a command that failed with `err`: 2 for a
    /// [`crate::commands::UsageError`] anywhere in its chain, else 1.
    pub fn of_error(err: &anyhow::Error) -> ExitStatus {
        if err
            .chain()
            .any(|e| e.downcast_ref::<crate::commands::UsageError>().is_some())
        {
            ExitStatus::Usage
        } else {
            ExitStatus::Failure
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}
