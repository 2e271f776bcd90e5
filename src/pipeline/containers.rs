//! Containers for the test stages, on the evaluation engine of `agentless-harness`: the
//! instance image (pulled or built as `evaluate` does), one sandbox per unit of work (no
//! network, limits, labels; removed on every path), under the run's container limit.
//!
//! Scripts derived from the instance's official eval script (`eval.sh`):
//! - [`regression_script`]: the eval script without the step that applies the test patch — the
//!   repository's tests of the test-patch files run on the code as it is (Agentless's regression
//!   run on the original repository, as in Agentless);
//! - [`python_runner`]: the eval script's environment set-up (conda activation, `cd /testbed`,
//!   the repository's pre-test commands) followed by `python3 <file>`, for reproduction tests.

use std::sync::LazyLock;
use std::time::Duration;

use agentless_harness::dataset::Instance;
use agentless_harness::eval_script::{HEREDOC_DELIMITER, eval_script_for};
use agentless_harness::images::{ImageProgress, ensure_instance_image};
use agentless_harness::sandbox::{ExecOutcome, ExecSpec, Sandbox};
use regex::Regex;
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

use super::context::{Cx, GitAction, StageError};
use super::events::Event;

/// The repository inside every instance image.
pub const REPO_DIR: &str = "/testbed";

/// A started sandbox that holds one of the run's container slots.
pub struct Slot {
    pub sandbox: Sandbox,
    _permit: OwnedSemaphorePermit,
}

struct NoteImages<'a> {
    cx: &'a Cx,
    instance: &'a str,
}

impl ImageProgress for NoteImages<'_> {
    fn status(&self, image: &str, message: &str) {
        self.cx.emit(Event::Note {
            instance: self.instance.into(),
            message: format!("{image}: {message}"),
        });
    }
}

/// The instance image's name (pulled or built when missing). Part of the test stages' keys.
pub async fn image(cx: &Cx, inst: &Instance) -> Result<String, StageError> {
    let c = cx.containers()?;
    let progress = NoteImages {
        cx,
        instance: &inst.instance_id,
    };
    tokio::select! {
        r = ensure_instance_image(&c.env, inst, &c.images, &progress) => Ok(r?),
        () = cx.cancel.cancelled() => Err(StageError::Cancelled),
    }
}

/// Wait for a container slot and start a sandbox from the instance image.
pub async fn start(cx: &Cx, inst: &Instance, image: &str) -> Result<Slot, StageError> {
    let c = cx.containers()?;
    let permit = tokio::select! {
        p = c.slots.clone().acquire_owned() => p.map_err(|_| StageError::Cancelled)?,
        () = cx.cancel.cancelled() => return Err(StageError::Cancelled),
    };
    let mut opts = c.sandbox.clone();
    opts.run_id = c.run_id.clone();
    opts.instance_id = Some(inst.instance_id.clone());
    opts.name = None;
    opts.cancel = cx.cancel.clone();
    let sandbox = Sandbox::start(&c.env, image, &opts).await?;
    Ok(Slot {
        sandbox,
        _permit: permit,
    })
}

impl Slot {
    /// Remove the container (errors are logged: the run's final sweep removes leftovers).
    pub async fn remove(self) {
        if let Err(e) = self.sandbox.remove().await {
            tracing::warn!("removing a container: {e}");
        }
    }

    /// Run a bash script (written to `/tmp/<name>`) under a timeout.
    pub async fn run_script(&self, name: &str, script: &str, timeout: Duration) -> Result<ExecOutcome, StageError> {
        let path = format!("/tmp/{name}");
        self.sandbox.write_file(&path, script.as_bytes()).await?;
        let spec = ExecSpec::bash_script(&path, timeout);
        Ok(self.sandbox.exec_spec(&spec).await?)
    }

    /// Commit the working tree (after a candidate patch), so [`Slot::reset`] returns to it.
    pub async fn checkpoint(&self) -> Result<(), StageError> {
        let script = "git add -A && git -c user.name=agentless-mini -c user.email=run@agentless-mini.invalid commit -q --no-verify --allow-empty -m candidate";
        let out = self
            .sandbox
            .exec(&["bash", "-c", script], Duration::from_secs(120))
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(StageError::GitInContainer {
                action: GitAction::Checkpoint,
                output: out.text().trim().to_owned(),
            })
        }
    }

    /// Undo what a test did to the repository (back to the last checkpoint or base commit).
    pub async fn reset(&self) -> Result<(), StageError> {
        let out = self
            .sandbox
            .exec(
                &["bash", "-c", "git reset -q --hard HEAD && git clean -fdq"],
                Duration::from_secs(120),
            )
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(StageError::GitInContainer {
                action: GitAction::Reset,
                output: out.text().trim().to_owned(),
            })
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}

/// The instance's eval script (dataset column, or generated from the environment specs).
pub fn eval_script(cx: &Cx, inst: &Instance) -> Result<String, StageError> {
    let c = cx.containers()?;
    Ok(eval_script_for(inst, c.images.specs.as_deref())?)
}

