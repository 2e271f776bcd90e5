//! An OpenAI-compatible server in front of any backend (`agentless-mini serve`): so one machine
//! with the model can serve many harness processes.
//!
//! - `POST /v1/chat/completions`: `messages`, `temperature`, `top_p`, `max_tokens` (or
//!   `max_completion_tokens`), `stop`, `seed`, `n` (exactly `n` choices back), `usage`.
//!   No streaming. Errors use OpenAI's `{"error": {"message", "type"}}` body: 400 for a bad
//!   request (including a prompt over the context), 503 when the backend is unavailable.
//! - `GET /v1/models`: the one served model.
//! - `GET /health`: `ok` (never needs the key).
//!
//! A client that disconnects cancels its request (the local backend stops decoding it).
//!
//! Hostile requests cannot take the server down: [`ServerLimits`] bounds `n`, `max_tokens`,
//! the prompt's length and the body's size, and the time a client may take to send its body;
//! a request over a bound gets a 400 (408 for a slow body) with an OpenAI error body and the
//! server carries on. With [`ServerOptions::api_key`] every `/v1/` route needs
//! `Authorization: Bearer KEY` (401 otherwise; compared in constant time).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::openai::{
    ChatCompletionRequest, ChatCompletionResponse, Choice, ChoiceMessage, ErrorBody, ErrorDetail, ModelCard, ModelList,
    WireUsage,
};
use crate::{Model, ModelError};

/// `max_tokens` when a request does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Bounds on one request. Over a bound: 400 with an OpenAI error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Most samples (`n`) per request.
    pub max_n: u32,
    /// Most `max_tokens` (or `max_completion_tokens`) per request.
    pub max_tokens: u32,
    /// Most bytes of message text per request (all messages together).
    pub max_prompt_bytes: usize,
    /// Most bytes of request body.
    pub max_body_bytes: usize,
    /// Time a client has to send its whole body.
    pub body_timeout: Duration,
}

impl Default for ServerLimits {
    /// n ≤ 1024 (the paper's 500 samples fit in one request), max_tokens ≤ 131,072,
    /// prompt ≤ 8 MiB, body ≤ 16 MiB, 60 s to send the body.
    fn default() -> Self {
        ServerLimits {
            max_n: 1024,
            max_tokens: 131_072,
            max_prompt_bytes: 8 << 20,
            max_body_bytes: 16 << 20,
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// How to serve.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub limits: ServerLimits,
    /// When set, `/v1/` routes need `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
}

struct AppState {
    model: Arc<dyn Model>,
    name: String,
    created: u64,
    counter: AtomicU64,
    limits: ServerLimits,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The routes, serving `model` under the name `name`, with default limits and no key.
pub fn router(model: Arc<dyn Model>, name: &str) -> Router {
    router_with(model, name, &ServerOptions::default())
}

/// The routes, serving `model` under the name `name`, with `options`.
pub fn router_with(model: Arc<dyn Model>, name: &str, options: &ServerOptions) -> Router {
    let state = Arc::new(AppState {
        model,
        name: name.to_string(),
        created: now_secs(),
        counter: AtomicU64::new(0),
        limits: options.limits,
    });
    let mut api = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        // The body is read (and bounded) by the handler itself, to answer in OpenAI's format.
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    if let Some(key) = options.api_key.clone().filter(|k| !k.is_empty()) {
        let key = Arc::new(key);
        api = api.layer(middleware::from_fn(move |req: Request, next: Next| {
            let key = Arc::clone(&key);
            async move { require_key(&key, req, next).await }
        }));
    }
    api.route("/health", get(|| async { "ok" }))
}

/// 401 unless the request carries `Authorization: Bearer <key>`.
async fn require_key(key: &str, req: Request, next: Next) -> Response {
    if bearer_matches(req.headers(), key) {
        return next.run(req).await;
    }
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "missing or wrong API key: send Authorization: Bearer <key>".into(),
    );
    resp.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    resp
}

fn bearer_matches(headers: &HeaderMap, key: &str) -> bool {
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    constant_time_eq(given.trim().as_bytes(), key.as_bytes())
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            message,
            kind: kind.to_string(),
            code: None,
        },
    };
    (status, Json(body)).into_response()
}

fn model_error(e: ModelError) -> Response {
    let (status, kind) = match &e {
        ModelError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        ModelError::NotRecorded { .. } => (StatusCode::NOT_FOUND, "not_recorded"),
        ModelError::Unauthorized(_) => (StatusCode::BAD_GATEWAY, "upstream_unauthorized"),
        ModelError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    error(status, kind, e.to_string())
}

async fn chat_completions(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let limits = state.limits;
    let body = match tokio::time::timeout(limits.body_timeout, axum::body::to_bytes(body, limits.max_body_bytes)).await
    {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                format!(
                    "the request body took longer than {} s to arrive",
                    limits.body_timeout.as_secs()
                ),
            );
        }
        Ok(Err(e)) => {
            // axum reports the cap as http-body-util's "length limit exceeded".
            let mut text = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                text.push_str(&format!(": {s}"));
                src = s.source();
            }
            let over = text.contains("length limit");
            return bad_request(if over {
                format!("the request body is larger than {} bytes", limits.max_body_bytes)
            } else {
                format!("could not read the request body: {e}")
            });
        }
        Ok(Ok(b)) => b,
    };
    let wire: ChatCompletionRequest = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => return bad_request(format!("bad JSON body: {e}")),
    };
    if let Some(n) = wire.n.filter(|&n| n > limits.max_n) {
        return bad_request(format!("n is {n}; this server allows 1 to {}", limits.max_n));
    }
    if let Some(t) = wire
        .max_completion_tokens
        .or(wire.max_tokens)
        .filter(|&t| t > limits.max_tokens)
    {
        return bad_request(format!(
            "max_tokens is {t}; this server allows 1 to {}",
            limits.max_tokens
        ));
    }
    let request = match wire.to_chat(DEFAULT_MAX_TOKENS.min(limits.max_tokens)) {
        Ok(r) => r,
        Err(e) => return model_error(e),
    };
    let prompt: usize = request.messages.iter().map(|m| m.content.len()).sum();
    if prompt > limits.max_prompt_bytes {
        return bad_request(format!(
            "the messages hold {prompt} bytes of text; this server allows {}",
            limits.max_prompt_bytes
        ));
    }
    let resp = match state.model.chat(&request).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("request failed: {e}");
            return model_error(e);
        }
    };
    let id = state.counter.fetch_add(1, Ordering::Relaxed);
    let body = ChatCompletionResponse {
        id: format!("chatcmpl-{}-{id}", state.created),
        object: "chat.completion".into(),
        created: now_secs(),
        model: state.name.clone(),
        choices: resp
            .completions
            .into_iter()
            .enumerate()
            .map(|(i, c)| Choice {
                index: i as u32,
                message: ChoiceMessage {
                    role: "assistant".into(),
                    content: Some(c.text),
                },
                finish_reason: Some(c.finish_reason.as_str().to_string()),
            })
            .collect(),
        usage: Some(WireUsage {
            prompt_tokens: resp.usage.prompt_tokens,
            completion_tokens: resp.usage.completion_tokens,
            total_tokens: resp.usage.prompt_tokens + resp.usage.completion_tokens,
        }),
    };
    Json(body).into_response()
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: state.name.clone(),
            object: "model".into(),
            created: state.created,
            owned_by: "agentless-mini".into(),
        }],
    })
}
