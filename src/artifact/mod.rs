//! The run directory: where every stage's artifacts live, and how they are written, keyed and
//! resumed. Every path and format of the layout is here: the rest of the crate asks a
//! [`RunDir`] (made with [`RunDir::create`] to write, [`RunDir::open`] to read) for files and
//! typed contents, never joins a name of the layout itself.
//!
//! ```text
//! <run-dir>/
//!   run.json                         settings of the last invocation ([`RunManifest`], informative)
//!   instances/<instance_id>/
//!     localize.jsonl                 one file per stage per instance: keyed JSONL envelopes
//!     repair.jsonl
//!     regression.jsonl               (select-regression)
//!     repro.jsonl                    (gen-tests)
//!     execute.jsonl
//!     rerank.jsonl
//!     *.stale-<unix time>            earlier files whose key no longer matches (kept, not read)
//!   predictions.jsonl                the official predictions format (written atomically)
//!   usage.json                       tokens and cost per instance ([`UsageFile`], from the records)
//!   candidate-verdicts.jsonl         verdicts of unsubmitted candidates ([`CandidateVerdict`])
//!   logs/run_evaluation/<run_id>/…   the evaluation of predictions.jsonl (official layout)
//!   logs/candidates/                 run reports of the candidate gradings
//!   cluster/                         a cluster run's job, scripts and shard folders
//!   <model>.<run_id>.json            the official run report
//! ```
//!
//! Every stage file is JSON Lines of envelopes (see [`jsonl`]): a `begin` line carrying the
//! stage's key (a hash of everything that determined its output), `record` lines, and an
//! `end` line when the stage finished. [`jsonl::StageFile`] reads a file of any prefix of a
//! valid file (a torn last line is ignored), so a killed run loses nothing already written.

pub mod jsonl;
pub mod key;
pub mod manifest;
pub mod usage;
pub mod verdicts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use agentless_harness::files::write_atomic;
pub use jsonl::{Begin, End, Envelope, StageFile, StageWriter};
pub use key::StageKey;
pub use manifest::{MANIFEST_FORMAT_VERSION, RunManifest};
pub use usage::{InstanceUsage, Prices, USAGE_FORMAT_VERSION, UsageFile};
pub use verdicts::CandidateVerdict;

