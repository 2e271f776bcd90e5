//! The local backend on the real SmolLM2-135M-Instruct Q4_1 GGUF (fetched into the cache when
//! missing), checked against llama.cpp (llama-cpp-python, through `llamacpp_ref.py`) and against
//! candle's own quantized Llama. These tests fail, never skip, when python3 or llama-cpp-python
//! is missing. The interpreter is `LLAMACPP_PYTHON` (the venv `scripts/setup-parity-env.sh`
//! makes with `llama-cpp-python==0.3.36`), else `python3`.
//!
//! The checks judge the engine, not how llama.cpp was built. llama.cpp's arithmetic depends on
//! its build (the package index has no wheel of 0.3.36: pip builds it from source for the CPU
//! at hand), and so does its greedy path. Measured with `greedy_parity_figures` on a 2-core
//! AVX-512 machine, three builds (default = `-march=native`; `CMAKE_ARGS=-DGGML_NATIVE=OFF`
//! = AVX2; and that with AVX, AVX2, FMA, F16C and BMI2 off = SSE only), 64 teacher-forced
//! steps per prompt, 8 prompts, engine kernels AVX512-VNNI (AVX2 gives identical figures;
//! scalar, measured on 4 prompts, is within the same spread):
//!
//! | | native | no native | SSE only |
//! |---|---|---|---|
//! | prime prompt (the former fixed one): first lead under 0.25 | step 12 | step 21 | - |
//! | candidates' first step with a lead under `AMBIGUOUS` (0.5), in `GREEDY_PROMPTS` order | 41, 44, 41, 55 | 48, 44, 41, 34 | 41, 44, 41, 30 |
//! | candidates' least lead over the first 32 steps | 0.71, 0.61, 0.68, 0.59 | 0.82, 0.57, 0.79, 0.78 | 0.66, 0.74, 0.54, 0.48 |
//! | top-5 logit mean / largest engine error, over all prompts | 0.32 / 1.98 | 0.30 / 2.51 | 0.25 / 1.50 |
//! | long prompt (1,575 tokens), all logits: largest error / cosine | 0.61 / 0.99987 | 1.13 / 0.99968 | 0.79 / 0.99982 |
//! | long prompt: llama.cpp's lead of its best / its three best | 0.03 / 504 1348 49 | 0.39 / 504 1348 49 | 0.04 / 1348 504 49 |
//!
//! The engine's error on llama.cpp's lead of its best token over its second reached 0.74 at
//! steps with a lead under 2 (2.14 at larger leads), over 1,920 steps measured. Hence, each
//! with a margin over the figures: `NEAR_TIE` 1.0 (x1.35), `MEAN_BOUND` 0.5 (x1.6),
//! `WORST_BOUND` 4.0 (x1.6), `LONG_MAX_DIFF` 2.0 (x1.8), `LONG_MIN_COSINE` 0.999 (1 - cosine
//! x3). The former greedy check (the prime prompt, a near tie under a lead of 0.25, worst 2.0,
//! 16 steps before the first near tie) fails on the native build (near tie at step 12); on
//! other prompts its bounds fail too: worst 2.51 (no native), and the engine choosing
//! llama.cpp's second where llama.cpp led by 0.30 (native). The long prompt's former check
//! (llama.cpp's three best, in order) fails on the SSE build. With one weight changed
//! (`PERTURBED`) the engine's mean error is 0.88-0.93 on the three builds and it parts from
//! llama.cpp where llama.cpp leads by 1.9 to 3.8: the check rejects it.
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

