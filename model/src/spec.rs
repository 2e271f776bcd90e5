//! `--model SPEC` and the options that go with it, and [`open`], which turns them into a backend.
//!
//! Spec forms: `http(s)://HOST[:PORT]/v1` (several, comma-separated, used round-robin),
//! `local:PATH` (a `.gguf` file or a Hugging Face model folder), `replay:FILE` (a recording made
//! with `--record`), and `default` (SmolLM2-135M-Instruct, fetched and cached on first use).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::fetch::FetchProgress;
use crate::local::LocalOptions;
use crate::retry::RetryPolicy;
use crate::{Model, ModelError};

/// Which backend answers, parsed from `--model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF), fetched and cached on first use.
    Default,
    /// OpenAI-compatible servers; requests go to them in turn.
    Http { base_urls: Vec<String> },
    /// A `.gguf` file or a model folder run in-process.
    Local { path: PathBuf },
    /// Completions recorded earlier with `--record`.
    Replay { file: PathBuf },
}

impl ModelSpec {
    /// Parse `http://a/v1,http://b/v1`, `local:PATH`, `replay:FILE` or `default`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("default") {
            return Ok(ModelSpec::Default);
        }
        if let Some(path) = s.strip_prefix("local:") {
            if path.is_empty() {
                return Err(ModelError::Config("`local:` needs a path: local:PATH".into()));
            }
            return Ok(ModelSpec::Local {
                path: PathBuf::from(path),
            });
        }
        if let Some(file) = s.strip_prefix("replay:") {
            if file.is_empty() {
                return Err(ModelError::Config("`replay:` needs a file: replay:FILE".into()));
            }
            return Ok(ModelSpec::Replay {
                file: PathBuf::from(file),
            });
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            let mut base_urls = Vec::new();
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                base_urls.push(normalize_base_url(part)?);
            }
            return Ok(ModelSpec::Http { base_urls });
        }
        Err(ModelError::Config(format!(
            "unknown model spec {s:?}: expected http(s)://HOST[:PORT]/v1[,...], local:PATH, \
             replay:FILE or default"
        )))
    }
}

/// Check one base URL and drop a trailing `/` (the endpoint is `BASE/chat/completions`).
fn normalize_base_url(url: &str) -> Result<String, ModelError> {
    let shown = redact_userinfo(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| ModelError::Config(format!("bad model URL {shown:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ModelError::Config(format!(
            "bad model URL {shown:?}: expected http(s)://HOST"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ModelError::Config(
            "credentials in the model URL are not accepted; put the key in OPENAI_API_KEY \
             (or the variable named by --api-key-env)"
                .into(),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `scheme://user:pass@host` → `scheme://***@host`, so that messages never repeat credentials.
fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_string(),
    }
}

impl FromStr for ModelSpec {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelSpec::parse(s)
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Default => f.write_str("default"),
            ModelSpec::Http { base_urls } => f.write_str(&base_urls.join(",")),
            ModelSpec::Local { path } => write!(f, "local:{}", path.display()),
            ModelSpec::Replay { file } => write!(f, "replay:{}", file.display()),
        }
    }
}

/// Everything besides the spec that shapes a backend. `Default` gives sensible values.
#[derive(Clone)]
pub struct ModelOptions {
    /// The served model name for HTTP backends; asked from `GET /v1/models` when absent.
    pub model_name: Option<String>,
    /// The environment variable holding the API key (default `OPENAI_API_KEY`).
    pub api_key_env: Option<String>,
    /// Most HTTP requests in flight at once.
    pub concurrency: usize,
    /// Limit for one HTTP request, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
    /// Retries of HTTP requests (429, 5xx, connection trouble, malformed answers).
    pub retry: RetryPolicy,
    /// Ask an HTTP server for at most this many completions per request.
    pub n_per_request: Option<u32>,
    /// Append every completion to this JSONL file (see [`crate::replay`]).
    pub record: Option<PathBuf>,
    /// Threads, device and batch size of the local backend.
    pub local: LocalOptions,
    /// Where the default model is cached (else `$AGENTLESS_CACHE/models` or
    /// `~/.cache/agentless-mini/models`).
    pub cache_dir: Option<PathBuf>,
    /// Never download the default model; fail with the one-line fetch step instead.
    pub offline: bool,
    /// Told about the default model's download.
    pub fetch_progress: Option<Arc<dyn FetchProgress>>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            model_name: None,
            api_key_env: None,
            concurrency: 8,
            request_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            n_per_request: None,
            record: None,
            local: LocalOptions::default(),
            cache_dir: None,
            offline: false,
            fetch_progress: None,
        }
    }
}

impl fmt::Debug for ModelOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelOptions")
            .field("model_name", &self.model_name)
            .field("api_key_env", &self.api_key_env)
            .field("concurrency", &self.concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("n_per_request", &self.n_per_request)
            .field("record", &self.record)
            .field("local", &self.local)
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

/// Build the backend `spec` names. The default model is downloaded first when it is not cached
/// (unless `options.offline`); a local model is loaded once, here, and reused for every request.
/// With `options.record`, the backend is wrapped in a [`crate::replay::Recorder`].
pub async fn open(spec: &ModelSpec, options: &ModelOptions) -> Result<Arc<dyn Model>, ModelError> {
    let inner: Arc<dyn Model> = match spec {
        ModelSpec::Default => {
            let dir = match &options.cache_dir {
                Some(d) => d.clone(),
                None => crate::fetch::models_cache_dir()?,
            };
            let progress = options.fetch_progress.clone();
            let path = crate::fetch::ensure_default_model(&dir, options.offline, progress.as_deref()).await?;
            Arc::new(crate::local::LocalModel::load(&path, &options.local).await?)
        }
        ModelSpec::Local { path } => Arc::new(crate::local::LocalModel::load(path, &options.local).await?),
        ModelSpec::Http { base_urls } => Arc::new(crate::http::HttpModel::connect(base_urls, options).await?),
        ModelSpec::Replay { file } => Arc::new(crate::replay::ReplayModel::open(file)?),
    };
    match &options.record {
        Some(file) => Ok(Arc::new(crate::replay::Recorder::new(inner, file)?)),
        None => Ok(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(ModelSpec::parse("default").unwrap(), ModelSpec::Default);
        assert_eq!(ModelSpec::parse("").unwrap(), ModelSpec::Default);
        assert_eq!(
            ModelSpec::parse("local:/m/x.gguf").unwrap(),
            ModelSpec::Local {
                path: "/m/x.gguf".into()
            }
        );
        assert_eq!(
            ModelSpec::parse("replay:r.jsonl").unwrap(),
            ModelSpec::Replay { file: "r.jsonl".into() }
        );
        assert_eq!(
            ModelSpec::parse("http://a:8000/v1/, https://b/v1").unwrap(),
            ModelSpec::Http {
                base_urls: vec!["http://a:8000/v1".into(), "https://b/v1".into()]
            }
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "local:",
            "replay:",
            "ftp://x",
            "gpt-4",
            "http://",
            "http://user:key@host/v1",
            "http://u:k@",
        ] {
            assert!(matches!(ModelSpec::parse(bad), Err(ModelError::Config(_))), "{bad}");
        }
        // The message about credentials in a URL must not repeat them.
        for url in ["http://user:sekrit@host/v1", "http://user:sekrit@"] {
            let err = ModelSpec::parse(url).unwrap_err().to_string();
            assert!(!err.contains("sekrit"), "{err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["default", "local:/x/y", "replay:r.jsonl", "http://a/v1,http://b/v1"] {
            assert_eq!(ModelSpec::parse(s).unwrap().to_string(), s);
        }
    }
}
