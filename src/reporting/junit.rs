//! JUnit XML for CI systems: one `<testcase>` per evaluated instance.
//!
//! - resolved → passed;
//! - unresolved → `<failure type="unresolved">` listing the FAIL_TO_PASS and PASS_TO_PASS
//!   tests that failed (or why the log could not be graded);
//! - empty patch → `<failure type="empty_patch">` (the model produced nothing: it counts as
//!   not resolved in the resolve rate, so CI must not show it green);
//! - harness error (no `report.json`: patch did not apply, timeout, infrastructure) →
//!   `<error>` with the reason.
//!
//! Instances that were not run (the official `incomplete_ids`) are left out. The class name
//! is the repository (`django/django`), so CI groups cases by repository.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use agentless_harness::evaluate::{EvalError, EvalOutcome, InstanceResult};
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
}

impl InstanceDetail {
    /// From `evaluate`'s in-memory result.
    pub fn from_result(r: &InstanceResult) -> Self {
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
            duration: l.test_seconds.map(Duration::from_secs_f64),
        }
    }
}

/// The details of a whole run, keyed by instance id.
#[derive(Debug, Clone, Default)]
pub struct JunitDetails {
    /// `<testsuite name>`: the run id is a good choice.
    pub suite_name: String,
    pub instances: BTreeMap<String, InstanceDetail>,
}

impl JunitDetails {
    pub fn new(suite_name: impl Into<String>) -> Self {
        JunitDetails {
            suite_name: suite_name.into(),
            instances: BTreeMap::new(),
        }
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
    Unresolved,
    EmptyPatch,
    Error,
}

/// Render the JUnit XML document.
pub fn render_junit(report: &RunReport, details: &JunitDetails) -> String {
    let mut cases: Vec<(&str, CaseKind)> = Vec::new();
    cases.extend(report.resolved_ids.iter().map(|id| (id.as_str(), CaseKind::Passed)));
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
    cases.extend(report.error_ids.iter().map(|id| (id.as_str(), CaseKind::Error)));
    cases.sort_by(|a, b| a.0.cmp(b.0));
    let count = |k: CaseKind| cases.iter().filter(|(_, c)| *c == k).count();
    let failures = count(CaseKind::Unresolved) + count(CaseKind::EmptyPatch);
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
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{total_secs:.3}\">",
        attr(suite),
        cases.len()
    );
    x.push_str("    <properties>\n");
    for (k, v) in [
        ("total_instances", report.total_instances),
        ("submitted_instances", report.submitted_instances),
        ("resolved_instances", report.resolved_instances),
        ("unresolved_instances", report.unresolved_instances),
        ("empty_patch_instances", report.empty_patch_instances),
        ("error_instances", report.error_instances),
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
        match kind {
            CaseKind::Passed => x.push_str("/>\n"),
            CaseKind::Unresolved => {
                let (message, body) = unresolved_text(d.report.as_ref());
                let _ = write!(
                    x,
                    ">\n      <failure type=\"unresolved\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    attr(&message),
                    text(&body)
                );
            }
            CaseKind::EmptyPatch => {
                x.push_str(">\n      <failure type=\"empty_patch\" message=\"the model produced no patch; not evaluated\"/>\n    </testcase>\n");
            }
            CaseKind::Error => {
                let why = d
                    .error
                    .clone()
                    .unwrap_or_else(|| "harness error: no report.json was written".to_owned());
                let first = why.lines().next().unwrap_or("").to_owned();
                let _ = write!(
                    x,
                    ">\n      <error type=\"harness_error\" message=\"{}\">{}</error>\n    </testcase>\n",
                    attr(&first),
                    text(&why)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
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
    fn escaping_keeps_xml_well_formed() {
        assert_eq!(attr("a<b>&\"'\n"), "a&lt;b&gt;&amp;&quot;&apos;&#10;");
        assert_eq!(text("x\u{1b}[31m <y>"), "x\u{FFFD}[31m &lt;y&gt;");
        assert_eq!(tail("héllo", 3), "llo");
    }
}
