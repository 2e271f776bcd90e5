//! The local backend on tiny randomly initialised models built by the test: a Qwen2 and a
//! Llama 3 Hugging Face folder (config.json, model.safetensors, tokenizer.json,
//! tokenizer_config.json with a chat template), run by candle-transformers; and the same Qwen2
//! weights written as a GGUF file (Q8_0, Q4_0 and F32 tensors, byte-level BPE vocabulary in the
//! metadata), run by the engine and checked against candle on both the folder and the GGUF.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::Path;

use agentless_model::local::{GgufRunner, LocalOptions, Runtime};
use agentless_model::{ChatRequest, FinishReason, Message, ModelOptions, ModelSpec, open};
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use serde_json::json;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

const HIDDEN: usize = 64;
const INTER: usize = 128;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [(&str, &str); 8] = [
    ("Ġ", "t"),
    ("h", "e"),
    ("i", "n"),
    ("Ġt", "he"),
    ("e", "r"),
    ("o", "n"),
    ("Ġ", "a"),
    ("r", "e"),
];
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Tokens in id order and the merges of the tiny byte-level BPE vocabulary.
fn vocabulary() -> (Vec<String>, Vec<(String, String)>) {
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    let mut tokens: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    let merges: Vec<(String, String)> = MERGES.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    for (a, b) in &merges {
        tokens.push(format!("{a}{b}"));
    }
    tokens.extend(SPECIALS.iter().map(|s| s.to_string()));
    (tokens, merges)
}

fn tokenizer() -> Tokenizer {
    let (tokens, merges) = vocabulary();
    let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().unwrap();
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    tok.add_special_tokens(SPECIALS.iter().map(|s| AddedToken::from(*s, true)))
        .unwrap();
    tok
}

/// Deterministic weights, uniform in ±scale.
struct Gen(u64);
impl Gen {
    fn tensor(&mut self, shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * scale
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }
}

/// Hugging Face weights of a tiny Qwen2 (`bias`) or Llama (no bias).
fn weights(vocab: usize, bias: bool, seed: u64) -> HashMap<String, Tensor> {
    let hd = HIDDEN / HEADS;
    let mut g = Gen(seed);
    let mut w = HashMap::new();
    w.insert("model.embed_tokens.weight".into(), g.tensor(&[vocab, HIDDEN], 1.0));
    w.insert(
        "model.norm.weight".into(),
        g.tensor(&[HIDDEN], 0.2).affine(1.0, 1.0).unwrap(),
    );
    w.insert("lm_head.weight".into(), g.tensor(&[vocab, HIDDEN], 0.4));
    for i in 0..LAYERS {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        w.insert(p("self_attn.q_proj.weight"), g.tensor(&[HEADS * hd, HIDDEN], 0.3));
        w.insert(p("self_attn.k_proj.weight"), g.tensor(&[KV_HEADS * hd, HIDDEN], 0.3));
        w.insert(p("self_attn.v_proj.weight"), g.tensor(&[KV_HEADS * hd, HIDDEN], 0.3));
        if bias {
            w.insert(p("self_attn.q_proj.bias"), g.tensor(&[HEADS * hd], 0.2));
            w.insert(p("self_attn.k_proj.bias"), g.tensor(&[KV_HEADS * hd], 0.2));
            w.insert(p("self_attn.v_proj.bias"), g.tensor(&[KV_HEADS * hd], 0.2));
        }
        w.insert(p("self_attn.o_proj.weight"), g.tensor(&[HIDDEN, HEADS * hd], 0.3));
        w.insert(p("mlp.gate_proj.weight"), g.tensor(&[INTER, HIDDEN], 0.3));
        w.insert(p("mlp.up_proj.weight"), g.tensor(&[INTER, HIDDEN], 0.3));
        w.insert(p("mlp.down_proj.weight"), g.tensor(&[HIDDEN, INTER], 0.3));
        w.insert(
            p("input_layernorm.weight"),
            g.tensor(&[HIDDEN], 0.2).affine(1.0, 1.0).unwrap(),
        );
        w.insert(
            p("post_attention_layernorm.weight"),
            g.tensor(&[HIDDEN], 0.2).affine(1.0, 1.0).unwrap(),
        );
    }
    w
}

