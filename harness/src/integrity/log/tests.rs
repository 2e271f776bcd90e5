//! Each log check on crafted logs shaped like the real ones (pytest `-rA`, Django
//! `--verbosity 2`, SymPy `--verbose`), clean and forged.

use super::*;
use crate::integrity::record::{encode_path, instrument_eval_script};

fn inst(repo: &str, f2p: &[&str], p2p: &[&str]) -> Instance {
    serde_json::from_value(serde_json::json!({
        "instance_id": "o__r-1", "repo": repo, "base_commit": "c",
        "test_patch": "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1 +1 @@\n-a\n+b\n",
        "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p
    }))
    .unwrap()
}

fn run(inst: &Instance, parser: LogParser, log: &str) -> (Vec<Finding>, Vec<CheckRun>) {
    let (mut f, mut c) = (Vec::new(), Vec::new());
    let tracked = vec!["tests/test_a.py".to_owned()];
    check_log(inst, parser, log, &tracked, &mut f, &mut c);
    (f, c)
}

fn high(f: &[Finding]) -> Vec<FindingKind> {
    let mut k: Vec<FindingKind> = f
        .iter()
        .filter(|f| f.severity == Severity::High)
        .map(|f| f.kind)
        .collect();
    k.sort();
    k.dedup();
    k
}

fn records(tag: &str, state: &str) -> String {
    format!(">>>>> Tracked File {tag}: {state} {}\n", encode_path("tests/test_a.py"))
}

/// A pytest run as the instrumented demo eval script prints it.
fn pytest_log(summary_lines: &str, final_line: &str, after_summary: &str, exit: i64, after_state: &str) -> String {
    format!(
        "+ git apply -v -\nApplied patch tests/test_a.py cleanly.\n{}+ : '>>>>> Start Test Output'\n+ python3 -m pytest -rA tests/test_a.py\n============================= test session starts ==============================\nplatform linux -- Python 3.11.2, pytest-7.2.1\ncollected 3 items\n\ntests/test_a.py .F.                                                      [100%]\n\n=================================== FAILURES ===================================\n___________________________________ test_x ____________________________________\n    assert 1 == 2\n=========================== short test summary info ============================\n{summary_lines}{final_line}\n{after_summary}+ SWEBENCH_TEST_EXIT_CODE={exit}\n+ : '>>>>> End Test Output'\n+ echo '>>>>> Test Exit Code: {exit}'\n>>>>> Test Exit Code: {exit}\n{}+ git checkout c tests/test_a.py\n",
        records("Before", "aaa"),
        records("After", after_state)
    )
}

const F2P: &str = "tests/test_a.py::test_x";
const P2P: [&str; 2] = ["tests/test_a.py::test_y", "tests/test_a.py::test_z"];

fn pytest_inst() -> Instance {
    inst("o/r", &[F2P], &P2P)
}

#[test]
fn a_clean_passing_log_has_no_findings_and_runs_every_check() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\n",
        "============================== 3 passed in 0.02s ===============================",
        "",
        0,
        "aaa",
    );
    let (f, c) = run(&pytest_inst(), LogParser::Pytest, &log);
    assert!(f.is_empty(), "{f:#?}");
    assert!(c.iter().all(|c| c.ran), "{c:#?}");
    assert_eq!(c.len(), LOG_CHECKS.len());
}

#[test]
fn atexit_forged_pass_lines_after_the_final_summary() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\nFAILED tests/test_a.py::test_x - assert 1 == 2\n",
        "========================= 1 failed, 2 passed in 0.03s ==========================",
        "PASSED tests/test_a.py::test_x\n",
        1,
        "aaa",
    );
    let inst = pytest_inst();
    // The exploit works on the official 4.x grading.
    let map = parse_log(&log, LogParser::Pytest, GradingMode::V4).unwrap();
    assert_eq!(grade_tests(&inst, &map, GradingMode::V4).resolution(), Resolution::Full);
    let (f, _) = run(&inst, LogParser::Pytest, &log);
    assert_eq!(
        high(&f),
        vec![
            FindingKind::StatusOutsideRunner,
            FindingKind::ConflictingStatuses,
            FindingKind::ExitCodeMismatch
        ],
        "{f:#?}"
    );
    let outside = f.iter().find(|f| f.kind == FindingKind::StatusOutsideRunner).unwrap();
    assert_eq!(outside.evidence[0].test_id.as_deref(), Some(F2P));
    assert_eq!(
        outside.evidence[0].text.as_deref(),
        Some("PASSED tests/test_a.py::test_x")
    );
    let line = outside.evidence[0].line.unwrap();
    assert_eq!(log.split('\n').nth(line - 1), Some("PASSED tests/test_a.py::test_x"));
}

