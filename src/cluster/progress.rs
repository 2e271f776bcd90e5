//! Progress of a cluster run, read from what is on the shared filesystem (finished stage
//! files, evaluation reports, the tasks' exit files) and from the controller (`scontrol show
//! job`: pending, running, requeued tasks). Used by the submitting command and `status`.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::time::Duration;

use super::{ClusterDir, Job, read_exit, slurm};
use crate::artifact::{RunDir, StageId};

/// Tasks of the array by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub pending: usize,
    pub running: usize,
    /// Pending or running again after a restart (node loss, requeue).
    pub requeued: usize,
    /// Ended with a result file.
    pub done: usize,
    /// Ended without a result, or with an error code.
    pub failed: usize,
}

/// One look at a cluster run.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// (stage, instances finished) for `eval`.
    pub stages: Vec<(&'static str, usize)>,
    pub evaluated: usize,
    pub instances: usize,
    pub tasks: TaskCounts,
    /// Nodes running tasks now.
    pub nodes: Vec<String>,
    /// The final job's state; `None` once the controller forgot it.
    pub final_state: Option<String>,
    /// The controller could not be asked.
    pub scheduler_error: Option<String>,
    /// The final job's exit code, once written.
    pub final_exit: Option<i32>,
}

impl Snapshot {
    /// The final job has left the queue (finished, failed, cancelled, forgotten).
    pub fn final_gone(&self) -> bool {
        self.scheduler_error.is_none()
            && self
                .final_state
                .as_deref()
                .is_none_or(|s| slurm::JobState(s.to_owned()).is_finished())
    }

    /// One line: instances per stage, then tasks by state.
    pub fn line(&self) -> String {
        let n = self.instances;
        let mut parts: Vec<String> = self.stages.iter().map(|(s, d)| format!("{s} {d}/{n}")).collect();
        parts.push(format!("evaluate {}/{n}", self.evaluated));
        let t = &self.tasks;
        let mut line = format!(
            "{}; tasks: {} pending, {} running, {} requeued, {} done, {} failed",
            parts.join(", "),
            t.pending,
            t.running,
            t.requeued,
            t.done,
            t.failed
        );
        if !self.nodes.is_empty() {
            line.push_str(&format!(" (on {})", self.nodes.join(",")));
        }
        match (&self.final_exit, &self.final_state) {
            (Some(code), _) => line.push_str(&format!("; final job exited with {code}")),
            (None, Some(s)) => line.push_str(&format!("; final job {}", s.to_lowercase())),
            (None, None) => {}
        }
        if let Some(e) = &self.scheduler_error {
            line.push_str(&format!("; scheduler: {e}"));
        }
        line
    }
}

/// `1h02m03s`-style duration.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Whether a stage file ends with its `end` line (the stage finished for that instance).
fn stage_finished(path: &Path) -> bool {
    let Ok(mut f) = fs_err::File::open(path) else {
        return false;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    let start = len.saturating_sub(4096);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    let mut tail = String::new();
    if f.read_to_string(&mut tail).is_err() {
        return false;
    }
    tail.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|v| v["type"] == "end")
}

/// Instances whose evaluation wrote `report.json` (`LOG_ROOT/RUN_ID/MODEL/INSTANCE/`).
fn evaluated(job: &Job) -> usize {
    let root = job.log_root.join(&job.eval_run_id);
    let Ok(models) = fs_err::read_dir(&root) else {
        return 0;
    };
    let wanted: std::collections::HashSet<&str> = job.instances.iter().map(String::as_str).collect();
    let mut done = std::collections::HashSet::new();
    for m in models.flatten() {
        let Ok(insts) = fs_err::read_dir(m.path()) else {
            continue;
        };
        for i in insts.flatten() {
            let name = i.file_name().to_string_lossy().into_owned();
            if wanted.contains(name.as_str()) && i.path().join("report.json").is_file() {
                done.insert(name);
            }
        }
    }
    done.len()
}

