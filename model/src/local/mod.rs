//! The local backend (`--model local:PATH`): a model run in this process.
//!
//! `PATH` is a `.gguf` file (quantized Llama / Qwen2; tokenizer and chat template from its
//! metadata) or a Hugging Face model folder (Qwen2 / Qwen2.5-Coder, Llama 3 safetensors).
//! GGUF files run on the CPU in this crate's [`engine`] (vectorized integer kernels chosen at run
//! time); folders, and GGUF files on CUDA, run in candle-transformers ([`candle_models`]).
//!
//! The model is loaded once, by a dedicated worker thread that owns it; [`LocalModel::chat`]
//! sends the request over a channel and awaits the answer, so async callers never block and
//! requests are served one at a time. The `n` samples of a request are generated as one batch
//! (in chunks of `max_batch`); sample `i` is drawn with seed `seed + i` (a random base seed when
//! the request has none), so a sample does not depend on `n` or on batching. A request whose
//! caller went away is dropped between decoding steps.
//!
//! Message contents are tokenized with special-token matching off: a user message containing
//! `<|im_end|>` cannot close its turn early.

pub(crate) mod candle_models;
pub(crate) mod engine;
pub(crate) mod generate;
pub(crate) mod sampler;
pub(crate) mod template;
pub(crate) mod tokenizer;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;

use self::generate::{GenRequest, generate};
use self::template::{CHATML, ChatTemplate};
use self::tokenizer::TextTokenizer;
use crate::rng::Rng;
use crate::{ChatRequest, ChatResponse, Completion, Message, Model, ModelError, Usage};

/// A model's forward pass, as the generation loop sees it.
pub(crate) trait Forward: Send {
    /// Start `n` rows that share `prompt`; the logits after the prompt, one vector per row.
    fn prefill(&mut self, prompt: &[u32], n: usize) -> Result<Vec<Vec<f32>>, ModelError>;
    /// One more token per row still in the batch; their logits.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError>;
    /// Keep only the rows where `keep` is true. `false`: the model cannot drop rows (they stay
    /// in the batch and `step` keeps taking a token for each).
    fn retain(&mut self, keep: &[bool]) -> bool;
    fn vocab_size(&self) -> usize;
    fn context_len(&self) -> usize;
    /// For logs: what runs the model.
    fn describe(&self) -> String;
}

/// Where a local model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalDevice {
    #[default]
    Cpu,
    /// CUDA device `i` (needs the `cuda` cargo feature).
    Cuda(usize),
}

impl std::str::FromStr for LocalDevice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(LocalDevice::Cpu),
            "cuda" => Ok(LocalDevice::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(i)) => Ok(LocalDevice::Cuda(i)),
                _ => Err(format!("unknown device {s:?}: cpu, cuda or cuda:N")),
            },
        }
    }
}

/// Which implementation runs a GGUF file on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgufRunner {
    /// This crate's engine (fast; the default).
    #[default]
    Engine,
    /// candle-transformers' quantized models (the reference; much slower on CPU).
    Candle,
}

/// Options of the local backend.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Worker threads for the CPU engine (default: all cores).
    pub threads: Option<usize>,
    pub device: LocalDevice,
    /// Most samples decoded together; larger `n` runs in several batches.
    pub max_batch: usize,
    pub gguf_runner: GgufRunner,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            threads: None,
            device: LocalDevice::Cpu,
            max_batch: 16,
            gguf_runner: GgufRunner::Engine,
        }
    }
}

/// What was loaded, for logs and `/v1/models`.
#[derive(Debug, Clone)]
pub struct LocalInfo {
    /// File stem or folder name.
    pub name: String,
    /// What runs it (engine, kernels, threads or candle model and device).
    pub runner: String,
    pub context_len: usize,
    pub vocab_size: usize,
    pub load_ms: u64,
}

/// A loaded local model, used synchronously. [`LocalModel`] owns one on its worker thread;
/// tests and benchmarks use it directly.
pub struct Runtime {
    forward: Box<dyn Forward>,
    tokenizer: Arc<TextTokenizer>,
    template: ChatTemplate,
    name: String,
    max_batch: usize,
}

