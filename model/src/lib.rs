//! agentless-model: every way of asking a model for completions, behind one interface.
//!
//! A [`ChatRequest`] (messages, sampling parameters, `n` samples) goes to a [`Model`], which
//! returns `n` completions with token usage and timings. Backends: OpenAI-compatible HTTP,
//! local candle inference, and replay of recorded completions. This crate never prints.

use serde::{Deserialize, Serialize};

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
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
}

impl ModelError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ModelError::Unavailable(_))
    }
}

/// A model backend. Implementations are shared across tasks (`Arc<dyn Model>`).
#[async_trait::async_trait]
pub trait Model: Send + Sync {
    /// A short, stable description for artifact keys (backend kind and model name; never a secret).
    fn id(&self) -> String;
    /// Generate `request.n` completions.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError>;
}
