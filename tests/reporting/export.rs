//! `agentless-mini export` on a real run: the official log tree and run report of a real
//! SWE-bench Verified evaluation (`../shared/data/oracle-logs`, 100 predictions, 71 log
//! folders) laid out as `evaluate` writes it. The submission folder is checked file by
//! file, and `all_preds.jsonl` / `metadata.yaml` are read back by the official swebench 4.1.0
//! loader (`get_predictions_from_file`, the dataset id check of `get_dataset_from_preds`) and
//! PyYAML, from the parity interpreter (`SWEBENCH4_PYTHON`, scripts/setup-parity-env.sh).

#![allow(
    clippy::unwrap_used,
    reason = "fixture builders outside #[test] fns: a failure is a test failure"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agentless_mini::publish::export::{LOG_FILES, check_predictions_file};
use serde_json::Value;

use crate::common::{
    bin, copy_oracle_logs, oracle_logs as oracle, parity_python, read_json, verified_parquet as verified,
};

/// A run folder as `evaluate --report-dir RUN` leaves it (run from RUN): the official log
/// tree, the run report, and the predictions.
fn run_folder(root: &Path) -> PathBuf {
    let run = root.join("run");
    copy_oracle_logs(&run.join("logs/run_evaluation/vexp-run/vexp-swebench-1774184993333"));
    std::fs::copy(
        oracle().join("run-report.json"),
        run.join("vexp-swebench-1774184993333.vexp-run.json"),
    )
    .expect("report");
    std::fs::copy(oracle().join("predictions.jsonl"), run.join("predictions.jsonl")).expect("predictions");
    run
}

fn export(run: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("export")
        .arg("--run-dir")
        .arg(run)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run agentless-mini")
}

