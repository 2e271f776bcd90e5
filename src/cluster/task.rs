//! One task of a cluster run, as Slurm starts it (`agentless-mini slurm-task`, hidden): a
//! shard task runs `eval --shard I/K` (or `evaluate` of shard I) against the shared run
//! directory, a final task runs the plain command. Also the process-wide task context the
//! commands consult, so that a shard task writes its run-wide files (`run.json`,
//! `usage.json`, `predictions.jsonl`, the partial run report) into its own folder, labels
//! its containers with its shard, and evaluates only its instances.
//!
//! A task that Slurm restarts (node loss, requeue) first removes the containers its dead
//! predecessor left (run id + shard label, on the engine it reaches), then resumes from the
//! keyed artifacts like any re-run.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context as _;
use clap::{Args, Parser as _};
use serde::Serialize;

use super::{ClusterDir, Job, read_exit, strip_flags};
use crate::artifact::write_atomic;
use crate::cli::{Cli, Command, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;

/// Which shard this process runs, when it is a shard task of a cluster run.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub index: usize,
    pub count: usize,
    /// The shard's own folder for run-wide files.
    pub files: PathBuf,
}

static CONTEXT: OnceLock<TaskContext> = OnceLock::new();

/// The shard's folder for run-wide files, in a shard task.
pub fn files_dir() -> Option<PathBuf> {
    CONTEXT.get().map(|c| c.files.clone())
}

/// The value of the `agentless-mini.shard` container label, in a shard task.
pub fn shard_label() -> Option<String> {
    CONTEXT.get().map(label)
}

fn label(c: &TaskContext) -> String {
    format!("{}/{}", c.index, c.count)
}

/// In a shard task, the items of its shard (item j belongs to shard j mod K, as `--shard`);
/// otherwise all of them.
pub fn pick<T>(items: Vec<T>) -> Vec<T> {
    match CONTEXT.get() {
        Some(c) => items
            .into_iter()
            .enumerate()
            .filter(|(j, _)| j % c.count == c.index)
            .map(|(_, x)| x)
            .collect(),
        None => items,
    }
}

/// `slurm-task`'s arguments.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// The cluster folder (holds job.json).
    #[arg(long)]
    pub dir: PathBuf,
    /// `shard` (one task of the array) or `final` (merge and report).
    #[arg(long)]
    pub role: Role,
    /// The shard index (`$SLURM_ARRAY_TASK_ID`).
    #[arg(long)]
    pub index: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Shard,
    Final,
}

/// What a running attempt records about itself (the node-loss test ends these processes).
#[derive(Debug, Serialize)]
struct Attempt {
    pid: u32,
    /// The parent: Slurm's step daemon for a batch script that `exec`s this program.
    ppid: u32,
    node: Option<String>,
    restart: u32,
    job_id: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn record_attempt(dir: &ClusterDir, role: &str) -> anyhow::Result<u32> {
    let restart = env("SLURM_RESTART_COUNT").and_then(|v| v.parse().ok()).unwrap_or(0);
    let a = Attempt {
        pid: std::process::id(),
        ppid: std::os::unix::process::parent_id(),
        node: env("SLURMD_NODENAME"),
        restart,
        job_id: env("SLURM_JOB_ID"),
    };
    write_atomic(&dir.attempt_file(role), serde_json::to_string_pretty(&a)?.as_bytes())?;
    Ok(restart)
}

/// `slurm-task`: run one task of a cluster run and record its exit code.
pub async fn run(args: &TaskArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let dir = ClusterDir(args.dir.clone());
    let job = dir.load()?;
    match args.role {
        Role::Shard => {
            let index = args.index.context("--role shard needs --index")?;
            anyhow::ensure!(index < job.shards, "shard {index} of {}", job.shards);
            let status = shard(&job, &dir, index, &printer).await;
            let code = match &status {
                Ok(s) => *s as i32,
                Err(e) => {
                    crate::commands::report_error(e);
                    ExitStatus::of_error(e) as i32
                }
            };
            write_atomic(&dir.shard_exit(index), format!("{code}\n").as_bytes())?;
            status
        }
        Role::Final => {
            record_attempt(&dir, "final")?;
            let status = final_step(&job, &dir).await;
            let code = match &status {
                Ok(s) => *s as i32,
                Err(e) => {
                    crate::commands::report_error(e);
                    ExitStatus::of_error(e) as i32
                }
            };
            write_atomic(&dir.final_exit(), format!("{code}\n").as_bytes())?;
            status
        }
    }
}

async fn shard(job: &Job, dir: &ClusterDir, index: usize, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let restart = record_attempt(dir, &format!("shard-{index}"))?;
    let ctx = TaskContext {
        index,
        count: job.shards,
        files: dir.shard_dir(index),
    };
    let shard_label = label(&ctx);
    CONTEXT
        .set(ctx)
        .map_err(|_| anyhow::anyhow!("the task context is set once per process"))?;
    // What a dead predecessor of this task left on the engine.
    match agentless_harness::sandbox::DockerEnv::connect().await {
        Ok(env) => {
            for run_id in &job.container_run_ids {
                let removed = env.remove_shard(run_id, &shard_label).await?;
                if !removed.is_empty() {
                    printer.warn(&format!(
                        "removed {} container(s) of run {run_id}, shard {shard_label}, left by an earlier attempt",
                        removed.len()
                    ));
                }
            }
        }
        Err(e) => printer.warn(&format!("no container engine to clean before the shard runs: {e}")),
    }
    if restart > 0 {
        printer.warn(&format!(
            "restart {restart} of shard {shard_label}: resuming from the artifacts"
        ));
    }
    // The shard's command: its own files; no JUnit / JSON summary (the final job writes them).
    let mut argv = strip_flags(&job.args, &[("--junit", true), ("--json", true)]);
    if job.command == "eval" {
        argv.push("--shard".into());
        argv.push(format!("{index}/{}", job.shards));
    }
    run_command(&argv).await
}

async fn final_step(job: &Job, dir: &ClusterDir) -> anyhow::Result<ExitStatus> {
    // Every shard must have ended with a result (0, 3: some items failed, 4: nothing in it).
    let mut missing = Vec::new();
    for i in 0..job.shards {
        match read_exit(&dir.shard_exit(i)) {
            Some(0 | 3 | 4) => {}
            Some(code) => missing.push(format!("shard {i} exited with {code} (see task-{i}.err)")),
            None => missing.push(format!("shard {i} did not finish (see task-{i}.err)")),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "{}; submitting the same command again resumes the finished work",
            missing.join("; ")
        );
    }
    tracing::info!("all {} shards finished: merging", job.shards);
    run_command(&job.args).await
}

/// Parse and run an `eval` / `evaluate` command line in this process.
async fn run_command(argv: &[String]) -> anyhow::Result<ExitStatus> {
    let cli = Cli::try_parse_from(std::iter::once("agentless-mini".to_owned()).chain(argv.iter().cloned()))
        .context("the cluster run's command line")?;
    let global = cli.global;
    match cli.command {
        Command::Eval(a) if !a.cluster.is_slurm() => crate::commands::eval::run(&a, &global).await,
        Command::Evaluate(a) if !a.cluster.is_slurm() => crate::commands::evaluate::run(&a, &global).await,
        _ => anyhow::bail!("a cluster task runs `eval` or `evaluate` locally"),
    }
}
