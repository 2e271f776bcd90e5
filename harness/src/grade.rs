//! Grading a test log against an instance's FAIL_TO_PASS / PASS_TO_PASS lists, exactly as the
//! official harness does: 4.1.0 rules by default, the stricter 5.x rules as [`GradingMode::V5`].

use serde::{Deserialize, Serialize};

use crate::dataset::Instance;
use std::sync::LazyLock;

use regex::Regex;

use crate::parse::{LogParser, ParserRules, StatusMap, TestStatus};

pub const APPLY_PATCH_FAIL: &str = ">>>>> Patch Apply Failed";
pub const RESET_FAILED: &str = ">>>>> Reset Failed";
pub const TESTS_ERROR: &str = ">>>>> Tests Errored";
pub const TESTS_TIMEOUT: &str = ">>>>> Tests Timed Out";
pub const START_TEST_OUTPUT: &str = ">>>>> Start Test Output";
pub const END_TEST_OUTPUT: &str = ">>>>> End Test Output";
pub const TEST_EXIT_CODE: &str = ">>>>> Test Exit Code: ";

/// Which official rule set to grade by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradingMode {
    /// swebench 4.1.0: skipped tests are neutral, exact id lookup.
    #[default]
    V4,
    /// swebench 5.x: skipped FAIL_TO_PASS is a failure, skipped PASS_TO_PASS a success,
    /// truncated parametrized ids match by prefix, `SKIPPED [N]` summary lines are dropped,
    /// and a non-zero test exit code with no failing test rejects the log.
    V5,
}

impl std::str::FromStr for GradingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "v4" | "4" => Ok(GradingMode::V4),
            "v5" | "5" => Ok(GradingMode::V5),
            _ => Err(format!("unknown grading mode {s:?} (expected v4 or v5)")),
        }
    }
}

impl GradingMode {
    pub fn parser_rules(self) -> ParserRules {
        match self {
            GradingMode::V4 => ParserRules::V4,
            GradingMode::V5 => ParserRules::V5,
        }
    }
}

impl std::fmt::Display for GradingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GradingMode::V4 => "v4",
            GradingMode::V5 => "v5",
        })
    }
}

/// `pass_and_fail` (every Python repository) or `fail_only` (some JavaScript repositories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalType {
    PassAndFail,
    FailOnly,
}

impl EvalType {
    pub fn of(instance: &Instance) -> Self {
        match instance.eval_type.as_deref() {
            Some("fail_only") => EvalType::FailOnly,
            _ => EvalType::PassAndFail,
        }
    }
}

/// Why a log could not be graded (the official harness then reports "patch not applied").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogRejection {
    /// The log contains one of the harness's failure markers (patch apply failed, timeout, ...).
    FailureMarker { marker: String },
    /// The start or end test-output marker is missing.
    MissingMarkers,
    /// v5: no test result could be parsed and nothing shows that a suite ran.
    NoTestsRan,
    /// v5: the test command exited non-zero but no test failed (spoofed output).
    ExitCodeMismatch { exit_code: i64 },
}

impl std::fmt::Display for LogRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogRejection::FailureMarker { marker } => write!(f, "log contains {marker:?}"),
            LogRejection::MissingMarkers => write!(f, "test output markers are missing"),
            LogRejection::NoTestsRan => write!(f, "no test results found in the log"),
            LogRejection::ExitCodeMismatch { exit_code } => {
                write!(f, "tests exited with {exit_code} but no test failed")
            }
        }
    }
}

