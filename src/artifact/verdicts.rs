//! `candidate-verdicts.jsonl`: official verdicts of candidate patches other than the submitted
//! one (written by `report --grade-candidates`), one JSON object per line, appended a round at
//! a time so that an interrupted grading resumes.

use serde::{Deserialize, Serialize};

/// One line: the instance, the sha256 of the normalized patch, and whether it resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateVerdict {
    pub instance_id: String,
    pub normalized_sha: String,
    pub resolved: bool,
}
