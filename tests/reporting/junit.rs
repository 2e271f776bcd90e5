//! `report --junit` on a real evaluation (`../shared/data/oracle-logs`: the official run
//! report and log folders of 100 SWE-bench Verified instances), with two instances turned
//! into harness errors: one whose patch did not apply (a model failure) and one that timed
//! out (a harness error). The XML is validated with `xmllint` against junit-10.xsd, the JUnit
//! schema pytest ships, fetched by `scripts/setup.sh --tests` into `target/junit-schema/`.
//! A missing schema or `xmllint` fails the test. A second run of the same logs carries
//! integrity findings (`integrity.json` beside two verdicts), official and strict.

#![allow(clippy::unwrap_used, reason = "test helpers")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{bin, copy_oracle_logs, oracle_logs as oracle, root};

fn schema() -> PathBuf {
    let p = root().join("target/junit-schema/junit-10.xsd");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh --tests (it fetches the JUnit schema)",
        p.display()
    );
    p
}

const MODEL: &str = "vexp-swebench-1774184993333";
const RUN_ID: &str = "nightly";
const NOT_APPLIED: &str = "astropy__astropy-14598";
const TIMED_OUT: &str = "pytest-dev__pytest-10051";

fn build(root: &Path) -> PathBuf {
    let run = root.join("eval");
    let model_dir = run.join("logs/run_evaluation").join(RUN_ID).join(MODEL);
    copy_oracle_logs(&model_dir);
    let mut r: Value =
        serde_json::from_str(&std::fs::read_to_string(oracle().join("run-report.json")).unwrap()).unwrap();
    for id in [NOT_APPLIED, TIMED_OUT] {
        let list = r["unresolved_ids"].as_array_mut().unwrap();
        let i = list.iter().position(|v| v == id).unwrap();
        list.remove(i);
        let list = r["completed_ids"].as_array_mut().unwrap();
        let i = list.iter().position(|v| v == id).unwrap();
        list.remove(i);
        r["error_ids"].as_array_mut().unwrap().push(Value::from(id));
        std::fs::remove_file(model_dir.join(id).join("report.json")).unwrap();
    }
    for (k, list) in [
        ("unresolved_instances", "unresolved_ids"),
        ("completed_instances", "completed_ids"),
        ("error_instances", "error_ids"),
    ] {
        r[k] = Value::from(r[list].as_array().unwrap().len());
    }
    // What the harness writes when `git apply` and `patch` both refuse the patch.
    let log = model_dir.join(NOT_APPLIED).join("run_instance.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("2026-12-04 10:00:00,000 - ERROR - Patch Apply Failed:\n>>>>> Patch Apply Failed\n");
    std::fs::write(&log, text).unwrap();
    let out = model_dir.join(TIMED_OUT).join("test_output.txt");
    let mut text = std::fs::read_to_string(&out).unwrap();
    text.push_str("\nTimeout error: 1800 seconds exceeded.\n");
    std::fs::write(&out, text).unwrap();
    std::fs::write(
        run.join(format!("{MODEL}.{RUN_ID}.json")),
        serde_json::to_string_pretty(&r).unwrap(),
    )
    .unwrap();
    run
}

#[test]
fn junit_of_a_real_evaluation_validates_against_the_junit_schema() {
    let xsd = schema();
    let tmp = tempfile::tempdir().unwrap();
    let run = build(tmp.path());
    let junit = tmp.path().join("junit.xml");
    let o = bin()
        .args(["report", "--run-dir"])
        .arg(&run)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let xml = std::fs::read_to_string(&junit).unwrap();

    let v = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&junit)
        .output()
        .expect("xmllint must be installed (scripts/setup.sh --tests: libxml2-utils)");
    assert!(
        v.status.success(),
        "junit-10.xsd rejects the XML: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(String::from_utf8_lossy(&v.stderr).contains("validates"));

    assert!(!xml.contains("time=\"-"), "negative time");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    let ts = suite.attribute("timestamp").expect("timestamp");
    assert!(
        ts.len() == 19 && ts.as_bytes()[10] == b'T' && ts[..4].parse::<u32>().unwrap() >= 2024,
        "timestamp {ts}"
    );
    // 99 evaluated + 1 empty patch; 73 resolved; the unappliable patch is a failure.
    assert_eq!(suite.attribute("tests"), Some("100"));
    assert_eq!(suite.attribute("errors"), Some("1"));
    assert_eq!(suite.attribute("failures"), Some((100 - 73 - 1).to_string().as_str()));
    let case = |id: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(id))
            .unwrap_or_else(|| panic!("no case {id}"))
    };
    let c = case(NOT_APPLIED);
    let f = c.children().find(|n| n.has_tag_name("failure")).expect("a failure");
    assert_eq!(f.attribute("type"), Some("patch_not_applied"));
    assert!(c.children().all(|n| !n.has_tag_name("error")));
    let c = case(TIMED_OUT);
    let e = c.children().find(|n| n.has_tag_name("error")).expect("an error");
    assert!(
        e.attribute("message").unwrap().contains("timed out"),
        "{:?}",
        e.attribute("message")
    );
    // Every case with a log folder names its files in <system-out>, passed ones included.
    let resolved = case("django__django-11133");
    assert!(resolved.children().all(|n| !n.has_tag_name("failure")));
    let out = resolved
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .expect("system-out")
        .text()
        .unwrap();
    for f in ["report.json", "test_output.txt", "run_instance.log"] {
        let line = out
            .lines()
            .find(|l| l.ends_with(&format!("django__django-11133/{f}")))
            .unwrap_or_else(|| panic!("{f} not named in {out}"));
        assert!(Path::new(line).is_file(), "{line} does not exist");
    }
    let with_logs = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.children().any(|c| c.has_tag_name("system-out")))
        .count();
    assert_eq!(with_logs, 71, "the 71 instances with a log folder");
}