/// Candidate prompts of the greedy parity check, in order. llama.cpp's greedy path depends on
/// how llama.cpp was built (see the figures at the top of this file): the check runs on the
/// first candidate whose path has no ambiguous step in its first `CLEAR_STEPS` steps on this
/// machine, and fails only when none has. Ordered by their smallest lead over those steps,
/// least over the builds measured, largest first.
const GREEDY_PROMPTS: &[&str] = &[
    "Write a Python function that sums the even numbers in a list.",
    "Write a Python function that checks if a number is positive.",
    "Write a Python function that returns the sum of the digits of a number.",
    "Write a Python function that checks if a year is a leap year.",
];
/// Greedy steps compared (teacher-forced along llama.cpp's path).
const STEPS: usize = 64;
/// Steps at the start of a candidate's path that must not be ambiguous.
const CLEAR_STEPS: usize = 32;
/// A step is ambiguous when llama.cpp's best logit leads its second by less than this.
const AMBIGUOUS: f32 = 0.5;
/// At every step the engine's token must be one llama.cpp scores within this of its best: at a
/// step where llama.cpp leads by more, exactly llama.cpp's token. Above the largest error of the
/// engine on llama.cpp's lead between its two best measured at a lead under 2 (header).
const NEAR_TIE: f32 = 1.0;
/// Bounds on |engine - llama.cpp| over llama.cpp's five best logits at every step (header).
const MEAN_BOUND: f64 = 0.5;
const WORST_BOUND: f32 = 4.0;
/// Bounds on the logits after a 1,100-token prompt (`long_prompts_prefill_in_chunks`), all
/// 49,152 of them: largest |engine - llama.cpp| and least cosine similarity (header).
const LONG_MAX_DIFF: f32 = 2.0;
const LONG_MIN_COSINE: f64 = 0.999;

/// llama.cpp's greedy path after one prompt, with its five best logits at every step.
struct GreedyReference {
    text: &'static str,
    prompt: Vec<u32>,
    tokens: Vec<u32>,
    top: Vec<Vec<(u32, f32)>>,
}

impl GreedyReference {
    fn new(rt: &Runtime, text: &'static str) -> Self {
        let prompt = rt.prompt_ids(&[Message::user(text)]).unwrap();
        let reference = llamacpp(&json!({"model": common::smollm2(), "greedy": {"prompt": prompt, "n": STEPS}}));
        let tokens: Vec<u32> = serde_json::from_value(reference["tokens"].clone()).unwrap();
        let top: Vec<Vec<(u32, f32)>> = serde_json::from_value(reference["top"].clone()).unwrap();
        assert_eq!((tokens.len(), top.len()), (STEPS, STEPS));
        assert!(top.iter().all(|b| b.len() == 5));
        GreedyReference {
            text,
            prompt,
            tokens,
            top,
        }
    }

    /// llama.cpp's lead of its best token over its second at each step.
    fn leads(&self) -> impl Iterator<Item = f32> + '_ {
        self.top.iter().map(|b| b[0].1 - b[1].1)
    }

    fn first_ambiguous(&self) -> Option<usize> {
        self.leads().position(|g| g < AMBIGUOUS)
    }
}

/// The reference of the first candidate prompt with `CLEAR_STEPS` unambiguous steps in this
/// llama.cpp build (asked once per test binary).
fn chosen_reference(rt: &Runtime) -> &'static GreedyReference {
    static CHOSEN: std::sync::OnceLock<GreedyReference> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| {
        let mut tried = Vec::new();
        for &text in GREEDY_PROMPTS {
            let r = GreedyReference::new(rt, text);
            match r.first_ambiguous() {
                Some(step) if step < CLEAR_STEPS => tried.push(format!("{text:?}: ambiguous at step {step}")),
                first => {
                    eprintln!("greedy parity prompt: {text:?} (first ambiguous step: {first:?})");
                    return r;
                }
            }
        }
        panic!(
            "no candidate prompt has {CLEAR_STEPS} greedy steps where llama.cpp leads by {AMBIGUOUS} or more in \
             this llama.cpp build (its arithmetic is far from the builds measured in this file's header):\n{}",
            tried.join("\n")
        )
    })
}

/// What the engine's teacher-forced logits look like against llama.cpp's along one path.
#[derive(Debug)]
struct GreedyFigures {
    /// Steps where llama.cpp leads by less than `NEAR_TIE`, and the first.
    near_ties: usize,
    first_near_tie: Option<usize>,
    /// Mean and largest |engine - llama.cpp| over llama.cpp's five best logits, all steps.
    mean: f64,
    worst: f32,
    /// Largest |(engine - llama.cpp) on the best token - (same) on the second|: how much the
    /// two engines disagree about a lead.
    worst_lead_error: f32,
    /// How many of the engine's free-running greedy tokens equal llama.cpp's.
    free_agree: usize,
    /// At each step: llama.cpp's lead, and the engine's error on it.
    leads: Vec<(f32, f32)>,
}

