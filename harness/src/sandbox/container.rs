//! One running container: start it (labelled, limited, no network, capabilities dropped),
//! copy files in and out, run commands with a timeout that really kills, watch the size of
//! its writable layer, and remove it on every path.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, InspectContainerOptionsBuilder,
    StartContainerOptions, UploadToContainerOptionsBuilder,
};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::SandboxError;
use super::disk::{LayerProbe, allocated_bytes};
use super::env::{DockerEnv, INSTANCE_LABEL, RUN_ID_LABEL, SHARD_LABEL};
use super::output::{CappedOutput, LineMerger, Stream};

/// Default cap on captured output per exec (64 MiB).
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 << 20;
/// How long after the in-container `timeout` the host gives up and removes the container.
const HOST_GRACE: Duration = Duration::from_secs(10);
/// Time allowed for one API call (create, start, upload, inspect).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest file `read_file` returns.
const READ_LIMIT: usize = 256 << 20;
/// Default bound on a container's writable layer (10 GiB).
pub const DEFAULT_DISK_LIMIT: u64 = 10 << 30;
/// How often the watchdog measures the writable layer while a command runs.
const DEFAULT_DISK_POLL: Duration = Duration::from_secs(1);

/// The capabilities a container keeps; every other one (Docker's defaults include `MKNOD`,
/// `NET_RAW`, `NET_BIND_SERVICE`, `SETPCAP`, `SETFCAP`, `SYS_CHROOT`, `AUDIT_WRITE`) is dropped.
/// Measured: the eval scripts of the 5 demo instances and of the sympy replicas ran with no
/// capability at all with the same results (README, Security). The kept ones are what root
/// needs to work on files owned by someone else and to manage processes, which SWE-bench
/// suites do: `DAC_OVERRIDE` (write files it does not own), `CHOWN`, `FOWNER`, `FSETID`
/// (pip and git keeping owners and modes), `KILL` (stop children of other users),
/// `SETUID`/`SETGID` (suites that run a step as another user).
pub const KEPT_CAPABILITIES: [&str; 7] = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETUID", "SETGID"];

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Value of the `agentless-mini.run-id` label (required: `clean` finds containers by it).
    pub run_id: String,
    /// Value of the `agentless-mini.instance-id` label, when the sandbox serves one instance.
    pub instance_id: Option<String>,
    /// Value of the `agentless-mini.shard` label, when one task of a sharded (cluster) run
    /// started it: a restarted task removes what its dead predecessor left by run id + shard.
    pub shard: Option<String>,
    /// Container name; a stale container of the same name is removed first. None: Docker names it.
    pub name: Option<String>,
    /// Docker network mode; None means `none` (no network).
    pub network: Option<String>,
    /// Memory limit in bytes (also the swap limit: no swap).
    pub memory_bytes: Option<i64>,
    /// CPU limit (capped to the engine's CPUs).
    pub cpus: Option<f64>,
    /// Process count limit.
    pub pids_limit: Option<i64>,
    /// Bound on the container's writable layer in bytes: the engine's storage quota where the
    /// storage driver has one, and always a watchdog that measures the layer while a command
    /// runs and removes the container at the limit ([`ExecOutcome::disk_exceeded`]).
    pub disk_bytes: Option<u64>,
    /// How often the watchdog measures.
    pub disk_poll: Duration,
    /// Mount a tmpfs of this many bytes on `/tmp` (counts against the memory limit). Off by
    /// default: images may ship files under `/tmp`, which the mount would hide, and some test
    /// suites write more to `/tmp` than memory allows.
    pub tmp_bytes: Option<u64>,
    /// Capabilities kept (all others dropped); default [`KEPT_CAPABILITIES`].
    pub capabilities: Vec<String>,
    /// Working directory of every exec.
    pub workdir: String,
    /// Cap on captured output per exec.
    pub output_limit: usize,
    /// Cancelling it stops a running exec (the container is removed).
    pub cancel: CancellationToken,
}