/// Python's universal-newline reading (`open(path).read()`): `\r\n` and lone `\r` become `\n`.
/// The official harness reads logs this way, so progress bars drawn with `\r` split lines.
pub fn universal_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// `get_logs_eval`: the status map of a log, or why it cannot be graded. The log is read as
/// Python reads it (universal newlines) first.
pub fn parse_log(content: &str, parser: LogParser, mode: GradingMode) -> Result<StatusMap, LogRejection> {
    let content = &*universal_newlines(content);
    for marker in [APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT] {
        if content.contains(marker) {
            return Err(LogRejection::FailureMarker {
                marker: marker.to_owned(),
            });
        }
    }
    let Some((_, after_start)) = content.split_once(START_TEST_OUTPUT) else {
        return Err(LogRejection::MissingMarkers);
    };
    if !content.contains(END_TEST_OUTPUT) {
        return Err(LogRejection::MissingMarkers);
    }
    // Python: content.split(START)[1].split(END)[0] — between the first start marker and the
    // next start marker, cut at the first end marker in that piece.
    let between_starts = after_start.split(START_TEST_OUTPUT).next().unwrap_or("");
    let slice = between_starts.split(END_TEST_OUTPUT).next().unwrap_or("");
    let rules = mode.parser_rules();
    let mut map = parser.parse_with(slice, rules);
    if map.is_empty() {
        map = parser.parse_with(content, rules);
    }
    if mode == GradingMode::V5 {
        if map.is_empty() && !SUITE_RAN.is_match(content) {
            return Err(LogRejection::NoTestsRan);
        }
        if let Some(code) = exit_code(content) {
            let any_failed = map
                .values()
                .any(|s| matches!(s, TestStatus::Failed | TestStatus::Error));
            if code != 0 && !map.is_empty() && !any_failed {
                return Err(LogRejection::ExitCodeMismatch { exit_code: code });
            }
        }
    }
    Ok(map)
}

/// 5.x: evidence that some test runner executed (non-zero counts only).
static SUITE_RAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?m)Executed [1-9]\d* of \d+",
        r"|TOTAL: [1-9]\d* (?:SUCCESS|FAILED)",
        r"|[1-9]\d* passing",
        r"|Tests:\s+[1-9]\d*",
        r"|Test Suites:\s+(?:\d+ \w+, )*[1-9]\d* total",
        r"|^# tests [1-9]\d*",
        r"|[1-9]\d* specs?, \d+ failures?",
        r"|': ok$",
    ))
    .expect("static regex")
});

static EXIT_CODE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r">>>>> Test Exit Code:\s*(-?\d+)").expect("static regex"));

/// 5.x: the test command's exit status recorded by the eval script (first occurrence).
fn exit_code(content: &str) -> Option<i64> {
    EXIT_CODE_RE.captures(content)?.get(1)?.as_str().parse().ok()
}

/// Success / failure lists of one test category, in dataset order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub success: Vec<String>,
    pub failure: Vec<String>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        let total = self.success.len() + self.failure.len();
        if total == 0 {
            1.0
        } else {
            self.success.len() as f64 / total as f64
        }
    }
}

/// `tests_status` of the official report (key order as officially written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestsStatus {
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: Outcome,
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: Outcome,
    #[serde(rename = "FAIL_TO_FAIL")]
    pub fail_to_fail: Outcome,
    #[serde(rename = "PASS_TO_FAIL")]
    pub pass_to_fail: Outcome,
}

/// FULL, PARTIAL or NO, as `get_resolution_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Resolution {
    Full,
    Partial,
    No,
}

impl TestsStatus {
    pub fn resolution(&self) -> Resolution {
        let f2p = self.fail_to_pass.rate();
        let p2p = self.pass_to_pass.rate();
        if f2p == 1.0 && p2p == 1.0 {
            Resolution::Full
        } else if f2p > 0.0 && f2p < 1.0 && p2p == 1.0 {
            Resolution::Partial
        } else {
            Resolution::No
        }
    }
}

/// Which list a test belongs to (the rules differ between them in v5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    FailToPass,
    PassToPass,
}

fn is_pass(s: TestStatus) -> bool {
    matches!(s, TestStatus::Passed | TestStatus::Xfail)
}

/// v5 `_resolve_case`: exact key, else (for an id with an unclosed `[`) the keys it prefixes,
/// accepted only when they all agree on passing.
fn lookup(id: &str, map: &StatusMap, mode: GradingMode) -> Option<TestStatus> {
    if let Some(s) = map.get(id) {
        return Some(*s);
    }
    if mode == GradingMode::V5 && id.matches('[').count() > id.matches(']').count() {
        let mut matches = map.iter().filter(|(k, _)| k.starts_with(id)).map(|(_, s)| *s);
        let first = matches.next()?;
        if matches.all(|s| is_pass(s) == is_pass(first)) {
            return Some(first);
        }
    }
    None
}

