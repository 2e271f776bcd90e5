//! `export --format swe-rl` and `import --format swe-rl` on a real demo run (Docker, recorded
//! model answers; see `tests/common/demo_run.rs`: five samples per instance, execution results,
//! a reproduction test that overturns plain voting on one instance).
//!
//! - `export_then_import_*` (always): the exported files carry upstream's field names; the
//!   import of the export, reranked by `agentless-mini rerank`, has the same candidates (vote
//!   key, regression failures, reproduction tests passed) and chooses the same sample and patch
//!   as the original run; importing again changes nothing.
//! - `upstream_rerank_*` (opt-in: `SWERL_CHECKOUT=DIR [SWERL_PYTHON=PY] cargo test --workspace
//!   --test interop_swerl -- --ignored`): swe-rl's own `rerank.py`, from the checkout, unchanged,
//!   on the export, must pick our patch for every instance. `SWERL_PYTHON` is an interpreter
//!   with swe-rl's `agentless` extras (they are imported by `rerank.py`'s package); it fails
//!   when the checkout is not given.
//!
//! Needs Docker: without it the tests fail.

#![allow(clippy::unwrap_used, reason = "test helpers: any failure is the test failing")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use agentless_mini::artifact::RunDir;
use agentless_mini::interop::swerl::ours::{InstanceArtifacts, RerankSettings};
use agentless_mini::pipeline::rerank::Candidate;
use serde_json::Value;

use common::bin_path;
use common::demo_run::{DemoRun, demo_run};

/// One demo run shared by the tests of this binary.
fn demo() -> &'static DemoRun {
    static DEMO: OnceLock<(tempfile::TempDir, DemoRun)> = OnceLock::new();
    &DEMO
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let run = demo_run(tmp.path());
            (tmp, run)
        })
        .1
}

