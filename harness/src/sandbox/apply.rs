//! Applying a model patch inside a sandbox with the official 4.x cascade: `git apply -v`,
//! then `git apply -v --reject`, then `patch --batch --fuzz=5 -p1`; the first exit 0 wins.
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
    GitApplyReject,
    PatchFuzz,
}

impl ApplyStrategy {
    /// The command as the official harness writes it (the patch path follows).
    pub fn command(self) -> &'static str {
        match self {
            ApplyStrategy::GitApply => "git apply --verbose",
            ApplyStrategy::GitApplyReject => "git apply --verbose --reject",
            ApplyStrategy::PatchFuzz => "patch --batch --fuzz=5 -p1 -i",
        }
    }
}

/// The official order.
pub const APPLY_CASCADE: [ApplyStrategy; 3] = [
    ApplyStrategy::GitApply,
    ApplyStrategy::GitApplyReject,
    ApplyStrategy::PatchFuzz,
];

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
    /// Apply `patch` in the working directory with the official cascade.
    pub async fn apply_patch(&self, patch: &str) -> Result<ApplyOutcome, SandboxError> {
        if let Err(refusal) = check_patch_paths(patch) {
            return Ok(ApplyOutcome::Refused(refusal));
        }
        self.write_file(PATCH_PATH, patch.as_bytes()).await?;
        let mut failed = Vec::new();
        for strategy in APPLY_CASCADE {
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
        Ok(ApplyOutcome::Failed { attempts: failed })
    }
}
