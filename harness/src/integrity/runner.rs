//! What the test runners of SWE-bench print, for the integrity checks: where a runner's own
//! output begins and ends (its *region*), its final summary counts, its status lines keyed by
//! the full test id (with XPASS, xfail and skips, which the official parsers drop), and the
//! lines the official parser reads, line by line.
//!
//! Three families: pytest (every pytest-based parser, plain or through tox, `-rA` summaries
//! and verbose `id STATUS` lines), unittest as Django's `runtests.py --verbosity 2` prints it,
//! and SymPy's `bin/test --verbose`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::parse::{LogParser, ParserRules, TestStatus};

/// A runner family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Pytest,
    Django,
    Sympy,
}

impl Family {
    pub fn of(parser: LogParser) -> Family {
        match parser {
            LogParser::Django => Family::Django,
            LogParser::Sympy => Family::Sympy,
            _ => Family::Pytest,
        }
    }
}

/// A status as the runner printed it (the official parsers have no XPASS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunnerStatus {
    Passed,
    Failed,
    Error,
    Skipped,
    Xfail,
    Xpass,
}

impl RunnerStatus {
    pub fn is_fail(self) -> bool {
        matches!(self, RunnerStatus::Failed | RunnerStatus::Error)
    }

    /// Statuses the official grading counts as a pass.
    pub fn is_pass(self) -> bool {
        matches!(self, RunnerStatus::Passed | RunnerStatus::Xfail)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunnerStatus::Passed => "PASSED",
            RunnerStatus::Failed => "FAILED",
            RunnerStatus::Error => "ERROR",
            RunnerStatus::Skipped => "SKIPPED",
            RunnerStatus::Xfail => "XFAIL",
            RunnerStatus::Xpass => "XPASS",
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        Some(match w {
            "PASSED" => RunnerStatus::Passed,
            "FAILED" => RunnerStatus::Failed,
            "ERROR" => RunnerStatus::Error,
            "SKIPPED" => RunnerStatus::Skipped,
            "XFAIL" => RunnerStatus::Xfail,
            "XPASS" => RunnerStatus::Xpass,
            _ => return None,
        })
    }
}

/// One status line of the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// 0-based line index in the log.
    pub line: usize,
    pub id: String,
    pub status: RunnerStatus,
    /// How many tests the line stands for (pytest's `SKIPPED [3] file:line`).
    pub weight: usize,
    /// A failure-details header (`FAIL: test (m.C)`) rather than a progress line.
    pub detail: bool,
}

/// The runner's final summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// 0-based line index of the summary line.
    pub line: usize,
    pub counts: BTreeMap<RunnerStatus, usize>,
    /// Django's `Ran N tests`.
    pub total: Option<usize>,
}

/// The part of the log the runner printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// First line (0-based, inclusive).
    pub start: usize,
    /// Last line (0-based, inclusive).
    pub end: usize,
    /// The final summary, when the runner got that far.
    pub summary: Option<Summary>,
    /// pytest: the last `short test summary info` section (header line, last line).
    pub summary_section: Option<(usize, usize)>,
}

impl Region {
    /// A run that started at `start` and printed no final summary: it reaches the slice's end.
    fn unfinished(start: usize, slice: &std::ops::Range<usize>) -> Region {
        Region {
            start,
            end: slice.end.saturating_sub(1).max(start),
            summary: None,
            summary_section: None,
        }
    }

    pub fn contains(&self, line: usize) -> bool {
        (self.start..=self.end).contains(&line)
    }
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b?\[[0-9;]*m").expect("static regex"));

/// A line without terminal colour codes and control characters (tox runs pytest in colour).
pub fn clean(line: &str) -> String {
    ANSI.replace_all(line, "")
        .chars()
        .filter(|&c| !('\u{1}'..='\u{1f}').contains(&c))
        .collect()
}

static PYTEST_SESSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^=+ test session starts").expect("static regex"));
static PYTEST_FINAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^=+ (.*?)\s*\bin \d+(?:\.\d+)?\s*s(?:econds)?\b.*=+\s*$").expect("static regex"));
static PYTEST_SHORT_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^=+ short test summary info =+\s*$").expect("static regex"));
static PYTEST_COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)")
        .expect("static regex")
});
static PYTEST_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (.+)$").expect("static regex"));
static PYTEST_SKIP_COUNT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[(\d+)\] (.*)$").expect("static regex"));
static PYTEST_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?: \(.*\))?(?:\s+\[\s*\d+%\])?\s*$")
        .expect("static regex")
});

