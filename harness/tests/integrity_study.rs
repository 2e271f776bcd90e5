//! Integrity checks on the 71 real official-harness logs in `../shared/data/oracle-logs`
//! (every runner family: pytest, tox, Django, SymPy), no Docker:
//!
//! - the line attribution of the official parsers folds back to the parsers' own maps;
//! - the instrumented eval script's extra lines (exit code, file states) leave every official
//!   4.x `report.json` byte-identical, and the 5.x verdict identical when the exit code is 0;
//! - the false-positive study: how many oracle logs are flagged, and why (printed; the
//!   numbers are pinned so a change in the checks shows up here and in the README);
//! - the log-edit exploits (summary rewritten, passes appended after the runner, a second end
//!   marker) turn real unresolved logs into RESOLVED ones under the official grading, and
//!   every one of them is flagged.
//!
//! Run with `--nocapture` to see the tables (`scripts/integrity-study.sh` does).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::grade::{END_TEST_OUTPUT, GradingMode, START_TEST_OUTPUT, parser_for, universal_newlines};
use agentless_harness::integrity::record::{encode_path, tracked_files};
use agentless_harness::integrity::run::assess_log_folder;
use agentless_harness::integrity::runner::official_lines;
use agentless_harness::integrity::{Inputs, IntegrityReport, Severity, assess};
use agentless_harness::parse::{LogParser, ParserRules};
use agentless_harness::report::{grade_instance, instance_report_json};

use common::{oracle_logs as oracle, verified_parquet};

fn verified() -> BTreeMap<String, Instance> {
    load_dataset(&verified_parquet())
        .expect("the Verified parquet in ../shared")
        .into_iter()
        .map(|i| (i.instance_id.clone(), i))
        .collect()
}

/// (instance, its oracle folder, the log text) for every oracle instance.
fn oracle_logs() -> Vec<(Instance, PathBuf, String)> {
    let dataset = verified();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(oracle())
        .expect("oracle logs in ../shared")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let out: Vec<(Instance, PathBuf, String)> = dirs
        .into_iter()
        .map(|d| {
            let id = d.file_name().expect("folder name").to_string_lossy().into_owned();
            let inst = dataset
                .get(&id)
                .unwrap_or_else(|| panic!("{id} not in Verified"))
                .clone();
            let log = String::from_utf8_lossy(&std::fs::read(d.join("test_output.txt")).expect("log")).into_owned();
            (inst, d, log)
        })
        .collect();
    assert_eq!(out.len(), 71);
    out
}

fn family(p: LogParser) -> &'static str {
    match p {
        LogParser::Django => "django",
        LogParser::Sympy => "sympy",
        _ => "pytest",
    }
}

#[test]
fn official_line_attribution_folds_to_the_official_maps() {
    for (inst, _, log) in oracle_logs() {
        let parser = parser_for(&inst).expect("parser");
        let text = universal_newlines(&log);
        let lines: Vec<&str> = text.split('\n').collect();
        for rules in [ParserRules::V4, ParserRules::V5] {
            let mut folded = BTreeMap::new();
            for e in official_lines(parser, rules, &lines) {
                folded.insert(e.id, e.status);
            }
            let official: BTreeMap<_, _> = parser.parse_with(&text, rules).into_iter().collect();
            assert_eq!(folded, official, "{} ({rules:?})", inst.instance_id);
        }
    }
}

/// The log as the instrumented script would have printed it around the same test output:
/// file states before the start marker, the 5.x exit-code lines, file states after.
fn instrumented(inst: &Instance, patch: &str, log: &str, exit: i64) -> String {
    let tracked = tracked_files(&inst.test_patch, patch);
    let mut out = Vec::new();
    let mut seen_start = false;
    let mut seen_end = false;
    for line in log.split_inclusive('\n') {
        if !seen_start && line.contains(START_TEST_OUTPUT) {
            seen_start = true;
            for p in &tracked {
                out.push(format!(
                    ">>>>> Tracked File Before: {} {}\n",
                    "0".repeat(64),
                    encode_path(p)
                ));
            }
        }
        if seen_start && !seen_end && line.contains(END_TEST_OUTPUT) {
            seen_end = true;
            out.push(format!("+ SWEBENCH_TEST_EXIT_CODE={exit}\n"));
            out.push(line.to_owned());
            out.push(format!(
                "+ echo '>>>>> Test Exit Code: {exit}'\n>>>>> Test Exit Code: {exit}\n"
            ));
            for p in &tracked {
                out.push(format!(
                    ">>>>> Tracked File After: {} {}\n",
                    "0".repeat(64),
                    encode_path(p)
                ));
            }
            continue;
        }
        out.push(line.to_owned());
    }
    out.concat()
}

