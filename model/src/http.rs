//! The OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp's server, `agentless-mini serve`,
//! hosted APIs).
//!
//! - Several base URLs are used round-robin, one attempt at a time, so a retry moves on to the
//!   next server.
//! - At most `concurrency` requests are in flight (a semaphore; a request waiting out a backoff
//!   holds no slot).
//! - 429, 408, 409, 425, 5xx, connection errors, timeouts and malformed answers are retried
//!   with exponential backoff and jitter, honouring `Retry-After`, within a [`RetryPolicy`]
//!   budget; when it is spent the error says how many attempts were made and what the last
//!   failure was. 400/404/413/422 are [`ModelError::BadRequest`] at once, 401/403
//!   [`ModelError::Unauthorized`].
//! - Exactly `n` completions come back: when a server returns fewer than asked (many ignore
//!   `n`), the rest are asked for in further requests (concurrently), each covering a distinct
//!   range of sample indices with seeds `seed + index`; extra choices are dropped.
//! - The API key comes from the environment and goes only into the `Authorization` header; it
//!   is never in `Debug` output, and every error message is scrubbed of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use tokio::sync::Semaphore;

use crate::openai::{ChatCompletionRequest, ChatCompletionResponse, ErrorBody, ModelList, finish_reason_from_wire};
use crate::retry::{RetryPolicy, jitter, parse_retry_after};
use crate::{ChatRequest, ChatResponse, Completion, Model, ModelError, ModelOptions, Usage};

/// The default environment variable for the API key.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";

/// Longest excerpt of a server's error body kept in an error message.
const MAX_ERROR_BODY: usize = 600;
/// Default cap on one answer's body: an answer beyond it fails that request with a clear
/// error instead of being buffered (n = 500 samples of 4k tokens is about 10 MiB of JSON).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Cap on the body of `GET /models`.
const MAX_MODELS_BODY: usize = 1 << 20;

/// An API key. Its `Debug` never shows it.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// An OpenAI-compatible chat-completions client. See the module docs.
pub struct HttpModel {
    client: reqwest::Client,
    base_urls: Vec<String>,
    next_url: AtomicUsize,
    model_name: String,
    key: Option<ApiKey>,
    slots: Arc<Semaphore>,
    retry: RetryPolicy,
    n_per_request: Option<u32>,
    /// The most completions a server returned for one request when it returned fewer than
    /// asked (0 = no such server seen): later requests ask for no more than this at a time.
    observed_n_cap: AtomicU32,
    /// Largest answer body read; beyond it the request fails.
    max_response_bytes: usize,
}

impl std::fmt::Debug for HttpModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpModel")
            .field("base_urls", &self.base_urls)
            .field("model_name", &self.model_name)
            .field("key", &self.key)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// How one attempt failed.
enum AttemptError {
    /// Worth another try (after `retry_after` if the server said so).
    Retry {
        error: ModelError,
        retry_after: Option<Duration>,
    },
    /// Final.
    Fatal(ModelError),
}

impl HttpModel {
    /// A client for `base_urls` (each `http(s)://HOST[:PORT]/v1`). Without `options.model_name`
    /// the served model is asked from `GET BASE/models` (the first one listed).
    pub async fn connect(base_urls: &[String], options: &ModelOptions) -> Result<Self, ModelError> {
        let mut model = HttpModel::new(base_urls, options, options.model_name.clone().unwrap_or_default())?;
        if model.model_name.is_empty() {
            model.model_name = model.first_served_model().await?;
        }
        Ok(model)
    }

