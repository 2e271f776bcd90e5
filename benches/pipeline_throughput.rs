//! Benchmark (not a test): does the pipeline keep a model endpoint saturated? A fast
//! OpenAI-compatible server on loopback (fixed latency per request, instant otherwise) counts
//! the requests in flight; `agentless-mini eval` runs localization and repair for the five
//! demo instances with N samples each (`--no-repro --no-regression --no-evaluate`: no
//! Docker). Printed: wall time per instance, requests per second, and the requests in flight
//! (peak and time-weighted mean) against `--max-concurrent-requests`.
//!
//! `cargo bench --bench pipeline_throughput [-- N LIMIT LATENCY_MS]` (defaults 500 64 50).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "a benchmark program: it prints its results and stops on any failure"
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

struct Stats {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
    /// Integral of in-flight over time (request-microseconds) and the last change.
    area: Mutex<(f64, Instant)>,
    latency_ms: AtomicU64,
}

impl Stats {
    fn change(&self, delta: isize) {
        let mut a = self.area.lock().unwrap();
        let now = Instant::now();
        let cur = self.in_flight.load(Ordering::SeqCst) as f64;
        a.0 += cur * now.duration_since(a.1).as_secs_f64();
        a.1 = now;
        let v = if delta > 0 {
            self.in_flight.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.in_flight.fetch_sub(1, Ordering::SeqCst) - 1
        };
        self.peak.fetch_max(v, Ordering::SeqCst);
    }
}

const ANSWER: &str = "```python\n### datespan/parse.py\n<<<<<<< SEARCH\n    return DateSpan(monday, monday + timedelta(days=7))\n=======\n    return DateSpan(monday, monday + timedelta(days=6))\n>>>>>>> REPLACE\n```\n";

async fn chat(State(s): State<Arc<Stats>>, Json(body): Json<Value>) -> Json<Value> {
    s.change(1);
    s.total.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(s.latency_ms.load(Ordering::SeqCst))).await;
    let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
    let text = if prompt.contains("### Repository Structure ###") {
        // A file of every demo repository: each instance keeps the one that exists.
        "```\ndatespan/parse.py\nslugkit/slugify.py\nconfparse/config.py\nminicache/base.py\ntinysched/job.py\n```"
            .to_owned()
    } else {
        ANSWER.to_owned()
    };
    s.change(-1);
    Json(json!({"id": "x", "object": "chat.completion", "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}}))
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": "bench", "object": "model"}]}))
}

fn serve(stats: Arc<Stats>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/v1/chat/completions", post(chat))
                .route("/v1/models", get(models))
                .with_state(stats);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(500);
    let limit: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let latency: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let stats = Arc::new(Stats {
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
        area: Mutex::new((0.0, Instant::now())),
        latency_ms: AtomicU64::new(latency),
    });
    let addr = serve(stats.clone());
    let tmp = tempfile::tempdir().unwrap();
    let bin = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/agentless-mini");
    let bin = if bin.is_file() {
        bin
    } else {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/agentless-mini")
    };
    *stats.area.lock().unwrap() = (0.0, Instant::now());
    let start = Instant::now();
    let out = std::process::Command::new(&bin)
        .args([
            "eval",
            "--split",
            "demo",
            "--no-repro",
            "--no-regression",
            "--no-evaluate",
            "--no-progress",
            "--quiet",
        ])
        .args(["--model", &format!("http://{addr}/v1"), "--served-model-name", "bench"])
        .args(["--num-samples", &n.to_string(), "--loc-samples", "4"])
        .args([
            "--max-concurrent-requests",
            &limit.to_string(),
            "--model-concurrency",
            &limit.to_string(),
            "--instance-jobs",
            "5",
        ])
        .arg("--run-dir")
        .arg(tmp.path().join("run"))
        .arg("--repos-dir")
        .arg(tmp.path().join("repos"))
        .env("OPENAI_API_KEY", "unused")
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let total = stats.total.load(Ordering::SeqCst);
    let area = stats.area.lock().unwrap().0;
    let ideal = total as f64 * latency as f64 / 1000.0 / limit as f64;
    println!("binary: {}", bin.display());
    println!("5 instances x ({n} repair + 4 localization) samples, limit {limit} in flight, {latency} ms per request");
    println!(
        "requests {total}, wall {wall:.2} s ({:.2} s per instance), {:.0} requests/s",
        wall / 5.0,
        total as f64 / wall
    );
    println!(
        "in flight: peak {} of {limit}, time-weighted mean {:.1} ({:.0}% of the limit)",
        stats.peak.load(Ordering::SeqCst),
        area / wall,
        100.0 * area / wall / limit as f64
    );
    println!(
        "ideal wall at the limit: {ideal:.2} s; overhead ratio {:.2}",
        wall / ideal.max(1e-9)
    );
}
