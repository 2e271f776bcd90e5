//! What the eval script records for the integrity checks, and what the harness sees around it.
//!
//! [`instrument_eval_script`] adds to an official eval script, outside the region the
//! graders parse:
//! - the test command's exit code, exactly as swebench 5.x's `record_test_exit_code` does
//!   (`SWEBENCH_TEST_EXIT_CODE=$?` before the end marker, `>>>>> Test Exit Code: N` after);
//! - the state (sha256, or `absent`) of every tracked file — the test patch's files and the
//!   model patch's files — just before the start marker and just after the exit code:
//!   `>>>>> Tracked File Before: <state> <path>` / `>>>>> Tracked File After: ...`, printed
//!   with shell tracing off, paths percent-encoded so no line can look like a test result,
//!   on stderr like the shell's trace of the markers: the engine merges stdout and stderr
//!   from two pipes, so only lines of the same stream keep their order around the markers.
//!
//! None of these lines is between the markers except the bare variable assignment 5.x also
//! puts there, and none matches any official parser, so the 4.x verdict of a log is the same
//! with or without them (tested on every oracle log).
//!
//! [`check_records`] compares the two states; [`check_repo_diffs`] compares the repository
//! diff the harness takes before and after the whole script (the files the script itself
//! resets are left out: that is the script's doing, reported by the other checks).

use std::collections::{BTreeMap, BTreeSet};

use super::patch::patch_paths;
use super::{CheckId, CheckRun, Evidence, Finding, FindingKind, Severity};
use crate::dataset::Instance;
use crate::grade::{END_TEST_OUTPUT, START_TEST_OUTPUT, TEST_EXIT_CODE};

/// The variable 5.x stores the exit code in.
pub const TEST_EXIT_CODE_VAR: &str = "SWEBENCH_TEST_EXIT_CODE";
/// Prefix of the file-state records.
pub const TRACKED_FILE: &str = ">>>>> Tracked File ";
/// Record tags.
pub const BEFORE: &str = "Before";
pub const AFTER: &str = "After";
/// The state written for a file that does not exist.
pub const ABSENT: &str = "absent";

/// The files whose state is recorded: every path of the test patch and of the model patch
/// (old and new names), sorted and unique.
pub fn tracked_files(test_patch: &str, model_patch: &str) -> Vec<String> {
    let mut all: BTreeSet<String> = patch_paths(test_patch);
    all.extend(patch_paths(model_patch));
    all.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A path as printed in a record: bytes outside `[A-Za-z0-9._/+@-]` percent-encoded.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"._/+@-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path for a bash command line, in single quotes.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell lines that print one block of records (tracing off while they run).
fn record_block(tag: &str, tracked: &[String]) -> Vec<String> {
    let mut lines = vec![
        "{ __am_x=${-//[^x]/}; set +x; } 2>/dev/null".to_owned(),
        concat!(
            "__am_state() { if [ -f \"$2\" ]; then __am_h=$( (sha256sum || cksum) < \"$2\" 2>/dev/null ); ",
            "echo \">>>>> Tracked File $1: ${__am_h%% *} $3\" >&2; elif [ -e \"$2\" ]; then ",
            "echo \">>>>> Tracked File $1: notafile $3\" >&2; else echo \">>>>> Tracked File $1: absent $3\" >&2; fi; }"
        )
        .to_owned(),
    ];
    for p in tracked {
        lines.push(format!("__am_state {tag} {} {}", shell_quote(p), encode_path(p)));
    }
    lines.push("if [ -n \"$__am_x\" ]; then set -x; fi".to_owned());
    lines
}

/// The official script with the exit code and the file-state records added (see the module
/// comment). A script without the markers is returned unchanged, as 5.x does; one that
/// already records the exit code (a 5.x script) keeps its own.
pub fn instrument_eval_script(script: &str, tracked: &[String]) -> String {
    let records_exit_code = script.contains(&format!("{TEST_EXIT_CODE_VAR}=$?"));
    let lines: Vec<&str> = script.split('\n').collect();
    let Some(end) = lines.iter().position(|l| l.contains(END_TEST_OUTPUT)) else {
        return script.to_owned();
    };
    let Some(start) = lines[..end].iter().position(|l| l.contains(START_TEST_OUTPUT)) else {
        return script.to_owned();
    };
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 2 * tracked.len() + 8);
    out.extend(lines[..start].iter().map(|l| (*l).to_owned()));
    out.extend(record_block(BEFORE, tracked));
    out.extend(lines[start..end].iter().map(|l| (*l).to_owned()));
    let mut rest = end + 1;
    if records_exit_code {
        // 5.x's own lines: the end marker, then its echo of the code.
        out.push(lines[end].to_owned());
        if let Some(echo) = lines.get(rest).filter(|l| l.contains(TEST_EXIT_CODE.trim_end())) {
            out.push((*echo).to_owned());
            rest += 1;
        }
    } else {
        out.push(format!("{TEST_EXIT_CODE_VAR}=$?"));
        out.push(lines[end].to_owned());
        out.push(format!(
            "echo \"{}: ${TEST_EXIT_CODE_VAR}\"",
            TEST_EXIT_CODE.trim_end_matches([':', ' '])
        ));
    }
    out.extend(record_block(AFTER, tracked));
    out.extend(lines[rest..].iter().map(|l| (*l).to_owned()));
    out.join("\n")
}

