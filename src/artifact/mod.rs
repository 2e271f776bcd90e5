//! The run directory: where every stage's artifacts live, and how they are written, keyed and
//! resumed. All path logic is here.
//!
//! ```text
//! <run-dir>/
//!   run.json                         settings of the last invocation (informative)
//!   instances/<instance_id>/
//!     localize.jsonl                 one file per stage per instance: keyed JSONL envelopes
//!     repair.jsonl
//!     regression.jsonl               (select-regression)
//!     repro.jsonl                    (gen-tests)
//!     execute.jsonl
//!     rerank.jsonl
//!     *.stale-<unix time>            earlier files whose key no longer matches (kept, not read)
//!   predictions.jsonl                the official predictions format (written atomically)
//!   usage.json                       tokens and cost per instance
//!   logs/run_evaluation/<run_id>/…   the evaluation of predictions.jsonl (official layout)
//!   <model>.<run_id>.json            the official run report
//! ```
//!
//! Every stage file is JSON Lines of envelopes (see [`jsonl`]): a `begin` line carrying the
//! stage's key (a hash of everything that determined its output), `record` lines, and an
//! `end` line when the stage finished. [`jsonl::StageFile`] reads a file of any prefix of a
//! valid file (a torn last line is ignored), so a killed run loses nothing already written.

pub mod jsonl;
pub mod key;

use std::path::{Path, PathBuf};

pub use jsonl::{Begin, End, Envelope, StageFile, StageWriter};
pub use key::StageKey;

/// The stages, in pipeline order (also their artifact file names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageId {
    Localize,
    Repair,
    Regression,
    Repro,
    Execute,
    Rerank,
}

impl StageId {
    pub const ALL: [StageId; 6] = [
        StageId::Localize,
        StageId::Repair,
        StageId::Regression,
        StageId::Repro,
        StageId::Execute,
        StageId::Rerank,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StageId::Localize => "localize",
            StageId::Repair => "repair",
            StageId::Regression => "regression",
            StageId::Repro => "repro",
            StageId::Execute => "execute",
            StageId::Rerank => "rerank",
        }
    }

    /// The subcommand that runs this stage alone.
    pub fn command(self) -> &'static str {
        match self {
            StageId::Localize => "localize",
            StageId::Repair => "repair",
            StageId::Regression => "select-regression",
            StageId::Repro => "gen-tests",
            StageId::Execute => "execute",
            StageId::Rerank => "rerank",
        }
    }
}

impl std::fmt::Display for StageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors reading or writing artifacts. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A stage file of a format version this build does not read.
    #[error(
        "{path}: {stage} format version {found}, this build reads version {expected}; run `agentless-mini {}` again on this run directory to redo the stage",
        stage.command()
    )]
    Version {
        path: PathBuf,
        stage: StageId,
        found: u32,
        expected: u32,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ArtifactError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ArtifactError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    /// Where the run-wide files (`run.json`, `usage.json`, `predictions.jsonl`, the run
    /// report) go: the root, or a shard's own folder when this process is one task of a
    /// cluster run (`crate::cluster::task`), so that two tasks never write the same file.
    files: PathBuf,
}

impl RunDir {
    /// Open (and create) a run directory.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, ArtifactError> {
        let root = root.into();
        fs_err::create_dir_all(root.join("instances")).map_err(|e| ArtifactError::io(&root, e))?;
        let files = crate::cluster::task::files_dir().unwrap_or_else(|| root.clone());
        fs_err::create_dir_all(&files).map_err(|e| ArtifactError::io(&files, e))?;
        Ok(RunDir { root, files })
    }

    /// A run directory as it is on disk (nothing created; run-wide files at the root).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        RunDir {
            files: root.clone(),
            root,
        }
    }

    /// Where the run-wide files and the evaluation's run report go (the root, except in a
    /// task of a cluster run).
    pub fn files_dir(&self) -> &Path {
        &self.files
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of one instance (checked to be a single path component).
    pub fn instance_dir(&self, instance_id: &str) -> Result<PathBuf, ArtifactError> {
        if instance_id.is_empty() || instance_id.starts_with('.') || instance_id.contains(['/', '\\', '\0']) {
            return Err(ArtifactError::Invalid(format!(
                "instance id {instance_id:?} cannot name a folder"
            )));
        }
        Ok(self.root.join("instances").join(instance_id))
    }

    /// The artifact file of `stage` for an instance.
    pub fn stage_file(&self, instance_id: &str, stage: StageId) -> Result<PathBuf, ArtifactError> {
        Ok(self.instance_dir(instance_id)?.join(format!("{}.jsonl", stage.name())))
    }

    pub fn predictions_file(&self) -> PathBuf {
        self.files.join("predictions.jsonl")
    }

    pub fn usage_file(&self) -> PathBuf {
        self.files.join("usage.json")
    }

    pub fn settings_file(&self) -> PathBuf {
        self.files.join("run.json")
    }

    /// Where the evaluation's official log tree goes.
    pub fn evaluation_log_root(&self) -> PathBuf {
        self.root.join("logs").join("run_evaluation")
    }
}

/// Write `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ArtifactError::io(dir, e))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| ArtifactError::io(path, e))?;
    tmp.persist(path).map_err(|e| ArtifactError::io(path, e.error))?;
    Ok(())
}