    /// A client that does not talk to the servers until the first request. `model_name` may be
    /// empty when the servers do not care (llama.cpp's server).
    pub fn new(base_urls: &[String], options: &ModelOptions, model_name: String) -> Result<Self, ModelError> {
        if base_urls.is_empty() {
            return Err(ModelError::Config("no base URL for the HTTP backend".into()));
        }
        let env_name = options.api_key_env.as_deref().unwrap_or(DEFAULT_API_KEY_ENV);
        let key = match std::env::var(env_name) {
            Ok(v) if !v.trim().is_empty() => Some(ApiKey(v.trim().to_string())),
            Ok(_) | Err(std::env::VarError::NotPresent) if options.api_key_env.is_none() => None,
            Ok(_) | Err(std::env::VarError::NotPresent) => {
                return Err(ModelError::Config(format!(
                    "--api-key-env names {env_name}, but that environment variable is not set or empty"
                )));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(ModelError::Config(format!(
                    "environment variable {env_name} is not valid UTF-8"
                )));
            }
        };
        let mut headers = HeaderMap::new();
        if let Some(k) = &key {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", k.0)).map_err(|_| {
                ModelError::Config(format!(
                    "the API key in {env_name} contains characters not allowed in a header"
                ))
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let connect_timeout = options.request_timeout.min(Duration::from_secs(15));
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(options.request_timeout)
            .connect_timeout(connect_timeout)
            .pool_max_idle_per_host(options.concurrency.max(1))
            .tcp_nodelay(true)
            .user_agent(concat!("agentless-mini/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModelError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpModel {
            client,
            base_urls: base_urls.to_vec(),
            next_url: AtomicUsize::new(0),
            model_name,
            key,
            slots: Arc::new(Semaphore::new(options.concurrency.max(1))),
            retry: options.retry.clone(),
            n_per_request: options.n_per_request.filter(|&n| n > 0),
            observed_n_cap: AtomicU32::new(0),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// Change the cap on one answer's body (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit.max(1);
        self
    }

    /// The served model name requests carry.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    fn next_base(&self) -> &str {
        let i = self.next_url.fetch_add(1, Ordering::Relaxed) % self.base_urls.len();
        &self.base_urls[i]
    }

    /// Replace the key wherever it appears, in case a server echoes it. Always applied to a
    /// server's whole text before any excerpt is cut from it, so no part of the key survives.
    fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some(k) if !k.0.is_empty() => text.replace(&k.0, "***"),
            _ => text.to_string(),
        }
    }

    fn scrub_error(&self, e: ModelError) -> ModelError {
        match e {
            ModelError::BadRequest(m) => ModelError::BadRequest(self.scrub(&m)),
            ModelError::Unavailable(m) => ModelError::Unavailable(self.scrub(&m)),
            ModelError::Malformed(m) => ModelError::Malformed(self.scrub(&m)),
            ModelError::Unauthorized(m) => ModelError::Unauthorized(self.scrub(&m)),
            ModelError::Config(m) => ModelError::Config(self.scrub(&m)),
            other => other,
        }
    }

    /// `GET BASE/models` on each server in turn; the first model listed.
    async fn first_served_model(&self) -> Result<String, ModelError> {
        let mut last = None;
        for base in &self.base_urls {
            let url = format!("{base}/models");
            match self.client.get(&url).send().await {
                Ok(resp) if resp.status().is_success() => {
                    let bytes = match read_capped(resp, MAX_MODELS_BODY).await {
                        Ok(b) => b,
                        Err(e) => {
                            last = Some(ModelError::Malformed(format!("GET {url}: {}", e.describe())));
                            continue;
                        }
                    };
                    let list: ModelList = serde_json::from_slice(&bytes)
                        .map_err(|e| self.scrub_error(ModelError::Malformed(format!("GET {url}: {e}"))))?;
                    if let Some(card) = list.data.into_iter().next() {
                        // A server could echo the key as its model name: it would reach records.
                        return Ok(self.scrub(&card.id));
                    }
                    last = Some(ModelError::Config(format!(
                        "GET {url} lists no model; pass --model-name"
                    )));
                }
                Ok(resp) => {
                    last = Some(ModelError::Config(format!(
                        "GET {url} answered {}; pass --model-name",
                        resp.status()
                    )))
                }
                Err(e) => last = Some(ModelError::Unavailable(format!("GET {url}: {e}"))),
            }
        }
        Err(self.scrub_error(last.unwrap_or_else(|| ModelError::Config("no base URL".into()))))
    }

