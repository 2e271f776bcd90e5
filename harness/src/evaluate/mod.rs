//! Evaluating predictions the way the official harness does: per instance, apply the patch
//! in the instance image, run the eval script under a timeout, grade the log, and write
//! `patch.diff`, `eval.sh`, `test_output.txt`, `report.json` and `run_instance.log`
//! ([`evaluate_instance`]); over a run, with workers, resume and the final run report
//! ([`run_evaluation`]). Beside each `report.json`, the integrity findings (`integrity.json`,
//! see [`crate::integrity`]); the eval script is instrumented to record what they need.

mod instance;
pub mod logs;
pub mod network;
pub mod resume;
mod run;

use std::path::PathBuf;
use std::time::Duration;

pub use instance::evaluate_instance;
pub use network::NetworkPolicy;
pub use run::{RunError, RunSummary, run_evaluation, run_report_path};

use crate::grade::GradingMode;
use crate::images::{ImageOptions, ImageProgress};
use crate::integrity::IntegrityReport;
use crate::integrity::run::IntegrityMode;
use crate::report::InstanceReport;
use crate::sandbox::{DiskExceeded, PatchRefusal, SandboxOptions};

/// Settings of an evaluation run.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub run_id: String,
    /// `logs/run_evaluation` (relative to the working directory, as officially).
    pub log_root: PathBuf,
    /// Bound on the eval script's run (the official `--timeout`).
    pub timeout: Duration,
    pub grading: GradingMode,
    /// Template for each container (limits, output cap); the run id, instance label, name,
    /// cancel token and network (from `network`) are filled in per instance.
    pub sandbox: SandboxOptions,
    /// Which network the containers get: by default the eval script's install steps have
    /// one and the tests none ([`NetworkPolicy`]).
    pub network: NetworkPolicy,
    pub images: ImageOptions,
    /// Instances evaluated at once.
    pub workers: usize,
    /// What integrity findings do: always written beside the verdicts; in strict mode a
    /// hardened run report also counts flagged instances as unresolved.
    pub integrity: IntegrityMode,
}

impl EvalConfig {
    pub fn new(run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        EvalConfig {
            sandbox: SandboxOptions::new(run_id.clone()),
            run_id,
            log_root: PathBuf::from(logs::RUN_EVALUATION_DIR),
            timeout: Duration::from_secs(1800),
            grading: GradingMode::V4,
            network: NetworkPolicy::default(),
            images: ImageOptions::default(),
            workers: 1,
            integrity: IntegrityMode::default(),
        }
    }
}

/// Where an infrastructure failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InfraStage {
    /// Getting the instance image (pull or build).
    Image,
    /// Creating or starting the container, or copying files.
    Container,
    /// Running a command (the engine failed, not the command).
    Exec,
    /// No eval script (no `eval_script` column and no specs).
    EvalScript,
    /// No log parser for the repository.
    Grading,
    /// Writing the log folder.
    Logs,
    /// Taking the network away before the tests.
    Network,
}

/// Why an instance has no verdict (the official `error_ids`: no `report.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// The patch names a path outside the repository; it never ran.
    PatchRefused(PatchRefusal),
    /// Every command of the apply cascade failed (`>>>>> Patch Apply Failed`).
    ApplyFailed { output: String },
    /// The eval script ran past the timeout and was killed.
    Timeout { seconds: u64 },
    /// The container's writable layer outgrew the disk limit while the eval script ran; the
    /// container was removed.
    DiskLimit(DiskExceeded),
    /// Interrupted (Ctrl-C, SIGTERM); a re-run with the same run id redoes it.
    Cancelled,
    /// The engine, the image, or the files failed — not the patch.
    Infra { stage: InfraStage, message: String },
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::PatchRefused(r) => write!(f, "{r}"),
            EvalError::ApplyFailed { .. } => write!(
                f,
                "the patch does not apply (git apply, git apply --reject, patch --fuzz=5 all failed)"
            ),
            EvalError::Timeout { seconds } => write!(f, "tests timed out after {seconds} s"),
            EvalError::DiskLimit(d) => write!(f, "disk limit: {d}"),
            EvalError::Cancelled => write!(f, "interrupted"),
            EvalError::Infra { stage, message } => write!(f, "{stage:?} failure: {message}"),
        }
    }
}

impl EvalError {
    /// A failure of the model's patch or of its run within the limits (does not apply, refused,
    /// timed out, filled the disk): an ordinary unresolved result. Otherwise the harness
    /// failed (or the run was interrupted) and the instance has no verdict.
    pub fn is_model_failure(&self) -> bool {
        matches!(
            self,
            EvalError::PatchRefused(_)
                | EvalError::ApplyFailed { .. }
                | EvalError::Timeout { .. }
                | EvalError::DiskLimit(_)
        )
    }
}

/// How one instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalOutcome {
    Resolved,
    Unresolved,
    /// Empty or null patch: not run (the official `empty_patch_ids`).
    EmptyPatch,
    Error(EvalError),
}

impl EvalOutcome {
    /// The outcome as the run report counts it; None for a cancelled instance.
    pub fn for_run_report(&self) -> Option<crate::report::InstanceOutcome> {
        use crate::report::InstanceOutcome as O;
        match self {
            EvalOutcome::Resolved => Some(O::Completed { resolved: true }),
            EvalOutcome::Unresolved => Some(O::Completed { resolved: false }),
            EvalOutcome::EmptyPatch => Some(O::EmptyPatch),
            EvalOutcome::Error(EvalError::Cancelled) => None,
            EvalOutcome::Error(_) => Some(O::Error),
        }
    }
}

/// Time spent per phase of one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub image: Duration,
    pub container: Duration,
    pub apply: Duration,
    /// The eval script's run (the test command and its setup).
    pub tests: Duration,
    pub total: Duration,
}

/// The result of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceResult {
    pub instance_id: String,
    pub outcome: EvalOutcome,
    /// The report written (or found, when resumed).
    pub report: Option<InstanceReport>,
    /// The log folder (None for empty patches, which are not run).
    pub log_dir: Option<PathBuf>,
    /// Skipped: finished before with the same inputs.
    pub resumed: bool,
    pub timings: Timings,
    /// The integrity findings (`integrity.json`), for every instance with a report.
    pub integrity: Option<IntegrityReport>,
}

/// Progress of a run. Libraries never print: the CLI renders these events.
pub trait RunProgress: Send + Sync {
    /// The run is about to evaluate `total` instances with a non-empty patch (some may be
    /// resumed: their result says so).
    fn planned(&self, _total: usize) {}
    fn started(&self, _instance_id: &str) {}
    fn finished(&self, _result: &InstanceResult) {}
    fn image_status(&self, _image: &str, _message: &str) {}
    fn image_bytes(&self, _image: &str, _done: u64, _total: u64) {}
}

/// Progress that goes nowhere.
pub struct NoRunProgress;
impl RunProgress for NoRunProgress {}

/// Forwards image events of a run's progress.
pub(crate) struct ImageEvents<'a>(pub &'a dyn RunProgress);

impl ImageProgress for ImageEvents<'_> {
    fn status(&self, image: &str, message: &str) {
        self.0.image_status(image, message);
    }
    fn bytes(&self, image: &str, done: u64, total: u64) {
        self.0.image_bytes(image, done, total);
    }
}
