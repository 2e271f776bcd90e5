//! Test-log parsers of the official SWE-bench harness 4.x (Python repositories), as typed
//! code: a log slice in, an ordered map from test id to [`TestStatus`] out.
//!
//! Each parser follows the official one line for line, including its quirks (ids cut at the
//! first space, later lines overwriting earlier ones, a `SKIPPED [1] file:line` summary
//! becoming the id `[1]`). Python's whitespace rules are kept (`str.split()` / `strip()` also
//! split on `\x1c`..`\x1f`). Inputs that made the Python parser raise (an `IndexError` on a
//! lone `FAILED`) are passed over instead.

mod django;
mod pytest;
mod sympy;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The five statuses the official parsers emit (there is no XPASS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TestStatus {
    Passed,
    Failed,
    Skipped,
    Error,
    Xfail,
    /// A first token that merely *starts* with a status word (`PASSEDx`), or a suffix-form
    /// line whose second token is not a status. The official parsers store such strings
    /// verbatim; in 4.x grading they count as neither passed nor failed.
    Other,
}

impl TestStatus {
    pub const ALL: [TestStatus; 5] = [
        TestStatus::Failed,
        TestStatus::Passed,
        TestStatus::Skipped,
        TestStatus::Error,
        TestStatus::Xfail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Passed => "PASSED",
            TestStatus::Failed => "FAILED",
            TestStatus::Skipped => "SKIPPED",
            TestStatus::Error => "ERROR",
            TestStatus::Xfail => "XFAIL",
            TestStatus::Other => "OTHER",
        }
    }

    pub fn from_token(s: &str) -> Option<Self> {
        TestStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The status word a line starts with, if any.
    fn prefix_of(line: &str) -> Option<Self> {
        TestStatus::ALL.into_iter().find(|t| line.starts_with(t.as_str()))
    }

    /// The status word a line ends with, if any.
    fn suffix_of(line: &str) -> Option<Self> {
        TestStatus::ALL.into_iter().find(|t| line.ends_with(t.as_str()))
    }
}

/// Test id → status, in first-seen order (a later line overwrites the status in place,
/// like a Python dict).
pub type StatusMap = IndexMap<String, TestStatus>;

/// The log parsers used by SWE-bench Verified, Lite and full (Python repositories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogParser {
    Pytest,
    PytestOptions,
    PytestV2,
    Matplotlib,
    Seaborn,
    Sympy,
    Django,
}

impl LogParser {
    /// The parser the official 4.x harness uses for a repository (`MAP_REPO_TO_PARSER`).
    pub fn for_repo(repo: &str) -> Option<Self> {
        Some(match repo {
            "astropy/astropy" | "scikit-learn/scikit-learn" | "sphinx-doc/sphinx" => LogParser::PytestV2,
            "django/django" => LogParser::Django,
            "matplotlib/matplotlib" => LogParser::Matplotlib,
            "mwaskom/seaborn" => LogParser::Seaborn,
            "sympy/sympy" => LogParser::Sympy,
            "psf/requests" | "pylint-dev/pylint" | "pydicom/pydicom" => LogParser::PytestOptions,
            "pallets/flask"
            | "pydata/xarray"
            | "pytest-dev/pytest"
            | "marshmallow-code/marshmallow"
            | "pvlib/pvlib-python"
            | "pyvista/pyvista"
            | "sqlfluff/sqlfluff"
            | "pylint-dev/astroid" => LogParser::Pytest,
            _ => return None,
        })
    }

