//! The dataset cache against the real `huggingface_hub` (Python, `HFHUB_PYTHON` from
//! `scripts/setup-parity-env.sh`) and a loopback server that behaves like the Hub: the resolve
//! URL answers with a redirect to another host (the CDN) carrying `X-Repo-Commit` and
//! `X-Linked-Etag` (the file's sha256), as the Hub does. Checked both ways: what we write,
//! `huggingface_hub` reads offline, and what it writes, we read; both lay the same download out
//! identically. Also: both organisations' names find one cache, a sha256 mismatch leaves
//! nothing behind, and the token never goes to the CDN host.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use agentless_harness::dataset::{HubConfig, HubDataset, NoProgress, load_dataset, resolve_hub};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const COMMIT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const FILE: &str = "data/test-00000-of-00001.parquet";

use crate::common::verified_parquet_bytes as parquet_bytes;

fn hf_python() -> String {
    std::env::var("HFHUB_PYTHON").unwrap_or_else(|_| {
        panic!("HFHUB_PYTHON is not set: run scripts/setup-parity-env.sh (scripts/test.sh does) and export it")
    })
}

/// A Hub on 127.0.0.1 whose resolve answers redirect to a "CDN" on `localhost`.
struct Hub {
    url: String,
    /// `(path, had an Authorization header)` per request.
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

async fn hub(announce_sha: Option<String>) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let body = Arc::new(parquet_bytes());
    let sha = announce_sha.unwrap_or_else(|| hex::encode(sha2::Sha256::digest(body.as_slice())));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (body, sha, s) = (body.clone(), sha.clone(), s.clone());
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = sock.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&req).to_string();
                let mut first = text.lines().next().unwrap_or_default().split(' ');
                let (method, path) = (first.next().unwrap_or_default(), first.next().unwrap_or_default());
                let auth = text
                    .lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
                s.lock().expect("lock").push((path.to_owned(), auth));
                let resolve = ["SWE-bench/SWE-bench_Verified", "princeton-nlp/SWE-bench_Verified"]
                    .iter()
                    .any(|r| path == format!("/datasets/{r}/resolve/main/{FILE}"));
                let (head, send_body) = if resolve {
                    (
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/cdn/{sha}\r\nX-Repo-Commit: {COMMIT}\r\nX-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: {}\r\nETag: \"0123abcd\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            body.len()
                        ),
                        false,
                    )
                } else if path == format!("/cdn/{sha}") {
                    (
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"cdn-etag-7\"\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                            body.len()
                        ),
                        method == "GET",
                    )
                } else {
                    (
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                        false,
                    )
                };
                let mut r = sock.write_all(head.as_bytes()).await;
                if r.is_ok() && send_body {
                    r = sock.write_all(&body).await;
                }
                drop(r);
                let _ = sock.shutdown().await;
            });
        }
    });
    Hub {
        url: format!("http://127.0.0.1:{port}"),
        seen,
    }
}

fn config(cache: &Path, endpoint: &str, offline: bool) -> HubConfig {
    HubConfig {
        cache_dir: cache.to_path_buf(),
        endpoint: endpoint.to_owned(),
        token: Some("hf_test_token".into()),
        offline,
        revision: "main".into(),
    }
}

fn verified(repo: &str) -> HubDataset {
    HubDataset {
        repo: repo.into(),
        split: "test".into(),
        revision: "main".into(),
    }
}

/// Files and links under `dir`, relative, sorted (huggingface_hub's `.locks` left out).
fn layout(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            let rel = p.strip_prefix(base).expect("under base").to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).expect("meta");
            if meta.is_dir() {
                walk(base, &p, out);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).expect("link");
                out.push(format!("{rel} -> {}", target.display()));
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.retain(|p| !p.starts_with(".locks"));
    out.sort();
    out
}

