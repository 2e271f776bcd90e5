//! `agentless-mini grade` end to end: the official oracle logs re-graded byte for byte (4.x
//! against the stored reports, 5.x against the official 5.x package run side by side), and
//! bad inputs (empty, truncated, binary, non-UTF-8, marker-less, huge, missing, unknown)
//! that must give a verdict or an error naming the instance, never a panic.

use std::path::Path;
use std::process::Command;

use crate::common::{bin, oracle_logs as oracle, parity_python, root, verified_parquet as verified};

fn grade(logs: &Path, out: &Path, mode: &str) -> std::process::Output {
    bin()
        .args(["grade", "--dataset"])
        .arg(verified())
        .arg("--logs")
        .arg(logs)
        .arg("--out")
        .arg(out)
        .args(["--grading", mode])
        .output()
        .expect("run agentless-mini")
}

fn instance_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn oracle_logs_regrade_to_the_official_reports_byte_for_byte() {
    let out = tempfile::tempdir().expect("tmp");
    let o = grade(&oracle(), out.path(), "v4");
    assert!(
        o.status.success(),
        "grade failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ids = instance_dirs(&oracle());
    assert_eq!(ids.len(), 71);
    for id in &ids {
        let want = std::fs::read_to_string(oracle().join(id).join("report.json")).expect("official report");
        let got = std::fs::read_to_string(out.path().join(id).join("report.json")).expect("our report");
        assert_eq!(got, want, "report.json differs for {id}");
    }
    // The run report covers the whole dataset, with the official key order and sorted ids.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("run-report.json")).expect("run report"))
            .expect("json");
    assert_eq!(run["total_instances"], 500);
    assert_eq!(run["submitted_instances"], 71);
    assert_eq!(run["completed_instances"], 71);
    let official: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(oracle().join("run-report.json")).expect("official run report"))
            .expect("json");
    let official_resolved: Vec<&str> = official["resolved_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for id in run["resolved_ids"].as_array().expect("ids") {
        assert!(
            official_resolved.contains(&id.as_str().expect("str")),
            "{id} resolved here but not officially"
        );
    }
    // The official keys in 4.1.0's order without a Docker client (`unstopped_*` after
    // `schema_version`, as its `make_run_report` appends them; the oracle's own run report,
    // from an older writer, has the same keys with those before it), then the integrity keys.
    let keys: Vec<&str> = run.as_object().expect("obj").keys().map(String::as_str).collect();
    let mut oracle_keys: Vec<&str> = official.as_object().expect("obj").keys().map(String::as_str).collect();
    let mut v410 = OFFICIAL_410_KEYS.to_vec();
    oracle_keys.sort_unstable();
    v410.sort_unstable();
    assert_eq!(oracle_keys, v410, "the oracle's key set");
    assert_eq!(
        keys[..OFFICIAL_410_KEYS.len()],
        OFFICIAL_410_KEYS[..],
        "run report keys/order differ from the official schema"
    );
    assert_eq!(keys[OFFICIAL_410_KEYS.len()..], ["flagged_instances", "flagged_ids"]);
}

#[test]
fn v5_grading_matches_the_official_5x_package() {
    let py = parity_python("SWEBENCH5_PYTHON", "swebench5");
    let theirs = tempfile::tempdir().expect("tmp");
    let st = Command::new(&py)
        .arg(root().join("scripts/official_grade.py"))
        .arg(verified())
        .arg(oracle())
        .arg(theirs.path())
        .status()
        .expect("run official grader");
    assert!(st.success());
    let ours = tempfile::tempdir().expect("tmp");
    let o = grade(&oracle(), ours.path(), "v5");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut flipped = 0;
    for id in instance_dirs(&oracle()) {
        let want = std::fs::read_to_string(theirs.path().join(&id).join("report.json")).expect("official v5");
        let got = std::fs::read_to_string(ours.path().join(&id).join("report.json")).expect("ours v5");
        assert_eq!(got, want, "v5 report.json differs for {id}");
        let v4 = std::fs::read_to_string(oracle().join(&id).join("report.json")).expect("v4");
        if v4.contains("\"patch_successfully_applied\": true") && got.contains("\"patch_successfully_applied\": false")
        {
            flipped += 1;
        }
    }
    assert_eq!(flipped, 1, "exactly sphinx-9711 flips to not-applied under 5.x");
}

fn write(dir: &Path, id: &str, log: &[u8], patch: Option<&str>) {
    let d = dir.join(id);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("test_output.txt"), log).expect("write log");
    if let Some(p) = patch {
        std::fs::write(d.join("patch.diff"), p).expect("write patch");
    }
}

fn report(out: &Path, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join(id).join("report.json")).unwrap_or_else(|e| panic!("{id}: {e}"));
    serde_json::from_str::<serde_json::Value>(&text).expect("json")[id].clone()
}