    /// The parser named by a dataset's `log_parser` column (the 5.x registry names), or one of
    /// this crate's own names (`pytest`, `pytest_v2`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.strip_prefix("parse_log_").unwrap_or(name);
        Some(match n {
            "pytest" | "astroid" | "flask" | "marshmallow" | "pvlib" | "pyvista" | "sqlfluff" | "xarray" => {
                LogParser::Pytest
            }
            "pytest_options" | "pydicom" | "requests" | "pylint" => LogParser::PytestOptions,
            "pytest_v2" | "astropy" | "scikit" | "sphinx" => LogParser::PytestV2,
            "matplotlib" => LogParser::Matplotlib,
            "seaborn" => LogParser::Seaborn,
            "sympy" => LogParser::Sympy,
            "django" => LogParser::Django,
            _ => return None,
        })
    }

    /// Parse a log (or the slice between the test-output markers) with the 4.x parsers.
    pub fn parse(self, log: &str) -> StatusMap {
        self.parse_with(log, ParserRules::V4)
    }

    /// Parse with the parsers of the given harness generation.
    pub fn parse_with(self, log: &str, rules: ParserRules) -> StatusMap {
        match self {
            LogParser::Pytest => pytest::parse_pytest(log, rules, |l| std::borrow::Cow::Borrowed(l)),
            LogParser::Matplotlib => pytest::parse_pytest(log, rules, |l| {
                if l.contains("MouseButton.") {
                    std::borrow::Cow::Owned(l.replace("MouseButton.LEFT", "1").replace("MouseButton.RIGHT", "3"))
                } else {
                    std::borrow::Cow::Borrowed(l)
                }
            }),
            LogParser::PytestOptions => pytest::parse_pytest_options(log, rules),
            LogParser::PytestV2 => pytest::parse_pytest_v2(log, rules),
            LogParser::Seaborn => pytest::parse_seaborn(log),
            LogParser::Sympy => sympy::parse_sympy(log),
            LogParser::Django => django::parse_django(log),
        }
    }
}

/// Which generation of the official parsers to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParserRules {
    /// swebench 4.x.
    #[default]
    V4,
    /// swebench 5.x: pytest's `SKIPPED [N] file:line` summary lines are not tests, and the
    /// pytest v2 parser keeps ids with spaces whole and cuts `FAILED` lines at ` - `.
    V5,
}

/// 5.x `_is_skip_summary`: status `SKIPPED` with an id like `[3]`.
pub(crate) fn is_skip_summary(status: &str, id: &str) -> bool {
    static COUNT: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^\[\d+\]$").expect("static regex"));
    status == "SKIPPED" && COUNT.is_match(id)
}