const INSTANCES_DIR: &str = "instances";
const PREDICTIONS_FILE: &str = "predictions.jsonl";
const USAGE_FILE: &str = "usage.json";
const MANIFEST_FILE: &str = "run.json";
const VERDICTS_FILE: &str = "candidate-verdicts.jsonl";
const LOGS_DIR: &str = "logs";
const CANDIDATES_DIR: &str = "candidates";
const CLUSTER_DIR: &str = "cluster";

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
    /// Writing a file (the error names it).
    #[error(transparent)]
    Write(std::io::Error),
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
        let instances = root.join(INSTANCES_DIR);
        fs_err::create_dir_all(&instances).map_err(|e| ArtifactError::io(&root, e))?;
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

    /// Open an existing run directory to read it (nothing is created or changed). The folder
    /// must exist, and its `run.json` and `usage.json`, where present, must be of a format
    /// this version reads: a missing folder or a garbled file is an error that names it. A
    /// folder without pipeline artifacts (an evaluation alone) opens.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ArtifactError> {
        let root = root.into();
        match fs_err::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ArtifactError::Invalid(format!(
                    "{} is not a run directory (not a folder)",
                    root.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::Invalid(format!(
                    "{}: no such run directory",
                    root.display()
                )));
            }
            Err(e) => return Err(ArtifactError::io(&root, e)),
        }
        let dir = RunDir::at(root);
        dir.manifest()?;
        dir.usage()?;
        Ok(dir)
    }

    /// Where the run-wide files and the evaluation's run report go (the root, except in a
    /// task of a cluster run).
    pub fn files_dir(&self) -> &Path {
        &self.files
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the folder holds pipeline artifacts (`instances/`), rather than an
    /// evaluation alone.
    pub fn has_instances(&self) -> bool {
        self.root.join(INSTANCES_DIR).is_dir()
    }

    /// The instances with a folder, sorted (none when there is no `instances/`).
    pub fn instance_ids(&self) -> Result<Vec<String>, ArtifactError> {
        let dir = self.root.join(INSTANCES_DIR);
        let entries = match fs_err::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ArtifactError::io(&dir, e)),
        };
        let mut ids = Vec::new();
        for e in entries {
            let e = e.map_err(|e| ArtifactError::io(&dir, e))?;
            if e.path().is_dir() {
                ids.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The folder of one instance (checked to be a single path component).
    pub fn instance_dir(&self, instance_id: &str) -> Result<PathBuf, ArtifactError> {
        if instance_id.is_empty() || instance_id.starts_with('.') || instance_id.contains(['/', '\\', '\0']) {
            return Err(ArtifactError::Invalid(format!(
                "instance id {instance_id:?} cannot name a folder"
            )));
        }
        Ok(self.root.join(INSTANCES_DIR).join(instance_id))
    }

    /// The artifact file of `stage` for an instance.
    pub fn stage_file(&self, instance_id: &str, stage: StageId) -> Result<PathBuf, ArtifactError> {
        Ok(self.instance_dir(instance_id)?.join(format!("{}.jsonl", stage.name())))
    }

    /// Whether an instance has a file for `stage` (the stage ran, or runs, for it).
    pub fn has_stage(&self, instance_id: &str, stage: StageId) -> Result<bool, ArtifactError> {
        Ok(self.stage_file(instance_id, stage)?.is_file())
    }

    /// Read an instance's file of `stage` as records of `T` (None when there is none; a torn
    /// tail is ignored, as the pipeline does).
    pub fn read_stage<T: serde::de::DeserializeOwned>(
        &self,
        instance_id: &str,
        stage: StageId,
    ) -> Result<Option<StageFile<T>>, ArtifactError> {
        StageFile::read(&self.stage_file(instance_id, stage)?)
    }

    /// An instance's tokens: the sum of the `usage` of every record of its stage files.
    pub fn record_usage(&self, instance_id: &str) -> Result<InstanceUsage, ArtifactError> {
        let mut total = InstanceUsage::default();
        for stage in StageId::ALL {
            if let Some(f) = self.read_stage::<usage::RecordUsage>(instance_id, stage)? {
                total.add(&usage::sum(&f.records));
            }
        }
        Ok(total)
    }

    pub fn predictions_file(&self) -> PathBuf {
        self.files.join(PREDICTIONS_FILE)
    }

    pub fn usage_file(&self) -> PathBuf {
        self.files.join(USAGE_FILE)
    }

    pub fn settings_file(&self) -> PathBuf {
        self.files.join(MANIFEST_FILE)
    }

    /// Where the evaluation's official log tree goes.
    pub fn evaluation_log_root(&self) -> PathBuf {
        self.root.join(LOGS_DIR).join("run_evaluation")
    }

    /// Where the run reports of the candidate gradings go.
    pub fn candidates_report_dir(&self) -> PathBuf {
        self.root.join(LOGS_DIR).join(CANDIDATES_DIR)
    }

    /// The folder of a cluster run's job (`crate::cluster`: `job.json`, batch scripts, one
    /// folder per shard).
    pub fn cluster_dir(&self) -> PathBuf {
        self.root.join(CLUSTER_DIR)
    }

    pub fn verdicts_file(&self) -> PathBuf {
        self.root.join(VERDICTS_FILE)
    }

    /// `run.json` (None when absent; an unreadable or garbled file is an error).
    pub fn manifest(&self) -> Result<Option<RunManifest>, ArtifactError> {
        let m: Option<RunManifest> = read_json(&self.settings_file(), "run manifest")?;
        if let Some(m) = &m {
            check_version(&self.settings_file(), m.format_version, MANIFEST_FORMAT_VERSION)?;
        }
        Ok(m)
    }

    pub fn write_manifest(&self, manifest: &RunManifest) -> Result<(), ArtifactError> {
        write_json(&self.settings_file(), manifest)
    }

    /// `usage.json` (None when absent; an unreadable or garbled file is an error).
    pub fn usage(&self) -> Result<Option<UsageFile>, ArtifactError> {
        let u: Option<UsageFile> = read_json(&self.usage_file(), "usage file")?;
        if let Some(u) = &u {
            check_version(&self.usage_file(), u.format_version, USAGE_FORMAT_VERSION)?;
        }
        Ok(u)
    }

    /// Rewrite `usage.json` at `prices`: the instances it already lists and `ids`, each
    /// summed again from its stage records. Returns what was written.
    pub fn refresh_usage<'a>(
        &self,
        prices: Prices,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<UsageFile, ArtifactError> {
        let mut all: Vec<String> = self
            .usage()?
            .map(|u| u.instances.into_keys().collect())
            .unwrap_or_default();
        all.extend(ids.into_iter().map(str::to_owned));
        let mut file = UsageFile::new(prices);
        for id in all {
            let u = self.record_usage(&id)?;
            file.set(&id, u);
        }
        write_json(&self.usage_file(), &file)?;
        Ok(file)
    }

    /// The verdicts of unsubmitted candidates: `(instance_id, normalized_sha) → resolved`.
    pub fn read_verdicts(&self) -> Result<BTreeMap<(String, String), bool>, ArtifactError> {
        let path = self.verdicts_file();
        let mut out = BTreeMap::new();
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(ArtifactError::io(&path, e)),
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: CandidateVerdict = serde_json::from_str(line).map_err(|e| ArtifactError::Corrupt {
                path: path.clone(),
                line: i + 1,
                message: format!("not a candidate verdict: {e}"),
            })?;
            out.insert((v.instance_id, v.normalized_sha), v.resolved);
        }
        Ok(out)
    }

    /// Append verdicts (one write, so a killed process leaves whole lines or a torn last one).
    pub fn append_verdicts(&self, verdicts: &[CandidateVerdict]) -> Result<(), ArtifactError> {
        let path = self.verdicts_file();
        let mut lines = String::new();
        for v in verdicts {
            let line = serde_json::to_string(v).map_err(|e| ArtifactError::Invalid(e.to_string()))?;
            lines.push_str(&line);
            lines.push('\n');
        }
        let mut f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ArtifactError::io(&path, e))?;
        std::io::Write::write_all(&mut f, lines.as_bytes()).map_err(|e| ArtifactError::io(&path, e))
    }

    /// When the run started (`run.json` written, as the first file of an invocation) and the
    /// last time an artifact was written (stage files, predictions, usage). None without
    /// `run.json`.
    pub fn activity_span(&self) -> Option<(SystemTime, SystemTime)> {
        let modified = |p: &Path| fs_err::metadata(p).and_then(|m| m.modified()).ok();
        let start = modified(&self.settings_file())?;
        let mut last = start;
        for f in [self.predictions_file(), self.usage_file()] {
            if let Some(t) = modified(&f) {
                last = last.max(t);
            }
        }
        let mut stack = vec![self.root.join(INSTANCES_DIR)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs_err::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(t) = modified(&p) {
                    last = last.max(t);
                }
            }
        }
        Some((start, last))
    }
}

