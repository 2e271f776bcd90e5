//! Docker for the tests that need it (they fail, never skip, when the engine is
//! unreachable): instance images built once per test binary, unique run ids, the containers
//! of a run, and a lock that keeps the heavy end-to-end runs of one binary one at a time.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use agentless_harness::dataset::load_dataset;
use agentless_harness::images::{self, ImageOptions, NoImageProgress};
use agentless_harness::sandbox::DockerEnv;

/// A multi-threaded tokio runtime for the Docker client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Build the image of every instance of each `(instances.jsonl, repos folder)` once per test
/// binary (the engine caches them by tag; later calls only check labels), so parallel CLI
/// processes never build the same image.
pub fn prepare_images(datasets: &[(PathBuf, PathBuf)]) {
    static READY: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
    let todo: Vec<&(PathBuf, PathBuf)> = datasets.iter().filter(|(d, _)| !ready.contains(d)).collect();
    if todo.is_empty() {
        return;
    }
    runtime().block_on(async {
        let env = DockerEnv::connect()
            .await
            .expect("the Docker engine must be reachable (DOCKER_HOST)");
        for (dataset, repos) in &todo {
            let opts = ImageOptions {
                demo_repos: Some(repos.clone()),
                ..Default::default()
            };
            for inst in load_dataset(dataset).expect("dataset") {
                images::ensure_instance_image(&env, &inst, &opts, &NoImageProgress)
                    .await
                    .expect("instance image");
            }
        }
    });
    ready.extend(todo.into_iter().map(|(d, _)| d.clone()));
}

/// The demo split's images.
pub fn prepare_demo_images() {
    prepare_images(&[(super::demo_jsonl(), super::demo_repos())]);
}

/// A run id no other test (or earlier run) uses: `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The names of the containers the project labelled with `run_id` (any state).
pub fn containers_of(run_id: &str) -> Vec<String> {
    runtime().block_on(async {
        let env = DockerEnv::connect().await.expect("docker");
        env.list_labelled(Some(run_id))
            .await
            .expect("list")
            .into_iter()
            .map(|c| c.name)
            .collect()
    })
}

/// The ids of the containers (any state) carrying the label `key=value`, from the docker CLI.
pub fn containers_labelled(key: &str, value: &str) -> Vec<String> {
    let out =
        super::run_ok(Command::new("docker").args(["ps", "-a", "-q", "--filter", &format!("label={key}={value}")]));
    out.lines().map(str::to_owned).collect()
}

/// Hold this while a whole pipeline runs in Docker: tests merged into one binary then still
/// run one at a time, as they did when each was its own binary (2 CPUs).
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
