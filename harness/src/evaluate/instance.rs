//! One instance, end to end, as the official `run_instance`: container from the instance
//! image, patch applied with the cascade of the grading version, `eval.sh` run under the
//! timeout (by default with the network until its test command: [`super::network`]), log graded,
//! files written; the container is removed on every path. The eval script is instrumented
//! (exit code, file states: [`crate::integrity::record`]) and `integrity.json` is written
//! beside `report.json`; neither changes the official verdict.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::logs::{self, InstanceLog};
use super::network::{GATE_OPEN, NetworkPolicy, gate_script, wait_for_gate_command};
use super::resume::{InputKey, finished_with};
use super::{EvalConfig, EvalError, EvalOutcome, ImageEvents, InfraStage, InstanceResult, RunProgress, Timings};
use crate::dataset::Instance;
use crate::eval_script::eval_script_for;
use crate::grade::GradingMode;
use crate::grade::parser_for;
use crate::images::{container_name, ensure_instance_image};
use crate::integrity::record::{RepoDiffs, instrument_eval_script, tracked_files};
use crate::integrity::run::{assess_log_folder, read_integrity, write_integrity};
use crate::integrity::{HarnessObservations, Inputs, IntegrityReport, assess};
use crate::predictions::Prediction;
use crate::report::{grade_instance, instance_report_json, instance_report_repr};
use crate::sandbox::{
    ApplyOutcome, ApplySequence, ApplyStrategy, DockerEnv, ExecOutcome, ExecSpec, Sandbox, SandboxError,
    check_patch_paths,
};

/// The official log line of a successful apply.
const APPLY_PATCH_PASS: &str = ">>>>> Applied Patch";
/// Time allowed for the `git diff` records.
const DIFF_TIMEOUT: Duration = Duration::from_secs(120);

/// Evaluate one prediction. Never panics on Docker or file errors: they become
/// [`EvalError::Infra`]. The container is removed before this returns.
pub async fn evaluate_instance(
    env: &DockerEnv,
    instance: &Instance,
    prediction: &Prediction,
    cfg: &EvalConfig,
    progress: &dyn RunProgress,
    cancel: &CancellationToken,
) -> InstanceResult {
    let started = Instant::now();
    let mut result = InstanceResult {
        instance_id: instance.instance_id.clone(),
        outcome: EvalOutcome::EmptyPatch,
        report: None,
        log_dir: None,
        resumed: false,
        timings: Timings::default(),
        integrity: None,
    };
    if prediction.is_empty() {
        return result;
    }
    let patch = prediction.model_patch.clone().unwrap_or_default();
    let dir = logs::instance_log_dir(
        &cfg.log_root,
        &cfg.run_id,
        &prediction.model_name_or_path,
        &instance.instance_id,
    );
    result.log_dir = Some(dir.clone());
    let outcome = Run {
        env,
        instance,
        cfg,
        progress,
        cancel,
        dir: &dir,
        patch: &patch,
        timings: &mut result.timings,
        integrity: &mut result.integrity,
    }
    .go(&mut result.report, &mut result.resumed)
    .await;
    result.outcome = outcome;
    result.timings.total = started.elapsed();
    result
}

struct Run<'a> {
    env: &'a DockerEnv,
    instance: &'a Instance,
    cfg: &'a EvalConfig,
    progress: &'a dyn RunProgress,
    cancel: &'a CancellationToken,
    dir: &'a Path,
    patch: &'a str,
    timings: &'a mut Timings,
    /// Set with the report (or read back with it on resume).
    integrity: &'a mut Option<IntegrityReport>,
}

fn infra(stage: InfraStage, e: impl std::fmt::Display) -> EvalError {
    EvalError::Infra {
        stage,
        message: e.to_string(),
    }
}

fn from_sandbox(stage: InfraStage, e: SandboxError) -> EvalError {
    match e {
        SandboxError::Cancelled => EvalError::Cancelled,
        other => infra(stage, other),
    }
}

