//! Recording completions (`--record FILE`) and serving them again (`--model replay:FILE`), so a
//! run can be repeated exactly without a model.
//!
//! # File format
//!
//! JSON Lines, one completion (one *sample*) per line, appended and flushed as each request
//! finishes. The [`Recorder`] writes:
//!
//! ```json
//! {"key":"3f1c…","sample":0,"request":{"messages":[{"role":"user","content":"Hi"}],"temperature":0.8,"top_p":1.0,"max_tokens":64,"seed":7},
//!  "completion":{"text":"Hello!","finish_reason":"stop"},"usage":{"prompt_tokens":12,"completion_tokens":3},"model":"SmolLM2","model_id":"local:SmolLM2"}
//! ```
//!
//! - `key` is [`sample_key`]: the SHA-256 (hex) of the canonical JSON of the request's messages,
//!   `temperature`, `top_p`, `max_tokens`, `stop`, `seed` and the sample index. `n` is not part
//!   of it: sample 2 of an `n = 8` request answers sample 2 of an `n = 3` request.
//! - `request` is informative when `key` is present; `usage` splits the request's tokens over
//!   its samples (prompt tokens on sample 0), so replaying all samples gives the original totals.
//! - A request the backend refused (`BadRequest`, e.g. a prompt over the context) is recorded
//!   as `"error":{"kind":"bad_request","message":"…"}` and replays as the same error.
//!
//! Hand-written files (tests, demos) may leave out what can be computed:
//!
//! - no `key`: it is computed from `request` (whose `temperature`, `top_p`, `max_tokens`,
//!   `stop`, `seed` default to 1.0, 1.0, 1024, none, none) and `sample` (default 0);
//! - no `request` either, only `"messages":[…]`: the line matches *any* parameters for those
//!   messages; several such lines are samples 0, 1, 2, … in file order (or say `sample`);
//! - `"text":"…"` (and optionally `"finish_reason"`) instead of `completion`.
//!
//! ```json
//! {"messages":[{"role":"user","content":"Fix the bug"}],"text":"```python\n...\n```"}
//! ```
//!
//! Exact keys win over messages-only lines. When a key appears twice the first line counts
//! (a re-run that appended again replays its first answers). A sample with no line is
//! [`ModelError::NotRecorded`], naming its key.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ChatRequest, ChatResponse, Completion, FinishReason, Message, Model, ModelError, Usage};

/// The request part of a line (a [`ChatRequest`] without `n`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub messages: Vec<Message>,
    #[serde(default = "one")]
    pub temperature: f64,
    #[serde(default = "one")]
    pub top_p: f64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn one() -> f64 {
    1.0
}
fn default_max_tokens() -> u32 {
    1024
}

impl RecordedRequest {
    pub fn of(req: &ChatRequest) -> Self {
        RecordedRequest {
            messages: req.messages.clone(),
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            stop: req.stop.clone(),
            seed: req.seed,
        }
    }
}

/// A recorded refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedError {
    pub kind: String,
    pub message: String,
}

/// One line of a recording (see the module docs for which fields may be left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<Completion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// The canonical form hashed into a key. Field order is fixed by the struct.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    v: u32,
    messages: &'a [Message],
    temperature: f64,
    top_p: f64,
    max_tokens: u32,
    stop: &'a [String],
    seed: Option<u64>,
    sample: u32,
}

