//! `run.json`: how the last invocation over a run directory was made (informative: nothing is
//! resumed from it; the stage keys decide what is reused). Written by the pipeline commands
//! before any stage runs, read by the reports' run-settings block.
//!
//! Version 2 adds `format_version`; version 1 files (without it) read as they are, and a
//! newer version is refused.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The format written now.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;

fn version_1() -> u32 {
    1
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    #[serde(default = "version_1")]
    pub format_version: u32,
    /// The pipeline's settings as its owner (`pipeline::context::Settings`) serializes them.
    #[serde(default)]
    pub settings: serde_json::Value,
    /// `--model` as given.
    #[serde(default)]
    pub model: Option<String>,
    /// The instances of the invocation (after the shard).
    #[serde(default)]
    pub instances: Vec<String>,
    /// `--shard I/K` as `[I, K]`.
    #[serde(default)]
    pub shard: Option<(usize, usize)>,
    /// agentless-mini's version.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub dataset: DatasetRecord,
    #[serde(default)]
    pub prompts: Option<PromptsRecord>,
    #[serde(default)]
    pub locations: Option<LocationsRecord>,
}

/// The dataset: a hub split by repository, revision, commit and parquet sha256, or a named
/// split or a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default)]
    pub split: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// The prompt set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptsRecord {
    /// `--prompts FILE`, when given.
    pub file: Option<PathBuf>,
    pub name: String,
    pub fingerprint: String,
    /// The embedded default set.
    pub default: bool,
}

/// `--locations FILE` and its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationsRecord {
    pub file: PathBuf,
    pub sha256: String,
}

impl RunManifest {
    /// A number of the settings, by path (`["repair", "samples"]`); None when absent.
    pub fn setting_u64(&self, path: &[&str]) -> Option<u64> {
        path.iter().try_fold(&self.settings, |v, k| v.get(k))?.as_u64()
    }

    pub fn setting_f64(&self, path: &[&str]) -> Option<f64> {
        path.iter().try_fold(&self.settings, |v, k| v.get(k))?.as_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_reads_and_settings_are_reachable() {
        let v1 = r#"{"settings": {"seed": 7, "repair": {"samples": 8, "temperature": 0.8}},
            "model": "m", "instances": ["a__b-1"], "shard": null, "version": "0.1.0",
            "dataset": {"split": "demo", "file": null},
            "prompts": {"file": null, "name": "default", "fingerprint": "f", "default": true},
            "locations": null}"#;
        let m: RunManifest = serde_json::from_str(v1).unwrap();
        assert_eq!(m.format_version, 1);
        assert_eq!(m.setting_u64(&["repair", "samples"]), Some(8));
        assert_eq!(m.setting_f64(&["repair", "temperature"]), Some(0.8));
        assert_eq!(m.setting_u64(&["seed"]), Some(7));
        assert_eq!(m.setting_u64(&["localize", "samples"]), None);
        assert_eq!(m.dataset.split.as_deref(), Some("demo"));
        let back: RunManifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
