//! JUnit XML for CI systems: one `<testcase>` per evaluated instance.
//!
//! - resolved → passed;
//! - unresolved → `<failure type="unresolved">` listing the FAIL_TO_PASS and PASS_TO_PASS
//!   tests that failed (or why the log could not be graded);
//! - empty patch → `<failure type="empty_patch">` (the model produced nothing: it counts as
//!   not resolved in the resolve rate, so CI must not show it green);
//! - the patch did not apply → `<failure type="patch_not_applied">`: the model's patch is
//!   at fault, not the harness;
//! - harness error (no `report.json`: timeout, infrastructure) → `<error>` with the reason.
//!
//! Each case's `<system-out>` names its log files (`report.json`, `test_output.txt`,
//! `run_instance.log`) when the log folder is known; the suite has a `timestamp` (UTC, ISO
//! 8601) and every `time` is a non-negative number of seconds with three decimals.
//!
//! Instances that were not run (the official `incomplete_ids`) are left out. The class name
//! is the repository (`django/django`), so CI groups cases by repository.
//!
//! Integrity findings (`integrity.json`): every case with an assessment has the lines
//! `integrity.flagged=…`, `integrity.kinds=…` (the flagging kinds) and `integrity.findings=…`
//! in its `<system-out>` (junit-10.xsd allows no `<properties>` inside a `<testcase>`; the
//! suite's `<properties>` count `flagged_instances`); the findings and their evidence are
//! added to the failure text. A flagged resolved instance is a `<failure type="integrity">` in
//! strict mode (as in the hardened run report); otherwise it stays passed, with its findings in
//! `<system-out>`. One `<system-out>` per case: facts, findings, then `logs:` and the paths.
//!
//! Hand-written rather than with the `quick-junit` crate: quick-junit 0.8.0 (the current
//! release) always writes a `skipped` attribute on `<testsuites>`, which junit-10.xsd rejects,
//! so even its smallest report fails validation; it also puts properties inside test cases.
//! The document here is small (one element kind per outcome) and checked against the schema
//! by the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use agentless_harness::evaluate::{EvalError, EvalOutcome, InstanceResult};
use agentless_harness::integrity::{IntegrityReport, Severity};
use agentless_harness::report::{InstanceReport, RunReport};

use super::runs::InstanceLogs;
use super::{ReportingError, repo_of};

/// What is known of one instance beyond its bucket in the run report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceDetail {
    /// The official verdict (for the failing test lists).
    pub report: Option<InstanceReport>,
    /// Why there is no verdict (for `<error>`).
    pub error: Option<String>,
    /// Wall time of the instance (or of its tests).
    pub duration: Option<Duration>,
    /// The integrity findings (None: not assessed).
    pub integrity: Option<IntegrityReport>,
    /// The patch did not apply: a model failure, not a harness error.
    pub apply_failed: bool,
    /// The instance's log folder (named in `<system-out>`).
    pub log_dir: Option<std::path::PathBuf>,
}

impl InstanceDetail {
    /// From `evaluate`'s in-memory result (its log folder included).
    pub fn from_result(r: &InstanceResult) -> Self {
        let apply_failed = matches!(&r.outcome, EvalOutcome::Error(EvalError::ApplyFailed { .. }));
        let error = match &r.outcome {
            EvalOutcome::Error(e) => Some(match e {
                EvalError::ApplyFailed { output } => format!("{e}\n{}", tail(output, 2000)),
                _ => e.to_string(),
            }),
            _ => None,
        };
        InstanceDetail {
            report: r.report.clone(),
            error,
            duration: Some(r.timings.total),
            integrity: r.integrity.clone(),
            apply_failed,
            log_dir: r.log_dir.clone(),
        }
    }

    /// From an instance's log folder (when the results are read back from disk).
    pub fn from_logs(l: &InstanceLogs) -> Self {
        let error = if l.report.is_some() {
            None
        } else if l.timed_out {
            Some("tests timed out".to_owned())
        } else if l.apply_failed {
            Some("the patch does not apply".to_owned())
        } else {
            Some(
                l.last_error
                    .clone()
                    .unwrap_or_else(|| "no report.json was written".to_owned()),
            )
        };
        InstanceDetail {
            report: l.report.clone(),
            error,
            duration: l
                .test_seconds
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            integrity: l.integrity.clone(),
            apply_failed: l.report.is_none() && l.apply_failed,
            log_dir: Some(l.dir.clone()),
        }
    }
}