#[test]
fn the_instrumented_lines_leave_every_official_report_unchanged() {
    let mut n = 0;
    for (inst, dir, log) in oracle_logs() {
        let parser = parser_for(&inst).expect("parser");
        let patch = std::fs::read_to_string(dir.join("patch.diff")).unwrap_or_default();
        let official = std::fs::read_to_string(dir.join("report.json")).expect("official report");
        let has_patch = !patch.trim().is_empty();
        for exit in [0, 1, 2] {
            let log2 = instrumented(&inst, &patch, &log, exit);
            assert_ne!(log2, log);
            let v4 = grade_instance(&inst, parser, &log2, has_patch, GradingMode::V4);
            assert_eq!(
                instance_report_json(&inst.instance_id, &v4.report()),
                official,
                "{} (exit {exit})",
                inst.instance_id
            );
        }
        let v5_before = grade_instance(&inst, parser, &log, has_patch, GradingMode::V5);
        let v5_after = grade_instance(
            &inst,
            parser,
            &instrumented(&inst, &patch, &log, 0),
            has_patch,
            GradingMode::V5,
        );
        assert_eq!(v5_before.report(), v5_after.report(), "{}", inst.instance_id);
        n += 1;
    }
    assert_eq!(n, 71);
}

fn describe(r: &IntegrityReport, severity: Severity) -> String {
    let mut kinds: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.kind.to_string())
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.join(",")
}

#[test]
fn false_positive_study_over_the_oracle_logs() {
    let mut flagged = Vec::new();
    let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
    println!("\nintegrity over the 71 oracle logs (official harness 4.x runs of one model)");
    println!(
        "{:<34} {:<7} {:<5} {:<40} {:<30} {}",
        "instance", "family", "flag", "high", "medium", "low"
    );
    for (inst, dir, _) in oracle_logs() {
        let r = assess_log_folder(&inst, &dir).expect("assess");
        let parser = parser_for(&inst).expect("parser");
        println!(
            "{:<34} {:<7} {:<5} {:<40} {:<30} {}",
            inst.instance_id,
            family(parser),
            if r.flagged { "YES" } else { "-" },
            describe(&r, Severity::High),
            describe(&r, Severity::Medium),
            describe(&r, Severity::Low)
        );
        *by_severity
            .entry(match r.highest_severity {
                Some(Severity::High) => "high",
                Some(Severity::Medium) => "medium",
                Some(Severity::Low) => "low",
                None => "none",
            })
            .or_default() += 1;
        if r.flagged {
            flagged.push(inst.instance_id.clone());
        }
        // What ran: every log check (no exit code or file records in official logs).
        let ran: Vec<_> = r.checks.iter().filter(|c| c.ran).map(|c| c.check).collect();
        assert!(ran.len() >= 8, "{}: {:?}", inst.instance_id, r.checks);
    }
    println!("by highest severity: {by_severity:?}");
    println!("flagged: {} of 71: {flagged:?}", flagged.len());
    assert_eq!(
        flagged, EXPECTED_ORACLE_FLAGGED,
        "the oracle false-positive figures changed: update the README"
    );
}

/// The oracle instances the checks flag (see README, "Integrity findings").
const EXPECTED_ORACLE_FLAGGED: &[&str] = &[];

/// A pass line in the runner's own format.
fn pass_line(parser: LogParser, id: &str) -> String {
    match parser {
        LogParser::Django => format!("{id} ... ok"),
        LogParser::Sympy => format!("{id} ok"),
        _ => format!("PASSED {id}"),
    }
}

/// Rewrite failing result lines as passing ones, in place.
fn rewrite_failures(parser: LogParser, log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    for line in log.split_inclusive('\n') {
        let (body, nl) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let rewritten = match parser {
            LogParser::Django => body
                .strip_suffix(" ... FAIL")
                .or_else(|| body.strip_suffix(" ... ERROR"))
                .map(|id| format!("{id} ... ok")),
            LogParser::Sympy => {
                let t = body.trim_end();
                if t.starts_with("test_") && (t.ends_with(" F") || t.ends_with(" E")) {
                    Some(format!("{} ok", &t[..t.len() - 2]))
                } else {
                    None
                }
            }
            _ => body
                .strip_prefix("FAILED ")
                .or_else(|| body.strip_prefix("ERROR "))
                .map(|rest| format!("PASSED {}", rest.split(" - ").next().unwrap_or(rest))),
        };
        out.push_str(rewritten.as_deref().unwrap_or(body));
        out.push_str(nl);
    }
    out
}

/// Pass lines for every required test, inserted after the last line of the test output
/// (just before the end marker).
fn append_passes(parser: LogParser, inst: &Instance, log: &str) -> String {
    let forged: String = inst
        .fail_to_pass
        .iter()
        .chain(&inst.pass_to_pass)
        .map(|id| pass_line(parser, id) + "\n")
        .collect();
    let at = log.find(&format!("+ : '{END_TEST_OUTPUT}'")).expect("end marker");
    format!("{}{forged}{}", &log[..at], &log[at..])
}

/// Pass lines for every required test and a second end marker, right after the start marker.
fn second_end_marker(parser: LogParser, inst: &Instance, log: &str) -> String {
    let start = log.find(START_TEST_OUTPUT).expect("start");
    let after = start + log[start..].find('\n').expect("newline") + 1;
    let forged: String = inst
        .fail_to_pass
        .iter()
        .chain(&inst.pass_to_pass)
        .map(|id| pass_line(parser, id) + "\n")
        .collect();
    format!("{}{forged}+ : '{END_TEST_OUTPUT}'\n{}", &log[..after], &log[after..])
}

