//! `parse_log_django`: Django's test runner at `--verbosity 2`.

use std::sync::LazyLock;

use regex::Regex;

use super::{StatusMap, TestStatus, py_split, py_strip};

static MULTILINE_PASSES: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        // `\s` widened to Python's notion of whitespace (which includes \x1c-\x1f).
        Regex::new(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]Testing\ against\ Django\ installed\ in\ ((?s:.*?))\ silenced\)\.\nok$"),
        Regex::new(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]Internal\ Server\ Error:\ \/(.*)\/\nok$"),
        Regex::new(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]System check identified no issues \(0 silenced\)\nok$"),
    ]
    .map(|r| r.expect("static regex"))
});

/// Text before the first occurrence of `pat` (Python's `s.split(pat)[0]`).
fn before_first<'a>(s: &'a str, pat: &str) -> &'a str {
    s.find(pat).map_or(s, |i| &s[..i])
}

pub(super) fn parse_django(log: &str) -> StatusMap {
    let mut map = StatusMap::new();
    let mut prev_test: Option<String> = None;
    for raw in log.split('\n') {
        let mut line = py_strip(raw);
        if line.contains("--version is equivalent to version") {
            map.insert("--version is equivalent to version".to_owned(), TestStatus::Passed);
        }
        if line.contains(" ... ") {
            prev_test = Some(before_first(line, " ... ").to_owned());
        }
        for suffix in [" ... ok", " ... OK", " ...  OK"] {
            if line.ends_with(suffix) {
                if line.starts_with("Applying sites.0002_alter_domain_unique...test_no_migrations") {
                    line = py_strip(line.split_once("...").map_or(line, |(_, rest)| rest));
                }
                // rsplit(suffix, 1)[0]: text before the last occurrence.
                let test = line.rfind(suffix).map_or(line, |i| &line[..i]);
                map.insert(test.to_owned(), TestStatus::Passed);
                break;
            }
        }
        if line.contains(" ... skipped") {
            map.insert(before_first(line, " ... skipped").to_owned(), TestStatus::Skipped);
        }
        if line.ends_with(" ... FAIL") {
            map.insert(before_first(line, " ... FAIL").to_owned(), TestStatus::Failed);
        }
        if line.starts_with("FAIL:") {
            if let Some(t) = py_split(line).nth(1) {
                map.insert(t.to_owned(), TestStatus::Failed);
            }
        }
        if line.ends_with(" ... ERROR") {
            map.insert(before_first(line, " ... ERROR").to_owned(), TestStatus::Error);
        }
        if line.starts_with("ERROR:") {
            if let Some(t) = py_split(line).nth(1) {
                map.insert(t.to_owned(), TestStatus::Error);
            }
        }
        if line.trim_start_matches(super::py_space).starts_with("ok") {
            if let Some(prev) = &prev_test {
                map.insert(prev.clone(), TestStatus::Passed);
            }
        }
    }
    for re in MULTILINE_PASSES.iter() {
        for caps in re.captures_iter(log) {
            if let Some(m) = caps.get(1) {
                map.insert(m.as_str().to_owned(), TestStatus::Passed);
            }
        }
    }
    map
}
