//! The pytest family: `parse_log_pytest` (and matplotlib's variant), `_options`, `_v2`,
//! and seaborn's.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::{ParserRules, StatusMap, TestStatus, is_skip_summary, py_split};

/// `parse_log_pytest`: lines starting with a status word, `FAILED a - msg` read as `FAILED a msg`;
/// the second token is the id. `rewrite` is applied to each line first (matplotlib's
/// `MouseButton` substitution).
pub(super) fn parse_pytest(log: &str, rules: ParserRules, rewrite: impl Fn(&str) -> Cow<'_, str>) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let line = rewrite(raw);
        if let Some((status, id)) = prefix_status_and_id(&line, rules) {
            map.insert(id, status);
        }
    }
    map
}

/// A line starting with a status word: (status token as written, second token).
///
/// The status is the *first token* of the line, as officially (`test_case[0]`); for a line like
/// `PASSEDfoo bar` that is not a status word, and the id is stored as [`TestStatus::Other`],
/// which grades as neither passed nor failed, like the odd string the Python code stores.
fn prefix_status_and_id(line: &str, rules: ParserRules) -> Option<(TestStatus, String)> {
    TestStatus::prefix_of(line)?;
    let line: Cow<'_, str> = if line.starts_with("FAILED") {
        Cow::Owned(line.replace(" - ", " "))
    } else {
        Cow::Borrowed(line)
    };
    let mut toks = py_split(&line);
    let first = toks.next()?;
    let second = toks.next()?;
    if rules == ParserRules::V5 && is_skip_summary(first, second) {
        return None;
    }
    let status = TestStatus::from_token(first).unwrap_or(TestStatus::Other);
    Some((status, second.to_owned()))
}

static OPTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(.*?)\[(.*)\]").expect("static regex"));

/// `parse_log_pytest_options`: as pytest, then a parameter that is an absolute path is
/// reduced to its last component (`test_x[/tmp/a/b.py]` → `test_x[/b.py]`).
pub(super) fn parse_pytest_options(log: &str, rules: ParserRules) -> StatusMap {
    let mut map = StatusMap::new();
    for line in log.split('\n') {
        let Some((status, id)) = prefix_status_and_id(line, rules) else {
            continue;
        };
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
pub(super) fn parse_pytest_v2(log: &str, rules: ParserRules) -> StatusMap {
    let mut map = StatusMap::new();
    for raw in log.split('\n') {
        let no_codes = ANSI_CODE.replace_all(raw, "");
        let line: String = no_codes
            .chars()
            .filter(|&c| !('\u{1}'..='\u{1f}').contains(&c))
            .collect();
        if rules == ParserRules::V5 {
            v5_pytest_v2_line(&line, &mut map);
        } else if TestStatus::prefix_of(&line).is_some() {
            if let Some((status, id)) = prefix_status_and_id(&line, rules) {
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

/// 5.x `parse_log_pytest_v2` for one cleaned line: ids keep their spaces.
fn v5_pytest_v2_line(line: &str, map: &mut StatusMap) {
    if TestStatus::prefix_of(line).is_some() {
        let line = if line.starts_with("FAILED") {
            line.split(" - ").next().unwrap_or(line)
        } else {
            line
        };
        let toks: Vec<&str> = py_split(line).collect();
        if toks.len() >= 2 && !is_skip_summary(toks[0], toks[1]) {
            map.insert(
                toks[1..].join(" "),
                TestStatus::from_token(toks[0]).unwrap_or(TestStatus::Other),
            );
        }
    } else if TestStatus::suffix_of(line).is_some() {
        let toks: Vec<&str> = py_split(line).collect();
        if let Some((last, rest)) = toks.split_last() {
            if !rest.is_empty() {
                map.insert(
                    rest.join(" "),
                    TestStatus::from_token(last).unwrap_or(TestStatus::Other),
                );
            }
        }
    }
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