/// Write a model folder; `llama` picks the architecture.
fn write_folder(dir: &Path, llama: bool) -> HashMap<String, Tensor> {
    let tok = tokenizer();
    let vocab = tok.get_vocab_size(true);
    let im_end = tok.token_to_id("<|im_end|>").unwrap();
    tok.save(dir.join("tokenizer.json"), false).unwrap();
    let config = if llama {
        json!({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": HIDDEN,
               "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
               "num_key_value_heads": KV_HEADS, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 256,
               "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": [im_end],
               "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 64, "rope_type": "llama3"}})
    } else {
        json!({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": vocab, "hidden_size": HIDDEN,
               "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
               "num_key_value_heads": KV_HEADS, "max_position_embeddings": 256, "sliding_window": 256,
               "max_window_layers": LAYERS, "tie_word_embeddings": false, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
               "use_sliding_window": false, "hidden_act": "silu", "eos_token_id": im_end})
    };
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"chat_template": CHATML, "eos_token": "<|im_end|>", "bos_token": null}).to_string(),
    )
    .unwrap();
    let w = weights(vocab, !llama, if llama { 7 } else { 3 });
    candle_core::safetensors::save(&w, dir.join("model.safetensors")).unwrap();
    w
}

/// The Qwen2 weights as a GGUF file. `mixed`: attention Q8_0, feed-forward Q4_0, output F32
/// (the engine re-quantizes it); else every matrix Q8_0. Embeddings Q8_0, norms and biases F32.
fn write_gguf(path: &Path, w: &HashMap<String, Tensor>, mixed: bool) {
    let (tokens, merges) = vocabulary();
    let q = |name: &str, dtype: GgmlDType| {
        let dtype = if mixed || dtype == GgmlDType::F32 && w[name].rank() == 1 {
            dtype
        } else {
            GgmlDType::Q8_0
        };
        QTensor::quantize(&w[name], dtype).unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            q("model.embed_tokens.weight", GgmlDType::Q8_0),
        ),
        ("output_norm.weight".into(), q("model.norm.weight", GgmlDType::F32)),
        ("output.weight".into(), q("lm_head.weight", GgmlDType::F32)),
    ];
    for i in 0..LAYERS {
        let h = |s: &str| format!("model.layers.{i}.{s}");
        let g = |s: &str| format!("blk.{i}.{s}");
        for (gg, hf, t) in [
            ("attn_q.weight", "self_attn.q_proj.weight", GgmlDType::Q8_0),
            ("attn_k.weight", "self_attn.k_proj.weight", GgmlDType::Q8_0),
            ("attn_v.weight", "self_attn.v_proj.weight", GgmlDType::Q8_0),
            ("attn_q.bias", "self_attn.q_proj.bias", GgmlDType::F32),
            ("attn_k.bias", "self_attn.k_proj.bias", GgmlDType::F32),
            ("attn_v.bias", "self_attn.v_proj.bias", GgmlDType::F32),
            ("attn_output.weight", "self_attn.o_proj.weight", GgmlDType::Q8_0),
            ("ffn_gate.weight", "mlp.gate_proj.weight", GgmlDType::Q4_0),
            ("ffn_up.weight", "mlp.up_proj.weight", GgmlDType::Q4_0),
            ("ffn_down.weight", "mlp.down_proj.weight", GgmlDType::Q4_0),
            ("attn_norm.weight", "input_layernorm.weight", GgmlDType::F32),
            ("ffn_norm.weight", "post_attention_layernorm.weight", GgmlDType::F32),
        ] {
            tensors.push((g(gg), q(&h(hf), t)));
        }
    }
    use gguf_file::Value as V;
    let im_end = tokens.iter().position(|t| t == "<|im_end|>").unwrap() as u32;
    let token_types: Vec<V> = tokens
        .iter()
        .map(|t| V::I32(if SPECIALS.contains(&t.as_str()) { 3 } else { 1 }))
        .collect();
    let md: Vec<(&str, V)> = vec![
        ("general.architecture", V::String("qwen2".into())),
        ("qwen2.block_count", V::U32(LAYERS as u32)),
        ("qwen2.embedding_length", V::U32(HIDDEN as u32)),
        ("qwen2.feed_forward_length", V::U32(INTER as u32)),
        ("qwen2.attention.head_count", V::U32(HEADS as u32)),
        ("qwen2.attention.head_count_kv", V::U32(KV_HEADS as u32)),
        ("qwen2.rope.freq_base", V::F32(10000.0)),
        ("qwen2.attention.layer_norm_rms_epsilon", V::F32(1e-6)),
        ("qwen2.context_length", V::U32(256)),
        ("tokenizer.ggml.model", V::String("gpt2".into())),
        ("tokenizer.ggml.pre", V::String("default".into())),
        (
            "tokenizer.ggml.tokens",
            V::Array(tokens.iter().map(|t| V::String(t.clone())).collect()),
        ),
        (
            "tokenizer.ggml.merges",
            V::Array(merges.iter().map(|(a, b)| V::String(format!("{a} {b}"))).collect()),
        ),
        ("tokenizer.ggml.token_type", V::Array(token_types)),
        ("tokenizer.ggml.eos_token_id", V::U32(im_end)),
        ("tokenizer.chat_template", V::String(CHATML.into())),
    ];
    let md_refs: Vec<(&str, &V)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
}

