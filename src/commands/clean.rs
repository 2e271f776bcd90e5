//! `agentless-mini clean`: remove containers left by a crashed run (found by their
//! `agentless-mini.run-id` label), and optionally the images agentless-mini built.

use agentless_harness::images::remove_managed_images;
use agentless_harness::sandbox::DockerEnv;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only this run's containers (default: every agentless-mini container).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Also remove the images agentless-mini built (demo base and instance images, local
    /// SWE-bench builds). Pulled images are kept.
    #[arg(long)]
    pub images: bool,
}

pub async fn run(args: &CleanArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let env = DockerEnv::connect().await?;
    let removed = env.remove_labelled(args.run_id.as_deref()).await?;
    for c in &removed {
        printer.note(&format!("removed container {} (run {}, {})", c.name, c.run_id, c.state));
    }
    let scope = args
        .run_id
        .as_deref()
        .map_or_else(|| "all runs".to_owned(), |r| format!("run {r}"));
    printer.summary(&format!("removed {} container(s) of {scope}", removed.len()));
    if args.images {
        let images = remove_managed_images(&env).await?;
        for i in &images {
            printer.note(&format!("removed image {i}"));
        }
        printer.summary(&format!("removed {} image(s) built by agentless-mini", images.len()));
    }
    Ok(ExitStatus::Success)
}
