//! The eval script's re-install of the package, read from the log: every Verified eval
//! script runs `pip install -e .` (or `pip install .`) before the tests and does not stop
//! when it fails, so a failed re-install (no network for the package index, a build error)
//! leaves stale code under test for a non-editable install or a compiled extension. This
//! check makes it visible: pip's error lines between the install command's trace and the
//! start marker become a `reinstall_failed` finding (high: the verdict may not be about the
//! patched code). It reads only the log; it never changes the verdict.

use super::{CheckId, CheckRun, Evidence, Finding, FindingKind, Severity};
use crate::grade::START_TEST_OUTPUT;

/// The log file the evidence points into.
const LOG_FILE: &str = "test_output.txt";

/// Shell-trace lines of an install command (the eval scripts run with `set -x`).
fn is_install_command(line: &str) -> bool {
    let Some(cmd) = line.strip_prefix('+').map(|l| l.trim_start_matches('+').trim_start()) else {
        return false;
    };
    cmd.starts_with("python -m pip install")
        || cmd.starts_with("python3 -m pip install")
        || cmd.starts_with("pip install")
        || cmd.starts_with("pip3 install")
        || cmd.starts_with("python setup.py install")
        || cmd.starts_with("python setup.py develop")
}

/// pip's failure lines (its own `ERROR:` lines and the build back-end's failure summary).
fn is_failure(line: &str) -> bool {
    line.starts_with("ERROR: ")
        || line.starts_with("error: subprocess-exited-with-error")
        || line.starts_with("error: metadata-generation-failed")
        || line.starts_with("Failed to build ")
}

/// Look for a failed re-install before the start marker of `log`.
pub fn check_reinstall(log: &str, findings: &mut Vec<Finding>, checks: &mut Vec<CheckRun>) {
    let mut installing = false;
    let mut seen_install = false;
    let mut evidence = Vec::new();
    for (n, raw) in log.split('\n').enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.contains(START_TEST_OUTPUT) {
            break;
        }
        if line.starts_with('+') {
            installing = is_install_command(line);
            seen_install |= installing;
            continue;
        }
        if installing && is_failure(line) {
            evidence.push(Evidence::at(LOG_FILE, n, line));
        }
    }
    if !seen_install {
        checks.push(CheckRun::skipped(
            CheckId::Reinstall,
            "no install command traced before the start marker",
        ));
        return;
    }
    checks.push(CheckRun::ran(CheckId::Reinstall));
    if !evidence.is_empty() {
        findings.push(Finding::new(
            FindingKind::ReinstallFailed,
            Severity::High,
            "the eval script's re-install of the package failed before the tests (no network for \
             the package index?): the tests may have run against stale code",
            evidence,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(log: &str) -> (Vec<Finding>, Vec<CheckRun>) {
        let (mut f, mut c) = (Vec::new(), Vec::new());
        check_reinstall(log, &mut f, &mut c);
        (f, c)
    }

    #[test]
    fn a_failed_install_is_a_finding_and_a_good_one_is_not() {
        let failed = "+ python -m pip install .\nProcessing /testbed\n  Installing build dependencies: started\n\
                      WARNING: Retrying (Retry(total=0)) after connection broken\n\
                      ERROR: Could not find a version that satisfies the requirement setuptools>=40.8.0\n\
                      ERROR: No matching distribution found for setuptools>=40.8.0\n\
                      + git checkout abc tests/test_x.py\n+ : '>>>>> Start Test Output'\nERROR: not pip\n";
        let (f, c) = run(failed);
        assert_eq!(c, vec![CheckRun::ran(CheckId::Reinstall)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::ReinstallFailed);
        assert_eq!(f[0].evidence.len(), 2);
        assert_eq!(f[0].evidence[0].line, Some(5));
        let ok = "+ python -m pip install -e .\nSuccessfully installed x-1.0\n+ : '>>>>> Start Test Output'\n";
        assert!(run(ok).0.is_empty());
        // An error printed by another command is not the install's.
        let other = "+ python -m pip install -e .\nSuccessfully installed x\n+ git apply -v -\nERROR: x\n";
        assert!(run(other).0.is_empty());
        let (f, c) = run("+ pytest -rA\n");
        assert!(f.is_empty());
        assert!(!c[0].ran);
    }
}