impl Run<'_> {
    async fn go(self, report_out: &mut Option<crate::report::InstanceReport>, resumed: &mut bool) -> EvalOutcome {
        let id = &self.instance.instance_id;
        let script = match eval_script_for(self.instance, self.cfg.images.specs.as_deref()) {
            Ok(s) => {
                // The network gate goes in first, so the integrity records sit after it.
                let s = match &self.cfg.network {
                    NetworkPolicy::InstallOnly { .. } => gate_script(&s).unwrap_or(s),
                    _ => s,
                };
                instrument_eval_script(&s, &tracked_files(&self.instance.test_patch, self.patch))
            }
            Err(e) => return EvalOutcome::Error(infra(InfraStage::EvalScript, e)),
        };
        let key = InputKey::new(self.instance, self.patch, &script, self.cfg.grading);
        if let Some(done) = finished_with(self.dir, id, &key) {
            *resumed = true;
            // Findings of an earlier run; from its logs when it predates integrity.json.
            *self.integrity = read_integrity(self.dir).or_else(|| {
                let report = assess_log_folder(self.instance, self.dir).ok()?;
                write_integrity(self.dir, &report).ok()?;
                Some(report)
            });
            let resolved = done.report.resolved;
            *report_out = Some(done.report);
            return if resolved {
                EvalOutcome::Resolved
            } else {
                EvalOutcome::Unresolved
            };
        }
        if self.cancel.is_cancelled() {
            return EvalOutcome::Error(EvalError::Cancelled);
        }
        self.progress.started(id);
        if let Err(e) = prepare_dir(self.dir) {
            return EvalOutcome::Error(infra(InfraStage::Logs, format!("{}: {e}", self.dir.display())));
        }
        let mut log =
            InstanceLog::create(&self.dir.join(logs::INSTANCE_LOG_FILE)).unwrap_or_else(|_| InstanceLog::none());
        let outcome = self.evaluate(&mut log, &script, &key, report_out).await;
        match &outcome {
            EvalOutcome::Error(e @ (EvalError::Infra { .. } | EvalError::Cancelled)) => {
                log.error(&format!("Error in evaluating model for {id}: {e}"))
            }
            EvalOutcome::Error(e) => log.info(&format!("EvaluationError {id}: {e}")),
            _ => {}
        }
        outcome
    }

    async fn evaluate(
        mut self,
        log: &mut InstanceLog,
        script: &str,
        key: &InputKey,
        report_out: &mut Option<crate::report::InstanceReport>,
    ) -> EvalOutcome {
        let id = &self.instance.instance_id;
        let dir = self.dir;
        let patch_file = dir.join(logs::PATCH_FILE);
        if let Err(e) = crate::files::write_atomic(&patch_file, self.patch.as_bytes()) {
            return EvalOutcome::Error(infra(InfraStage::Logs, e.to_string()));
        }
        // Refused before anything runs: no image, no container.
        if let Err(refusal) = check_patch_paths(self.patch) {
            log.info(&format!("{}:\n{refusal}", crate::grade::APPLY_PATCH_FAIL));
            return EvalOutcome::Error(EvalError::PatchRefused(refusal));
        }
        let t = Instant::now();
        let events = ImageEvents(self.progress);
        let image = tokio::select! {
            r = ensure_instance_image(self.env, self.instance, &self.cfg.images, &events) => r,
            () = self.cancel.cancelled() => return EvalOutcome::Error(EvalError::Cancelled),
        };
        self.timings.image = t.elapsed();
        let image = match image {
            Ok(i) => i,
            Err(e) => return EvalOutcome::Error(infra(InfraStage::Image, e)),
        };
        let t = Instant::now();
        let mut opts = self.cfg.sandbox.clone();
        opts.run_id = self.cfg.run_id.clone();
        opts.instance_id = Some(id.clone());
        opts.name = Some(container_name(id, &self.cfg.run_id));
        opts.cancel = self.cancel.clone();
        opts.network = self.cfg.network.start_network().map(str::to_owned);
        log.info(&format!("Creating container for {id}..."));
        let sandbox = match Sandbox::start(self.env, &image, &opts).await {
            Ok(s) => s,
            Err(e) => return EvalOutcome::Error(from_sandbox(InfraStage::Container, e)),
        };
        log.info(&format!("Container for {id} created: {}", sandbox.id()));
        log.info(&format!("Container for {id} started: {}", sandbox.id()));
        self.timings.container = t.elapsed();
        let name = sandbox.name().to_owned();
        let outcome = self.in_container(&sandbox, log, script, key, report_out).await;
        log.info(&format!("Attempting to remove container {name}..."));
        match sandbox.remove().await {
            Ok(()) => log.info(&format!("Container {name} removed.")),
            Err(e) => log.error(&format!("Failed to remove container {name}: {e}")),
        }
        outcome
    }

    async fn in_container(
        &mut self,
        sandbox: &Sandbox,
        log: &mut InstanceLog,
        script: &str,
        key: &InputKey,
        report_out: &mut Option<crate::report::InstanceReport>,
    ) -> EvalOutcome {
        let id = &self.instance.instance_id;
        let dir = self.dir;
        log.info(&format!(
            "Intermediate patch for {id} written to {}, now applying to container...",
            dir.join(logs::PATCH_FILE).display()
        ));
        let t = Instant::now();
        let sequence = match self.cfg.grading {
            GradingMode::V4 => ApplySequence::V4,
            GradingMode::V5 => ApplySequence::V5,
        };
        let applied = match sandbox.apply_patch_with(self.patch, sequence).await {
            Ok(a) => a,
            Err(e) => return EvalOutcome::Error(from_sandbox(InfraStage::Exec, e)),
        };
        self.timings.apply = t.elapsed();
        match applied {
            ApplyOutcome::Applied {
                output,
                failed,
                strategy,
            } => {
                for f in &failed {
                    log.info(&format!("Failed to apply patch to container: {}", f.strategy.command()));
                }
                if strategy == ApplyStrategy::AlreadyApplied {
                    log.info(&format!("{APPLY_PATCH_PASS}: verified already applied"));
                } else {
                    log.info(&format!("{}:\n{output}", APPLY_PATCH_PASS));
                }
            }
            ApplyOutcome::Failed { attempts } => {
                for f in &attempts {
                    log.info(&format!("Failed to apply patch to container: {}", f.strategy.command()));
                }
                let output = attempts.last().map(|a| a.output.clone()).unwrap_or_default();
                log.info(&format!("{}:\n{output}", crate::grade::APPLY_PATCH_FAIL));
                return EvalOutcome::Error(EvalError::ApplyFailed { output });
            }
            ApplyOutcome::Refused(refusal) => {
                log.info(&format!("{}:\n{refusal}", crate::grade::APPLY_PATCH_FAIL));
                return EvalOutcome::Error(EvalError::PatchRefused(refusal));
            }
        }
        let diff_before = match git_diff(sandbox).await {
            Ok(d) => d,
            Err(e) => return EvalOutcome::Error(from_sandbox(InfraStage::Exec, e)),
        };
        log.info(&format!("Git diff before:\n{diff_before}"));
        let eval_file = dir.join(logs::EVAL_FILE);
        if let Err(e) = crate::files::write_atomic(&eval_file, script.as_bytes()) {
            return EvalOutcome::Error(infra(InfraStage::Logs, e.to_string()));
        }
        log.info(&format!(
            "Eval script for {id} written to {}; copying to container...",
            eval_file.display()
        ));
        if let Err(e) = sandbox.write_file("/eval.sh", script.as_bytes()).await {
            return EvalOutcome::Error(from_sandbox(InfraStage::Container, e));
        }
        let spec = ExecSpec::bash_script("/eval.sh", self.cfg.timeout);
        let ran = match &self.cfg.network {
            NetworkPolicy::InstallOnly { network } => {
                run_gated(sandbox, &spec, network, script.contains(GATE_OPEN), log, self.cancel).await
            }
            _ => sandbox
                .exec_spec(&spec)
                .await
                .map_err(|e| from_sandbox(InfraStage::Exec, e)),
        };
        let ran = match ran {
            Ok(r) => r,
            Err(e) => return EvalOutcome::Error(e),
        };
        self.timings.tests = ran.elapsed;
        // The script as it is now: a test process could have rewritten it while it ran.
        let eval_script_intact = match sandbox.read_file("/eval.sh").await {
            Ok(bytes) => Some(bytes == script.as_bytes()),
            Err(e) => {
                log.info(&format!("Could not read /eval.sh back: {e}"));
                None
            }
        };
        log.info(&format!(
            "Test runtime: {} seconds",
            logs::python_underscore_2f(ran.elapsed.as_secs_f64())
        ));
        let mut test_output = ran.text();
        let seconds = self.cfg.timeout.as_secs();
        if ran.timed_out {
            test_output.push_str(&format!("\n\nTimeout error: {seconds} seconds exceeded."));
        }
        if let Some(d) = ran.disk_exceeded {
            test_output.push_str(&format!("\n\nDisk limit error: {d}."));
        }
        let out_file = dir.join(logs::TEST_OUTPUT_FILE);
        if let Err(e) = crate::files::write_atomic(&out_file, test_output.as_bytes()) {
            return EvalOutcome::Error(infra(InfraStage::Logs, e.to_string()));
        }
        log.info(&format!("Test output for {id} written to {}", out_file.display()));
        if ran.truncated {
            log.info("Test output exceeded the output limit; the middle was dropped");
        }
        if let Some(d) = ran.disk_exceeded {
            log.info(&format!("Disk limit exceeded: {d}"));
            return EvalOutcome::Error(EvalError::DiskLimit(d));
        }
        if ran.timed_out {
            return EvalOutcome::Error(EvalError::Timeout { seconds });
        }
        let diff_after = match git_diff(sandbox).await {
            Ok(after) => {
                log.info(&format!("Git diff after:\n{after}"));
                if after != diff_before {
                    log.info("Git diff changed after running eval script");
                }
                after
            }
            Err(e) => return EvalOutcome::Error(from_sandbox(InfraStage::Exec, e)),
        };
        log.info(&format!("Grading answer for {id}..."));
        let Some(parser) = parser_for(self.instance) else {
            return EvalOutcome::Error(infra(
                InfraStage::Grading,
                format!(
                    "no log parser for repository {} (and no log_parser column)",
                    self.instance.repo
                ),
            ));
        };
        let verdict = grade_instance(self.instance, parser, &test_output, true, self.cfg.grading);
        let report = verdict.report();
        let json = instance_report_json(id, &report);
        let one_line = instance_report_repr(id, &report);
        log.info(&format!(
            "report: {one_line}\nResult for {id}: resolved: {}",
            if report.resolved { "True" } else { "False" }
        ));
        let observed = HarnessObservations {
            diffs: Some(RepoDiffs {
                before: diff_before,
                after: diff_after,
            }),
            eval_script_intact,
        };
        let integrity = assess(&Inputs {
            instance: self.instance,
            model_patch: Some(self.patch),
            log: Some(&test_output),
            parser: Some(parser),
            harness: Some(&observed),
        });
        let kinds: Vec<String> = integrity.flagging_kinds().iter().map(ToString::to_string).collect();
        log.info(&format!(
            "Integrity: {} finding(s), flagged: {}{}",
            integrity.findings.len(),
            integrity.flagged,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            }
        ));
        // Written before the key: a finished instance always has its findings.
        if let Err(e) = write_integrity(dir, &integrity) {
            return EvalOutcome::Error(infra(InfraStage::Logs, e));
        }
        *self.integrity = Some(integrity);
        if let Err(e) = key.write(dir) {
            return EvalOutcome::Error(infra(InfraStage::Logs, e));
        }
        if let Err(e) = crate::files::write_atomic(&dir.join(logs::REPORT_FILE), json.as_bytes()) {
            return EvalOutcome::Error(infra(InfraStage::Logs, e));
        }
        let resolved = report.resolved;
        *report_out = Some(report);
        if resolved {
            EvalOutcome::Resolved
        } else {
            EvalOutcome::Unresolved
        }
    }
}

