//! `agentless-mini status --run-dir DIR`: the progress of a cluster run submitted earlier
//! (`--detach`, or from another terminal), and with `--follow` the same following as the
//! submitting command (progress lines, then the final job's output and exit code).

use std::path::PathBuf;

use clap::Args;

use super::{ClusterDir, progress};
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run directory of `eval` (or the cluster folder `REPORT_DIR/RUN_ID.cluster` of
    /// `evaluate`).
    #[arg(long)]
    pub run_dir: PathBuf,
    /// Follow the run to its end, as the submitting command does, and exit with its code.
    #[arg(long)]
    pub follow: bool,
}

pub async fn run(args: &StatusArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let dir = ClusterDir::find(&args.run_dir);
    let job = dir.load().map_err(|e| {
        anyhow::anyhow!(
            "{} holds no cluster run (no job.json: was it submitted with --executor slurm?): {e}",
            args.run_dir.display()
        )
    })?;
    if args.follow {
        return super::follow_jobs(&job, &dir, global).await;
    }
    let snap = progress::snapshot(&job, &dir).await;
    let printer = Printer::new(global);
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(job.submitted_at_unix);
    printer.summary(&format!(
        "{} of {} instances, {} shards: job array {}, final job {}; submitted {} ago",
        job.command,
        job.instances.len(),
        job.shards,
        job.array_job.as_deref().unwrap_or("-"),
        job.final_job.as_deref().unwrap_or("-"),
        progress::duration(std::time::Duration::from_secs(elapsed))
    ));
    printer.summary(&format!("progress: {}", snap.line()));
    if snap.final_exit.is_some() {
        printer.summary(&format!("output of the final job: {}", dir.final_out().display()));
    }
    Ok(ExitStatus::Success)
}
