//! Model requests of the pipeline: one request per sample (`n = 1`, as upstream), a shared
//! limit on requests in flight (`--max-concurrent-requests`), cancellation, and the answer
//! extraction for thinking models. A request the backend rejects (context too long and the
//! like) becomes a recorded failure that is not retried; a transient failure (the backend
//! stayed unavailable after its own retries) is recorded too, and a re-run retries it.

use std::sync::Arc;

use agentless_harness::sandbox::CancellationToken;
use agentless_model::{ChatRequest, Message, Model, ModelError, Usage};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// How answers are cut out of completions (`THINKING`, `ANSWER_START_TAG`, `ANSWER_END_TAG`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thinking {
    pub enabled: bool,
    pub start_tag: String,
    pub end_tag: String,
}

impl Default for Thinking {
    fn default() -> Self {
        Thinking {
            enabled: false,
            start_tag: "<solution>".into(),
            end_tag: "</solution>".into(),
        }
    }
}

impl Thinking {
    /// The answer part of a completion.
    pub fn answer<'a>(&self, raw: &'a str) -> &'a str {
        super::edits::answer_text(raw, self.enabled, &self.start_tag, &self.end_tag)
    }
}

/// A model request that did not give a completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFailure {
    pub message: String,
    /// A later run may succeed (it will retry).
    pub transient: bool,
}

/// A completion and its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub usage: Usage,
}

/// A model shared by every stage and instance, with the request limit.
#[derive(Clone)]
pub struct Llm {
    model: Arc<dyn Model>,
    slots: Arc<Semaphore>,
    id: String,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm").field("id", &self.id).finish()
    }
}

impl Llm {
    pub fn new(model: Arc<dyn Model>, max_in_flight: usize, cancel: CancellationToken) -> Llm {
        let id = model.id();
        Llm {
            model,
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            id,
            cancel,
        }
    }

    /// The model's id (part of every key of a stage that asks it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Requests waiting for or holding a slot right now (for benchmarks).
    pub fn available_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// One user message (after the system message, if any), one completion.
    pub async fn ask(
        &self,
        system: Option<&str>,
        prompt: &str,
        temperature: f64,
        max_tokens: u32,
        seed: Option<u64>,
    ) -> Result<Answer, ModelFailure> {
        let cancelled = || ModelFailure {
            message: "interrupted".into(),
            transient: true,
        };
        let _permit = tokio::select! {
            p = self.slots.acquire() => p.map_err(|_| cancelled())?,
            () = self.cancel.cancelled() => return Err(cancelled()),
        };
        let request = chat_request_with(system, prompt, temperature, max_tokens, seed);
        let result = tokio::select! {
            r = self.model.chat(&request) => r,
            () = self.cancel.cancelled() => return Err(cancelled()),
        };
        match result {
            Ok(resp) => {
                let text = resp.completions.into_iter().next().map(|c| c.text).unwrap_or_default();
                Ok(Answer {
                    text,
                    usage: resp.usage,
                })
            }
            Err(e) => Err(failure(&e)),
        }
    }
}

/// A rejected request (bad request, no recording) is final: recorded as an empty answer, as
/// upstream. Anything else (the backend down, a local model failing) is retried next run.
/// The request the pipeline sends for one sample: one user message, `n = 1`, `top_p = 1`.
pub fn chat_request(prompt: &str, temperature: f64, max_tokens: u32, seed: Option<u64>) -> ChatRequest {
    chat_request_with(None, prompt, temperature, max_tokens, seed)
}

/// [`chat_request`] with the prompt set's system message, when it has one.
pub fn chat_request_with(
    system: Option<&str>,
    prompt: &str,
    temperature: f64,
    max_tokens: u32,
    seed: Option<u64>,
) -> ChatRequest {
    let mut messages: Vec<Message> = system.map(Message::system).into_iter().collect();
    messages.push(Message::user(prompt));
    ChatRequest {
        messages,
        temperature,
        top_p: 1.0,
        max_tokens,
        stop: Vec::new(),
        seed,
        n: 1,
    }
}

fn failure(e: &ModelError) -> ModelFailure {
    let fin = matches!(e, ModelError::BadRequest(_) | ModelError::NotRecorded { .. });
    ModelFailure {
        message: e.to_string(),
        transient: !fin,
    }
}
