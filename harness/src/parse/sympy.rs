//! `parse_log_sympy`: sympy's `bin/test --verbose` output (`test_name ok|F|E`).

use std::sync::LazyLock;

use regex::Regex;

use super::{StatusMap, TestStatus, py_split, py_strip};

static FAILURE_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(_*) (.*)\.py:(.*) (_*)").expect("static regex"));

pub(super) fn parse_sympy(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    for caps in FAILURE_HEADER.captures_iter(log) {
        let path = caps.get(2).map_or("", |m| m.as_str());
        let name = caps.get(3).map_or("", |m| m.as_str());
        map.insert(format!("{path}.py:{name}"), TestStatus::Failed);
    }
    for raw in log.split('\n') {
        let line = py_strip(raw);
        if !line.starts_with("test_") {
            continue;
        }
        let Some(first) = py_split(line).next() else { continue };
        if line.ends_with(" E") {
            map.insert(first.to_owned(), TestStatus::Error);
        }
        if line.ends_with(" F") {
            map.insert(first.to_owned(), TestStatus::Failed);
        }
        if line.ends_with(" ok") {
            map.insert(first.to_owned(), TestStatus::Passed);
        }
    }
    map
}