fn hf_download(cache: &Path, endpoint: &str, repo: &str, offline: bool) -> Result<PathBuf, String> {
    let out = Command::new(hf_python())
        .arg("-c")
        .arg(format!(
            "from huggingface_hub import hf_hub_download\n\
             print(hf_hub_download({repo:?}, {FILE:?}, repo_type='dataset', cache_dir={:?}, local_files_only={}))",
            cache.display().to_string(),
            if offline { "True" } else { "False" }
        ))
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_OFFLINE", if offline { "1" } else { "0" })
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env_remove("HF_TOKEN")
        .output()
        .map_err(|e| format!("running {}: {e}", hf_python()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

// Multi-threaded: the server runs while the test waits on the Python process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_cache_and_huggingface_hubs_are_the_same_layout_both_ways() {
    let hub = hub(None).await;
    let sha = hex::encode(sha2::Sha256::digest(parquet_bytes()));

    // Ours, under the name the official harness loads.
    let ours = tempfile::tempdir().expect("tmp");
    let got = resolve_hub(
        &verified("SWE-bench/SWE-bench_Verified"),
        &config(ours.path(), &hub.url, false),
        &NoProgress,
    )
    .await
    .expect("download");
    let repo_dir = ours.path().join("datasets--SWE-bench--SWE-bench_Verified");
    assert_eq!(got.path, repo_dir.join("snapshots").join(COMMIT).join(FILE));
    assert_eq!(got.commit.as_deref(), Some(COMMIT));
    assert_eq!(got.sha256, sha);
    assert_eq!(got.repo, "SWE-bench/SWE-bench_Verified");
    assert_eq!(load_dataset(&got.path).expect("parquet").len(), 500);
    assert_eq!(
        layout(&repo_dir),
        [
            format!("blobs/{sha}"),
            "refs/main".to_owned(),
            format!("snapshots/{COMMIT}/{FILE} -> ../../../blobs/{sha}"),
        ]
    );
    // The token went to the hub, never to the CDN host.
    let seen = hub.seen.lock().expect("lock").clone();
    assert!(
        seen.iter().any(|(p, auth)| p.contains("/resolve/") && *auth),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(p, auth)| p.starts_with("/cdn/") && !*auth),
        "{seen:?}"
    );

    // huggingface_hub reads our cache offline, and finds the same file.
    let read = hf_download(ours.path(), &hub.url, "SWE-bench/SWE-bench_Verified", true).expect("hf reads ours");
    assert_eq!(read, got.path);

    // huggingface_hub downloads, under the older organisation's name, from the same server ...
    let theirs = tempfile::tempdir().expect("tmp");
    let path = hf_download(theirs.path(), &hub.url, "princeton-nlp/SWE-bench_Verified", false).expect("hf downloads");
    let their_dir = theirs.path().join("datasets--princeton-nlp--SWE-bench_Verified");
    assert_eq!(path, their_dir.join("snapshots").join(COMMIT).join(FILE));
    // ... laid out exactly as we lay it out ...
    assert_eq!(layout(&their_dir), layout(&repo_dir));
    // ... and we read it offline, asked by the other name.
    let found = resolve_hub(
        &verified("SWE-bench/SWE-bench_Verified"),
        &config(theirs.path(), "http://127.0.0.1:9", true),
        &NoProgress,
    )
    .await
    .expect("we read huggingface_hub's cache");
    assert_eq!(found.path, path);
    assert_eq!(found.repo, "princeton-nlp/SWE-bench_Verified");
    assert_eq!(found.commit.as_deref(), Some(COMMIT));
    assert_eq!(found.sha256, sha);
}

#[tokio::test]
async fn a_sha256_mismatch_is_refused_and_leaves_nothing() {
    let hub = hub(Some("ab".repeat(32))).await;
    let cache = tempfile::tempdir().expect("tmp");
    let err = resolve_hub(
        &verified("SWE-bench/SWE-bench_Verified"),
        &config(cache.path(), &hub.url, false),
        &NoProgress,
    )
    .await
    .expect_err("mismatch")
    .to_string();
    assert!(err.contains("sha256 mismatch"), "{err}");
    let left: Vec<String> = layout(cache.path()).into_iter().filter(|p| !p.ends_with('/')).collect();
    assert!(left.is_empty(), "files left: {left:?}");
}

#[tokio::test]
async fn a_revision_that_is_not_a_name_is_refused() {
    let cache = tempfile::tempdir().expect("tmp");
    let mut ds = verified("SWE-bench/SWE-bench_Verified");
    ds.revision = "../../etc".into();
    let err = resolve_hub(&ds, &config(cache.path(), "http://127.0.0.1:9", false), &NoProgress)
        .await
        .expect_err("bad revision")
        .to_string();
    assert!(
        err.contains("../../etc") && err.contains("branch, tag or commit"),
        "{err}"
    );
}
