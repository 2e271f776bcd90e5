//! `agentless-mini evaluate` and `clean` end to end on the real Docker engine: the demo
//! split's gold patches resolve and re-grade byte for byte; wrong, empty, unappliable and
//! escaping patches and a hanging test get the official verdicts; SIGTERM mid-run removes
//! every container and a re-run finishes only the rest. After each test no container
//! labelled with its run id remains.
//!
//! These tests FAIL (they do not skip) when the Docker engine is unreachable.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::evaluate::network::gate_script;
use agentless_harness::images;
use agentless_harness::integrity::record::{instrument_eval_script, tracked_files};
use agentless_harness::sandbox::DockerEnv;

use common::docker::{containers_of, prepare_images as prepare, runtime, unique};
use common::{bin_path as bin, demo_jsonl, demo_repos, read_json, root, text};

fn mini() -> PathBuf {
    root().join("harness/tests/fixtures/mini")
}

/// The images of the demo split and of the harness's `mini` fixture, built once.
fn prepare_images() {
    prepare(&[
        (demo_jsonl(), demo_repos()),
        (mini().join("instances.jsonl"), mini().join("repos")),
    ]);
}

fn evaluate(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(cwd)
        .arg("evaluate")
        .args(args)
        .output()
        .expect("run agentless-mini")
}

fn ids(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|x| x.as_str().expect("str").to_owned())
        .collect()
}

