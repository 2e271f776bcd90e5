//! Finding and reading an evaluation's results: the official run report
//! (`<model>.<run_id>.json`, schema version 2), the hardened run report of `--integrity
//! strict` beside it (`<model>.<run_id>.hardened.json`, never taken for the official one), the
//! integrity keys of either, and the per-instance log folders
//! (`logs/run_evaluation/<run_id>/<model>/<instance_id>/`, with `integrity.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentless_harness::evaluate::logs::{
    INSTANCE_LOG_FILE, PATCH_FILE, REPORT_FILE, RUN_EVALUATION_DIR, TEST_OUTPUT_FILE,
};
use agentless_harness::integrity::IntegrityReport;
use agentless_harness::integrity::run::{hardened_report_path, read_integrity};
use agentless_harness::report::{InstanceReport, RunReport};
use serde_json::Value;

use super::ReportingError;

/// Read a run report. Fields only some versions write (`unstopped_*`, `unremoved_images`,
/// 5.x's `infra_failure_*`, `ambiguous_failure_*`, `failure_reasons`) are kept when present.
pub fn read_run_report(path: &Path) -> Result<RunReport, ReportingError> {
    let text = fs_err::read_to_string(path).map_err(|e| ReportingError::io(path, e))?;
    parse_run_report(path, &text)
}

/// Parse run report text; `path` only names the source in errors.
pub fn parse_run_report(path: &Path, text: &str) -> Result<RunReport, ReportingError> {
    let bad = |message: String| ReportingError::Parse {
        path: path.to_path_buf(),
        what: "run report",
        message,
    };
    let mut value: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let Value::Object(map) = &mut value else {
        return Err(bad("not a JSON object".into()));
    };
    for key in ["total_instances", "resolved_ids"] {
        if !map.contains_key(key) {
            return Err(bad(format!("missing `{key}`")));
        }
    }
    map.entry("schema_version").or_insert(Value::from(2));
    // Older reports may lack some id lists or counts: fill them from what is there.
    for k in [
        "completed_ids",
        "incomplete_ids",
        "empty_patch_ids",
        "submitted_ids",
        "unresolved_ids",
        "error_ids",
    ] {
        map.entry(k).or_insert(Value::Array(vec![]));
    }
    for (count, ids) in [
        ("submitted_instances", "submitted_ids"),
        ("completed_instances", "completed_ids"),
        ("resolved_instances", "resolved_ids"),
        ("unresolved_instances", "unresolved_ids"),
        ("empty_patch_instances", "empty_patch_ids"),
        ("error_instances", "error_ids"),
    ] {
        if !map.contains_key(count) {
            let n = map.get(ids).and_then(Value::as_array).map_or(0, Vec::len);
            map.insert(count.to_owned(), Value::from(n));
        }
    }
    let report: RunReport = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    if report.resolved_ids.len() != report.resolved_instances {
        return Err(bad(format!(
            "resolved_instances is {} but resolved_ids lists {}",
            report.resolved_instances,
            report.resolved_ids.len()
        )));
    }
    Ok(report)
}

/// The suffix of the hardened run report (`--integrity strict`).
const HARDENED_SUFFIX: &str = ".hardened.json";

/// Is this the hardened run report of `--integrity strict`?
pub fn is_hardened_report(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(HARDENED_SUFFIX))
}

/// The hardened run report beside an official one, when it exists.
pub fn hardened_beside(official: &Path) -> Option<PathBuf> {
    if is_hardened_report(official) {
        return None;
    }
    let p = hardened_report_path(official);
    p.is_file().then_some(p)
}

/// The official run report a hardened one was derived from (`m.r.hardened.json` → `m.r.json`).
pub fn official_of_hardened(hardened: &Path) -> Option<PathBuf> {
    let name = hardened.file_name()?.to_str()?;
    let stem = name.strip_suffix(HARDENED_SUFFIX)?;
    Some(hardened.with_file_name(format!("{stem}.json")))
}

