//! `agentless-mini serve`: expose a model (typically `local:PATH`, loaded once) over the
//! OpenAI-compatible API — `POST /v1/chat/completions` (with `n` and `usage`), `GET /v1/models`,
//! `GET /health` — so that one machine with the model serves many harness processes
//! (`--model http://HOST:PORT/v1` on their side). Runs until Ctrl-C or SIGTERM.

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
    let model = args.model.open(global).await?;
    let id = model.id();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| id.split_once(':').map(|(_, n)| n.to_string()).unwrap_or(id.clone()));
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr().context("the listening address")?;
    printer.data(&format!("serving {name} ({id}) on http://{local}/v1"));
    let router = agentless_model::server::router(model, &name);
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
