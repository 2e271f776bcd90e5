//! Progress bars (indicatif), kept in the binary: libraries report progress through traits.
//! Here: whether bars are drawn and the download bar; the pipeline's bars in [`stages`],
//! `evaluate`'s in [`evaluation`].

pub mod evaluation;
pub mod stages;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::GlobalArgs;

/// Whether bars may be drawn: not quiet, not disabled, and stderr is a terminal.
pub fn bars_enabled(global: &GlobalArgs) -> bool {
    use std::io::IsTerminal;
    !global.quiet && !global.no_progress && std::io::stderr().is_terminal()
}

/// A byte-count bar for dataset and model downloads.
pub struct DownloadBar {
    bar: ProgressBar,
}

impl DownloadBar {
    pub fn new(global: &GlobalArgs) -> Self {
        let bar = ProgressBar::hidden();
        if bars_enabled(global) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        DownloadBar { bar }
    }
}

impl agentless_harness::dataset::HubProgress for DownloadBar {
    fn start(&self, file: &str, total: Option<u64>) {
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        let style = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        self.bar.set_style(style);
        self.bar.set_message(format!("downloading {file}"));
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