/// Python's `str.isspace` for one character: Unicode whitespace plus the four ASCII
/// information separators `\x1c`..`\x1f`, which Rust does not count as whitespace.
pub(crate) fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.split()` with no arguments.
pub(crate) fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(py_space).filter(|t| !t.is_empty())
}

/// Python's `str.strip()` with no arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

#[cfg(test)]
mod tests {
    //! Each parser on real excerpts of the oracle logs (quoted verbatim).
    use super::*;

    fn pairs(map: &StatusMap) -> Vec<(&str, TestStatus)> {
        map.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }

    #[test]
    fn django_docstring_names_interleaved_output_and_failures() {
        let log = "test_redirect_lazy (httpwrappers.tests.HttpResponseSubclassesTests)\n\
                   Make sure HttpResponseRedirect works with lazy strings. ... ok\n\
                   test_a (m.T) ... skipped 'no db'\n\
                   test_b (m.T) ... FAIL\n\
                   test_c (m.T) ... ERROR\n\
                   test_d (m.T) ... System check identified no issues (0 silenced).\nok\n\
                   FAIL: test_e (m.T)\n";
        let map = LogParser::Django.parse(log);
        assert_eq!(
            pairs(&map),
            vec![
                (
                    "Make sure HttpResponseRedirect works with lazy strings.",
                    TestStatus::Passed
                ),
                ("test_a (m.T)", TestStatus::Skipped),
                ("test_b (m.T)", TestStatus::Failed),
                ("test_c (m.T)", TestStatus::Error),
                ("test_d (m.T)", TestStatus::Passed),
                ("test_e", TestStatus::Failed),
            ]
        );
    }

    #[test]
    fn sympy_verbose_lines_and_failure_headers() {
        let log = "test_sinh ok\ntest_sinh_series ok\ntest_cosh F\ntest_tanh E\ntest_xfail f\n\
                   ________________ sympy/functions/tests/test_hyp.py:test_cosh ________________\n";
        let map = LogParser::Sympy.parse(log);
        assert_eq!(
            pairs(&map),
            vec![
                ("sympy/functions/tests/test_hyp.py:test_cosh", TestStatus::Failed),
                ("test_sinh", TestStatus::Passed),
                ("test_sinh_series", TestStatus::Passed),
                ("test_cosh", TestStatus::Failed),
                ("test_tanh", TestStatus::Error),
            ]
        );
    }

    #[test]
    fn pytest_v2_strips_colour_codes_from_tox_output() {
        let log = "\u{1b}[32mPASSED\u{1b}[0m tests/test_domain_py.py::\u{1b}[1mtest_function_signatures\u{1b}[0m\n\
                   tests/test_old.py::test_x PASSED\n";
        let map = LogParser::PytestV2.parse(log);
        assert_eq!(
            pairs(&map),
            vec![
                ("tests/test_domain_py.py::test_function_signatures", TestStatus::Passed),
                ("tests/test_old.py::test_x", TestStatus::Passed),
            ]
        );
    }

    #[test]
    fn pytest_skip_summaries_are_ids_in_4x_but_not_in_5x() {
        let log = "SKIPPED [10] lib/matplotlib/testing/compare.py:285: Don't know how to convert .svg files to png\n\
                   PASSED lib/matplotlib/tests/test_backend_bases.py::test_interactive_zoom[MouseButton.LEFT]\n\
                   FAILED lib/t.py::test_x - AssertionError: a - b\n";
        let v4 = LogParser::Matplotlib.parse(log);
        assert_eq!(
            pairs(&v4),
            vec![
                ("[10]", TestStatus::Skipped),
                (
                    "lib/matplotlib/tests/test_backend_bases.py::test_interactive_zoom[1]",
                    TestStatus::Passed
                ),
                ("lib/t.py::test_x", TestStatus::Failed),
            ]
        );
        let v5 = LogParser::Matplotlib.parse_with(log, ParserRules::V5);
        assert_eq!(v5.len(), 2);
        assert!(!v5.contains_key("[10]"));
    }

    #[test]
    fn pytest_options_shortens_absolute_path_parameters() {
        let log =
            "PASSED tests/test_lint.py::test_x[/tmp/abc/foo.py]\nPASSED t.py::y[//net/a]\nPASSED t.py::z[/a/*.py]\n";
        let map = LogParser::PytestOptions.parse(log);
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "tests/test_lint.py::test_x[/foo.py]",
                "t.py::y[//net/a]",
                "t.py::z[/a/*.py]"
            ]
        );
    }

    #[test]
    fn seaborn_records_only_passes_and_failures() {
        let log = "PASSED tests/_core/test_plot.py::TestInit::test_empty\n\
                   tests/x.py::test_a PASSED [ 50%]\nSKIPPED [1] x\nFAILED tests/x.py::test_b - boom\nFAILED\n";
        let map = LogParser::Seaborn.parse(log);
        assert_eq!(
            pairs(&map),
            vec![
                ("tests/_core/test_plot.py::TestInit::test_empty", TestStatus::Passed),
                ("tests/x.py::test_a", TestStatus::Passed),
                ("tests/x.py::test_b", TestStatus::Failed),
            ]
        );
    }

    #[test]
    fn odd_status_tokens_are_kept_as_other() {
        let map = LogParser::Pytest.parse("PASSEDx t.py::a\nPASSED: t.py::b\n");
        assert_eq!(
            pairs(&map),
            vec![("t.py::a", TestStatus::Other), ("t.py::b", TestStatus::Other)]
        );
    }

    #[test]
    fn parser_selection_by_repo_and_by_name() {
        assert_eq!(LogParser::for_repo("sphinx-doc/sphinx"), Some(LogParser::PytestV2));
        assert_eq!(LogParser::for_repo("psf/requests"), Some(LogParser::PytestOptions));
        assert_eq!(LogParser::from_name("parse_log_astropy"), Some(LogParser::PytestV2));
        assert_eq!(LogParser::from_name("parse_log_django"), Some(LogParser::Django));
        assert_eq!(LogParser::for_repo("unknown/repo"), None);
        assert_eq!(LogParser::from_name("parse_log_jest"), None);
    }
}
