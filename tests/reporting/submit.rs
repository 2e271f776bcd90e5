//! `agentless-mini submit` (the sb-cli flow) against a SWE-bench API of our own on
//! loopback (axum): every prediction of a real run (`../shared/data/oracle-logs`,
//! 100 predictions) uploaded, polled to completion, the report fetched and saved; with
//! 500s, 503s, connections dropped mid-request and retries; a 429 whose `Retry-After` is
//! waited out; a wrong key (4xx, not retried)
//! whose echo by the server is masked; a server that is down (bounded retries, no hang);
//! and the key never printed, logged or written, even at `-vvv`.

#![allow(
    clippy::unwrap_used,
    clippy::result_large_err,
    reason = "test server handlers: a poisoned lock is a test bug"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::common::{bin_path, oracle_logs, walk};

const KEY: &str = "swb-test-key-7f3a9c1e5d";

fn predictions() -> PathBuf {
    oracle_logs().join("predictions.jsonl")
}

fn prediction_ids() -> Vec<String> {
    std::fs::read_to_string(predictions())
        .expect("predictions")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["instance_id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect()
}

/// What the fake API does and saw.
#[derive(Default)]
struct Api {
    /// instance id → 500 answers still to give for its upload.
    submit_failures: Mutex<BTreeMap<String, u32>>,
    /// instance id → 429 answers (with `Retry-After: 1`) still to give for its upload.
    too_many: Mutex<BTreeMap<String, u32>>,
    /// When each /submit request arrived.
    submit_times: Mutex<Vec<std::time::Instant>>,
    /// 503 answers still to give on /poll-jobs and /get-report.
    poll_failures: AtomicU32,
    report_failures: AtomicU32,
    /// Ids answered `launched: false` (submitted in an earlier session).
    already: BTreeSet<String>,
    /// Uploads seen, by id (the last payload), and how many requests per endpoint.
    uploads: Mutex<BTreeMap<String, Value>>,
    hits: Mutex<BTreeMap<String, u32>>,
    /// Keys seen on requests.
    keys: Mutex<BTreeSet<String>>,
    polls: AtomicU32,
    /// The body of the last /get-report and /poll-jobs request.
    last_report_request: Mutex<Option<Value>>,
}

type Shared = Arc<Api>;

fn hit(api: &Api, endpoint: &str, headers: &HeaderMap) -> Result<(), Response> {
    *api.hits.lock().unwrap().entry(endpoint.to_owned()).or_default() += 1;
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    api.keys.lock().unwrap().insert(key.clone());
    if key != KEY {
        // A careless server that echoes the key back: the client must mask it.
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": format!("invalid API key {key}")})),
        )
            .into_response());
    }
    Ok(())
}

async fn submit(State(api): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(r) = hit(&api, "submit", &headers) {
        return r;
    }
    let id = body["prediction"]["instance_id"].as_str().unwrap_or("").to_owned();
    api.submit_times.lock().unwrap().push(std::time::Instant::now());
    {
        let mut slow = api.too_many.lock().unwrap();
        if let Some(n) = slow.get_mut(&id).filter(|n| **n > 0) {
            *n -= 1;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response();
        }
    }
    {
        let mut fails = api.submit_failures.lock().unwrap();
        if let Some(n) = fails.get_mut(&id).filter(|n| **n > 0) {
            *n -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response();
        }
    }
    api.uploads.lock().unwrap().insert(id.clone(), body);
    Json(json!({"launched": !api.already.contains(&id), "instance_id": id})).into_response()
}

fn ids_of(api: &Api) -> Vec<String> {
    api.uploads.lock().unwrap().keys().cloned().collect()
}

async fn poll(State(api): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(r) = hit(&api, "poll-jobs", &headers) {
        return r;
    }
    if api.poll_failures.load(Ordering::SeqCst) > 0 {
        api.poll_failures.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
    }
    assert!(
        body["run_id"].is_string() && body["subset"].is_string() && body["split"].is_string(),
        "{body}"
    );
    // Poll 0: half running, none completed (some pending); 1: all running; 2: half
    // completed; 3+: all completed. Ids of other runs are mixed in and must be ignored.
    let n = api.polls.fetch_add(1, Ordering::SeqCst);
    let ids = ids_of(&api);
    let half = ids.len() / 2;
    let (mut running, mut completed): (Vec<String>, Vec<String>) = match n {
        0 => (ids[..half].to_vec(), vec![]),
        1 => (ids.clone(), vec![]),
        2 => (ids[half..].to_vec(), ids[..half].to_vec()),
        _ => (vec![], ids.clone()),
    };
    running.push("other__run-1".into());
    completed.push("other__run-2".into());
    Json(json!({"running": running, "completed": completed})).into_response()
}

