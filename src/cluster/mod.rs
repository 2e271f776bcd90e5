//! `eval` and `evaluate` on a Slurm cluster (`--executor slurm`): the submitting command
//! writes a job description into a cluster folder on the shared filesystem, submits with the
//! real `sbatch` a requeueable job array of `--shards K` tasks (task I runs shard I of K:
//! the pipeline of its instances and their evaluation, through `slurm-task`) and a final job
//! that depends on the array (`afterany`) and runs the plain local command, which resumes
//! every finished artifact and writes the same `predictions.jsonl` and run report as a
//! local run. Then it follows the jobs (progress from the run directory and the scheduler),
//! relays the final job's output and exits with its code. Slurm schedules; nothing here
//! does.
//!
//! Layout of the cluster folder (`RUN_DIR/cluster` for `eval`, `REPORT_DIR/RUN_ID.cluster`
//! for `evaluate`): `job.json` (this module's [`Job`]), `task.sh` / `final.sh` (the batch
//! scripts), `task-I.out|err`, `final.out|err`, `final.exit`, `shard-I/` (the task's own
//! run-wide files and its `exit`), `tasks/*.json` (process ids and node of the running
//! attempt).

pub mod plan;
pub mod progress;
pub mod slurm;
pub mod status;
pub mod task;

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::artifact::write_atomic;
use crate::cli::GlobalArgs;
use crate::commands::UsageError;
use crate::commands::eval::EvalArgs;
use crate::commands::evaluate::EvaluateArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::DownloadBar;

/// Where `eval` / `evaluate` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// In this process, on this machine.
    #[default]
    Local,
    /// A Slurm job array of `--shards` tasks and a final merging job, submitted with `sbatch`.
    Slurm,
}

/// The executor flags of `eval` and `evaluate`.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Where the work runs: `local` (this process) or `slurm` (a job array of --shards
    /// requeueable tasks on a shared filesystem, then a final job that merges and reports;
    /// this command follows them and exits as a local run would).
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    pub executor: Executor,
    /// With --executor slurm: tasks of the job array; task I runs shard I of K (instance j
    /// goes to shard j mod K) and evaluates it.
    #[arg(long, default_value_t = 1, value_parser = shard_count)]
    pub shards: usize,
    /// With --executor slurm: one more `sbatch` argument for every job, e.g.
    /// `--slurm-arg=--partition=gpu` (repeatable). `SBATCH_*` variables pass through too.
    #[arg(long = "slurm-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub slurm_args: Vec<String>,
    /// With --executor slurm: print the job ids and return (follow with `agentless-mini
    /// status --run-dir DIR`).
    #[arg(long)]
    pub detach: bool,
}

fn shard_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if (1..=100_000).contains(&k) => Ok(k),
        _ => Err(format!("expected a task count from 1 to 100000, got {s:?}")),
    }
}

impl ClusterArgs {
    pub fn is_slurm(&self) -> bool {
        self.executor == Executor::Slurm
    }
}

/// What a cluster run is: written to `job.json` by the submitting command, read by every
/// task and by `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub format: u32,
    /// `eval` or `evaluate`.
    pub command: String,
    /// The submitting command line after the program name, without the executor flags.
    pub args: Vec<String>,
    pub shards: usize,
    /// Run ids the tasks' containers carry (the pipeline's and the evaluation's).
    pub container_run_ids: Vec<String>,
    /// The run directory of `eval`.
    pub run_dir: Option<PathBuf>,
    /// The official log tree of the evaluation (`.../run_evaluation`).
    pub log_root: PathBuf,
    /// The evaluation's run id.
    pub eval_run_id: String,
    /// Selected instance ids, in dataset order.
    pub instances: Vec<String>,
    /// Job id of the array, once submitted.
    pub array_job: Option<String>,
    /// Job id of the final job, once submitted.
    pub final_job: Option<String>,
    pub submitted_at_unix: u64,
}

/// Paths inside a cluster folder.
#[derive(Debug, Clone)]
pub struct ClusterDir(pub PathBuf);

impl ClusterDir {
    pub fn job_file(&self) -> PathBuf {
        self.0.join("job.json")
    }
    pub fn shard_dir(&self, index: usize) -> PathBuf {
        self.0.join(format!("shard-{index}"))
    }
    /// The exit code a shard task wrote when it ended.
    pub fn shard_exit(&self, index: usize) -> PathBuf {
        self.shard_dir(index).join("exit")
    }
    pub fn final_exit(&self) -> PathBuf {
        self.0.join("final.exit")
    }
    pub fn final_out(&self) -> PathBuf {
        self.0.join("final.out")
    }
    pub fn final_err(&self) -> PathBuf {
        self.0.join("final.err")
    }
    /// The process record of the running attempt of a task (`shard-I` or `final`).
    pub fn attempt_file(&self, role: &str) -> PathBuf {
        self.0.join("tasks").join(format!("{role}.json"))
    }

