//! The regression gate and JUnit output on real run reports: the official run report and
//! log folders of a real SWE-bench Verified run (`../shared/data/oracle-logs`), and reports
//! derived from it by dropping or adding resolved instances.
//!
//! `compare` runs as the real binary (exit codes are the contract CI relies on); the JUnit
//! XML is parsed back with a real XML parser (roxmltree) and with Python's `xml.etree`.

#![allow(
    clippy::unwrap_used,
    reason = "fixture builders outside #[test] fns: a failure is a test failure"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agentless_harness::report::RunReport;
use agentless_mini::reporting::junit::{InstanceDetail, JunitDetails, render_junit, write_junit};
use agentless_mini::reporting::runs::{EvalRun, read_run_report};

use crate::common::{copy_oracle_logs, oracle_logs as oracle, run_bin};

fn official() -> RunReport {
    read_run_report(&oracle().join("run-report.json")).expect("official run report")
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> Output {
    let mut a: Vec<&std::ffi::OsStr> = vec!["compare".as_ref(), base.as_os_str(), new.as_os_str()];
    a.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    run_bin(&a)
}

/// Move `ids` from resolved to unresolved (or back with `resolve`), keeping the report
/// consistent, as the official writer would have written it.
fn moved(mut r: RunReport, ids: &[String], resolve: bool) -> RunReport {
    let (from, to) = if resolve {
        (&mut r.unresolved_ids, &mut r.resolved_ids)
    } else {
        (&mut r.resolved_ids, &mut r.unresolved_ids)
    };
    from.retain(|x| !ids.contains(x));
    to.extend(ids.iter().cloned());
    to.sort();
    r.resolved_instances = r.resolved_ids.len();
    r.unresolved_instances = r.unresolved_ids.len();
    r
}

fn write(dir: &Path, name: &str, r: &RunReport) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, agentless_harness::report::to_python_json(r)).expect("write report");
    p
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn compare_gate_exit_codes_on_real_run_reports() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = official();
    assert_eq!(base.resolved_instances, 73);
    let dropped: Vec<String> = base.resolved_ids[..3].to_vec();
    let worse = write(tmp.path(), "m.worse.json", &moved(base.clone(), &dropped, false));
    let gained: Vec<String> = base.unresolved_ids[..2].to_vec();
    let better = write(tmp.path(), "m.better.json", &moved(base.clone(), &gained, true));
    let base_path = oracle().join("run-report.json");

    // Same run: passes the default (zero) gate.
    let o = compare(&base_path, &base_path, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("0 newly resolved, 0 newly broken"),
        "{}",
        stdout(&o)
    );

    // Three fewer of 500: -0.6 points. The default gate fails with exit 5, naming them.
    let o = compare(&base_path, &worse, &[]);
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("change -0.60 points: 0 newly resolved, 3 newly broken"),
        "{out}"
    );
    for id in &dropped {
        assert!(out.contains(id.as_str()), "{id} missing from\n{out}");
    }
    assert!(out.contains("gate FAILED"), "{out}");
    // Allowing 0.5 points still fails; 0.6 points (or 0.6%) passes.
    assert_eq!(
        compare(&base_path, &worse, &["--max-drop", "0.5"]).status.code(),
        Some(5)
    );
    assert_eq!(
        compare(&base_path, &worse, &["--max-drop", "0.6"]).status.code(),
        Some(0)
    );
    assert_eq!(
        compare(&base_path, &worse, &["--max-drop", "0.6%"]).status.code(),
        Some(0)
    );

    // Better: passes and lists the newly resolved.
    let o = compare(&base_path, &better, &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("+0.40 points: 2 newly resolved, 0 newly broken"),
        "{}",
        stdout(&o)
    );

    // Mixed: two gained and three lost is still a drop.
    let mixed = write(
        tmp.path(),
        "m.mixed.json",
        &moved(moved(base.clone(), &dropped, false), &gained, true),
    );
    let o = compare(&base_path, &mixed, &["--json"]);
    assert_eq!(o.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert_eq!(v["comparison"]["newly_resolved"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["comparison"]["newly_broken"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["gate"]["passed"], false);
    assert!((v["comparison"]["delta_points"].as_f64().unwrap() + 0.2).abs() < 1e-9);
}

#[test]
fn compare_reads_run_folders_and_refuses_ambiguous_or_bad_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b/evaluation");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let base = official();
    write(&a, "m.a.json", &base);
    write(&b, "m.b.json", &moved(base.clone(), &base.resolved_ids[..1], false));
    // A folder holding one report (also one level down) is accepted.
    let o = compare(&a, &tmp.path().join("b"), &[]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );

    // Two reports in one folder: an error that names both, exit 1.
    write(&a, "m.c.json", &base);
    let o = compare(&a, &b, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("several run reports") && err.contains("m.a.json") && err.contains("m.c.json"),
        "{err}"
    );

    // Not a report / inconsistent counts / missing: clear errors, exit 1.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\"total_instances\": 5").unwrap();
    let o = compare(&bad, &b, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a valid run report"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut lying = base.clone();
    lying.resolved_instances += 1;
    let lying = write(tmp.path(), "lying.json", &lying);
    let o = compare(&lying, &b, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resolved_instances is 74 but resolved_ids lists 73"));
    let o = compare(&tmp.path().join("nope.json"), &b, &[]);
    assert_eq!(o.status.code(), Some(1));
    // A negative --max-drop is a usage error.
    assert_eq!(
        compare(&a.join("m.a.json"), &b, &["--max-drop", "-1"]).status.code(),
        Some(2)
    );
}

/// The official layout of the oracle run: `logs/run_evaluation/<run>/<model>/<id>/` and
/// `<model>.<run>.json`, as `evaluate` writes it.
fn official_layout(root: &Path) -> PathBuf {
    copy_oracle_logs(&root.join("logs/run_evaluation/nightly/vexp"));
    std::fs::copy(oracle().join("run-report.json"), root.join("vexp.nightly.json")).expect("copy report");
    root.join("vexp.nightly.json")
}

#[test]
fn junit_from_the_real_log_folders_parses_back_with_every_case() {
    let tmp = tempfile::tempdir().expect("tmp");
    let report_path = official_layout(tmp.path());
    let run = EvalRun::open(&report_path, &[]).expect("open run");
    assert_eq!(run.run_id.as_deref(), Some("nightly"));
    assert_eq!(run.model.as_deref(), Some("vexp"));
    let logs = run.instance_logs();
    assert_eq!(logs.len(), 71, "every oracle folder is read");
    let mut details = JunitDetails::new("nightly");
    for (id, l) in &logs {
        details.instances.insert(id.clone(), InstanceDetail::from_logs(l));
    }
    let xml_path = tmp.path().join("out/junit.xml");
    write_junit(&xml_path, &run.report, &details).expect("write junit");
    let xml = std::fs::read_to_string(&xml_path).expect("read junit");

    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("testsuite");
    let r = &run.report;
    let expected_cases = r.completed_instances + r.empty_patch_instances + r.error_instances;
    assert_eq!(suite.attribute("tests"), Some(expected_cases.to_string().as_str()));
    assert_eq!(
        suite.attribute("failures"),
        Some((r.unresolved_instances + r.empty_patch_instances).to_string().as_str())
    );
    assert_eq!(suite.attribute("errors"), Some(r.error_instances.to_string().as_str()));
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), expected_cases);
    let names: BTreeSet<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(names.len(), cases.len(), "one case per instance");
    let resolved: BTreeSet<&str> = r.resolved_ids.iter().map(String::as_str).collect();
    for c in &cases {
        let id = c.attribute("name").unwrap();
        let failure = c.children().find(|n| n.has_tag_name("failure"));
        assert_eq!(failure.is_none(), resolved.contains(id), "{id}");
        // The class name is the repository.
        assert_eq!(
            c.attribute("classname"),
            Some(agentless_mini::reporting::repo_of(id).as_str())
        );
    }
    // An unresolved instance with a graded log lists exactly its failing F2P / P2P tests.
    let (id, l) = logs
        .iter()
        .find(|(id, l)| !resolved.contains(id.as_str()) && l.report.as_ref().is_some_and(|r| r.tests_status.is_some()))
        .expect("an unresolved graded oracle instance");
    let ts = l.report.as_ref().unwrap().tests_status.as_ref().unwrap();
    let case = cases.iter().find(|c| c.attribute("name") == Some(id.as_str())).unwrap();
    let failure = case.children().find(|n| n.has_tag_name("failure")).unwrap();
    let body = failure.text().unwrap_or("");
    for t in ts.fail_to_pass.failure.iter().chain(&ts.pass_to_pass.failure) {
        assert!(body.contains(&format!("  - {t}\n")), "{id}: {t} not listed in\n{body}");
    }
    let msg = failure.attribute("message").unwrap();
    assert!(msg.contains(&format!("{}/", ts.fail_to_pass.failure.len())), "{msg}");
    // Test times come from run_instance.log.
    let timed = cases
        .iter()
        .filter(|c| c.attribute("time").is_some_and(|t| t != "0"))
        .count();
    assert!(timed >= 60, "only {timed} cases have a time");
    // The empty-patch instance is a failure of its own type.
    for id in &r.empty_patch_ids {
        let c = cases.iter().find(|c| c.attribute("name") == Some(id.as_str())).unwrap();
        assert_eq!(
            c.children()
                .find(|n| n.has_tag_name("failure"))
                .and_then(|f| f.attribute("type")),
            Some("empty_patch")
        );
    }

    // Python's own parser agrees on the counts.
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as ET\n\
             root = ET.parse(sys.argv[1]).getroot()\n\
             s = root.find('testsuite')\n\
             cases = s.findall('testcase')\n\
             print(len(cases), sum(1 for c in cases if c.find('failure') is not None), sum(1 for c in cases if c.find('error') is not None))",
        )
        .arg(&xml_path)
        .output()
        .expect("python3 is needed for this test");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        format!(
            "{expected_cases} {} {}",
            r.unresolved_instances + r.empty_patch_instances,
            r.error_instances
        )
    );
}

