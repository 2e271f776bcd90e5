//! Resume: the pipeline against a real OpenAI-compatible HTTP server on loopback that counts
//! requests (no Docker: `eval --no-repro --no-regression --no-evaluate` runs localize, repair
//! and rerank). A finished run re-run asks nothing; a run killed (SIGKILL) mid-repair loses
//! no finished sample — the re-run asks exactly for the missing ones; changing the repair
//! temperature redoes repair only; asking for more samples asks only for the new ones.

#![allow(clippy::unwrap_used, reason = "test helpers: any failure is the test failing")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use crate::common::{bin, openai, run_ok};

#[derive(Default)]
struct Counts {
    localize: AtomicUsize,
    repair: AtomicUsize,
    /// Repair requests beyond this many are never answered (0: no limit).
    hang_after: AtomicUsize,
    /// Repair requests fail with a 503 (the client retries those while it may).
    fail_repair: AtomicBool,
}

const REPAIR_ANSWER: &str = "Fix the week end.\n\n```python\n### datespan/parse.py\n<<<<<<< SEARCH\n    return DateSpan(monday, monday + timedelta(days=7))\n=======\n    return DateSpan(monday, monday + timedelta(days=6))\n>>>>>>> REPLACE\n```\n";

async fn chat(c: Arc<Counts>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
    let text = if prompt.contains("### Repository Structure ###") {
        c.localize.fetch_add(1, Ordering::SeqCst);
        "```\ndatespan/parse.py\ndatespan/span.py\n```".to_owned()
    } else if c.fail_repair.load(Ordering::SeqCst) {
        c.repair.fetch_add(1, Ordering::SeqCst);
        return openai::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded (test server)",
            "server_error",
        );
    } else {
        let n = c.repair.fetch_add(1, Ordering::SeqCst) + 1;
        let limit = c.hang_after.load(Ordering::SeqCst);
        if limit > 0 && n > limit {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        REPAIR_ANSWER.to_owned()
    };
    openai::completion("x", "counting", &[text], (100, 10))
}

/// The loopback server, model `counting`, answering with [`chat`].
fn serve(counts: Arc<Counts>) -> SocketAddr {
    openai::serve(|_| "counting".to_owned(), move |_, body| chat(counts.clone(), body)).addr
}

fn cmd(addr: SocketAddr, run_dir: &Path, repos: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args([
        "eval",
        "--split",
        "demo",
        "--instances",
        "agentless-demo__datespan-14",
        "--no-repro",
        "--no-regression",
        "--no-evaluate",
        "--no-progress",
    ])
    .args([
        "--model",
        &format!("http://{addr}/v1"),
        "--served-model-name",
        "counting",
    ])
    .args(["--loc-samples", "2"])
    .args(if extra.contains(&"--num-samples") {
        &[][..]
    } else {
        &["--num-samples", "6"][..]
    })
    .arg("--run-dir")
    .arg(run_dir)
    .arg("--repos-dir")
    .arg(repos)
    .args(extra)
    .env("OPENAI_API_KEY", "unused");
    c
}

/// Complete sample records in a stage file.
fn samples_in(path: &Path) -> usize {
    let text = fs_err::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "record" && v["data"]["kind"] == "sample")
        .count()
}

fn stale_files(dir: &Path) -> Vec<PathBuf> {
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".stale-"))
        .collect()
}

fn counts(c: &Counts) -> (usize, usize) {
    (c.localize.load(Ordering::SeqCst), c.repair.load(Ordering::SeqCst))
}

fn reset(c: &Counts) {
    c.localize.store(0, Ordering::SeqCst);
    c.repair.store(0, Ordering::SeqCst);
}

#[test]
fn resume_reuses_finished_work_and_redoes_only_what_changed() {
    let c = Arc::new(Counts::default());
    let addr = serve(c.clone());
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let repos = tmp.path().join("repos");
    let inst_dir = run_dir.join("instances/agentless-demo__datespan-14");

    // A full run: 2 localization + 6 repair requests.
    run_ok(&mut cmd(addr, &run_dir, &repos, &[]));
    assert_eq!(counts(&c), (2, 6));
    let preds = fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap();
    assert!(preds.contains("days=6"), "{preds}");

    // The same again: nothing is asked, the same predictions; `--json -` puts only the
    // machine-readable summary on stdout.
    reset(&c);
    let stdout = run_ok(&mut cmd(addr, &run_dir, &repos, &["--json", "-"]));
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["command"], "eval");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["pipeline"]["done"], 1, "{summary}");
    assert_eq!(summary["pipeline"]["non_empty_predictions"], 1, "{summary}");
    assert!(summary.get("evaluation").is_none(), "--no-evaluate: {summary}");
    assert_eq!(
        summary["paths"]["predictions"],
        run_dir.join("predictions.jsonl").to_str().unwrap()
    );
    assert_eq!(counts(&c), (0, 0));
    assert_eq!(
        fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap(),
        preds
    );

    // One parameter changed (repair temperature): repair only, from scratch.
    reset(&c);
    run_ok(&mut cmd(
        addr,
        &run_dir,
        &repos,
        &["--temperature", "0.5", "--loc-temperature", "1.0"],
    ));
    assert_eq!(counts(&c), (0, 6));
    assert_eq!(
        stale_files(&inst_dir).len(),
        2,
        "the old repair and rerank files are set aside"
    );

    // More samples with the same settings: only the new ones.
    reset(&c);
    run_ok(&mut cmd(
        addr,
        &run_dir,
        &repos,
        &["--temperature", "0.5", "--loc-temperature", "1.0", "--num-samples", "9"],
    ));
    assert_eq!(counts(&c), (0, 3));
}