/// The run report's `flagged_ids` (the integrity key after the official ones); None when the
/// report has no integrity keys (it predates them, or came from another harness).
pub fn read_flagged_ids(path: &Path) -> Result<Option<Vec<String>>, ReportingError> {
    let text = fs_err::read_to_string(path).map_err(|e| ReportingError::io(path, e))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ReportingError::Parse {
        path: path.to_path_buf(),
        what: "run report",
        message: e.to_string(),
    })?;
    Ok(value
        .get("flagged_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect()))
}

/// Does this file look like a run report (cheap check before parsing)?
fn looks_like_run_report(path: &Path) -> bool {
    let Ok(meta) = fs_err::metadata(path) else { return false };
    if !meta.is_file() || meta.len() > 256 << 20 {
        return false;
    }
    let Ok(text) = fs_err::read_to_string(path) else {
        return false;
    };
    text.contains("\"resolved_ids\"") && text.contains("\"total_instances\"") && parse_run_report(path, &text).is_ok()
}

/// The run report a path names: the file itself, or the one run report found in a
/// directory (its top level and the folders just below, e.g. a pipeline run's
/// `evaluation/`). Several candidates are an error that lists them. A hardened report
/// (`*.hardened.json`) is never a candidate in a directory: it sits beside its official one
/// ([`hardened_beside`]).
pub fn locate_run_report(path: &Path) -> Result<PathBuf, ReportingError> {
    let meta = fs_err::metadata(path).map_err(|e| ReportingError::io(path, e))?;
    if meta.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut found = Vec::new();
    let mut dirs = vec![(path.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = dirs.pop() {
        let entries = fs_err::read_dir(&dir).map_err(|e| ReportingError::io(&dir, e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                // The official log tree holds one report.json per instance: never a run report.
                if depth < 2 && name != "logs" && !name.starts_with('.') {
                    dirs.push((p, depth + 1));
                }
            } else if name.ends_with(".json")
                && name != REPORT_FILE
                && !name.ends_with(HARDENED_SUFFIX)
                && looks_like_run_report(&p)
            {
                found.push(p);
            }
        }
    }
    found.sort();
    match found.len() {
        0 => Err(ReportingError::Invalid(format!(
            "no run report (`<model>.<run_id>.json`) found in {}; pass the report file itself",
            path.display()
        ))),
        1 => Ok(found.remove(0)),
        _ => Err(ReportingError::Ambiguous {
            dir: path.to_path_buf(),
            reports: found,
        }),
    }
}

/// A run report and where its log folders are (when they could be found).
#[derive(Debug, Clone)]
pub struct EvalRun {
    pub report_path: PathBuf,
    pub report: RunReport,
    /// `logs/run_evaluation/<run_id>/<model>`.
    pub model_log_dir: Option<PathBuf>,
    pub run_id: Option<String>,
    /// The model's folder name (`/` already replaced by `__`).
    pub model: Option<String>,
}

impl EvalRun {
    /// Locate and read a run report (see [`locate_run_report`]) and find its log folders
    /// below the report's folder, its parents, or `extra_roots`.
    pub fn open(path: &Path, extra_roots: &[PathBuf]) -> Result<Self, ReportingError> {
        let report_path = locate_run_report(path)?;
        let report = read_run_report(&report_path)?;
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Some(dir) = report_path.parent() {
            let mut d = Some(dir);
            while let Some(x) = d {
                roots.push(if x.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    x.to_path_buf()
                });
                d = x.parent();
            }
        }
        roots.extend(extra_roots.iter().cloned());
        let (model_log_dir, run_id, model) = match find_model_log_dir(&report_path, &roots) {
            Some((dir, run_id, model)) => (Some(dir), Some(run_id), Some(model)),
            None => {
                let (model, run_id) = split_report_name(&report_path).unzip();
                (None, run_id, model)
            }
        };
        Ok(EvalRun {
            report_path,
            report,
            model_log_dir,
            run_id,
            model,
        })
    }

    /// The log folder of one instance, if it exists.
    pub fn instance_dir(&self, instance_id: &str) -> Option<PathBuf> {
        let dir = self.model_log_dir.as_ref()?.join(instance_id);
        dir.is_dir().then_some(dir)
    }

    /// Read every instance's log folder that exists (completed and error instances).
    pub fn instance_logs(&self) -> BTreeMap<String, InstanceLogs> {
        let mut out = BTreeMap::new();
        let ids = self
            .report
            .completed_ids
            .iter()
            .chain(&self.report.error_ids)
            .chain(&self.report.empty_patch_ids);
        for id in ids {
            if let Some(dir) = self.instance_dir(id) {
                out.insert(id.clone(), InstanceLogs::read(&dir, id));
            }
        }
        out
    }
}

/// `<model>.<run_id>.json` → the first split at a `.` (model names rarely hold dots;
/// [`find_model_log_dir`] tries every split against the log tree).
fn split_report_name(path: &Path) -> Option<(String, String)> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let (m, r) = stem.split_once('.')?;
    Some((m.to_owned(), r.to_owned()))
}

/// Try every `<model>.<run_id>` split of the report's name against
/// `<root>/logs/run_evaluation/<run_id>/<model>` for each root.
fn find_model_log_dir(report_path: &Path, roots: &[PathBuf]) -> Option<(PathBuf, String, String)> {
    let stem = report_path.file_name()?.to_str()?.strip_suffix(".json")?;
    let splits: Vec<(&str, &str)> = stem
        .match_indices('.')
        .map(|(i, _)| (&stem[..i], &stem[i + 1..]))
        .filter(|(m, r)| !m.is_empty() && !r.is_empty())
        .collect();
    for root in roots {
        for (model, run_id) in &splits {
            let dir = root.join(RUN_EVALUATION_DIR).join(run_id).join(model);
            if dir.is_dir() {
                return Some((dir, (*run_id).to_owned(), (*model).to_owned()));
            }
        }
    }
    None
}

/// What one instance's log folder says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceLogs {
    pub dir: PathBuf,
    /// `report.json`'s verdict (None when missing or unreadable: an official error).
    pub report: Option<InstanceReport>,
    /// `Test runtime: N seconds` from `run_instance.log`.
    pub test_seconds: Option<f64>,
    /// The patch could not be applied (`Failed to apply patch` / `Patch Apply Failed`).
    pub apply_failed: bool,
    /// The last `ERROR` record of `run_instance.log`, if any.
    pub last_error: Option<String>,
    /// The tests ran past the timeout (`Timeout error:` at the end of `test_output.txt`).
    pub timed_out: bool,
    /// `patch.diff` exists.
    pub has_patch: bool,
    /// `integrity.json` (None: missing or unreadable, e.g. an official harness's logs).
    pub integrity: Option<IntegrityReport>,
}

