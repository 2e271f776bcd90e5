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
    /// What went wrong, by kind (records written before it existed read as `Unknown`).
    #[serde(default)]
    pub kind: FailureKind,
    /// The backend's or the error's own words, for people.
    pub message: String,
    /// A later run may succeed (it will retry).
    pub transient: bool,
}

/// The kind of a [`ModelFailure`]: the model crate's error kinds, and `Interrupted` for a
/// request this run gave up on when it was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The backend refused the request (context too long and the like): final.
    BadRequest,
    /// A replay file has no answer for it: final.
    NotRecorded,
    Unavailable,
    Malformed,
    Local,
    Io,
    Unauthorized,
    Config,
    Cancelled,
    Interrupted,
    #[default]
    Unknown,
}

impl FailureKind {
    pub fn of(e: &ModelError) -> FailureKind {
        match e {
            ModelError::BadRequest(_) => FailureKind::BadRequest,
            ModelError::NotRecorded { .. } => FailureKind::NotRecorded,
            ModelError::Unavailable(_) => FailureKind::Unavailable,
            ModelError::Malformed(_) => FailureKind::Malformed,
            ModelError::Local(_) => FailureKind::Local,
            ModelError::Io(_) => FailureKind::Io,
            ModelError::Unauthorized(_) => FailureKind::Unauthorized,
            ModelError::Config(_) => FailureKind::Config,
            ModelError::Cancelled => FailureKind::Cancelled,
            _ => FailureKind::Unknown,
        }
    }

    /// Whether a later run should ask again: everything but a refused or unrecorded request.
    pub fn is_transient(self) -> bool {
        !matches!(self, FailureKind::BadRequest | FailureKind::NotRecorded)
    }
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
            kind: FailureKind::Interrupted,
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
    let kind = FailureKind::of(e);
    ModelFailure {
        kind,
        message: e.to_string(),
        transient: kind.is_transient(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_kind_and_only_refusals_are_final() {
        let refused = failure(&ModelError::BadRequest("context length exceeded".into()));
        assert_eq!((refused.kind, refused.transient), (FailureKind::BadRequest, false));
        let missing = failure(&ModelError::NotRecorded { key: "k".into() });
        assert_eq!((missing.kind, missing.transient), (FailureKind::NotRecorded, false));
        let down = failure(&ModelError::Unavailable("503".into()));
        assert_eq!((down.kind, down.transient), (FailureKind::Unavailable, true));
        assert!(down.message.contains("503"), "{}", down.message);
        let json = serde_json::to_value(&refused).expect("serialize");
        assert_eq!(json["kind"], "bad_request");
    }

    #[test]
    fn a_failure_recorded_before_kinds_reads_as_unknown() {
        let old: ModelFailure =
            serde_json::from_str(r#"{"message": "400: context length", "transient": false}"#).expect("old record");
        assert_eq!(old.kind, FailureKind::Unknown);
        assert!(!old.transient);
    }
}