fn key_of(r: &RecordedRequest, sample: u32) -> String {
    let material = KeyMaterial {
        v: 1,
        messages: &r.messages,
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: r.max_tokens,
        stop: &r.stop,
        seed: r.seed,
        sample,
    };
    // Serializing plain data to a Vec cannot fail.
    let bytes = serde_json::to_vec(&material).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// The replay key of sample `sample` of `req` (stable across runs, platforms and `n`).
pub fn sample_key(req: &ChatRequest, sample: u32) -> String {
    key_of(&RecordedRequest::of(req), sample)
}

fn messages_key(messages: &[Message]) -> String {
    let bytes = serde_json::to_vec(messages).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// What a line answers for its sample.
#[derive(Debug, Clone)]
enum Recorded {
    Done {
        completion: Completion,
        usage: Usage,
        model: Option<String>,
    },
    Refused(RecordedError),
}

impl RecordLine {
    fn recorded(&self, where_: &str) -> Result<Recorded, ModelError> {
        if let Some(e) = &self.error {
            return Ok(Recorded::Refused(e.clone()));
        }
        let completion = match (&self.completion, &self.text) {
            (Some(c), _) => c.clone(),
            (None, Some(t)) => Completion {
                text: t.clone(),
                finish_reason: self.finish_reason.unwrap_or(FinishReason::Stop),
            },
            (None, None) => {
                return Err(ModelError::Config(format!(
                    "{where_}: a line needs `completion`, `text` or `error`"
                )));
            }
        };
        Ok(Recorded::Done {
            completion,
            usage: self.usage.unwrap_or_default(),
            model: self.model.clone(),
        })
    }
}

/// Serves completions from a recording. See the module docs.
#[derive(Debug)]
pub struct ReplayModel {
    path: PathBuf,
    by_key: HashMap<String, Recorded>,
    by_messages: HashMap<String, HashMap<u32, Recorded>>,
    model_id: Option<String>,
}

impl ReplayModel {
    /// Read a recording. A line that is not valid is an error naming the file and line.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let text = fs_err::read_to_string(path)
            .map_err(|e| ModelError::Config(format!("cannot read the replay file: {e}")))?;
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Self, ModelError> {
        let mut by_key = HashMap::new();
        let mut by_messages: HashMap<String, HashMap<u32, Recorded>> = HashMap::new();
        let mut next_sample: HashMap<String, u32> = HashMap::new();
        let mut ids: Vec<String> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let where_ = format!("{}:{}", path.display(), i + 1);
            let rec: RecordLine = serde_json::from_str(line)
                .map_err(|e| ModelError::Config(format!("{where_}: not a replay line: {e}")))?;
            let recorded = rec.recorded(&where_)?;
            if let Some(id) = &rec.model_id
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
            let key = match (&rec.key, &rec.request) {
                (Some(k), _) => Some(k.clone()),
                (None, Some(r)) => Some(key_of(r, rec.sample.unwrap_or(0))),
                (None, None) => None,
            };
            match (key, &rec.messages) {
                (Some(k), _) => {
                    by_key.entry(k).or_insert(recorded);
                }
                (None, Some(messages)) => {
                    let mk = messages_key(messages);
                    let counter = next_sample.entry(mk.clone()).or_insert(0);
                    let sample = rec.sample.unwrap_or(*counter);
                    *counter = (*counter).max(sample + 1);
                    by_messages.entry(mk).or_default().entry(sample).or_insert(recorded);
                }
                (None, None) => {
                    return Err(ModelError::Config(format!(
                        "{where_}: a line needs `key`, `request` or `messages`"
                    )));
                }
            }
        }
        let model_id = if ids.len() == 1 { ids.pop() } else { None };
        Ok(ReplayModel {
            path: path.to_path_buf(),
            by_key,
            by_messages,
            model_id,
        })
    }

    /// Number of samples with an exact key.
    pub fn len(&self) -> usize {
        self.by_key.len() + self.by_messages.values().map(HashMap::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, req: &ChatRequest, sample: u32) -> Result<&Recorded, ModelError> {
        let key = sample_key(req, sample);
        if let Some(r) = self.by_key.get(&key) {
            return Ok(r);
        }
        if let Some(r) = self
            .by_messages
            .get(&messages_key(&req.messages))
            .and_then(|m| m.get(&sample))
        {
            return Ok(r);
        }
        Err(ModelError::NotRecorded {
            key: format!("{key} (sample {sample}, in {})", self.path.display()),
        })
    }
}

#[async_trait::async_trait]
impl Model for ReplayModel {
    fn id(&self) -> String {
        self.model_id.clone().unwrap_or_else(|| "replay".to_string())
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        request.validate()?;
        let start = Instant::now();
        let mut completions = Vec::with_capacity(request.n as usize);
        let mut usage = Usage::default();
        let mut model = None;
        for i in 0..request.n {
            match self.lookup(request, i)? {
                Recorded::Refused(e) if e.kind == "bad_request" => {
                    return Err(ModelError::BadRequest(e.message.clone()));
                }
                Recorded::Refused(e) => {
                    return Err(ModelError::Unavailable(format!("recorded {}: {}", e.kind, e.message)));
                }
                Recorded::Done {
                    completion,
                    usage: u,
                    model: m,
                } => {
                    completions.push(completion.clone());
                    usage.prompt_tokens += u.prompt_tokens;
                    usage.completion_tokens += u.completion_tokens;
                    if model.is_none() {
                        model = m.clone();
                    }
                }
            }
        }
        Ok(ChatResponse {
            completions,
            usage,
            elapsed_ms: start.elapsed().as_millis() as u64,
            model: model.unwrap_or_else(|| "replay".to_string()),
        })
    }
}

/// Wraps any backend and appends every answer to a JSONL file (see the module docs).
pub struct Recorder {
    inner: Arc<dyn Model>,
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("inner", &self.inner.id())
            .field("path", &self.path)
            .finish()
    }
}

impl Recorder {
    /// Record `inner`'s answers to `path` (created if missing, appended to otherwise).
    pub fn new(inner: Arc<dyn Model>, path: &Path) -> Result<Self, ModelError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs_err::create_dir_all(parent)?;
        }
        let file = fs_err::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder {
            inner,
            path: path.to_path_buf(),
            file: Mutex::new(file.into_parts().0),
        })
    }

    fn append(&self, lines: &[RecordLine]) -> Result<(), ModelError> {
        let mut buf = Vec::new();
        for l in lines {
            serde_json::to_writer(&mut buf, l).map_err(|e| ModelError::Io(std::io::Error::other(e)))?;
            buf.push(b'\n');
        }
        let mut f = self
            .file
            .lock()
            .map_err(|_| ModelError::Io(std::io::Error::other("recorder lock poisoned")))?;
        f.write_all(&buf)
            .and_then(|()| f.flush())
            .map_err(|e| ModelError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))))
    }
}