    pub fn load(&self) -> anyhow::Result<Job> {
        let path = self.job_file();
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    pub fn save(&self, job: &Job) -> anyhow::Result<()> {
        write_atomic(&self.job_file(), serde_json::to_string_pretty(job)?.as_bytes())?;
        Ok(())
    }

    /// The cluster folder of `dir`: `dir/cluster` when it is a run directory, else `dir`.
    pub fn find(dir: &Path) -> ClusterDir {
        let inner = crate::artifact::RunDir::at(dir).cluster_dir();
        if inner.join("job.json").is_file() {
            ClusterDir(inner)
        } else {
            ClusterDir(dir.to_path_buf())
        }
    }
}

/// Read an exit code file (`0`..`255` and a newline).
pub fn read_exit(path: &Path) -> Option<i32> {
    fs_err::read_to_string(path).ok()?.trim().parse().ok()
}

/// The documented status of an exit code.
pub fn status_of_code(code: i32) -> ExitStatus {
    match code {
        0 => ExitStatus::Success,
        2 => ExitStatus::Usage,
        3 => ExitStatus::PartialErrors,
        4 => ExitStatus::NothingSelected,
        5 => ExitStatus::GateFailed,
        130 => ExitStatus::Interrupted,
        _ => ExitStatus::Failure,
    }
}

/// Flags the cluster run handles itself, with whether they take a value.
const EXECUTOR_FLAGS: [(&str, bool); 4] = [
    ("--executor", true),
    ("--shards", true),
    ("--slurm-arg", true),
    ("--detach", false),
];

/// `argv` without the given flags (both `--flag value` and `--flag=value`).
pub fn strip_flags(argv: &[String], flags: &[(&str, bool)]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            out.extend(argv[i..].iter().cloned());
            break;
        }
        let hit = flags.iter().find(|(f, _)| a == f || a.starts_with(&format!("{f}=")));
        match hit {
            Some((f, takes_value)) => {
                i += if *takes_value && a == f { 2 } else { 1 };
            }
            None => {
                out.push(a.clone());
                i += 1;
            }
        }
    }
    out
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This process's command line after the program name, without the executor flags.
fn task_argv() -> Vec<String> {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    strip_flags(&argv, &EXECUTOR_FLAGS)
}

/// `eval --executor slurm`.
pub async fn submit_eval(args: &EvalArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    if args.pipeline.shard.is_some() {
        return Err(UsageError(
            "--shard cannot be combined with --executor slurm: the job array runs every shard".into(),
        )
        .into());
    }
    let instances = crate::commands::load_instances(&args.pipeline.dataset, &DownloadBar::new(global)).await?;
    let run_dir = std::path::absolute(&args.pipeline.run_dir)?;
    fs_err::create_dir_all(&run_dir)?;
    let pipeline_run_id = crate::commands::eval::run_id_of(&run_dir);
    let eval_run_id = args.run_id.clone().unwrap_or_else(|| pipeline_run_id.clone());
    let mut ids = vec![pipeline_run_id];
    if !ids.contains(&eval_run_id) {
        ids.push(eval_run_id.clone());
    }
    let job = Job {
        format: 1,
        command: "eval".into(),
        args: task_argv(),
        shards: args.cluster.shards,
        container_run_ids: ids,
        log_root: crate::artifact::RunDir::at(&run_dir).evaluation_log_root(),
        run_dir: Some(run_dir.clone()),
        eval_run_id,
        instances: instances.into_iter().map(|i| i.instance_id).collect(),
        array_job: None,
        final_job: None,
        submitted_at_unix: now_unix(),
    };
    submit(
        job,
        ClusterDir(crate::artifact::RunDir::at(&run_dir).cluster_dir()),
        &args.cluster,
        global,
    )
    .await
}

/// `evaluate --executor slurm`.
pub async fn submit_evaluate(args: &EvaluateArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    agentless_harness::evaluate::logs::check_component("run id", &args.run_id).map_err(anyhow::Error::msg)?;
    let instances = crate::commands::load_instances(&args.dataset, &DownloadBar::new(global)).await?;
    let report_dir = std::path::absolute(&args.report_dir)?;
    let job = Job {
        format: 1,
        command: "evaluate".into(),
        args: task_argv(),
        shards: args.cluster.shards,
        container_run_ids: vec![args.run_id.clone()],
        run_dir: None,
        log_root: std::path::absolute(agentless_harness::evaluate::logs::RUN_EVALUATION_DIR)?,
        eval_run_id: args.run_id.clone(),
        instances: instances.into_iter().map(|i| i.instance_id).collect(),
        array_job: None,
        final_job: None,
        submitted_at_unix: now_unix(),
    };
    let dir = ClusterDir(report_dir.join(format!("{}.cluster", args.run_id)));
    submit(job, dir, &args.cluster, global).await
}

