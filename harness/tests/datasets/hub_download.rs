//! The Hugging Face download path against a real HTTP server on loopback serving the real
//! Verified parquet: cache layout, cache reuse, auth header, and servers that fail midway
//! (no partial file may ever be taken for a dataset).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentless_harness::dataset::{HubConfig, NoProgress, Split, load_dataset, resolve_split};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::{files_under, verified_parquet_bytes as parquet_bytes};

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Good,
    /// Announce the full length, send half, close.
    DropMidway,
    /// Send a complete-looking body that is not parquet (a proxy error page).
    Garbage,
    NotFound,
}

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    auth_seen: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn serve(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let auth_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let body = Arc::new(parquet_bytes());
    let (h, a) = (hits.clone(), auth_seen.clone());
    tokio::spawn(async move {
        // Bounded: a test server answers at most 16 connections.
        for _ in 0..16 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (h, a, body) = (h.clone(), a.clone(), body.clone());
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
                h.fetch_add(1, Ordering::SeqCst);
                for line in text.lines() {
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        a.lock().expect("lock").push(line.to_owned());
                    }
                }
                let path_ok = text.starts_with(
                    "GET /datasets/princeton-nlp/SWE-bench_Verified/resolve/main/data/test-00000-of-00001.parquet ",
                );
                let head = |status: &str, len: usize| {
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nX-Repo-Commit: abc123def\r\nETag: \"blobetag42\"\r\nConnection: close\r\n\r\n"
                    )
                };
                let _ = match (behaviour, path_ok) {
                    (Behaviour::NotFound, _) | (_, false) => sock.write_all(head("404 Not Found", 0).as_bytes()).await,
                    (Behaviour::Good, true) => {
                        let mut r = sock.write_all(head("200 OK", body.len()).as_bytes()).await;
                        if r.is_ok() {
                            r = sock.write_all(&body).await;
                        }
                        r
                    }
                    (Behaviour::DropMidway, true) => {
                        let mut r = sock.write_all(head("200 OK", body.len()).as_bytes()).await;
                        if r.is_ok() {
                            r = sock.write_all(&body[..body.len() / 2]).await;
                        }
                        r
                    }
                    (Behaviour::Garbage, true) => {
                        let page = b"<html>proxy error</html>";
                        let mut r = sock.write_all(head("200 OK", page.len()).as_bytes()).await;
                        if r.is_ok() {
                            r = sock.write_all(page).await;
                        }
                        r
                    }
                };
                let _ = sock.shutdown().await;
            });
        }
    });
    Server {
        url: format!("http://{addr}"),
        hits,
        auth_seen,
    }
}

fn config(cache: &Path, endpoint: &str, token: Option<&str>) -> HubConfig {
    HubConfig {
        cache_dir: cache.to_path_buf(),
        endpoint: endpoint.to_owned(),
        token: token.map(str::to_owned),
        offline: false,
        revision: "main".into(),
    }
}

#[tokio::test]
async fn downloads_into_hf_cache_layout_and_reuses_it() {
    let cache = tempfile::tempdir().expect("tmp");
    let server = serve(Behaviour::Good).await;
    let cfg = config(cache.path(), &server.url, Some("hf_secret_token"));
    let path = resolve_split(Split::Verified, &cfg, &NoProgress)
        .await
        .expect("download");
    let repo = cache.path().join("datasets--princeton-nlp--SWE-bench_Verified");
    assert_eq!(path, repo.join("snapshots/abc123def/data/test-00000-of-00001.parquet"));
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).expect("ref"),
        "abc123def"
    );
    assert!(repo.join("blobs/blobetag42").is_file());
    assert_eq!(std::fs::read(&path).expect("read"), parquet_bytes());
    let rows = load_dataset(&path).expect("parquet loads");
    assert_eq!(rows.len(), 500);
    assert_eq!(
        server.auth_seen.lock().expect("lock").as_slice(),
        ["authorization: Bearer hf_secret_token"]
    );
    // Second resolution is served from the cache: no new request.
    let again = resolve_split(Split::Verified, &cfg, &NoProgress).await.expect("cached");
    assert_eq!(again, path);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_transfer_that_fails_midway_leaves_nothing_behind() {
    let cache = tempfile::tempdir().expect("tmp");
    for bad in [Behaviour::DropMidway, Behaviour::Garbage, Behaviour::NotFound] {
        let server = serve(bad).await;
        let cfg = config(cache.path(), &server.url, None);
        let err = resolve_split(Split::Verified, &cfg, &NoProgress)
            .await
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("failed to download"), "{err}");
        assert!(
            err.contains("test-00000-of-00001.parquet"),
            "error names the file: {err}"
        );
        let left: Vec<_> = files_under(cache.path());
        assert!(left.is_empty(), "files left after a failed download: {left:?}");
    }
    // The same cache then takes a good download normally.
    let server = serve(Behaviour::Good).await;
    let cfg = config(cache.path(), &server.url, None);
    let path = resolve_split(Split::Verified, &cfg, &NoProgress)
        .await
        .expect("download");
    assert_eq!(load_dataset(&path).expect("loads").len(), 500);
}

#[tokio::test]
async fn offline_mode_never_downloads() {
    let cache = tempfile::tempdir().expect("tmp");
    let server = serve(Behaviour::Good).await;
    let mut cfg = config(cache.path(), &server.url, None);
    cfg.offline = true;
    let err = resolve_split(Split::Lite, &cfg, &NoProgress)
        .await
        .expect_err("offline")
        .to_string();
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn unknown_split_is_a_clear_error() {
    let err = "verifed".parse::<Split>().expect_err("typo").to_string();
    assert!(
        err.contains("verifed") && err.contains("verified, lite, full or demo"),
        "{err}"
    );
}