/// One parsed file-state record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// 0-based log line.
    pub line: usize,
    pub before: bool,
    pub state: String,
    /// The path as printed (percent-encoded).
    pub path: String,
}

/// `>>>>> Tracked File Before: <state> <path>` → a record.
pub fn parse_record(line: usize, text: &str) -> Option<FileRecord> {
    let rest = text.strip_prefix(TRACKED_FILE)?;
    let (tag, rest) = rest.split_once(": ")?;
    let before = match tag {
        BEFORE => true,
        AFTER => false,
        _ => return None,
    };
    let (state, path) = rest.trim_end().split_once(' ')?;
    Some(FileRecord {
        line,
        before,
        state: state.to_owned(),
        path: path.to_owned(),
    })
}

/// Compare the before and after records (those in their places; misplaced ones are the
/// marker check's business). Adds the FileRecords check.
pub fn check_records(
    records: &[FileRecord],
    tracked: &[String],
    findings: &mut Vec<Finding>,
    checks: &mut Vec<CheckRun>,
) {
    let before: Vec<&FileRecord> = records.iter().filter(|r| r.before).collect();
    let after: Vec<&FileRecord> = records.iter().filter(|r| !r.before).collect();
    if before.is_empty() && after.is_empty() {
        checks.push(CheckRun::skipped(
            CheckId::FileRecords,
            "no file-state records in the log (eval script not instrumented)",
        ));
        return;
    }
    checks.push(CheckRun::ran(CheckId::FileRecords));
    let index = |rs: &[&FileRecord]| -> BTreeMap<String, Vec<(usize, String)>> {
        let mut m: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
        for r in rs {
            m.entry(r.path.clone()).or_default().push((r.line, r.state.clone()));
        }
        m
    };
    let (b, a) = (index(&before), index(&after));
    let expected: BTreeSet<String> = tracked.iter().map(|p| encode_path(p)).collect();
    let mut changed = Finding::new(
        FindingKind::FilesChangedDuringTests,
        Severity::High,
        "tracked files changed while the test command ran",
        vec![],
    );
    let mut odd = Finding::new(
        FindingKind::RecordAnomaly,
        Severity::High,
        "the file-state records are duplicated, missing or name files the patches do not",
        vec![],
    );
    let names: BTreeSet<&String> = b.keys().chain(a.keys()).chain(expected.iter()).collect();
    for name in names {
        let (bs, as_) = (b.get(name), a.get(name));
        match (bs, as_) {
            (Some(bs), Some(as_)) if bs.len() == 1 && as_.len() == 1 => {
                if bs[0].1 != as_[0].1 {
                    let e = Evidence::at("test_output.txt", as_[0].0, "");
                    changed.push(Evidence {
                        text: Some(format!(
                            "{}: {} before the tests, {} after",
                            decode_path(name),
                            bs[0].1,
                            as_[0].1
                        )),
                        ..e
                    });
                }
            }
            _ => {
                let line = bs.or(as_).and_then(|v| v.first()).map(|(l, _)| *l);
                let mut e = Evidence::in_file("test_output.txt");
                e.line = line.map(|l| l + 1);
                e.text = Some(format!(
                    "{}: {} before-record(s), {} after-record(s)",
                    decode_path(name),
                    bs.map_or(0, Vec::len),
                    as_.map_or(0, Vec::len)
                ));
                odd.push(e);
            }
        }
    }
    if !changed.evidence.is_empty() {
        findings.push(changed);
    }
    if !odd.evidence.is_empty() {
        findings.push(odd);
    }
}

/// Undo [`encode_path`] (for messages).
pub fn decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `git diff` of the repository before and after the eval script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoDiffs {
    pub before: String,
    pub after: String,
}

