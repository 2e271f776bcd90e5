//! The files of swe-rl's Agentless Mini: their names in the layout and their rows, with the
//! field names upstream's `localize.py`, `repair.py` and `rerank.py` write and read. JSON Lines
//! in and out; a missing optional field reads as empty.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::InteropError;

/// Localization output (`localize.py --output_file`).
pub const LOC_FILE: &str = "loc.jsonl";
/// The regression tests that count (`rerank.py --regression_test_file`).
pub const REGRESSION_TESTS_FILE: &str = "regression_tests.jsonl";
/// The code of the reproduction tests (an addition of ours: upstream never reads it).
pub const REPRO_TESTS_FILE: &str = "reproduction_tests.jsonl";
/// The repair folder (`repair.py --output_folder`, `rerank.py --patch_folder`).
pub const REPAIR_DIR: &str = "repair";

/// The files of one layout rooted at a folder.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn loc(&self) -> PathBuf {
        self.root.join(LOC_FILE)
    }
    pub fn regression_tests(&self) -> PathBuf {
        self.root.join(REGRESSION_TESTS_FILE)
    }
    pub fn repro_tests(&self) -> PathBuf {
        self.root.join(REPRO_TESTS_FILE)
    }
    pub fn repair_dir(&self) -> PathBuf {
        self.root.join(REPAIR_DIR)
    }
    pub fn repair_output(&self) -> PathBuf {
        self.repair_dir().join("output.jsonl")
    }
    pub fn processed(&self, i: usize) -> PathBuf {
        self.repair_dir().join(format!("output_{i}_processed.jsonl"))
    }
    pub fn normalized(&self, i: usize) -> PathBuf {
        self.repair_dir().join(format!("output_{i}_normalized.jsonl"))
    }
    pub fn regression_results(&self, i: usize) -> PathBuf {
        self.repair_dir()
            .join(format!("output_{i}_regression_test_results.jsonl"))
    }
    pub fn reproduction_results(&self, i: usize) -> PathBuf {
        self.repair_dir()
            .join(format!("output_{i}_reproduction_test_results.jsonl"))
    }

    /// How many samples the folder holds: `output_{i}_normalized.jsonl` (or `_processed`)
    /// for i = 0, 1, … without a gap.
    pub fn sample_count(&self) -> usize {
        (0..)
            .take_while(|&i| self.normalized(i).is_file() || self.processed(i).is_file())
            .count()
    }
}

/// A prompt and the model's answer (`file_traj`, `traj`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traj {
    pub prompt: String,
    pub response: String,
}

/// `found_files`: one list per localization sample, or (older files, ground truth) one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FoundFiles {
    PerSample(Vec<Vec<String>>),
    One(Vec<String>),
}

impl FoundFiles {
    pub fn lists(&self) -> Vec<Vec<String>> {
        match self {
            FoundFiles::PerSample(l) => l.clone(),
            FoundFiles::One(l) => vec![l.clone()],
        }
    }
}

/// A row of `loc.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocRow {
    pub instance_id: String,
    pub found_files: FoundFiles,
    #[serde(default)]
    pub file_traj: Vec<Traj>,
}

/// A row of `repair/output.jsonl` (`prev_content`, the original file contents, is not written:
/// a run directory does not keep file contents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairRow {
    pub instance_id: String,
    /// The answers after the thinking part is cut (equal to the generations without thinking).
    #[serde(default)]
    pub raw_output: Vec<String>,
    /// `[answers]`: the raw completions, by sample.
    #[serde(default)]
    pub all_generations: Vec<Vec<String>>,
    #[serde(default)]
    pub traj: Vec<Traj>,
    /// `[[edited files] per sample]`.
    #[serde(default)]
    pub file_names: Vec<Vec<Vec<String>>>,
    #[serde(default)]
    pub all_indices: Vec<usize>,
    /// The location set each sample was prompted with.
    #[serde(default)]
    pub all_found_files: Vec<Vec<String>>,
}

/// A row of `output_{i}_processed.jsonl` and (with `normalized_patch`) of
/// `output_{i}_normalized.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchRow {
    pub model_name_or_path: String,
    pub instance_id: String,
    /// The patch that is submitted; empty when the sample was dropped.
    pub model_patch: String,
    /// The diff before the syntax and blank-line checks.
    #[serde(default)]
    pub raw_model_patch: String,
    #[serde(default)]
    pub edited_files: Vec<String>,
    /// Upstream's file contents before and after the edit (needed only to normalize again:
    /// absent in our export, which writes the normalized files itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_file_content: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_file_content: Option<Vec<String>>,
    /// The vote key (normalized files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_patch: Option<String>,
}

