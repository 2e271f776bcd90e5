//! The official report formats: per-instance `report.json` and the final run report
//! (`schema_version` 2), written the way Python's `json.dumps(..., indent=4)` writes them
//! (non-ASCII escaped as `\uXXXX`), so files compare byte for byte.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::dataset::Instance;
use crate::grade::{
    GradingMode, InfraClass, LogRejection, TestsStatus, classify_infra_failure, grade_tests, parse_log,
};
use crate::parse::LogParser;

/// One instance's verdict, in the official key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    #[serde(rename = "patch_is_None")]
    pub patch_is_none: bool,
    pub patch_exists: bool,
    pub patch_successfully_applied: bool,
    pub resolved: bool,
    /// 5.x only: whether the failure looks like the environment's fault (advisory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_failure: Option<bool>,
    /// 5.x only: the matched signature when the log could not be graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_status: Option<TestsStatus>,
}

/// What the grader concluded, typed (the report is derived from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub mode: GradingMode,
    pub kind: VerdictKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictKind {
    /// No patch was given: nothing to grade.
    NoPatch,
    /// The log could not be graded (reported as "patch not applied", not resolved).
    /// `infra` is the 5.x advisory classification (computed in v5 mode only).
    Rejected {
        why: LogRejection,
        infra: Option<InfraClass>,
    },
    /// Graded.
    Graded(TestsStatus),
}

impl Verdict {
    pub fn report(&self) -> InstanceReport {
        let v5 = self.mode == GradingMode::V5;
        let mut r = InstanceReport {
            patch_is_none: false,
            patch_exists: false,
            patch_successfully_applied: false,
            resolved: false,
            infra_failure: v5.then_some(false),
            infra_failure_reason: None,
            tests_status: None,
        };
        match &self.kind {
            VerdictKind::NoPatch => r.patch_is_none = true,
            VerdictKind::Rejected { infra, .. } => {
                r.patch_exists = true;
                if let (true, Some(c)) = (v5, infra) {
                    r.infra_failure = Some(c.environment);
                    r.infra_failure_reason = Some(c.reason.to_owned());
                }
            }
            VerdictKind::Graded(status) => {
                r.patch_exists = true;
                r.patch_successfully_applied = true;
                r.resolved = status.resolution() == crate::grade::Resolution::Full;
                r.tests_status = Some(status.clone());
            }
        }
        r
    }

    pub fn resolved(&self) -> bool {
        matches!(&self.kind, VerdictKind::Graded(s) if s.resolution() == crate::grade::Resolution::Full)
    }
}

/// Grade one instance's log: `get_eval_report`. `has_patch` false gives the no-patch report.
pub fn grade_instance(
    instance: &Instance,
    parser: LogParser,
    log: &str,
    has_patch: bool,
    mode: GradingMode,
) -> Verdict {
    let kind = if !has_patch {
        VerdictKind::NoPatch
    } else {
        match parse_log(log, parser, mode) {
            Ok(map) => VerdictKind::Graded(grade_tests(instance, &map, mode)),
            Err(why) => VerdictKind::Rejected {
                why,
                infra: if mode == GradingMode::V5 {
                    classify_infra_failure(log)
                } else {
                    None
                },
            },
        }
    };
    Verdict { mode, kind }
}

/// `{instance_id: report}` as the official `report.json` holds it.
pub fn instance_report_json(instance_id: &str, report: &InstanceReport) -> String {
    let mut map = BTreeMap::new();
    map.insert(instance_id, report);
    to_python_json(&map)
}

/// Serialize like Python's `json.dumps(value, indent=4)` (ASCII only, `\uXXXX` escapes).
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter::default());
    // Serializing plain data structures to memory cannot fail.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// serde_json's pretty formatter (4 spaces) with Python's `ensure_ascii=True` escaping.
struct PythonFormatter {
    inner: serde_json::ser::PrettyFormatter<'static>,
}

impl Default for PythonFormatter {
    fn default() -> Self {
        PythonFormatter {
            inner: serde_json::ser::PrettyFormatter::with_indent(b"    "),
        }
    }
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
            self.inner.$name(w $(, $arg)*)
        })*
    };
}

impl serde_json::ser::Formatter for PythonFormatter {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                let mut b = [0u8; 1];
                w.write_all(c.encode_utf8(&mut b).as_bytes())?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// The final run report (`make_run_report`, schema version 2). Id lists are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub total_instances: usize,
    pub submitted_instances: usize,
    pub completed_instances: usize,
    pub resolved_instances: usize,
    pub unresolved_instances: usize,
    pub empty_patch_instances: usize,
    pub error_instances: usize,
    pub completed_ids: Vec<String>,
    pub incomplete_ids: Vec<String>,
    pub empty_patch_ids: Vec<String>,
    pub submitted_ids: Vec<String>,
    pub resolved_ids: Vec<String>,
    pub unresolved_ids: Vec<String>,
    pub error_ids: Vec<String>,
    pub unstopped_instances: usize,
    pub unstopped_containers: Vec<String>,
    pub unremoved_images: Vec<String>,
    pub schema_version: u32,
    /// Not official: instances whose container was removed at the disk limit (a subset of
    /// `error_ids`). Absent when empty, so the report is byte-identical to the official one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_limit_ids: Vec<String>,
}

/// How one submitted instance ended, for the run report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceOutcome {
    /// The prediction's patch was empty or null: not run.
    EmptyPatch,
    /// A report was written; `resolved` from it.
    Completed { resolved: bool },
    /// Run, but no report (patch apply failure, timeout, infrastructure error).
    Error,
}

/// Build the run report over the whole dataset: instances with no outcome are incomplete.
pub fn make_run_report(dataset: &[Instance], outcomes: &BTreeMap<String, InstanceOutcome>) -> RunReport {
    let mut r = RunReport {
        total_instances: dataset.len(),
        schema_version: 2,
        ..Default::default()
    };
    let mut sets: [BTreeSet<String>; 6] = Default::default();
    let [completed, incomplete, empty, resolved, unresolved, error] = &mut sets;
    for inst in dataset {
        let id = inst.instance_id.clone();
        match outcomes.get(&id) {
            None => {
                incomplete.insert(id);
            }
            Some(InstanceOutcome::EmptyPatch) => {
                empty.insert(id);
            }
            Some(InstanceOutcome::Completed { resolved: res }) => {
                completed.insert(id.clone());
                if *res {
                    resolved.insert(id);
                } else {
                    unresolved.insert(id);
                }
            }
            Some(InstanceOutcome::Error) => {
                error.insert(id);
            }
        }
    }
    r.submitted_ids = outcomes.keys().cloned().collect();
    r.submitted_instances = outcomes.len();
    r.completed_instances = completed.len();
    r.resolved_instances = resolved.len();
    r.unresolved_instances = unresolved.len();
    r.empty_patch_instances = empty.len();
    r.error_instances = error.len();
    let [completed, incomplete, empty, resolved, unresolved, error] = sets;
    r.completed_ids = completed.into_iter().collect();
    r.incomplete_ids = incomplete.into_iter().collect();
    r.empty_patch_ids = empty.into_iter().collect();
    r.resolved_ids = resolved.into_iter().collect();
    r.unresolved_ids = unresolved.into_iter().collect();
    r.error_ids = error.into_iter().collect();
    r
}
