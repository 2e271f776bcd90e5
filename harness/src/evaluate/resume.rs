//! Resume: a finished instance (its `report.json` exists) is skipped on a re-run with the
//! same run id only when the inputs that decided its verdict are the same — the patch, the
//! dataset row, the eval script and the grading mode. They are fingerprinted in a small key
//! file beside the logs, written just before `report.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::logs::{KEY_FILE, REPORT_FILE};
use crate::dataset::Instance;
use crate::files::write_atomic;
use crate::grade::GradingMode;
use crate::report::InstanceReport;

/// The fingerprint of one instance's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputKey {
    pub version: u32,
    pub patch_sha256: String,
    pub instance_sha256: String,
    pub eval_script_sha256: String,
    pub grading: GradingMode,
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl InputKey {
    pub fn new(instance: &Instance, patch: &str, eval_script: &str, grading: GradingMode) -> Self {
        let row = serde_json::to_vec(instance).unwrap_or_default();
        InputKey {
            version: 1,
            patch_sha256: sha(patch.as_bytes()),
            instance_sha256: sha(&row),
            eval_script_sha256: sha(eval_script.as_bytes()),
            grading,
        }
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&dir.join(KEY_FILE), text.as_bytes())
    }
}

/// A finished instance that may be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub report: InstanceReport,
}

/// The stored verdict of `dir` when its key equals `key` and its report is readable.
pub fn finished_with(dir: &Path, instance_id: &str, key: &InputKey) -> Option<Finished> {
    let stored: InputKey = serde_json::from_slice(&fs_err::read(dir.join(KEY_FILE)).ok()?).ok()?;
    if stored != *key {
        return None;
    }
    let text = fs_err::read_to_string(dir.join(REPORT_FILE)).ok()?;
    let mut map: std::collections::BTreeMap<String, InstanceReport> = serde_json::from_str(&text).ok()?;
    Some(Finished {
        report: map.remove(instance_id)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst() -> Instance {
        serde_json::from_value(serde_json::json!({
            "instance_id": "a__b-1", "repo": "a/b", "base_commit": "c", "FAIL_TO_PASS": ["t"], "PASS_TO_PASS": []
        }))
        .unwrap()
    }

    #[test]
    fn only_identical_inputs_resume() {
        let dir = tempfile::tempdir().unwrap();
        let key = InputKey::new(&inst(), "p", "s", GradingMode::V4);
        assert!(finished_with(dir.path(), "a__b-1", &key).is_none(), "no files yet");
        key.write(dir.path()).unwrap();
        assert!(finished_with(dir.path(), "a__b-1", &key).is_none(), "no report yet");
        let report = r#"{"a__b-1": {"patch_is_None": false, "patch_exists": true, "patch_successfully_applied": true, "resolved": true}}"#;
        fs_err::write(dir.path().join(REPORT_FILE), report).unwrap();
        let f = finished_with(dir.path(), "a__b-1", &key).expect("finished");
        assert!(f.report.resolved);
        for other in [
            InputKey::new(&inst(), "p2", "s", GradingMode::V4),
            InputKey::new(&inst(), "p", "s2", GradingMode::V4),
            InputKey::new(&inst(), "p", "s", GradingMode::V5),
            {
                let mut i = inst();
                i.pass_to_pass.push("u".into());
                InputKey::new(&i, "p", "s", GradingMode::V4)
            },
        ] {
            assert!(finished_with(dir.path(), "a__b-1", &other).is_none(), "{other:?}");
        }
    }
}