#[test]
fn an_extra_pass_line_inside_the_summary_disagrees_with_the_counts() {
    // A log edited to carry a pass line among the runner's own (and the FAILED line dropped).
    let log = pytest_log(
        "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\n",
        "========================= 1 failed, 2 passed in 0.03s ==========================",
        "",
        1,
        "aaa",
    );
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, &log);
    let k = high(&f);
    assert!(k.contains(&FindingKind::SummaryMismatch), "{f:#?}");
    assert!(k.contains(&FindingKind::ExitCodeMismatch), "{f:#?}");
    let m = f
        .iter()
        .find(|f| f.kind == FindingKind::SummaryMismatch && f.severity == Severity::High)
        .unwrap();
    assert!(
        m.message.contains("3 PASSED line(s), the runner counted 2"),
        "{}",
        m.message
    );
}

#[test]
fn a_second_end_marker_moves_the_graded_slice() {
    // Printed at import time, before the session: forged passes, then a fake end marker.
    let forged = "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\n>>>>> End Test Output\n";
    let log = pytest_log(
        "PASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\nFAILED tests/test_a.py::test_x - assert 1 == 2\n",
        "========================= 1 failed, 2 passed in 0.03s ==========================",
        "",
        1,
        "aaa",
    )
    .replace("+ python3 -m pytest -rA tests/test_a.py\n", &format!("+ python3 -m pytest -rA tests/test_a.py\n{forged}"));
    let inst = pytest_inst();
    let map = parse_log(&log, LogParser::Pytest, GradingMode::V4).unwrap();
    assert_eq!(grade_tests(&inst, &map, GradingMode::V4).resolution(), Resolution::Full);
    let (f, _) = run(&inst, LogParser::Pytest, &log);
    let k = high(&f);
    assert!(k.contains(&FindingKind::MarkerAnomaly), "{f:#?}");
    assert!(k.contains(&FindingKind::StatusOutsideRunner), "{f:#?}");
}

#[test]
fn a_forged_exit_code_and_misplaced_records_are_anomalies() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\n",
        "============================== 3 passed in 0.02s ===============================",
        ">>>>> Test Exit Code: 0\n>>>>> Tracked File After: aaa tests/test_a.py\n",
        1,
        "aaa",
    );
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, &log);
    let anomalies: Vec<&Finding> = f.iter().filter(|f| f.kind == FindingKind::RecordAnomaly).collect();
    assert_eq!(anomalies.len(), 2, "{f:#?}");
    assert!(anomalies.iter().all(|a| a.severity == Severity::High));
}

#[test]
fn the_echoed_exit_code_may_land_before_the_end_marker() {
    // stdout and stderr are merged from two pipes: the script's echo can overtake the
    // shell's trace of the end marker. Its traced value (after the marker) vouches for it.
    let log = pytest_log(
        "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\n",
        "============================== 3 passed in 0.02s ===============================",
        "",
        0,
        "aaa",
    )
    .replace(">>>>> Test Exit Code: 0\n>>>>> Tracked", ">>>>> Tracked")
    .replace(
        "+ : '>>>>> End Test Output'\n",
        ">>>>> Test Exit Code: 0\n+ : '>>>>> End Test Output'\n",
    );
    let (f, c) = run(&pytest_inst(), LogParser::Pytest, &log);
    assert!(f.is_empty(), "{f:#?}");
    assert!(c.iter().all(|c| c.ran));
    // A different value than the traced one is not the script's.
    let forged = log.replace(
        ">>>>> Test Exit Code: 0\n+ : '>>>>> End",
        ">>>>> Test Exit Code: 7\n+ : '>>>>> End",
    );
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, &forged);
    assert_eq!(high(&f), vec![FindingKind::RecordAnomaly], "{f:#?}");
}

#[test]
fn a_tracked_file_changed_during_the_tests() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\n",
        "============================== 3 passed in 0.02s ===============================",
        "",
        0,
        "bbb",
    );
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, &log);
    assert_eq!(high(&f), vec![FindingKind::FilesChangedDuringTests], "{f:#?}");
    assert_eq!(
        f[0].evidence[0].text.as_deref(),
        Some("tests/test_a.py: aaa before the tests, bbb after")
    );
}

#[test]
fn exit_zero_with_failures_counted_by_the_runner() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\nFAILED tests/test_a.py::test_x - x\n",
        "========================= 1 failed, 2 passed in 0.03s ==========================",
        "",
        0,
        "aaa",
    );
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, &log);
    assert_eq!(high(&f), vec![FindingKind::ExitCodeMismatch], "{f:#?}");
}