static DJANGO_RAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^Ran (\d+) tests? in ").expect("static regex"));
static DJANGO_RESULT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(OK|FAILED)(?: \((.*)\))?\s*$").expect("static regex"));
static DJANGO_RESULT_COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(failures|errors|skipped|expected failures|unexpected successes)=(\d+)").expect("static regex")
});

// SymPy pads its header and summary with `=` only when they fit the terminal width; a long
// summary is printed bare and wrapped (`tests finished: ..., \nin 11.15 seconds`).
static SYMPY_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[= ]*test process starts[= ]*$").expect("static regex"));
static SYMPY_FINISHED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[= ]*tests finished: (.*?)[= ]*$").expect("static regex"));
static SYMPY_COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d+) (passed|failed|exceptions?|expected to fail but passed|expected to fail|skipped)")
        .expect("static regex")
});
static SYMPY_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(test_\S+)(?:\s.*)?\s(ok|F|E|f|X|s|w)(?:\s+\[(?:OK|FAIL)\])?$").expect("static regex")
});

/// The runner's region inside `slice` (the official marker slice, 0-based line range).
pub fn region(family: Family, lines: &[&str], slice: std::ops::Range<usize>) -> Option<Region> {
    let in_slice = || slice.clone().map(|i| (i, lines[i]));
    match family {
        Family::Pytest => {
            let start = in_slice().find(|(_, l)| PYTEST_SESSION.is_match(&clean(l)))?.0;
            let final_line = in_slice().rev().filter(|(i, _)| *i > start).find(|(_, l)| {
                let c = clean(l);
                PYTEST_FINAL.is_match(&c) && (PYTEST_COUNT.is_match(&c) || c.contains("no tests ran"))
            });
            let Some((end, text)) = final_line else {
                return Some(Region::unfinished(start, &slice));
            };
            let mut counts = BTreeMap::new();
            for c in PYTEST_COUNT.captures_iter(&clean(text)) {
                let n: usize = c[1].parse().unwrap_or(0);
                let status = match &c[2] {
                    "passed" => RunnerStatus::Passed,
                    "failed" => RunnerStatus::Failed,
                    "error" | "errors" => RunnerStatus::Error,
                    "skipped" => RunnerStatus::Skipped,
                    "xfailed" => RunnerStatus::Xfail,
                    "xpassed" => RunnerStatus::Xpass,
                    _ => continue,
                };
                *counts.entry(status).or_insert(0) += n;
            }
            let section = (start..end)
                .rev()
                .find(|&i| PYTEST_SHORT_SUMMARY.is_match(&clean(lines[i])))
                .map(|h| (h, end));
            Some(Region {
                start,
                end,
                summary: Some(Summary {
                    line: end,
                    counts,
                    total: None,
                }),
                summary_section: section,
            })
        }
        Family::Django => {
            let start = slice.start;
            let ran = in_slice().rev().find(|(_, l)| DJANGO_RAN.is_match(l.trim()));
            let Some((ran_line, ran_text)) = ran else {
                return Some(Region::unfinished(start, &slice));
            };
            let total = DJANGO_RAN.captures(ran_text.trim()).and_then(|c| c[1].parse().ok());
            let result = in_slice()
                .filter(|(i, _)| *i > ran_line)
                .find(|(_, l)| !l.trim().is_empty())
                .filter(|(_, l)| DJANGO_RESULT.is_match(l.trim()));
            let (end, counts) = match result {
                Some((i, l)) => {
                    let mut counts = BTreeMap::new();
                    if let Some(inner) = DJANGO_RESULT.captures(l.trim()).and_then(|c| c.get(2)) {
                        for c in DJANGO_RESULT_COUNT.captures_iter(inner.as_str()) {
                            let n: usize = c[2].parse().unwrap_or(0);
                            let status = match &c[1] {
                                "failures" => RunnerStatus::Failed,
                                "errors" => RunnerStatus::Error,
                                "skipped" => RunnerStatus::Skipped,
                                "expected failures" => RunnerStatus::Xfail,
                                _ => RunnerStatus::Xpass,
                            };
                            counts.insert(status, n);
                        }
                    }
                    (i, counts)
                }
                None => (ran_line, BTreeMap::new()),
            };
            Some(Region {
                start,
                end,
                summary: Some(Summary {
                    line: end,
                    counts,
                    total,
                }),
                summary_section: None,
            })
        }
        Family::Sympy => {
            let start = in_slice().find(|(_, l)| SYMPY_START.is_match(l.trim_end()))?.0;
            let finished = in_slice()
                .rev()
                .filter(|(i, _)| *i > start)
                .find(|(_, l)| SYMPY_FINISHED.is_match(l.trim_end()));
            let Some((end, text)) = finished else {
                return Some(Region::unfinished(start, &slice));
            };
            let mut counts = BTreeMap::new();
            if let Some(c) = SYMPY_FINISHED.captures(text.trim_end()) {
                for m in SYMPY_COUNT.captures_iter(&c[1]) {
                    let n: usize = m[1].parse().unwrap_or(0);
                    let status = match &m[2] {
                        "passed" => RunnerStatus::Passed,
                        "failed" => RunnerStatus::Failed,
                        "exception" | "exceptions" => RunnerStatus::Error,
                        "expected to fail" => RunnerStatus::Xfail,
                        "expected to fail but passed" => RunnerStatus::Xpass,
                        _ => RunnerStatus::Skipped,
                    };
                    *counts.entry(status).or_insert(0) += n;
                }
            }
            Some(Region {
                start,
                end,
                summary: Some(Summary {
                    line: end,
                    counts,
                    total: None,
                }),
                summary_section: None,
            })
        }
    }
}