fn req(n: u32, temperature: f64, seed: u64, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("be brief"),
            Message::user("tell the answer in one line"),
        ],
        temperature,
        top_p: 1.0,
        max_tokens,
        stop: Vec::new(),
        seed: Some(seed),
        n,
    }
}

fn check_runtime(rt: &mut Runtime, what: &str) {
    let never = || false;
    // Greedy is deterministic; n greedy samples in one batch are all the same.
    let a = rt.chat(&req(1, 0.0, 0, 20), &never).unwrap();
    let b = rt.chat(&req(3, 0.0, 5, 20), &never).unwrap();
    assert!(!a.completions[0].text.is_empty(), "{what}");
    for c in &b.completions {
        assert_eq!(
            c, &a.completions[0],
            "{what}: greedy differs across calls or batch rows"
        );
    }
    // Sampled: the batch equals single requests seed by seed; seeds matter.
    let batch = rt.chat(&req(4, 1.0, 40, 16), &never).unwrap();
    for i in 0..4u64 {
        let single = rt.chat(&req(1, 1.0, 40 + i, 16), &never).unwrap();
        assert_eq!(
            single.completions[0], batch.completions[i as usize],
            "{what}: sample {i} batched vs single"
        );
    }
    let again = rt.chat(&req(4, 1.0, 40, 16), &never).unwrap();
    assert_eq!(again.completions, batch.completions, "{what}: same seeds");
    let other = rt.chat(&req(4, 1.0, 41, 16), &never).unwrap();
    assert_ne!(other.completions, batch.completions, "{what}: other seeds");
    assert!(
        batch
            .completions
            .iter()
            .all(|c| c.finish_reason == FinishReason::Length || c.finish_reason == FinishReason::Stop)
    );
}

#[test]
fn tiny_qwen2_folder_runs_and_batches_like_single_sequences() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), false);
    let mut rt = Runtime::load(dir.path(), &LocalOptions::default()).unwrap();
    let info = rt.info(0);
    assert!(info.runner.contains("candle qwen2"), "{}", info.runner);
    assert_eq!(info.context_len, 256);
    // The chat template from tokenizer_config.json, control tokens as single ids.
    let ids = rt.prompt_ids(&[Message::user("hi")]).unwrap();
    let tok = tokenizer();
    let want = tok
        .encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", false)
        .unwrap();
    assert_eq!(ids, want.get_ids());
    check_runtime(&mut rt, "qwen2 folder");
    // Batched and single-sequence logits agree numerically, too.
    let prompt = rt.prompt_ids(&req(1, 0.0, 0, 1).messages).unwrap();
    let one = rt.prompt_logits(&prompt).unwrap();
    assert_eq!(one.len(), tok.get_vocab_size(true));
}

#[test]
fn tiny_llama3_folder_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), true);
    let mut rt = Runtime::load(dir.path(), &LocalOptions::default()).unwrap();
    assert!(rt.info(0).runner.contains("candle llama"), "{}", rt.info(0).runner);
    check_runtime(&mut rt, "llama folder");
}