/// The details of a whole run, keyed by instance id.
#[derive(Debug, Clone, Default)]
pub struct JunitDetails {
    /// `<testsuite name>`: the run id is a good choice.
    pub suite_name: String,
    pub instances: BTreeMap<String, InstanceDetail>,
    /// `--integrity strict`: flagged resolved instances fail (as in the hardened run report).
    pub strict: bool,
    /// The suite's `timestamp` (when the evaluation ran; None: now).
    pub timestamp: Option<std::time::SystemTime>,
}

impl JunitDetails {
    pub fn new(suite_name: impl Into<String>) -> Self {
        JunitDetails {
            suite_name: suite_name.into(),
            instances: BTreeMap::new(),
            strict: false,
            timestamp: None,
        }
    }

    /// Set strict integrity mode.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Set the suite's `timestamp`: when the evaluation started.
    pub fn started_at(mut self, at: std::time::SystemTime) -> Self {
        self.timestamp = Some(at);
        self
    }

    /// From `evaluate`'s results (`RunSummary::results`).
    pub fn from_results<'a>(
        suite_name: impl Into<String>,
        results: impl IntoIterator<Item = &'a InstanceResult>,
    ) -> Self {
        let mut d = JunitDetails::new(suite_name);
        for r in results {
            d.instances
                .insert(r.instance_id.clone(), InstanceDetail::from_result(r));
        }
        d
    }
}

/// How one case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseKind {
    Passed,
    /// Resolved officially, flagged by integrity checks, strict mode: a failure.
    Flagged,
    Unresolved,
    EmptyPatch,
    /// The harness reported an error because the patch did not apply: the model's failure.
    NotApplied,
    Error,
}

fn is_flagged(d: Option<&InstanceDetail>) -> bool {
    d.and_then(|d| d.integrity.as_ref()).is_some_and(|i| i.flagged)
}

/// The integrity facts of a case as `key=value` lines (in its `<system-out>`: junit-10.xsd
/// allows no `<properties>` inside a `<testcase>`).
fn integrity_facts(i: &IntegrityReport) -> String {
    let kinds: Vec<String> = i.flagging_kinds().iter().map(ToString::to_string).collect();
    format!(
        "integrity.flagged={}\nintegrity.kinds={}\nintegrity.findings={}\n",
        i.flagged,
        kinds.join(","),
        i.findings.len()
    )
}

/// The findings in words, with their evidence (for failure text and `<system-out>`).
pub fn integrity_text(i: &IntegrityReport) -> String {
    let mut out = String::new();
    if i.findings.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "integrity: {} ({} finding(s))",
        if i.flagged { "FLAGGED" } else { "not flagged" },
        i.findings.len()
    );
    for f in &i.findings {
        let sev = match f.severity {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        };
        let _ = writeln!(out, "  [{sev}] {}: {}", f.kind, f.message);
        for e in &f.evidence {
            let mut at = e.file.clone();
            if let Some(l) = e.line {
                let _ = write!(at, ":{l}");
            }
            if let Some(t) = &e.test_id {
                let _ = write!(at, " ({t})");
            }
            if let Some(t) = &e.text {
                let _ = write!(at, ": {t}");
            }
            let _ = writeln!(out, "    {at}");
        }
        if f.omitted_evidence > 0 {
            let _ = writeln!(out, "    … and {} more", f.omitted_evidence);
        }
    }
    out
}