#[async_trait::async_trait]
impl Model for Recorder {
    fn id(&self) -> String {
        self.inner.id()
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.inner.count_tokens(text)
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let req = RecordedRequest::of(request);
        let model_id = Some(self.inner.id());
        match self.inner.chat(request).await {
            Ok(resp) => {
                let n = resp.completions.len() as u64;
                let lines: Vec<RecordLine> = resp
                    .completions
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let i64_ = i as u64;
                        // Split the completion tokens so that the samples sum to the total.
                        let share = resp.usage.completion_tokens / n.max(1)
                            + u64::from(i64_ < resp.usage.completion_tokens % n.max(1));
                        RecordLine {
                            key: Some(key_of(&req, i as u32)),
                            sample: Some(i as u32),
                            request: Some(req.clone()),
                            completion: Some(c.clone()),
                            usage: Some(Usage {
                                prompt_tokens: if i == 0 { resp.usage.prompt_tokens } else { 0 },
                                completion_tokens: share,
                            }),
                            model: Some(resp.model.clone()),
                            model_id: model_id.clone(),
                            ..RecordLine::default()
                        }
                    })
                    .collect();
                self.append(&lines)?;
                Ok(resp)
            }
            Err(ModelError::BadRequest(message)) => {
                let lines: Vec<RecordLine> = (0..request.n)
                    .map(|i| RecordLine {
                        key: Some(key_of(&req, i)),
                        sample: Some(i),
                        request: Some(req.clone()),
                        error: Some(RecordedError {
                            kind: "bad_request".into(),
                            message: message.clone(),
                        }),
                        model_id: model_id.clone(),
                        ..RecordLine::default()
                    })
                    .collect();
                self.append(&lines)?;
                Err(ModelError::BadRequest(message))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(n: u32) -> ChatRequest {
        let mut r = ChatRequest::new(vec![Message::user("hi")], 0.8, n);
        r.max_tokens = 64;
        r.seed = Some(7);
        r
    }

    #[test]
    fn keys_are_stable_and_sensitive() {
        let a = req(3);
        // Pinned: a change here invalidates every recording.
        assert_eq!(sample_key(&a, 0).len(), 64);
        assert_eq!(sample_key(&a, 0), sample_key(&req(9), 0), "n is not part of the key");
        assert_ne!(sample_key(&a, 0), sample_key(&a, 1));
        let mut b = a.clone();
        b.temperature = 0.7;
        assert_ne!(sample_key(&a, 0), sample_key(&b, 0));
        let mut c = a.clone();
        c.messages[0].content.push(' ');
        assert_ne!(sample_key(&a, 0), sample_key(&c, 0));
        let mut d = a.clone();
        d.stop = vec!["x".into()];
        assert_ne!(sample_key(&a, 0), sample_key(&d, 0));
    }

    #[test]
    fn hand_written_lines() {
        let text = r#"
{"messages":[{"role":"user","content":"hi"}],"text":"first"}
{"messages":[{"role":"user","content":"hi"}],"text":"second","finish_reason":"length"}
{"request":{"messages":[{"role":"user","content":"hi"}],"temperature":0.8,"max_tokens":64,"seed":7},"sample":1,"text":"exact"}
"#;
        let m = ReplayModel::parse(Path::new("t.jsonl"), text).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let resp = rt.block_on(m.chat(&req(2))).unwrap();
        assert_eq!(resp.completions[0].text, "first");
        assert_eq!(resp.completions[1].text, "exact", "exact keys win");
        let mut other = req(2);
        other.temperature = 0.0;
        let resp = rt.block_on(m.chat(&other)).unwrap();
        assert_eq!(resp.completions[1].text, "second");
        assert_eq!(resp.completions[1].finish_reason, FinishReason::Length);
        let err = rt.block_on(m.chat(&req(3))).unwrap_err();
        assert!(matches!(err, ModelError::NotRecorded { .. }), "{err}");
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = ReplayModel::parse(Path::new("t.jsonl"), "{\"text\":\"x\"}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.jsonl:1"), "{err}");
        let err = ReplayModel::parse(Path::new("t.jsonl"), "\n{not json\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.jsonl:2"), "{err}");
        let err = ReplayModel::parse(Path::new("t.jsonl"), r#"{"messages":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `completion`"), "{err}");
    }
}
