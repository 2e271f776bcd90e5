//! The pytest family: `parse_log_pytest` (and matplotlib's variant), `_options`, `_v2`,
//! and seaborn's.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::{StatusMap, TestStatus, py_split};

/// `parse_log_pytest`: lines starting with a status word, `FAILED a - msg` read as `FAILED a msg`;
/// the second token is the id. `rewrite` is applied to each line first (matplotlib's
/// `MouseButton` substitution).
pub(super) fn parse_pytest(log: &str, rewrite: impl Fn(&str) -> Cow<'_, str>) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let line = rewrite(raw);
        if let Some((status, id)) = prefix_status_and_id(&line) {
            map.insert(id, status);
        }
    }
    map
}

/// A line starting with a status word: (status token as written, second token).
///
/// The status is the *first token* of the line, as officially (`test_case[0]`), which for a
/// line like `PASSEDfoo bar` is not a valid status; such lines are kept out of the map since no
/// dataset id can match their grading (the Python code stores the odd status string, which then
/// counts as neither pass nor fail, exactly like an absent key would not: see `Other`).
fn prefix_status_and_id(line: &str) -> Option<(TestStatus, String)> {
    TestStatus::prefix_of(line)?;
    let line: Cow<'_, str> =
        if line.starts_with("FAILED") { Cow::Owned(line.replace(" - ", " ")) } else { Cow::Borrowed(line) };
    let mut toks = py_split(&line);
    let first = toks.next()?;
    let second = toks.next()?;
    let status = TestStatus::from_token(first).unwrap_or(TestStatus::Other);
    Some((status, second.to_owned()))
}

static OPTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(.*?)\[(.*)\]").expect("static regex"));

/// `parse_log_pytest_options`: as pytest, then a parameter that is an absolute path is
/// reduced to its last component (`test_x[/tmp/a/b.py]` → `test_x[/b.py]`).
pub(super) fn parse_pytest_options(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.split('\n') {
        let Some((status, id)) = prefix_status_and_id(line) else { continue };
        let name = match OPTION.captures(&id) {
            Some(c) => {
                let main = c.get(1).map_or("", |m| m.as_str());
                let mut option = c.get(2).map_or("", |m| m.as_str()).to_owned();
                if option.starts_with('/') && !option.starts_with("//") && !option.contains('*') {
                    option = format!("/{}", option.rsplit('/').next().unwrap_or(""));
                }
                format!("{main}[{option}]")
            }
            None => id,
        };
        map.insert(name, status);
    }
    map
}

static ANSI_CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[(\d+)m").expect("static regex"));

/// `parse_log_pytest_v2`: strip `[<digits>m` colour codes and every character 1..=31, then the
/// prefix rule; else a line *ending* in a status word gives `map[tok0] = tok1`.
pub(super) fn parse_pytest_v2(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let no_codes = ANSI_CODE.replace_all(raw, "");
        let line: String = no_codes.chars().filter(|&c| !('\u{1}'..='\u{1f}').contains(&c)).collect();
        if TestStatus::prefix_of(&line).is_some() {
            if let Some((status, id)) = prefix_status_and_id(&line) {
                map.insert(id, status);
            }
        } else if TestStatus::suffix_of(&line).is_some() {
            let mut toks = py_split(&line);
            if let (Some(id), Some(st)) = (toks.next(), toks.next()) {
                map.insert(id.to_owned(), TestStatus::from_token(st).unwrap_or(TestStatus::Other));
            }
        }
    }
    map
}

/// `parse_log_seaborn`: `FAILED id`, `id PASSED ...`, or `PASSED id`; nothing else is recorded.
pub(super) fn parse_seaborn(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.split('\n') {
        if line.starts_with("FAILED") {
            if let Some(id) = py_split(line).nth(1) {
                map.insert(id.to_owned(), TestStatus::Failed);
            }
        } else if line.contains(" PASSED ") {
            let mut parts = py_split(line);
            if let (Some(id), Some(second)) = (parts.next(), parts.next()) {
                if second == "PASSED" {
                    map.insert(id.to_owned(), TestStatus::Passed);
                }
            }
        } else if line.starts_with("PASSED") {
            if let Some(id) = py_split(line).nth(1) {
                map.insert(id.to_owned(), TestStatus::Passed);
            }
        }
    }
    map
}
