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
///
/// The key set follows the official version in use ([`RunReportFlavor`]): 5.x adds
/// `infra_failure_*`, `ambiguous_failure_*` and `failure_reasons`; the `unstopped_*` /
/// `unremoved_images` keys come last, written by 4.1.0 only *without* a Docker client and by
/// 5.x only *with* one. Absent keys are `None` here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub total_instances: usize,
    pub submitted_instances: usize,
    pub completed_instances: usize,
    pub resolved_instances: usize,
    pub unresolved_instances: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_failure_instances: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_failure_instances: Option<usize>,
    pub empty_patch_instances: usize,
    pub error_instances: usize,
    pub completed_ids: Vec<String>,
    pub incomplete_ids: Vec<String>,
    pub empty_patch_ids: Vec<String>,
    pub submitted_ids: Vec<String>,
    pub resolved_ids: Vec<String>,
    pub unresolved_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_failure_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_failure_ids: Option<Vec<String>>,
    /// 5.x: instance id → the matched signature, for unresolved and error instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reasons: Option<BTreeMap<String, String>>,
    pub error_ids: Vec<String>,
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unstopped_instances: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unstopped_containers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unremoved_images: Option<Vec<String>>,
    /// Not official: instances whose container was removed at the disk limit (a subset of
    /// `error_ids`). Absent when empty, so the report is byte-identical to the official one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_limit_ids: Vec<String>,
}

/// Which official run report to write: the version's key set, and whether a Docker client
/// was at hand (`evaluate`: yes; `grade`, which only reads logs: no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReportFlavor {
    pub mode: GradingMode,
    pub docker_client: bool,
}

