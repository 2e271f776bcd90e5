//! Six real SWE-bench Verified instances (requests 2.26 / 2.27, pytest 6.2 / 6.3, SymPy 1.12),
//! end to end, under agentless-mini and under the official harness 4.1.0 and 5.0.2 on the
//! same replica images: `scripts/real-instances.py all` builds the images (cached by a
//! fingerprint of their recipe) and compares verdicts, `report.json`, the `report:` line of
//! `run_instance.log`, the tree after the patch is applied and the run report's keys, for
//! gold, empty, no-op and edge-case patches. The requests instances also run with
//! `--network none`, which must fail their re-install and report it.
//!
//! Needs Docker, debootstrap, the real repositories in `../shared/data/real-repos`, the
//! parity venvs (`SWEBENCH4_PYTHON`, `SWEBENCH5_PYTHON`) and, for the first build, the
//! Python package index and Debian's mirror on the host. It FAILS when any of them is missing.
//!
//! Not part of the default test run (CI) yet: with one call per harness and version and the
//! two harnesses side by side it still took over 17 minutes warm on a loaded 2-core machine
//! (v4 alone ~18 min), past CI's budget. Run it with
//! `cargo test --test real_instances -- --ignored` (after `scripts/real-instances.py build`
//! to warm the image cache, which the test waits for through a lock). Timings: see README.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{bin_path, root};

#[test]
#[ignore = "over 17 min on 2 cores: too long for CI yet; run with --ignored"]
fn real_instances_agree_with_the_official_harness() {
    for var in ["SWEBENCH4_PYTHON", "SWEBENCH5_PYTHON"] {
        let p = std::env::var(var).unwrap_or_else(|_| panic!("{var} must name the parity venv's python"));
        assert!(PathBuf::from(&p).exists(), "{var}={p} does not exist");
    }
    let out = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let status = Command::new("python3")
        .arg(root().join("scripts/real-instances.py"))
        .args(["all", "--bin", bin_path(), "--out"])
        .arg(out.path())
        .status()
        .expect("python3 runs scripts/real-instances.py");
    let text = match std::fs::read_to_string(out.path().join("summary.json")) {
        Ok(text) => text,
        Err(e) => panic!("scripts/real-instances.py wrote no summary ({e}); it exited with {status} (stderr above)"),
    };
    let summary: serde_json::Value = serde_json::from_str(&text).expect("summary is JSON");
    assert!(status.success(), "differences: {:#}", summary["differences"]);
    assert_eq!(summary["differences"], serde_json::json!([]));
    let runs = &summary["runs"];
    for kind in ["gold", "empty", "noop", "edge"] {
        let table = runs[kind].as_object().unwrap_or_else(|| panic!("no {kind} run"));
        assert_eq!(table.len(), 6, "{kind}: {table:?}");
        for (id, row) in table {
            // Both harnesses gave a verdict, and the same one (the script compared the files).
            for v in ["4", "5"] {
                assert_eq!(row[format!("official{v}")], row[format!("ours{v}")], "{kind} {id} v{v}");
            }
        }
    }
    // The empty patch is never run (no log folder on either side); gold patches are applied
    // by both; SymPy's gold patches resolve (the pytest 6.x instances cannot run on the
    // replicas' Python 3.11, the same way under both harnesses).
    for (id, row) in runs["empty"].as_object().expect("empty") {
        assert_eq!(row["ours4"], "not-run", "{id}: an empty patch is not run");
    }
    for id in ["sympy__sympy-24066", "sympy__sympy-24213"] {
        assert_eq!(runs["gold"][id]["ours4"], "resolved", "{id}");
    }
    // The patch given twice: 4.x applies it, 5.x does not (both officials agree with us).
    let twice = &runs["edge"]["psf__requests-6028"];
    assert_eq!(
        (&twice["apply4"], &twice["apply5"]),
        (&"applied".into(), &"failed".into())
    );
    for (id, row) in runs["gold"].as_object().expect("gold") {
        assert_ne!(row["ours4"], "not-applied", "{id}");
        assert_eq!(row["apply4"], "applied", "{id}");
    }
    // The default network lets the requests re-install work; --network none breaks it, and
    // the log says so.
    for (id, row) in runs["gold"].as_object().expect("gold") {
        if id.starts_with("psf__") {
            assert_eq!(row["ours4-reinstall"], "ok", "{id}");
            assert_eq!(row["ours4-network-none-reinstall"], "failed", "{id}");
            let kinds = row["ours4-network-none-findings"].as_array().expect("findings");
            assert!(kinds.iter().any(|k| k == "reinstall_failed"), "{id}: {kinds:?}");
        }
    }
    // ... and the tests themselves ran with no network (requests-5414's timeout tests connect).
    let r5414 = &runs["gold"]["psf__requests-5414"];
    assert_eq!(r5414["ours4-tests-network"], "unreachable", "{r5414}");
    eprintln!(
        "real instances: {:.0} s in all ({:#})",
        started.elapsed().as_secs_f64(),
        summary["timings"]
    );
}