impl SandboxOptions {
    /// Defaults: no network, 8 GiB memory, 2 CPUs, 4096 processes, a 10 GiB writable layer,
    /// the capabilities of [`KEPT_CAPABILITIES`], workdir `/testbed`.
    pub fn new(run_id: impl Into<String>) -> Self {
        SandboxOptions {
            run_id: run_id.into(),
            instance_id: None,
            shard: None,
            name: None,
            network: None,
            memory_bytes: Some(8 << 30),
            cpus: Some(2.0),
            pids_limit: Some(4096),
            disk_bytes: Some(DEFAULT_DISK_LIMIT),
            disk_poll: DEFAULT_DISK_POLL,
            tmp_bytes: None,
            capabilities: KEPT_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
            workdir: "/testbed".into(),
            output_limit: DEFAULT_OUTPUT_LIMIT,
            cancel: CancellationToken::new(),
        }
    }
}

/// A command to run.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    /// None: the sandbox's working directory.
    pub workdir: Option<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    pub timeout: Duration,
}

impl ExecSpec {
    /// Run the bash script at `path` (inside the container) with its stderr on its stdout.
    ///
    /// Docker reads an exec's stdout and stderr pipes in two goroutines, so across the two
    /// streams it keeps no order: under load bash's xtrace line `+ : '>>>>> End Test Output'`
    /// (stderr) can overtake pytest's last lines (stdout), and the grader then finds the test
    /// summary after the end marker. One pipe keeps the order in which the processes wrote.
    pub fn bash_script(path: &str, timeout: Duration) -> Self {
        ExecSpec {
            cmd: vec![
                "/bin/bash".into(),
                "-c".into(),
                "exec /bin/bash \"$0\" 2>&1".into(),
                path.into(),
            ],
            workdir: None,
            env: Vec::new(),
            timeout,
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// None when the exit status could not be read (the container was removed).
    pub exit_code: Option<i64>,
    /// stdout and stderr interleaved in arrival order, capped (head and tail kept).
    pub output: Vec<u8>,
    /// The command ran past its timeout and was killed.
    pub timed_out: bool,
    /// Some output was dropped by the cap.
    pub truncated: bool,
    pub elapsed: Duration,
    /// The writable layer outgrew the disk limit: the container was removed mid-command.
    pub disk_exceeded: Option<DiskExceeded>,
}

/// The disk watchdog's finding: the layer's size when it was measured over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiskExceeded {
    pub limit_bytes: u64,
    pub used_bytes: u64,
}

impl std::fmt::Display for DiskExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the container's writable layer reached {} MiB, over the disk limit of {} MiB; the container was removed",
            self.used_bytes >> 20,
            self.limit_bytes >> 20
        )
    }
}