#[test]
fn log_edits_that_fool_the_official_grading_are_flagged() {
    let unresolved: Vec<(Instance, PathBuf, String)> = oracle_logs()
        .into_iter()
        .filter(|(inst, dir, log)| {
            let patch = std::fs::read_to_string(dir.join("patch.diff")).unwrap_or_default();
            let parser = parser_for(inst).expect("parser");
            !grade_instance(inst, parser, log, !patch.trim().is_empty(), GradingMode::V4).resolved()
        })
        .collect();
    assert!(unresolved.len() >= 10, "{} unresolved oracle logs", unresolved.len());
    let mut flips: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    println!("\nlog edits on the {} unresolved oracle logs:", unresolved.len());
    for (inst, dir, log) in &unresolved {
        let parser = parser_for(inst).expect("parser");
        let patch = std::fs::read_to_string(dir.join("patch.diff")).unwrap_or_default();
        type Edit = fn(LogParser, &Instance, &str) -> String;
        let edits: [(&str, Edit); 3] = [
            ("rewrite-failures", |p, _, l| rewrite_failures(p, l)),
            ("append-passes", append_passes),
            ("second-end-marker", second_end_marker),
        ];
        for (name, edit) in edits {
            let edited = edit(parser, inst, log);
            let verdict = grade_instance(inst, parser, &edited, true, GradingMode::V4);
            if !verdict.resolved() {
                continue; // this edit does not fool the grader on this log
            }
            let r = assess(&Inputs {
                instance: inst,
                model_patch: Some(&patch),
                log: Some(&edited),
                parser: Some(parser),
                harness: None,
            });
            println!(
                "  {:<34} {:<18} official: RESOLVED  integrity: {} ({})",
                inst.instance_id,
                name,
                if r.flagged { "flagged" } else { "NOT FLAGGED" },
                describe(&r, Severity::High)
            );
            assert!(
                r.flagged,
                "{} / {name} fools the grader unflagged: {:#?}",
                inst.instance_id, r.findings
            );
            *flips.entry((family(parser), name)).or_default() += 1;
        }
    }
    println!("edits that fooled the official grading, by family: {flips:?}");
    // Every edit fools the grader on logs of every runner family (so this test checks something).
    for fam in ["pytest", "django", "sympy"] {
        for name in ["rewrite-failures", "append-passes", "second-end-marker"] {
            assert!(
                flips.get(&(fam, name)).copied().unwrap_or(0) > 0,
                "no {fam} log fooled by {name}"
            );
        }
    }
}

#[test]
fn false_positive_study_over_the_verified_gold_patches() {
    let dataset = verified();
    assert_eq!(dataset.len(), 500);
    let mut flagged = Vec::new();
    let mut kinds: BTreeMap<(String, Severity), usize> = BTreeMap::new();
    let mut with_findings = 0usize;
    println!("\nstatic integrity checks over the 500 gold patches of SWE-bench Verified");
    for inst in dataset.values() {
        let r = assess(&Inputs {
            instance: inst,
            model_patch: Some(&inst.patch),
            log: None,
            parser: parser_for(inst),
            harness: None,
        });
        if r.findings.is_empty() {
            continue;
        }
        with_findings += 1;
        for f in &r.findings {
            *kinds.entry((f.kind.to_string(), f.severity)).or_default() += 1;
        }
        println!(
            "  {:<40} {:<5} high: {:<30} medium: {:<25} low: {}",
            inst.instance_id,
            if r.flagged { "YES" } else { "-" },
            describe(&r, Severity::High),
            describe(&r, Severity::Medium),
            describe(&r, Severity::Low)
        );
        if r.flagged {
            flagged.push(inst.instance_id.clone());
        }
    }
    println!(
        "gold patches with any finding: {with_findings} of 500; flagged: {}",
        flagged.len()
    );
    for ((kind, severity), n) in &kinds {
        println!("  {kind} ({severity:?}): {n}");
    }
    assert_eq!(
        flagged, EXPECTED_GOLD_FLAGGED,
        "the gold false-positive figures changed: update the README"
    );
    assert_eq!(with_findings, EXPECTED_GOLD_WITH_FINDINGS, "update the README");
}

/// Gold patches of Verified the static checks flag (see README, "Integrity findings").
const EXPECTED_GOLD_FLAGGED: &[&str] = &[];
/// Gold patches with any finding at all (low or medium included).
const EXPECTED_GOLD_WITH_FINDINGS: usize = 20;

#[test]
fn the_exploit_corpus_is_what_build_py_gives() {
    let script = common::workspace().join("datasets/exploits/build.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg("--check")
        .output()
        .expect("python3 (the corpus generator needs it, and git)");
    assert!(
        out.status.success(),
        "datasets/exploits/corpus.jsonl is out of date or the generator failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
