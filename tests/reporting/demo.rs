//! Reports of a real run: `eval --split demo --model replay:FILE --junit` on the real Docker
//! engine (recorded answers from `datasets/demo/samples`, eight repair samples per instance:
//! correct, reformatted-correct, wrong and malformed, in orders where plain voting and the
//! tests disagree), then `report --grade-candidates` (every unsubmitted candidate evaluated
//! with the official tests), the page opened in headless chromium, and `export` of the run.
//! Needs Docker and chromium: without them the test fails.

#![allow(
    clippy::unwrap_used,
    reason = "fixture builders outside #[test] fns: a failure is a test failure"
)]

use std::collections::BTreeMap;

use agentless_mini::artifact::key::sha256_hex;
use serde_json::Value;

use crate::common::replay::write_demo_replay;
use crate::common::{bin, chromium, demo_repos, docker, run_bin as bin_out, s};

const SAMPLES: usize = 8;

/// Repair answers per sample index, by label.
fn repair_order(instance_id: &str) -> [&'static str; SAMPLES] {
    if instance_id.contains("slugkit") || instance_id.contains("datespan") {
        // These have a reproduction test: plain voting would pick `wrong`.
        [
            "wrong",
            "wrong",
            "correct",
            "wrong",
            "malformed",
            "correct_reformatted",
            "wrong",
            "malformed",
        ]
    } else if instance_id.contains("minicache") {
        // One correct sample among wrong ones, and no reproduction test.
        [
            "wrong",
            "malformed",
            "wrong",
            "correct",
            "wrong",
            "malformed",
            "wrong",
            "malformed",
        ]
    } else {
        [
            "correct",
            "wrong",
            "correct_reformatted",
            "malformed",
            "correct",
            "wrong",
            "malformed",
            "correct",
        ]
    }
}

