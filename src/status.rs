//! Plain status lines for logs. When stderr is not a terminal (CI, `nohup`, a pipe), progress
//! bars are not drawn; instead a [`StatusBoard`] prints one line every `--progress-interval`
//! seconds: each phase's instances done of its total, resolved so far, elapsed time and an
//! ETA. The counters are fed by the commands' progress reporters; the board only formats and
//! prints them.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cli::GlobalArgs;
use crate::printer::Printer;

/// One phase (a pipeline stage, the evaluation): instances done of a total, and optionally
/// units (samples, tests, candidates) and resolved instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phase {
    pub name: String,
    pub done: usize,
    pub total: usize,
    pub units_done: usize,
    pub units_total: usize,
    pub resolved: Option<usize>,
}

#[derive(Debug)]
struct Board {
    start: Instant,
    phases: Mutex<Vec<Phase>>,
}

/// The counters and, when enabled, the thread that prints them.
pub struct StatusBoard {
    board: Arc<Board>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Whether plain status lines are printed: stderr is not a terminal, not `--quiet`, and the
/// interval is not 0.
pub fn status_lines_enabled(global: &GlobalArgs) -> bool {
    use std::io::IsTerminal;
    !global.quiet && global.progress_interval > 0 && !std::io::stderr().is_terminal()
}

impl StatusBoard {
    /// A board with the given phases (each with its total of instances); it prints every
    /// `--progress-interval` seconds when [`status_lines_enabled`].
    pub fn start(global: &GlobalArgs, phases: &[(&str, usize)]) -> StatusBoard {
        let board = Arc::new(Board {
            start: Instant::now(),
            phases: Mutex::new(
                phases
                    .iter()
                    .map(|(name, total)| Phase {
                        name: (*name).to_owned(),
                        total: *total,
                        ..Phase::default()
                    })
                    .collect(),
            ),
        });
        if !status_lines_enabled(global) {
            return StatusBoard {
                board,
                stop: None,
                thread: None,
            };
        }
        let interval = Duration::from_secs(global.progress_interval);
        let printer = Printer::new(global);
        let (tx, rx) = mpsc::channel::<()>();
        let b = board.clone();
        let thread = std::thread::Builder::new()
            .name("status-lines".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                    printer.status(&b.line());
                }
            })
            .ok();
        StatusBoard {
            board,
            stop: Some(tx),
            thread,
        }
    }

    fn with<R>(&self, phase: &str, f: impl FnOnce(&mut Phase) -> R) -> Option<R> {
        let mut phases = self.board.phases.lock().unwrap_or_else(|p| p.into_inner());
        phases.iter_mut().find(|p| p.name == phase).map(f)
    }

    /// Adds a phase after the start (e.g. the evaluation, once its size is known).
    pub fn add_phase(&self, name: &str, total: usize) {
        let mut phases = self.board.phases.lock().unwrap_or_else(|p| p.into_inner());
        match phases.iter_mut().find(|p| p.name == name) {
            Some(p) => p.total = total,
            None => phases.push(Phase {
                name: name.to_owned(),
                total,
                ..Phase::default()
            }),
        }
    }

    /// One instance finished `phase` (however it ended).
    pub fn instance_done(&self, phase: &str) {
        self.with(phase, |p| p.done += 1);
    }

    /// One instance was resolved in `phase`.
    pub fn resolved(&self, phase: &str) {
        self.with(phase, |p| *p.resolved.get_or_insert(0) += 1);
    }

    /// `todo` + `reused` units planned in `phase`, `reused` of them already done.
    pub fn units_planned(&self, phase: &str, reused: usize, todo: usize) {
        self.with(phase, |p| {
            p.units_total += reused + todo;
            p.units_done += reused;
        });
    }

    pub fn unit_done(&self, phase: &str) {
        self.with(phase, |p| p.units_done += 1);
    }

    /// A copy of one phase's counters.
    pub fn phase(&self, name: &str) -> Option<Phase> {
        let phases = self.board.phases.lock().unwrap_or_else(|p| p.into_inner());
        phases.iter().find(|p| p.name == name).cloned()
    }

    /// The status line as it would be printed now.
    pub fn line(&self) -> String {
        self.board.line()
    }
}

impl Board {
    fn line(&self) -> String {
        let phases = self.phases.lock().unwrap_or_else(|p| p.into_inner()).clone();
        format_line(&phases, self.start.elapsed())
    }
}

impl Drop for StatusBoard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `progress: localize 5/5, repair 2/5 (310/500 units), evaluate 1/5 (1 resolved); elapsed 2m05s, ETA 3m10s`
pub fn format_line(phases: &[Phase], elapsed: Duration) -> String {
    let parts: Vec<String> = phases
        .iter()
        .map(|p| {
            let mut s = format!("{} {}/{}", p.name, p.done, p.total);
            let mut extra = Vec::new();
            if p.units_total > 0 && p.done < p.total {
                extra.push(format!("{}/{} units", p.units_done, p.units_total));
            }
            if let Some(r) = p.resolved {
                extra.push(format!("{r} resolved"));
            }
            if !extra.is_empty() {
                s.push_str(&format!(" ({})", extra.join(", ")));
            }
            s
        })
        .collect();
    let total: usize = phases.iter().map(|p| p.total).sum();
    let done: usize = phases.iter().map(|p| p.done.min(p.total)).sum();
    let eta = if done > 0 && done < total {
        let secs = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
        format!(", ETA {}", clock(Duration::from_secs_f64(secs)))
    } else {
        String::new()
    };
    format!("progress: {}; elapsed {}{eta}", parts.join(", "), clock(elapsed))
}

/// `45s`, `2m05s`, `1h02m`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &str, done: usize, total: usize) -> Phase {
        Phase {
            name: name.into(),
            done,
            total,
            ..Phase::default()
        }
    }

    #[test]
    fn line_shows_counts_elapsed_and_eta() {
        let mut repair = phase("repair", 1, 4);
        repair.units_done = 30;
        repair.units_total = 80;
        let mut eval = phase("evaluate", 0, 4);
        eval.resolved = Some(0);
        let line = format_line(&[phase("localize", 4, 4), repair, eval], Duration::from_secs(125));
        assert_eq!(
            line,
            "progress: localize 4/4, repair 1/4 (30/80 units), evaluate 0/4 (0 resolved); elapsed 2m05s, ETA 2m55s"
        );
    }

    #[test]
    fn no_eta_before_anything_or_after_everything() {
        assert_eq!(
            format_line(&[phase("localize", 0, 2)], Duration::from_secs(3)),
            "progress: localize 0/2; elapsed 3s"
        );
        assert_eq!(
            format_line(&[phase("localize", 2, 2)], Duration::from_secs(3700)),
            "progress: localize 2/2; elapsed 1h01m"
        );
    }

    #[test]
    fn counters_follow_events() {
        let global = GlobalArgs {
            verbose: 0,
            quiet: true,
            no_progress: false,
            progress_interval: 30,
            color: crate::cli::Color::Never,
        };
        let b = StatusBoard::start(&global, &[("localize", 2)]);
        b.units_planned("localize", 1, 2);
        b.unit_done("localize");
        b.instance_done("localize");
        b.add_phase("evaluate", 2);
        b.resolved("evaluate");
        b.instance_done("evaluate");
        b.instance_done("unknown phase");
        let line = b.line();
        assert!(
            line.starts_with("progress: localize 1/2 (2/3 units), evaluate 1/2 (1 resolved); elapsed 0s"),
            "{line}"
        );
    }
}