#[test]
fn nonzero_exit_explained_by_other_failures_is_only_noted() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_x\nPASSED tests/test_a.py::test_y\nPASSED tests/test_a.py::test_z\nFAILED tests/test_a.py::test_other - x\n",
        "========================= 1 failed, 3 passed in 0.03s ==========================",
        "",
        1,
        "aaa",
    );
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, &log);
    assert!(high(&f).is_empty(), "{f:#?}");
    assert!(
        f.iter()
            .any(|f| f.kind == FindingKind::ExitCodeMismatch && f.severity == Severity::Low)
    );
}

#[test]
fn xfail_on_a_required_test_counts_as_a_pass_and_is_flagged() {
    let log = pytest_log(
        "PASSED tests/test_a.py::test_y\nXFAIL tests/test_a.py::test_x - reason: [NOTRUN] flaky\nSKIPPED [1] tests/test_a.py:30: later\n",
        "=================== 1 passed, 1 skipped, 1 xfailed in 0.03s ====================",
        "",
        0,
        "aaa",
    );
    let inst = inst("o/r", &[F2P], &["tests/test_a.py::test_y"]);
    let map = parse_log(&log, LogParser::Pytest, GradingMode::V4).unwrap();
    assert_eq!(grade_tests(&inst, &map, GradingMode::V4).resolution(), Resolution::Full);
    let (f, _) = run(&inst, LogParser::Pytest, &log);
    assert_eq!(high(&f), vec![FindingKind::RequiredTestNotRun], "{f:#?}");
    assert!(
        f[0].message
            .contains("FAIL_TO_PASS test tests/test_a.py::test_x reported XFAIL")
    );
}

#[test]
fn verbose_skips_of_required_tests() {
    let body = "+ : '>>>>> Start Test Output'\n============================= test session starts ==============================\ntests/test_a.py::test_x SKIPPED (env)                                     [ 50%]\ntests/test_a.py::test_y SKIPPED (env)                                     [100%]\n============================== 2 skipped in 0.01s ==============================\n+ : '>>>>> End Test Output'\n";
    let inst = inst("o/r", &[F2P], &["tests/test_a.py::test_y"]);
    let (f, _) = run(&inst, LogParser::PytestV2, body);
    let sev: Vec<(Severity, &str)> = f
        .iter()
        .filter(|f| f.kind == FindingKind::RequiredTestNotRun)
        .map(|f| (f.severity, f.evidence[0].test_id.as_deref().unwrap()))
        .collect();
    assert_eq!(
        sev,
        vec![(Severity::High, F2P), (Severity::Medium, "tests/test_a.py::test_y")]
    );
}

fn django_log(progress: &str, details: &str, result: &str, after: &str) -> String {
    format!(
        "+ : '>>>>> Start Test Output'\n+ ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 m.tests\nCreating test database for alias 'default'…\n{progress}\n{details}----------------------------------------------------------------------\nRan 3 tests in 0.004s\n\n{result}\nDestroying test database for alias 'default'…\n{after}+ : '>>>>> End Test Output'\n"
    )
}

#[test]
fn django_forged_ok_after_the_result_and_conflicts_with_the_failure_details() {
    let progress = "test_a (m.tests.T) ... ok\ntest_b (m.tests.T) ... ok\ntest_c (m.tests.T) ... FAIL";
    let details = "======================================================================\nFAIL: test_c (m.tests.T)\n----------------------------------------------------------------------\nTraceback (most recent call last):\nAssertionError\n\n";
    let clean = django_log(progress, details, "FAILED (failures=1)", "");
    let inst = inst(
        "django/django",
        &["test_c (m.tests.T)"],
        &["test_a (m.tests.T)", "test_b (m.tests.T)"],
    );
    let (f, c) = run(&inst, LogParser::Django, &clean);
    assert!(high(&f).is_empty(), "{f:#?}");
    assert!(
        c.iter()
            .filter(|c| c.check != CheckId::ExitCode && c.check != CheckId::FileRecords)
            .all(|c| c.ran)
    );
    let forged = django_log(progress, details, "FAILED (failures=1)", "test_c (m.tests.T) ... ok\n");
    let map = parse_log(&forged, LogParser::Django, GradingMode::V4).unwrap();
    assert_eq!(grade_tests(&inst, &map, GradingMode::V4).resolution(), Resolution::Full);
    let (f, _) = run(&inst, LogParser::Django, &forged);
    assert_eq!(
        high(&f),
        vec![FindingKind::StatusOutsideRunner, FindingKind::ConflictingStatuses],
        "{f:#?}"
    );
}