#[test]
fn export_writes_the_leaderboard_layout_file_by_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = run_folder(tmp.path());
    let out = tmp.path().join("evaluation/verified/20261124_agentless-mini_vexp");
    let dataset = verified();
    let o = export(
        &run,
        &out,
        &[
            "--dataset",
            dataset.to_str().unwrap(),
            "--name",
            "Agentless Mini + \"vexp\": test",
            "--org",
            "Example Org",
            "--report-url",
            "https://example.org/report",
            "--attempts",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("no trajectories"),
        "an evaluate-only run has no traces, and says so: {stderr}"
    );

    // all_preds.jsonl: the predictions, line for line, exactly three keys.
    let want: Vec<Value> = std::fs::read_to_string(oracle().join("predictions.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<Value> = std::fs::read_to_string(out.join("all_preds.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 100);
    for (g, w) in got.iter().zip(&want) {
        for k in ["instance_id", "model_name_or_path", "model_patch"] {
            assert_eq!(g[k], w[k], "{k} of {}", w["instance_id"]);
        }
        assert_eq!(g.as_object().unwrap().len(), 3);
    }
    assert_eq!(
        check_predictions_file(&out.join("all_preds.jsonl"), None).expect("schema"),
        100
    );

    // logs/<id>/: the five files, byte for byte, for every predicted instance with a folder.
    let with_logs: BTreeSet<String> = std::fs::read_dir(oracle())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let exported: BTreeSet<String> = std::fs::read_dir(out.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(exported, with_logs);
    for id in &with_logs {
        for f in LOG_FILES {
            let a = std::fs::read(oracle().join(id).join(f)).unwrap_or_else(|_| panic!("oracle {id}/{f}"));
            let b = std::fs::read(out.join("logs").join(id).join(f)).unwrap_or_else(|_| panic!("exported {id}/{f}"));
            assert!(a == b, "{id}/{f} differs");
        }
    }

    // results/.
    let report = read_json(&oracle().join("run-report.json"));
    let results = read_json(&out.join("results/results.json"));
    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&results["resolved"]), ids(&report["resolved_ids"]));
    assert_eq!(ids(&results["no_generation"]), ids(&report["empty_patch_ids"]));
    let predicted: BTreeSet<String> = want
        .iter()
        .map(|w| w["instance_id"].as_str().unwrap().to_owned())
        .collect();
    let no_logs: BTreeSet<String> = predicted
        .difference(&with_logs)
        .filter(|id| !ids(&report["empty_patch_ids"]).contains(*id))
        .cloned()
        .collect();
    assert_eq!(ids(&results["no_logs"]), no_logs);
    assert_eq!(no_logs.len(), 100 - 71 - 1);
    let by_repo = read_json(&out.join("results/resolved_by_repo.json"));
    let by_repo = by_repo.as_object().unwrap();
    assert_eq!(by_repo.len(), 12, "all twelve Verified repositories");
    let sum = |m: &serde_json::Map<String, Value>, k: &str| m.values().map(|v| v[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum(by_repo, "total"), 500);
    assert_eq!(sum(by_repo, "resolved"), 73);
    assert_eq!(by_repo["django/django"]["total"], 231);
    let by_time = read_json(&out.join("results/resolved_by_time.json"));
    let by_time = by_time.as_object().unwrap();
    assert_eq!(sum(by_time, "total"), 500);
    assert_eq!(sum(by_time, "resolved"), 73);
    assert!(
        by_time.keys().all(|y| y.len() == 4 && y.starts_with("20")),
        "{:?}",
        by_time.keys()
    );

    // README: the summary, the per-repository lines and the checklist.
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("Submission summary for 20261124_agentless-mini_vexp on SWE-bench verified split"));
    assert!(readme.contains("Resolved 73 instances (14.60%)"), "{readme}");
    assert!(readme.contains("- django/django: "), "{readme}");
    // The checklist is the submitter's to tick, never pre-ticked.
    assert!(readme.contains("- [ ] Is a pass@1 submission"), "{readme}");
    assert!(!readme.contains("- [x]"), "{readme}");
    assert!(readme.contains("Technical report: https://example.org/report"));

    // The official loader and PyYAML read what we wrote.
    let script = r#"
import json, sys, yaml, pyarrow.parquet as pq
from swebench.harness.utils import get_predictions_from_file
preds = get_predictions_from_file(sys.argv[1], "unused", "test")
ids = {p["instance_id"] for p in preds}
dataset_ids = set(pq.read_table(sys.argv[2], columns=["instance_id"]).column("instance_id").to_pylist())
missing = sorted(ids - dataset_ids)   # get_dataset_from_preds raises on these
bad = [p["instance_id"] for p in preds if not all(k in p for k in ("instance_id", "model_name_or_path", "model_patch"))]
meta = yaml.safe_load(open(sys.argv[3]))
print(json.dumps({"n": len(preds), "missing": missing, "bad": bad, "models": sorted({p["model_name_or_path"] for p in preds}), "meta": meta}))
"#;
    let py = Command::new(parity_python("SWEBENCH4_PYTHON", "swebench4"))
        .arg("-c")
        .arg(script)
        .arg(out.join("all_preds.jsonl"))
        .arg(verified())
        .arg(out.join("metadata.yaml"))
        .output()
        .expect("python");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let v: Value = serde_json::from_slice(&py.stdout).expect("python json");
    assert_eq!(v["n"], 100);
    assert_eq!(v["missing"], serde_json::json!([]));
    assert_eq!(v["bad"], serde_json::json!([]));
    assert_eq!(v["models"], serde_json::json!(["vexp-swebench-1774184993333"]));
    let meta = &v["meta"];
    assert_eq!(meta["info"]["name"], "Agentless Mini + \"vexp\": test");
    assert_eq!(meta["info"]["report"], "https://example.org/report");
    assert_eq!(meta["tags"]["org"], serde_json::json!(["Example Org"]));
    assert_eq!(
        meta["tags"]["model"],
        serde_json::json!(["vexp-swebench-1774184993333"])
    );
    assert_eq!(meta["tags"]["os_system"], true);
    assert_eq!(meta["tags"]["os_model"], false);
    assert_eq!(meta["tags"]["checked"], false);
    assert_eq!(meta["tags"]["system"]["attempts"], 1);
    assert_eq!(meta["assets"]["logs"], "logs");

    // A second export into the same folder is refused (nothing is mixed or overwritten).
    let o = export(&run, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not empty"));
}

#[test]
fn predictions_that_break_the_schema_are_refused_with_every_problem_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = run_folder(tmp.path());
    // An id the dataset does not have: export stops, names it, and leaves a clear error.
    let mut lines: Vec<String> = std::fs::read_to_string(run.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    lines[5] = lines[5].replacen("\"instance_id\": \"", "\"instance_id\": \"nosuch__repo-1", 1);
    std::fs::write(run.join("predictions.jsonl"), lines.join("\n") + "\n").unwrap();
    let out = tmp.path().join("out");
    let o = export(&run, &out, &["--dataset", verified().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not follow the predictions schema") && err.contains("is not in the dataset"),
        "{err}"
    );

    // The checker itself, on hand-broken files: extra key, wrong types, duplicates, two models.
    let f = tmp.path().join("p.jsonl");
    let ok = r#"{"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "x"}"#;
    let cases: BTreeMap<&str, String> = [
        (
            "expected exactly",
            r#"{"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "x", "extra": 1}"#.to_owned(),
        ),
        (
            "model_patch must be a string",
            r#"{"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": 3}"#.to_owned(),
        ),
        (
            "instance_id must be a non-empty string",
            r#"{"instance_id": "", "model_name_or_path": "m", "model_patch": ""}"#.to_owned(),
        ),
        ("duplicate instance_id", format!("{ok}\n{ok}")),
        (
            "several model_name_or_path",
            format!("{ok}\n{}", ok.replace("a__b-1", "a__b-2").replace("\"m\"", "\"n\"")),
        ),
        ("not JSON", "{oops".to_owned()),
    ]
    .into();
    for (want, text) in cases {
        std::fs::write(&f, text + "\n").unwrap();
        let e = check_predictions_file(&f, None).unwrap_err().to_string();
        assert!(e.contains(want), "expected {want:?} in {e}");
    }
    std::fs::write(&f, format!("{ok}\n")).unwrap();
    assert_eq!(check_predictions_file(&f, None).unwrap(), 1);
    // The real predictions file of the oracle run passes, against the real dataset ids too.
    assert_eq!(
        check_predictions_file(&oracle().join("predictions.jsonl"), None).unwrap(),
        100
    );
}

#[test]
fn export_says_where_the_submission_folder_belongs() {
    // The experiments repository keeps submissions at evaluation/<split>/<YYYYMMDD>_<name>/,
    // and its get_results.py takes the split from that path.
    let tmp = tempfile::tempdir().expect("tmp");
    let run = run_folder(tmp.path());
    let dataset = verified();
    let good = tmp.path().join("evaluation/verified/20261124_agentless-mini");
    let o = export(
        &run,
        &good,
        &["--dataset", dataset.to_str().unwrap(), "--attempts", "1"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stderr.contains("evaluation/<split>/") && !stderr.contains("<YYYYMMDD>_<name>"),
        "{stderr}"
    );

    let bad = tmp.path().join("submission");
    let o = export(&run, &bad, &["--dataset", dataset.to_str().unwrap(), "--attempts", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("<YYYYMMDD>_<name>: rename submission"), "{stderr}");
    assert!(
        stderr.contains("a submission goes under evaluation/<split>/"),
        "{stderr}"
    );
    let suggested = stderr
        .split("evaluation/verified/")
        .nth(1)
        .map(|x| &x[..x.find(|c: char| c.is_whitespace() || c == ')').unwrap_or(x.len())])
        .unwrap_or_else(|| panic!("no suggested path in {stderr}"));
    assert!(suggested.ends_with("_submission"), "{suggested}");
    assert!(suggested[..8].bytes().all(|b| b.is_ascii_digit()), "{suggested}");
    // The README's summary names the split the folder will be under, as get_results.py does.
    let readme = std::fs::read_to_string(bad.join("README.md")).unwrap();
    assert!(readme.contains("on SWE-bench verified split"), "{readme}");

    let wrong = tmp.path().join("evaluation/lite/20261124_agentless-mini");
    let o = export(
        &run,
        &wrong,
        &["--dataset", dataset.to_str().unwrap(), "--attempts", "1"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("under evaluation/lite/ but the dataset is the verified split"),
        "{stderr}"
    );
}