async fn report(State(api): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(r) = hit(&api, "get-report", &headers) {
        return r;
    }
    if api.report_failures.load(Ordering::SeqCst) > 0 {
        api.report_failures.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::BAD_GATEWAY, "bad gateway").into_response();
    }
    *api.last_report_request.lock().unwrap() = Some(body);
    let ids = ids_of(&api);
    Json(json!({
        "report": {
            "total_instances": 500, "submitted_instances": ids.len(), "completed_instances": ids.len(),
            "resolved_instances": 42, "error_instances": 0, "pending_instances": 0, "failed_instances": 0,
            "resolved_ids": ids.iter().take(42).collect::<Vec<_>>(),
        },
        "job_id": "abc"
    }))
    .into_response()
}

/// A listener that drops chosen connections (counted from 1) after reading the request
/// head, without answering: a real dropped connection as the client sees it.
struct Dropping {
    inner: TcpListener,
    accepted: u32,
    drop: BTreeSet<u32>,
    dropped: Arc<AtomicU32>,
}

impl axum::serve::Listener for Dropping {
    type Io = TcpStream;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Ok((mut stream, addr)) = self.inner.accept().await else {
                continue;
            };
            self.accepted += 1;
            if !self.drop.contains(&self.accepted) {
                return (stream, addr);
            }
            let dropped = self.dropped.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                dropped.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            });
        }
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