#[test]
fn bad_logs_get_a_verdict_or_an_error_that_names_them() {
    let logs = tempfile::tempdir().expect("tmp");
    let good_id = "django__django-10880";
    let good = std::fs::read(oracle().join(good_id).join("test_output.txt")).expect("oracle log");
    let patch = std::fs::read_to_string(oracle().join(good_id).join("patch.diff")).expect("patch");
    // Real log, but with invalid UTF-8 bytes sprinkled in a non-result line: still graded.
    let mut not_utf8 = good.clone();
    let at = not_utf8.iter().position(|&b| b == b'\n').expect("newline");
    not_utf8.splice(at..at, [0xff, 0xfe, 0x80]);
    write(logs.path(), good_id, &not_utf8, Some(&patch));
    // Empty, truncated (no end marker), binary, marker-less.
    write(logs.path(), "django__django-11133", b"", Some(&patch));
    write(
        logs.path(),
        "django__django-11206",
        &good[..good.len() / 2],
        Some(&patch),
    );
    let binary: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(logs.path(), "django__django-11728", &binary, Some(&patch));
    write(
        logs.path(),
        "django__django-11740",
        b"PASSED a\nFAILED b - c\n",
        Some(&patch),
    );
    // Huge: ~40 MB of test output between the markers.
    let mut huge = b"+ : '>>>>> Start Test Output'\n".to_vec();
    let line = b"test_something_long_enough_to_matter (module.tests.SomeTestCase) ... ok\n";
    while huge.len() < 40 << 20 {
        huge.extend_from_slice(line);
    }
    huge.extend_from_slice(b"+ : '>>>>> End Test Output'\n");
    write(logs.path(), "django__django-11815", &huge, Some(&patch));
    // Blank patch = no patch.
    write(logs.path(), "django__django-11820", &good, Some("  \n"));
    // Not in the dataset; and a folder without a log.
    write(logs.path(), "nobody__nothing-1", &good, Some(&patch));
    std::fs::create_dir_all(logs.path().join("django__django-12273")).expect("mkdir");

    let out = tempfile::tempdir().expect("tmp");
    let o = grade(logs.path(), out.path(), "v4");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "partial errors exit 3; stderr: {stderr}");
    assert!(
        stderr.contains("nobody__nothing-1") && stderr.contains("not in the dataset"),
        "{stderr}"
    );
    assert!(
        stderr.contains("django__django-12273") && stderr.contains("test_output.txt"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let official = std::fs::read_to_string(oracle().join(good_id).join("report.json")).expect("official");
    let got = std::fs::read_to_string(out.path().join(good_id).join("report.json")).expect("ours");
    assert_eq!(got, official, "stray invalid bytes must not change the verdict");
    for id in [
        "django__django-11133",
        "django__django-11206",
        "django__django-11728",
        "django__django-11740",
    ] {
        let r = report(out.path(), id);
        assert_eq!(r["patch_successfully_applied"], false, "{id}: {r}");
        assert_eq!(r["resolved"], false, "{id}");
        assert!(r.get("tests_status").is_none(), "{id}");
    }
    let r = report(out.path(), "django__django-11815");
    assert_eq!(r["patch_successfully_applied"], true);
    assert_eq!(r["resolved"], false, "the real F2P tests are missing from the huge log");
    let r = report(out.path(), "django__django-11820");
    assert_eq!(r["patch_is_None"], true);
    assert_eq!(r["patch_exists"], false);
    assert!(!out.path().join("nobody__nothing-1").exists());
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("run-report.json")).expect("run")).expect("json");
    assert_eq!(run["error_ids"], serde_json::json!(["django__django-12273"]));
    assert_eq!(run["empty_patch_ids"], serde_json::json!(["django__django-11820"]));
}

#[test]
fn a_missing_dataset_or_logs_folder_is_a_clear_error() {
    let out = tempfile::tempdir().expect("tmp");
    let o = grade(Path::new("/nonexistent/logs"), out.path(), "v4");
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("/nonexistent/logs"), "{e}");
    let o = grade(&oracle(), out.path(), "v7");
    assert_eq!(o.status.code(), Some(2), "bad --grading is a usage error");
}

/// The run report keys of swebench 4.1.0's `make_run_report` without a Docker client.
const OFFICIAL_410_KEYS: [&str; 18] = [
    "total_instances",
    "submitted_instances",
    "completed_instances",
    "resolved_instances",
    "unresolved_instances",
    "empty_patch_instances",
    "error_instances",
    "completed_ids",
    "incomplete_ids",
    "empty_patch_ids",
    "submitted_ids",
    "resolved_ids",
    "unresolved_ids",
    "error_ids",
    "schema_version",
    "unstopped_instances",
    "unstopped_containers",
    "unremoved_images",
];