/// The runner's status lines inside `range` (0-based, exclusive end), keyed by full test id.
/// For pytest, `summary_section` says which lines are short-summary lines (prefix form);
/// verbose `id STATUS` lines are read elsewhere in the range.
pub fn status_lines(
    family: Family,
    lines: &[&str],
    range: std::ops::Range<usize>,
    summary_section: Option<(usize, usize)>,
) -> Vec<StatusLine> {
    let mut out = Vec::new();
    match family {
        Family::Pytest => {
            for i in range {
                let c = clean(lines[i]);
                let in_section = summary_section.is_some_and(|(a, b)| i > a && i < b);
                if in_section {
                    if let Some(s) = pytest_prefix(&c) {
                        out.push(StatusLine { line: i, ..s });
                    }
                } else if let Some(m) = PYTEST_SUFFIX.captures(&c) {
                    let id = m[1].trim();
                    // Verbose lines name a node (`path::test`, `path.py::...`); anything else
                    // ending in a status word is prose.
                    if id.contains("::") && (!id.contains(' ') || id.contains('[')) {
                        if let Some(status) = RunnerStatus::from_word(&m[2]) {
                            out.push(StatusLine {
                                line: i,
                                id: id.to_owned(),
                                status,
                                weight: 1,
                                detail: false,
                            });
                        }
                    }
                }
            }
        }
        Family::Django => {
            let mut prev: Option<String> = None;
            for i in range {
                let l = crate::parse::py_strip(lines[i]);
                if let Some((id, rest)) = l.split_once(" ... ") {
                    prev = Some(id.to_owned());
                    let rest = rest.trim();
                    let status = if matches!(rest, "ok" | "OK") {
                        Some(RunnerStatus::Passed)
                    } else if rest.starts_with("skipped") {
                        Some(RunnerStatus::Skipped)
                    } else if rest == "FAIL" {
                        Some(RunnerStatus::Failed)
                    } else if rest == "ERROR" {
                        Some(RunnerStatus::Error)
                    } else if rest == "expected failure" {
                        Some(RunnerStatus::Xfail)
                    } else if rest == "unexpected success" {
                        Some(RunnerStatus::Xpass)
                    } else {
                        None
                    };
                    if let Some(status) = status {
                        out.push(StatusLine {
                            line: i,
                            id: id.to_owned(),
                            status,
                            weight: 1,
                            detail: false,
                        });
                        prev = None;
                    }
                    continue;
                }
                if let Some(rest) = l.strip_prefix("FAIL: ").or_else(|| l.strip_prefix("ERROR: ")) {
                    let status = if l.starts_with("FAIL") {
                        RunnerStatus::Failed
                    } else {
                        RunnerStatus::Error
                    };
                    out.push(StatusLine {
                        line: i,
                        id: rest.trim().to_owned(),
                        status,
                        weight: 1,
                        detail: true,
                    });
                    continue;
                }
                let word = l.split_whitespace().next().unwrap_or("");
                let late = match word {
                    "ok" => Some(RunnerStatus::Passed),
                    "FAIL" => Some(RunnerStatus::Failed),
                    "ERROR" => Some(RunnerStatus::Error),
                    _ => None,
                };
                if let (Some(status), Some(id)) = (late, prev.as_ref())
                    && l.len() == word.len()
                {
                    out.push(StatusLine {
                        line: i,
                        id: id.clone(),
                        status,
                        weight: 1,
                        detail: false,
                    });
                    prev = None;
                }
            }
        }
        Family::Sympy => {
            for i in range {
                let l = lines[i].trim();
                if let Some(m) = SYMPY_LINE.captures(l) {
                    let status = match &m[2] {
                        "ok" => RunnerStatus::Passed,
                        "F" => RunnerStatus::Failed,
                        "E" => RunnerStatus::Error,
                        "f" => RunnerStatus::Xfail,
                        "X" => RunnerStatus::Xpass,
                        _ => RunnerStatus::Skipped,
                    };
                    out.push(StatusLine {
                        line: i,
                        id: m[1].to_owned(),
                        status,
                        weight: 1,
                        detail: false,
                    });
                }
            }
        }
    }
    out
}

