//! SWE-bench instances: the typed row, loading from parquet / JSON / JSONL, and selection.

pub mod demo;
mod hub;
mod load;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use hub::{
    HubConfig, HubDataset, HubProgress, NoProgress, ResolvedDataset, Split, looks_like_repo_id, repo_aliases,
    resolve_hub, resolve_split,
};
pub use load::{load_dataset, parse_json_rows};

/// One SWE-bench instance, with every column the official datasets carry.
///
/// `FAIL_TO_PASS` / `PASS_TO_PASS` arrive as JSON-encoded strings in the official files; real
/// arrays are accepted too. Both keep the dataset's order: the report lists follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    pub repo: String,
    pub base_commit: String,
    #[serde(default)]
    pub patch: String,
    #[serde(default)]
    pub test_patch: String,
    #[serde(default)]
    pub problem_statement: String,
    #[serde(default)]
    pub hints_text: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub environment_setup_commit: String,
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: Vec<String>,
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<String>,
    /// 5.x datasets: the full eval script to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_script: Option<String>,
    /// 5.x datasets: the parser's registry name (`parse_log_django`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_parser: Option<String>,
    /// 5.x datasets: `pass_and_fail` or `fail_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_type: Option<String>,
    /// 5.x datasets: the instance image to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Errors while loading or selecting a dataset. Each names the file or instance at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    #[error("failed to read dataset {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("dataset {path}: not a valid parquet file")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("dataset {path}, row {row}: {message}")]
    Row { path: PathBuf, row: usize, message: String },
    #[error("dataset {path}: unsupported file type (expected .parquet, .json or .jsonl)")]
    UnknownFormat { path: PathBuf },
    #[error("dataset {path}: duplicate instance id {id}")]
    Duplicate { path: PathBuf, id: String },
    #[error("unknown instance id(s) not in the dataset: {}", ids.join(", "))]
    UnknownInstances { ids: Vec<String> },
    #[error("unknown split {0:?} (expected verified, lite, full or demo; test or dev with a repository id)")]
    UnknownSplit(String),
    #[error("revision {0:?}: expected a branch, tag or commit name (letters, digits, '-', '_', '.')")]
    BadRevision(String),
    #[error("failed to download {url}: {message}")]
    Download { url: String, message: String },
    #[error("no dataset found for split {split} in the Hugging Face cache {cache} (offline: HF_HUB_OFFLINE is set)")]
    Offline { split: String, cache: PathBuf },
}

/// Keep only the instances named in `ids` (in dataset order). Every id must exist.
///
/// An empty `ids` keeps everything.
pub fn select(instances: Vec<Instance>, ids: &[String]) -> Result<Vec<Instance>, DatasetError> {
    if ids.is_empty() {
        return Ok(instances);
    }
    let known: std::collections::HashSet<&str> = instances.iter().map(|i| i.instance_id.as_str()).collect();
    let mut unknown: Vec<String> = ids.iter().filter(|id| !known.contains(id.as_str())).cloned().collect();
    if !unknown.is_empty() {
        unknown.dedup();
        return Err(DatasetError::UnknownInstances { ids: unknown });
    }
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    Ok(instances
        .into_iter()
        .filter(|i| wanted.contains(i.instance_id.as_str()))
        .collect())
}

/// Read an instance-id list file: one id per line, blank lines and `#` comments ignored.
pub fn read_id_file(path: &std::path::Path) -> Result<Vec<String>, DatasetError> {
    let text = fs_err::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}