/// Read a JSON file of the layout (None when absent).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>, ArtifactError> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ArtifactError::io(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ArtifactError::Corrupt {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("not a valid {what}: {e}"),
        })
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ArtifactError::Invalid(e.to_string()))?;
    write_atomic(path, text.as_bytes()).map_err(ArtifactError::Write)
}

fn check_version(path: &Path, found: u32, known: u32) -> Result<(), ArtifactError> {
    if found > known {
        return Err(ArtifactError::Invalid(format!(
            "{}: format version {found} is newer than this agentless-mini reads ({known}); use a newer version",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_refuses_a_missing_or_garbled_run_and_names_it() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        let e = RunDir::open(&missing).unwrap_err().to_string();
        assert_eq!(e, format!("{}: no such run directory", missing.display()));
        let file = d.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = RunDir::open(&file).unwrap_err().to_string();
        assert!(e.contains("not a run directory"), "{e}");

        // An evaluation alone (no instances/, no run.json) opens; nothing is created.
        let run = d.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let dir = RunDir::open(&run).unwrap();
        assert!(!dir.has_instances() && dir.instance_ids().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(&run).unwrap().count(), 0);

        std::fs::write(run.join("run.json"), "{\"settings\": ").unwrap();
        let e = RunDir::open(&run).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: line 1: not a valid run manifest",
                run.join("run.json").display()
            )),
            "{e}"
        );
        std::fs::write(run.join("run.json"), "{\"format_version\": 99}").unwrap();
        let e = RunDir::open(&run).unwrap_err().to_string();
        assert!(e.contains("format version 99 is newer"), "{e}");
        std::fs::write(run.join("run.json"), "{}").unwrap();
        std::fs::write(
            run.join("usage.json"),
            "{\"instances\": {\"a\": {\"prompt_tokens\": \"many\"}}}",
        )
        .unwrap();
        let e = RunDir::open(&run).unwrap_err().to_string();
        assert!(e.contains("usage.json") && e.contains("not a valid usage file"), "{e}");
        std::fs::write(run.join("usage.json"), "{}").unwrap();
        RunDir::open(&run).unwrap();
    }

    #[test]
    fn usage_is_summed_from_every_stage_file_and_refreshed_whole() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::create(d.path()).unwrap();
        let write = |id: &str, stage: StageId, records: &[&str]| {
            let path = run.stage_file(id, stage).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut text = format!(
                "{{\"type\":\"begin\",\"data\":{{\"stage\":\"{stage}\",\"format_version\":1,\"key\":\"sha256:0\",\"started_at_unix\":0}}}}\n"
            );
            for r in records {
                text.push_str(&format!("{{\"type\":\"record\",\"data\":{r}}}\n"));
            }
            std::fs::write(path, text).unwrap();
        };
        let used = |p: u64, c: u64| {
            format!("{{\"kind\":\"sample\",\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{c}}}}}")
        };
        write(
            "a__b-1",
            StageId::Localize,
            &[&used(10, 1), &used(20, 2), "{\"kind\":\"prompt\"}"],
        );
        write("a__b-1", StageId::Repair, &[&used(100, 10)]);
        write("a__b-1", StageId::Execute, &["{\"normalized_sha\":\"x\"}"]);
        write("a__b-2", StageId::Repair, &[&used(5, 5)]);
        let u = run.record_usage("a__b-1").unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.requests), (130, 13, 3));

        let prices = Prices {
            per_mtok_in: 1e6,
            per_mtok_out: 2e6,
        };
        let f = run.refresh_usage(prices, ["a__b-1"]).unwrap();
        assert_eq!(f.instances.len(), 1);
        assert_eq!(f.instances["a__b-1"].cost, 130.0 + 26.0);
        // A later invocation over another instance keeps the first one, summed again.
        write("a__b-1", StageId::Regression, &[&used(1000, 0)]);
        let f = run.refresh_usage(prices, ["a__b-2"]).unwrap();
        assert_eq!(f.instances["a__b-1"].prompt_tokens, 1130);
        assert_eq!(f.instances["a__b-2"].prompt_tokens, 5);
        assert_eq!(run.usage().unwrap().unwrap(), f);
        assert_eq!(f.format_version, USAGE_FORMAT_VERSION);
    }
}