/// A row of `output_{i}_regression_test_results.jsonl`. Without `regression` the patch counts
/// as 10000 failures in `rerank.py` (not run, or did not apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegressionResultRow {
    pub instance_id: String,
    /// The regression tests that did not pass with the patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<Vec<String>>,
}

/// A row of `output_{i}_reproduction_test_results.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproResultRow {
    pub instance_id: String,
    pub test_id: String,
    /// The test printed "Issue resolved" with the patch.
    pub resolved: bool,
}

/// A row of `regression_tests.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegressionTestsRow {
    pub instance_id: String,
    /// The tests whose failure counts (ours: passing on the original code, minus those the
    /// model filtered out).
    pub tests_passing_in_original_repo: Vec<String>,
}

/// A row of `reproduction_tests.jsonl` (ours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproTestRow {
    pub instance_id: String,
    pub test_id: String,
    /// The test script (a standalone Python file).
    pub code: String,
    /// How many generated samples normalized to this test.
    #[serde(default = "one")]
    pub votes: usize,
}

fn one() -> usize {
    1
}

/// Read a JSON Lines file (None when it does not exist). Blank lines are skipped; a line that
/// does not parse is an error naming it.
pub fn read_rows<T: DeserializeOwned>(path: &Path) -> Result<Option<Vec<T>>, InteropError> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(InteropError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(line).map_err(|e| InteropError::Row {
            path: path.to_path_buf(),
            line: n + 1,
            message: e.to_string(),
        })?);
    }
    Ok(Some(rows))
}

/// Write rows as JSON Lines, atomically.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), InteropError> {
    let mut text = String::new();
    for r in rows {
        let line = serde_json::to_string(r).map_err(|e| InteropError::Invalid(format!("{}: {e}", path.display())))?;
        text.push_str(&line);
        text.push('\n');
    }
    crate::artifact::write_atomic(path, text.as_bytes()).map_err(crate::artifact::ArtifactError::Write)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_rows_read_with_their_field_names() {
        let loc: LocRow =
            serde_json::from_str(r#"{"instance_id": "a__b-1", "found_files": [["x.py", "y.py"], []], "file_traj": [{"prompt": "p", "response": "r"}]}"#)
                .unwrap();
        assert_eq!(loc.found_files.lists(), vec![vec!["x.py", "y.py"], vec![]]);
        let gt: LocRow = serde_json::from_str(r#"{"instance_id": "a__b-1", "found_files": ["x.py"]}"#).unwrap();
        assert_eq!(gt.found_files.lists(), vec![vec!["x.py"]]);
        let row: RegressionResultRow = serde_json::from_str(r#"{"instance_id": "a"}"#).unwrap();
        assert_eq!(row.regression, None);
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"instance_id":"a"}"#,
            "no `regression` key: rerank.py counts 10000 failures"
        );
        let p: PatchRow = serde_json::from_str(
            r#"{"model_name_or_path": "agentless", "instance_id": "a", "model_patch": "", "raw_model_patch": "d", "original_file_content": ["x"], "edited_files": ["f.py"], "new_file_content": ["y"]}"#,
        )
        .unwrap();
        assert_eq!(p.normalized_patch, None);
        assert_eq!(p.edited_files, ["f.py"]);
    }

    #[test]
    fn sample_count_stops_at_the_first_gap() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path());
        fs_err::create_dir_all(l.repair_dir()).unwrap();
        for i in [0, 1, 3] {
            fs_err::write(l.normalized(i), "").unwrap();
        }
        assert_eq!(l.sample_count(), 2);
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        fs_err::write(&p, "{\"instance_id\": \"a\"}\n\nnot json\n").unwrap();
        let err = read_rows::<RegressionResultRow>(&p).unwrap_err().to_string();
        assert!(err.contains("x.jsonl:3:"), "{err}");
        assert!(
            read_rows::<RegressionResultRow>(&dir.path().join("none"))
                .unwrap()
                .is_none()
        );
    }
}
