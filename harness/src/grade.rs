//! Grading a test log against an instance's FAIL_TO_PASS / PASS_TO_PASS lists, exactly as the
//! official harness does: 4.1.0 rules by default, the stricter 5.x rules as [`GradingMode::V5`].

use serde::{Deserialize, Serialize};

use crate::dataset::Instance;
use crate::parse::{LogParser, StatusMap, TestStatus};

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

/// `get_logs_eval`: the status map of a log, or why it cannot be graded.
pub fn parse_log(content: &str, parser: LogParser, mode: GradingMode) -> Result<StatusMap, LogRejection> {
    for marker in [APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT] {
        if content.contains(marker) {
            return Err(LogRejection::FailureMarker { marker: marker.to_owned() });
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
    let mut map = run_parser(parser, slice, mode);
    if map.is_empty() {
        map = run_parser(parser, content, mode);
    }
    if mode == GradingMode::V5 {
        if map.is_empty() {
            return Err(LogRejection::NoTestsRan);
        }
        if let Some(code) = exit_code(content) {
            let any_failed = map.values().any(|s| matches!(s, TestStatus::Failed | TestStatus::Error));
            if code != 0 && !any_failed {
                return Err(LogRejection::ExitCodeMismatch { exit_code: code });
            }
        }
    }
    Ok(map)
}

fn run_parser(parser: LogParser, text: &str, mode: GradingMode) -> StatusMap {
    let mut map = parser.parse(text);
    if mode == GradingMode::V5 {
        // 5.x drops pytest's `SKIPPED [N] file:line: reason` summary lines (key `[N]`).
        map.retain(|k, _| !is_skip_summary_key(k));
    }
    map
}

fn is_skip_summary_key(k: &str) -> bool {
    k.len() > 2 && k.starts_with('[') && k.ends_with(']') && k[1..k.len() - 1].chars().all(|c| c.is_ascii_digit())
}

fn exit_code(content: &str) -> Option<i64> {
    let (_, rest) = content.rsplit_once(TEST_EXIT_CODE)?;
    rest.split_whitespace().next()?.parse().ok()
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
        if total == 0 { 1.0 } else { self.success.len() as f64 / total as f64 }
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
    let status = lookup(id, map, mode);
    if eval_type == EvalType::FailOnly {
        return Some(status != Some(TestStatus::Failed));
    }
    match (mode, status) {
        (_, Some(s)) if is_pass(s) => Some(true),
        (_, None | Some(TestStatus::Failed | TestStatus::Error)) => Some(false),
        (GradingMode::V5, Some(TestStatus::Skipped)) => Some(cat == Category::PassToPass),
        (GradingMode::V5, Some(TestStatus::Other)) => Some(false),
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

/// The parser for an instance: the dataset's `log_parser` column when it names a known parser,
/// else the official repository map.
pub fn parser_for(instance: &Instance) -> Option<LogParser> {
    instance.log_parser.as_deref().and_then(LogParser::from_name).or_else(|| LogParser::for_repo(&instance.repo))
}
