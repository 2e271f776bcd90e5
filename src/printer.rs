//! The printer: the one place user-facing text is written. Data goes to stdout, notes and
//! errors to stderr; `--quiet` silences all but errors.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::GlobalArgs;

/// Set when stdout carries machine-readable output only (`--json -`): summaries go to stderr.
static SUMMARY_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Keep stdout for data: from now on every printer writes its summaries to stderr.
pub fn summaries_to_stderr() {
    SUMMARY_TO_STDERR.store(true, Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    verbose: bool,
}

#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the printer is where output happens"
)]
impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        Printer {
            quiet: global.quiet,
            verbose: global.verbose > 0,
        }
    }

    /// Machine-readable or primary output (stdout).
    pub fn data(&self, text: &str) {
        println!("{text}");
    }

    /// The closing summary of a command (stdout, unless quiet; stderr when stdout is kept for
    /// data, see [`summaries_to_stderr`]).
    pub fn summary(&self, text: &str) {
        if self.quiet {
        } else if SUMMARY_TO_STDERR.load(Ordering::Relaxed) {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// Progress notes (stderr, only with -v).
    pub fn note(&self, text: &str) {
        if self.verbose && !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A periodic status line for logs (stderr, unless quiet).
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!("warning: {text}");
        }
    }

    pub fn error(&self, text: &str) {
        eprintln!("error: {text}");
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }
}