impl InstanceLogs {
    /// Read the folder; missing or unreadable files leave their fields empty.
    pub fn read(dir: &Path, instance_id: &str) -> Self {
        let report = fs_err::read_to_string(dir.join(REPORT_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<BTreeMap<String, InstanceReport>>(&t).ok())
            .and_then(|mut m| m.remove(instance_id));
        let log = fs_err::read_to_string(dir.join(INSTANCE_LOG_FILE)).unwrap_or_default();
        let mut test_seconds = None;
        let mut last_error = None;
        let mut apply_failed = false;
        let mut timed_out = false;
        for line in log.lines() {
            if let Some(rest) = line.split_once(" - INFO - Test runtime: ").map(|(_, r)| r) {
                test_seconds = rest.trim_end_matches(" seconds").replace('_', "").parse().ok();
            } else if let Some((_, msg)) = line.split_once(" - ERROR - ") {
                last_error = Some(msg.to_owned());
            }
            if line.contains("Failed to apply patch to container") || line.contains(">>>>> Patch Apply Failed") {
                apply_failed = true;
            }
        }
        if let Ok(bytes) = fs_err::read(dir.join(TEST_OUTPUT_FILE)) {
            let tail = &bytes[bytes.len().saturating_sub(4096)..];
            timed_out = String::from_utf8_lossy(tail).contains("Timeout error:");
        }
        InstanceLogs {
            dir: dir.to_path_buf(),
            report,
            test_seconds,
            apply_failed,
            last_error,
            timed_out,
            has_patch: dir.join(PATCH_FILE).is_file(),
            integrity: read_integrity(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_optional_fields_default_and_counts_are_checked() {
        let p = Path::new("r.json");
        let r = parse_run_report(
            p,
            r#"{"total_instances": 3, "resolved_ids": ["a"], "resolved_instances": 1}"#,
        )
        .unwrap();
        assert_eq!(r.resolved_ids, vec!["a"]);
        assert_eq!(r.schema_version, 2);
        let e = parse_run_report(
            p,
            r#"{"total_instances": 3, "resolved_ids": ["a"], "resolved_instances": 2}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("resolved_instances is 2"), "{e}");
        let e = parse_run_report(p, r#"{"resolved_ids": []}"#).unwrap_err();
        assert!(e.to_string().contains("total_instances"), "{e}");
        assert!(parse_run_report(p, "[1]").is_err());
    }

    #[test]
    fn report_names_split_at_the_first_dot() {
        assert_eq!(
            split_report_name(Path::new("x/m.run-1.json")),
            Some(("m".into(), "run-1".into()))
        );
        assert_eq!(split_report_name(Path::new("nodot.json")), None);
    }

    #[test]
    fn hardened_reports_are_told_apart_from_official_ones() {
        let dir = tempfile::tempdir().unwrap();
        let official = dir.path().join("m.r.json");
        let hardened = dir.path().join("m.r.hardened.json");
        let text = r#"{"total_instances": 2, "resolved_ids": ["a"], "resolved_instances": 1, "flagged_ids": ["a"]}"#;
        std::fs::write(&official, text).unwrap();
        assert_eq!(hardened_beside(&official), None);
        std::fs::write(
            &hardened,
            text.replace(
                r#""resolved_ids": ["a"], "resolved_instances": 1"#,
                r#""resolved_ids": [], "resolved_instances": 0"#,
            ),
        )
        .unwrap();
        assert!(is_hardened_report(&hardened) && !is_hardened_report(&official));
        assert_eq!(hardened_beside(&official), Some(hardened.clone()));
        assert_eq!(hardened_beside(&hardened), None);
        assert_eq!(official_of_hardened(&hardened), Some(official.clone()));
        // A folder with both: the official one, not "several run reports".
        assert_eq!(locate_run_report(dir.path()).unwrap(), official);
        assert_eq!(read_flagged_ids(&official).unwrap(), Some(vec!["a".to_owned()]));
        std::fs::write(&official, r#"{"total_instances": 2, "resolved_ids": []}"#).unwrap();
        assert_eq!(read_flagged_ids(&official).unwrap(), None);
    }
}
