//! Typed progress events. Stages never print: they send [`Event`]s to a [`Reporter`], and the
//! CLI renders them (progress bars per stage, notes).

use std::sync::Arc;

use agentless_model::Usage;

use super::context::StageError;
use crate::artifact::StageId;

/// Something that happened in the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A stage of an instance starts: `reused` units come from its artifact, `todo` will run.
    StageStarted {
        stage: StageId,
        instance: String,
        reused: usize,
        todo: usize,
    },
    /// One unit (a sample, a test, a candidate) finished.
    UnitDone { stage: StageId, instance: String },
    /// A stage of an instance ended.
    StageFinished {
        stage: StageId,
        instance: String,
        outcome: StageOutcome,
    },
    /// A model request finished (tokens of this request).
    ModelCall {
        stage: StageId,
        instance: String,
        usage: Usage,
    },
    /// Something worth telling the user (an image build, a skipped step).
    Note { instance: String, message: String },
    /// Something the user must see whatever the verbosity (model requests the backend
    /// rejected: they become empty answers, never silently).
    Warning { instance: String, message: String },
}

/// How a stage ended for one instance.
#[derive(Debug, Clone)]
pub enum StageOutcome {
    /// Ran (maybe partly from a resumed artifact) and finished.
    Finished,
    /// Its artifact was already finished with the same key: nothing ran.
    Reused,
    /// Not run, on purpose (disabled, or nothing to do), with why.
    Skipped(String),
    /// Stopped by an error (shared with the instance's report); what finished is kept for a
    /// re-run.
    Failed(Arc<StageError>),
}

impl PartialEq for StageOutcome {
    /// Two failures are equal when they are the same error.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StageOutcome::Finished, StageOutcome::Finished) | (StageOutcome::Reused, StageOutcome::Reused) => true,
            (StageOutcome::Skipped(a), StageOutcome::Skipped(b)) => a == b,
            (StageOutcome::Failed(a), StageOutcome::Failed(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Receives events. Implementations must be cheap and never block for long.
pub trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
}

/// A reporter that drops everything.
pub struct NoReporter;

impl Reporter for NoReporter {
    fn event(&self, _event: &Event) {}
}