/// The eval script without the test patch: from the `git apply … <<'EOF_…'` line through the
/// closing delimiter line.
pub fn regression_script(eval_script: &str) -> Result<String, StageError> {
    let open = format!("<<'{HEREDOC_DELIMITER}'");
    let mut out = Vec::new();
    let mut skipping = false;
    let mut removed = false;
    for line in eval_script.split('\n') {
        if skipping {
            if line == HEREDOC_DELIMITER {
                skipping = false;
            }
            continue;
        }
        if !removed && line.trim_start().starts_with("git apply") && line.contains(&open) {
            skipping = true;
            removed = true;
            continue;
        }
        out.push(line);
    }
    if !removed || skipping {
        return Err(StageError::NoTestPatchStep);
    }
    Ok(out.join("\n"))
}

/// A script that sets up the eval script's environment and runs `python3 <file>` in the
/// repository (no shell tracing, so the output is the test's own).
pub fn python_runner(eval_script: &str, file: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in eval_script.split('\n') {
        if line.starts_with("git config --global --add safe.directory") || line.starts_with("git status") {
            break;
        }
        if line.trim_start().starts_with("set -") {
            lines.push("set -uo pipefail".into());
        } else {
            lines.push(line.to_owned());
        }
    }
    lines.push(format!("cd {REPO_DIR}"));
    lines.push(format!("python3 {file}"));
    lines.join("\n") + "\n"
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[\d+m").expect("static regex"));

/// What a reproduction test printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReproVerdict {
    /// "Issue reproduced" and neither of the other two.
    Reproduced,
    /// "Issue resolved" and neither of the other two.
    Resolved,
    /// Anything else (other issues, several markers, nothing).
    Other,
    /// The test ran past its timeout and was killed (its output is not judged).
    TimedOut,
}

/// The verdict of a finished reproduction-test run: [`ReproVerdict::TimedOut`] when it was
/// killed at its timeout, else what its output says.
pub fn repro_outcome(out: &ExecOutcome) -> ReproVerdict {
    if out.timed_out {
        ReproVerdict::TimedOut
    } else {
        repro_verdict(&out.text())
    }
}

/// Judge a reproduction test's output (ANSI colour codes removed first).
pub fn repro_verdict(output: &str) -> ReproVerdict {
    let clean = ANSI.replace_all(output, "");
    let (rep, res, other) = (
        clean.contains("Issue reproduced"),
        clean.contains("Issue resolved"),
        clean.contains("Other issues"),
    );
    match (rep, res, other) {
        (true, false, false) => ReproVerdict::Reproduced,
        (false, true, false) => ReproVerdict::Resolved,
        _ => ReproVerdict::Other,
    }
}

/// The last `n` bytes of a text (on a char boundary), for records.
pub fn tail(text: &str, n: usize) -> String {
    if text.len() <= n {
        return text.to_owned();
    }
    let mut start = text.len() - n;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = "#!/bin/bash\nset -uxo pipefail\ncd /testbed\ngit config --global --add safe.directory /testbed\ncd /testbed\ngit status\ngit show\ngit -c core.fileMode=false diff abc\ngit checkout abc tests/a.py\ngit apply -v - <<'EOF_114329324912'\ndiff --git a/tests/a.py b/tests/a.py\n+x\nEOF_114329324912\n: '>>>>> Start Test Output'\npython3 -m pytest -rA tests/a.py\n: '>>>>> End Test Output'\ngit checkout abc tests/a.py\n";

    #[test]
    fn regression_script_leaves_out_the_test_patch() {
        let s = regression_script(DEMO).unwrap();
        assert!(!s.contains("git apply"));
        assert!(!s.contains("EOF_114329324912"));
        assert!(
            s.contains("git checkout abc tests/a.py\n: '>>>>> Start Test Output'\npython3 -m pytest -rA tests/a.py")
        );
        assert!(regression_script("#!/bin/bash\npytest\n").is_err());
    }

    #[test]
    fn runner_keeps_the_environment_set_up() {
        let r = python_runner(DEMO, "reproduce_bug_1.py");
        assert_eq!(
            r,
            "#!/bin/bash\nset -uo pipefail\ncd /testbed\ncd /testbed\npython3 reproduce_bug_1.py\n"
        );
        let conda = "#!/bin/bash\nset -uxo pipefail\nsource /opt/miniconda3/bin/activate\nconda activate testbed\ncd /testbed\nexport LANG=C\ngit config --global --add safe.directory /testbed\n";
        assert!(
            python_runner(conda, "t.py")
                .contains("conda activate testbed\ncd /testbed\nexport LANG=C\ncd /testbed\npython3 t.py")
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(repro_verdict("Issue reproduced\n"), ReproVerdict::Reproduced);
        assert_eq!(repro_verdict("\x1b[31mIssue resolved\x1b[0m"), ReproVerdict::Resolved);
        assert_eq!(repro_verdict("Issue reproduced\nOther issues"), ReproVerdict::Other);
        assert_eq!(repro_verdict("Traceback"), ReproVerdict::Other);
    }

    #[test]
    fn a_killed_test_is_timed_out_whatever_it_printed() {
        let out = |timed_out: bool| ExecOutcome {
            exit_code: None,
            output: b"Issue resolved\n".to_vec(),
            timed_out,
            truncated: false,
            elapsed: Duration::from_secs(1),
            disk_exceeded: None,
        };
        assert_eq!(repro_outcome(&out(true)), ReproVerdict::TimedOut);
        assert_eq!(repro_outcome(&out(false)), ReproVerdict::Resolved);
    }
}