#[test]
fn a_real_demo_run_reports_grades_renders_and_exports() {
    let _serial = docker::serial();
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("nightly");
    let repos = tmp.path().join("repos");
    let replay = tmp.path().join("replay.jsonl");
    let junit = tmp.path().join("junit.xml");
    let demo_repos = demo_repos();
    let argv: Vec<String> = [
        "eval",
        "--split",
        "demo",
        "--model",
        &format!("replay:{}", s(&replay)),
        "--num-samples",
        &SAMPLES.to_string(),
        "--loc-samples",
        "1",
        "--repro-samples",
        "1",
        "--run-dir",
        &s(&run_dir),
        "--repos-dir",
        &s(&repos),
        "--demo-repos",
        &s(&demo_repos),
        "--workers",
        "4",
        "--timeout",
        "300",
        "--repro-timeout",
        "120",
        "--no-progress",
        "--junit",
        &s(&junit),
    ]
    .iter()
    .map(|x| (*x).to_owned())
    .collect();

    // The recorded answers, keyed by the exact requests the pipeline makes.
    let labels: BTreeMap<String, Vec<&str>> = write_demo_replay(&argv, &repos, &replay, |id| repair_order(id).to_vec())
        .into_iter()
        .collect();

    // The run, with JUnit output of its evaluation.
    let out = bin_out(&argv);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "eval failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let run_report: Value =
        serde_json::from_str(&fs_err::read_to_string(run_dir.join("agentless-mini.nightly.json")).expect("run report"))
            .unwrap();
    let resolved = run_report["resolved_instances"].as_u64().unwrap() as usize;
    let xml = fs_err::read_to_string(&junit).expect("eval --junit wrote the file");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit");
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 5);
    let failing = cases
        .iter()
        .filter(|c| {
            c.children()
                .any(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
        })
        .count();
    assert_eq!(failing, 5 - resolved, "{xml}");

    // `evaluate --junit` on the same predictions gives the same verdicts.
    let ev_xml = tmp.path().join("evaluate.xml");
    let out = bin()
        .current_dir(tmp.path())
        .args([
            "evaluate",
            "--predictions",
            &s(&run_dir.join("predictions.jsonl")),
            "--split",
            "demo",
            "--run-id",
            "again",
        ])
        .args([
            "--demo-repos",
            &s(&demo_repos),
            "--report-dir",
            &s(&tmp.path().join("ev")),
            "--junit",
            &s(&ev_xml),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "evaluate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = fs_err::read_to_string(&ev_xml).expect("evaluate --junit wrote the file");
    let ev_doc = roxmltree::Document::parse(&ev).expect("well-formed JUnit");
    let verdict = |d: &roxmltree::Document| -> BTreeMap<String, bool> {
        d.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| {
                (
                    c.attribute("name").unwrap().to_owned(),
                    c.children()
                        .all(|n| !n.has_tag_name("failure") && !n.has_tag_name("error")),
                )
            })
            .collect()
    };
    assert_eq!(
        verdict(&ev_doc),
        verdict(&doc),
        "eval --junit and evaluate --junit agree"
    );

    // Grade every unsubmitted candidate with the official tests, then the page.
    let page = tmp.path().join("report.html");
    let data = tmp.path().join("report.json");
    let report_args: Vec<String> = [
        "report",
        "--run-dir",
        &s(&run_dir),
        "--out",
        &s(&page),
        "--json",
        &s(&data),
        "--grade-candidates",
        "--split",
        "demo",
        "--demo-repos",
        &s(&demo_repos),
        "--timeout",
        "300",
    ]
    .iter()
    .map(|x| (*x).to_owned())
    .collect();
    let out = bin_out(&report_args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "report failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("does not give the recorded choice"), "{stderr}");
    assert!(stdout.contains("grading"), "{stdout}");

    // Every graded candidate's verdict matches what its sample is: correct patches resolve,
    // wrong ones do not.
    let verdicts: BTreeMap<(String, String), bool> = fs_err::read_to_string(run_dir.join("candidate-verdicts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                (
                    v["instance_id"].as_str().unwrap().to_owned(),
                    v["normalized_sha"].as_str().unwrap().to_owned(),
                ),
                v["resolved"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(!verdicts.is_empty());
    for (id, order) in &labels {
        let text = fs_err::read_to_string(run_dir.join(format!("instances/{id}/repair.jsonl"))).unwrap();
        for rec in text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "record" && v["data"]["kind"] == "sample")
        {
            let d = &rec["data"];
            let Some(normalized) = d["outcome"]["normalized"].as_str() else {
                continue;
            };
            let label = order[d["index"].as_u64().unwrap() as usize];
            if let Some(v) = verdicts.get(&(id.clone(), sha256_hex(normalized.trim()))) {
                assert_eq!(*v, label.starts_with("correct"), "{id} sample {} ({label})", d["index"]);
            }
        }
    }
    // A second report grades nothing again.
    let out = bin_out(&report_args);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("every candidate already has a verdict"));

    // The numbers: the run's own result at all samples, every choice's correctness known,
    // and the oracle (every instance has a correct sample).
    let d: Value = serde_json::from_str(&fs_err::read_to_string(&data).unwrap()).unwrap();
    assert_eq!(d["resolved"], resolved);
    assert_eq!(d["oracle"], 5);
    let samples = d["curves"]["samples"].as_array().unwrap();
    let last = samples.last().unwrap();
    assert_eq!(last["x"], SAMPLES);
    assert!(
        (last["low"].as_f64().unwrap() - 100.0 * resolved as f64 / 5.0).abs() < 1e-9,
        "{last}"
    );
    for p in samples.iter().chain(d["curves"]["tests"].as_array().unwrap()) {
        assert_eq!(p["low"], p["high"], "after grading every choice is known: {p}");
    }
    // The reproduction tests never make the choice worse here.
    let tests = d["curves"]["tests"].as_array().unwrap();
    assert!(
        tests[0]["low"].as_f64().unwrap() <= tests.last().unwrap()["low"].as_f64().unwrap() + 1e-9,
        "{tests:?}"
    );
    let losses: BTreeMap<String, u64> = d["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l[0].as_str().unwrap().to_owned(), l[1].as_u64().unwrap()))
        .collect();
    assert_eq!(losses.get("resolved").copied().unwrap_or(0) as usize, resolved);
    assert_eq!(losses.values().sum::<u64>(), 5);
    if resolved < 5 {
        assert_eq!(
            losses.get("rerank_missed").copied().unwrap_or(0) as usize,
            5 - resolved,
            "a correct sample existed everywhere"
        );
    }
    let stages: Vec<&str> = d["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    for st in [
        "localize",
        "repair",
        "regression",
        "repro",
        "execute",
        "rerank",
        "evaluation",
    ] {
        assert!(stages.contains(&st), "{st} missing from {stages:?}");
    }
    assert!(
        d["tokens"]["requests"].as_u64().unwrap() >= 5 * (1 + SAMPLES as u64),
        "{}",
        d["tokens"]
    );

    // The page in a real browser.
    let url = format!("file://{}", page.display());
    let dom = String::from_utf8(chromium(&["--dump-dom", &url]).stdout).unwrap();
    assert!(dom.matches("<svg").count() >= 5, "plots missing");
    for id in labels.keys() {
        assert!(dom.contains(id.as_str()), "{id} missing");
    }
    let png = tmp.path().join("report.png");
    chromium(&[
        "--window-size=1280,3600",
        &format!("--screenshot={}", png.display()),
        &url,
    ]);
    assert!(
        fs_err::metadata(&png).unwrap().len() > 50_000,
        "screenshot too small to hold the page"
    );
    if let Ok(keep) = std::env::var("AGENTLESS_KEEP_SCREENSHOT") {
        fs_err::copy(&png, &keep).unwrap();
    }

    // The leaderboard layout of the same run: traces and logs for every instance.
    let sub = tmp.path().join("evaluation/demo/20261124_agentless-mini");
    let out = bin_out(&[
        "export".into(),
        "--run-dir".into(),
        s(&run_dir),
        "--out".into(),
        s(&sub),
        "--split".into(),
        "demo".into(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for id in labels.keys() {
        let traj: Value =
            serde_json::from_str(&fs_err::read_to_string(sub.join(format!("trajs/{id}.json"))).unwrap()).unwrap();
        assert_eq!(
            traj["stages"]["repair"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["kind"] == "sample")
                .count(),
            SAMPLES
        );
        for f in agentless_mini::publish::export::LOG_FILES {
            assert!(sub.join("logs").join(id).join(f).is_file(), "{id}/{f}");
        }
    }
    let results: Value =
        serde_json::from_str(&fs_err::read_to_string(sub.join("results/results.json")).unwrap()).unwrap();
    assert_eq!(results["resolved"].as_array().unwrap().len(), resolved);
    let meta = fs_err::read_to_string(sub.join("metadata.yaml")).unwrap();
    assert!(
        meta.contains("attempts: \"2+\""),
        "eight samples reranked: Best@k\n{meta}"
    );
}