/// Regression: every failure of an `eval` run used to be reported as a localize failure.
#[test]
fn a_failure_names_the_stage_it_happened_in() {
    let c = Arc::new(Counts::default());
    c.fail_repair.store(true, Ordering::SeqCst);
    let addr = serve(c.clone());
    let tmp = tempfile::tempdir().unwrap();
    let out = cmd(
        addr,
        &tmp.path().join("run"),
        &tmp.path().join("repos"),
        &["--max-attempts", "1"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(counts(&c).0, 2, "localization ran and finished: {stderr}");
    assert!(counts(&c).1 > 0, "repair was asked: {stderr}");
    assert!(
        stderr.contains("agentless-demo__datespan-14: repair failed: "),
        "the failure names the repair stage: {stderr}"
    );
    assert!(!stderr.contains("localize failed"), "{stderr}");
}

/// Regression: with no container in the pipeline itself (`--no-repro --no-regression`), the
/// final evaluation used to ignore the container flags (`--specs`, `--namespace`, `--arch`,
/// `--memory-gib`). They are now resolved once for both, so a bad one is refused up front.
#[test]
fn container_flags_are_not_ignored_without_pipeline_containers() {
    let c = Arc::new(Counts::default());
    let addr = serve(c.clone());
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-specs.json");
    let mut command = cmd(addr, &tmp.path().join("run"), &tmp.path().join("repos"), &[]);
    command.arg("--specs").arg(&missing);
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no-such-specs.json"),
        "the error names the file: {stderr}"
    );
    assert_eq!(counts(&c), (0, 0), "refused before any model request");
}

/// Regression (issue 14): with no container in the pipeline itself, the final evaluation
/// still takes `eval`'s container flags. `--namespace` names a registry where nothing listens,
/// so the evaluation must try to pull the instance image from there (and fail on it, an
/// infrastructure error: exit 3) where it used to ignore the flag and build the demo image
/// locally. Needs Docker (the evaluation connects first).
#[test]
fn the_final_evaluation_takes_the_namespace_without_pipeline_containers() {
    let c = Arc::new(Counts::default());
    let addr = serve(c.clone());
    let tmp = tempfile::tempdir().unwrap();
    let namespace = "127.0.0.1:9/agentless-nowhere";
    let out = bin()
        .args([
            "eval",
            "--split",
            "demo",
            "--instances",
            "agentless-demo__datespan-14",
            "--no-repro",
            "--no-regression",
            "--no-progress",
            "--loc-samples",
            "1",
            "--num-samples",
            "1",
            "--served-model-name",
            "counting",
            "--namespace",
            namespace,
            "--memory",
            "1g",
        ])
        .arg("--model")
        .arg(format!("http://{addr}/v1"))
        .arg("--run-dir")
        .arg(tmp.path().join("run"))
        .arg("--repos-dir")
        .arg(tmp.path().join("repos"))
        .env("OPENAI_API_KEY", "unused")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(counts(&c), (1, 1), "the pipeline ran: {stderr}");
    assert!(
        tmp.path().join("run/predictions.jsonl").is_file(),
        "predictions were written: {stderr}"
    );
    assert!(
        stderr.contains(namespace),
        "the evaluation pulls from the given namespace: {stderr}"
    );
    assert_eq!(out.status.code(), Some(3), "{stderr}");
}

#[test]
fn a_killed_run_loses_nothing_it_finished() {
    let c = Arc::new(Counts::default());
    let addr = serve(c.clone());
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let repos = tmp.path().join("repos");
    let repair_file = run_dir.join("instances/agentless-demo__datespan-14/repair.jsonl");

    // Answer 4 repair requests, then hang; kill the process once 4 samples are on disk.
    c.hang_after.store(4, Ordering::SeqCst);
    let mut child: Child = cmd(addr, &run_dir, &repos, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while samples_in(&repair_file) < 4 {
        assert!(Instant::now() < deadline, "the run never wrote 4 samples");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = samples_in(&repair_file);
    assert_eq!(done, 4);
    assert_eq!(counts(&c).0, 2);

    // Re-run: localization is reused, exactly the 2 missing repair samples are asked.
    c.hang_after.store(0, Ordering::SeqCst);
    reset(&c);
    run_ok(&mut cmd(addr, &run_dir, &repos, &[]));
    assert_eq!(counts(&c), (0, 6 - done));
    assert_eq!(samples_in(&repair_file), 6);
    assert!(
        fs_err::read_to_string(run_dir.join("predictions.jsonl"))
            .unwrap()
            .contains("days=6")
    );
}

/// Outside a terminal (here: stderr is a file), a plain status line comes every
/// `--progress-interval` seconds, also while the run waits on the model.
#[test]
fn a_run_in_a_log_prints_periodic_status_lines() {
    let c = Arc::new(Counts::default());
    let addr = serve(c.clone());
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let repair_file = run_dir.join("instances/agentless-demo__datespan-14/repair.jsonl");
    let log = tmp.path().join("stderr.log");
    c.hang_after.store(3, Ordering::SeqCst);
    let mut child: Child = cmd(addr, &run_dir, &tmp.path().join("repos"), &["--progress-interval", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while samples_in(&repair_file) < 3 {
        assert!(Instant::now() < deadline, "the run never wrote 3 samples");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Waiting on the hung request: the next lines must show where the run stands.
    let wanted = "progress: localize 1/1, repair 0/1 (3/6 units), select-regression 0/1, gen-tests 0/1";
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = fs_err::read_to_string(&log).unwrap();
        if text.lines().any(|l| l.starts_with(wanted)) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let line = text.lines().find(|l| l.starts_with(wanted));
    assert!(line.is_some(), "no status line like {wanted:?} in:\n{text}");
    assert!(line.unwrap().contains("; elapsed "), "{text}");
    assert!(!text.contains('\u{1b}'), "no ANSI codes in a log: {text:?}");
}

/// A stage command alone, with the same settings as [`cmd`]'s run (so its keys match).
fn stage_cmd(addr: SocketAddr, stage: &str, run_dir: &Path, repos: &Path) -> Command {
    let mut c = bin();
    c.args([
        stage,
        "--split",
        "demo",
        "--instances",
        "agentless-demo__datespan-14",
        "--no-repro",
        "--no-regression",
        "--no-progress",
    ])
    .args([
        "--model",
        &format!("http://{addr}/v1"),
        "--served-model-name",
        "counting",
    ])
    .args(["--loc-samples", "2", "--num-samples", "6"])
    .arg("--run-dir")
    .arg(run_dir)
    .arg("--repos-dir")
    .arg(repos)
    .env("OPENAI_API_KEY", "unused");
    c
}

/// `usage.json` is the sum of the stage records. On a whole run it equals the pipeline's own
/// count (what `usage.json` held before, and what the `--json` summary reports); run stage by
/// stage it is the same sum (before, "keep the larger total" kept only the larger stage's).
#[test]
fn usage_is_the_sum_of_the_stage_records() {
    const ID: &str = "agentless-demo__datespan-14";
    let counts = Arc::new(Counts::default());
    let addr = serve(counts.clone());
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let read = |p: &Path| -> Value { serde_json::from_str(&fs_err::read_to_string(p).unwrap()).unwrap() };

    let whole = tmp.path().join("whole");
    let summary = tmp.path().join("summary.json");
    run_ok(&mut cmd(addr, &whole, &repos, &["--json", summary.to_str().unwrap()]));
    let pipeline = &read(&summary)["pipeline"];
    let usage = read(&whole.join("usage.json"));
    assert_eq!(usage["format_version"], 2, "{usage}");
    let u = &usage["instances"][ID];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(u["prompt_tokens"], pipeline["prompt_tokens"], "{usage}\n{pipeline}");
    assert_eq!(
        u["completion_tokens"], pipeline["completion_tokens"],
        "{usage}\n{pipeline}"
    );
    let requests = counts.localize.load(Ordering::SeqCst) + counts.repair.load(Ordering::SeqCst);
    assert!(u["requests"].as_u64().unwrap() >= requests as u64, "{usage}");

    let staged = tmp.path().join("staged");
    run_ok(&mut stage_cmd(addr, "localize", &staged, &repos));
    let after_localize = read(&staged.join("usage.json"))["instances"][ID]["prompt_tokens"].clone();
    run_ok(&mut stage_cmd(addr, "repair", &staged, &repos));
    let staged_usage = read(&staged.join("usage.json"));
    let s = &staged_usage["instances"][ID];
    assert!(after_localize.as_u64().unwrap() < s["prompt_tokens"].as_u64().unwrap());
    assert_eq!(s["prompt_tokens"], u["prompt_tokens"], "{staged_usage}\n{usage}");
    assert_eq!(
        s["completion_tokens"], u["completion_tokens"],
        "{staged_usage}\n{usage}"
    );
}