fn device_of(d: LocalDevice) -> Result<Device, ModelError> {
    match d {
        LocalDevice::Cpu => Ok(Device::Cpu),
        LocalDevice::Cuda(i) => Device::new_cuda(i).map_err(|e| {
            ModelError::Config(format!(
                "CUDA device {i} is not available ({e}); build with `--features cuda`"
            ))
        }),
    }
}

fn model_name(path: &Path) -> String {
    let stem = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    };
    stem.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "local".into())
}

impl Runtime {
    /// Load the model at `path` (see the module docs).
    pub fn load(path: &Path, opts: &LocalOptions) -> Result<Self, ModelError> {
        if !path.exists() {
            return Err(ModelError::Config(format!("{} does not exist", path.display())));
        }
        let device = device_of(opts.device)?;
        let name = model_name(path);
        let max_batch = opts.max_batch.max(1);
        if path.is_dir() {
            let loaded = candle_models::load_folder(path, &device)?;
            return Ok(Runtime {
                forward: loaded.forward,
                tokenizer: Arc::new(loaded.tokenizer),
                template: loaded.template,
                name,
                max_batch,
            });
        }
        let mut file = std::io::BufReader::new(fs_err::File::open(path)?);
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| ModelError::Config(format!("{} is not a readable GGUF file: {e}", path.display())))?;
        let tokenizer = TextTokenizer::from_gguf(&content)?;
        let template_src = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| CHATML.to_string());
        let bos = tokenizer.bos.as_ref().map(|(t, _)| t.clone()).unwrap_or_default();
        let eos = tokenizer.eos_text.clone().unwrap_or_default();
        let template = ChatTemplate::new(&template_src, &bos, &eos)?;
        let forward: Box<dyn Forward> = if device.is_cpu() && opts.gguf_runner == GgufRunner::Engine {
            Box::new(engine::EngineForward::new(engine::Engine::from_content(
                &content,
                &mut file,
                opts.threads,
            )?))
        } else {
            candle_models::load_gguf_candle(content, &mut file, &device)?
        };
        Ok(Runtime {
            forward,
            tokenizer: Arc::new(tokenizer),
            template,
            name,
            max_batch,
        })
    }

    pub fn info(&self, load_ms: u64) -> LocalInfo {
        LocalInfo {
            name: self.name.clone(),
            runner: self.forward.describe(),
            context_len: self.forward.context_len(),
            vocab_size: self.forward.vocab_size(),
            load_ms,
        }
    }

    /// The prompt's token ids: the chat template rendered, control tokens from the template
    /// only (message contents never become control tokens), BOS prepended when the model
    /// wants it and the template did not write it.
    pub fn prompt_ids(&self, messages: &[Message]) -> Result<Vec<u32>, ModelError> {
        let tok = &self.tokenizer;
        let mut ids = if messages.iter().any(|m| tok.contains_special(&m.content)) {
            // Render with placeholders, then tokenize template text and contents separately.
            const OPEN: char = '\u{10FFFD}';
            const CLOSE: char = '\u{10FFFE}';
            let marked: Vec<Message> = messages
                .iter()
                .enumerate()
                .map(|(i, m)| Message {
                    role: m.role,
                    content: format!("{OPEN}{i}{CLOSE}"),
                })
                .collect();
            let rendered = self.template.render(&marked)?;
            let mut ids = Vec::new();
            let mut rest = rendered.as_str();
            while let Some(start) = rest.find(OPEN) {
                ids.extend(tok.encode(&rest[..start], true)?);
                let after = &rest[start + OPEN.len_utf8()..];
                let end = after
                    .find(CLOSE)
                    .ok_or_else(|| ModelError::Local("chat template mangled a message".into()))?;
                let i: usize = after[..end]
                    .parse()
                    .map_err(|_| ModelError::Local("chat template mangled a message".into()))?;
                let content = messages
                    .get(i)
                    .ok_or_else(|| ModelError::Local("chat template mangled a message".into()))?;
                ids.extend(tok.encode(&content.content, false)?);
                rest = &after[end + CLOSE.len_utf8()..];
            }
            ids.extend(tok.encode(rest, true)?);
            ids
        } else {
            tok.encode(&self.template.render(messages)?, true)?
        };
        if tok.add_bos
            && let Some((_, bos)) = &tok.bos
            && ids.first() != Some(bos)
        {
            ids.insert(0, *bos);
        }
        Ok(ids)
    }

    /// Answer one request (blocking; runs on the worker thread).
    pub fn chat(&mut self, request: &ChatRequest, cancelled: &dyn Fn() -> bool) -> Result<ChatResponse, ModelError> {
        request.validate()?;
        let start = Instant::now();
        let prompt = self.prompt_ids(&request.messages)?;
        let ctx = self.forward.context_len();
        if prompt.len() >= ctx {
            return Err(ModelError::BadRequest(format!(
                "the prompt has {} tokens; the model's context is {ctx}",
                prompt.len()
            )));
        }
        let max_new = (request.max_tokens as usize).min(ctx - prompt.len());
        let base = request.seed.unwrap_or_else(Rng::entropy_seed);
        let seeds: Vec<u64> = (0..u64::from(request.n)).map(|i| base.wrapping_add(i)).collect();
        let mut completions = Vec::with_capacity(seeds.len());
        let mut completion_tokens = 0u64;
        for chunk in seeds.chunks(self.max_batch) {
            let req = GenRequest {
                prompt: &prompt,
                max_new,
                stop: &request.stop,
                temperature: request.temperature,
                top_p: request.top_p,
                seeds: chunk,
            };
            for s in generate(self.forward.as_mut(), &self.tokenizer, &req, cancelled)? {
                completion_tokens += s.tokens as u64;
                completions.push(Completion {
                    text: s.text,
                    finish_reason: s.finish,
                });
            }
        }
        Ok(ChatResponse {
            completions,
            usage: Usage {
                prompt_tokens: prompt.len() as u64,
                completion_tokens,
            },
            elapsed_ms: start.elapsed().as_millis() as u64,
            model: self.name.clone(),
        })
    }

    /// Tokenize text (`special`: match special tokens). For parity tests and benchmarks.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, ModelError> {
        self.tokenizer.encode(text, special)
    }

    /// Text of token ids (special tokens left out).
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.tokenizer.decode(ids)
    }

    /// The logits after `prompt` (one row). For checks against reference implementations.
    pub fn prompt_logits(&mut self, prompt: &[u32]) -> Result<Vec<f32>, ModelError> {
        let mut rows = self.forward.prefill(prompt, 1)?;
        rows.pop().ok_or_else(|| ModelError::Local("no logits".into()))
    }

    /// `n` greedy tokens after `prompt` (EOS included if produced; no stop handling).
    pub fn greedy_tokens(&mut self, prompt: &[u32], n: usize) -> Result<Vec<u32>, ModelError> {
        let mut sampler = sampler::Sampler::new(0, 0.0, 1.0);
        let mut out = Vec::with_capacity(n);
        self.decode_along(prompt, n, |logits| {
            let t = sampler.sample(logits);
            out.push(t);
            t
        })?;
        Ok(out)
    }

    /// Teacher forcing: the logits before each of `tokens` when the model is fed `prompt` and
    /// then `tokens` one decoding step at a time (as llama.cpp's greedy loop feeds them). For
    /// checks against reference implementations.
    pub fn forced_logits(&mut self, prompt: &[u32], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut rows = Vec::with_capacity(tokens.len());
        self.decode_along(prompt, tokens.len(), |logits| {
            rows.push(logits.to_vec());
            tokens[rows.len() - 1]
        })?;
        Ok(rows)
    }

    /// Prefill `prompt` (one row), then `n` times: hand the current logits to `next`, which
    /// names the token to feed; the last token is not fed.
    fn decode_along(
        &mut self,
        prompt: &[u32],
        n: usize,
        mut next: impl FnMut(&[f32]) -> u32,
    ) -> Result<(), ModelError> {
        let mut logits = self.forward.prefill(prompt, 1)?;
        for i in 0..n {
            let row = logits.first().ok_or_else(|| ModelError::Local("no logits".into()))?;
            let t = next(row);
            if i + 1 < n {
                logits = self.forward.step(&[t])?;
            }
        }
        Ok(())
    }

    /// Time a prefill of `prompt` and then `decode` greedy steps for `rows` rows (the first
    /// row's greedy token fed to every row). Returns (prefill seconds, decode seconds).
    pub fn time_prefill_decode(
        &mut self,
        prompt: &[u32],
        rows: usize,
        decode: usize,
    ) -> Result<(f64, f64), ModelError> {
        let t0 = Instant::now();
        let mut logits = self.forward.prefill(prompt, rows.max(1))?;
        let prefill = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for _ in 0..decode {
            let mut sampler = sampler::Sampler::new(0, 0.0, 1.0);
            let t = sampler.sample(&logits[0]);
            logits = self.forward.step(&vec![t; logits.len()])?;
        }
        Ok((prefill, t1.elapsed().as_secs_f64()))
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

struct Job {
    request: ChatRequest,
    reply: tokio::sync::oneshot::Sender<Result<ChatResponse, ModelError>>,
}

/// A local model served by its worker thread. Cheap to share (`Arc<dyn Model>`); the thread
/// ends when the model is dropped.
pub struct LocalModel {
    jobs: mpsc::Sender<Job>,
    info: LocalInfo,
    /// The tokenizer, shared with the worker thread (for [`Model::count_tokens`]).
    tokenizer: Arc<TextTokenizer>,
    path: PathBuf,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl LocalModel {
    /// Start the worker thread and load the model at `path` in it.
    pub async fn load(path: &Path, opts: &LocalOptions) -> Result<Self, ModelError> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (jobs, rx) = mpsc::channel::<Job>();
        let (p, o) = (path.to_path_buf(), opts.clone());
        std::thread::Builder::new()
            .name("agentless-local-model".into())
            .spawn(move || worker(&p, &o, ready_tx, rx))
            .map_err(|e| ModelError::Local(format!("cannot start the model thread: {e}")))?;
        let (info, tokenizer) = ready_rx
            .await
            .map_err(|_| ModelError::Local("the model thread stopped while loading".into()))??;
        tracing::info!(model = %info.name, runner = %info.runner, load_ms = info.load_ms, "local model loaded");
        Ok(LocalModel {
            jobs,
            info,
            tokenizer,
            path: path.to_path_buf(),
        })
    }

    pub fn info(&self) -> &LocalInfo {
        &self.info
    }
}

fn worker(
    path: &Path,
    opts: &LocalOptions,
    ready: tokio::sync::oneshot::Sender<Result<(LocalInfo, Arc<TextTokenizer>), ModelError>>,
    jobs: mpsc::Receiver<Job>,
) {
    let start = Instant::now();
    let loaded = catch_unwind(AssertUnwindSafe(|| Runtime::load(path, opts)))
        .unwrap_or_else(|p| Err(ModelError::Local(format!("loading panicked: {}", panic_message(p)))));
    let mut rt = match loaded {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let tokenizer = rt.tokenizer.clone();
    if ready
        .send(Ok((rt.info(start.elapsed().as_millis() as u64), tokenizer)))
        .is_err()
    {
        return;
    }
    while let Ok(job) = jobs.recv() {
        if job.reply.is_closed() {
            continue;
        }
        let reply = &job.reply;
        let result = catch_unwind(AssertUnwindSafe(|| rt.chat(&job.request, &|| reply.is_closed())))
            .unwrap_or_else(|p| Err(ModelError::Local(format!("generation panicked: {}", panic_message(p)))));
        let _ = job.reply.send(result);
    }
}

#[async_trait::async_trait]
impl Model for LocalModel {
    fn id(&self) -> String {
        format!("local:{}", self.info.name)
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.tokenizer.encode(text, false).ok().map(|ids| ids.len())
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        request.validate()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job {
                request: request.clone(),
                reply,
            })
            .map_err(|_| ModelError::Local("the model thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| ModelError::Local("the model thread has stopped".into()))?
    }
}
