//! End to end on the demo split with recorded model output: `agentless-mini eval --split demo
//! --model replay:FILE` on the real Docker engine. The replay file is written by
//! `tests/common/replay.rs` from `datasets/demo/samples` (localization and repair answers:
//! correct, wrong, correct up to comments and formatting, malformed) and
//! `tests/fixtures/pipeline/repro_tests.json` (reproduction tests for two instances), keyed by
//! the exact requests the pipeline sends — computed with the pipeline's own request builders,
//! so the test also pins that prompts are deterministic. The rerank must choose a correct
//! patch for every instance, and the official evaluation must resolve all five. Needs Docker:
//! without it the test fails.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::demo_run::prepare;
use crate::common::replay::demo_repair_order;
use crate::common::{bin, docker, walk};

#[test]
fn demo_split_end_to_end_with_recorded_answers() {
    let _serial = docker::serial();
    let tmp = tempfile::tempdir().unwrap();
    let demo = prepare(tmp.path());
    let run_dir = demo.run_dir.clone();
    let argv = demo.eval_args(&[]);
    let instances = agentless_mini::demo::instances().unwrap();
    assert_eq!(instances.len(), 5);
    let labels: HashMap<String, Vec<&str>> = instances
        .iter()
        .map(|i| (i.instance_id.clone(), demo_repair_order(&i.instance_id)))
        .collect();

    // The run (Docker: images are built from the demo trees when missing).
    let out = bin().args(&argv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "eval failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );

    // Rerank: a correct patch everywhere; execution overturned plain voting for slugkit.
    for inst in &instances {
        let id = &inst.instance_id;
        let rerank = fs_err::read_to_string(run_dir.join(format!("instances/{id}/rerank.jsonl"))).unwrap();
        let rec: Value = rerank
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["type"] == "record")
            .unwrap()["data"]
            .clone();
        let chosen = rec["selected_sample"].as_u64().expect("a sample was selected") as usize;
        let label = labels[id][chosen];
        assert!(
            label.starts_with("correct"),
            "{id}: chose sample {chosen} ({label}): {rec}"
        );
        if id.contains("slugkit") {
            assert_eq!(
                rec["selected_without_execution"],
                json!(0),
                "plain voting picks the duplicated wrong patch"
            );
            assert_ne!(rec["filter"], json!("none"), "{rec}");
        }
        // Malformed samples are dropped with a reason, and the two correct ones vote together.
        let repair_file = fs_err::read_to_string(run_dir.join(format!("instances/{id}/repair.jsonl"))).unwrap();
        let samples: Vec<Value> = repair_file
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "record" && v["data"]["kind"] == "sample")
            .map(|v| v["data"].clone())
            .collect();
        assert_eq!(samples.len(), 5);
        let by_index = |i: usize| samples.iter().find(|s| s["index"] == json!(i)).unwrap().clone();
        let labels_here = &labels[id];
        let idx = |l: &str| labels_here.iter().position(|x| *x == l).unwrap();
        assert_eq!(by_index(idx("malformed"))["outcome"]["kind"], "dropped", "{id}");
        let a = by_index(idx("correct"))["outcome"]["normalized"].clone();
        let b = by_index(idx("correct_reformatted"))["outcome"]["normalized"].clone();
        assert!(a.as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(a, b, "{id}: the reformatted patch must normalize like the correct one");
        assert_ne!(
            by_index(idx("correct"))["outcome"]["patch"],
            by_index(idx("correct_reformatted"))["outcome"]["patch"],
            "{id}: the patch texts differ"
        );
    }

    // predictions.jsonl in the official format, and the official evaluation resolves all five.
    let preds = fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap();
    let rows: Vec<Value> = preds.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r["model_name_or_path"], "agentless-mini");
        assert!(r["model_patch"].as_str().unwrap().starts_with("diff --git a/"), "{r}");
    }
    let report: Value =
        serde_json::from_str(&fs_err::read_to_string(run_dir.join("agentless-mini.run.json")).unwrap()).unwrap();
    assert_eq!(report["resolved_instances"], json!(5), "{report}\n{stdout}");
    assert!(stdout.contains("evaluation: 5/5 resolved"), "{stdout}");
    // The final evaluation writes integrity findings beside each verdict: real fixes, unflagged.
    assert_eq!(report["flagged_instances"], json!(0), "{report}");
    let logs = run_dir.join("logs/run_evaluation/run/agentless-mini");
    for r in &rows {
        let id = r["instance_id"].as_str().unwrap();
        let integrity: Value =
            serde_json::from_str(&fs_err::read_to_string(logs.join(id).join("integrity.json")).unwrap()).unwrap();
        assert_eq!(integrity["flagged"], json!(false), "{integrity}");
    }

    // Re-running resumes everything: no stage runs again, the same predictions.
    let again = bin().args(&argv).arg("--no-evaluate").output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(
        fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap(),
        preds
    );
    let stale = walk(&run_dir.join("instances"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".stale-"))
        .count();
    assert_eq!(stale, 0, "nothing was redone");

    // The execute records keep typed outcomes: every candidate of slugkit applied with a
    // strategy, and its reproduction test passes the correct patch and fails the wrong one.
    let slug = instances
        .iter()
        .map(|i| i.instance_id.clone())
        .find(|id| id.contains("slugkit"))
        .expect("slugkit instance");
    let exec_path = run_dir.join(format!("instances/{slug}/execute.jsonl"));
    let exec_text = fs_err::read_to_string(&exec_path).unwrap();
    let lines: Vec<Value> = exec_text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["data"]["format_version"], json!(2), "{exec_text}");
    let records: Vec<&Value> = lines
        .iter()
        .filter(|v| v["type"] == "record")
        .map(|v| &v["data"])
        .collect();
    assert_eq!(
        records.len(),
        2,
        "two distinct candidates (correct, wrong): {exec_text}"
    );
    for r in &records {
        assert!(r["apply"]["applied"]["strategy"].is_string(), "{r}");
        assert!(r.get("applied").is_none() && r.get("apply_error").is_none(), "{r}");
    }
    let resolved = records
        .iter()
        .filter(|r| r["repro"].as_array().unwrap().iter().any(|t| t[1] == "resolved"))
        .count();
    assert_eq!(
        resolved, 1,
        "the correct candidate passes the reproduction test: {exec_text}"
    );

    // A run made before the typed records (execute format 1): the report refuses the file by
    // name and version instead of reading no results, and `eval` sets it aside and redoes it.
    let mut v1 = format!(
        "{}\n",
        json!({"type": "begin", "data": {"stage": "execute", "format_version": 1, "key": "sha256:old", "started_at_unix": 0}})
    );
    for r in &records {
        let v1_record = json!({
            "normalized_sha": r["normalized_sha"], "sample": r["sample"], "applied": true,
            "regression_failed": null, "repro": r["repro"], "elapsed_ms": 1
        });
        v1 += &format!("{}\n", json!({"type": "record", "data": v1_record}));
    }
    v1 += &format!(
        "{}\n",
        json!({"type": "end", "data": {"records": records.len(), "elapsed_ms": 1}})
    );
    fs_err::write(&exec_path, v1).unwrap();
    let report = bin()
        .args(["report", "--run-dir", &run_dir.display().to_string(), "--out"])
        .arg(tmp.path().join("old.html"))
        .output()
        .unwrap();
    let report_err = String::from_utf8_lossy(&report.stderr);
    assert!(!report.status.success(), "{report_err}");
    assert!(
        report_err.contains(&exec_path.display().to_string())
            && report_err.contains("execute format version 1, this build reads version 2"),
        "{report_err}"
    );
    let redo = bin().args(&argv).arg("--no-evaluate").output().unwrap();
    assert!(redo.status.success(), "{}", String::from_utf8_lossy(&redo.stderr));
    assert_eq!(
        fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap(),
        preds
    );
    assert_eq!(
        fs_err::read_to_string(&exec_path).unwrap().lines().count(),
        exec_text.lines().count()
    );
    let stale: Vec<PathBuf> = walk(&run_dir.join(format!("instances/{slug}")))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".stale-"))
        .collect();
    // Only the execute file is redone: its key is the one the first run computed, so the
    // rerank over it is reused.
    assert_eq!(stale.len(), 1, "the old execute file is set aside: {stale:?}");
    assert!(stale[0].to_string_lossy().contains("execute.jsonl.stale-"), "{stale:?}");
    let report = bin()
        .args(["report", "--run-dir", &run_dir.display().to_string(), "--out"])
        .arg(tmp.path().join("redone.html"))
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
}