/// Judge the engine `rt` against llama.cpp's greedy path `r`: the figures, and what failed.
/// At every step the engine picks a token llama.cpp scores within `NEAR_TIE` of its best (where
/// llama.cpp leads by more: llama.cpp's token); its logits of llama.cpp's five best are within
/// `MEAN_BOUND` / `WORST_BOUND`; free-running, it follows llama.cpp's tokens up to the first step
/// where its teacher-forced choice differs, and makes that choice there.
fn greedy_parity(rt: &mut Runtime, r: &GreedyReference) -> (GreedyFigures, Vec<String>) {
    let mut failures = Vec::new();
    let mut leads = Vec::with_capacity(STEPS);
    let forced = rt.forced_logits(&r.prompt, &r.tokens).unwrap();
    assert_eq!(forced.len(), STEPS);
    let (mut near_ties, mut worst, mut worst_lead_error, mut sum, mut count) = (0, 0f32, 0f32, 0f64, 0u32);
    let mut choices = Vec::with_capacity(STEPS);
    for (i, ((&want, best), logits)) in r.tokens.iter().zip(&r.top).zip(&forced).enumerate() {
        let ours = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
        choices.push(ours);
        let diffs: Vec<f32> = best.iter().map(|&(t, l)| logits[t as usize] - l).collect();
        for d in &diffs {
            worst = worst.max(d.abs());
            sum += f64::from(d.abs());
            count += 1;
        }
        worst_lead_error = worst_lead_error.max((diffs[0] - diffs[1]).abs());
        let lead = best[0].1 - best[1].1;
        leads.push((lead, diffs[0] - diffs[1]));
        if lead >= NEAR_TIE {
            if ours != want {
                failures.push(format!(
                    "step {i}: llama.cpp leads by {lead} with {want}, engine chose {ours} ({best:?})"
                ));
            }
            continue;
        }
        near_ties += 1;
        // A token llama.cpp scores within NEAR_TIE of its best (ties can be many-way); one
        // outside its five best is judged only when its fifth is already that far below.
        let close = match best.iter().find(|&&(t, _)| t == ours) {
            Some(&(_, l)) => best[0].1 - l < NEAR_TIE,
            None => best[0].1 - best[4].1 < NEAR_TIE,
        };
        if !close {
            failures.push(format!("step {i}: near tie {best:?}, engine chose {ours}"));
        }
    }
    let mean = sum / f64::from(count);
    if !(mean < MEAN_BOUND && worst < WORST_BOUND) {
        failures.push(format!(
            "engine logits differ from llama.cpp's: mean {mean} (bound {MEAN_BOUND}), worst {worst} (bound {WORST_BOUND})"
        ));
    }
    // Free-running greedy decoding makes the teacher-forced choices: llama.cpp's tokens up to
    // the first step where the engine's choice differs, and that choice there.
    let parted = choices.iter().zip(&r.tokens).take_while(|(a, b)| a == b).count();
    let free = rt.greedy_tokens(&r.prompt, STEPS).unwrap();
    let free_agree = free.iter().zip(&r.tokens).take_while(|(a, b)| a == b).count();
    if free[..parted] != r.tokens[..parted] || (parted < STEPS && free[parted] != choices[parted]) {
        failures.push(format!(
            "free-running greedy tokens part from the teacher-forced choices (first difference at step {parted})\nours: {:?}\nllama.cpp: {:?}",
            rt.decode(&free).unwrap(),
            rt.decode(&r.tokens).unwrap()
        ));
    }
    let figures = GreedyFigures {
        near_ties,
        first_near_tie: leads.iter().position(|&(g, _)| g < NEAR_TIE),
        mean,
        worst,
        worst_lead_error,
        free_agree,
        leads,
    };
    (figures, failures)
}