async fn serve(api: Shared, drop: &[u32]) -> (String, Arc<AtomicU32>) {
    let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = inner.local_addr().expect("addr");
    let dropped = Arc::new(AtomicU32::new(0));
    let listener = Dropping {
        inner,
        accepted: 0,
        drop: drop.iter().copied().collect(),
        dropped: dropped.clone(),
    };
    let app = Router::new()
        .route("/submit", post(submit))
        .route("/poll-jobs", get(poll))
        .route("/get-report", post(report))
        .with_state(api);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), dropped)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run_submit(url: &str, key: Option<&str>, out: &Path, extra: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(bin_path());
    cmd.arg("submit")
        .arg("--predictions")
        .arg(predictions())
        .arg("-o")
        .arg(out)
        .args(["--poll-interval", "0.02", "--retry-delay", "0.02", "--timeout", "20"])
        .args(extra)
        .env("SWEBENCH_API_URL", url)
        .env_remove("SWEBENCH_API_KEY")
        .env_remove("AGENTLESS_LOG");
    if let Some(k) = key {
        cmd.env("SWEBENCH_API_KEY", k);
    }
    let o = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("submit must not hang")
        .expect("run agentless-mini");
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_every_prediction_through_500s_and_dropped_connections() {
    let ids = prediction_ids();
    assert_eq!(ids.len(), 100);
    let mut failures = BTreeMap::new();
    failures.insert(ids[0].clone(), 2); // two 500s, then accepted
    failures.insert(ids[57].clone(), 1);
    let api = Arc::new(Api {
        submit_failures: Mutex::new(failures),
        poll_failures: AtomicU32::new(2),
        report_failures: AtomicU32::new(1),
        already: [ids[3].clone(), ids[4].clone()].into_iter().collect(),
        ..Default::default()
    });
    // Connections 2 and 5 are dropped mid-request.
    let (url, dropped) = serve(api.clone(), &[2, 5]).await;
    let out = tempfile::tempdir().expect("tmp");
    let r = run_submit(&url, Some(KEY), out.path(), &["-vvv", "--retries", "6"]).await;
    assert_eq!(r.code, Some(0), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);

    // Every prediction arrived once accepted, with the official payload.
    let uploads = api.uploads.lock().unwrap().clone();
    assert_eq!(
        uploads.keys().cloned().collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect::<BTreeSet<_>>()
    );
    let lines: Vec<Value> = std::fs::read_to_string(predictions())
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for want in &lines {
        let id = want["instance_id"].as_str().unwrap();
        let got = &uploads[id];
        assert_eq!(got["prediction"]["model_patch"], want["model_patch"], "{id}");
        assert_eq!(
            got["prediction"]["model_name_or_path"], want["model_name_or_path"],
            "{id}"
        );
        assert_eq!(
            got["run_id"], "oracle-logs",
            "run id defaults to the predictions' folder name"
        );
        assert_eq!(got["subset"], "swe-bench_verified");
        assert_eq!(got["split"], "test");
        assert_eq!(got["instance_ids"], Value::Null);
    }
    // The failures really happened and were retried.
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "two connections dropped");
    let hits = api.hits.lock().unwrap().clone();
    assert_eq!(hits["submit"], 100 + 3, "100 uploads + three answered 500");
    assert!(hits["poll-jobs"] >= 2 + 4, "{hits:?}");
    assert_eq!(hits["get-report"], 2);
    let retries = r.stderr.matches("; attempt ").count();
    assert!(
        retries >= 3 + 2 + 1 + 2,
        "expected retries for 500s, 503s, 502 and drops:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("HTTP 500: upstream exploded"), "{}", r.stderr);
    assert!(
        r.stderr.contains("2 predictions were already submitted"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("98 new predictions uploaded"), "{}", r.stdout);
    assert!(r.stdout.contains("Resolved (total): 8.40% (42 / 500)"), "{}", r.stdout);

    // The report is saved as sb-cli names it, and the rest of the answer beside it.
    let report_path = out.path().join("swe-bench_verified__test__oracle-logs.json");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report saved")).unwrap();
    assert_eq!(saved["resolved_instances"], 42);
    let rest: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("swe-bench_verified__test__oracle-logs.response.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rest, json!({"job_id": "abc"}));
    assert_eq!(
        api.last_report_request.lock().unwrap().clone(),
        Some(json!({"run_id": "oracle-logs", "subset": "swe-bench_verified", "split": "test"}))
    );

    // The key was sent, and is nowhere in what we printed or wrote (trace logs included).
    assert_eq!(api.keys.lock().unwrap().clone(), [KEY.to_owned()].into_iter().collect());
    assert!(
        r.stderr.contains("TRACE") || r.stderr.contains("DEBUG"),
        "-vvv logs were on"
    );
    assert!(
        !r.stdout.contains(KEY) && !r.stderr.contains(KEY),
        "the API key leaked to the terminal"
    );
    for f in walk(out.path()) {
        assert!(
            !std::fs::read_to_string(&f).unwrap_or_default().contains(KEY),
            "key written to {}",
            f.display()
        );
    }

    // A second submit keeps the first report and writes `-1`.
    let r = run_submit(&url, Some(KEY), out.path(), &["--run-id", "oracle-logs"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        out.path()
            .join("swe-bench_verified__test__oracle-logs-1.json")
            .is_file()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_fails_at_once_and_its_echo_is_masked() {
    let api = Arc::new(Api::default());
    let (url, _) = serve(api.clone(), &[]).await;
    let out = tempfile::tempdir().expect("tmp");
    let wrong = "swb-WRONG-key-0000";
    let r = run_submit(
        &url,
        Some(wrong),
        out.path(),
        &["-vv", "--instance-ids", "django__django-10880"],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("/submit: HTTP 401: invalid API key ***"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(wrong) && !r.stdout.contains(wrong),
        "the key leaked:\n{}",
        r.stderr
    );
    assert_eq!(api.hits.lock().unwrap()["submit"], 1, "a 4xx is not retried");
    assert!(walk(out.path()).is_empty());

    // No key at all: a clear error before any request.
    let r = run_submit(&url, None, out.path(), &[]).await;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("no API key: set SWEBENCH_API_KEY"), "{}", r.stderr);
    assert_eq!(api.hits.lock().unwrap()["submit"], 1);

    // `--help` with the key in the environment does not show it.
    let o = tokio::process::Command::new(bin_path())
        .args(["submit", "--help"])
        .env("SWEBENCH_API_KEY", KEY)
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("SWEBENCH_API_KEY"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_server_and_persistent_500_give_up_after_the_bounded_retries() {
    // Nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = tempfile::tempdir().expect("tmp");
    let r = run_submit(
        &format!("http://127.0.0.1:{port}"),
        Some(KEY),
        out.path(),
        &["--retries", "3"],
    )
    .await;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("/submit:") && r.stderr.contains("(after 3 attempts)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(KEY));

    let ids = prediction_ids();
    let api = Arc::new(Api {
        submit_failures: Mutex::new([(ids[10].clone(), 1000)].into()),
        ..Default::default()
    });
    let (url, _) = serve(api.clone(), &[]).await;
    let r = run_submit(
        &url,
        Some(KEY),
        out.path(),
        &["--retries", "4", "--instance-ids", &ids[10]],
    )
    .await;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("HTTP 500: upstream exploded (after 4 attempts)"),
        "{}",
        r.stderr
    );
    assert_eq!(api.hits.lock().unwrap()["submit"], 4);
    // The filter was sent as sb-cli sends it.
    assert!(api.uploads.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out() {
    let ids = prediction_ids();
    let api = Arc::new(Api {
        too_many: Mutex::new([(ids[3].clone(), 1)].into()),
        ..Default::default()
    });
    let (url, _) = serve(api.clone(), &[]).await;
    let out = tempfile::tempdir().expect("tmp");
    // The backoff alone would retry within --retry-delay (20 ms); the server asked for 1 s.
    let r = run_submit(&url, Some(KEY), out.path(), &["--instance-ids", &ids[3], "--no-wait"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 429: slow down"), "{}", r.stderr);
    let times = api.submit_times.lock().unwrap().clone();
    assert_eq!(times.len(), 2, "one 429, then the upload");
    let gap = times[1] - times[0];
    assert!(gap >= std::time::Duration::from_secs(1), "retried after {gap:?}");
    assert!(gap < std::time::Duration::from_secs(10), "retried after {gap:?}");
    assert!(api.uploads.lock().unwrap().contains_key(&ids[3]));
}
