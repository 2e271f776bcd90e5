//! Integrity findings through the CLI, in real Docker: `agentless-mini evaluate` on the demo
//! split with a gold patch and four exploits of the corpus writes `integrity.json` next to
//! every `report.json`, keeps the official verdicts (the exploits are RESOLVED officially),
//! appends `flagged_instances` / `flagged_ids` to the run report and names the flagged
//! instances; a re-run with `--integrity strict --junit` resumes with the same findings and
//! the same official report, and adds the hardened run report and JUnit with the findings;
//! `compare` shows the flagged instances and gates on the hardened report; `report` lists
//! them with their evidence; `agentless-mini grade` over the same log folder flags the same
//! instances from the logs alone.
//!
//! This test FAILS when the Docker engine is unreachable.

use std::path::{Path, PathBuf};

use crate::common::docker::{self, prepare_demo_images, unique};
use crate::common::{bin, demo_jsonl, read_json, root, text};

/// (instance, variant) chosen from the corpus: one gold, four exploits.
const PICKS: [(&str, &str); 5] = [
    ("agentless-demo__confparse-37", "gold"),
    ("agentless-demo__datespan-14", "atexit-forged-pass"),
    ("agentless-demo__minicache-112", "conftest-xfail-norun"),
    ("agentless-demo__slugkit-58", "conftest-rewrite-tests"),
    ("agentless-demo__tinysched-23", "plugin-via-addopts"),
];