/// Greedy decoding follows llama.cpp's (`greedy_parity`) on the first candidate prompt with an
/// unambiguous path in this llama.cpp build. Candle's own quantized Llama agrees with the engine
/// on that prompt's logits.
#[test]
fn greedy_matches_llama_cpp_and_candle() {
    let mut rt = runtime();
    let r = chosen_reference(&rt);
    let (figures, failures) = greedy_parity(&mut rt, r);
    let f = &figures;
    eprintln!(
        "{:?}: {} steps under a lead of {NEAR_TIE} (first {:?}), top-5 logit |diff| mean {:.3}, worst {:.3}, lead error {:.3}; free-running agrees for {} steps",
        r.text, f.near_ties, f.first_near_tie, f.mean, f.worst, f.worst_lead_error, f.free_agree
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let prompt = &r.prompt;
    let engine_logits = rt.prompt_logits(prompt).unwrap();
    let mut candle = Runtime::load(
        &common::smollm2(),
        &LocalOptions {
            gguf_runner: GgufRunner::Candle,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let candle_logits = candle.prompt_logits(prompt).unwrap();
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

/// A copy of the GGUF file at `src` in `dir` with element `index` of the F32 tensor `name`
/// multiplied by `factor`: one wrong weight, everything else byte-identical.
fn with_one_weight_scaled(
    src: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    index: usize,
    factor: f32,
) -> std::path::PathBuf {
    use candle_core::quantized::{GgmlDType, gguf_file};
    let mut bytes = std::fs::read(src).unwrap();
    let content = gguf_file::Content::read(&mut std::io::Cursor::new(&bytes)).unwrap();
    let info = &content.tensor_infos[name];
    assert_eq!(info.ggml_dtype, GgmlDType::F32, "{name}");
    assert!(index < info.shape.elem_count());
    let at = (content.tensor_data_offset + info.offset) as usize + 4 * index;
    let old = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    bytes[at..at + 4].copy_from_slice(&(old * factor).to_le_bytes());
    let out = dir.join("perturbed.gguf");
    std::fs::write(&out, bytes).unwrap();
    out
}

/// The greedy parity check can fail: an engine running a file with one weight changed (llama.cpp
/// still runs the original) is rejected, while the same file unchanged passes.
#[test]
fn greedy_parity_rejects_a_perturbed_weight() {
    let rt = runtime();
    let r = chosen_reference(&rt);
    let dir = tempfile::tempdir().unwrap();
    let (name, index, factor) = PERTURBED;
    let path = with_one_weight_scaled(&common::smollm2(), dir.path(), name, index, factor);
    let mut wrong = Runtime::load(
        &path,
        &LocalOptions {
            threads: Some(2),
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let (figures, failures) = greedy_parity(&mut wrong, r);
    let f = &figures;
    eprintln!(
        "perturbed {PERTURBED:?} on {:?}: top-5 logit |diff| mean {:.3}, worst {:.3}; rejected for:\n{}",
        r.text,
        f.mean,
        f.worst,
        failures.join("\n")
    );
    assert!(
        !failures.is_empty(),
        "the parity check accepted an engine with a wrong weight: mean {}, worst {}",
        f.mean,
        f.worst
    );
}

/// The weight `greedy_parity_rejects_a_perturbed_weight` changes: tensor, element, factor.
const PERTURBED: (&str, usize, f32) = ("output_norm.weight", 0, 10.0);

/// Measurement, not a check (run by hand with `--ignored --nocapture`, once per llama.cpp build
/// and `AGENTLESS_SIMD` level): the figures of every candidate prompt, for this file's header.
#[test]
#[ignore = "prints the figures the bounds are derived from; run by hand"]
fn greedy_parity_figures() {
    let mut rt = runtime();
    for &text in GREEDY_PROMPTS.iter().chain(EXTRA_PROMPTS) {
        let r = GreedyReference::new(&rt, text);
        let min_lead = r.leads().take(CLEAR_STEPS).fold(f32::INFINITY, f32::min);
        let (figures, failures) = greedy_parity(&mut rt, &r);
        let f = &figures;
        println!(
            "FIGURES {text:?} min_lead_32 {min_lead:.3} first_ambiguous {:?} near_ties {} mean {:.3} worst {:.3} worst_lead_error {:.3} free_agree {} failures {failures:?}",
            r.first_ambiguous(),
            f.near_ties,
            f.mean,
            f.worst,
            f.worst_lead_error,
            f.free_agree
        );
        println!(
            "LEADS {text:?} {:?}",
            f.leads
                .iter()
                .map(|(g, e)| format!("{g:.2}/{e:+.2}"))
                .collect::<Vec<_>>()
        );
    }
}

/// Prompts measured by `greedy_parity_figures` besides the candidates.
const EXTRA_PROMPTS: &[&str] = &[
    "Write a Python function that checks if a number is prime.",
    "Write a Python function that capitalizes every word in a sentence.",
    "Write a Python function that counts the vowels in a string.",
    "Write a function in Python to merge two sorted lists.",
];

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

/// A request that no CPU finishes in a few seconds: 16 samples of up to 2,000 tokens, at a
/// temperature where the end-of-text token is rarely drawn (the batch runs until every row ends).
fn endless() -> ChatRequest {
    let mut r = request(2.0, 16, Some(1), 2000);
    r.top_p = 1.0;
    r
}

/// The async `LocalModel`: one worker thread owns the model; concurrent callers all get answers,
/// and a dropped request is cancelled without harming the next one. No wall-time bound of its
/// own: the answers after a dropped request are timed against the same answers on an idle model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_serves_concurrent_callers() {
    let model = std::sync::Arc::new(
        LocalModel::load(&common::smollm2(), &LocalOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(model.id(), "local:SmolLM2-135M-Instruct.Q4_1");
    // Token counts for the pipeline's context budgets: the model's own tokenizer (the ids
    // `tokenization_matches_llama_cpp` checks), no special tokens.
    let text = "def f(x):\n    return x + 1  # <|im_end|>\n";
    assert_eq!(
        model.count_tokens(text),
        Some(runtime().encode(text, false).unwrap().len())
    );
    assert_eq!(model.count_tokens(""), Some(0));
    let concurrent = || async {
        let mut handles = Vec::new();
        for i in 0..4u64 {
            let m = model.clone();
            handles.push(tokio::spawn(async move { m.chat(&request(0.8, 2, Some(i), 12)).await }));
        }
        let started = std::time::Instant::now();
        let mut answers = Vec::new();
        for h in handles {
            let r = h.await.unwrap().unwrap();
            assert_eq!(r.completions.len(), 2);
            answers.push(r.completions);
        }
        (started.elapsed(), answers)
    };
    let (idle, want) = concurrent().await;
    // A request cancelled by dropping its future.
    let m2 = model.clone();
    let cancelled = tokio::time::timeout(std::time::Duration::from_millis(300), async move {
        m2.chat(&endless()).await
    })
    .await;
    assert!(
        cancelled.is_err(),
        "the long request should still be running at the timeout"
    );
    let (after, answers) = concurrent().await;
    assert_eq!(answers, want, "the dropped request changed the next answers");
    // Decoding the dropped request to its end would take 2,000 steps of 16 rows, over 40 times
    // the 4 x 12 steps of 2 rows timed here; a factor 10 leaves room for a loaded machine.
    assert!(
        after < idle * 10 + std::time::Duration::from_secs(2),
        "the dropped request kept the model busy: {after:?} after it, {idle:?} on an idle model"
    );
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
    let lead = theirs[tt[0]] - theirs[tt[1]];
    eprintln!(
        "long prompt ({} tokens): max |diff| {max_diff}, cosine {cosine}; top-5 ours {to:?} llama.cpp {tt:?} (lead {lead})",
        prompt.len()
    );
    assert!(
        max_diff < LONG_MAX_DIFF && cosine > LONG_MIN_COSINE,
        "max diff {max_diff}, cosine {cosine}"
    );
    // The same next token unless llama.cpp's is a near tie; the engine's three best are
    // llama.cpp's three best or within a near tie of its third.
    assert!(
        lead < NEAR_TIE || to[0] == tt[0],
        "next token: ours {to:?}, llama.cpp {tt:?}"
    );
    for &t in &to[..3] {
        assert!(
            theirs[t] > theirs[tt[2]] - NEAR_TIE,
            "the engine's top-3 token {t} is far below llama.cpp's third best: ours {to:?}, llama.cpp {tt:?}"
        );
    }
    let mut req = request(0.7, 3, Some(3), 8);
    req.messages = vec![Message::user(text)];
    let t = std::time::Instant::now();
    let r = rt.chat(&req, &|| false).unwrap();
    eprintln!("chat n=3: {:?}", t.elapsed());
    assert_eq!(r.completions.len(), 3);
    assert_eq!(r.usage.prompt_tokens, prompt.len() as u64);
}
