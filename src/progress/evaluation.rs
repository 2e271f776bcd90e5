//! `evaluate`'s progress on a terminal: one bar with resolved / unresolved / error counts, a
//! status line for image pulls and builds, a line per finished instance; plain status lines
//! ([`StatusBoard`]) when stderr is not a terminal. The counts also feed the summary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentless_harness::evaluate::{EvalError, EvalOutcome, InstanceResult, RunProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::bars_enabled;
use crate::cli::GlobalArgs;
use crate::printer::Printer;
use crate::status::StatusBoard;

/// Counts shown on the bar and in the summary.
#[derive(Default)]
pub struct Counts {
    pub resolved: AtomicUsize,
    pub unresolved: AtomicUsize,
    pub errors: AtomicUsize,
    pub resumed: AtomicUsize,
    /// Unresolved because the patch failed (does not apply, refused, timed out, disk limit).
    pub model_failures: AtomicUsize,
}

/// `evaluate`'s progress bar: one bar with resolved / unresolved / error counts, and a status line
/// for image pulls and builds.
pub struct EvaluationBars {
    main: ProgressBar,
    images: ProgressBar,
    pub counts: Counts,
    printer: Printer,
    /// Plain status lines when stderr is not a terminal.
    status: StatusBoard,
}

impl EvaluationBars {
    pub fn new(global: &GlobalArgs) -> Self {
        let multi = MultiProgress::with_draw_target(if bars_enabled(global) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let main = multi.add(ProgressBar::new(0));
        main.set_style(
            ProgressStyle::with_template("{spinner} evaluating {pos}/{len} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        main.enable_steady_tick(Duration::from_millis(200));
        let images = multi.add(ProgressBar::new_spinner());
        images.set_style(ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        EvaluationBars {
            main,
            images,
            counts: Counts::default(),
            printer: Printer::new(global),
            status: StatusBoard::start(global, &[]),
        }
    }

    fn refresh(&self) {
        let c = &self.counts;
        self.main.set_message(format!(
            "✓ {} resolved  ✖ {} unresolved  ! {} error",
            c.resolved.load(Ordering::Relaxed),
            c.unresolved.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed)
        ));
    }

    pub fn finish(&self) {
        self.images.finish_and_clear();
        self.main.finish_and_clear();
    }
}

fn short(s: &str, n: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

impl RunProgress for EvaluationBars {
    fn planned(&self, total: usize) {
        self.main.set_length(total as u64);
        self.status.add_phase("evaluate", total);
        self.refresh();
    }
    fn finished(&self, r: &InstanceResult) {
        let c = &self.counts;
        match &r.outcome {
            EvalOutcome::EmptyPatch => return,
            EvalOutcome::Resolved => c.resolved.fetch_add(1, Ordering::Relaxed),
            EvalOutcome::Unresolved => c.unresolved.fetch_add(1, Ordering::Relaxed),
            EvalOutcome::Error(EvalError::Cancelled) => 0,
            // Model failures are ordinary unresolved results (see crate::exit).
            EvalOutcome::Error(e) if e.is_model_failure() => {
                c.model_failures.fetch_add(1, Ordering::Relaxed);
                c.unresolved.fetch_add(1, Ordering::Relaxed)
            }
            EvalOutcome::Error(_) => c.errors.fetch_add(1, Ordering::Relaxed),
        };
        if r.outcome == EvalOutcome::Resolved {
            self.status.resolved("evaluate");
        }
        self.status.instance_done("evaluate");
        if r.resumed {
            c.resumed.fetch_add(1, Ordering::Relaxed);
        }
        self.main.inc(1);
        self.refresh();
        if !matches!(r.outcome, EvalOutcome::Error(EvalError::Cancelled)) {
            self.main.suspend(|| {
                self.printer.note(&format!(
                    "{}: {}{} ({:.1} s, tests {:.1} s)",
                    r.instance_id,
                    describe(&r.outcome),
                    if r.resumed { " (resumed)" } else { "" },
                    r.timings.total.as_secs_f64(),
                    r.timings.tests.as_secs_f64()
                ));
            });
        }
    }
    fn image_status(&self, image: &str, message: &str) {
        self.images.set_message(format!("{image}: {}", short(message, 90)));
    }
    fn image_bytes(&self, image: &str, done: u64, total: u64) {
        self.images.set_message(format!(
            "{image}: pulling {:.1}/{:.1} MB",
            done as f64 / 1e6,
            total as f64 / 1e6
        ));
    }
}

fn describe(o: &EvalOutcome) -> String {
    match o {
        EvalOutcome::Resolved => "resolved".into(),
        EvalOutcome::Unresolved => "unresolved".into(),
        EvalOutcome::EmptyPatch => "empty patch (not run)".into(),
        EvalOutcome::Error(e) if e.is_model_failure() => format!("unresolved: {e}"),
        EvalOutcome::Error(e) => format!("error: {e}"),
    }
}