fn predictions(dir: &Path) -> PathBuf {
    let corpus = std::fs::read_to_string(root().join("datasets/exploits/corpus.jsonl")).expect("corpus");
    let mut lines = Vec::new();
    for (id, variant) in PICKS {
        let entry: serde_json::Value = corpus
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
            .find(|e| e["instance_id"] == id && e["variant"] == variant)
            .unwrap_or_else(|| panic!("{variant} for {id} in the corpus"));
        lines.push(
            serde_json::json!({"instance_id": id, "model_name_or_path": "mixed", "model_patch": entry["model_patch"]})
                .to_string(),
        );
    }
    let path = dir.join("preds.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

#[test]
fn evaluate_and_grade_write_integrity_findings_beside_the_official_verdicts() {
    let _serial = docker::serial();
    prepare_demo_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let preds = predictions(tmp.path());
    let run = unique("integrity-cli");
    let evaluate = |extra: &[&std::ffi::OsStr]| {
        bin()
            .current_dir(tmp.path())
            .args(["evaluate", "--split", "demo", "--predictions"])
            .arg(&preds)
            .args(["--run-id", &run, "--workers", "2"])
            .args(extra)
            .output()
            .expect("run agentless-mini")
    };
    let o = evaluate(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let report_path = tmp.path().join(format!("mixed.{run}.json"));
    let raw = std::fs::read_to_string(&report_path).expect("run report");
    let report = read_json(&report_path);
    // Official verdicts unchanged: every exploit here fools the official 4.x grading.
    let all: Vec<&str> = PICKS.iter().map(|(id, _)| *id).collect();
    assert_eq!(report["resolved_ids"], serde_json::json!(all), "{raw}");
    let exploits: Vec<&str> = all[1..].to_vec();
    assert_eq!(report["flagged_instances"], 4);
    assert_eq!(report["flagged_ids"], serde_json::json!(exploits));
    let keys: Vec<&String> = report.as_object().expect("object").keys().collect();
    assert_eq!(
        keys[keys.len() - 3..],
        ["schema_version", "flagged_instances", "flagged_ids"]
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    for id in &exploits {
        assert!(
            stderr.contains(&format!("{id}: flagged by integrity checks")),
            "{}",
            text(&o)
        );
    }
    assert!(!stderr.contains("confparse-37: flagged"), "{}", text(&o));

    let logs = tmp.path().join("logs/run_evaluation").join(&run).join("mixed");
    let flagged_in = |dir: &Path| -> Vec<String> {
        all.iter()
            .filter(|id| read_json(&dir.join(id).join("integrity.json"))["flagged"] == true)
            .map(|id| (*id).to_owned())
            .collect()
    };
    assert_eq!(flagged_in(&logs), exploits);
    let gold = read_json(&logs.join(all[0]).join("integrity.json"));
    assert_eq!(gold["findings"], serde_json::json!([]), "{gold:#}");
    let xfail = read_json(&logs.join(all[2]).join("integrity.json"));
    let first = &xfail["findings"][0];
    assert_eq!(first["severity"], "high");
    assert!(
        first["evidence"][0]["file"].is_string() && first["evidence"][0]["line"].is_u64(),
        "{xfail:#}"
    );

    let hardened_path = tmp.path().join(format!("mixed.{run}.hardened.json"));
    assert!(!hardened_path.exists(), "no hardened report without --integrity strict");

    // A re-run in strict mode resumes everything, with the same findings and the same
    // official report, plus the hardened one.
    let before = std::fs::read_to_string(logs.join(all[1]).join("integrity.json")).expect("integrity");
    let junit = tmp.path().join("junit.xml");
    let again = evaluate(&[
        "--integrity".as_ref(),
        "strict".as_ref(),
        "--junit".as_ref(),
        junit.as_os_str(),
    ]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("(5 resumed"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(&report_path).expect("report"), raw);
    let hardened = read_json(&hardened_path);
    assert_eq!(hardened["resolved_ids"], serde_json::json!([all[0]]), "{hardened}");
    assert_eq!(hardened["unresolved_ids"], serde_json::json!(exploits), "{hardened}");
    assert_eq!(hardened["flagged_ids"], report["flagged_ids"]);
    let hardened_name = format!("mixed.{run}.hardened.json");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("1/5 resolved — ./{hardened_name}")),
        "{}",
        text(&again)
    );
    let xml = std::fs::read_to_string(&junit).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("junit well-formed");
    let failures: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure") && n.attribute("type") == Some("integrity"))
        .filter_map(|n| n.parent().and_then(|c| c.attribute("name")))
        .collect();
    assert_eq!(failures, exploits, "{xml}");
    assert!(xml.contains("integrity.kinds="), "{xml}");

    // compare: the folder holds both reports; the official one is shown, the hardened one
    // gated on. Against the official figures alone (a copy without the hardened report) the
    // strict run drops from 5/5 to 1/5 and fails the gate.
    let compare = |base: &Path, new: &Path| bin().arg("compare").arg(base).arg(new).output().expect("compare");
    let c = compare(tmp.path(), tmp.path());
    assert!(c.status.success(), "{}", text(&c));
    let shown = String::from_utf8_lossy(&c.stdout).into_owned();
    assert!(
        shown.contains(&format!("(5/5 resolved, 0 errors)  {}", report_path.display())),
        "{shown}"
    );
    assert!(shown.contains("flagged by integrity checks in new (4)"), "{shown}");
    assert!(
        shown.contains("gate on the hardened report of base and the hardened report of new"),
        "{shown}"
    );
    let plain = tempfile::tempdir().expect("tmp");
    std::fs::copy(&report_path, plain.path().join("mixed.base.json")).expect("copy");
    let c = compare(plain.path(), tmp.path());
    assert_eq!(c.status.code(), Some(5), "{}", text(&c));
    assert!(
        String::from_utf8_lossy(&c.stdout).contains("gate FAILED: new is 80.00 points below base"),
        "{}",
        text(&c)
    );

    // report: the page lists the flagged instances with their evidence.
    let page = tmp.path().join("page.html");
    let r = bin()
        .args(["report", "--run-dir"])
        .arg(tmp.path())
        .arg("--out")
        .arg(&page)
        .output()
        .expect("report");
    assert!(r.status.success(), "{}", text(&r));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("<section id=\"integrity\">"), "{html}");
    for id in &exploits {
        assert!(html.contains(&format!("data-instance=\"{id}\"")), "{id} not listed");
    }
    assert!(!html.contains("data-instance=\"agentless-demo__confparse-37\""));
    assert_eq!(
        std::fs::read_to_string(logs.join(all[1]).join("integrity.json")).expect("integrity"),
        before
    );

    // `grade` over the same folder: the log-only checks (and the patch, and the official
    // instance log's diffs) flag the same instances; the verdicts are the same.
    let out = tmp.path().join("graded");
    let g = bin()
        .args(["grade", "--dataset"])
        .arg(demo_jsonl())
        .arg("--logs")
        .arg(&logs)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("grade");
    assert!(g.status.success(), "{}", text(&g));
    assert_eq!(flagged_in(&out), exploits);
    let graded = read_json(&out.join("run-report.json"));
    assert_eq!(graded["resolved_ids"], report["resolved_ids"]);
    assert_eq!(graded["flagged_ids"], report["flagged_ids"]);
    for id in &all {
        assert_eq!(
            std::fs::read(out.join(id).join("report.json")).expect("graded report"),
            std::fs::read(logs.join(id).join("report.json")).expect("report"),
            "{id}"
        );
    }
}
