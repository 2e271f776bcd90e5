//! Applying a model patch inside a sandbox with an official cascade; the first exit 0 wins.
//!
//! - 4.x ([`ApplySequence::V4`]): `git apply --verbose`, `git apply --verbose --reject`,
//!   `patch --batch --fuzz=5 -p1 -i`, each on the tree the previous attempt left.
//! - 5.x ([`ApplySequence::V5`]): `git apply --verbose`, `git apply --verbose --3way`,
//!   `git apply --verbose --reject`, `patch --batch --forward --fuzz=5 -p1 -i`, with the tree
//!   reset (`git checkout -- . ; git clean -fd`) before every attempt after the first; when all
//!   fail, `git apply --check --reverse` accepts a patch that is already applied.
//!
//! A patch naming a path outside the repository is refused before anything runs.

use std::time::Duration;

use super::paths::{PatchRefusal, check_patch_paths};
use super::{Sandbox, SandboxError};

/// Where the patch is copied inside the container (as officially).
pub const PATCH_PATH: &str = "/tmp/patch.diff";

/// Time allowed for one apply attempt.
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// One command of the cascade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyStrategy {
    GitApply,
    /// 5.x only.
    GitApply3Way,
    GitApplyReject,
    PatchFuzz,
    /// 5.x: `patch` that refuses reversed or already-applied hunks instead of reversing them.
    PatchFuzzForward,
    /// 5.x: every command failed but the patch is already in the tree.
    AlreadyApplied,
}

impl ApplyStrategy {
    /// The command as the official harness writes it (the patch path follows).
    pub fn command(self) -> &'static str {
        match self {
            ApplyStrategy::GitApply => "git apply --verbose",
            ApplyStrategy::GitApply3Way => "git apply --verbose --3way",
            ApplyStrategy::GitApplyReject => "git apply --verbose --reject",
            ApplyStrategy::PatchFuzz => "patch --batch --fuzz=5 -p1 -i",
            ApplyStrategy::PatchFuzzForward => "patch --batch --forward --fuzz=5 -p1 -i",
            ApplyStrategy::AlreadyApplied => "git apply --check --reverse",
        }
    }
}

/// The official 4.x order.
pub const APPLY_CASCADE: [ApplyStrategy; 3] = [
    ApplyStrategy::GitApply,
    ApplyStrategy::GitApplyReject,
    ApplyStrategy::PatchFuzz,
];

/// The official 5.x order (then the already-applied check).
pub const APPLY_CASCADE_V5: [ApplyStrategy; 4] = [
    ApplyStrategy::GitApply,
    ApplyStrategy::GitApply3Way,
    ApplyStrategy::GitApplyReject,
    ApplyStrategy::PatchFuzzForward,
];

/// Which official harness's way of applying a patch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApplySequence {
    /// swebench 4.x (`--grading v4`, the default).
    #[default]
    V4,
    /// swebench 5.x (`--grading v5`).
    V5,
}

/// What resets the tree between 5.x attempts (a failed `--reject` leaves partial state).
const RESET: &str = "git checkout -- . ; git clean -fd";

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyAttempt {
    pub strategy: ApplyStrategy,
    pub exit_code: Option<i64>,
    pub output: String,
}

/// How applying a patch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Applied by `strategy`; `output` is that command's output; `failed` the attempts before.
    Applied {
        strategy: ApplyStrategy,
        output: String,
        failed: Vec<ApplyAttempt>,
    },
    /// Every command of the cascade failed (the official "Patch Apply Failed").
    Failed { attempts: Vec<ApplyAttempt> },
    /// The patch names a path outside the repository; nothing ran.
    Refused(PatchRefusal),
}

impl ApplyOutcome {
    pub fn applied(&self) -> bool {
        matches!(self, ApplyOutcome::Applied { .. })
    }
}

impl Sandbox {
    /// Apply `patch` in the working directory with the official 4.x cascade.
    pub async fn apply_patch(&self, patch: &str) -> Result<ApplyOutcome, SandboxError> {
        self.apply_patch_with(patch, ApplySequence::V4).await
    }

    /// Apply `patch` in the working directory with the cascade of `sequence`.
    pub async fn apply_patch_with(&self, patch: &str, sequence: ApplySequence) -> Result<ApplyOutcome, SandboxError> {
        if let Err(refusal) = check_patch_paths(patch) {
            return Ok(ApplyOutcome::Refused(refusal));
        }
        self.write_file(PATCH_PATH, patch.as_bytes()).await?;
        let strategies: &[ApplyStrategy] = match sequence {
            ApplySequence::V4 => &APPLY_CASCADE,
            ApplySequence::V5 => &APPLY_CASCADE_V5,
        };
        let mut failed = Vec::new();
        for (n, &strategy) in strategies.iter().enumerate() {
            if sequence == ApplySequence::V5 && n > 0 {
                // The official reset ignores its own exit status; so do we.
                self.exec(&["/bin/bash", "-c", RESET], APPLY_TIMEOUT).await?;
            }
            let mut argv: Vec<&str> = strategy.command().split(' ').collect();
            argv.push(PATCH_PATH);
            let out = self.exec(&argv, APPLY_TIMEOUT).await?;
            let output = String::from_utf8_lossy(&out.output).into_owned();
            if out.exit_code == Some(0) && !out.timed_out {
                return Ok(ApplyOutcome::Applied {
                    strategy,
                    output,
                    failed,
                });
            }
            failed.push(ApplyAttempt {
                strategy,
                exit_code: out.exit_code,
                output,
            });
        }
        if sequence == ApplySequence::V5 {
            let strategy = ApplyStrategy::AlreadyApplied;
            let mut argv: Vec<&str> = strategy.command().split(' ').collect();
            argv.push(PATCH_PATH);
            let out = self.exec(&argv, APPLY_TIMEOUT).await?;
            if out.exit_code == Some(0) && !out.timed_out {
                return Ok(ApplyOutcome::Applied {
                    strategy,
                    output: String::from_utf8_lossy(&out.output).into_owned(),
                    failed,
                });
            }
        }
        Ok(ApplyOutcome::Failed { attempts: failed })
    }
}
