//! The connection to the Docker engine, and the book of containers this process started
//! (so that a cancel or a crash of one task still removes every container).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use super::SandboxError;

/// The label every container carries: the run id.
pub const RUN_ID_LABEL: &str = "agentless-mini.run-id";
/// The label naming the instance a container evaluates (when there is one).
pub const INSTANCE_LABEL: &str = "agentless-mini.instance-id";

/// The label naming the shard (task of a cluster run) that started a container.
pub const SHARD_LABEL: &str = "agentless-mini.shard";

/// How long a plain API call may take before it counts as stalled.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A connected Docker engine. Cheap to clone; clones share the book of live containers.
#[derive(Clone)]
pub struct DockerEnv {
    docker: Docker,
    host: String,
    ncpu: i64,
    /// The storage driver can enforce a per-container size (`--storage-opt size=`).
    storage_quota: bool,
    live: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for DockerEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerEnv")
            .field("host", &self.host)
            .field("ncpu", &self.ncpu)
            .field("storage_quota", &self.storage_quota)
            .finish()
    }
}

/// A container found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledContainer {
    pub id: String,
    pub name: String,
    pub run_id: String,
    /// The `agentless-mini.shard` label, when a cluster task started it.
    pub shard: Option<String>,
    pub state: String,
}

impl DockerEnv {
    /// Connect to `DOCKER_HOST` (unix://, tcp://, http://) or the default socket, and check
    /// that the engine answers. An unreachable engine is an error naming `DOCKER_HOST`.
    pub async fn connect() -> Result<Self, SandboxError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
        let unreachable = |message: String| SandboxError::Unreachable {
            host: host.clone(),
            message,
        };
        let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
        let docker = docker.with_timeout(CALL_TIMEOUT);
        let info = match tokio::time::timeout(Duration::from_secs(15), docker.info()).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => return Err(unreachable("no answer within 15 s".into())),
        };
        let ncpu = info.ncpu.unwrap_or(1).max(1);
        let storage_quota = supports_storage_quota(
            info.driver.as_deref().unwrap_or(""),
            info.driver_status.as_deref().unwrap_or(&[]),
        );
        Ok(DockerEnv {
            docker,
            host,
            ncpu,
            storage_quota,
            live: Arc::default(),
        })
    }

    /// Whether the storage driver can bound a container's writable layer by itself
    /// (overlay2 on xfs, btrfs, zfs); otherwise the sandbox's watchdog does.
    pub fn storage_quota(&self) -> bool {
        self.storage_quota
    }

    /// The bollard client (for callers that need an endpoint this module does not wrap).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Where the engine is (`DOCKER_HOST` or the default socket).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// CPUs the engine reports (CPU limits are capped to it).
    pub fn ncpu(&self) -> i64 {
        self.ncpu
    }

    pub(crate) fn track(&self, id: &str, name: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.insert(id.to_owned(), name.to_owned());
        }
    }

    pub(crate) fn untrack(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
    }

    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.live.lock().map(|l| l.contains_key(id)).unwrap_or(false)
    }

    /// Containers started through this environment and not removed yet.
    pub fn tracked(&self) -> Vec<String> {
        self.live
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Remove (force) one container by id or name. A container that is already gone is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), SandboxError> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let res = tokio::time::timeout(CALL_TIMEOUT, self.docker.remove_container(id, Some(opts))).await;
        let out = match res {
            Err(_) => Err(SandboxError::Stalled {
                action: format!("removing container {id}"),
                seconds: CALL_TIMEOUT.as_secs(),
            }),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let err = SandboxError::docker(format!("removing container {id}"), e);
                // 404: already gone; 409: removal already in progress (it will finish).
                match &err {
                    SandboxError::Docker {
                        source:
                            bollard::errors::Error::DockerResponseServerError {
                                status_code: 404 | 409, ..
                            },
                        ..
                    } => Ok(()),
                    _ => Err(err),
                }
            }
        };
        if out.is_ok() {
            self.untrack(id);
        }
        out
    }

    /// Remove every container this process started and has not removed yet. Returns the
    /// names removed; failures are returned beside them.
    pub async fn remove_tracked(&self) -> (Vec<String>, Vec<SandboxError>) {
        let live: Vec<(String, String)> = self
            .live
            .lock()
            .map(|l| l.iter().map(|(a, b)| (a.clone(), b.clone())).collect())
            .unwrap_or_default();
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for (id, name) in live {
            match self.remove_container(&id).await {
                Ok(()) => removed.push(name),
                Err(e) => errors.push(e),
            }
        }
        (removed, errors)
    }

    /// Containers labelled by agentless-mini: all runs, or one run id.
    pub async fn list_labelled(&self, run_id: Option<&str>) -> Result<Vec<LabelledContainer>, SandboxError> {
        let label = match run_id {
            Some(id) => format!("{RUN_ID_LABEL}={id}"),
            None => RUN_ID_LABEL.to_owned(),
        };
        let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", vec![label])]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = tokio::time::timeout(CALL_TIMEOUT, self.docker.list_containers(Some(opts)))
            .await
            .map_err(|_| SandboxError::Stalled {
                action: "listing containers".into(),
                seconds: CALL_TIMEOUT.as_secs(),
            })?
            .map_err(|e| SandboxError::docker("listing containers", e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels: BTreeMap<String, String> = c.labels.unwrap_or_default().into_iter().collect();
                Some(LabelledContainer {
                    id: c.id?,
                    name: c
                        .names
                        .and_then(|n| n.first().cloned())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_owned(),
                    run_id: labels.get(RUN_ID_LABEL).cloned().unwrap_or_default(),
                    shard: labels.get(SHARD_LABEL).cloned(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Remove the containers of one shard of one run (those a dead task of a cluster run
    /// left): every container carrying both `run-id=<run_id>` and `shard=<shard>`.
    pub async fn remove_shard(&self, run_id: &str, shard: &str) -> Result<Vec<LabelledContainer>, SandboxError> {
        let found: Vec<LabelledContainer> = self
            .list_labelled(Some(run_id))
            .await?
            .into_iter()
            .filter(|c| c.shard.as_deref() == Some(shard))
            .collect();
        for c in &found {
            self.remove_container(&c.id).await?;
        }
        Ok(found)
    }

    /// Remove every container labelled by agentless-mini (of one run, or of all runs).
    pub async fn remove_labelled(&self, run_id: Option<&str>) -> Result<Vec<LabelledContainer>, SandboxError> {
        let found = self.list_labelled(run_id).await?;
        for c in &found {
            self.remove_container(&c.id).await?;
        }
        Ok(found)
    }
}

/// Storage drivers that honour `--storage-opt size=` (overlay2 only on xfs, and only when it
/// is mounted with project quotas, which creation then reveals).
fn supports_storage_quota(driver: &str, status: &[Vec<String>]) -> bool {
    match driver {
        "btrfs" | "zfs" | "devicemapper" => true,
        "overlay2" => status.iter().any(|kv| {
            kv.first().map(String::as_str) == Some("Backing Filesystem") && kv.get(1).map(String::as_str) == Some("xfs")
        }),
        _ => false,
    }
}
