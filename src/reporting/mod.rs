//! Reporting: what people and CI systems read after a run. Nothing here changes a run's
//! results; everything is derived from what is on disk (the official run report and log
//! folders, and the pipeline's run directory).
//!
//! - [`runs`]: find and read an evaluation's run report and per-instance log folders.
//! - [`summary`]: the short text summary printed at the end of `eval` / `evaluate`.
//! - [`compare`]: two runs side by side and the regression gate (`compare --max-drop`).
//! - [`compare_html`]: the comparison page of `report --compare BASE NEW`.
//! - [`junit`]: JUnit XML, one test case per instance.
//! - [`json`]: the machine-readable `--json` summary of `eval` / `evaluate`.
//! - [`artifacts`]: a run directory read into the report's typed view ([`rundata`]).
//! - [`scaling`]: test-time scaling curves by sub-sampling recorded samples and re-running
//!   the pipeline's rerank rule (no model calls).
//! - [`grading`]: official verdicts of the candidates a run did not submit (the oracle).
//! - [`plots`], [`html`]: the self-contained HTML report with inline SVG plots.
//!
//! What leaves the machine (the experiments layout, the sb-cli flow) is in [`crate::publish`].
//!
//! Libraries never print: every function returns a typed value or a [`ReportingError`].

pub mod artifacts;
pub mod compare;
pub mod compare_html;
pub mod grading;
pub mod html;
pub mod json;
pub mod junit;
pub mod plots;
pub mod rundata;
pub mod runs;
pub mod scaling;
pub mod summary;

use std::path::PathBuf;

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportingError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid {what}: {message}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    /// A folder holds several run reports and none was named (`--report FILE`).
    #[error("{} holds several run reports: {}; name one with --report FILE", dir.display(), reports.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Ambiguous { dir: PathBuf, reports: Vec<PathBuf> },
    #[error("{0}")]
    Invalid(String),
    /// A run-directory artifact could not be read or written (or has another format version).
    #[error(transparent)]
    Artifact(#[from] crate::artifact::ArtifactError),
}

impl ReportingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportingError::Io {
            path: path.into(),
            source,
        }
    }
}

/// `owner/name` of a SWE-bench instance id (`django__django-11099` → `django/django`).
/// Ids that do not follow the pattern give everything before the last `-` (or the id).
pub fn repo_of(instance_id: &str) -> String {
    let stem = match instance_id.rsplit_once('-') {
        Some((stem, num)) if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => stem,
        _ => instance_id,
    };
    match stem.split_once("__") {
        Some((owner, name)) => format!("{owner}/{name}"),
        None => stem.to_owned(),
    }
}

/// `n/d` as a percentage with one decimal (`0.0` when `d` is zero).
pub fn percent(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { 100.0 * n as f64 / d as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_from_ids() {
        assert_eq!(repo_of("django__django-11099"), "django/django");
        assert_eq!(repo_of("scikit-learn__scikit-learn-10297"), "scikit-learn/scikit-learn");
        assert_eq!(repo_of("sphinx-doc__sphinx-9711"), "sphinx-doc/sphinx");
        assert_eq!(repo_of("demo__tinysched-1"), "demo/tinysched");
        assert_eq!(repo_of("plain-name"), "plain-name");
    }
}