/// Run the eval script with the network until its gate, none after (see [`super::network`]).
/// A script without the gate loses the network before it starts.
async fn run_gated(
    sandbox: &Sandbox,
    spec: &ExecSpec,
    network: &str,
    gated: bool,
    log: &mut InstanceLog,
    cancel: &CancellationToken,
) -> Result<ExecOutcome, EvalError> {
    let cut = |e| from_sandbox(InfraStage::Network, e);
    if !gated {
        sandbox.disconnect_network(network).await.map_err(cut)?;
        log.info(&format!(
            "Network {network} disconnected (the eval script has no start marker)"
        ));
        return sandbox
            .exec_spec(spec)
            .await
            .map_err(|e| from_sandbox(InfraStage::Exec, e));
    }
    let script = sandbox.exec_spec(spec);
    tokio::pin!(script);
    let gate = async {
        let wait = wait_for_gate_command();
        let reached = sandbox.exec(&["/bin/sh", "-c", &wait], spec.timeout).await?;
        if !reached.success() {
            return Ok(false);
        }
        sandbox.disconnect_network(network).await?;
        sandbox.write_file(GATE_OPEN, b"").await?;
        Ok::<bool, SandboxError>(true)
    };
    tokio::select! {
        // The script ended before its gate (it exited early): it never reached the tests.
        ran = &mut script => ran.map_err(|e| from_sandbox(InfraStage::Exec, e)),
        opened = gate => match opened {
            Ok(true) => {
                log.info(&format!("Network {network} disconnected before the tests"));
                script.await.map_err(|e| from_sandbox(InfraStage::Exec, e))
            }
            // The wait timed out with the script (the script's own timeout reports it).
            Ok(false) => script.await.map_err(|e| from_sandbox(InfraStage::Exec, e)),
            // Cancelled (or the container removed) during the gate: the script's exec is
            // removing the container (a disconnect then fails too); let it finish rather than
            // drop it mid-removal, which can leave the container behind.
            Err(SandboxError::Cancelled | SandboxError::Gone { .. }) => {
                script.await.map_err(|e| from_sandbox(InfraStage::Exec, e))
            }
            Err(_) if cancel.is_cancelled() => script.await.map_err(|e| from_sandbox(InfraStage::Exec, e)),
            // The network could not be taken away: the tests must not run (the caller
            // removes the container, which ends the waiting script).
            Err(e) => Err(cut(e)),
        },
    }
}

/// `git -c core.fileMode=false diff`, stripped (as recorded officially).
async fn git_diff(sandbox: &Sandbox) -> Result<String, SandboxError> {
    let out = sandbox
        .exec(&["git", "-c", "core.fileMode=false", "diff"], DIFF_TIMEOUT)
        .await?;
    Ok(out.text().trim().to_owned())
}

/// Create the folder, and remove what a previous attempt left (its verdict is stale).
fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(dir)?;
    for name in [
        logs::REPORT_FILE,
        logs::KEY_FILE,
        crate::integrity::INTEGRITY_FILE,
        logs::TEST_OUTPUT_FILE,
        logs::EVAL_FILE,
    ] {
        match fs_err::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