/// A pytest short-summary line: `PASSED id`, `FAILED id - msg`, `SKIPPED [N] where: why`.
fn pytest_prefix(line: &str) -> Option<StatusLine> {
    let m = PYTEST_PREFIX.captures(line)?;
    let status = RunnerStatus::from_word(&m[1])?;
    let rest = m[2].trim_end();
    if status == RunnerStatus::Skipped
        && let Some(c) = PYTEST_SKIP_COUNT.captures(rest)
    {
        return Some(StatusLine {
            line: 0,
            id: c[2].to_owned(),
            status,
            weight: c[1].parse().unwrap_or(1),
            detail: false,
        });
    }
    let id = match status {
        RunnerStatus::Passed => rest,
        _ => rest.split(" - ").next().unwrap_or(rest),
    };
    Some(StatusLine {
        line: 0,
        id: id.trim().to_owned(),
        status,
        weight: 1,
        detail: false,
    })
}

/// An entry of the official parser, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialLine {
    pub line: usize,
    pub id: String,
    pub status: TestStatus,
}

static DJANGO_MULTILINE: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        Regex::new(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]Testing\ against\ Django\ installed\ in\ ((?s:.*?))\ silenced\)\.\nok$"),
        Regex::new(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]Internal\ Server\ Error:\ \/(.*)\/\nok$"),
        Regex::new(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]System check identified no issues \(0 silenced\)\nok$"),
    ]
    .map(|r| r.expect("static regex"))
});