impl RunReportFlavor {
    /// Whether the `unstopped_*` keys are written: 4.1.0 without a client, 5.x with one.
    pub fn writes_unstopped(self) -> bool {
        match self.mode {
            GradingMode::V4 => !self.docker_client,
            GradingMode::V5 => self.docker_client,
        }
    }
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
/// The 4.1.0 key set without a Docker client (the `unstopped_*` keys empty).
pub fn make_run_report(dataset: &[Instance], outcomes: &BTreeMap<String, InstanceOutcome>) -> RunReport {
    make_run_report_as(
        dataset,
        outcomes,
        RunReportFlavor {
            mode: GradingMode::V4,
            docker_client: false,
        },
        &|_| None,
    )
}

/// Build the run report with `flavor`'s key set. `classify` gives the 5.x failure class of an
/// unresolved or error instance (from its `test_output.txt` and `run_instance.log`); 4.x
/// never calls it. Leftover containers are filled in by the caller.
pub fn make_run_report_as(
    dataset: &[Instance],
    outcomes: &BTreeMap<String, InstanceOutcome>,
    flavor: RunReportFlavor,
    classify: &dyn Fn(&str) -> Option<InfraClass>,
) -> RunReport {
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
    if flavor.mode == GradingMode::V5 {
        let mut infra = Vec::new();
        let mut ambiguous = Vec::new();
        let mut reasons = BTreeMap::new();
        let failed: BTreeSet<&String> = r.unresolved_ids.iter().chain(&r.error_ids).collect();
        for id in failed {
            if let Some(c) = classify(id) {
                reasons.insert(id.clone(), c.reason.to_owned());
                if c.environment {
                    infra.push(id.clone());
                } else {
                    ambiguous.push(id.clone());
                }
            }
        }
        r.infra_failure_instances = Some(infra.len());
        r.ambiguous_failure_instances = Some(ambiguous.len());
        r.infra_failure_ids = Some(infra);
        r.ambiguous_failure_ids = Some(ambiguous);
        r.failure_reasons = Some(reasons);
    }
    if flavor.writes_unstopped() {
        r.unstopped_instances = Some(0);
        r.unstopped_containers = Some(Vec::new());
        r.unremoved_images = Some(Vec::new());
    }
    r
}

/// `{instance_id: report}` as Python's `repr` of the dict prints it: the `report:` line of the
/// official `run_instance.log`, which tools read back with `ast.literal_eval`.
pub fn instance_report_repr(instance_id: &str, report: &InstanceReport) -> String {
    let mut map = BTreeMap::new();
    map.insert(instance_id, report);
    python_repr(&map)
}

/// Python's `repr` of a value made of dicts (key order kept), lists, strings, numbers,
/// booleans and `None`, as serde serializes it.
pub fn python_repr<T: Serialize + ?Sized>(value: &T) -> String {
    let Ok(json) = serde_json::to_string(value) else {
        return String::new();
    };
    let Ok(v) = serde_json::from_str::<PyValue>(&json) else {
        return String::new();
    };
    let mut out = String::new();
    v.write_repr(&mut out);
    out
}

/// A JSON value with object key order kept (whatever serde_json's features).
enum PyValue {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Dict(Vec<(String, PyValue)>),
}

impl<'de> Deserialize<'de> for PyValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PyValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<PyValue, E> {
                Ok(PyValue::None)
            }
            fn visit_bool<E>(self, b: bool) -> Result<PyValue, E> {
                Ok(PyValue::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<PyValue, E> {
                Ok(PyValue::Int(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<PyValue, E> {
                Ok(PyValue::Int(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<PyValue, E> {
                Ok(PyValue::Float(n))
            }
            fn visit_str<E>(self, s: &str) -> Result<PyValue, E> {
                Ok(PyValue::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<PyValue, E> {
                Ok(PyValue::Str(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<PyValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(PyValue::List(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<PyValue, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, PyValue>()? {
                    v.push((k, x));
                }
                Ok(PyValue::Dict(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl PyValue {
    fn write_repr(&self, out: &mut String) {
        match self {
            PyValue::None => out.push_str("None"),
            PyValue::Bool(true) => out.push_str("True"),
            PyValue::Bool(false) => out.push_str("False"),
            PyValue::Int(n) => out.push_str(&n.to_string()),
            PyValue::Float(x) => out.push_str(&float_repr(*x)),
            PyValue::Str(s) => out.push_str(&str_repr(s)),
            PyValue::List(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.write_repr(out);
                }
                out.push(']');
            }
            PyValue::Dict(items) => {
                out.push('{');
                for (i, (k, x)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&str_repr(k));
                    out.push_str(": ");
                    x.write_repr(out);
                }
                out.push('}');
            }
        }
    }
}

/// Python's float `repr` for the values JSON carries: shortest round trip, `.0` on integral
/// values, exponent form (`1e-05`, `1e+16`) outside [1e-4, 1e16).
fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust: `1e-5`, `1.5e16`; Python: `1e-05`, `1.5e+16`.
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
        return format!("{m}e{sign}{digits:0>2}");
    }
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's `str.__repr__`: single quotes unless the text has `'` and no `"`; `\\`, `\n`,
/// `\r`, `\t` and the quote escaped; other non-printable characters as `\xNN`, `\uNNNN`,
/// `\UNNNNNNNN`; printable non-ASCII kept as is.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (' '..='~').contains(&c) => out.push(c),
            c if py_printable(c) => out.push(c),
            c => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable` for a non-ASCII character: false for the categories Cc, Cf,
/// Co, Zl, Zp and Zs. Unassigned code points (Cn, also not printable in Python) need
/// Unicode tables this crate does not carry; they are taken as printable.
fn py_printable(c: char) -> bool {
    let n = c as u32;
    let not = c.is_control()
        // Zs, Zl, Zp
        || matches!(n, 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000)
        // Cf
        || matches!(
            n,
            0xAD | 0x600..=0x605
                | 0x61C
                | 0x6DD
                | 0x70F
                | 0x890..=0x891
                | 0x8E2
                | 0x180E
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
        )
        // Co
        || matches!(n, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    !not
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_repr_as_cpython_does() {
        // Expected values printed by CPython 3.11's repr().
        let cases = [
            ("plain", "'plain'"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("tab\there", "'tab\\there'"),
            ("nl\nx", "'nl\\nx'"),
            ("back\\slash", "'back\\\\slash'"),
            ("é ü 中文", "'é ü 中文'"),
            ("\x7f\x00\x1b", "'\\x7f\\x00\\x1b'"),
            ("\u{a0}\u{200b}\u{2028}", "'\\xa0\\u200b\\u2028'"),
            ("\u{1F600}", "'\u{1F600}'"),
            ("\u{e000}", "'\\ue000'"),
            ("tests/test_x.py::test_a[1-'b']", "\"tests/test_x.py::test_a[1-'b']\""),
        ];
        for (s, want) in cases {
            assert_eq!(str_repr(s), want, "{s:?}");
        }
    }

    #[test]
    fn values_repr_with_key_order_kept() {
        let v = serde_json::json!({"n": null, "f": 1.5, "g": 1e-05, "h": 1e16, "i": 2.0, "j": 0.0001});
        assert_eq!(
            python_repr(&v),
            "{'n': None, 'f': 1.5, 'g': 1e-05, 'h': 1e+16, 'i': 2.0, 'j': 0.0001}"
        );
        let report = InstanceReport {
            patch_is_none: false,
            patch_exists: true,
            patch_successfully_applied: true,
            resolved: true,
            infra_failure: None,
            infra_failure_reason: None,
            tests_status: None,
        };
        assert_eq!(
            instance_report_repr("a__b-1", &report),
            "{'a__b-1': {'patch_is_None': False, 'patch_exists': True, 'patch_successfully_applied': True, 'resolved': True}}"
        );
    }

    #[test]
    fn run_report_keys_follow_the_version_and_the_client() {
        let ds: Vec<Instance> = ["a__a-1", "b__b-2"]
            .iter()
            .map(|id| {
                serde_json::from_value(serde_json::json!({
                    "instance_id": id, "repo": "o/r", "base_commit": "c", "FAIL_TO_PASS": [], "PASS_TO_PASS": []
                }))
                .unwrap()
            })
            .collect();
        let outcomes = BTreeMap::from([
            ("a__a-1".to_owned(), InstanceOutcome::Completed { resolved: false }),
            ("b__b-2".to_owned(), InstanceOutcome::Error),
        ]);
        let classify = |id: &str| {
            (id == "a__a-1").then_some(InfraClass {
                reason: "no_tests_collected",
                environment: false,
            })
        };
        let keys = |mode, docker_client| {
            let r = make_run_report_as(&ds, &outcomes, RunReportFlavor { mode, docker_client }, &classify);
            let text = to_python_json(&r);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut order: Vec<(usize, String)> = v
                .as_object()
                .unwrap()
                .keys()
                .map(|k| (text.find(&format!("\"{k}\"")).unwrap(), k.clone()))
                .collect();
            order.sort();
            (order.into_iter().map(|(_, k)| k).collect::<Vec<_>>(), v)
        };
        let (v4_client, _) = keys(GradingMode::V4, true);
        assert!(
            !v4_client
                .iter()
                .any(|k| k.starts_with("unstopped") || k == "unremoved_images")
        );
        assert!(!v4_client.iter().any(|k| k.contains("failure")));
        let (v4_none, _) = keys(GradingMode::V4, false);
        assert_eq!(
            &v4_none[v4_none.len() - 4..],
            [
                "schema_version",
                "unstopped_instances",
                "unstopped_containers",
                "unremoved_images"
            ]
        );
        let (v5_client, v) = keys(GradingMode::V5, true);
        assert_eq!(
            v5_client,
            [
                "total_instances",
                "submitted_instances",
                "completed_instances",
                "resolved_instances",
                "unresolved_instances",
                "infra_failure_instances",
                "ambiguous_failure_instances",
                "empty_patch_instances",
                "error_instances",
                "completed_ids",
                "incomplete_ids",
                "empty_patch_ids",
                "submitted_ids",
                "resolved_ids",
                "unresolved_ids",
                "infra_failure_ids",
                "ambiguous_failure_ids",
                "failure_reasons",
                "error_ids",
                "schema_version",
                "unstopped_instances",
                "unstopped_containers",
                "unremoved_images",
            ]
        );
        assert_eq!(v["ambiguous_failure_ids"], serde_json::json!(["a__a-1"]));
        assert_eq!(
            v["failure_reasons"],
            serde_json::json!({"a__a-1": "no_tests_collected"})
        );
        let (v5_none, _) = keys(GradingMode::V5, false);
        assert_eq!(v5_none.last().map(String::as_str), Some("schema_version"));
    }
}