/// Quote for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The batch script of a task: record nothing itself, hand over to `slurm-task`.
fn batch_script(exe: &Path, dir: &Path, role: &str) -> String {
    let index = if role == "shard" {
        " --index \"$SLURM_ARRAY_TASK_ID\""
    } else {
        ""
    };
    format!(
        "#!/bin/sh\n# Written by agentless-mini (cluster run); Slurm runs it, agentless-mini does the work.\nexec {} slurm-task --dir {} --role {role}{index}\n",
        sh_quote(&exe.to_string_lossy()),
        sh_quote(&dir.to_string_lossy()),
    )
}

async fn submit(
    mut job: Job,
    dir: ClusterDir,
    cluster: &ClusterArgs,
    global: &GlobalArgs,
) -> anyhow::Result<ExitStatus> {
    fs_err::create_dir_all(&dir.0)?;
    // A cluster run of the same folder that is still queued or running is not submitted twice.
    if let Ok(old) = dir.load() {
        let ids: Vec<String> = [old.array_job, old.final_job].into_iter().flatten().collect();
        if !ids.is_empty() {
            let live = slurm::live_jobs(&ids).await?;
            if !live.is_empty() {
                return Err(UsageError(format!(
                    "jobs {} of this run are still queued or running; follow them with `agentless-mini status --run-dir {}` or cancel them with scancel",
                    live.join(", "),
                    dir.0.display()
                ))
                .into());
            }
        }
    }
    // A new submission resumes from the artifacts; only the previous results' markers go.
    for i in 0..job.shards.max(1) {
        let _ = fs_err::remove_file(dir.shard_exit(i));
    }
    let _ = fs_err::remove_file(dir.final_exit());
    let exe = std::env::current_exe().context("locating this program for the batch scripts")?;
    let task_script = dir.0.join("task.sh");
    let final_script = dir.0.join("final.sh");
    write_atomic(&task_script, batch_script(&exe, &dir.0, "shard").as_bytes())?;
    write_atomic(&final_script, batch_script(&exe, &dir.0, "final").as_bytes())?;
    dir.save(&job)?;
    let cwd = std::env::current_dir()?;
    let name = format!("am-{}", job.eval_run_id);
    let common = |out: String, err: String| -> Vec<String> {
        vec![
            format!("--job-name={name}"),
            "--requeue".into(),
            format!("--chdir={}", cwd.display()),
            format!("--output={out}"),
            format!("--error={err}"),
        ]
    };
    let mut array_args = common(
        dir.0.join("task-%a.out").display().to_string(),
        dir.0.join("task-%a.err").display().to_string(),
    );
    array_args.push(format!("--array=0-{}", job.shards - 1));
    // A requeued task's log follows its dead predecessor's instead of replacing it.
    array_args.push("--open-mode=append".into());
    array_args.extend(cluster.slurm_args.iter().cloned());
    let array = slurm::sbatch(&array_args, &task_script).await?;
    job.array_job = Some(array.clone());
    dir.save(&job)?;
    let mut final_args = common(
        dir.final_out().display().to_string(),
        dir.final_err().display().to_string(),
    );
    final_args.push(format!("--dependency=afterany:{array}"));
    final_args.push("--kill-on-invalid-dep=yes".into());
    final_args.extend(cluster.slurm_args.iter().cloned());
    let final_job = match slurm::sbatch(&final_args, &final_script).await {
        Ok(id) => id,
        Err(e) => {
            let _ = slurm::scancel(std::slice::from_ref(&array)).await;
            return Err(e.into());
        }
    };
    job.final_job = Some(final_job.clone());
    dir.save(&job)?;
    let follow = format!("agentless-mini status --run-dir {}", dir.0.display());
    if cluster.detach {
        // The ids on stdout, one line, for scripts; the rest on stderr.
        Printer::new(global).data(&format!("{array} {final_job}"));
        say(
            global,
            &format!(
                "submitted: job array {array} ({} tasks), final job {final_job}; follow with `{follow}`",
                job.shards
            ),
        );
        return Ok(ExitStatus::Success);
    }
    say(
        global,
        &format!(
            "submitted: job array {array} ({} tasks), final job {final_job}; Ctrl-C cancels them",
            job.shards
        ),
    );
    follow_jobs(&job, &dir, global).await
}