impl ExecOutcome {
    /// The output decoded as UTF-8 with replacement characters (as 5.x decodes it).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// A started container. Remove it with [`Sandbox::remove`]; dropping it removes it in the
/// background (best effort; [`DockerEnv::remove_tracked`] sweeps what is left).
#[derive(Debug)]
pub struct Sandbox {
    env: DockerEnv,
    id: String,
    name: String,
    workdir: String,
    output_limit: usize,
    cancel: CancellationToken,
    disk_bytes: Option<u64>,
    disk_poll: Duration,
    removed: bool,
}

fn stalled(action: &str) -> SandboxError {
    SandboxError::Stalled {
        action: action.to_owned(),
        seconds: CALL_TIMEOUT.as_secs(),
    }
}

impl Sandbox {
    /// Create and start a container from `image`, idling on `tail -f /dev/null`.
    pub async fn start(env: &DockerEnv, image: &str, opts: &SandboxOptions) -> Result<Sandbox, SandboxError> {
        if opts.run_id.trim().is_empty() {
            return Err(SandboxError::Invalid("a sandbox needs a run id (its label)".into()));
        }
        let docker = env.docker();
        if let Some(name) = &opts.name {
            // A container left by a crash under the same name would block creation.
            env.remove_container(name).await?;
        }
        let mut labels = HashMap::from([(RUN_ID_LABEL.to_owned(), opts.run_id.clone())]);
        if let Some(id) = &opts.instance_id {
            labels.insert(INSTANCE_LABEL.to_owned(), id.clone());
        }
        if let Some(shard) = &opts.shard {
            labels.insert(SHARD_LABEL.to_owned(), shard.clone());
        }
        let nano_cpus = opts.cpus.map(|c| {
            let c = c.min(env.ncpu() as f64).max(0.01);
            (c * 1e9) as i64
        });
        let mut host = HostConfig {
            memory: opts.memory_bytes,
            memory_swap: opts.memory_bytes,
            nano_cpus,
            pids_limit: opts.pids_limit,
            network_mode: Some(opts.network.clone().unwrap_or_else(|| "none".into())),
            privileged: Some(false),
            init: Some(true),
            security_opt: Some(vec!["no-new-privileges".into()]),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(opts.capabilities.clone()),
            tmpfs: opts
                .tmp_bytes
                .map(|b| HashMap::from([("/tmp".to_owned(), format!("rw,nosuid,nodev,size={b},mode=1777"))])),
            ..Default::default()
        };
        if let Some(limit) = opts.disk_bytes.filter(|_| env.storage_quota()) {
            host.storage_opt = Some(HashMap::from([("size".to_owned(), limit.to_string())]));
        }
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(vec!["tail".into(), "-f".into(), "/dev/null".into()]),
            user: Some("root".into()),
            working_dir: Some(opts.workdir.clone()),
            tty: Some(false),
            labels: Some(labels),
            network_disabled: Some(opts.network.is_none()),
            host_config: Some(host),
            ..Default::default()
        };
        let create_opts = opts
            .name
            .as_ref()
            .map(|n| CreateContainerOptionsBuilder::default().name(n).build());
        let mut created =
            tokio::time::timeout(CALL_TIMEOUT, docker.create_container(create_opts.clone(), body.clone()))
                .await
                .map_err(|_| stalled("creating a container"))?;
        if let Err(e) = &created
            && body.host_config.as_ref().is_some_and(|h| h.storage_opt.is_some())
            && e.to_string().contains("storage-opt")
        {
            // overlay2 on xfs without project quotas: the watchdog alone bounds the layer.
            tracing::debug!("no storage quota on this engine ({e}); the disk watchdog bounds the layer");
            let mut body = body;
            if let Some(h) = body.host_config.as_mut() {
                h.storage_opt = None;
            }
            created = tokio::time::timeout(CALL_TIMEOUT, docker.create_container(create_opts, body))
                .await
                .map_err(|_| stalled("creating a container"))?;
        }
        let created = created.map_err(|e| SandboxError::docker(format!("creating a container from {image}"), e))?;
        let name = opts
            .name
            .clone()
            .unwrap_or_else(|| created.id.chars().take(12).collect());
        env.track(&created.id, &name);
        let sandbox = Sandbox {
            env: env.clone(),
            id: created.id,
            name,
            workdir: opts.workdir.clone(),
            output_limit: opts.output_limit,
            cancel: opts.cancel.clone(),
            disk_bytes: opts.disk_bytes,
            disk_poll: opts.disk_poll.max(Duration::from_millis(100)),
            removed: false,
        };
        let started = tokio::time::timeout(
            CALL_TIMEOUT,
            docker.start_container(&sandbox.id, None::<StartContainerOptions>),
        )
        .await;
        let started = match started {
            Err(_) => Err(stalled("starting a container")),
            Ok(r) => r.map_err(|e| SandboxError::docker(format!("starting container {}", sandbox.name), e)),
        };
        if let Err(e) = started {
            let _ = sandbox.remove().await;
            return Err(e);
        }
        tracing::debug!(container = %sandbox.name, image, "sandbox started");
        Ok(sandbox)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Write `contents` to the absolute path `path` (mode 0644; parent folders created).
    pub async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.check_alive()?;
        let Some(rel) = path.strip_prefix('/') else {
            return Err(SandboxError::Invalid(format!(
                "write_file needs an absolute path, got {path:?}"
            )));
        };
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        header.set_cksum();
        builder
            .append_data(&mut header, rel, contents)
            .map_err(|e| SandboxError::Invalid(format!("packing {path}: {e}")))?;
        let tar = builder
            .into_inner()
            .map_err(|e| SandboxError::Invalid(format!("packing {path}: {e}")))?;
        let opts = UploadToContainerOptionsBuilder::default().path("/").build();
        tokio::time::timeout(
            CALL_TIMEOUT,
            self.env
                .docker()
                .upload_to_container(&self.id, Some(opts), bollard::body_full(tar.into())),
        )
        .await
        .map_err(|_| stalled("copying a file into the container"))?
        .map_err(|e| SandboxError::docker(format!("writing {path} in {}", self.name), e))
    }

