//! Models run by candle-transformers itself: Hugging Face folders (Qwen2 / Qwen2.5-Coder and
//! Llama 3 safetensors, f32 on CPU, bf16 on CUDA), and GGUF files through candle's quantized
//! Llama / Qwen2 (used on CUDA, and on CPU when asked, as the reference the engine is checked
//! against).
//!
//! A folder holds `config.json`, `*.safetensors` (or `model.safetensors.index.json`),
//! `tokenizer.json`, and optionally `tokenizer_config.json` (chat template, BOS/EOS) and
//! `generation_config.json` (more EOS ids).
//!
//! candle keeps the KV cache inside the model, so `n` samples are `n` copies of the prompt in
//! one batch (the prompt is processed `n` times) and finished rows stay in the batch.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, quantized_llama, quantized_qwen2, qwen2};
use serde_json::Value;

use super::Forward;
use super::template::{CHATML, ChatTemplate};
use super::tokenizer::TextTokenizer;
use crate::ModelError;

fn cerr(what: &str) -> impl FnOnce(candle_core::Error) -> ModelError + '_ {
    move |e| ModelError::Local(format!("{what}: {e}"))
}

fn read_json(path: &Path) -> Result<Value, ModelError> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| ModelError::Local(format!("{}: {e}", path.display())))
}

/// A token given as `"text"` or `{"content": "text"}` in tokenizer_config.json.
fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn ids_of(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).map(|x| x as u32).collect(),
        _ => Vec::new(),
    }
}

/// The safetensors files of a folder: from the index when there is one, else every
/// `*.safetensors`, in name order.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let v = read_json(&index)?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| ModelError::Local(format!("{}: no weight_map", index.display())))?;
        let names: BTreeSet<&str> = map.values().filter_map(Value::as_str).collect();
        return Ok(names.into_iter().map(|n| dir.join(n)).collect());
    }
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::Local(format!("{} has no *.safetensors", dir.display())));
    }
    Ok(files)
}

/// What a folder loads into.
pub(crate) struct Loaded {
    pub forward: Box<dyn Forward>,
    pub tokenizer: TextTokenizer,
    pub template: ChatTemplate,
}

/// Load a Hugging Face model folder onto `device`.
pub(crate) fn load_folder(dir: &Path, device: &Device) -> Result<Loaded, ModelError> {
    let config_path = dir.join("config.json");
    if !config_path.exists() {
        return Err(ModelError::Config(format!(
            "{} has no config.json (expected a model folder or a .gguf file)",
            dir.display()
        )));
    }
    let config = read_json(&config_path)?;
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let tok_config = dir.join("tokenizer_config.json");
    let tok_config = if tok_config.exists() {
        read_json(&tok_config)?
    } else {
        Value::Null
    };
    let gen_config = dir.join("generation_config.json");
    let gen_config = if gen_config.exists() {
        read_json(&gen_config)?
    } else {
        Value::Null
    };

    let eos_text = token_text(tok_config.get("eos_token"));
    let bos_text = token_text(tok_config.get("bos_token"));
    let mut eos_ids = ids_of(config.get("eos_token_id"));
    eos_ids.extend(ids_of(gen_config.get("eos_token_id")));
    let tokenizer = TextTokenizer::from_file(
        &dir.join("tokenizer.json"),
        &eos_text.iter().cloned().collect::<Vec<_>>(),
        &eos_ids,
        bos_text.clone(),
    )?;
    let template_src = match tok_config.get("chat_template") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .or_else(|| list.first())
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    };
    let template_src = match template_src {
        Some(s) => s,
        None => {
            let jinja = dir.join("chat_template.jinja");
            if jinja.exists() {
                fs_err::read_to_string(jinja)?
            } else {
                CHATML.to_string()
            }
        }
    };
    let template = ChatTemplate::new(
        &template_src,
        bos_text.as_deref().unwrap_or(""),
        eos_text.as_deref().unwrap_or(""),
    )?;

    let dtype = if device.is_cpu() { DType::F32 } else { DType::BF16 };
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for f in weight_files(dir)? {
        let loaded = candle_core::safetensors::load(&f, device)
            .map_err(|e| ModelError::Local(format!("{}: {e}", f.display())))?;
        tensors.extend(loaded);
    }
    let vb = VarBuilder::from_tensors(tensors, dtype, device);
    let forward: Box<dyn Forward> = match model_type.as_str() {
        "qwen2" => {
            let cfg: qwen2::Config = serde_json::from_value(config.clone())
                .map_err(|e| ModelError::Local(format!("{}: not a Qwen2 config: {e}", config_path.display())))?;
            let ctx = cfg.max_position_embeddings;
            let vocab = cfg.vocab_size;
            let model = qwen2::ModelForCausalLM::new(&cfg, vb).map_err(cerr("loading the Qwen2 weights"))?;
            Box::new(CandleForward {
                model: Kind::Qwen2(model),
                device: device.clone(),
                pos: 0,
                rows: 0,
                vocab,
                ctx,
                label: "candle qwen2".into(),
            })
        }
        "llama" => {
            let cfg: llama::LlamaConfig = serde_json::from_value(config.clone())
                .map_err(|e| ModelError::Local(format!("{}: not a Llama config: {e}", config_path.display())))?;
            let cfg = cfg.into_config(false);
            let (ctx, vocab) = (cfg.max_position_embeddings, cfg.vocab_size);
            // `Llama::load` panics on a missing tensor: the worker turns panics into errors.
            let model = llama::Llama::load(vb, &cfg).map_err(cerr("loading the Llama weights"))?;
            let cache = llama::Cache::new(true, dtype, &cfg, device).map_err(cerr("llama cache"))?;
            Box::new(CandleForward {
                model: Kind::Llama {
                    model,
                    cache,
                    cfg,
                    dtype,
                },
                device: device.clone(),
                pos: 0,
                rows: 0,
                vocab,
                ctx,
                label: "candle llama".into(),
            })
        }
        other => {
            return Err(ModelError::Local(format!(
                "model_type {other:?} is not supported (qwen2 and llama are; Qwen2.5-Coder is qwen2)"
            )));
        }
    };
    Ok(Loaded {
        forward,
        tokenizer,
        template,
    })
}