fn write_predictions(dir: &Path, model: &str, preds: &[(&str, Option<&str>)]) -> PathBuf {
    let path = dir.join("preds.jsonl");
    let lines: Vec<String> = preds
        .iter()
        .map(|(id, patch)| {
            serde_json::json!({"instance_id": id, "model_name_or_path": model, "model_patch": patch}).to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write predictions");
    path
}

#[test]
fn demo_gold_patches_resolve_and_regrade_byte_for_byte() {
    prepare_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let run = unique("gold");
    let o = evaluate(
        tmp.path(),
        &[
            "--split",
            "demo",
            "--predictions",
            "gold",
            "--run-id",
            &run,
            "--workers",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let demo = load_dataset(&demo_jsonl()).expect("demo");
    assert!(demo.len() >= 3);
    let report_path = tmp.path().join(format!("gold.{run}.json"));
    let raw = std::fs::read_to_string(&report_path).expect("run report");
    assert!(raw.ends_with("}\n"), "the official run report ends with a newline");
    let report = read_json(&report_path);
    let all: Vec<String> = demo.iter().map(|i| i.instance_id.clone()).collect();
    assert_eq!(ids(&report, "resolved_ids"), all, "{raw}");
    assert_eq!(report["error_instances"], 0);
    // The official schema: the keys of a real 4.x run report in the same order, less the
    // `unstopped_*` ones (4.1.0 writes them only without a Docker client), then the
    // integrity keys.
    let official = read_json(&root().join("../shared/data/oracle-logs/run-report.json"));
    let keys = |v: &serde_json::Value| v.as_object().expect("obj").keys().cloned().collect::<Vec<_>>();
    let mut want: Vec<String> = keys(&official)
        .into_iter()
        .filter(|k| !k.starts_with("unstopped_") && k != "unremoved_images")
        .collect();
    want.extend(["flagged_instances".to_owned(), "flagged_ids".to_owned()]);
    assert_eq!(keys(&report), want);
    assert_eq!(report["flagged_instances"], 0, "gold patches are not flagged");

    // Each instance folder holds the official files; re-grading test_output.txt with
    // `agentless-mini grade` gives the same report.json, byte for byte.
    let logs = tmp.path().join("logs/run_evaluation").join(&run).join("gold");
    for id in &all {
        for f in [
            "patch.diff",
            "eval.sh",
            "test_output.txt",
            "report.json",
            "run_instance.log",
        ] {
            assert!(logs.join(id).join(f).is_file(), "{id}/{f} missing");
        }
        let inst: &Instance = demo.iter().find(|i| &i.instance_id == id).expect("inst");
        // The dataset's script, gated (the network goes before the tests) and instrumented
        // (exit code, tracked file states).
        let script = inst.eval_script.as_deref().unwrap_or_default();
        assert_eq!(
            std::fs::read_to_string(logs.join(id).join("eval.sh")).expect("eval.sh"),
            instrument_eval_script(
                &gate_script(script).expect("the demo scripts have a start marker"),
                &tracked_files(&inst.test_patch, &inst.patch)
            )
        );
        assert_eq!(
            std::fs::read_to_string(logs.join(id).join("patch.diff")).expect("patch"),
            inst.patch
        );
    }
    let regraded = tmp.path().join("regraded");
    let g = Command::new(bin())
        .args(["grade", "--dataset"])
        .arg(demo_jsonl())
        .arg("--logs")
        .arg(&logs)
        .arg("--out")
        .arg(&regraded)
        .output()
        .expect("grade");
    assert!(g.status.success(), "{}", text(&g));
    for id in &all {
        let ours = std::fs::read(logs.join(id).join("report.json")).expect("ours");
        let again = std::fs::read(regraded.join(id).join("report.json")).expect("regraded");
        assert_eq!(ours, again, "{id}");
    }
    assert_eq!(containers_of(&run), Vec::<String>::new());

    // Same run id, same inputs: everything is resumed, nothing runs again.
    let log_before = std::fs::metadata(logs.join(&all[0]).join("run_instance.log"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let again = evaluate(
        tmp.path(),
        &["--split", "demo", "--predictions", "gold", "--run-id", &run],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("({} resumed", all.len())),
        "{}",
        text(&again)
    );
    let log_after = std::fs::metadata(logs.join(&all[0]).join("run_instance.log"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(log_before, log_after);
    assert_eq!(std::fs::read_to_string(&report_path).expect("report"), raw);
}

const NEW_FILE_PATCH: &str = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+nothing fixed here\n";
const UNAPPLIABLE_PATCH: &str = "diff --git a/setup.py b/setup.py\n--- a/setup.py\n+++ b/setup.py\n@@ -10,3 +10,3 @@\n this context\n-does not exist\n+anywhere\n";
const ESCAPING_PATCH: &str = "diff --git a/../../etc/agentless b/../../etc/agentless\nnew file mode 100644\n--- /dev/null\n+++ b/../../etc/agentless\n@@ -0,0 +1 @@\n+owned\n";

#[test]
fn wrong_empty_unappliable_and_escaping_patches_get_the_official_verdicts() {
    prepare_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let demo = load_dataset(&demo_jsonl()).expect("demo");
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| demo[i].instance_id.as_str());
    let preds = write_predictions(
        tmp.path(),
        "org/model",
        &[
            (a, Some(NEW_FILE_PATCH)),
            (b, Some("")),
            (c, Some(UNAPPLIABLE_PATCH)),
            (d, Some(ESCAPING_PATCH)),
        ],
    );
    let run = unique("verdicts");
    let o = evaluate(
        tmp.path(),
        &[
            "--split",
            "demo",
            "--predictions",
            preds.to_str().expect("utf8"),
            "--run-id",
            &run,
            "--json",
            "summary.json",
        ],
    );
    // Verdicts about patches are results, not tool failures: exit 0, counted as unresolved.
    assert!(o.status.success(), "{}", text(&o));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.contains("3 unresolved (2 of them: patch did not apply, was refused")
            && summary.contains("0 harness errors"),
        "{}",
        text(&o)
    );
    let report = read_json(&tmp.path().join(format!("org__model.{run}.json")));
    // The --json summary agrees with the run report and the exit code.
    let summary = read_json(&tmp.path().join("summary.json"));
    assert_eq!(summary["command"], "evaluate");
    assert_eq!(summary["run_id"], run.as_str());
    assert_eq!(
        i64::from(o.status.code().expect("code")),
        summary["exit_code"].as_i64().expect("n")
    );
    let counts = &summary["evaluation"];
    assert_eq!(
        [
            &counts["evaluated"],
            &counts["resolved"],
            &counts["unresolved"],
            &counts["errors"],
            &counts["empty_patches"]
        ],
        // The unappliable and the refused patch are unresolved results, not harness errors.
        [4, 0, 3, 0, 1],
        "{summary}"
    );
    let named = tmp
        .path()
        .join(summary["paths"]["report"].as_str().expect("report path"));
    assert_eq!(
        named.canonicalize().expect("the named report exists"),
        tmp.path()
            .join(format!("org__model.{run}.json"))
            .canonicalize()
            .expect("report"),
        "{summary}"
    );
    assert_eq!(ids(&report, "unresolved_ids"), vec![a.to_owned()]);
    assert_eq!(ids(&report, "empty_patch_ids"), vec![b.to_owned()]);
    let mut errors = vec![c.to_owned(), d.to_owned()];
    errors.sort();
    assert_eq!(ids(&report, "error_ids"), errors);
    assert_eq!(report["completed_instances"], 1);
    assert_eq!(report["submitted_instances"], 4);

    let logs = tmp.path().join("logs/run_evaluation").join(&run).join("org__model");
    // Wrong patch: graded, F2P failing.
    let ra = read_json(&logs.join(a).join("report.json"));
    assert_eq!(ra[a]["resolved"], false);
    assert_eq!(ra[a]["patch_successfully_applied"], true);
    assert!(
        !ra[a]["tests_status"]["FAIL_TO_PASS"]["failure"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    // Empty patch: not run at all.
    assert!(!logs.join(b).exists());
    // Unappliable: the cascade ran, "Patch Apply Failed", no report.
    let lc = std::fs::read_to_string(logs.join(c).join("run_instance.log")).expect("log");
    assert!(
        lc.contains("Failed to apply patch to container: git apply --verbose\n"),
        "{lc}"
    );
    assert!(
        lc.contains("Failed to apply patch to container: patch --batch --fuzz=5 -p1 -i"),
        "{lc}"
    );
    assert!(lc.contains(">>>>> Patch Apply Failed"), "{lc}");
    assert!(!logs.join(c).join("report.json").exists());
    // Escaping: refused before any container existed.
    let ld = std::fs::read_to_string(logs.join(d).join("run_instance.log")).expect("log");
    assert!(
        ld.contains("patch refused") && ld.contains("../../etc/agentless"),
        "{ld}"
    );
    assert!(!ld.contains("Creating container"), "{ld}");
    assert!(!logs.join(d).join("report.json").exists());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("patch refused"),
        "{}",
        text(&o)
    );
    assert_eq!(containers_of(&run), Vec::<String>::new());
}

/// A patch that makes `count_words` loop forever (the fixture's tests then hang).
fn hanging_patch() -> String {
    let inst = &load_dataset(&mini().join("instances.jsonl")).expect("mini")[0];
    let patch = inst
        .patch
        .replace("+    return len(text.split())", "+    while True:\n+        pass")
        .replace("@@ -2,7 +2,7 @@", "@@ -2,7 +2,8 @@");
    assert!(
        patch.contains("while True") && patch.contains("+2,8 @@"),
        "the fixture's gold patch changed: {patch}"
    );
    patch
}

#[test]
fn a_hanging_test_is_killed_at_the_timeout() {
    prepare_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let patch = hanging_patch();
    let preds = write_predictions(tmp.path(), "m", &[("agentless-demo__textkit-1", Some(&patch))]);
    let dataset = mini().join("instances.jsonl");
    let run = unique("timeout");
    let t = Instant::now();
    let o = evaluate(
        tmp.path(),
        &[
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            preds.to_str().expect("utf8"),
            "--run-id",
            &run,
            "--timeout",
            "4",
        ],
    );
    let took = t.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    // The patched tests never end by themselves; the timeout line below shows the kill came at
    // 4 s. The wall-time bound only says the run did not wait for anything else that long
    // (containers start slowly on a loaded machine: no tighter bound).
    assert!(took < Duration::from_secs(120), "{took:?}");
    let dir = tmp
        .path()
        .join("logs/run_evaluation")
        .join(&run)
        .join("m/agentless-demo__textkit-1");
    let out = std::fs::read_to_string(dir.join("test_output.txt")).expect("test output");
    assert!(out.contains(">>>>> Start Test Output"), "{out}");
    assert!(out.ends_with("\n\nTimeout error: 4 seconds exceeded."), "{out}");
    assert!(!dir.join("report.json").exists());
    let report = read_json(&tmp.path().join(format!("m.{run}.json")));
    assert_eq!(ids(&report, "error_ids"), vec!["agentless-demo__textkit-1".to_owned()]);
    assert_eq!(
        containers_of(&run),
        Vec::<String>::new(),
        "the container is really gone"
    );
}

#[test]
fn sigterm_mid_run_removes_containers_and_a_rerun_finishes_only_the_rest() {
    prepare_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let mini_ds = load_dataset(&mini().join("instances.jsonl")).expect("mini");
    let (first, second) = (&mini_ds[0], &mini_ds[1]);
    let hang = hanging_patch();
    // The second instance hangs (its tests call count_words through the patched module).
    let preds = write_predictions(
        tmp.path(),
        "m",
        &[
            (&first.instance_id, Some(&first.patch)),
            (&second.instance_id, Some(&hang)),
        ],
    );
    let dataset = mini().join("instances.jsonl");
    let run = unique("sigterm");
    let child = Command::new(bin())
        .current_dir(tmp.path())
        .args([
            "evaluate",
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            preds.to_str().expect("utf8"),
        ])
        .args(["--run-id", &run, "--workers", "1", "--timeout", "600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let logs = tmp.path().join("logs/run_evaluation").join(&run).join("m");
    let first_report = logs.join(&first.instance_id).join("report.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    // Wait until the first instance is finished and the second one's container runs.
    loop {
        assert!(Instant::now() < deadline, "the run did not reach the second instance");
        if first_report.exists()
            && containers_of(&run).len() == 1
            && logs.join(&second.instance_id).join("eval.sh").exists()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let t = Instant::now();
    let out = child.wait_with_output().expect("wait");
    // The hanging tests would hold the run until their 600 s timeout; stopping takes seconds.
    assert!(t.elapsed() < Duration::from_secs(120), "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert_eq!(
        containers_of(&run),
        Vec::<String>::new(),
        "SIGTERM left containers behind"
    );
    assert!(
        !tmp.path().join(format!("m.{run}.json")).exists(),
        "no run report for an interrupted run"
    );
    assert!(first_report.exists());
    assert!(!logs.join(&second.instance_id).join("report.json").exists());

    // Re-run: the first instance (same inputs) is skipped; the second (now a fixing patch:
    // changed inputs) runs.
    let log_first = std::fs::metadata(logs.join(&first.instance_id).join("run_instance.log"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let preds = write_predictions(
        tmp.path(),
        "m",
        &[
            (&first.instance_id, Some(&first.patch)),
            (&second.instance_id, Some(&second.patch)),
        ],
    );
    let o = evaluate(
        tmp.path(),
        &[
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            preds.to_str().expect("utf8"),
            "--run-id",
            &run,
            "--workers",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("(1 resumed"),
        "{}",
        text(&o)
    );
    let after = std::fs::metadata(logs.join(&first.instance_id).join("run_instance.log"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(log_first, after, "the finished instance was run again");
    let report = read_json(&tmp.path().join(format!("m.{run}.json")));
    assert_eq!(
        ids(&report, "resolved_ids"),
        vec![first.instance_id.clone(), second.instance_id.clone()]
    );

    // A changed patch for a finished instance is re-run, not resumed.
    let wrong = write_predictions(
        tmp.path(),
        "m",
        &[
            (&first.instance_id, Some(NEW_FILE_PATCH)),
            (&second.instance_id, Some(&second.patch)),
        ],
    );
    let o = evaluate(
        tmp.path(),
        &[
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            wrong.to_str().expect("utf8"),
            "--run-id",
            &run,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report = read_json(&tmp.path().join(format!("m.{run}.json")));
    assert_eq!(ids(&report, "resolved_ids"), vec![second.instance_id.clone()]);
    assert_eq!(ids(&report, "unresolved_ids"), vec![first.instance_id.clone()]);
    assert_eq!(containers_of(&run), Vec::<String>::new());
}

#[test]
fn ctrl_c_removes_the_running_container() {
    prepare_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let preds = write_predictions(
        tmp.path(),
        "m",
        &[("agentless-demo__textkit-1", Some(&hanging_patch()))],
    );
    let dataset = mini().join("instances.jsonl");
    let run = unique("sigint");
    let child = Command::new(bin())
        .current_dir(tmp.path())
        .args([
            "evaluate",
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            preds.to_str().expect("utf8"),
        ])
        .args(["--run-id", &run, "--timeout", "600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let eval_sh = tmp
        .path()
        .join("logs/run_evaluation")
        .join(&run)
        .join("m/agentless-demo__textkit-1/eval.sh");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(eval_sh.exists() && containers_of(&run).len() == 1) {
        assert!(Instant::now() < deadline, "the tests never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("interrupted"),
        "{}",
        text(&out)
    );
    assert_eq!(
        containers_of(&run),
        Vec::<String>::new(),
        "Ctrl-C left containers behind"
    );
}

#[test]
fn clean_removes_containers_left_by_a_crash() {
    prepare_images();
    let run = unique("crash");
    runtime().block_on(async {
        let env = DockerEnv::connect().await.expect("docker");
        let sb = agentless_harness::sandbox::Sandbox::start(
            &env,
            images::DEMO_BASE_IMAGE,
            &agentless_harness::sandbox::SandboxOptions::new(&run),
        )
        .await
        .expect("start");
        // A crash: the process goes away without removing its container.
        std::mem::forget(sb);
    });
    assert_eq!(containers_of(&run).len(), 1);
    let o = Command::new(bin())
        .args(["clean", "--run-id", &run])
        .output()
        .expect("clean");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("removed 1 container(s)"),
        "{}",
        text(&o)
    );
    assert_eq!(containers_of(&run), Vec::<String>::new());
}

#[test]
fn an_unreachable_engine_is_a_clear_error_naming_docker_host() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = Command::new(bin())
        .current_dir(tmp.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["evaluate", "--split", "demo", "--predictions", "gold", "--run-id", "x"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("DOCKER_HOST") && err.contains("unix:///nonexistent/docker.sock"),
        "{err}"
    );
}

#[test]
fn bad_predictions_are_errors_before_anything_runs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"instance_id\": \"agentless-demo__textkit-1\", \"model_name_or_path\": \"m\", \"model_patch\": \"\"}\n{broken\n").expect("write");
    let dataset = mini().join("instances.jsonl");
    let run = |preds: &Path| {
        Command::new(bin())
            .current_dir(tmp.path())
            .args([
                "evaluate",
                "--dataset",
                dataset.to_str().expect("utf8"),
                "--run-id",
                "r",
                "--predictions",
            ])
            .arg(preds)
            .output()
            .expect("run")
    };
    let o = run(&bad);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 2"), "{}", text(&o));
    let unknown = write_predictions(tmp.path(), "m", &[("nope__nope-1", Some("x"))]);
    let o = run(&unknown);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nope__nope-1"),
        "{}",
        text(&o)
    );
    let o = Command::new(bin())
        .current_dir(tmp.path())
        .args([
            "evaluate",
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            "gold",
            "--run-id",
            "../escape",
        ])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!tmp.path().join("logs").exists(), "nothing written for bad input");
}

/// A patch whose code fills the disk slowly while the tests run (1 MiB every 50 ms, for 30 s:
/// the watchdog has time to measure even on a loaded machine).
fn disk_filling_patch() -> String {
    let inst = &load_dataset(&mini().join("instances.jsonl")).expect("mini")[0];
    let patch = inst
        .patch
        .replace(
            "+    return len(text.split())",
            "+    import time\n+    for i in range(600):\n+        open('/fill%d' % i, 'wb').write(b'x' * (1 << 20))\n+        time.sleep(0.05)\n+    return len(text.split())",
        )
        .replace("@@ -2,7 +2,7 @@", "@@ -2,7 +2,11 @@");
    assert!(
        patch.contains("/fill") && patch.contains("+2,11 @@"),
        "the fixture's gold patch changed: {patch}"
    );
    patch
}

#[test]
fn a_patch_filling_the_disk_is_stopped_and_reported_as_such() {
    prepare_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let patch = disk_filling_patch();
    let id = "agentless-demo__textkit-1";
    let preds = write_predictions(tmp.path(), "m", &[(id, Some(&patch))]);
    let dataset = mini().join("instances.jsonl");
    let run = unique("harden-disk");
    let o = evaluate(
        tmp.path(),
        &[
            "--dataset",
            dataset.to_str().expect("utf8"),
            "--predictions",
            preds.to_str().expect("utf8"),
            "--run-id",
            &run,
            "--disk",
            "48m",
            "--timeout",
            "120",
        ],
    );
    // A limit the patch's run hit is a model failure: unresolved, exit 0.
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("over the disk limit of 48 MiB"),
        "{}",
        text(&o)
    );
    let report = read_json(&tmp.path().join(format!("m.{run}.json")));
    assert_eq!(ids(&report, "disk_limit_ids"), vec![id.to_owned()]);
    assert_eq!(ids(&report, "error_ids"), vec![id.to_owned()]);
    let dir = tmp.path().join("logs/run_evaluation").join(&run).join("m").join(id);
    let out = std::fs::read_to_string(dir.join("test_output.txt")).expect("test output");
    assert!(
        out.contains("\n\nDisk limit error: the container's writable layer reached"),
        "{out}"
    );
    let log = std::fs::read_to_string(dir.join("run_instance.log")).expect("log");
    assert!(log.contains("Disk limit exceeded:"), "{log}");
    assert!(!dir.join("report.json").exists());
    assert_eq!(containers_of(&run), Vec::<String>::new());
}

#[test]
fn a_harness_failure_exits_3() {
    // The image cannot be had (nothing listens on that registry): the harness failed, not the
    // patch, so the run finishes with exit code 3.
    let tmp = tempfile::tempdir().expect("tmp");
    let demo = load_dataset(&demo_jsonl()).expect("demo");
    let id = demo[0].instance_id.as_str();
    let run = unique("harden-infra");
    let o = evaluate(
        tmp.path(),
        &[
            "--split",
            "demo",
            "--instances",
            id,
            "--predictions",
            "gold",
            "--run-id",
            &run,
            "--namespace",
            "127.0.0.1:9/harden-nothing",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 harness errors"),
        "{}",
        text(&o)
    );
    assert_eq!(containers_of(&run), Vec::<String>::new());
}

#[test]
fn clean_removes_only_the_given_run_unless_all() {
    prepare_images();
    let (mine, other) = (unique("harden-clean-mine"), unique("harden-clean-other"));
    runtime().block_on(async {
        let env = DockerEnv::connect().await.expect("docker");
        for run in [&mine, &other] {
            let sb = agentless_harness::sandbox::Sandbox::start(
                &env,
                images::DEMO_BASE_IMAGE,
                &agentless_harness::sandbox::SandboxOptions::new(run.as_str()),
            )
            .await
            .expect("start");
            std::mem::forget(sb);
        }
    });
    // Without --run-id or --all: a usage error, nothing removed.
    let o = Command::new(bin()).arg("clean").output().expect("clean");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(containers_of(&mine).len(), 1);
    assert_eq!(containers_of(&other).len(), 1);
    let o = Command::new(bin())
        .args(["clean", "--run-id", &mine])
        .output()
        .expect("clean");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(containers_of(&mine), Vec::<String>::new());
    assert_eq!(containers_of(&other).len(), 1, "another run's container was removed");
    // (`--all` is not run here: on a shared engine it would remove other users' containers.)
    runtime().block_on(async {
        let env = DockerEnv::connect().await.expect("docker");
        env.remove_labelled(Some(&other)).await.expect("remove");
    });
    assert_eq!(containers_of(&other), Vec::<String>::new());
}