#[test]
fn django_edited_progress_line_disagrees_with_the_summary() {
    // FAIL rewritten to ok in place, details and result left alone.
    let progress = "test_a (m.tests.T) ... ok\ntest_b (m.tests.T) ... ok\ntest_c (m.tests.T) ... ok";
    let details = "======================================================================\nFAIL: test_c (m.tests.T)\n----------------------------------------------------------------------\nAssertionError\n\n";
    let log = django_log(progress, details, "FAILED (failures=1)", "");
    let inst = inst("django/django", &["test_c (m.tests.T)"], &[]);
    let (f, _) = run(&inst, LogParser::Django, &log);
    assert!(high(&f).contains(&FindingKind::ConflictingStatuses), "{f:#?}");
    // More result lines than tests run.
    let extra = django_log(
        "test_a (m.tests.T) ... ok\ntest_b (m.tests.T) ... ok\ntest_c (m.tests.T) ... ok\ntest_d (m.tests.T) ... ok",
        "",
        "OK",
        "",
    );
    let (f, _) = run(&inst, LogParser::Django, &extra);
    assert!(high(&f).contains(&FindingKind::SummaryMismatch), "{f:#?}");
    // Failing subtests print a result line each: not more tests than the runner ran.
    let subtests = django_log(
        "test_a (m.tests.T) ... ok\ntest_b (m.tests.T) ... ok\ntest_c (m.tests.T) (i=1) ... FAIL\ntest_c (m.tests.T) (i=2) ... FAIL\ntest_c (m.tests.T) ... ok",
        "======================================================================\nFAIL: test_c (m.tests.T) (i=1)\n",
        "FAILED (failures=2)",
        "",
    );
    let (f, _) = run(&inst, LogParser::Django, &subtests);
    assert!(!high(&f).contains(&FindingKind::SummaryMismatch), "{f:#?}");
    // An expected failure on a required test.
    let xf = django_log(
        "test_a (m.tests.T) ... ok\ntest_b (m.tests.T) ... ok\ntest_c (m.tests.T) ... expected failure",
        "",
        "OK (expected failures=1)",
        "",
    );
    let (f, _) = run(&inst, LogParser::Django, &xf);
    assert_eq!(high(&f), vec![FindingKind::RequiredTestNotRun], "{f:#?}");
}

fn sympy_log(lines: &str, finished: &str, after: &str) -> String {
    format!(
        "+ : '>>>>> Start Test Output'\n+ bin/test -C --verbose sympy/x/tests/test_a.py\n============================= test process starts ==============================\nexecutable:         /usr/bin/python3\n\nsympy/x/tests/test_a.py[3] \n{lines}\n\n{finished}\n{after}+ : '>>>>> End Test Output'\n"
    )
}

#[test]
fn sympy_forged_and_counted_lines() {
    let inst = inst("sympy/sympy", &["test_two"], &["test_one"]);
    let finished = "============ tests finished: 1 passed, 1 failed, 1 expected to fail, in 0.30 seconds ============";
    let body = "test_one ok\ntest_two F\ntest_three f                                                [FAIL]";
    let (f, _) = run(&inst, LogParser::Sympy, &sympy_log(body, finished, ""));
    assert!(high(&f).is_empty(), "{f:#?}");
    let (f, _) = run(&inst, LogParser::Sympy, &sympy_log(body, finished, "test_two ok\n"));
    assert_eq!(
        high(&f),
        vec![FindingKind::StatusOutsideRunner, FindingKind::ConflictingStatuses],
        "{f:#?}"
    );
    let edited = "test_one ok\ntest_two ok\ntest_three f                                                [FAIL]";
    let (f, _) = run(&inst, LogParser::Sympy, &sympy_log(edited, finished, ""));
    assert_eq!(high(&f), vec![FindingKind::SummaryMismatch], "{f:#?}");
}

#[test]
fn a_log_without_markers_only_runs_the_marker_check() {
    let (f, c) = run(&pytest_inst(), LogParser::Pytest, "PASSED tests/test_a.py::test_x\n");
    assert!(f.is_empty());
    assert!(c[0].ran && c[0].check == CheckId::Markers);
    assert!(c[1..].iter().all(|c| !c.ran));
}

#[test]
fn status_lines_with_no_runner_output_around_them() {
    let log = "+ : '>>>>> Start Test Output'\nPASSED tests/test_a.py::test_x\n+ : '>>>>> End Test Output'\n";
    let (f, _) = run(&pytest_inst(), LogParser::Pytest, log);
    assert_eq!(high(&f), vec![FindingKind::StatusOutsideRunner], "{f:#?}");
}

#[test]
fn the_instrumented_script_shape_is_what_the_checks_expect() {
    // The record lines the script prints are recognized in their places.
    let script = instrument_eval_script(
        "#!/bin/bash\n: '>>>>> Start Test Output'\npytest\n: '>>>>> End Test Output'\n",
        &["tests/test_a.py".to_owned()],
    );
    assert!(script.contains("echo \">>>>> Tracked File $1: ${__am_h%% *} $3\""));
    assert!(record::parse_record(0, ">>>>> Tracked File Before: absent tests/test_a.py").is_some());
}