fn stats(a: &[f32], b: &[f32]) -> (f32, f32) {
    let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let scale = b.iter().map(|x| x.abs()).fold(0f32, f32::max);
    (max, scale)
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

/// The engine on Qwen2 GGUF files (biases, NEOX RoPE) agrees with candle's quantized Qwen2 on
/// the same file (Q8_0 + Q4_0 + re-quantized F32 weights), and, on an all-Q8_0 file, with
/// candle's f32 Qwen2 on the folder the GGUF was made from.
#[test]
fn engine_on_a_qwen2_gguf_agrees_with_candle() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_folder(dir.path(), false);
    let (mixed, q8) = (dir.path().join("tiny-mixed.gguf"), dir.path().join("tiny-q8.gguf"));
    write_gguf(&mixed, &w, true);
    write_gguf(&q8, &w, false);
    let mut engine = Runtime::load(
        &mixed,
        &LocalOptions {
            threads: Some(2),
            ..LocalOptions::default()
        },
    )
    .unwrap();
    assert!(
        engine.info(0).runner.contains("engine Qwen2"),
        "{}",
        engine.info(0).runner
    );
    let mut candle_q = Runtime::load(
        &mixed,
        &LocalOptions {
            gguf_runner: GgufRunner::Candle,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let mut candle_f = Runtime::load(dir.path(), &LocalOptions::default()).unwrap();
    let mut engine_q8 = Runtime::load(&q8, &LocalOptions::default()).unwrap();
    let prompt = engine.prompt_ids(&req(1, 0.0, 0, 1).messages).unwrap();
    assert_eq!(
        prompt,
        candle_f.prompt_ids(&req(1, 0.0, 0, 1).messages).unwrap(),
        "GGUF and folder tokenizers agree"
    );
    let e = engine.prompt_logits(&prompt).unwrap();
    let cq = candle_q.prompt_logits(&prompt).unwrap();
    let (d_q, s_q) = stats(&e, &cq);
    let e8 = engine_q8.prompt_logits(&prompt).unwrap();
    let cf = candle_f.prompt_logits(&prompt).unwrap();
    let (d_f, s_f) = stats(&e8, &cf);
    // The quantized reference's own distance from f32: the engine may be no further than twice it.
    let mut candle_q8 = Runtime::load(
        &q8,
        &LocalOptions {
            gguf_runner: GgufRunner::Candle,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let (d_ref, _) = stats(&candle_q8.prompt_logits(&prompt).unwrap(), &cf);
    eprintln!(
        "engine vs candle quantized (same file): max diff {d_q} of {s_q}; engine Q8_0 vs candle f32 folder: {d_f} of {s_f} (candle Q8_0: {d_ref})"
    );
    assert_eq!(argmax(&e), argmax(&cq));
    assert_eq!(argmax(&e8), argmax(&cf));
    assert!(d_q < 0.04 * s_q, "engine vs candle on the same GGUF: {d_q} of {s_q}");
    assert!(
        d_f < 2.0 * d_ref.max(0.01 * s_f),
        "engine (Q8_0) vs candle on the f32 folder: {d_f} of {s_f}, candle's own: {d_ref}"
    );
    // Greedy continuations agree for a while (quantization may split them later).
    let ge = engine.greedy_tokens(&prompt, 8).unwrap();
    let gq = candle_q.greedy_tokens(&prompt, 8).unwrap();
    assert_eq!(ge[..4], gq[..4], "{ge:?} vs {gq:?}");
    check_runtime(&mut engine, "qwen2 gguf engine");
}

/// `open(local:DIR)` serves a folder through the worker thread.
#[tokio::test]
async fn a_folder_through_open_and_the_worker_thread() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), false);
    let spec = ModelSpec::parse(&format!("local:{}", dir.path().display())).unwrap();
    let model = open(&spec, &ModelOptions::default()).await.unwrap();
    assert!(model.id().starts_with("local:"));
    let r = model.chat(&req(2, 0.7, 1, 8)).await.unwrap();
    assert_eq!(r.completions.len(), 2);
    // A folder without config.json is a configuration error.
    let empty = tempfile::tempdir().unwrap();
    let spec = ModelSpec::Local {
        path: empty.path().to_path_buf(),
    };
    let err = open(&spec, &ModelOptions::default()).await.err().expect("an error");
    assert!(err.to_string().contains("config.json"), "{err}");
}