/// A diff split per file: path → that file's section.
fn per_file(diff: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in diff.split('\n') {
        if line.starts_with("diff --git ") {
            let files = super::patch::parse_patch(&format!("{line}\n"));
            current = files.first().map(|f| f.path().to_owned());
        }
        if let Some(c) = &current {
            let s = out.entry(c.clone()).or_default();
            s.push_str(line);
            s.push('\n');
        }
    }
    for s in out.values_mut() {
        let n = s.trim_end().len();
        s.truncate(n);
    }
    out
}

/// Files whose diff changed between before and after, leaving out the test patch's files
/// (the eval script resets those itself).
pub fn changed_files(inst: &Instance, diffs: &RepoDiffs) -> Vec<String> {
    let reset: BTreeSet<String> = patch_paths(&inst.test_patch);
    let (b, a) = (per_file(&diffs.before), per_file(&diffs.after));
    let names: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    names
        .into_iter()
        .filter(|n| !reset.contains(*n))
        .filter(|n| b.get(*n) != a.get(*n))
        .cloned()
        .collect()
}

/// The harness-side check: the repository diff before and after the eval script.
pub fn check_repo_diffs(inst: &Instance, diffs: &RepoDiffs, findings: &mut Vec<Finding>, checks: &mut Vec<CheckRun>) {
    checks.push(CheckRun::ran(CheckId::RepositoryDiff));
    let changed = changed_files(inst, diffs);
    if changed.is_empty() {
        return;
    }
    findings.push(Finding::new(
        FindingKind::RepositoryChangedByTests,
        Severity::High,
        format!(
            "the repository diff changed while the eval script ran ({} file(s) beyond the test files it resets)",
            changed.len()
        ),
        changed.iter().map(|p| Evidence::in_file(p.clone())).collect(),
    ));
}

/// The `Git diff before:` / `Git diff after:` records of a `run_instance.log` (official or
/// ours), when both are there.
pub fn diffs_from_instance_log(log: &str) -> Option<RepoDiffs> {
    fn block(log: &str, title: &str) -> Option<String> {
        let at = log.find(title)?;
        let rest = &log[at + title.len()..];
        let rest = rest.strip_prefix('\n').unwrap_or(rest);
        // Up to the next `<date> <time>,<ms> - LEVEL - ` record.
        let mut end = rest.len();
        let mut offset = 0;
        for line in rest.split_inclusive('\n') {
            if is_log_record(line) {
                end = offset;
                break;
            }
            offset += line.len();
        }
        Some(rest[..end].trim().to_owned())
    }
    Some(RepoDiffs {
        before: block(log, "Git diff before:")?,
        after: block(log, "Git diff after:")?,
    })
}

