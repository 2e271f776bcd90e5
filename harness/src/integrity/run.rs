//! Integrity over a run: `integrity.json` files, the run report's extra keys
//! (`flagged_instances`, `flagged_ids`, after the official ones), the hardened run report
//! of `--integrity strict`, and the assessment of an existing log folder (`grade`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::diffs_from_instance_log;
use super::{HarnessObservations, INTEGRITY_FILE, Inputs, IntegrityReport, assess};
use crate::dataset::Instance;
use crate::grade::parser_for;
use crate::report::{RunReport, to_python_json};

/// What integrity findings do to a run's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrityMode {
    /// Findings are written beside the verdicts; no verdict changes anywhere.
    #[default]
    Report,
    /// Also write a hardened run report in which flagged instances are unresolved.
    Strict,
}

impl std::str::FromStr for IntegrityMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "report" => Ok(IntegrityMode::Report),
            "strict" => Ok(IntegrityMode::Strict),
            _ => Err(format!("unknown integrity mode {s:?} (expected report or strict)")),
        }
    }
}

impl std::fmt::Display for IntegrityMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IntegrityMode::Report => "report",
            IntegrityMode::Strict => "strict",
        })
    }
}

/// The flagged instances of a run (ids sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flagged {
    pub ids: BTreeSet<String>,
}

impl Flagged {
    pub fn from_reports<'a>(reports: impl IntoIterator<Item = &'a IntegrityReport>) -> Self {
        Flagged {
            ids: reports
                .into_iter()
                .filter(|r| r.flagged)
                .map(|r| r.instance_id.clone())
                .collect(),
        }
    }
}

/// The official run report followed by the integrity keys.
#[derive(Serialize)]
struct WithIntegrity<'a> {
    #[serde(flatten)]
    official: &'a RunReport,
    flagged_instances: usize,
    flagged_ids: Vec<&'a str>,
}

/// The run report's text: the official keys and values exactly as before, then
/// `flagged_instances` and `flagged_ids`; Python `json.dumps(indent=4)` format with a final
/// newline, like the official run report.
pub fn run_report_json(report: &RunReport, flagged: &Flagged) -> String {
    to_python_json(&WithIntegrity {
        official: report,
        flagged_instances: flagged.ids.len(),
        flagged_ids: flagged.ids.iter().map(String::as_str).collect(),
    }) + "\n"
}

/// The hardened run report: the official one with every flagged, resolved instance moved to
/// unresolved (counts follow). Everything else is unchanged.
pub fn hardened_run_report(report: &RunReport, flagged: &Flagged) -> RunReport {
    let mut h = report.clone();
    let demoted: Vec<String> = h
        .resolved_ids
        .iter()
        .filter(|id| flagged.ids.contains(*id))
        .cloned()
        .collect();
    h.resolved_ids.retain(|id| !flagged.ids.contains(id));
    h.unresolved_ids.extend(demoted);
    h.unresolved_ids.sort();
    h.resolved_instances = h.resolved_ids.len();
    h.unresolved_instances = h.unresolved_ids.len();
    h
}

/// `<model>.<run_id>.json` → `<model>.<run_id>.hardened.json`.
pub fn hardened_report_path(run_report: &Path) -> PathBuf {
    let name = run_report
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    run_report.with_file_name(format!("{stem}.hardened.json"))
}

/// Write the reports `mode` asks for beside the official run report at `run_report`:
/// the official one (with the integrity keys) always, the hardened one in strict mode.
/// Returns the hardened report's path when written.
pub fn write_run_reports(
    run_report: &Path,
    report: &RunReport,
    flagged: &Flagged,
    mode: IntegrityMode,
) -> std::io::Result<Option<PathBuf>> {
    crate::files::write_atomic(run_report, run_report_json(report, flagged).as_bytes())?;
    if mode != IntegrityMode::Strict {
        return Ok(None);
    }
    let path = hardened_report_path(run_report);
    let hardened = hardened_run_report(report, flagged);
    crate::files::write_atomic(&path, run_report_json(&hardened, flagged).as_bytes())?;
    Ok(Some(path))
}

/// Write `integrity.json` into an instance folder.
pub fn write_integrity(dir: &Path, report: &IntegrityReport) -> std::io::Result<()> {
    crate::files::write_atomic(&dir.join(INTEGRITY_FILE), report.to_json().as_bytes())
}

