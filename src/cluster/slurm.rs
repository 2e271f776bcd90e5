//! The Slurm commands a cluster run uses — `sbatch`, `scontrol show job`, `scancel` — run as the real programs (found on `PATH`, configured by the environment:
//! `SLURM_CONF`, `SBATCH_*`), with typed errors and parsed answers. No scheduling here.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

/// How long one Slurm command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("cannot run `{program}` (is Slurm installed and on PATH?): {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("`{program}` took more than {} s", CALL_TIMEOUT.as_secs())]
    Timeout { program: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`sbatch` answered {0:?}, not a job id")]
    NoJobId(String),
}

/// What a Slurm program answered.
struct Answer {
    ok: bool,
    stdout: String,
    status: String,
    stderr: String,
}

impl Answer {
    fn failed(self, program: &str, args: &[String]) -> SlurmError {
        SlurmError::Failed {
            command: format!("{program} {}", args.join(" ")),
            status: self.status,
            stderr: self.stderr,
        }
    }
}

/// Run a Slurm program.
async fn call(program: &str, args: &[String]) -> Result<Answer, SlurmError> {
    let mut cmd = Command::new(program);
    cmd.args(args).kill_on_drop(true).stdin(std::process::Stdio::null());
    let out = tokio::time::timeout(CALL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| SlurmError::Timeout {
            program: program.into(),
        })?
        .map_err(|source| SlurmError::Spawn {
            program: program.into(),
            source,
        })?;
    Ok(Answer {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Submit `script` with `args`; the job id.
pub async fn sbatch(args: &[String], script: &Path) -> Result<String, SlurmError> {
    let mut all = vec!["--parsable".to_owned()];
    all.extend(args.iter().cloned());
    all.push(script.display().to_string());
    let a = call("sbatch", &all).await?;
    if !a.ok {
        return Err(a.failed("sbatch", &all));
    }
    // `--parsable`: "ID" or "ID;CLUSTER".
    let out = a.stdout;
    let id = out.trim().split(';').next().unwrap_or("").trim().to_owned();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(SlurmError::NoJobId(out.trim().to_owned()));
    }
    Ok(id)
}

/// Cancel jobs (array jobs with all their tasks).
pub async fn scancel(ids: &[String]) -> Result<(), SlurmError> {
    if ids.is_empty() {
        return Ok(());
    }
    let a = call("scancel", ids).await?;
    if !a.ok {
        return Err(a.failed("scancel", ids));
    }
    Ok(())
}

/// Those of `ids` that the controller still has queued or running.
pub async fn live_jobs(ids: &[String]) -> Result<Vec<String>, SlurmError> {
    let mut live = Vec::new();
    for id in ids {
        let tasks = show_job(id).await?;
        if tasks.iter().any(|t| !t.state.is_finished()) {
            live.push(id.clone());
        }
    }
    Ok(live)
}

/// A job's state as `scontrol` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState(pub String);

impl JobState {
    /// The job will not run again (unless requeued by hand).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.0.as_str(),
            "COMPLETED"
                | "FAILED"
                | "CANCELLED"
                | "TIMEOUT"
                | "NODE_FAIL"
                | "OUT_OF_MEMORY"
                | "BOOT_FAIL"
                | "DEADLINE"
                | "PREEMPTED"
                | "SPECIAL_EXIT"
        )
    }
    pub fn is_running(&self) -> bool {
        matches!(self.0.as_str(), "RUNNING" | "COMPLETING" | "CONFIGURING")
    }
}

/// One line of `scontrol -o show job ID`: a job, an array task, or a range of pending tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub job_id: String,
    /// The array task ids this line stands for (none for a plain job).
    pub array_tasks: Vec<usize>,
    pub state: JobState,
    /// How often the controller restarted (requeued) it.
    pub restarts: u32,
    /// Where it runs (`(null)` / empty while pending).
    pub nodes: String,
}

/// The controller's view of a job: one [`TaskInfo`] per line; empty once the controller
/// has forgotten the job (`Invalid job id`).
pub async fn show_job(id: &str) -> Result<Vec<TaskInfo>, SlurmError> {
    let args = vec!["-o".to_owned(), "show".to_owned(), "job".to_owned(), id.to_owned()];
    let a = call("scontrol", &args).await?;
    if !a.ok {
        if a.stderr.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        return Err(a.failed("scontrol", &args));
    }
    Ok(parse_show_job(&a.stdout))
}

/// Parse `scontrol -o show job` output.
pub fn parse_show_job(text: &str) -> Vec<TaskInfo> {
    text.lines()
        .filter(|l| l.contains("JobId="))
        .map(|line| {
            let field = |name: &str| -> Option<&str> {
                line.split_whitespace()
                    .find_map(|tok| tok.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            };
            TaskInfo {
                job_id: field("JobId").unwrap_or("").to_owned(),
                array_tasks: field("ArrayTaskId").map(parse_task_ranges).unwrap_or_default(),
                state: JobState(field("JobState").unwrap_or("UNKNOWN").to_owned()),
                restarts: field("Restarts").and_then(|r| r.parse().ok()).unwrap_or(0),
                nodes: field("NodeList").unwrap_or("").to_owned(),
            }
        })
        .collect()
}

/// `0-3,5,7-8%2` → [0, 1, 2, 3, 5, 7, 8].
fn parse_task_ranges(s: &str) -> Vec<usize> {
    let s = s.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_job_lines_parse() {
        let text = "JobId=12 ArrayJobId=11 ArrayTaskId=1 JobName=am-x UserId=root(0) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 NodeList=n2 BatchHost=n2\n\
JobId=11 ArrayJobId=11 ArrayTaskId=2-3,5%4 JobState=PENDING Reason=Resources Restarts=1 NodeList=(null)\n";
        let t = parse_show_job(text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].job_id, "12");
        assert_eq!(t[0].array_tasks, vec![1]);
        assert!(t[0].state.is_running());
        assert_eq!(t[0].nodes, "n2");
        assert_eq!(t[1].array_tasks, vec![2, 3, 5]);
        assert_eq!(t[1].restarts, 1);
        assert!(!t[1].state.is_finished());
        assert!(JobState("COMPLETED".into()).is_finished());
    }
}
