//! `agentless-mini dataset --split verified` resolves through HF_HOME / HF_ENDPOINT / HF_TOKEN:
//! a real HTTP server on loopback serves the parquet once; the second run is offline-safe.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::common::{bin, shared_data, verified_parquet};

fn parquet() -> Vec<u8> {
    std::fs::read(verified_parquet()).expect("parquet")
}

#[test]
fn split_download_then_cache_through_the_cli() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = parquet();
    let server = std::thread::spawn(move || {
        // Serve exactly one request, then stop.
        let (mut s, _) = listener.accept().expect("accept");
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Repo-Commit: c0ffee\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("head");
        s.write_all(&body).expect("body");
        String::from_utf8_lossy(&req).into_owned()
    });
    let home = tempfile::tempdir().expect("tmp");
    let run = |extra: &[(&str, &str)]| {
        let mut c = bin();
        c.args([
            "dataset",
            "--split",
            "verified",
            "--instances",
            "django__django-11099,sympy__sympy-20590",
        ])
        .env_remove("HF_HUB_CACHE")
        .env("HF_HOME", home.path())
        .env("HF_ENDPOINT", format!("http://{addr}"))
        .env("HF_TOKEN", "hf_do_not_leak");
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().expect("run")
    };
    let first = run(&[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = String::from_utf8_lossy(&first.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("django__django-11099\tdjango/django\t3.0"),
        "{out}"
    );
    let request = server.join().expect("server");
    assert!(
        request.contains("/datasets/princeton-nlp/SWE-bench_Verified/resolve/main/data/test-00000-of-00001.parquet")
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer hf_do_not_leak")
    );
    assert!(!String::from_utf8_lossy(&first.stderr).contains("hf_do_not_leak"));
    assert!(
        home.path()
            .join("hub/datasets--princeton-nlp--SWE-bench_Verified/refs/main")
            .is_file()
    );
    // The server is gone: the cache alone must serve the second run, also in offline mode.
    let second = run(&[("HF_HUB_OFFLINE", "1")]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(second.stdout, first.stdout);
    // A Hugging Face repository id, under either organisation's name (the official harness
    // loads SWE-bench/SWE-bench_Verified), finds the same cache.
    for by_id in [
        &["--dataset", "SWE-bench/SWE-bench_Verified", "--split", "test"][..],
        &["--dataset", "princeton-nlp/SWE-bench_Verified"][..],
    ] {
        let o = bin()
            .arg("dataset")
            .args(by_id)
            .args(["--instances", "django__django-11099,sympy__sympy-20590"])
            .env_remove("HF_HUB_CACHE")
            .env("HF_HOME", home.path())
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("run");
        assert!(o.status.success(), "{by_id:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout, first.stdout, "{by_id:?}");
    }
}

/// `--split` is a closed list; `test` alone no longer means the full 2,294-instance set.
#[test]
fn split_names_are_a_closed_list_and_test_needs_a_repository() {
    let o = bin().args(["dataset", "--split", "test"]).output().expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "a usage error: {err}");
    assert!(
        err.contains("--dataset REPO_ID") && err.contains("verified, lite or full"),
        "{err}"
    );
    let o = bin().args(["dataset", "--split", "verifed"]).output().expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("verified") && err.contains("demo"),
        "the accepted values are listed: {err}"
    );
    let help = bin().args(["dataset", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("SWE-bench Verified, 500 instances"), "{help}");
}

#[test]
fn unknown_instance_ids_are_named() {
    let ds = shared_data().join("swe-bench/lite-test.parquet");
    let o = bin()
        .args(["dataset", "--dataset"])
        .arg(ds)
        .args(["--instances", "django__django-11099,no__such-1"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no__such-1"));
}
