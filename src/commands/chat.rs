//! `agentless-mini chat PROMPT`: ask the model once and print the completions — the quickest
//! check that an endpoint, a model folder or a GGUF file works.
//!
//! One completion prints as plain text; several print under `--- completion i/n (finish) ---`
//! headers; `--json` prints the whole response (completions, usage, timing, model) as JSON.
//! Token usage and timing go to stderr with `-v`.

use std::io::Read as _;

use agentless_model::{ChatRequest, Message};
use anyhow::Context as _;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::commands::model_args::ModelArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The user message (`-` reads it from stdin).
    pub prompt: String,
    /// A system message before it.
    #[arg(long)]
    pub system: Option<String>,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus sampling: keep the most probable tokens up to this mass.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Completions to generate.
    #[arg(long, short = 'n', default_value_t = 1)]
    pub n: u32,
    /// Seed of the first completion (completion i uses seed + i).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop at this text (repeatable); it is not included in the completion.
    #[arg(long)]
    pub stop: Vec<String>,
    /// Print the whole response as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: &ChatArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let prompt = if args.prompt == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the prompt from stdin")?;
        s
    } else {
        args.prompt.clone()
    };
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(prompt));
    let request = ChatRequest {
        messages,
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        seed: args.seed,
        n: args.n,
    };
    request.validate()?;
    let model = args.model.open(global).await?;
    let response = model
        .chat(&request)
        .await
        .with_context(|| format!("asking {}", model.id()))?;
    if args.json {
        printer.data(&serde_json::to_string_pretty(&response)?);
    } else if response.completions.len() == 1 {
        printer.data(&response.completions[0].text);
    } else {
        let n = response.completions.len();
        for (i, c) in response.completions.iter().enumerate() {
            printer.data(&format!(
                "--- completion {}/{n} ({}) ---",
                i + 1,
                c.finish_reason.as_str()
            ));
            printer.data(&c.text);
        }
    }
    printer.note(&format!(
        "{}: {} prompt tokens, {} completion tokens, {:.2}s",
        response.model,
        response.usage.prompt_tokens,
        response.usage.completion_tokens,
        response.elapsed_ms as f64 / 1000.0
    ));
    Ok(ExitStatus::Success)
}
