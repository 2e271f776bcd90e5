//! The printer: the one place user-facing text is written. Data goes to stdout, notes and
//! errors to stderr; `--quiet` silences all but errors.

use crate::cli::GlobalArgs;

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

    /// The closing summary of a command (stdout, unless quiet).
    pub fn summary(&self, text: &str) {
        if !self.quiet {
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
