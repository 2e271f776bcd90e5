//! An OpenAI-compatible server in front of any backend (`agentless-mini serve`): so one machine
//! with the model can serve many harness processes.
//!
//! - `POST /v1/chat/completions`: `messages`, `temperature`, `top_p`, `max_tokens` (or
//!   `max_completion_tokens`), `stop`, `seed`, `n` (exactly `n` choices back), `usage`.
//!   No streaming. Errors use OpenAI's `{"error": {"message", "type"}}` body: 400 for a bad
//!   request (including a prompt over the context), 503 when the backend is unavailable.
//! - `GET /v1/models`: the one served model.
//! - `GET /health`: `ok`.
//!
//! A client that disconnects cancels its request (the local backend stops decoding it).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
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

struct AppState {
    model: Arc<dyn Model>,
    name: String,
    created: u64,
    counter: AtomicU64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The routes, serving `model` under the name `name`.
pub fn router(model: Arc<dyn Model>, name: &str) -> Router {
    let state = Arc::new(AppState {
        model,
        name: name.to_string(),
        created: now_secs(),
        counter: AtomicU64::new(0),
    });
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
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

async fn chat_completions(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let wire: ChatCompletionRequest = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("bad JSON body: {e}"),
            );
        }
    };
    let request = match wire.to_chat(DEFAULT_MAX_TOKENS) {
        Ok(r) => r,
        Err(e) => return model_error(e),
    };
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