fn bin(args: &[&str]) -> Output {
    common::run_bin(args)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn export(run: &Path, out: &Path) -> Output {
    bin(&[
        "export",
        "--format",
        "swe-rl",
        "--run-dir",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn rows(path: &Path) -> Vec<Value> {
    fs_err::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// Per instance: the candidates of the rule, and the rerank's (sample, patch).
fn rerank_inputs(run: &Path) -> BTreeMap<String, (Vec<Candidate>, Option<usize>, String)> {
    let run = RunDir::at(run);
    run.instance_ids()
        .unwrap()
        .into_iter()
        .map(|id| {
            let a = InstanceArtifacts::load(&run, &id, RerankSettings::default()).unwrap();
            let r = a.rerank.clone().expect("a rerank record");
            (id, (a.candidates(), r.selected_sample, r.patch))
        })
        .collect()
}

fn predictions(path: &Path) -> BTreeMap<String, String> {
    rows(path)
        .into_iter()
        .map(|r| {
            (
                r["instance_id"].as_str().unwrap().to_owned(),
                r["model_patch"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn export_then_import_keeps_the_candidates_and_the_rerank_choice() {
    let demo = demo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("swe-rl");
    let stdout = ok(&export(&demo.run_dir, &out));
    assert!(stdout.contains("exported 5 instances × up to 5 samples"), "{stdout}");
    assert!(stdout.contains("--num_samples 5"), "{stdout}");

    // Upstream's files and field names.
    let loc = rows(&out.join("loc.jsonl"));
    assert_eq!(loc.len(), 5);
    assert_eq!(keys(&loc[0]), ["file_traj", "found_files", "instance_id"]);
    let repair = rows(&out.join("repair/output.jsonl"));
    assert_eq!(
        keys(&repair[0]),
        [
            "all_found_files",
            "all_generations",
            "all_indices",
            "file_names",
            "instance_id",
            "raw_output",
            "traj"
        ]
    );
    assert_eq!(repair[0]["all_generations"][0].as_array().unwrap().len(), 5);
    for i in 0..5 {
        let normalized = rows(&out.join(format!("repair/output_{i}_normalized.jsonl")));
        assert_eq!(normalized.len(), 5);
        assert_eq!(
            keys(&normalized[0]),
            [
                "edited_files",
                "instance_id",
                "model_name_or_path",
                "model_patch",
                "normalized_patch",
                "raw_model_patch"
            ]
        );
        let processed = rows(&out.join(format!("repair/output_{i}_processed.jsonl")));
        assert!(processed.iter().all(|r| r.get("normalized_patch").is_none()));
        assert_eq!(
            rows(&out.join(format!("repair/output_{i}_regression_test_results.jsonl"))).len(),
            5
        );
        for r in rows(&out.join(format!("repair/output_{i}_reproduction_test_results.jsonl"))) {
            assert_eq!(keys(&r), ["instance_id", "resolved", "test_id"]);
        }
    }
    let regression = rows(&out.join("regression_tests.jsonl"));
    assert!(!regression.is_empty(), "the demo run selects regression tests");
    assert!(
        regression[0]["tests_passing_in_original_repo"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let repro = rows(&out.join("reproduction_tests.jsonl"));
    assert!(
        repro
            .iter()
            .any(|r| r["instance_id"].as_str().unwrap().contains("slugkit"))
    );
    // A result that changes the choice crossed over: some sample resolves a reproduction test.
    let resolved: usize = (0..5)
        .map(|i| {
            rows(&out.join(format!("repair/output_{i}_reproduction_test_results.jsonl")))
                .iter()
                .filter(|r| r["resolved"] == Value::Bool(true))
                .count()
        })
        .sum();
    assert!(resolved > 0);

    // A second export into the same folder is refused (nothing is overwritten).
    let again = export(&demo.run_dir, &out);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Import, rerank here: the same candidates and the same choice.
    let imported = tmp.path().join("imported");
    let stdout = ok(&bin(&[
        "import",
        "--format",
        "swe-rl",
        "--from",
        out.to_str().unwrap(),
        "--run-dir",
        imported.to_str().unwrap(),
    ]));
    assert!(stdout.contains("imported 5 instances × 5 samples"), "{stdout}");
    let mut rerank = vec!["rerank".to_owned()];
    rerank.extend(demo.pipeline_args(&imported));
    ok(&Command::new(bin_path()).args(&rerank).output().unwrap());
    let ours = rerank_inputs(&demo.run_dir);
    let theirs = rerank_inputs(&imported);
    assert_eq!(ours.len(), 5);
    for (id, (cands, sample, patch)) in &ours {
        let (c2, s2, p2) = &theirs[id];
        assert_eq!(c2, cands, "{id}: the candidates");
        assert_eq!(s2, sample, "{id}: the chosen sample");
        assert_eq!(p2, patch, "{id}: the chosen patch");
        assert!(!patch.is_empty(), "{id}");
    }
    assert_eq!(
        predictions(&imported.join("predictions.jsonl")),
        predictions(&demo.run_dir.join("predictions.jsonl"))
    );

    // Importing the same files again changes nothing (5 stage files × 5 instances).
    let stdout = ok(&bin(&[
        "import",
        "--from",
        out.to_str().unwrap(),
        "--run-dir",
        imported.to_str().unwrap(),
    ]));
    assert!(stdout.contains("25 stage files unchanged"), "{stdout}");
}

#[test]
#[ignore = "needs a checkout of facebookresearch/swe-rl: SWERL_CHECKOUT=DIR [SWERL_PYTHON=PY]"]
fn upstream_rerank_picks_the_same_patch() {
    let checkout = PathBuf::from(std::env::var("SWERL_CHECKOUT").expect("SWERL_CHECKOUT=DIR (a swe-rl checkout)"));
    let rerank_py = checkout.join("src/swerl/agentless_mini/rerank.py");
    assert!(rerank_py.is_file(), "{} is missing", rerank_py.display());
    let python = std::env::var("SWERL_PYTHON").unwrap_or_else(|_| "python3".into());
    let demo = demo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("swe-rl");
    ok(&export(&demo.run_dir, &out));
    let preds = out.join("all_preds.jsonl");
    let o = Command::new(&python)
        .args(["-m", "swerl.agentless_mini.rerank", "--patch_folder"])
        .arg(out.join("repair"))
        .args(["--num_samples", "5", "--deduplicate", "--regression_test_file"])
        .arg(out.join("regression_tests.jsonl"))
        .args(["--applied_rankers", "regression", "reproduction", "--output_file"])
        .arg(&preds)
        .env("PYTHONPATH", checkout.join("src"))
        // Read at import by upstream's package; rerank itself uses neither.
        .env("PROJECT_FILE_LOC", tmp.path())
        .env("TOKENIZER_MODEL", "gpt-4o")
        .env("TOKENIZER_TYPE", "tiktoken")
        .env("PLAYGROUND_DIR", tmp.path().join("playground"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let log = ok(&o);
    let upstream = predictions(&preds);
    let ours = predictions(&demo.run_dir.join("predictions.jsonl"));
    assert_eq!(upstream.len(), 5, "{log}");
    for (id, patch) in &ours {
        assert!(!patch.is_empty(), "{id}");
        assert_eq!(
            upstream.get(id),
            Some(patch),
            "{id}: rerank.py chose another patch\n{log}"
        );
    }
    // Execution changed the choice where it did here ("Delta": instances where the choice
    // differs from plain majority voting).
    let run = RunDir::at(&demo.run_dir);
    let delta = run
        .instance_ids()
        .unwrap()
        .iter()
        .filter(|id| {
            let r = InstanceArtifacts::load(&run, id, RerankSettings::default())
                .unwrap()
                .rerank
                .unwrap();
            r.selected_without_execution != r.selected_sample
        })
        .count();
    assert!(
        delta > 0,
        "the demo run has an instance where execution overturns voting"
    );
    assert!(log.contains(&format!("Delta: {delta}. (Total: 5)")), "{log}");
    // For the record (`--nocapture`): upstream's own summary lines.
    for l in log
        .lines()
        .filter(|l| l.starts_with("Applying") || l.starts_with("Delta"))
    {
        eprintln!("rerank.py: {l}");
    }
}
