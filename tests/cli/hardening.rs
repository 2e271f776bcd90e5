//! Hardening of the command line against hostile requests and careless inputs, end to end with
//! the real binary, real `serve` processes on loopback and real files (no Docker):
//!
//! - `serve` under a flood of 10,000+ hostile requests (malformed JSON, wrong types, huge
//!   numbers, oversized prompts and bodies, lying lengths, concurrent floods, slow clients):
//!   the process never dies and answers every bad request with an OpenAI-style 4xx;
//! - `serve`'s bearer-token auth, and its refusal to listen beyond loopback without a key;
//! - an API key echoed by a server (in an error body across the excerpt limit, as the model
//!   id, inside a completion) reaches no output and no file the run writes;
//! - an output that is also an input is refused (`reward`, `report`, `export`) and the input
//!   is left intact; limit flags out of range are refused at parse time, stating the range;
//!   `clean` needs `--run-id` or `--all`.
//!
//! About 40 s on 2 cores (the flood dominates).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::{bin, openai, text, walk};

/// A replay file answering "hi" with four samples.
fn replay_file(dir: &Path) -> PathBuf {
    let file = dir.join("answers.jsonl");
    let mut lines = String::new();
    for t in ["one", "two", "three", "four"] {
        lines.push_str(&format!(
            "{{\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"text\":\"{t}\"}}\n"
        ));
    }
    std::fs::write(&file, lines).unwrap();
    file
}

/// A running `serve` process; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `serve` with `args` and wait for the address it prints.
fn serve(args: &[&str], envs: &[(&str, &str)]) -> Server {
    let mut cmd = bin();
    cmd.arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let Some(addr) = line.split("http://").nth(1).and_then(|r| r.strip_suffix("/v1\n")) else {
        let _ = child.kill();
        let out = child.wait_with_output().expect("serve output");
        panic!("serve did not print its address: {line:?}\n{}", text(&out))
    };
    let addr = addr.to_owned();
    Server { child, addr }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One raw HTTP/1.1 exchange on a fresh connection: the status code, or None when the
/// connection ended without an answer.
async fn exchange(addr: &str, raw: &[u8], half_close: bool) -> Option<u16> {
    let mut sock = tokio::net::TcpStream::connect(addr).await.ok()?;
    // A server that answers early (a body over the limit) may reset the rest: keep reading.
    let _ = sock.write_all(raw).await;
    if half_close {
        let _ = sock.shutdown().await;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), sock.read_to_end(&mut buf)).await;
    if read.is_err() && buf.is_empty() {
        return None;
    }
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).into_owned();
    head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn post(path: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The hostile requests, and the status each must get (None: any 4xx).
fn hostile(i: usize) -> (Vec<u8>, Option<u16>) {
    let chat = "/v1/chat/completions";
    let ok = r#"{"messages":[{"role":"user","content":"hi"}],"n":2}"#;
    let big_prompt = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(70_000)
    );
    let body = |s: &str| post(chat, s.as_bytes(), "");
    match i % 24 {
        0 => (body(ok), Some(200)),
        1 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"n":4294967295}"#),
            Some(400),
        ),
        2 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"n":-1}"#),
            Some(400),
        ),
        3 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"n":1e30}"#),
            Some(400),
        ),
        4 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":4294967295}"#),
            Some(400),
        ),
        5 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1e400}"#),
            Some(400),
        ),
        6 => (body(r#"{"messages": [{"role":"user","#), Some(400)),
        7 => (body(r#"{"messages":"hi"}"#), Some(400)),
        8 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#),
            Some(400),
        ),
        9 => (body(""), Some(400)),
        10 => {
            let junk: Vec<u8> = (0..512u32)
                .map(|k| (k.wrapping_mul(2_654_435_761).wrapping_add(i as u32) >> 11) as u8)
                .collect();
            (post(chat, &junk, ""), Some(400))
        }
        11 => (body(&big_prompt), Some(400)),
        12 => (post(chat, &vec![b' '; 300 << 10], ""), None),
        13 => (body(&format!("{}{}", "[".repeat(5000), "]".repeat(5000))), Some(400)),
        14 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"n":0}"#),
            Some(400),
        ),
        15 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#),
            Some(400),
        ),
        16 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"n":"5"}"#),
            Some(400),
        ),
        17 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"n":65}"#),
            Some(400),
        ),
        18 => {
            let mut b = br#"{"messages":[{"role":"user","content":""#.to_vec();
            b.extend_from_slice(&[0xff, 0xfe, 0xc3]);
            b.extend_from_slice(br#""}]}"#);
            (post(chat, &b, ""), Some(400))
        }
        19 => (
            body(r#"{"messages":[{"role":"user","content":"hi"}],"temperature":1e308,"top_p":1e-300}"#),
            None,
        ),
        20 => (
            b"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            Some(405),
        ),
        21 => (
            b"POST /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec(),
            Some(404),
        ),
        // The length says more than is sent, then the client half-closes.
        22 => {
            let mut r = format!("POST {chat} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n")
                .into_bytes();
            r.extend_from_slice(b"{\"messages\":");
            (r, None)
        }
        _ => (
            body(
                r#"{"messages":[{"role":"user","content":"hi"}],"seed":18446744073709551615,"max_tokens":64,"n":4,"stop":["x"]}"#,
            ),
            Some(200),
        ),
    }
}

