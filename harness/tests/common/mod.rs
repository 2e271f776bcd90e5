//! Helpers shared by the harness's integration tests (each test binary includes this folder
//! with `mod common;`): where the workspace and the shared data are, the parity
//! interpreters, unique run ids, and Docker sandboxes (the engine, the demo base image, a
//! git repository in `/testbed`, and the check that a run left no container). A helper fails
//! the test (panics) with what went wrong; none skips.

#![allow(dead_code, reason = "shared test helpers: each binary uses a part of them")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentless_harness::images::{self, NoImageProgress};
use agentless_harness::sandbox::{DockerEnv, Sandbox, SandboxOptions};

/// The workspace root (the harness crate's parent folder).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The shared data folder next to the checkout (`../shared/data`).
pub fn shared_data() -> PathBuf {
    workspace().join("../shared/data")
}

/// A file of the shared SWE-bench data (`../shared/data/swe-bench/NAME`).
pub fn swe_bench(name: &str) -> PathBuf {
    shared_data().join("swe-bench").join(name)
}

/// SWE-bench Verified as the parquet file of the shared data.
pub fn verified_parquet() -> PathBuf {
    swe_bench("verified-2026-02-16.parquet")
}

/// The bytes of [`verified_parquet`].
pub fn verified_parquet_bytes() -> Vec<u8> {
    let p = verified_parquet();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The official oracle run's log folders and reports.
pub fn oracle_logs() -> PathBuf {
    shared_data().join("oracle-logs")
}

/// The harness's small fixture dataset (`tests/fixtures/mini`).
pub fn mini_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini")
}

/// The interpreter of a parity environment: `$VAR`, else `target/parity/VENV/bin/python`
/// (what `scripts/setup-parity-env.sh` makes); a panic naming the script when it is missing.
pub fn parity_python(var: &str, venv: &str) -> String {
    let py = std::env::var(var).unwrap_or_else(|_| {
        workspace()
            .join(format!("target/parity/{venv}/bin/python"))
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        Path::new(&py).exists(),
        "{py} missing: run scripts/setup-parity-env.sh (or set {var})"
    );
    py
}

/// A run id no other test (or earlier run) uses: `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The Docker engine (a panic when it is unreachable: these tests need it).
pub async fn env() -> DockerEnv {
    DockerEnv::connect()
        .await
        .expect("the Docker engine must be reachable for these tests (DOCKER_HOST)")
}

/// The demo base image, built once with debootstrap and then cached by tag.
pub async fn base(env: &DockerEnv) -> String {
    images::ensure_base_image(env, &NoImageProgress)
        .await
        .expect("demo base image")
}

/// Fail unless no container labelled with `run_id` is left.
pub async fn assert_no_containers(env: &DockerEnv, run_id: &str) {
    let left = env.list_labelled(Some(run_id)).await.expect("list");
    assert!(left.is_empty(), "containers left for run {run_id}: {left:?}");
}

/// A sandbox on the demo base image with a git repository in `/testbed` holding one
/// committed file, `f.txt`, of ten lines (`line 1` … `line 10`).
pub async fn repo_sandbox(env: &DockerEnv, opts: &SandboxOptions) -> Sandbox {
    let image = base(env).await;
    let sb = Sandbox::start(env, &image, opts).await.expect("start");
    let lines: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    sb.write_file("/testbed/f.txt", lines.as_bytes()).await.expect("write");
    let init = sb
        .exec(
            &[
                "sh",
                "-c",
                "git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm base",
            ],
            Duration::from_secs(30),
        )
        .await
        .expect("git");
    assert_eq!(init.exit_code, Some(0), "{}", init.text());
    sb
}
