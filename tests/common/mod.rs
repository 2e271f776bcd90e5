//! Helpers shared by the integration tests (each test binary includes this folder with
//! `mod common;`): where the repository and the shared data are, the binary under test and
//! what it printed, headless chromium, the demo replay builder ([`replay`]) and a demo run
//! built on it ([`demo_run`]), the loopback OpenAI-compatible server ([`openai`]), and Docker
//! images, run ids and containers ([`docker`]). A helper fails the test (panics) with what went wrong; none skips.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared test helpers: each binary uses a part of them, and any failure is the test failing"
)]

pub mod demo_run;
pub mod docker;
pub mod openai;
pub mod replay;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The workspace root (the root crate's folder).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared data folder next to the checkout (`../shared/data`).
pub fn shared_data() -> PathBuf {
    root().join("../shared/data")
}

/// The official oracle run's log folders and reports.
pub fn oracle_logs() -> PathBuf {
    shared_data().join("oracle-logs")
}

/// SWE-bench Verified as the parquet file of the shared data.
pub fn verified_parquet() -> PathBuf {
    shared_data().join("swe-bench/verified-2026-02-16.parquet")
}

/// The demo split's instances.
pub fn demo_jsonl() -> PathBuf {
    root().join("datasets/demo/instances.jsonl")
}

/// The demo split's repository trees.
pub fn demo_repos() -> PathBuf {
    root().join("datasets/demo/repos")
}

/// The path of the binary under test.
pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_agentless-mini")
}

/// A command for the binary under test.
pub fn bin() -> Command {
    Command::new(bin_path())
}

/// Run the binary with `args`; its output (a panic only when it cannot be started).
pub fn run_bin<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    bin().args(args).output().expect("run agentless-mini")
}

/// `path` as a string, for argument lists.
pub fn s(path: &Path) -> String {
    path.display().to_string()
}

/// A process's status, stdout and stderr, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fail the test unless the process succeeded, naming `what` and showing its output.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a program; its stdout, or a panic with its output.
pub fn run_ok(cmd: &mut Command) -> String {
    run_ok_hint(cmd, "")
}

/// [`run_ok`], with `hint` (what installs the program) in the panic when it cannot start.
pub fn run_ok_hint(cmd: &mut Command, hint: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} {hint}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?})\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A JSON file, parsed (a panic naming the file otherwise).
pub fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Copy the oracle run's instance log folders into `model_dir` (the official
/// `logs/run_evaluation/<run>/<model>/` layout), one folder per instance.
pub fn copy_oracle_logs(model_dir: &Path) {
    for entry in std::fs::read_dir(oracle_logs()).expect("oracle logs") {
        let entry = entry.expect("entry");
        if entry.path().is_dir() {
            let dst = model_dir.join(entry.file_name());
            std::fs::create_dir_all(&dst).expect("mkdir");
            for f in std::fs::read_dir(entry.path()).expect("instance dir") {
                let f = f.expect("file");
                std::fs::copy(f.path(), dst.join(f.file_name())).expect("copy");
            }
        }
    }
}

/// The interpreter of a parity environment: `$VAR`, else `target/parity/VENV/bin/python`
/// (what `scripts/setup-parity-env.sh` makes); a panic naming the script when it is missing.
pub fn parity_python(var: &str, venv: &str) -> String {
    let py = std::env::var(var).unwrap_or_else(|_| {
        root()
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

/// Headless chromium with `args`; a panic when it is missing or fails.
pub fn chromium(args: &[&str]) -> Output {
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .expect("chromium must be installed (apt-get install -y chromium)");
    assert!(
        o.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}
