//! The loopback OpenAI-compatible server of the tests: `GET /v1/models` and
//! `POST /v1/chat/completions` on `127.0.0.1:<free port>`, served by axum on a runtime of its
//! own (so blocking test code and child processes can use it), with the answers a test
//! decides per request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A running server (it lives as long as the test process).
pub struct Server {
    pub addr: SocketAddr,
}

impl Server {
    /// The base URL a client is given (`http://ADDR/v1`).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// Start a server: `/v1/models` lists the one model `model_id(headers)` names, and each chat
/// request (its headers and raw body) gets the response `chat` makes.
pub fn serve<M, C, F>(model_id: M, chat: C) -> Server
where
    M: Fn(&HeaderMap) -> String + Send + Sync + 'static,
    C: Fn(HeaderMap, Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let model_id = Arc::new(model_id);
    let chat = Arc::new(chat);
    let app = Router::new()
        .route(
            "/v1/models",
            get(move |h: HeaderMap| {
                let id = model_id(&h);
                async move { axum::Json(json!({"object": "list", "data": [{"id": id, "object": "model"}]})) }
            }),
        )
        .route(
            "/v1/chat/completions",
            post(move |h: HeaderMap, body: Bytes| chat(h, body)),
        );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    Server {
        addr: rx.recv().expect("the loopback server did not start"),
    }
}

/// The bearer token of a request ("" when none).
pub fn bearer(h: &HeaderMap) -> String {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned()
}

/// A chat completion from `model` with one choice per text, finished with `stop`.
pub fn completion(id: &str, model: &str, texts: &[String], usage: (u64, u64)) -> Response {
    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}))
        .collect();
    let (prompt, completion) = usage;
    axum::Json(json!({
        "id": id, "object": "chat.completion", "model": model, "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    }))
    .into_response()
}

/// An OpenAI-style error body with `status`.
pub fn error(status: axum::http::StatusCode, message: &str, kind: &str) -> Response {
    (status, axum::Json(json!({"error": {"message": message, "type": kind}}))).into_response()
}
