//! Environment specs per (repository, version): python version, packages, install and test
//! commands — the official `MAP_REPO_VERSION_TO_SPECS`, read from a JSON file
//! (`{"django/django": {"3.0": {...}}}`, the layout of `specs-verified-4.1.0.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `test_cmd` is a string for every Python repository; a list is accepted too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TestCmd {
    One(String),
    Many(Vec<String>),
}

impl TestCmd {
    /// The first command (Python repositories have exactly one).
    pub fn first(&self) -> &str {
        match self {
            TestCmd::One(s) => s,
            TestCmd::Many(v) => v.first().map_or("", String::as_str),
        }
    }
}

/// One (repository, version) environment, as the official specs define it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoSpec {
    pub python: String,
    /// `requirements.txt`, `environment.yml`, or a space-separated conda package list.
    #[serde(default)]
    pub packages: Option<String>,
    #[serde(default)]
    pub install: Option<String>,
    #[serde(default)]
    pub pre_install: Option<Vec<String>>,
    #[serde(default)]
    pub pip_packages: Option<Vec<String>>,
    #[serde(default)]
    pub eval_commands: Option<Vec<String>>,
    pub test_cmd: TestCmd,
    #[serde(default)]
    pub no_use_env: Option<bool>,
    /// Other keys (`nano_cpus`, ...) are kept but unused.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// All specs: repository → version → spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvSpecs(pub BTreeMap<String, BTreeMap<String, RepoSpec>>);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecsError {
    #[error("failed to read specs {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("specs {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl EnvSpecs {
    /// Load a specs file (`--specs FILE`).
    pub fn load(path: &Path) -> Result<Self, SpecsError> {
        let text = fs_err::read_to_string(path).map_err(|source| SpecsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| SpecsError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The spec of one repository version.
    pub fn get(&self, repo: &str, version: &str) -> Option<&RepoSpec> {
        self.0.get(repo)?.get(version)
    }
}