/// Follow a submitted run to its end: progress lines on stderr, then the final job's output
/// and exit code. Ctrl-C / SIGTERM cancels the jobs (asks first on a terminal).
pub async fn follow_jobs(job: &Job, dir: &ClusterDir, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let started = Instant::now();
    let poll = Duration::from_millis(1000);
    let every = Duration::from_secs(global.progress_interval.max(1));
    let mut last_line = String::new();
    let mut last_print = Instant::now() - every;
    let mut gone_since: Option<Instant> = None;
    let mut signals = Signals::new()?;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = signals.next() => {
                return interrupted(job, dir, &printer).await;
            }
        }
        if let Some(code) = read_exit(&dir.final_exit()) {
            relay(&dir.final_out(), &mut std::io::stdout())?;
            relay(&dir.final_err(), &mut std::io::stderr())?;
            return Ok(status_of_code(code));
        }
        let snap = progress::snapshot(job, dir).await;
        let line = snap.line();
        if global.progress_interval > 0 && !global.quiet && (line != last_line || last_print.elapsed() >= every) {
            say(
                global,
                &format!("progress: {line}; elapsed {}", progress::duration(started.elapsed())),
            );
            last_line = line;
            last_print = Instant::now();
        }
        // The final job left the queue without writing its exit code: it failed or was
        // cancelled (read the file once more after a grace period).
        if snap.final_gone() {
            let since = *gone_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(5) && read_exit(&dir.final_exit()).is_none() {
                relay(&dir.final_err(), &mut std::io::stderr())?;
                anyhow::bail!(
                    "the final job {} ended ({}) without a result; its output is in {}",
                    job.final_job.as_deref().unwrap_or("?"),
                    snap.final_state.as_deref().unwrap_or("gone"),
                    dir.final_err().display()
                );
            }
        } else {
            gone_since = None;
        }
    }
}

/// A line on stderr (unless --quiet): the front end's progress, also outside a terminal.
pub(crate) fn say(global: &GlobalArgs, text: &str) {
    Printer::new(global).status(text);
}

/// Copy a file to `out` (nothing when it does not exist).
fn relay(path: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    match fs_err::read(path) {
        Ok(bytes) => {
            out.write_all(&bytes)?;
            out.flush()?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Ctrl-C while following: cancel the jobs (on a terminal, after asking).
async fn interrupted(job: &Job, dir: &ClusterDir, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let ids: Vec<String> = [job.array_job.clone(), job.final_job.clone()]
        .into_iter()
        .flatten()
        .collect();
    let cancel = if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let mut err = std::io::stderr();
        let _ = write!(err, "cancel the Slurm jobs {}? [Y/n] ", ids.join(", "));
        let _ = err.flush();
        let answer = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            std::io::stdin().read_line(&mut s).map(|_| s)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        !answer.trim().eq_ignore_ascii_case("n")
    } else {
        true
    };
    if cancel {
        slurm::scancel(&ids).await?;
        printer.summary(&format!(
            "interrupted: cancelled jobs {}; finished work is kept, submitting the same command again resumes",
            ids.join(", ")
        ));
    } else {
        printer.summary(&format!(
            "interrupted: jobs {} keep running; follow them with `agentless-mini status --run-dir {}`",
            ids.join(", "),
            dir.0.display()
        ));
    }
    Ok(ExitStatus::Interrupted)
}

/// Ctrl-C and SIGTERM.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn executor_flags_are_stripped_in_both_forms() {
        let argv = v(&[
            "eval",
            "--split",
            "demo",
            "--executor",
            "slurm",
            "--shards=4",
            "--slurm-arg",
            "--partition=main",
            "--slurm-arg=--time=10",
            "--detach",
            "--run-dir",
            "r",
        ]);
        assert_eq!(
            strip_flags(&argv, &EXECUTOR_FLAGS),
            v(&["eval", "--split", "demo", "--run-dir", "r"])
        );
        assert_eq!(strip_flags(&v(&["--junit", "x", "a"]), &[("--junit", true)]), v(&["a"]));
    }

    #[test]
    fn batch_scripts_quote_paths() {
        let s = batch_script(Path::new("/opt/a b/agentless-mini"), Path::new("/r/it's"), "shard");
        assert!(s.contains("exec '/opt/a b/agentless-mini' slurm-task --dir '/r/it'\\''s' --role shard --index \"$SLURM_ARRAY_TASK_ID\""), "{s}");
        assert!(batch_script(Path::new("/x"), Path::new("/d"), "final").ends_with("--role final\n"));
    }

    #[test]
    fn exit_codes_map_back() {
        for s in [
            ExitStatus::Success,
            ExitStatus::Failure,
            ExitStatus::Usage,
            ExitStatus::PartialErrors,
            ExitStatus::NothingSelected,
            ExitStatus::GateFailed,
            ExitStatus::Interrupted,
        ] {
            assert_eq!(status_of_code(s as i32), s);
        }
        assert_eq!(status_of_code(77), ExitStatus::Failure);
    }
}
