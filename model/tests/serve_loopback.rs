//! The HTTP backend against the project's own OpenAI-compatible server running the real
//! SmolLM2 GGUF on loopback: the answers over HTTP are the local model's answers, sample for
//! sample, whether `n` goes in one request or is split into several.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentless_model::http::HttpModel;
use agentless_model::local::{LocalModel, LocalOptions};
use agentless_model::{ChatRequest, Message, Model, ModelError, ModelOptions};
use serde_json::Value;

async fn serve(model: Arc<dyn Model>, name: &str) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = agentless_model::server::router(model, name);
    tokio::spawn(agentless_model::server::serve(listener, router, async move {
        let _ = stopped.await;
    }));
    (format!("http://{addr}/v1"), stop)
}

fn request(n: u32, seed: u64) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("You are terse."), Message::user("Name three fruits.")],
        temperature: 0.9,
        top_p: 0.95,
        max_tokens: 20,
        stop: vec!["\n\n".into()],
        seed: Some(seed),
        n,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_against_serve_running_smollm2() {
    let local: Arc<dyn Model> = Arc::new(
        LocalModel::load(&common::smollm2(), &LocalOptions::default())
            .await
            .unwrap(),
    );
    let (url, stop) = serve(local.clone(), "smollm2-test").await;

    // The model name comes from GET /v1/models.
    let client = HttpModel::connect(std::slice::from_ref(&url), &ModelOptions::default())
        .await
        .unwrap();
    assert_eq!(client.model_name(), "smollm2-test");
    assert_eq!(client.id(), "openai:smollm2-test");

    // n in one request: the same samples as the local model gives directly.
    let direct = local.chat(&request(3, 11)).await.unwrap();
    let over_http = client.chat(&request(3, 11)).await.unwrap();
    assert_eq!(over_http.completions, direct.completions);
    assert_eq!(over_http.usage, direct.usage);
    assert_eq!(over_http.model, "smollm2-test");

    // n split into one request per sample (seed + i each): still the same samples.
    let opts = ModelOptions {
        n_per_request: Some(1),
        ..ModelOptions::default()
    };
    let split = HttpModel::new(std::slice::from_ref(&url), &opts, "smollm2-test".into()).unwrap();
    let r = split.chat(&request(3, 11)).await.unwrap();
    assert_eq!(r.completions, direct.completions);
    assert_eq!(r.usage.completion_tokens, direct.usage.completion_tokens);
    assert_eq!(
        r.usage.prompt_tokens,
        3 * direct.usage.prompt_tokens,
        "three requests, three prompts"
    );

    // Concurrent clients all get their answers.
    let client = Arc::new(client);
    let mut handles = Vec::new();
    for i in 0..4u64 {
        let c = client.clone();
        handles.push(tokio::spawn(async move { c.chat(&request(2, 100 + i)).await }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.unwrap().unwrap();
        let want = local.chat(&request(2, 100 + i as u64)).await.unwrap();
        assert_eq!(r.completions, want.completions);
    }

    // A prompt over the context is a 400, reported as a bad request, not retried.
    let mut long = request(1, 0);
    long.messages = vec![Message::user("word ".repeat(9000))];
    match client.chat(&long).await {
        Err(ModelError::BadRequest(m)) => assert!(m.contains("HTTP 400") && m.contains("context"), "{m}"),
        other => panic!("expected a bad request, got {other:?}"),
    }

    // The wire format, seen raw.
    let http = reqwest::Client::new();
    let models: Value = http
        .get(format!("{url}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "smollm2-test");
    let body = serde_json::json!({"model": "x", "messages": [{"role": "user", "content": "Hi"}], "n": 2, "max_tokens": 4, "temperature": 0});
    let resp: Value = http
        .post(format!("{url}/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["object"], "chat.completion");
    assert_eq!(resp["choices"].as_array().unwrap().len(), 2);
    assert_eq!(resp["choices"][1]["index"], 1);
    assert_eq!(resp["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        resp["usage"]["completion_tokens"].as_u64().unwrap() + resp["usage"]["prompt_tokens"].as_u64().unwrap(),
        resp["usage"]["total_tokens"].as_u64().unwrap()
    );
    for (body, what) in [
        ("{not json".to_string(), "bad JSON"),
        (
            r#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#.to_string(),
            "streaming",
        ),
        (
            r#"{"messages":[{"role":"user","content":"x"}],"top_p":0}"#.to_string(),
            "top_p",
        ),
        (r#"{"messages":[]}"#.to_string(), "no messages"),
    ] {
        let r = http
            .post(format!("{url}/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains(what), "{what}: {v}");
    }
    assert_eq!(
        http.get(url.replace("/v1", "/health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    // A client that gives up does not stall the server for the next one. The next answer is
    // timed against the same answer from the idle server, not against a wall-time bound.
    let t = std::time::Instant::now();
    let want = client.chat(&request(1, 5)).await.unwrap();
    let idle = t.elapsed();
    // No CPU finishes this in 300 ms: 16 samples of up to 2,000 tokens at a temperature where
    // the end-of-text token is rarely drawn (the batch runs until every row ends).
    let slow = {
        let mut r = request(16, 1);
        r.temperature = 2.0;
        r.top_p = 1.0;
        r.max_tokens = 2000;
        r.stop.clear();
        r
    };
    let impatient = HttpModel::new(
        std::slice::from_ref(&url),
        &ModelOptions {
            request_timeout: Duration::from_millis(300),
            retry: agentless_model::retry::RetryPolicy::none(),
            ..ModelOptions::default()
        },
        "x".into(),
    )
    .unwrap();
    assert!(impatient.chat(&slow).await.is_err());
    let t = std::time::Instant::now();
    let next = client.chat(&request(1, 5)).await.unwrap();
    let after = t.elapsed();
    assert_eq!(next.completions, want.completions);
    // Finishing the abandoned request would take 2,000 decoding steps of 16 rows, over 100
    // times the answer timed here; a factor 10 leaves room for a loaded machine.
    assert!(
        after < idle * 10 + Duration::from_secs(2),
        "the abandoned request kept the model busy: {after:?} after it, {idle:?} on the idle server"
    );
    let _ = stop.send(());
}