/// Render the JUnit XML document.
pub fn render_junit(report: &RunReport, details: &JunitDetails) -> String {
    let mut cases: Vec<(&str, CaseKind)> = Vec::new();
    cases.extend(report.resolved_ids.iter().map(|id| {
        let kind = if details.strict && is_flagged(details.instances.get(id)) {
            CaseKind::Flagged
        } else {
            CaseKind::Passed
        };
        (id.as_str(), kind)
    }));
    cases.extend(
        report
            .unresolved_ids
            .iter()
            .map(|id| (id.as_str(), CaseKind::Unresolved)),
    );
    cases.extend(
        report
            .empty_patch_ids
            .iter()
            .map(|id| (id.as_str(), CaseKind::EmptyPatch)),
    );
    cases.extend(report.error_ids.iter().map(|id| {
        let not_applied = details.instances.get(id.as_str()).is_some_and(|d| d.apply_failed);
        (
            id.as_str(),
            if not_applied {
                CaseKind::NotApplied
            } else {
                CaseKind::Error
            },
        )
    }));
    cases.sort_by(|a, b| a.0.cmp(b.0));
    let count = |k: CaseKind| cases.iter().filter(|(_, c)| *c == k).count();
    let failures = count(CaseKind::Unresolved)
        + count(CaseKind::EmptyPatch)
        + count(CaseKind::Flagged)
        + count(CaseKind::NotApplied);
    let errors = count(CaseKind::Error);
    let total_secs: f64 = cases
        .iter()
        .filter_map(|(id, _)| details.instances.get(*id).and_then(|d| d.duration))
        .map(|d| d.as_secs_f64())
        .sum();
    let empty = InstanceDetail::default();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = if details.suite_name.is_empty() {
        "agentless-mini"
    } else {
        details.suite_name.as_str()
    };
    let _ = writeln!(
        x,
        "<testsuites name=\"agentless-mini\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total_secs:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{total_secs:.3}\" timestamp=\"{}\">",
        attr(suite),
        cases.len(),
        iso8601(details.timestamp.unwrap_or_else(std::time::SystemTime::now))
    );
    x.push_str("    <properties>\n");
    for (k, v) in [
        ("total_instances", report.total_instances),
        ("submitted_instances", report.submitted_instances),
        ("resolved_instances", report.resolved_instances),
        ("unresolved_instances", report.unresolved_instances),
        ("empty_patch_instances", report.empty_patch_instances),
        ("error_instances", report.error_instances),
        (
            "flagged_instances",
            cases
                .iter()
                .filter(|(id, _)| is_flagged(details.instances.get(*id)))
                .count(),
        ),
    ] {
        let _ = writeln!(x, "      <property name=\"{k}\" value=\"{v}\"/>");
    }
    x.push_str("    </properties>\n");
    for (id, kind) in &cases {
        let d = details.instances.get(*id).unwrap_or(&empty);
        let time = d
            .duration
            .map_or_else(|| "0".to_owned(), |t| format!("{:.3}", t.as_secs_f64()));
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{time}\"",
            attr(&repo_of(id)),
            attr(id)
        );
        let mut body = String::new();
        let findings_shown = render_case(&mut body, *kind, d);
        let out = system_out(d, !findings_shown);
        if !out.is_empty() {
            let _ = writeln!(body, "      <system-out>{}</system-out>", text(&out));
        }
        if body.is_empty() {
            x.push_str("/>\n");
        } else {
            x.push_str(">\n");
            x.push_str(&body);
            x.push_str("    </testcase>\n");
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// The `<failure>` or `<error>` of a case, if any; whether it shows the integrity findings.
fn render_case(x: &mut String, kind: CaseKind, d: &InstanceDetail) -> bool {
    let integrity = d.integrity.as_ref();
    let findings = integrity.map(integrity_text).unwrap_or_default();
    let with_findings = |body: String| -> String {
        match (body.is_empty(), findings.is_empty()) {
            (_, true) => body,
            (true, false) => findings.clone(),
            (false, false) => format!("{body}\n{findings}"),
        }
    };
    match kind {
        CaseKind::Passed => return false,
        CaseKind::Flagged => {
            let kinds: Vec<String> = integrity
                .map(|i| i.flagging_kinds().iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            let _ = writeln!(
                x,
                "      <failure type=\"integrity\" message=\"{}\">{}</failure>",
                attr(&format!(
                    "resolved officially, flagged by integrity checks ({})",
                    kinds.join(", ")
                )),
                text(&findings)
            );
        }
        CaseKind::Unresolved => {
            let (message, body) = unresolved_text(d.report.as_ref());
            let _ = writeln!(
                x,
                "      <failure type=\"unresolved\" message=\"{}\">{}</failure>",
                attr(&message),
                text(&with_findings(body))
            );
        }
        CaseKind::EmptyPatch => {
            x.push_str(
                "      <failure type=\"empty_patch\" message=\"the model produced no patch; not evaluated\"/>\n",
            );
        }
        CaseKind::NotApplied => {
            let why = with_findings(d.error.clone().unwrap_or_else(|| "the patch does not apply".to_owned()));
            let _ = writeln!(
                x,
                "      <failure type=\"patch_not_applied\" message=\"the model's patch does not apply\">{}</failure>",
                text(&why)
            );
        }
        CaseKind::Error => {
            let why = d
                .error
                .clone()
                .unwrap_or_else(|| "harness error: no report.json was written".to_owned());
            let first = why.lines().next().unwrap_or("").to_owned();
            let _ = writeln!(
                x,
                "      <error type=\"harness_error\" message=\"{}\">{}</error>",
                attr(&first),
                text(&with_findings(why))
            );
        }
    }
    true
}

/// The `<system-out>` text of a case: its integrity facts, its findings (when no failure text
/// shows them), and the paths of its log files (those that exist).
fn system_out(d: &InstanceDetail, with_findings: bool) -> String {
    let mut out = String::new();
    if let Some(i) = &d.integrity {
        out.push_str(&integrity_facts(i));
        if with_findings {
            out.push_str(&integrity_text(i));
        }
    }
    if let Some(dir) = &d.log_dir {
        let files: Vec<String> = ["report.json", "test_output.txt", "run_instance.log"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !files.is_empty() {
            out.push_str("logs:\n");
            out.push_str(&files.join("\n"));
        }
    }
    out
}

/// `2026-12-04T13:02:00` (UTC, whole seconds): JUnit's timestamp form.
pub fn iso8601(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Write the JUnit XML file (parent folders are created).
pub fn write_junit(path: &Path, report: &RunReport, details: &JunitDetails) -> Result<(), ReportingError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir).map_err(|e| ReportingError::io(dir, e))?;
    }
    fs_err::write(path, render_junit(report, details)).map_err(|e| ReportingError::io(path, e))
}

/// The failure message and body of an unresolved instance.
fn unresolved_text(report: Option<&InstanceReport>) -> (String, String) {
    let Some(r) = report else {
        return ("not resolved".to_owned(), String::new());
    };
    let Some(ts) = &r.tests_status else {
        let why = if r.patch_is_none {
            "no patch"
        } else if !r.patch_successfully_applied {
            "the patch did not apply or the test log could not be graded"
        } else {
            "not resolved"
        };
        return (why.to_owned(), String::new());
    };
    let f2p = &ts.fail_to_pass;
    let p2p = &ts.pass_to_pass;
    let message = format!(
        "{}/{} FAIL_TO_PASS tests fail, {}/{} PASS_TO_PASS tests fail",
        f2p.failure.len(),
        f2p.failure.len() + f2p.success.len(),
        p2p.failure.len(),
        p2p.failure.len() + p2p.success.len()
    );
    let mut body = String::new();
    for (name, list) in [("FAIL_TO_PASS", &f2p.failure), ("PASS_TO_PASS", &p2p.failure)] {
        if !list.is_empty() {
            let _ = writeln!(body, "{name} failures:");
            for t in list {
                let _ = writeln!(body, "  - {t}");
            }
        }
    }
    (message, body)
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = s.len() - max;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// Characters XML 1.0 cannot hold at all (control characters other than tab, LF, CR and the
/// non-characters U+FFFE, U+FFFF) become U+FFFD.
fn xml_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

/// Escape for an attribute value (also newlines, which attribute normalization would eat).
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape for element text.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_utc() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_796_389_320);
        assert_eq!(iso8601(t), "2026-12-04T13:02:00");
        assert_eq!(iso8601(std::time::UNIX_EPOCH), "1970-01-01T00:00:00");
        let leap = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00");
    }

    #[test]
    fn escaping_keeps_xml_well_formed() {
        assert_eq!(attr("a<b>&\"'\n"), "a&lt;b&gt;&amp;&quot;&apos;&#10;");
        assert_eq!(text("x\u{1b}[31m <y>"), "x\u{FFFD}[31m &lt;y&gt;");
        assert_eq!(tail("héllo", 3), "llo");
    }

    fn flagged_report(id: &str) -> IntegrityReport {
        use agentless_harness::integrity::{Evidence, Finding, FindingKind};
        let f = Finding::new(
            FindingKind::StatusOutsideRunner,
            Severity::High,
            "status lines after the runner's summary",
            vec![
                Evidence::at("test_output.txt", 41, "PASSED tests/test_a.py::test_x <&>")
                    .with_test("tests/test_a.py::test_x"),
            ],
        );
        let low = Finding::new(
            FindingKind::TestConfigChanged,
            Severity::Low,
            "conftest.py changed",
            vec![Evidence::in_file("conftest.py")],
        );
        IntegrityReport::new(id, vec![low, f], vec![])
    }

    #[test]
    fn results_of_an_evaluation_name_their_logs_and_the_start_time() {
        use agentless_harness::evaluate::{EvalOutcome, InstanceResult, Timings};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("o__r-1");
        fs_err::create_dir_all(&dir).unwrap();
        for f in ["report.json", "run_instance.log"] {
            fs_err::write(dir.join(f), "{}").unwrap();
        }
        let result = InstanceResult {
            instance_id: "o__r-1".into(),
            outcome: EvalOutcome::Resolved,
            report: None,
            log_dir: Some(dir.clone()),
            resumed: false,
            timings: Timings::default(),
            integrity: None,
        };
        let report = RunReport {
            total_instances: 1,
            resolved_instances: 1,
            resolved_ids: vec!["o__r-1".into()],
            schema_version: 2,
            ..Default::default()
        };
        let started = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_853_320);
        let xml = render_junit(
            &report,
            &JunitDetails::from_results("run", [&result]).started_at(started),
        );
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        assert_eq!(suite.attribute("timestamp"), Some("2025-12-04T13:02:00"));
        let out = doc
            .descendants()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text())
            .unwrap();
        assert_eq!(
            out,
            format!(
                "logs:\n{}\n{}",
                dir.join("report.json").display(),
                dir.join("run_instance.log").display()
            )
        );
    }

    #[test]
    fn integrity_findings_are_system_out_facts_and_failure_text() {
        let report = RunReport {
            total_instances: 3,
            submitted_instances: 3,
            completed_instances: 3,
            resolved_instances: 2,
            unresolved_instances: 1,
            resolved_ids: vec!["o__r-1".into(), "o__r-2".into()],
            unresolved_ids: vec!["o__r-3".into()],
            schema_version: 2,
            ..Default::default()
        };
        let mut d = JunitDetails::new("run");
        let with = |i: Option<IntegrityReport>| InstanceDetail {
            integrity: i,
            ..Default::default()
        };
        d.instances
            .insert("o__r-1".into(), with(Some(flagged_report("o__r-1"))));
        d.instances.insert(
            "o__r-2".into(),
            with(Some(IntegrityReport::new("o__r-2", vec![], vec![]))),
        );
        d.instances
            .insert("o__r-3".into(), with(Some(flagged_report("o__r-3"))));
        for strict in [false, true] {
            let xml = render_junit(&report, &d.clone().strict(strict));
            let doc = roxmltree::Document::parse(&xml).expect("well-formed");
            let case = |id: &str| {
                doc.descendants()
                    .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(id))
                    .unwrap()
            };
            // The facts are `key=value` lines of the case's <system-out> (junit-10.xsd allows
            // no <properties> in a <testcase>).
            let fact = |id: &str, k: &str| {
                let out = case(id).children().find(|n| n.has_tag_name("system-out"))?;
                out.text()?
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}=")))
                    .map(str::to_owned)
            };
            assert!(case("o__r-1").descendants().all(|n| !n.has_tag_name("properties")));
            assert_eq!(fact("o__r-1", "integrity.flagged").as_deref(), Some("true"));
            assert_eq!(
                fact("o__r-1", "integrity.kinds").as_deref(),
                Some("status_outside_runner")
            );
            assert_eq!(fact("o__r-1", "integrity.findings").as_deref(), Some("2"));
            assert_eq!(fact("o__r-2", "integrity.flagged").as_deref(), Some("false"));
            assert_eq!(fact("o__r-2", "integrity.kinds").as_deref(), Some(""));
            assert_eq!(fact("o__r-3", "integrity.flagged").as_deref(), Some("true"));
            // The unresolved, flagged case: the findings with their evidence in the failure.
            let failure = case("o__r-3").children().find(|n| n.has_tag_name("failure")).unwrap();
            let body = failure.text().unwrap_or("");
            assert!(body.contains("[high] status_outside_runner"), "{body}");
            assert!(
                body.contains("test_output.txt:42 (tests/test_a.py::test_x): PASSED tests/test_a.py::test_x <&>"),
                "{body}"
            );
            assert!(body.contains("[low] test_config_changed"), "{body}");
            let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
            let flagged_prop = suite
                .descendants()
                .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("flagged_instances"))
                .and_then(|n| n.attribute("value"));
            assert_eq!(flagged_prop, Some("2"));
            // The resolved, flagged case: a failure only in strict mode.
            let r1 = case("o__r-1");
            let f1 = r1.children().find(|n| n.has_tag_name("failure"));
            if strict {
                let f1 = f1.expect("strict: a failure");
                assert_eq!(f1.attribute("type"), Some("integrity"));
                assert!(f1.attribute("message").unwrap().contains("status_outside_runner"));
                assert!(f1.text().unwrap().contains("test_output.txt:42"));
                assert_eq!(suite.attribute("failures"), Some("2"));
            } else {
                assert!(f1.is_none(), "{xml}");
                let out = r1.children().find(|n| n.has_tag_name("system-out")).unwrap();
                assert!(out.text().unwrap().contains("FLAGGED"));
                assert_eq!(suite.attribute("failures"), Some("1"));
            }
            assert!(case("o__r-2").children().all(|n| !n.has_tag_name("failure")));
        }
    }
}