/// Which line gave each entry of the official parser's map. Folding these in line order
/// (later entries overwrite) gives the parser's own map on the same text: the tests check
/// that on every oracle log.
pub fn official_lines(parser: LogParser, rules: ParserRules, lines: &[&str]) -> Vec<OfficialLine> {
    let mut out = Vec::new();
    if parser != LogParser::Django {
        for (i, l) in lines.iter().enumerate() {
            for (id, status) in parser.parse_with(l, rules) {
                out.push(OfficialLine { line: i, id, status });
            }
        }
        return out;
    }
    // Django: the parser keeps the last " ... " test across lines and has three
    // multi-line patterns; each entry is put on the line that completes it.
    let mut prev: Option<String> = None;
    for (i, raw) in lines.iter().enumerate() {
        for (id, status) in parser.parse_with(raw, rules) {
            out.push(OfficialLine { line: i, id, status });
        }
        let line = crate::parse::py_strip(raw);
        if line.contains(" ... ") {
            prev = Some(line.split(" ... ").next().unwrap_or("").to_owned());
        }
        if line.trim_start().starts_with("ok")
            && let Some(p) = &prev
            && !line.contains(" ... ")
        {
            out.push(OfficialLine {
                line: i,
                id: p.clone(),
                status: TestStatus::Passed,
            });
        }
    }
    let text = lines.join("\n");
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    for re in DJANGO_MULTILINE.iter() {
        for caps in re.captures_iter(&text) {
            let (Some(whole), Some(id)) = (caps.get(0), caps.get(1)) else {
                continue;
            };
            let end_line = starts
                .partition_point(|&s| s <= whole.end().saturating_sub(1))
                .saturating_sub(1);
            out.push(OfficialLine {
                line: end_line,
                id: id.as_str().to_owned(),
                status: TestStatus::Passed,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.split('\n').collect()
    }

    #[test]
    fn pytest_region_summary_and_lines() {
        let log = "+ pytest -rA t.py\n============================= test session starts ==============================\ncollected 3 items\n\nt.py .Fx                                                                   [100%]\n\n=========================== short test summary info ============================\nPASSED t.py::test_a\nFAILED t.py::test_b - assert 1 == 2\nXFAIL t.py::test_c - reason: [NOTRUN] no\nSKIPPED [2] t.py:9: nope\n========= 1 failed, 1 passed, 2 skipped, 1 xfailed in 0.05s ==========\nPASSED t.py::test_b";
        let ls = lines(log);
        let r = region(Family::Pytest, &ls, 0..ls.len()).expect("region");
        assert_eq!((r.start, r.end), (1, 11));
        assert_eq!(r.summary_section, Some((6, 11)));
        let s = r.summary.as_ref().expect("summary");
        assert_eq!(s.counts[&RunnerStatus::Passed], 1);
        assert_eq!(s.counts[&RunnerStatus::Skipped], 2);
        assert_eq!(s.counts[&RunnerStatus::Xfail], 1);
        let st = status_lines(Family::Pytest, &ls, r.start..r.end + 1, r.summary_section);
        let got: Vec<(&str, RunnerStatus, usize)> = st.iter().map(|s| (s.id.as_str(), s.status, s.weight)).collect();
        assert_eq!(
            got,
            vec![
                ("t.py::test_a", RunnerStatus::Passed, 1),
                ("t.py::test_b", RunnerStatus::Failed, 1),
                ("t.py::test_c", RunnerStatus::Xfail, 1),
                ("t.py:9: nope", RunnerStatus::Skipped, 2),
            ]
        );
        assert!(!r.contains(12), "the line after the final summary is outside");
    }

    #[test]
    fn pytest_colour_verbose_and_seconds_forms() {
        let log = "\x1b[1m============================= test session starts ==============================\x1b[0m\ntests/test_x.py::test_a[a b] PASSED [ 50%]\ntests/test_x.py::test_b SKIPPED (no db)                        [100%]\n\x1b[32m============ 1 passed, 1 skipped in 0.51 seconds =============\x1b[0m";
        let ls = lines(log);
        let r = region(Family::Pytest, &ls, 0..ls.len()).expect("region");
        assert_eq!((r.start, r.end), (0, 3));
        let st = status_lines(Family::Pytest, &ls, 0..4, r.summary_section);
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].id, "tests/test_x.py::test_a[a b]");
        assert_eq!(st[1].status, RunnerStatus::Skipped);
    }

    #[test]
    fn django_region_counts_and_interleaved_ok() {
        let log = "+ ./tests/runtests.py\ntest_a (m.T) ... ok\ntest_b (m.T) ... some output\nok\nDocstring line. ... skipped 'x'\ntest_c (m.T) ... FAIL\ntest_d (m.T) ... expected failure\n======\nFAIL: test_c (m.T)\n----\nRan 5 tests in 0.1s\n\nFAILED (failures=1, skipped=1, expected failures=1)\ntest_c (m.T) ... ok";
        let ls = lines(log);
        let r = region(Family::Django, &ls, 1..ls.len()).expect("region");
        assert_eq!((r.start, r.end), (1, 12));
        let s = r.summary.as_ref().expect("summary");
        assert_eq!(s.total, Some(5));
        assert_eq!(s.counts[&RunnerStatus::Failed], 1);
        assert_eq!(s.counts[&RunnerStatus::Xfail], 1);
        let st = status_lines(Family::Django, &ls, r.start..r.end + 1, None);
        let got: Vec<(&str, RunnerStatus, bool)> = st.iter().map(|s| (s.id.as_str(), s.status, s.detail)).collect();
        assert_eq!(
            got,
            vec![
                ("test_a (m.T)", RunnerStatus::Passed, false),
                ("test_b (m.T)", RunnerStatus::Passed, false),
                ("Docstring line.", RunnerStatus::Skipped, false),
                ("test_c (m.T)", RunnerStatus::Failed, false),
                ("test_d (m.T)", RunnerStatus::Xfail, false),
                ("test_c (m.T)", RunnerStatus::Failed, true),
            ]
        );
    }

    #[test]
    fn sympy_region_and_status_letters() {
        let log = "============================= test process starts ==============================\nsympy/x/tests/test_a.py[4]\ntest_one ok\ntest_two F\ntest_three numpy not installed. s\ntest_four f                                                  [FAIL]\n\n====== tests finished: 1 passed, 1 failed, 1 skipped, 1 expected to fail, in 0.3 seconds ======\ntest_two ok";
        let ls = lines(log);
        let r = region(Family::Sympy, &ls, 0..ls.len()).expect("region");
        assert_eq!((r.start, r.end), (0, 7));
        let s = r.summary.as_ref().expect("summary");
        assert_eq!(s.counts[&RunnerStatus::Xfail], 1);
        assert_eq!(s.counts[&RunnerStatus::Skipped], 1);
        // Unpadded and wrapped, as SymPy prints a summary longer than the terminal.
        let wrapped = log.replace(
            "====== tests finished: 1 passed, 1 failed, 1 skipped, 1 expected to fail, in 0.3 seconds ======",
            " tests finished: 1 passed, 1 failed, 1 skipped, 1 expected to fail, \nin 0.3 seconds ",
        );
        let wl = lines(&wrapped);
        let w = region(Family::Sympy, &wl, 0..wl.len()).expect("region");
        assert_eq!(w.end, 7);
        assert_eq!(w.summary.expect("summary").counts[&RunnerStatus::Xfail], 1);
        let st = status_lines(Family::Sympy, &ls, r.start..r.end + 1, None);
        let got: Vec<(&str, RunnerStatus)> = st.iter().map(|s| (s.id.as_str(), s.status)).collect();
        assert_eq!(
            got,
            vec![
                ("test_one", RunnerStatus::Passed),
                ("test_two", RunnerStatus::Failed),
                ("test_three", RunnerStatus::Skipped),
                ("test_four", RunnerStatus::Xfail),
            ]
        );
    }

    #[test]
    fn no_session_header_no_region() {
        let ls = lines("PASSED a::b\nPASSED a::c");
        assert!(region(Family::Pytest, &ls, 0..2).is_none());
        assert!(region(Family::Sympy, &ls, 0..2).is_none());
    }

    #[test]
    fn official_lines_fold_to_the_parser_map_on_crafted_django() {
        let log = "test_a (m.T) ... ok\ntest_b (m.T) ... System check identified no issues (0 silenced).\nok\ntest_c (m.T) ... x\nok\nFAIL: test_d (m.T)\n";
        let ls = lines(log);
        let mut folded = crate::parse::StatusMap::new();
        for e in official_lines(LogParser::Django, ParserRules::V4, &ls) {
            folded.insert(e.id, e.status);
        }
        let official = LogParser::Django.parse(log);
        let a: BTreeMap<_, _> = folded.into_iter().collect();
        let b: BTreeMap<_, _> = official.into_iter().collect();
        assert_eq!(a, b);
    }
}
