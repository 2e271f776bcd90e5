//! Containers that run untrusted patches and tests, through the Docker Engine API (bollard).
//!
//! This is the execution engine shared by `agentless-mini evaluate` and the Agentless Mini
//! pipeline. The API, in the order a caller uses it:
//!
//! ```text
//! let env = DockerEnv::connect().await?;                  // DOCKER_HOST or the default socket
//! let image = images::ensure_instance_image(&env, &instance, &image_opts, &progress).await?;
//! let sb = Sandbox::start(&env, &image, &SandboxOptions::new(run_id)).await?;
//! sb.write_file("/tmp/x.py", b"print(1)").await?;         // absolute paths
//! let out: ExecOutcome = sb.exec(&["python3", "/tmp/x.py"], Duration::from_secs(60)).await?;
//!     // out.exit_code, out.output (stdout+stderr interleaved, capped), out.timed_out, out.truncated
//! let applied: ApplyOutcome = sb.apply_patch(&patch).await?;   // Applied / Failed / Refused
//! let bytes = sb.read_file("/testbed/setup.py").await?;
//! sb.remove().await?;                                      // also done (best effort) on drop
//! ```
//!
//! Names for the pipeline (stable API):
//! - `sandbox::{DockerEnv, Sandbox, SandboxOptions, ExecSpec, ExecOutcome, ApplyOutcome,
//!   ApplyStrategy, ApplyAttempt, PatchRefusal, CancellationToken, SandboxError}`;
//!   `Sandbox::{start, write_file, read_file, exec, exec_spec, apply_patch, apply_patch_with,
//!   remove, id, name}` (`apply_patch_with(patch, ApplySequence::V5)`: 5.x's cascade).
//! - `images::ensure_instance_image(&DockerEnv, &Instance, &ImageOptions, &dyn ImageProgress)
//!   -> Result<String /* image name */, ImageError>`; `images::plan_image` (name only, no I/O);
//!   `images::{ImageOptions, Namespace, Arch, NoImageProgress, ensure_base_image}`.
//! - `evaluate::evaluate_instance(&DockerEnv, &Instance, &Prediction, &EvalConfig,
//!   &dyn RunProgress, &CancellationToken) -> InstanceResult` (one instance, official files
//!   and verdict, container removed before it returns); `evaluate::run_evaluation(...)
//!   -> RunSummary` (a run: workers, resume, run report); `evaluate::{EvalConfig, EvalOutcome,
//!   EvalError, InfraStage, InstanceResult, RunProgress, NoRunProgress}`.
//! - `eval_script::eval_script_for(&Instance, Option<&EnvSpecs>)` (the dataset's script, or
//!   generated as 4.1.0 does).
//!
//! Guarantees:
//! - Every container carries the label `agentless-mini.run-id=<ID>` (and
//!   `agentless-mini.instance-id` and `agentless-mini.shard` when given), runs with `init: true`, no network unless
//!   [`SandboxOptions::network`] names one, memory / CPU / pids limits, never privileged, with
//!   `no-new-privileges`, every capability dropped but [`KEPT_CAPABILITIES`], and a bound on
//!   its writable layer ([`SandboxOptions::disk_bytes`]: the storage driver's quota where
//!   there is one, and a watchdog that measures the layer every second (its upper directory
//!   walked on the host where readable, else the engine's `SizeRw`: [`LayerProbe`]) and
//!   removes the container at the limit).
//! - An exec runs under `timeout -s KILL N` inside the container, and a host timer removes the
//!   container if the command still has not finished a few seconds later (Docker has no API
//!   to kill an exec). Output is captured up to [`SandboxOptions::output_limit`] bytes, keeping
//!   the head and the tail.
//! - A cancelled [`CancellationToken`] (Ctrl-C, SIGTERM) stops a running exec by removing
//!   its container. [`DockerEnv::remove_tracked`] removes any container this process started
//!   and has not removed yet; [`DockerEnv::remove_labelled`] removes leftovers of a crash,
//!   [`DockerEnv::remove_shard`] those of one dead task of a cluster run.
//! - A patch that names a path outside the repository (absolute, `..`, inside `.git`, or a
//!   symbolic link that leaves it) is refused before anything runs ([`check_patch_paths`]).

mod apply;
mod container;
mod disk;
mod env;
mod output;
mod paths;

pub use apply::{APPLY_CASCADE, APPLY_CASCADE_V5, ApplyAttempt, ApplyOutcome, ApplySequence, ApplyStrategy};
pub use container::{
    DEFAULT_DISK_LIMIT, DiskExceeded, ExecOutcome, ExecSpec, KEPT_CAPABILITIES, Sandbox, SandboxOptions,
};
pub use disk::{LayerProbe, allocated_bytes};
pub use env::{DockerEnv, INSTANCE_LABEL, LabelledContainer, RUN_ID_LABEL, SHARD_LABEL};
pub use output::CappedOutput;
pub use paths::{PatchFile, PatchRefusal, RefusalReason, check_patch_paths, patch_files, patch_paths};
pub(crate) use paths::{git_header_names, unquote};
pub use tokio_util::sync::CancellationToken;

/// Errors from the container runtime. Each names what was being done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    #[error(
        "cannot reach the Docker engine at {host}: {message} (is the engine running? set DOCKER_HOST to its socket, e.g. unix:///var/run/docker.sock)"
    )]
    Unreachable { host: String, message: String },
    #[error("Docker: {action}: {source}")]
    Docker {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("Docker: {action}: no answer within {seconds} s")]
    Stalled { action: String, seconds: u64 },
    #[error("the container {name} is gone (removed after a timeout or a cancel)")]
    Gone { name: String },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Invalid(String),
}

impl SandboxError {
    pub(crate) fn docker(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        SandboxError::Docker {
            action: action.into(),
            source,
        }
    }

    /// True when Docker answered 404 (no such container / image).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            SandboxError::Docker {
                source: bollard::errors::Error::DockerResponseServerError { status_code: 404, .. },
                ..
            }
        )
    }
}