/// candle's quantized Llama / Qwen2 on `device` for a GGUF file.
pub(crate) fn load_gguf_candle<R: std::io::Read + std::io::Seek>(
    content: gguf_file::Content,
    reader: &mut R,
    device: &Device,
) -> Result<Box<dyn Forward>, ModelError> {
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    let ctx = content
        .metadata
        .get(&format!("{arch}.context_length"))
        .and_then(|v| v.to_u32().ok())
        .map(|x| x as usize)
        .unwrap_or(4096);
    let vocab = content
        .metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok())
        .map(Vec::len)
        .unwrap_or(0);
    let model = match arch.as_str() {
        "llama" => {
            Kind::QLlama(quantized_llama::ModelWeights::from_gguf(content, reader, device).map_err(cerr("GGUF llama"))?)
        }
        "qwen2" => {
            Kind::QQwen2(quantized_qwen2::ModelWeights::from_gguf(content, reader, device).map_err(cerr("GGUF qwen2"))?)
        }
        other => {
            return Err(ModelError::Local(format!(
                "GGUF architecture {other:?} is not supported (llama, qwen2)"
            )));
        }
    };
    Ok(Box::new(CandleForward {
        model,
        device: device.clone(),
        pos: 0,
        rows: 0,
        vocab,
        ctx,
        label: format!("candle quantized {arch}"),
    }))
}

enum Kind {
    Qwen2(qwen2::ModelForCausalLM),
    Llama {
        model: llama::Llama,
        cache: llama::Cache,
        cfg: llama::Config,
        dtype: DType,
    },
    QLlama(quantized_llama::ModelWeights),
    QQwen2(quantized_qwen2::ModelWeights),
}

struct CandleForward {
    model: Kind,
    device: Device,
    /// Tokens already in the cache (per row; rows move together).
    pos: usize,
    rows: usize,
    vocab: usize,
    ctx: usize,
    label: String,
}

impl CandleForward {
    /// Run `input` (`rows × len`) at offset `self.pos`; logits of the last position per row.
    fn run(&mut self, input: &Tensor) -> Result<Vec<Vec<f32>>, ModelError> {
        let pos = self.pos;
        let logits = match &mut self.model {
            Kind::Qwen2(m) => m.forward(input, pos).and_then(|t| t.squeeze(1)),
            Kind::Llama { model, cache, .. } => model.forward(input, pos, cache),
            Kind::QLlama(m) => m.forward(input, pos),
            Kind::QQwen2(m) => m.forward(input, pos),
        };
        let logits = logits
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(cerr("forward"))?;
        Ok(logits)
    }
}

impl Forward for CandleForward {
    fn prefill(&mut self, prompt: &[u32], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        match &mut self.model {
            Kind::Qwen2(m) => m.clear_kv_cache(),
            Kind::Llama { cache, cfg, dtype, .. } => {
                *cache = llama::Cache::new(true, *dtype, cfg, &self.device).map_err(cerr("llama cache"))?;
            }
            Kind::QLlama(m) => m.clear_kv_cache(),
            Kind::QQwen2(m) => m.clear_kv_cache(),
        }
        self.pos = 0;
        let input = Tensor::new(prompt, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .and_then(|t| t.repeat((n, 1)))
            .map_err(cerr("prompt tensor"))?;
        let out = self.run(&input)?;
        self.pos = prompt.len();
        self.rows = n;
        Ok(out)
    }

    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        if tokens.len() != self.rows {
            return Err(ModelError::Local(format!(
                "{} tokens for {} rows",
                tokens.len(),
                self.rows
            )));
        }
        if self.pos >= self.ctx {
            return Err(ModelError::BadRequest(format!(
                "beyond the model's context of {}",
                self.ctx
            )));
        }
        let input = Tensor::new(tokens, &self.device)
            .and_then(|t| t.unsqueeze(1))
            .map_err(cerr("token tensor"))?;
        let out = self.run(&input)?;
        self.pos += 1;
        Ok(out)
    }

    fn retain(&mut self, _keep: &[bool]) -> bool {
        false
    }

    fn vocab_size(&self) -> usize {
        self.vocab
    }

    fn context_len(&self) -> usize {
        self.ctx
    }

    fn describe(&self) -> String {
        format!("{} on {:?}", self.label, self.device)
    }
}
