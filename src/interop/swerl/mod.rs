//! swe-rl's Agentless Mini artifacts (`export --format swe-rl`, `import --format swe-rl`).
//!
//! The layout (field by field in `docs/swe-rl-interop.md`):
//!
//! ```text
//! <dir>/
//!   loc.jsonl                                   localization (localize.py's --output_file)
//!   regression_tests.jsonl                      rerank.py's --regression_test_file
//!   reproduction_tests.jsonl                    the reproduction tests' code (ours; upstream ignores it)
//!   repair/                                     repair.py's --output_folder, rerank.py's --patch_folder
//!     output.jsonl                              repair samples, one row per instance
//!     output_{i}_processed.jsonl                sample i's patch, one row per instance
//!     output_{i}_normalized.jsonl               the same with normalized_patch (rerank's vote key)
//!     output_{i}_regression_test_results.jsonl  failing regression tests of sample i's patch
//!     output_{i}_reproduction_test_results.jsonl one row per (instance, reproduction test)
//! ```
//!
//! [`format`] owns the names and rows; [`ours`] reads a run's rerank inputs; [`export`] and
//! [`import`] convert. Sample `i` of upstream is the i-th finished repair sample of an
//! instance here, which is also the candidate order of the rerank rule, so upstream's
//! `rerank.py --applied_rankers regression reproduction` and `agentless-mini rerank` see the
//! same candidates.

pub mod export;
pub mod format;
pub mod import;
pub mod ours;

/// Errors of the swe-rl conversion. Each names the file or the instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    #[error(transparent)]
    Artifact(#[from] crate::artifact::ArtifactError),
    #[error(transparent)]
    Stage(#[from] crate::pipeline::context::StageError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}
