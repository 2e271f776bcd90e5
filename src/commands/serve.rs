//! `agentless-mini serve`: expose a model (typically `local:PATH`, loaded once) over the
//! OpenAI-compatible API — `POST /v1/chat/completions` (with `n` and `usage`), `GET /v1/models`,
//! `GET /health` — so that one machine with the model serves many harness processes
//! (`--model http://HOST:PORT/v1` on their side). Runs until Ctrl-C or SIGTERM.
//!
//! Here `--api-key-env NAME` names the key clients must send (`Authorization: Bearer`); an
//! HTTP model behind `serve` uses `OPENAI_API_KEY`. Listening on an address other than
//! loopback without a key is refused unless `--insecure` is given. Requests are bounded by
//! `--max-n`, `--max-tokens-limit`, `--max-prompt` and `--max-body` (400 over a bound).

use std::time::Duration;

use agentless_model::server::{ServerLimits, ServerOptions};
use anyhow::Context as _;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::commands::model_args::ModelArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port; the address in use is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// The model name clients see in /v1/models and answers (default: the file or folder name).
    #[arg(long)]
    pub name: Option<String>,
    /// Listen on an address other than loopback without an API key (--api-key-env).
    #[arg(long)]
    pub insecure: bool,
    /// Most samples (`n`) one request may ask for (1 to 65536).
    #[arg(long, default_value_t = ServerLimits::default().max_n, value_parser = clap::value_parser!(u32).range(1..=i64::from(agentless_model::MAX_SAMPLES)))]
    pub max_n: u32,
    /// Most `max_tokens` one request may ask for (1 to 16777216).
    #[arg(long, default_value_t = ServerLimits::default().max_tokens, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub max_tokens_limit: u32,
    /// Most bytes of message text per request, e.g. 8m (1k to 1g).
    #[arg(long, default_value = "8m", value_parser = crate::limits::size_in(1 << 10, 1 << 30))]
    pub max_prompt: u64,
    /// Most bytes of request body, e.g. 16m (1k to 1g).
    #[arg(long, default_value = "16m", value_parser = crate::limits::size_in(1 << 10, 1 << 30))]
    pub max_body: u64,
    /// Seconds a client has to send its request body (1 to 3600).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
}

impl ServeArgs {
    fn limits(&self) -> ServerLimits {
        ServerLimits {
            max_n: self.max_n,
            max_tokens: self.max_tokens_limit,
            max_prompt_bytes: usize::try_from(self.max_prompt).unwrap_or(usize::MAX),
            max_body_bytes: usize::try_from(self.max_body).unwrap_or(usize::MAX),
            body_timeout: Duration::from_secs(self.body_timeout),
        }
    }
}

/// The key clients must send, from the variable `--api-key-env` names.
fn server_key(var: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(var) = var else { return Ok(None) };
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            anyhow::bail!("--api-key-env names {var}, but that environment variable is not set or empty")
        }
        Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!("environment variable {var} is not valid UTF-8"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

pub async fn run(args: &ServeArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let key = server_key(args.model.api_key_env.as_deref())?;
    // Bind first: the address actually used decides whether a key is needed.
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr().context("the listening address")?;
    if !local.ip().is_loopback() && key.is_none() && !args.insecure {
        drop(listener);
        return Err(crate::commands::UsageError(format!(
            "refusing to serve on {local} (not loopback) without an API key: set --api-key-env NAME \
             (clients then send Authorization: Bearer <key>), or pass --insecure"
        ))
        .into());
    }
    if !local.ip().is_loopback() && key.is_none() {
        printer.warn(&format!(
            "serving on {local} without an API key (--insecure): anyone who can reach it may use it"
        ));
    }
    let mut model_args = args.model.clone();
    model_args.api_key_env = None;
    let model = model_args.open(global).await?;
    let id = model.id();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| id.split_once(':').map(|(_, n)| n.to_string()).unwrap_or(id.clone()));
    printer.data(&format!("serving {name} ({id}) on http://{local}/v1"));
    let options = ServerOptions {
        limits: args.limits(),
        api_key: key,
    };
    let router = agentless_model::server::router_with(model, &name, &options);
    agentless_model::server::serve(listener, router, shutdown_signal())
        .await
        .context("serving")?;
    printer.note("server stopped");
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentless_model::http::HttpModel;
    use agentless_model::{ChatRequest, Message, Model, ModelOptions};

    /// `serve` end to end on loopback: a replay model behind the command, the HTTP backend in
    /// front of it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_command_answers_over_http() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("r.jsonl");
        let line = |t: &str| format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"text\":\"{t}\"}}\n");
        fs_err::write(&file, format!("{}{}", line("one"), line("two"))).expect("write");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let args = ServeArgs {
            model: ModelArgs {
                model: format!("replay:{}", file.display()),
                ..ModelArgs::default()
            },
            host: "127.0.0.1".into(),
            port,
            name: Some("replayed".into()),
            insecure: false,
            max_n: 16,
            max_tokens_limit: 1024,
            max_prompt: 1 << 20,
            max_body: 1 << 20,
            body_timeout: 10,
        };
        let global = GlobalArgs {
            verbose: 0,
            quiet: true,
            no_progress: true,
            progress_interval: 0,
            color: crate::cli::Color::Never,
        };
        let server = tokio::spawn(async move { run(&args, &global).await });
        let url = format!("http://127.0.0.1:{port}/v1");
        let client = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if client
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(up, "the server did not come up");
        let model = HttpModel::connect(std::slice::from_ref(&url), &ModelOptions::default())
            .await
            .expect("connect");
        assert_eq!(model.model_name(), "replayed");
        let r = model
            .chat(&ChatRequest::new(vec![Message::user("hi")], 1.0, 2))
            .await
            .expect("chat");
        let texts: Vec<&str> = r.completions.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["one", "two"]);
        // A sample that was never recorded: the server says so (404), the client reports it.
        let err = model
            .chat(&ChatRequest::new(vec![Message::user("hi")], 1.0, 3))
            .await
            .expect_err("not recorded");
        assert!(err.to_string().contains("404"), "{err}");
        server.abort();
    }
}