/// `2026-03-21 10:43:29,418 - INFO - ...`
fn is_log_record(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 26
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[19] == b','
        && b[23..].starts_with(b" - ")
        && b[..4].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "#!/bin/bash\nset -uxo pipefail\ncd /testbed\ngit apply -v - <<'EOF_1'\npatch\nEOF_1\n: '>>>>> Start Test Output'\npytest -rA tests/test_a.py\n: '>>>>> End Test Output'\ngit checkout abc tests/test_a.py\n";

    #[test]
    fn instrumentation_matches_5x_around_the_end_marker_and_records_outside_the_markers() {
        let tracked = vec!["tests/test_a.py".to_owned(), "pkg/it's here.py".to_owned()];
        let s = instrument_eval_script(SCRIPT, &tracked);
        let lines: Vec<&str> = s.split('\n').collect();
        let start = lines.iter().position(|l| l.contains(START_TEST_OUTPUT)).unwrap();
        let end = lines.iter().position(|l| l.contains(END_TEST_OUTPUT)).unwrap();
        // 5.x: the assignment right after the test command, the echo right after the marker.
        assert_eq!(lines[end - 1], "SWEBENCH_TEST_EXIT_CODE=$?");
        assert_eq!(lines[end - 2], "pytest -rA tests/test_a.py");
        assert_eq!(
            lines[end + 1],
            "echo \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\""
        );
        // Between the markers: only the test command and the assignment.
        assert_eq!(end - start, 3);
        assert!(
            s.contains("__am_state Before 'pkg/it'\\''s here.py' pkg/it%27s%20here.py"),
            "{s}"
        );
        assert!(s.contains("__am_state After 'tests/test_a.py' tests/test_a.py"));
        assert!(s.ends_with("git checkout abc tests/test_a.py\n"));
        // Unrecognized shapes are left alone.
        assert_eq!(instrument_eval_script("echo hi\n", &tracked), "echo hi\n");
        // A script that records its exit code already (5.x) keeps its own lines, once.
        let twice = instrument_eval_script(&s, &tracked);
        assert_eq!(twice.matches("SWEBENCH_TEST_EXIT_CODE=$?").count(), 1);
        assert_eq!(twice.matches("echo \">>>>> Test Exit Code").count(), 1);
        let t: Vec<&str> = twice.split('\n').collect();
        let end = t.iter().position(|l| l.contains(END_TEST_OUTPUT)).unwrap();
        assert!(t[end + 1].starts_with("echo \">>>>> Test Exit Code"));
        assert_eq!(twice.matches("__am_state After").count(), 2 * tracked.len());
    }

    #[test]
    fn records_parse_and_compare() {
        let tracked = vec!["a.py".to_owned(), "b c.py".to_owned()];
        let recs: Vec<FileRecord> = [
            ">>>>> Tracked File Before: 111 a.py",
            ">>>>> Tracked File Before: absent b%20c.py",
            ">>>>> Tracked File After: 222 a.py",
            ">>>>> Tracked File After: absent b%20c.py",
        ]
        .iter()
        .enumerate()
        .filter_map(|(i, l)| parse_record(i, l))
        .collect();
        assert_eq!(recs.len(), 4);
        let (mut f, mut c) = (Vec::new(), Vec::new());
        check_records(&recs, &tracked, &mut f, &mut c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, FindingKind::FilesChangedDuringTests);
        assert!(
            f[0].evidence[0]
                .text
                .as_deref()
                .unwrap()
                .starts_with("a.py: 111 before")
        );
        assert_eq!(f[0].evidence[0].line, Some(3));
        // Same states: nothing. A missing after-record: an anomaly.
        let same: Vec<FileRecord> = recs.iter().filter(|r| r.path != "a.py").cloned().collect();
        let (mut f, mut c) = (Vec::new(), Vec::new());
        check_records(&same, &tracked, &mut f, &mut c);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::RecordAnomaly, "a.py has no records at all");
        assert_eq!(decode_path("b%20c.py"), "b c.py");
        let (mut f, mut c) = (Vec::new(), Vec::new());
        check_records(&[], &tracked, &mut f, &mut c);
        assert!(f.is_empty() && !c[0].ran);
    }

    #[test]
    fn repo_diffs_ignore_reset_test_files() {
        let inst: Instance = serde_json::from_value(serde_json::json!({
            "instance_id": "a__b-1", "repo": "a/b", "base_commit": "c",
            "test_patch": "diff --git a/tests/t.py b/tests/t.py\n--- a/tests/t.py\n+++ b/tests/t.py\n@@ -1 +1 @@\n-a\n+b\n",
            "FAIL_TO_PASS": [], "PASS_TO_PASS": []
        }))
        .unwrap();
        let src = "diff --git a/pkg/m.py b/pkg/m.py\n--- a/pkg/m.py\n+++ b/pkg/m.py\n@@ -1 +1 @@\n-a\n+b\n";
        let test = "diff --git a/tests/t.py b/tests/t.py\n--- a/tests/t.py\n+++ b/tests/t.py\n@@ -1 +1 @@\n-a\n+z\n";
        let same = RepoDiffs {
            before: format!("{src}{test}"),
            after: src.to_owned(),
        };
        assert!(changed_files(&inst, &same).is_empty());
        let other = RepoDiffs {
            before: src.to_owned(),
            after: format!(
                "{src}diff --git a/pkg/n.py b/pkg/n.py\n--- a/pkg/n.py\n+++ b/pkg/n.py\n@@ -1 +1 @@\n-a\n+b\n"
            ),
        };
        assert_eq!(changed_files(&inst, &other), vec!["pkg/n.py"]);
    }

    #[test]
    fn diffs_come_back_from_an_instance_log() {
        let log = "2026-03-21 10:43:29,418 - INFO - Git diff before:\ndiff --git a/x b/x\n+1\n2026-03-21 10:43:29,419 - INFO - Eval script written\n2026-03-21 10:43:35,122 - INFO - Git diff after:\ndiff --git a/x b/x\n+2\n2026-03-21 10:43:35,122 - INFO - Grading answer\n";
        let d = diffs_from_instance_log(log).unwrap();
        assert_eq!(d.before, "diff --git a/x b/x\n+1");
        assert_eq!(d.after, "diff --git a/x b/x\n+2");
        assert!(diffs_from_instance_log("nothing").is_none());
    }
}