#[test]
fn junit_errors_and_hostile_text_stay_well_formed() {
    let report = RunReport {
        total_instances: 3,
        submitted_instances: 2,
        error_instances: 1,
        unresolved_instances: 1,
        completed_instances: 1,
        error_ids: vec!["a__b-1".into()],
        unresolved_ids: vec!["a__b-2".into()],
        completed_ids: vec!["a__b-2".into()],
        submitted_ids: vec!["a__b-1".into(), "a__b-2".into()],
        schema_version: 2,
        ..Default::default()
    };
    let mut details = JunitDetails::new("run <&> \"x\"");
    details.instances.insert(
        "a__b-1".into(),
        InstanceDetail {
            error: Some("tests timed out after 5 s\n\u{1b}[31m<boom> & ]]> \u{0}".into()),
            ..Default::default()
        },
    );
    let mut ir: agentless_harness::report::InstanceReport = serde_json::from_value(serde_json::json!({
        "patch_is_None": false, "patch_exists": true, "patch_successfully_applied": true, "resolved": false,
        "tests_status": {
            "FAIL_TO_PASS": {"success": [], "failure": ["test_x[a<b>&\"c\"]"]},
            "PASS_TO_PASS": {"success": ["ok"], "failure": []},
            "FAIL_TO_FAIL": {"success": [], "failure": []},
            "PASS_TO_FAIL": {"success": [], "failure": []}
        }
    }))
    .unwrap();
    ir.resolved = false;
    details.instances.insert(
        "a__b-2".into(),
        InstanceDetail {
            report: Some(ir),
            ..Default::default()
        },
    );
    let xml = render_junit(&report, &details);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("name"), Some("run <&> \"x\""));
    let err = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(err.attribute("message"), Some("tests timed out after 5 s"));
    assert!(err.text().unwrap().contains("<boom> & ]]>"));
    let fail = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
    assert!(fail.text().unwrap().contains("  - test_x[a<b>&\"c\"]\n"));
    assert_eq!(
        fail.attribute("message"),
        Some("1/1 FAIL_TO_PASS tests fail, 0/1 PASS_TO_PASS tests fail")
    );
}