#[test]
fn serve_survives_ten_thousand_hostile_requests() {
    let dir = tempfile::tempdir().unwrap();
    let replay = replay_file(dir.path());
    let model = format!("replay:{}", replay.display());
    let server = serve(
        &[
            "--model",
            &model,
            "--port",
            "0",
            "--max-n",
            "64",
            "--max-prompt",
            "64k",
            "--max-body",
            "256k",
            "--body-timeout",
            "2",
            "--name",
            "r",
        ],
        &[],
    );
    let addr = server.addr.clone();
    let total = 10_080;
    let statuses: Arc<std::sync::Mutex<BTreeMap<Option<u16>, usize>>> = Arc::default();
    let wrong: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let slow_statuses = runtime().block_on(async {
        // Slow clients: bodies dribbled a byte every 300 ms (the server gives up after 2 s),
        // and connections that never finish their headers.
        let mut slow = Vec::new();
        for _ in 0..16 {
            let addr = addr.clone();
            slow.push(tokio::spawn(async move {
                let mut sock = tokio::net::TcpStream::connect(&addr).await.ok()?;
                sock.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n")
                    .await
                    .ok()?;
                let mut buf = Vec::new();
                for _ in 0..40 {
                    if sock.write_all(b" ").await.is_err() {
                        break;
                    }
                    match tokio::time::timeout(Duration::from_millis(300), sock.read_buf(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(_)) if buf.len() >= 12 => break,
                        _ => {}
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut buf)).await;
                String::from_utf8_lossy(&buf).get(9..12).and_then(|s| s.parse::<u16>().ok())
            }));
        }
        let mut loris = Vec::new();
        for _ in 0..32 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await {
                let _ = s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n").await;
                loris.push(s);
            }
        }
        // The flood: 64 clients at once.
        let mut workers = Vec::new();
        for _ in 0..64 {
            let (addr, statuses, wrong, next) = (addr.clone(), statuses.clone(), wrong.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let (raw, want) = hostile(i);
                    let got = exchange(&addr, &raw, i % 24 == 22).await;
                    *statuses.lock().unwrap().entry(got).or_default() += 1;
                    let fine = match (got, want) {
                        (Some(g), Some(w)) => g == w,
                        (Some(g), None) => (200..500).contains(&g),
                        // Only a request the server may cut short (body over the limit, a
                        // lying length) may go unanswered.
                        (None, _) => matches!(i % 24, 12 | 22),
                    };
                    if !fine {
                        wrong.lock().unwrap().push(format!("request kind {}: got {got:?}, want {want:?}", i % 24));
                    }
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        let mut slow_statuses = Vec::new();
        for s in slow {
            slow_statuses.push(s.await.unwrap());
        }
        drop(loris);
        slow_statuses
    });
    let elapsed = t.elapsed();
    let mut server = server;
    let crashed = server.child.try_wait().unwrap();
    assert_eq!(crashed, None, "serve died: crashes 1");
    // Still answering.
    let health = runtime().block_on(exchange(
        &server.addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
    ));
    assert_eq!(health, Some(200));
    let statuses = statuses.lock().unwrap().clone();
    let wrong = wrong.lock().unwrap().clone();
    println!(
        "{total} hostile requests in {:.1} s; statuses {statuses:?}; slow clients {slow_statuses:?}; crashes 0",
        elapsed.as_secs_f64()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong answers, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert!(
        statuses.keys().all(|s| s.is_none_or(|s| s < 500)),
        "server errors: {statuses:?}"
    );
    assert_eq!(statuses.values().sum::<usize>(), total);
    assert!(
        slow_statuses.iter().all(|s| *s == Some(408)),
        "slow bodies get 408: {slow_statuses:?}"
    );
    // An answer over a bound is OpenAI's error shape, naming the bound.
    let body = runtime().block_on(async {
        let client = reqwest::Client::new();
        client
            .post(format!("http://{}/v1/chat/completions", server.addr))
            .body(r#"{"messages":[{"role":"user","content":"hi"}],"n":4294967295}"#)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("1 to 64"), "{body}");
}

#[test]
fn serve_needs_a_key_beyond_loopback_and_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let replay = replay_file(dir.path());
    let model = format!("replay:{}", replay.display());
    // Every interface, no key: refused (usage, exit 2), nothing served.
    let o = bin()
        .args(["serve", "--model", &model, "--host", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--api-key-env") && err.contains("--insecure"), "{err}");
    // ... unless asked for.
    drop(serve(
        &["--model", &model, "--host", "0.0.0.0", "--port", "0", "--insecure"],
        &[],
    ));
    // A key named but unset: an error, not an open server.
    let o = bin()
        .args([
            "serve",
            "--model",
            &model,
            "--port",
            "0",
            "--api-key-env",
            "HARDEN_UNSET_VARIABLE",
        ])
        .env_remove("HARDEN_UNSET_VARIABLE")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    // With a key (any interface): /v1 needs it, /health does not.
    let key = "serve-key-Zr81kq";
    let server = serve(
        &[
            "--model",
            &model,
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--api-key-env",
            "HARDEN_SERVE_KEY",
        ],
        &[("HARDEN_SERVE_KEY", key)],
    );
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let base = format!("http://127.0.0.1:{port}");
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let chat = format!("{base}/v1/chat/completions");
        let body = r#"{"messages":[{"role":"user","content":"hi"}],"n":2}"#;
        let none = c.post(&chat).body(body).send().await.unwrap();
        assert_eq!(none.status(), 401);
        let e: serde_json::Value = none.json().await.unwrap();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        let wrong = c
            .post(&chat)
            .bearer_auth("serve-key-Zr81kQ")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let models = c.get(format!("{base}/v1/models")).send().await.unwrap();
        assert_eq!(models.status(), 401);
        let right = c.post(&chat).bearer_auth(key).body(body).send().await.unwrap();
        assert_eq!(right.status(), 200);
        let r: serde_json::Value = right.json().await.unwrap();
        assert_eq!(r["choices"].as_array().unwrap().len(), 2, "{r}");
        let health = c.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
    });
    // The harness's own client with the key talks to it.
    let o = bin()
        .args([
            "chat",
            "--model",
            &format!("{base}/v1"),
            "--api-key-env",
            "HARDEN_SERVE_KEY",
            "-n",
            "2",
            "--temperature",
            "1",
            "hi",
        ])
        .env("HARDEN_SERVE_KEY", key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("two"), "{}", text(&o));
}

/// A mock OpenAI server that echoes the bearer key everywhere it can: as its model id, in
/// completions, and in an error body where the key straddles the 600-byte excerpt limit.
fn echoing_server() -> String {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    openai::serve(
        |h| format!("model-{}", openai::bearer(h)),
        |h, body| async move {
            let key = openai::bearer(&h);
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let prompt = req["messages"][0]["content"].as_str().unwrap_or("").to_owned();
            if prompt.contains("fail") {
                let msg = format!("{}{key} is not a valid key", "x".repeat(560));
                return (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": {"message": msg, "type": "invalid_request_error"}}).to_string(),
                )
                    .into_response();
            }
            if prompt.contains("plain") {
                return (StatusCode::UNAUTHORIZED, format!("{}{key}", "y".repeat(590))).into_response();
            }
            let n = req["n"].as_u64().unwrap_or(1);
            let texts: Vec<String> = (0..n).map(|_| format!("echo {key}")).collect();
            openai::completion("c", &key, &texts, (1, 1))
        },
    )
    .url()
}

#[test]
fn an_echoed_api_key_reaches_no_output_and_no_file() {
    let key = format!("sk-SEC{}", "a7Kq9XbW3e".repeat(15) + "t");
    assert_eq!(key.len(), 157);
    let url = echoing_server();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.jsonl");
    let mut outputs = Vec::new();
    for (prompt, ok) in [("hello", true), ("please fail", false), ("plain text", false)] {
        let o = bin()
            .current_dir(dir.path())
            .args([
                "-vv",
                "chat",
                "--model",
                &url,
                "--api-key-env",
                "HARDEN_LONG_KEY",
                "--record",
            ])
            .arg(&record)
            .args(["--max-attempts", "1", "-n", "2", "--json", prompt])
            .env("HARDEN_LONG_KEY", &key)
            .output()
            .unwrap();
        assert_eq!(o.status.success(), ok, "{prompt}: {}", text(&o));
        outputs.push((
            format!("output of chat {prompt:?}"),
            [o.stdout.clone(), o.stderr.clone()].concat(),
        ));
    }
    // The key was really echoed and really masked.
    let failed = String::from_utf8_lossy(&outputs[1].1).into_owned();
    assert!(failed.contains("xxxxx") && failed.contains("***"), "{failed}");
    let files = walk(dir.path());
    assert!(files.contains(&record), "{files:?}");
    for f in &files {
        outputs.push((f.display().to_string(), std::fs::read(f).unwrap()));
    }
    // No piece of the key: any 8 consecutive characters of it.
    for (what, bytes) in &outputs {
        let t = String::from_utf8_lossy(bytes);
        for w in 0..key.len() - 8 {
            let piece = &key[w..w + 8];
            assert!(!t.contains(piece), "{what} holds {piece:?} of the key:\n{t}");
        }
    }
    let rec = std::fs::read_to_string(&record).unwrap();
    assert!(rec.contains("echo ***") && rec.contains("model-***"), "{rec}");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("requests.jsonl");
    let line = r#"{"id":"a","kind":"search_replace","code_context":{"x.py":"a = 1\n"},"oracle_new_content":{"x.py":"a = 2\n"},"output":"<think>t</think>\n<solution>\n```python\n### x.py\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n```\n</solution>"}"#;
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let before = std::fs::read(&input).unwrap();
    // The same path, a ./ spelling and a hard link all name the same file.
    let link = dir.path().join("link.jsonl");
    std::fs::hard_link(&input, &link).unwrap();
    for out in [input.clone(), dir.path().join(".").join("requests.jsonl"), link.clone()] {
        let o = bin()
            .args(["reward", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("same file"), "{}", text(&o));
        assert_eq!(std::fs::read(&input).unwrap(), before, "the input was changed");
    }
    // A distinct output works.
    let out = dir.path().join("rewards.jsonl");
    let o = bin()
        .args(["reward", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"reward\""));

    // report: --json onto the run's predictions, --out onto the run report.
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let preds = run.join("predictions.jsonl");
    std::fs::write(
        &preds,
        "{\"instance_id\":\"a__b-1\",\"model_name_or_path\":\"m\",\"model_patch\":\"\"}\n",
    )
    .unwrap();
    let preds_before = std::fs::read(&preds).unwrap();
    for (flag, target) in [("--json", preds.clone()), ("--out", preds.clone())] {
        let o = bin()
            .args(["report", "--run-dir"])
            .arg(&run)
            .arg(flag)
            .arg(&target)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert_eq!(std::fs::read(&preds).unwrap(), preds_before);
    }
    // export: the submission folder cannot be the run itself or its predictions.
    for target in [run.clone(), preds.clone()] {
        let o = bin()
            .args(["export", "--run-dir"])
            .arg(&run)
            .arg("--out")
            .arg(&target)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert_eq!(std::fs::read(&preds).unwrap(), preds_before);
    }
}

#[test]
fn limit_flags_out_of_range_are_refused_when_parsed() {
    let cases: [(&[&str], &str); 10] = [
        (&["--pids-limit", "0"], "1 to 4194304"),
        (&["--pids-limit=-1"], "1 to 4194304"),
        (&["--cpus", "0"], "0.01 to 1024"),
        (&["--memory", "1.5"], "fraction"),
        (&["--memory", "1k"], "6m to 1024t"),
        (&["--disk", "0"], "positive"),
        (&["--disk", "100"], "1m to 1024t"),
        (&["--eval-timeout", "0"], "1 to 604800"),
        // The spelling of the previous release.
        (&["--timeout", "0"], "1 to 604800"),
        (&["--max-output", "10"], "1k to 1t"),
    ];
    for (flag, range) in cases {
        let o = bin()
            .args([
                "evaluate",
                "--split",
                "demo",
                "--predictions",
                "gold",
                "--run-id",
                "harden-never-runs",
            ])
            .args(flag)
            .env("DOCKER_HOST", "unix:///nonexistent/harden.sock")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(range), "{flag:?} must state {range:?}: {err}");
    }
    for (flag, range) in [
        (["--cpus", "0"], "0.01 to 1024"),
        (["--memory", "1k"], "6m to 1024t"),
        (["--regression-timeout", "0"], "1 to 604800"),
        (["--eval-timeout", "0"], "1 to 604800"),
        // The spelling of the previous release, with its own range.
        (["--memory-gib", "0"], "0.01 to 1048576"),
    ] {
        let o = bin()
            .args(["eval", "--split", "demo", "--run-dir", "/nonexistent/harden"])
            .args(flag)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(range), "{}", text(&o));
    }
    let o = bin().args(["serve", "--max-n", "0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // clean needs to be told which containers: one run, or --all.
    let o = bin()
        .arg("clean")
        .env("DOCKER_HOST", "unix:///nonexistent/harden.sock")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--run-id"), "{}", text(&o));
}