    /// One POST to the next server.
    async fn attempt(&self, body: &ChatCompletionRequest) -> Result<ChatCompletionResponse, AttemptError> {
        let url = format!("{}/chat/completions", self.next_base());
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| AttemptError::Fatal(ModelError::Unavailable("the HTTP backend was shut down".into())))?;
        let resp = match self.client.post(&url).json(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() { "timed out" } else { "failed" };
                return Err(AttemptError::Retry {
                    error: ModelError::Unavailable(format!("POST {url} {what}: {}", error_chain(&e))),
                    retry_after: None,
                });
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = match read_capped(resp, self.max_response_bytes).await {
            Ok(b) => b,
            Err(ReadError::TooLarge(limit)) => {
                return Err(AttemptError::Fatal(ModelError::Malformed(format!(
                    "POST {url}: the answer (HTTP {status}) is larger than {limit} bytes; it was not read"
                ))));
            }
            Err(ReadError::Http(e)) => {
                let what = if e.is_timeout() {
                    "timed out reading the answer"
                } else {
                    "lost the answer"
                };
                return Err(AttemptError::Retry {
                    error: ModelError::Unavailable(format!("POST {url} {what} (HTTP {status}): {}", error_chain(&e))),
                    retry_after: None,
                });
            }
        };
        if status.is_success() {
            let parsed: ChatCompletionResponse = serde_json::from_slice(&bytes).map_err(|e| AttemptError::Retry {
                error: ModelError::Malformed(format!("POST {url}: answer is not a chat completion: {e}")),
                retry_after: None,
            })?;
            if parsed.choices.is_empty() {
                return Err(AttemptError::Retry {
                    error: ModelError::Malformed(format!("POST {url}: answer has no choices")),
                    retry_after: None,
                });
            }
            return Ok(parsed);
        }
        let detail = error_detail(&bytes, |t| self.scrub(t));
        let message = format!("POST {url}: HTTP {status}: {detail}");
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => AttemptError::Fatal(ModelError::Unauthorized(message)),
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::CONFLICT
            | StatusCode::TOO_EARLY
            | StatusCode::TOO_MANY_REQUESTS => AttemptError::Retry {
                error: ModelError::Unavailable(message),
                retry_after,
            },
            s if s.is_server_error() => AttemptError::Retry {
                error: ModelError::Unavailable(message),
                retry_after,
            },
            _ => AttemptError::Fatal(ModelError::BadRequest(message)),
        })
    }

    /// One wire request, retried within the budget.
    async fn request(&self, body: &ChatCompletionRequest) -> Result<ChatCompletionResponse, ModelError> {
        let start = Instant::now();
        let mut rng = jitter();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(body).await {
                Ok(resp) => return Ok(resp),
                Err(AttemptError::Fatal(e)) => return Err(self.scrub_error(e)),
                Err(AttemptError::Retry { error, retry_after }) => {
                    match self.retry.next_delay(attempts, start.elapsed(), retry_after, &mut rng) {
                        Ok(delay) => {
                            tracing::debug!(
                                attempt = attempts,
                                ?delay,
                                "retrying: {}",
                                self.scrub(&error.to_string())
                            );
                            tokio::time::sleep(delay).await;
                        }
                        Err(why) => {
                            let last = self.scrub(&error.to_string());
                            let msg = format!("{why} in {:.1}s; last error: {last}", start.elapsed().as_secs_f64());
                            return Err(match error {
                                ModelError::Malformed(_) => ModelError::Malformed(msg),
                                _ => ModelError::Unavailable(msg),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Completions for sample indices `first..first + count` (possibly fewer, never more).
    async fn some_samples(&self, req: &ChatRequest, first: u32, count: u32) -> Result<Part, ModelError> {
        let body = ChatCompletionRequest::from_chat(req, &self.model_name, first, count);
        let resp = self.request(&body).await?;
        let mut choices = resp.choices;
        choices.sort_by_key(|c| c.index);
        choices.dedup_by_key(|c| c.index);
        let got = choices.len().min(count as usize);
        if got < count as usize {
            self.observed_n_cap.fetch_max(got as u32, Ordering::Relaxed);
        }
        let completions = choices
            .into_iter()
            .take(got)
            .map(|c| Completion {
                text: self.scrub(&c.message.content.unwrap_or_default()),
                finish_reason: finish_reason_from_wire(c.finish_reason.as_deref()),
            })
            .collect();
        let usage = resp.usage.unwrap_or_default();
        Ok(Part {
            first,
            completions,
            usage: Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            },
            model: self.scrub(&resp.model),
        })
    }

    /// Most samples to ask of one request now.
    fn per_request_cap(&self) -> u32 {
        let observed = self.observed_n_cap.load(Ordering::Relaxed);
        let configured = self.n_per_request.unwrap_or(u32::MAX);
        if observed > 0 {
            configured.min(observed)
        } else {
            configured
        }
    }
}

/// The answer to one wire request: samples `first..first + completions.len()`.
struct Part {
    first: u32,
    completions: Vec<Completion>,
    usage: Usage,
    model: String,
}

/// `e` and its sources, `: `-joined (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// Why an answer's body could not be read.
enum ReadError {
    Http(reqwest::Error),
    /// Longer than the cap (in bytes): reading stopped there.
    TooLarge(usize),
}

impl ReadError {
    fn describe(&self) -> String {
        match self {
            ReadError::Http(e) => error_chain(e),
            ReadError::TooLarge(limit) => format!("the answer is larger than {limit} bytes; it was not read"),
        }
    }
}

/// The body of `resp`, read chunk by chunk and abandoned past `limit` bytes (a declared
/// `Content-Length` over the limit is refused before reading).
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge(limit));
    }
    let mut out = Vec::with_capacity(resp.content_length().map_or(0, |n| n as usize).min(limit));
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if out.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The `error.message` of an OpenAI error body, else the start of the body; `scrub` masks
/// secrets in the whole text before the excerpt is cut (cutting first could keep the start of
/// a key that straddles the cut).
fn error_detail(bytes: &[u8], scrub: impl Fn(&str) -> String) -> String {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return truncate(&scrub(&body.error.message));
    }
    let text = String::from_utf8_lossy(bytes);
    let text = scrub(text.trim());
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        truncate(&text)
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_ERROR_BODY {
        return s.to_string();
    }
    let mut end = MAX_ERROR_BODY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[async_trait::async_trait]
impl Model for HttpModel {
    fn id(&self) -> String {
        format!("openai:{}", self.model_name)
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        request.validate()?;
        let start = Instant::now();
        let n = request.n;
        let mut slots: Vec<Option<Completion>> = vec![None; n as usize];
        let mut usage = Usage::default();
        let mut model = String::new();
        loop {
            // The sample indices still missing, as contiguous ranges split to the cap.
            let cap = self.per_request_cap().max(1);
            let mut ranges = Vec::new();
            let mut i = 0u32;
            while i < n {
                if slots[i as usize].is_some() {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j < n && slots[j as usize].is_none() && j - i < cap {
                    j += 1;
                }
                ranges.push((i, j - i));
                i = j;
            }
            if ranges.is_empty() {
                break;
            }
            let parts = futures::future::join_all(
                ranges
                    .iter()
                    .map(|&(first, count)| self.some_samples(request, first, count)),
            )
            .await;
            let mut progress = false;
            for part in parts {
                let part = part?;
                usage.prompt_tokens += part.usage.prompt_tokens;
                usage.completion_tokens += part.usage.completion_tokens;
                if model.is_empty() {
                    model = part.model;
                }
                for (k, c) in part.completions.into_iter().enumerate() {
                    let idx = part.first as usize + k;
                    if idx < slots.len() && slots[idx].is_none() {
                        slots[idx] = Some(c);
                        progress = true;
                    }
                }
            }
            if !progress {
                // Unreachable with a conforming server (an answer without choices is retried);
                // guard against looping forever anyway.
                return Err(ModelError::Malformed(
                    "the server returned no usable completions".into(),
                ));
            }
        }
        let completions: Vec<Completion> = slots.into_iter().flatten().collect();
        debug_assert_eq!(completions.len(), n as usize);
        if model.is_empty() {
            model = self.model_name.clone();
        }
        Ok(ChatResponse {
            completions,
            usage,
            elapsed_ms: start.elapsed().as_millis() as u64,
            model,
        })
    }
}
