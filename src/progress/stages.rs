//! The pipeline's progress on a terminal: one bar per stage over the instances (totals known
//! up front) and the final evaluation's bar, fed by the stages' events; plain status lines
//! ([`StatusBoard`]) when stderr is not a terminal.

use std::collections::HashMap;
use std::sync::Mutex;

use agentless_harness::evaluate::{EvalOutcome, InstanceResult, RunProgress};
use agentless_model::Usage;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::bars_enabled;
use crate::artifact::StageId;
use crate::cli::GlobalArgs;
use crate::pipeline::events::{Event, Reporter, StageOutcome};
use crate::printer::Printer;
use crate::status::StatusBoard;

/// A bar over instances, with elapsed time and ETA.
const BAR_TEMPLATE: &str = "{prefix:>17} {bar:30} {pos}/{len} [{elapsed_precise}, ETA {eta}] {msg}";

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(BAR_TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Progress bars, one per stage over the instances (totals known up front), fed by pipeline
/// events.
pub struct Bars {
    multi: MultiProgress,
    bars: Vec<(StageId, ProgressBar)>,
    /// The final evaluation's bar, added once its size is known.
    evaluation: Mutex<Option<ProgressBar>>,
    notes: Mutex<Vec<String>>,
    printer: Printer,
    tokens: Mutex<HashMap<String, Usage>>,
    /// Plain status lines when stderr is not a terminal.
    pub status: StatusBoard,
}

impl Bars {
    /// Bars for `stages`, each over `instances` instances.
    pub fn new(global: &GlobalArgs, stages: &[StageId], instances: usize) -> Bars {
        let target = if bars_enabled(global) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let bars = stages
            .iter()
            .map(|&s| {
                let b = multi.add(ProgressBar::new(instances as u64));
                b.set_style(bar_style());
                b.set_prefix(s.command());
                (s, b)
            })
            .collect();
        Bars {
            multi,
            bars,
            evaluation: Mutex::default(),
            notes: Mutex::default(),
            printer: Printer::new(global),
            tokens: Mutex::default(),
            status: StatusBoard::start(
                global,
                &stages.iter().map(|s| (s.command(), instances)).collect::<Vec<_>>(),
            ),
        }
    }

    fn bar(&self, stage: StageId) -> Option<&ProgressBar> {
        self.bars.iter().find(|(s, _)| *s == stage).map(|(_, b)| b)
    }

    /// A stage bar's message: its units (samples, tests, candidates) while it runs, and the
    /// tokens so far on the first bar.
    fn refresh_units(&self, stage: StageId) {
        let Some(b) = self.bar(stage) else { return };
        let mut msg = self
            .status
            .phase(stage.command())
            .filter(|p| p.units_total > 0)
            .map(|p| format!("{}/{} units", p.units_done, p.units_total))
            .unwrap_or_default();
        if self.bars.first().is_some_and(|(s, _)| *s == stage) {
            let t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            let total: u64 = t.values().map(|u| u.prompt_tokens + u.completion_tokens).sum();
            if total > 0 {
                msg = format!("{msg} · {total} tokens");
            }
        }
        b.set_message(msg);
    }

    /// Starts the final evaluation's bar over `total` instances.
    pub fn start_evaluation(&self, total: usize) {
        let b = self.multi.add(ProgressBar::new(total as u64));
        b.set_style(bar_style());
        b.set_prefix("evaluate");
        *self.evaluation.lock().unwrap_or_else(|p| p.into_inner()) = Some(b);
        self.status.add_phase("evaluate", total);
    }

    /// One instance of the final evaluation finished.
    pub fn evaluated(&self, resolved: bool) {
        if resolved {
            self.status.resolved("evaluate");
        }
        self.status.instance_done("evaluate");
        if let Some(b) = self.evaluation.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.inc(1);
            if let Some(p) = self.status.phase("evaluate") {
                b.set_message(format!("{} resolved", p.resolved.unwrap_or(0)));
            }
        }
    }

    pub fn finish(&self) {
        for (_, b) in &self.bars {
            b.finish_and_clear();
        }
        if let Some(b) = self.evaluation.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Reporter for Bars {
    fn event(&self, event: &Event) {
        match event {
            Event::StageStarted {
                stage, reused, todo, ..
            } => {
                self.status.units_planned(stage.command(), *reused, *todo);
                self.refresh_units(*stage);
            }
            Event::UnitDone { stage, .. } => {
                self.status.unit_done(stage.command());
                self.refresh_units(*stage);
            }
            Event::ModelCall { instance, usage, .. } => {
                {
                    let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
                    let e = t.entry(instance.clone()).or_default();
                    e.prompt_tokens += usage.prompt_tokens;
                    e.completion_tokens += usage.completion_tokens;
                }
                if let Some((s, _)) = self.bars.first() {
                    self.refresh_units(*s);
                }
            }
            Event::StageFinished { stage, outcome, .. } => {
                self.status.instance_done(stage.command());
                if let Some(b) = self.bar(*stage) {
                    b.inc(1);
                    if let StageOutcome::Skipped(why) = outcome {
                        b.set_message(format!("skipped ({why})"));
                    }
                }
            }
            Event::Warning { instance, message } => {
                let line = format!("{instance}: {message}");
                self.multi.suspend(|| self.printer.warn(&line));
                self.notes.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
            Event::Note { instance, message } => {
                let line = format!("{instance}: {message}");
                self.multi.suspend(|| self.printer.note(&line));
                self.notes.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        }
    }
}

/// The final evaluation's progress: its bar and the `evaluate` phase of the status lines.
pub struct EvalStatus<'a>(pub &'a Bars);

impl RunProgress for EvalStatus<'_> {
    fn planned(&self, total: usize) {
        self.0.start_evaluation(total);
    }
    fn finished(&self, r: &InstanceResult) {
        if r.outcome == EvalOutcome::EmptyPatch {
            return; // not among the planned ones
        }
        self.0.evaluated(r.outcome == EvalOutcome::Resolved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_template_parses() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }
}
