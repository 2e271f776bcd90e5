//! `--record FILE` around the real local model, then `replay:FILE`: the replay answers exactly
//! what the model answered (texts, finish reasons, token usage), refusals included; requests
//! never recorded are `NotRecorded`; concurrent recording writes whole lines.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use agentless_model::replay::{RecordLine, sample_key};
use agentless_model::{ChatRequest, Message, ModelError, ModelOptions, ModelSpec, open};

fn request(text: &str, n: u32, seed: u64) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        temperature: 0.8,
        top_p: 0.9,
        max_tokens: 16,
        stop: Vec::new(),
        seed: Some(seed),
        n,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_replay_the_real_model() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub/record.jsonl");
    let spec = ModelSpec::Local {
        path: common::smollm2(),
    };
    let recording = open(
        &spec,
        &ModelOptions {
            record: Some(file.clone()),
            ..ModelOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(recording.id(), "local:SmolLM2-135M-Instruct.Q4_1");

    let asked = [
        request("Say hi.", 3, 1),
        request("Count to five.", 2, 9),
        request("Say hi.", 1, 50),
    ];
    let mut answers = Vec::new();
    for r in &asked {
        answers.push(recording.chat(r).await.unwrap());
    }
    // A refusal (prompt over the context) is recorded too.
    let long = request(&"word ".repeat(9000), 1, 0);
    let refused = recording.chat(&long).await.unwrap_err();
    assert!(matches!(refused, ModelError::BadRequest(_)));
    // Concurrent requests: every line whole.
    let recording = Arc::new(recording);
    let mut handles = Vec::new();
    for i in 0..6u64 {
        let m = recording.clone();
        handles.push(tokio::spawn(async move {
            m.chat(&request("Name a color.", 2, 100 + i)).await.unwrap()
        }));
    }
    let mut concurrent = Vec::new();
    for h in handles {
        concurrent.push(h.await.unwrap());
    }
    drop(recording);

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<RecordLine> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3 + 2 + 1 + 1 + 6 * 2, "one line per sample");
    assert_eq!(lines[0].key.as_deref(), Some(sample_key(&asked[0], 0).as_str()));

    let replay = open(
        &ModelSpec::parse(&format!("replay:{}", file.display())).unwrap(),
        &ModelOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        replay.id(),
        "local:SmolLM2-135M-Instruct.Q4_1",
        "replay keeps the recorded model id"
    );
    for (r, a) in asked.iter().zip(&answers) {
        let b = replay.chat(r).await.unwrap();
        assert_eq!(b.completions, a.completions);
        assert_eq!(b.usage, a.usage);
        assert_eq!(b.model, a.model);
    }
    for (i, a) in concurrent.iter().enumerate() {
        let b = replay.chat(&request("Name a color.", 2, 100 + i as u64)).await.unwrap();
        assert_eq!(b.completions, a.completions);
    }
    // Fewer samples than recorded: a prefix. More: not recorded.
    let b = replay.chat(&request("Say hi.", 2, 1)).await.unwrap();
    assert_eq!(b.completions, answers[0].completions[..2]);
    match replay.chat(&request("Say hi.", 4, 1)).await {
        Err(ModelError::NotRecorded { key }) => assert!(
            key.contains(&sample_key(&asked[0], 3)) && key.contains("sample 3"),
            "{key}"
        ),
        other => panic!("expected NotRecorded, got {other:?}"),
    }
    // Other parameters: not recorded.
    let mut other = asked[1].clone();
    other.temperature = 0.7;
    assert!(matches!(replay.chat(&other).await, Err(ModelError::NotRecorded { .. })));
    // The refusal replays as the same refusal.
    match replay.chat(&long).await {
        Err(ModelError::BadRequest(m)) => assert_eq!(
            m,
            refused
                .to_string()
                .trim_start_matches("the model rejected the request: ")
        ),
        other => panic!("expected the recorded refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn replay_files_report_their_problems() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.jsonl");
    let err = open(&ModelSpec::Replay { file: missing }, &ModelOptions::default())
        .await
        .err()
        .expect("an error");
    assert!(
        matches!(err, ModelError::Config(_)) && err.to_string().contains("none.jsonl"),
        "{err}"
    );
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"text\":\"ok\"}\n{\"text\": 5}\n",
    )
    .unwrap();
    let err = open(&ModelSpec::Replay { file: bad }, &ModelOptions::default())
        .await
        .err()
        .expect("an error");
    assert!(err.to_string().contains("bad.jsonl:2"), "{err}");
}
