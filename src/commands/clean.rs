//! `agentless-mini clean`: remove containers left by a crashed run (found by their
//! `agentless-mini.run-id` label), and optionally the images agentless-mini built. Only the
//! given run's containers, unless `--all` (on a shared engine other users' runs carry the
//! same label).

use agentless_harness::images::remove_managed_images;
use agentless_harness::sandbox::DockerEnv;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Remove this run's containers.
    #[arg(long, required_unless_present_any = ["all", "images"], conflicts_with = "all")]
    pub run_id: Option<String>,
    /// Remove the containers of every agentless-mini run on this engine (other users' too).
    #[arg(long)]
    pub all: bool,
    /// Also remove the images agentless-mini built (demo base and instance images, local
    /// SWE-bench builds). Pulled images are kept.
    #[arg(long)]
    pub images: bool,
}

pub async fn run(args: &CleanArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let env = DockerEnv::connect().await?;
    let removed = match (&args.run_id, args.all) {
        (Some(run), _) => env.remove_labelled(Some(run)).await?,
        (None, true) => env.remove_labelled(None).await?,
        // `--images` alone: images only.
        (None, false) => Vec::new(),
    };
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