/// Read `integrity.json` from an instance folder (None when missing or unreadable).
pub fn read_integrity(dir: &Path) -> Option<IntegrityReport> {
    let text = fs_err::read_to_string(dir.join(INTEGRITY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Logs larger than this are not read for integrity checks.
const MAX_LOG_BYTES: u64 = 1 << 30;

/// Assess an instance's log folder (official layout: `test_output.txt`, `patch.diff`,
/// `run_instance.log`): the log checks, the patch checks when `patch.diff` is there, and the
/// repository-diff check when `run_instance.log` holds the `Git diff before/after` records.
pub fn assess_log_folder(inst: &Instance, dir: &Path) -> std::io::Result<IntegrityReport> {
    let read = |name: &str| -> std::io::Result<Option<String>> {
        let path = dir.join(name);
        match fs_err::metadata(&path) {
            Ok(m) if m.len() > MAX_LOG_BYTES => Err(std::io::Error::other(format!(
                "{} is over {MAX_LOG_BYTES} bytes",
                path.display()
            ))),
            Ok(_) => Ok(Some(String::from_utf8_lossy(&fs_err::read(&path)?).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    };
    let log = read("test_output.txt")?;
    let patch = read("patch.diff")?;
    let instance_log = read("run_instance.log")?;
    let observed = HarnessObservations {
        diffs: instance_log.as_deref().and_then(diffs_from_instance_log),
        eval_script_intact: None,
    };
    Ok(assess(&Inputs {
        instance: inst,
        model_patch: patch.as_deref(),
        log: log.as_deref(),
        parser: parser_for(inst),
        harness: Some(&observed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::InstanceOutcome;
    use crate::report::make_run_report;
    use std::collections::BTreeMap;

    fn dataset() -> Vec<Instance> {
        ["a__a-1", "b__b-2", "c__c-3"]
            .iter()
            .map(|id| {
                serde_json::from_value(serde_json::json!({
                    "instance_id": id, "repo": "o/r", "base_commit": "c", "FAIL_TO_PASS": [], "PASS_TO_PASS": []
                }))
                .unwrap()
            })
            .collect()
    }

    fn report() -> RunReport {
        let outcomes = BTreeMap::from([
            ("a__a-1".to_owned(), InstanceOutcome::Completed { resolved: true }),
            ("b__b-2".to_owned(), InstanceOutcome::Completed { resolved: true }),
            ("c__c-3".to_owned(), InstanceOutcome::Completed { resolved: false }),
        ]);
        make_run_report(&dataset(), &outcomes)
    }

    #[test]
    fn official_keys_come_first_and_unchanged() {
        let r = report();
        let flagged = Flagged {
            ids: BTreeSet::from(["b__b-2".to_owned(), "c__c-3".to_owned()]),
        };
        let text = run_report_json(&r, &flagged);
        let official = to_python_json(&r);
        // The official text, then the two keys.
        let head = official.strip_suffix("\n}").unwrap();
        assert!(text.starts_with(head), "{text}");
        assert!(text.ends_with(
            "    \"flagged_instances\": 2,\n    \"flagged_ids\": [\n        \"b__b-2\",\n        \"c__c-3\"\n    ]\n}\n"
        ));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.last().map(|k| k.as_str()), Some("flagged_ids"));
        // 4.1.0 without a Docker client ends with the `unstopped_*` keys after `schema_version`.
        assert_eq!(keys[keys.len() - 3].as_str(), "unremoved_images");
    }

    #[test]
    fn the_hardened_report_demotes_flagged_resolved_instances_only() {
        let r = report();
        let flagged = Flagged {
            ids: BTreeSet::from(["b__b-2".to_owned(), "c__c-3".to_owned()]),
        };
        let h = hardened_run_report(&r, &flagged);
        assert_eq!(h.resolved_ids, vec!["a__a-1"]);
        assert_eq!(h.unresolved_ids, vec!["b__b-2", "c__c-3"]);
        assert_eq!((h.resolved_instances, h.unresolved_instances), (1, 2));
        assert_eq!(h.completed_ids, r.completed_ids);
        assert_eq!(h.submitted_instances, r.submitted_instances);
        assert_eq!(
            hardened_report_path(Path::new("/x/org__m.run-1.json")),
            Path::new("/x/org__m.run-1.hardened.json")
        );
    }

    #[test]
    fn strict_writes_both_reports_report_mode_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.r.json");
        let flagged = Flagged {
            ids: BTreeSet::from(["a__a-1".to_owned()]),
        };
        assert_eq!(
            write_run_reports(&path, &report(), &flagged, IntegrityMode::Report).unwrap(),
            None
        );
        assert!(path.is_file() && !dir.path().join("m.r.hardened.json").exists());
        let hardened = write_run_reports(&path, &report(), &flagged, IntegrityMode::Strict)
            .unwrap()
            .unwrap();
        let h: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&hardened).unwrap()).unwrap();
        assert_eq!(h["resolved_instances"], 1);
        assert_eq!(h["flagged_ids"][0], "a__a-1");
        let o: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(o["resolved_instances"], 2, "the official report is unchanged");
        assert_eq!("strict".parse::<IntegrityMode>().unwrap(), IntegrityMode::Strict);
        assert!("lenient".parse::<IntegrityMode>().is_err());
    }
}