    /// Read the file at the absolute path `path` (up to 256 MiB).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.check_alive()?;
        let opts = DownloadFromContainerOptionsBuilder::default().path(path).build();
        let mut stream = self.env.docker().download_from_container(&self.id, Some(opts));
        let mut tar_bytes = Vec::new();
        let collect = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| SandboxError::docker(format!("reading {path} in {}", self.name), e))?;
                tar_bytes.extend_from_slice(&chunk);
                if tar_bytes.len() > READ_LIMIT + (1 << 20) {
                    return Err(SandboxError::Invalid(format!(
                        "{path} is larger than {READ_LIMIT} bytes"
                    )));
                }
            }
            Ok(())
        };
        tokio::time::timeout(CALL_TIMEOUT, collect)
            .await
            .map_err(|_| stalled("reading a file"))??;
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let entries = archive
            .entries()
            .map_err(|e| SandboxError::Invalid(format!("reading {path}: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| SandboxError::Invalid(format!("reading {path}: {e}")))?;
            if entry.header().entry_type().is_file() {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut out)
                    .map_err(|e| SandboxError::Invalid(format!("reading {path}: {e}")))?;
                return Ok(out);
            }
        }
        Err(SandboxError::Invalid(format!("{path} is not a regular file")))
    }

    /// Run `cmd` in the working directory with a timeout.
    pub async fn exec(&self, cmd: &[&str], timeout: Duration) -> Result<ExecOutcome, SandboxError> {
        self.exec_spec(&ExecSpec {
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            workdir: None,
            env: Vec::new(),
            timeout,
        })
        .await
    }

    /// Run a command. It runs under `timeout -s KILL` inside the container; if it is still
    /// running [`HOST_GRACE`] after that, or the sandbox is cancelled, the container is
    /// removed (the only way to stop an exec) and later calls fail with `Gone`.
    pub async fn exec_spec(&self, spec: &ExecSpec) -> Result<ExecOutcome, SandboxError> {
        self.check_alive()?;
        if spec.cmd.is_empty() {
            return Err(SandboxError::Invalid("empty command".into()));
        }
        let secs = spec.timeout.as_secs().max(1);
        let mut cmd = vec!["timeout".to_owned(), "-s".into(), "KILL".into(), secs.to_string()];
        cmd.extend(spec.cmd.iter().cloned());
        let docker = self.env.docker();
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(cmd),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            working_dir: Some(spec.workdir.clone().unwrap_or_else(|| self.workdir.clone())),
            user: Some("root".into()),
            ..Default::default()
        };
        let started_at = Instant::now();
        let exec = tokio::time::timeout(CALL_TIMEOUT, docker.create_exec(&self.id, config))
            .await
            .map_err(|_| stalled("creating an exec"))?
            .map_err(|e| SandboxError::docker(format!("creating an exec in {}", self.name), e))?;
        let start_opts = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: Some(64 * 1024),
        };
        let started = tokio::time::timeout(CALL_TIMEOUT, docker.start_exec(&exec.id, Some(start_opts)))
            .await
            .map_err(|_| stalled("starting an exec"))?
            .map_err(|e| SandboxError::docker(format!("starting an exec in {}", self.name), e))?;
        let StartExecResults::Attached { mut output, .. } = started else {
            return Err(SandboxError::Invalid("the exec started detached".into()));
        };
        let mut merged = LineMerger::new(CappedOutput::new(self.output_limit));
        let deadline = tokio::time::Instant::from_std(started_at) + spec.timeout + HOST_GRACE;
        let mut host_killed = false;
        let mut disk_exceeded = None;
        let mut stream_error = None;
        let watchdog = self.watch_disk();
        tokio::pin!(watchdog);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    self.kill_container().await;
                    return Err(SandboxError::Cancelled);
                }
                over = &mut watchdog => {
                    tracing::warn!(container = %self.name, "{over}");
                    self.kill_container().await;
                    disk_exceeded = Some(over);
                    break;
                }
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(container = %self.name, "exec outlived its timeout; removing the container");
                    self.kill_container().await;
                    host_killed = true;
                    break;
                }
                item = output.next() => match item {
                    None => break,
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        merged.push(Stream::Stdout, &message);
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        merged.push(Stream::Stderr, &message);
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(e)) => {
                        stream_error = Some(e);
                        break;
                    }
                }
            }
        }
        drop(output);
        let captured = merged.finish();
        let elapsed = started_at.elapsed();
        if host_killed || disk_exceeded.is_some() {
            let truncated = captured.truncated();
            return Ok(ExecOutcome {
                exit_code: None,
                output: captured.into_bytes(),
                timed_out: host_killed,
                truncated,
                elapsed,
                disk_exceeded,
            });
        }
        if let Some(e) = stream_error {
            return Err(SandboxError::docker(format!("reading exec output in {}", self.name), e));
        }
        let exit_code = self.exit_code(&exec.id).await?;
        // Docker's own message when the exec'd binary is missing: only at exec start, so no
        // time limit is needed to tell it apart (one failed on a loaded machine).
        if matches!(exit_code, Some(126 | 127)) {
            let head = String::from_utf8_lossy(&captured.clone().into_bytes()).into_owned();
            if head.contains("\"timeout\": executable file not found") {
                return Err(SandboxError::Invalid(format!(
                    "the image of {} has no `timeout` command (coreutils), needed to bound commands",
                    self.name
                )));
            }
        }
        // `timeout -s KILL` exits 137 (or 124) once the limit is reached.
        let timed_out = matches!(exit_code, Some(124 | 137)) && elapsed + Duration::from_millis(250) >= spec.timeout;
        let truncated = captured.truncated();
        Ok(ExecOutcome {
            exit_code,
            output: captured.into_bytes(),
            timed_out,
            truncated,
            elapsed,
            disk_exceeded: None,
        })
    }

    /// The size of the writable layer (`SizeRw`), as the engine measures it.
    pub async fn writable_layer_bytes(&self) -> Result<u64, SandboxError> {
        let opts = InspectContainerOptionsBuilder::default().size(true).build();
        let info = tokio::time::timeout(CALL_TIMEOUT, self.env.docker().inspect_container(&self.id, Some(opts)))
            .await
            .map_err(|_| stalled("measuring the writable layer"))?
            .map_err(|e| SandboxError::docker(format!("measuring the writable layer of {}", self.name), e))?;
        Ok(info.size_rw.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// How the disk watchdog measures this container's writable layer (see [`super::disk`]).
    pub async fn layer_probe(&self) -> Result<LayerProbe, SandboxError> {
        let info = tokio::time::timeout(CALL_TIMEOUT, self.env.docker().inspect_container(&self.id, None))
            .await
            .map_err(|_| stalled("inspecting a container"))?
            .map_err(|e| SandboxError::docker(format!("inspecting {}", self.name), e))?;
        Ok(LayerProbe::from_graph_data(info.graph_driver.as_ref().map(|g| &g.data)))
    }

    /// The writable layer's size through `probe`: the upper directory walked on the host, or
    /// the engine's `SizeRw`.
    async fn measure_layer(&self, probe: &LayerProbe) -> Result<u64, SandboxError> {
        match probe {
            LayerProbe::Engine => self.writable_layer_bytes().await,
            LayerProbe::UpperDir(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || allocated_bytes(&dir))
                    .await
                    .map_err(|e| SandboxError::Invalid(format!("the disk measurement stopped: {e}")))?
                    .map_err(|e| SandboxError::Invalid(format!("walking the writable layer: {e}")))
            }
        }
    }

    /// Resolves once the writable layer is measured over the disk limit; never without one.
    /// A failed measurement is skipped (the next poll tries again); a failed walk of the upper
    /// directory falls back to the engine's measure for the rest of the exec.
    async fn watch_disk(&self) -> DiskExceeded {
        let Some(limit) = self.disk_bytes else {
            return std::future::pending().await;
        };
        let mut probe = match self.layer_probe().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(container = %self.name, "disk watchdog: {e}; asking the engine");
                LayerProbe::Engine
            }
        };
        let mut tick = tokio::time::interval(self.disk_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.measure_layer(&probe).await {
                Ok(used) if used > limit => {
                    return DiskExceeded {
                        limit_bytes: limit,
                        used_bytes: used,
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(container = %self.name, "disk watchdog: {e}");
                    probe = LayerProbe::Engine;
                }
            }
        }
    }

    /// The exit code of a finished exec (polls briefly while Docker still reports it running).
    async fn exit_code(&self, exec_id: &str) -> Result<Option<i64>, SandboxError> {
        for _ in 0..50 {
            let info = tokio::time::timeout(CALL_TIMEOUT, self.env.docker().inspect_exec(exec_id))
                .await
                .map_err(|_| stalled("inspecting an exec"))?
                .map_err(|e| SandboxError::docker(format!("inspecting an exec in {}", self.name), e))?;
            if info.running != Some(true) {
                return Ok(info.exit_code);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(None)
    }

    async fn kill_container(&self) {
        if let Err(e) = self.env.remove_container(&self.id).await {
            tracing::warn!(container = %self.name, "removing the container failed: {e}");
        }
    }

    fn check_alive(&self) -> Result<(), SandboxError> {
        if self.cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        if self.removed || !self.env.is_live(&self.id) {
            return Err(SandboxError::Gone {
                name: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Disconnect the container from `network` (force): it keeps only its loopback
    /// interface. Used to take the network away between an eval script's install steps and
    /// its tests ([`crate::evaluate::NetworkPolicy::InstallOnly`]).
    pub async fn disconnect_network(&self, network: &str) -> Result<(), SandboxError> {
        let req = bollard::models::NetworkDisconnectRequest {
            container: self.id.clone(),
            force: Some(true),
        };
        tokio::time::timeout(CALL_TIMEOUT, self.env.docker().disconnect_network(network, req))
            .await
            .map_err(|_| stalled("disconnecting a container from its network"))?
            .map_err(|e| SandboxError::docker(format!("disconnecting {} from network {network}", self.name), e))
    }

    /// Remove the container (force). Safe to call after a timeout already removed it.
    pub async fn remove(mut self) -> Result<(), SandboxError> {
        self.removed = true;
        self.env.remove_container(&self.id).await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let env = self.env.clone();
        let id = self.id.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = env.remove_container(&id).await;
            });
        }
    }
}
