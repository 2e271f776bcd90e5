//! agentless-model: every way of asking a model for completions, behind one interface.
//!
//! A [`ChatRequest`] (messages, sampling parameters, `n` samples) goes to a [`Model`], which
//! returns `n` completions with token usage and timings. Backends:
//!
//! - [`http`]: OpenAI-compatible chat completions (vLLM, SGLang, llama.cpp, hosted APIs), several
//!   base URLs round-robin, bounded concurrency, retries with backoff, exactly `n` completions.
//! - [`local`]: candle inference in-process: a `.gguf` file (quantized Llama / Qwen2, run by a
//!   vectorized CPU engine) or a Hugging Face model folder (Qwen2 / Llama 3 safetensors).
//! - [`replay`]: completions recorded earlier with [`replay::Recorder`] (`--record FILE`).
//!
//! [`open`] builds any of them from a [`ModelSpec`] (`--model`) and [`ModelOptions`];
//! [`server`] exposes any backend over the same OpenAI-compatible API; [`fetch`] downloads and
//! caches the default model. This crate never prints.

use serde::{Deserialize, Serialize};

pub mod fetch;
pub mod http;
pub mod local;
pub mod openai;
pub mod replay;
pub mod retry;
mod rng;
pub mod server;
mod spec;

pub use fetch::{DEFAULT_MODEL_FILE, default_model_path};
pub use spec::{ModelOptions, ModelSpec, open};

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One request for `n` completions of the same conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Base seed; sample `i` of the request uses `seed + i` where the backend supports seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Number of completions wanted.
    pub n: u32,
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    Other,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub finish_reason: FinishReason,
}

/// Token counts for a whole request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The answer to a [`ChatRequest`]: exactly `n` completions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub completions: Vec<Completion>,
    pub usage: Usage,
    /// Wall time spent on the request, in milliseconds.
    pub elapsed_ms: u64,
    /// The model that answered (as the backend names it).
    pub model: String,
}

/// Errors from any backend. `is_transient` tells callers whether a later retry may succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The request itself was refused (HTTP 400 and the like): retrying will not help.
    #[error("the model rejected the request: {0}")]
    BadRequest(String),
    /// Network trouble, overload, or a server error that outlived the retry budget.
    #[error("model backend unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something that is not a valid response.
    #[error("malformed response from the model backend: {0}")]
    Malformed(String),
    /// A replay backend has no recording for this request.
    #[error("no recorded completion for this request (key {key})")]
    NotRecorded { key: String },
    /// Loading or running a local model failed.
    #[error("local model: {0}")]
    Local(String),
    #[error("model I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The endpoint refused the credentials (HTTP 401/403). The key itself is never shown.
    #[error("the model endpoint refused the credentials: {0}")]
    Unauthorized(String),
    /// A bad `--model` spec or option (unknown scheme, missing file, bad value).
    #[error("model configuration: {0}")]
    Config(String),
    /// The caller went away (the request future was dropped) before the answer was ready.
    #[error("the request was cancelled")]
    Cancelled,
}

impl ModelError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ModelError::Unavailable(_))
    }

    /// A short, stable name of the error kind (for artifacts and replay files).
    pub fn kind(&self) -> &'static str {
        match self {
            ModelError::BadRequest(_) => "bad_request",
            ModelError::Unavailable(_) => "unavailable",
            ModelError::Malformed(_) => "malformed",
            ModelError::NotRecorded { .. } => "not_recorded",
            ModelError::Local(_) => "local",
            ModelError::Io(_) => "io",
            ModelError::Unauthorized(_) => "unauthorized",
            ModelError::Config(_) => "config",
            ModelError::Cancelled => "cancelled",
        }
    }
}

/// Most samples one request may ask for. Every backend keeps per-sample state (seeds, slots,
/// completions), so a larger `n` would only exhaust memory.
pub const MAX_SAMPLES: u32 = 65_536;

impl ChatRequest {
    /// A request for `n` samples of `messages` with the given temperature (top_p 1, 1024 tokens).
    pub fn new(messages: Vec<Message>, temperature: f64, n: u32) -> Self {
        ChatRequest {
            messages,
            temperature,
            top_p: 1.0,
            max_tokens: 1024,
            stop: Vec::new(),
            seed: None,
            n,
        }
    }

    /// The seed of sample `index`: `seed + index` (wrapping), or `None` when the request has none.
    pub fn sample_seed(&self, index: u32) -> Option<u64> {
        self.seed.map(|s| s.wrapping_add(u64::from(index)))
    }

    /// Check the parameters every backend relies on; the message says which one is wrong.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.messages.is_empty() {
            return Err(ModelError::BadRequest("the request has no messages".into()));
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(ModelError::BadRequest(format!(
                "temperature must be a finite number >= 0, got {}",
                self.temperature
            )));
        }
        if !self.top_p.is_finite() || self.top_p <= 0.0 || self.top_p > 1.0 {
            return Err(ModelError::BadRequest(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if self.max_tokens == 0 {
            return Err(ModelError::BadRequest("max_tokens must be at least 1".into()));
        }
        if self.n == 0 || self.n > MAX_SAMPLES {
            return Err(ModelError::BadRequest(format!(
                "n must be between 1 and {MAX_SAMPLES}, got {}",
                self.n
            )));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(ModelError::BadRequest("stop strings must not be empty".into()));
        }
        Ok(())
    }
}

impl FinishReason {
    /// The OpenAI wire name (`stop`, `length`, or anything else as `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Other => "other",
        }
    }
}

/// A model backend. Implementations are shared across tasks (`Arc<dyn Model>`).
#[async_trait::async_trait]
pub trait Model: Send + Sync {
    /// A short, stable description for artifact keys (backend kind and model name; never a secret).
    fn id(&self) -> String;
    /// Generate `request.n` completions.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError>;
    /// Tokens of `text` with the model's own tokenizer (no chat template, no special tokens),
    /// when the backend has one at hand (local models); None otherwise.
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }
}