/// Look at the run now.
pub async fn snapshot(job: &Job, dir: &ClusterDir) -> Snapshot {
    let mut snap = Snapshot {
        instances: job.instances.len(),
        evaluated: evaluated(job),
        final_exit: read_exit(&dir.final_exit()),
        ..Snapshot::default()
    };
    if let Some(run_dir) = &job.run_dir {
        let rd = RunDir::at(run_dir);
        for stage in StageId::ALL {
            let done = job
                .instances
                .iter()
                .filter(|id| rd.stage_file(id, stage).is_ok_and(|p| stage_finished(&p)))
                .count();
            snap.stages.push((stage.command(), done));
        }
    }
    // Tasks: the exit files say which ended; the controller says the rest.
    let mut ended = vec![false; job.shards];
    for (i, e) in ended.iter_mut().enumerate() {
        if let Some(code) = read_exit(&dir.shard_exit(i)) {
            *e = true;
            if matches!(code, 0 | 3 | 4) {
                snap.tasks.done += 1;
            } else {
                snap.tasks.failed += 1;
            }
        }
    }
    let mut seen = vec![false; job.shards];
    if let Some(id) = &job.array_job {
        match slurm::show_job(id).await {
            Ok(lines) => {
                for t in lines {
                    for &i in &t.array_tasks {
                        if i >= job.shards || ended[i] {
                            continue;
                        }
                        seen[i] = true;
                        if t.state.is_running() {
                            snap.tasks.running += 1;
                            if !t.nodes.is_empty() && !snap.nodes.contains(&t.nodes) {
                                snap.nodes.push(t.nodes.clone());
                            }
                        } else if t.state.is_finished() {
                            snap.tasks.failed += 1;
                        } else {
                            snap.tasks.pending += 1;
                        }
                        if t.restarts > 0 && !t.state.is_finished() {
                            snap.tasks.requeued += 1;
                        }
                    }
                }
            }
            Err(e) => snap.scheduler_error = Some(e.to_string()),
        }
    }
    if snap.scheduler_error.is_none() {
        // Forgotten by the controller without a result.
        snap.tasks.failed += (0..job.shards).filter(|&i| !ended[i] && !seen[i]).count();
    }
    if let Some(id) = &job.final_job {
        match slurm::show_job(id).await {
            Ok(lines) => snap.final_state = lines.first().map(|t| t.state.0.clone()),
            Err(e) => snap.scheduler_error = Some(e.to_string()),
        }
    }
    snap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_lines_are_found() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("repair.jsonl");
        fs_err::write(
            &p,
            "{\"type\":\"begin\",\"data\":{}}\n{\"type\":\"record\",\"data\":{}}\n",
        )
        .expect("write");
        assert!(!stage_finished(&p));
        fs_err::write(
            &p,
            "{\"type\":\"begin\",\"data\":{}}\n{\"type\":\"end\",\"data\":{\"records\":0,\"elapsed_ms\":1}}\n",
        )
        .expect("write");
        assert!(stage_finished(&p));
        assert!(!stage_finished(&d.path().join("missing.jsonl")));
    }

    #[test]
    fn lines_read_well() {
        let s = Snapshot {
            stages: vec![("localize", 5), ("repair", 3)],
            evaluated: 1,
            instances: 5,
            tasks: TaskCounts {
                pending: 1,
                running: 2,
                requeued: 1,
                done: 1,
                failed: 0,
            },
            nodes: vec!["n1".into()],
            final_state: Some("PENDING".into()),
            ..Snapshot::default()
        };
        assert_eq!(
            s.line(),
            "localize 5/5, repair 3/5, evaluate 1/5; tasks: 1 pending, 2 running, 1 requeued, 1 done, 0 failed (on n1); final job pending"
        );
        assert_eq!(duration(Duration::from_secs(3723)), "1h02m03s");
    }
}