/// Some(true) = success, Some(false) = failure, None = in neither list.
fn judge(id: &str, map: &StatusMap, mode: GradingMode, eval_type: EvalType, cat: Category) -> Option<bool> {
    if eval_type == EvalType::FailOnly {
        // Exact lookup in both generations: only a recorded FAILED is a failure.
        return Some(map.get(id) != Some(&TestStatus::Failed));
    }
    match (mode, lookup(id, map, mode)) {
        (_, Some(s)) if is_pass(s) => Some(true),
        (_, None | Some(TestStatus::Failed | TestStatus::Error)) => Some(false),
        // 5.x: a skipped FAIL_TO_PASS test is not a resolution; a skipped PASS_TO_PASS test
        // is not a regression.
        (GradingMode::V5, Some(TestStatus::Skipped)) => Some(cat == Category::PassToPass),
        // 4.x: skipped is neutral; an odd status string is neutral in both.
        _ => None,
    }
}

/// `get_eval_tests_report`: sort each listed test into success or failure.
pub fn grade_tests(instance: &Instance, map: &StatusMap, mode: GradingMode) -> TestsStatus {
    let eval_type = EvalType::of(instance);
    let mut status = TestsStatus::default();
    for (ids, out, cat) in [
        (&instance.fail_to_pass, &mut status.fail_to_pass, Category::FailToPass),
        (&instance.pass_to_pass, &mut status.pass_to_pass, Category::PassToPass),
    ] {
        for id in ids {
            match judge(id, map, mode, eval_type, cat) {
                Some(true) => out.success.push(id.clone()),
                Some(false) => out.failure.push(id.clone()),
                None => {}
            }
        }
    }
    status
}

/// 5.x `classify_logs`: an advisory reason why a log that could not be graded failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfraClass {
    pub reason: &'static str,
    /// True for the "environment" tier (cannot be the patch's fault).
    pub environment: bool,
}

static INFRA_SIGNATURES: LazyLock<Vec<(&'static str, bool, Regex)>> = LazyLock::new(|| {
    [
        (
            "browser_launch_failed",
            true,
            r"Failed to launch|Failed to connect to the bus",
        ),
        (
            "display_unavailable",
            true,
            r"cannot open display|Missing X server|unable to open X display",
        ),
        (
            "out_of_memory",
            true,
            r"(?m)Cannot allocate memory|OutOfMemoryError|^Killed$",
        ),
        (
            "container_unavailable",
            true,
            r"Error response from daemon|Cannot connect to the Docker daemon",
        ),
        (
            "network_unreachable",
            true,
            r"Could not resolve host|Temporary failure in name resolution",
        ),
        (
            "missing_module",
            false,
            r"Cannot find module|MODULE_NOT_FOUND|ModuleNotFoundError",
        ),
        ("no_tests_collected", false, r"no tests ran|collected 0 items"),
        ("tests_timed_out", false, r"Timeout error: \d+ seconds exceeded"),
    ]
    .into_iter()
    .map(|(r, env, p)| (r, env, Regex::new(&format!("(?m){p}")).expect("static regex")))
    .collect()
});

/// The first matching infrastructure-failure signature of a log, as 5.x classifies it.
pub fn classify_infra_failure(log: &str) -> Option<InfraClass> {
    let log = &*universal_newlines(log);
    if log.is_empty() {
        return None;
    }
    INFRA_SIGNATURES
        .iter()
        .find(|(_, _, re)| re.is_match(log))
        .map(|(reason, environment, _)| InfraClass {
            reason,
            environment: *environment,
        })
}

/// The parser for an instance: the dataset's `log_parser` column when it names a known parser,
/// else the official repository map.
pub fn parser_for(instance: &Instance) -> Option<LogParser> {
    instance
        .log_parser
        .as_deref()
        .and_then(LogParser::from_name)
        .or_else(|| LogParser::for_repo(&instance.repo))
}