fn validate(xsd: &Path, xml: &Path) {
    let v = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(xml)
        .output()
        .expect("xmllint must be installed (scripts/setup.sh --tests: libxml2-utils)");
    assert!(
        v.status.success(),
        "junit-10.xsd rejects {}: {}\n{}",
        xml.display(),
        String::from_utf8_lossy(&v.stderr),
        std::fs::read_to_string(xml).unwrap_or_default()
    );
}

#[test]
fn junit_with_integrity_findings_validates_against_the_junit_schema() {
    use agentless_harness::integrity::{Evidence, Finding, FindingKind, IntegrityReport, Severity};
    let xsd = schema();
    let tmp = tempfile::tempdir().unwrap();
    let run = build(tmp.path());
    let model_dir = run.join("logs/run_evaluation").join(RUN_ID).join(MODEL);
    // A resolved and an unresolved instance, flagged: status lines outside the runner, at a
    // real line of their real test output.
    const RESOLVED: &str = "django__django-11133";
    let unresolved: String = {
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(oracle().join("run-report.json")).unwrap()).unwrap();
        r["unresolved_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .find(|id| id != NOT_APPLIED && id != TIMED_OUT && model_dir.join(id).join("report.json").is_file())
            .unwrap()
    };
    for id in [RESOLVED, unresolved.as_str()] {
        let out = std::fs::read_to_string(model_dir.join(id).join("test_output.txt")).unwrap();
        let (line, text) = out.lines().enumerate().last().unwrap();
        let finding = Finding::new(
            FindingKind::StatusOutsideRunner,
            Severity::High,
            "status lines after the runner's summary",
            vec![Evidence::at("test_output.txt", line, text)],
        );
        let report = IntegrityReport::new(id, vec![finding], vec![]);
        std::fs::write(
            model_dir.join(id).join("integrity.json"),
            serde_json::to_string_pretty(&report).unwrap(),
        )
        .unwrap();
    }
    // Official, then strict (a hardened report beside the official one makes `report` strict).
    for strict in [false, true] {
        if strict {
            std::fs::copy(
                run.join(format!("{MODEL}.{RUN_ID}.json")),
                run.join(format!("{MODEL}.{RUN_ID}.hardened.json")),
            )
            .unwrap();
        }
        let junit = tmp.path().join(format!("junit-{strict}.xml"));
        let o = bin()
            .args(["report", "--run-dir"])
            .arg(&run)
            .arg("--junit")
            .arg(&junit)
            .arg("--out")
            .arg(tmp.path().join(format!("report-{strict}.html")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        validate(&xsd, &junit);
        let xml = std::fs::read_to_string(&junit).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert!(
            doc.descendants()
                .filter(|n| n.has_tag_name("testcase"))
                .all(|c| c.descendants().all(|n| !n.has_tag_name("properties"))),
            "no properties inside a testcase"
        );
        let case = |id: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(id))
                .unwrap_or_else(|| panic!("no case {id}"))
        };
        for id in [RESOLVED, unresolved.as_str()] {
            let outs: Vec<&str> = case(id)
                .children()
                .filter(|n| n.has_tag_name("system-out"))
                .filter_map(|n| n.text())
                .collect();
            assert_eq!(outs.len(), 1, "{id}: one system-out");
            assert!(outs[0].contains("integrity.flagged=true"), "{id}: {}", outs[0]);
            assert!(outs[0].contains("integrity.kinds=status_outside_runner"), "{}", outs[0]);
            assert!(outs[0].contains("logs:\n"), "{}", outs[0]);
        }
        let failure = case(RESOLVED).children().find(|n| n.has_tag_name("failure"));
        assert_eq!(
            failure.is_some(),
            strict,
            "a flagged resolved case fails only in strict mode"
        );
        let failure = case(&unresolved)
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert!(failure.text().unwrap().contains("[high] status_outside_runner"));
    }
}
