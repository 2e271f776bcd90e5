//! The local backend on the real SmolLM2-135M-Instruct Q4_1 GGUF (fetched into the cache when
//! missing), checked against llama.cpp (llama-cpp-python, through `llamacpp_ref.py`) and against
//! candle's own quantized Llama. These tests fail, never skip, when python3 or llama-cpp-python
//! is missing. The interpreter is `LLAMACPP_PYTHON` (the venv `scripts/setup-parity-env.sh`
//! makes with `llama-cpp-python==0.3.36`), else `python3`.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use agentless_model::local::{GgufRunner, LocalModel, LocalOptions, Runtime};
use agentless_model::{ChatRequest, FinishReason, Message, Model, ModelError};
use serde_json::{Value, json};

fn llamacpp(request: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/llamacpp_ref.py");
    let python = std::env::var("LLAMACPP_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python} for the llama.cpp parity tests: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "llama.cpp reference failed ({python}; eval \"$(scripts/setup-parity-env.sh)\" sets LLAMACPP_PYTHON):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn runtime() -> Runtime {
    Runtime::load(
        &common::smollm2(),
        &LocalOptions {
            threads: Some(2),
            ..LocalOptions::default()
        },
    )
    .unwrap()
}

const TEXTS: &[&str] = &[
    "def add(a, b):\n    return a + b",
    "Hello, world! How are you today?",
    "  leading spaces and trailing   ",
    "numbers 1234567890 and 3.14159, 2024-01-01",
    "unicode: héllo wörld, 日本語のテキスト, Ωμέγα, emoji 🎉🚀 and ZWJ 👩‍💻",
    "tabs\tand\nnewlines\r\n\n\nmany",
    "class Foo(Bar):\n\tdef __init__(self, *args, **kwargs) -> None:\n\t\tsuper().__init__()\n",
    "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n-print('a')\n+print(\"b\")\n",
    "<<<<<<< SEARCH\n    x = 1\n=======\n    x = 2\n>>>>>>> REPLACE",
    "literal <|im_end|> and <|im_start|>user inside text",
    "",
    " ",
    "'s 't 're CAPS MiXeD snake_case camelCase kebab-case",
];

/// Token ids equal llama.cpp's on the same file: plain text (special tokens not matched), the
/// same text with special-token matching on, and the full rendered chat prompt.
#[test]
fn tokenization_matches_llama_cpp() {
    let rt = runtime();
    let mut items = Vec::new();
    let mut ours = Vec::new();
    for t in TEXTS {
        for special in [false, true] {
            items.push(json!({"text": t, "special": special}));
            ours.push(rt.encode(t, special).unwrap());
        }
    }
    // The rendered chat prompt, tokenized the way llama.cpp's chat path does (special on).
    let chat = [
        Message::system("You solve bugs."),
        Message::user("Fix `def f(): retun 1`\nplease"),
    ];
    let ids = rt.prompt_ids(&chat).unwrap();
    let rendered = "<|im_start|>system\nYou solve bugs.<|im_end|>\n<|im_start|>user\nFix `def f(): retun 1`\nplease<|im_end|>\n<|im_start|>assistant\n";
    items.push(json!({"text": rendered, "special": true}));
    ours.push(ids);
    let theirs = llamacpp(&json!({"model": common::smollm2(), "tokenize": items}));
    let theirs: Vec<Vec<u32>> = serde_json::from_value(theirs["tokens"].clone()).unwrap();
    assert_eq!(theirs.len(), ours.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "item {i}: {}", items[i]);
    }
    // The sample from the reference notes, pinned.
    assert_eq!(
        rt.encode(TEXTS[0], false).unwrap(),
        [1604, 803, 24, 81, 28, 278, 727, 472, 1003, 253, 1232, 278]
    );
    // Round trip.
    for t in TEXTS {
        assert_eq!(rt.decode(&rt.encode(t, false).unwrap()).unwrap(), *t);
    }
}

/// A message quoting a control token cannot end its turn: its text is tokenized as text.
#[test]
fn control_tokens_in_messages_stay_text() {
    let rt = runtime();
    let ids = rt.prompt_ids(&[Message::user("a <|im_end|> b")]).unwrap();
    let im_end = rt.encode("<|im_end|>", true).unwrap();
    assert_eq!(im_end, [2]);
    // Exactly the template's own <|im_end|> tokens: after the default system prompt and the user turn.
    assert_eq!(ids.iter().filter(|&&t| t == 2).count(), 2, "{ids:?}");
    let text = rt.decode(&ids).unwrap();
    assert!(text.contains("a <|im_end|> b"), "{text}");
}

/// Greedy decoding follows llama.cpp's on the reference prompt (64 tokens), teacher-forced along
/// llama.cpp's own greedy path: at every step where llama.cpp's best token leads its second by
/// a clear margin the engine picks the same token, at a near tie (both are Q4_1 weights times
/// Q8 activations, summed in different orders) it picks one of llama.cpp's two best, and the
/// engine's logits of llama.cpp's five best tokens are within quantization noise of
/// llama.cpp's. Free-running greedy output agrees token for token up to the first near tie.
/// Candle's own quantized Llama agrees with the engine on the prompt's logits.
#[test]
fn greedy_matches_llama_cpp_and_candle() {
    const NEAR_TIE: f32 = 0.25;
    let mut rt = runtime();
    let prompt = rt
        .prompt_ids(&[Message::user(
            "Write a Python function that checks if a number is prime.",
        )])
        .unwrap();
    let reference = llamacpp(&json!({"model": common::smollm2(), "greedy": {"prompt": prompt, "n": 64}}));
    let theirs: Vec<u32> = serde_json::from_value(reference["tokens"].clone()).unwrap();
    let top: Vec<Vec<(u32, f32)>> = serde_json::from_value(reference["top"].clone()).unwrap();
    assert_eq!((theirs.len(), top.len()), (64, 64));

    let (mut ties, mut first_tie, mut worst, mut sum, mut count) = (0, None, 0f32, 0f64, 0u32);
    let forced = rt.forced_logits(&prompt, &theirs).unwrap();
    assert_eq!(forced.len(), 64);
    for (i, ((&want, best), logits)) in theirs.iter().zip(&top).zip(&forced).enumerate() {
        let ours = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
        for &(t, l) in best {
            let d = (logits[t as usize] - l).abs();
            worst = worst.max(d);
            sum += f64::from(d);
            count += 1;
        }
        let gap = best[0].1 - best[1].1;
        if gap < NEAR_TIE {
            ties += 1;
            first_tie.get_or_insert(i);
            assert!(
                ours == best[0].0 || ours == best[1].0,
                "step {i}: near tie {best:?}, engine chose {ours}"
            );
        } else {
            assert_eq!(
                ours, want,
                "step {i}: llama.cpp leads by {gap} with {want}, engine chose {ours} ({best:?})"
            );
        }
    }
    let mean = sum / f64::from(count);
    eprintln!(
        "64 teacher-forced steps: {ties} near ties (first at {first_tie:?}), top-5 logit |diff| mean {mean}, worst {worst}"
    );
    assert!(
        mean < 0.5 && worst < 2.0,
        "engine logits differ from llama.cpp's: mean {mean}, worst {worst}"
    );
    assert!(
        ties <= 8,
        "{ties} near ties in 64 steps: the reference path is too flat to test anything"
    );

    let free = rt.greedy_tokens(&prompt, 64).unwrap();
    let agree = first_tie.unwrap_or(64);
    assert_eq!(
        free[..agree],
        theirs[..agree],
        "greedy tokens differ from llama.cpp's before the first near tie\nours: {:?}\nllama.cpp: {:?}",
        rt.decode(&free),
        rt.decode(&theirs)
    );
    assert!(agree >= 16, "a near tie at step {agree} already");

    let engine_logits = rt.prompt_logits(&prompt).unwrap();
    let mut candle = Runtime::load(
        &common::smollm2(),
        &LocalOptions {
            gguf_runner: GgufRunner::Candle,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let candle_logits = candle.prompt_logits(&prompt).unwrap();
    assert_eq!(engine_logits.len(), candle_logits.len());
    let argmax = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(argmax(&engine_logits), argmax(&candle_logits));
    let max_diff = engine_logits
        .iter()
        .zip(&candle_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (a, b) in engine_logits.iter().zip(&candle_logits) {
        dot += f64::from(*a) * f64::from(*b);
        na += f64::from(*a).powi(2);
        nb += f64::from(*b).powi(2);
    }
    let cosine = dot / (na.sqrt() * nb.sqrt());
    eprintln!("engine vs candle logits: max |diff| {max_diff}, cosine {cosine}");
    assert!(
        max_diff < 1.0 && cosine > 0.9995,
        "max diff {max_diff}, cosine {cosine}"
    );
}

fn request(temperature: f64, n: u32, seed: Option<u64>, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("Write a haiku about the sea.")],
        temperature,
        top_p: 0.95,
        max_tokens,
        stop: Vec::new(),
        seed,
        n,
    }
}

/// Greedy output is deterministic; seeded samples repeat with the same seed and differ across
/// seeds; a batch of `n` gives the same samples as `n` single requests with the matching seeds.
#[test]
fn sampling_is_seeded_and_batching_does_not_change_samples() {
    let mut rt = runtime();
    let never = || false;
    let g1 = rt.chat(&request(0.0, 1, None, 24), &never).unwrap();
    let g2 = rt.chat(&request(0.0, 3, Some(99), 24), &never).unwrap();
    assert_eq!(g2.completions.len(), 3);
    for c in &g2.completions {
        assert_eq!(
            c.text, g1.completions[0].text,
            "greedy must not depend on seed or batch"
        );
    }

    let a = rt.chat(&request(1.0, 4, Some(7), 24), &never).unwrap();
    let b = rt.chat(&request(1.0, 4, Some(7), 24), &never).unwrap();
    assert_eq!(a.completions, b.completions, "same seed, same samples");
    let texts: std::collections::HashSet<&str> = a.completions.iter().map(|c| c.text.as_str()).collect();
    assert!(
        texts.len() >= 3,
        "samples of one request should differ: {:?}",
        a.completions
    );
    let c = rt.chat(&request(1.0, 4, Some(8), 24), &never).unwrap();
    assert_ne!(a.completions, c.completions, "another seed, other samples");
    assert_eq!(a.completions[1..], c.completions[..3], "sample i uses seed + i");

    for i in 0..4u32 {
        let single = rt.chat(&request(1.0, 1, Some(7 + u64::from(i)), 24), &never).unwrap();
        assert_eq!(
            single.completions[0], a.completions[i as usize],
            "sample {i}: batched vs single"
        );
    }
    assert!(
        a.usage.completion_tokens > 0 && a.usage.completion_tokens <= 4 * 24,
        "{:?}",
        a.usage
    );
    assert_eq!(
        a.usage.prompt_tokens,
        rt.prompt_ids(&request(1.0, 1, None, 1).messages).unwrap().len() as u64
    );
}

/// Stop strings cut the text (and are not included), `max_tokens` ends with `length`, and a
/// prompt longer than the context is a bad request.
#[test]
fn stops_limits_and_context() {
    let mut rt = runtime();
    let never = || false;
    let mut req = request(0.0, 1, None, 64);
    req.messages = vec![Message::user(
        "Write a Python function that checks if a number is prime.",
    )];
    let full = rt.chat(&req, &never).unwrap();
    let text = &full.completions[0].text;
    assert!(text.starts_with("```python\ndef is_prime(n):"), "{text}");
    req.stop = vec!["(n):".into()];
    let cut = rt.chat(&req, &never).unwrap();
    assert_eq!(cut.completions[0].text, "```python\ndef is_prime");
    assert_eq!(cut.completions[0].finish_reason, FinishReason::Stop);
    req.stop.clear();
    req.max_tokens = 5;
    let short = rt.chat(&req, &never).unwrap();
    assert_eq!(short.completions[0].finish_reason, FinishReason::Length);
    assert_eq!(short.usage.completion_tokens, 5);
    assert!(text.starts_with(&short.completions[0].text));

    let mut long = request(0.0, 1, None, 8);
    long.messages = vec![Message::user("word ".repeat(9000))];
    match rt.chat(&long, &never) {
        Err(ModelError::BadRequest(m)) => assert!(m.contains("context is 8192"), "{m}"),
        other => panic!("expected a bad request, got {other:?}"),
    }
}

/// An EOS token ends a completion with `stop` before `max_tokens`.
#[test]
fn eos_ends_completions() {
    let mut rt = runtime();
    let mut req = request(0.0, 1, None, 200);
    req.messages = vec![Message::user("What is 2+2?")];
    let r = rt.chat(&req, &|| false).unwrap();
    assert_eq!(
        r.completions[0].finish_reason,
        FinishReason::Stop,
        "{:?}",
        r.completions[0]
    );
    assert!(r.usage.completion_tokens < 200);
    assert!(!r.completions[0].text.contains("<|im_end|>"));
}

/// The async `LocalModel`: one worker thread owns the model; concurrent callers all get answers,
/// and a dropped request is cancelled without harming the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_serves_concurrent_callers() {
    let model = std::sync::Arc::new(
        LocalModel::load(&common::smollm2(), &LocalOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(model.id(), "local:SmolLM2-135M-Instruct.Q4_1");
    // A request cancelled by dropping its future.
    let slow = request(1.0, 2, Some(1), 2000);
    let m2 = model.clone();
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        async move { m2.chat(&slow).await },
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the long request should still be running at the timeout"
    );
    let mut handles = Vec::new();
    for i in 0..4u64 {
        let m = model.clone();
        handles.push(tokio::spawn(async move { m.chat(&request(0.8, 2, Some(i), 12)).await }));
    }
    let started = std::time::Instant::now();
    for h in handles {
        let r = h.await.unwrap().unwrap();
        assert_eq!(r.completions.len(), 2);
    }
    // The cancelled request (2000 tokens) was dropped, not decoded to its end first.
    assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());
}

/// A prompt longer than the engine's prefill chunk (512 tokens) is processed in chunks: the
/// logits after it agree with llama.cpp's (greedy continuations of long prompts may part at a
/// near tie, so the logits are compared), and `n` samples share the prompt's cache.
#[test]
fn long_prompts_prefill_in_chunks() {
    let mut rt = runtime();
    let code = "def merge_intervals(intervals):\n    intervals = sorted(intervals, key=lambda iv: iv[0])\n    merged = []\n    for start, end in intervals:\n        if merged and start <= merged[-1][1]:\n            merged[-1][1] = max(merged[-1][1], end)\n        else:\n            merged.append([start, end])\n    return merged\n\n";
    let text = format!(
        "Here is some code:\n{}\nExplain what the function does in one sentence.",
        code.repeat(18)
    );
    let prompt = rt.prompt_ids(&[Message::user(text.clone())]).unwrap();
    assert!(prompt.len() > 1100, "{}", prompt.len());
    let t = std::time::Instant::now();
    let ours = rt.prompt_logits(&prompt).unwrap();
    eprintln!("engine prefill of {} tokens: {:?}", prompt.len(), t.elapsed());
    let t = std::time::Instant::now();
    let theirs = llamacpp(&json!({"model": common::smollm2(), "logits": {"prompt": prompt}}));
    eprintln!("llama.cpp: {:?}", t.elapsed());
    let theirs: Vec<f32> = serde_json::from_value(theirs["logits"].clone()).unwrap();
    assert_eq!(ours.len(), theirs.len());
    let max_diff = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let top = |v: &[f32]| {
        let mut i: Vec<usize> = (0..v.len()).collect();
        i.sort_by(|a, b| v[*b].total_cmp(&v[*a]));
        i.truncate(5);
        i
    };
    let (to, tt) = (top(&ours), top(&theirs));
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (a, b) in ours.iter().zip(&theirs) {
        dot += f64::from(*a) * f64::from(*b);
        na += f64::from(*a).powi(2);
        nb += f64::from(*b).powi(2);
    }
    let cosine = dot / (na.sqrt() * nb.sqrt());
    eprintln!(
        "long prompt ({} tokens): max |diff| {max_diff}, cosine {cosine}; top-5 ours {to:?} llama.cpp {tt:?}",
        prompt.len()
    );
    assert!(max_diff < 2.0 && cosine > 0.999, "max diff {max_diff}, cosine {cosine}");
    assert_eq!(to[..3], tt[..3], "the three most likely next tokens");
    let mut req = request(0.7, 3, Some(3), 8);
    req.messages = vec![Message::user(text)];
    let t = std::time::Instant::now();
    let r = rt.chat(&req, &|| false).unwrap();
    eprintln!("chat n=3: {:?}", t.elapsed());
    assert_eq!(r.completions.len(), 3);
    assert_eq!(r.usage.prompt_tokens, prompt.len() as u64);
}
