//! The model flags every model-using command shares (`#[command(flatten)] model: ModelArgs`):
//! which backend (`--model`), how to reach and pace an HTTP endpoint, how to run a local model,
//! and `--record`. [`ModelArgs::open`] builds the backend, with a progress bar while the default
//! model downloads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentless_harness::dataset::HubProgress as _;
use agentless_model::fetch::FetchProgress;
use agentless_model::local::{LocalDevice, LocalOptions};
use agentless_model::retry::RetryPolicy;
use agentless_model::{Model, ModelOptions, ModelSpec};
use anyhow::Context as _;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::progress::DownloadBar;

#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// The model: `default` (SmolLM2-135M-Instruct, fetched once and cached), `local:PATH`
    /// (a .gguf file or a Hugging Face model folder), `http(s)://HOST:PORT/v1` (an
    /// OpenAI-compatible server; comma-separated for several, used in turn), or `replay:FILE`.
    #[arg(long, default_value = "default", env = "AGENTLESS_MODEL")]
    pub model: String,
    /// The served model's name for HTTP backends (default: the first of GET /v1/models).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Environment variable holding the API key (default OPENAI_API_KEY). The key is only
    /// ever sent in the Authorization header.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Model requests in flight at once, over all instances.
    // One limit where there were two: `--model-concurrency` (the HTTP client's, default 16) is
    // a hidden alias, and `eval`'s own `--max-concurrent-requests` (default 64) is this flag.
    #[arg(
        long,
        default_value_t = 16,
        value_name = "N",
        alias = "model-concurrency",
        overrides_with = "max_concurrent_requests"
    )]
    pub max_concurrent_requests: usize,
    /// Seconds one HTTP request may take, connection to last byte.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub request_timeout: u64,
    /// Attempts per HTTP request, the first included (429, 5xx, connection errors, timeouts
    /// and malformed answers are retried with backoff; Retry-After is honoured).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_attempts: u32,
    /// Ask an HTTP server for at most N completions per request (for servers that cap `n`).
    #[arg(long, value_name = "N")]
    pub n_per_request: Option<u32>,
    /// Append every completion to FILE (JSONL); `--model replay:FILE` serves them again.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// CPU threads of a local model (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Device of a local model: cpu, cuda or cuda:N (CUDA needs a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: LocalDevice,
    /// Most samples a local model decodes together.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_batch: usize,
    /// Never download the default model (fail with the manual fetch step instead).
    #[arg(long, env = "AGENTLESS_OFFLINE")]
    pub offline: bool,
}

impl Default for ModelArgs {
    fn default() -> Self {
        ModelArgs {
            model: "default".into(),
            served_model_name: None,
            api_key_env: None,
            max_concurrent_requests: 16,
            request_timeout: 600,
            max_attempts: 8,
            n_per_request: None,
            record: None,
            threads: None,
            device: LocalDevice::Cpu,
            max_batch: 16,
            offline: false,
        }
    }
}

/// The download bar, as the model crate's progress trait.
struct FetchBar(DownloadBar);

impl FetchProgress for FetchBar {
    fn start(&self, what: &str, total: Option<u64>) {
        self.0.start(what, total);
    }
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
    fn finish(&self) {
        self.0.finish();
    }
}

impl ModelArgs {
    pub fn spec(&self) -> anyhow::Result<ModelSpec> {
        ModelSpec::parse(&self.model).with_context(|| format!("--model {}", self.model))
    }

    /// The options these flags describe (no progress reporting).
    pub fn options(&self) -> ModelOptions {
        ModelOptions {
            model_name: self.served_model_name.clone(),
            api_key_env: self.api_key_env.clone(),
            concurrency: self.max_concurrent_requests.max(1),
            request_timeout: Duration::from_secs(self.request_timeout.max(1)),
            retry: RetryPolicy {
                max_attempts: self.max_attempts.max(1),
                ..RetryPolicy::default()
            },
            n_per_request: self.n_per_request,
            record: self.record.clone(),
            local: LocalOptions {
                threads: self.threads,
                device: self.device,
                max_batch: self.max_batch.max(1),
                ..LocalOptions::default()
            },
            cache_dir: None,
            offline: self.offline,
            fetch_progress: None,
        }
    }

    /// Build the backend (downloading the default model first when needed, with a bar).
    pub async fn open(&self, global: &GlobalArgs) -> anyhow::Result<Arc<dyn Model>> {
        let spec = self.spec()?;
        let mut options = self.options();
        options.fetch_progress = Some(Arc::new(FetchBar(DownloadBar::new(global))));
        agentless_model::open(&spec, &options)
            .await
            .with_context(|| format!("opening the model {spec}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        model: ModelArgs,
    }

    #[test]
    fn flags_map_to_options() {
        let cli = Cli::parse_from([
            "x",
            "--model",
            "http://a/v1,http://b/v1",
            "--served-model-name",
            "m",
            "--api-key-env",
            "K",
            "--max-concurrent-requests",
            "3",
            "--request-timeout",
            "5",
            "--max-attempts",
            "2",
            "--n-per-request",
            "4",
            "--record",
            "r.jsonl",
            "--threads",
            "1",
            "--device",
            "cuda:1",
            "--max-batch",
            "8",
        ]);
        let o = cli.model.options();
        assert_eq!(o.model_name.as_deref(), Some("m"));
        assert_eq!(o.api_key_env.as_deref(), Some("K"));
        assert_eq!(o.concurrency, 3);
        assert_eq!(o.request_timeout, Duration::from_secs(5));
        assert_eq!(o.retry.max_attempts, 2);
        assert_eq!(o.n_per_request, Some(4));
        assert_eq!(o.record, Some(PathBuf::from("r.jsonl")));
        assert_eq!(o.local.threads, Some(1));
        assert_eq!(o.local.device, LocalDevice::Cuda(1));
        assert_eq!(o.local.max_batch, 8);
        assert!(matches!(cli.model.spec().unwrap(), ModelSpec::Http { base_urls } if base_urls.len() == 2));
        let d = Cli::parse_from(["x"]);
        assert_eq!(d.model.spec().unwrap(), ModelSpec::Default);
        assert!(Cli::try_parse_from(["x", "--device", "tpu"]).is_err());
    }

    #[test]
    fn the_old_spelling_is_the_same_limit() {
        let cli = Cli::parse_from(["x", "--model-concurrency", "5"]);
        assert_eq!(cli.model.options().concurrency, 5);
        // Both spellings given, as scripts written for the two old flags do: the last wins.
        let cli = Cli::parse_from(["x", "--max-concurrent-requests", "4", "--model-concurrency", "7"]);
        assert_eq!(cli.model.options().concurrency, 7);
    }
}
