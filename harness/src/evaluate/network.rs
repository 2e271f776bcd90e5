//! The network policy of an evaluation, and the gate that takes the network away before the
//! tests run.
//!
//! Every Verified eval script re-installs the package before its test command, and on the
//! official images that reaches the package index; the official harness gives containers a
//! network for the whole run. The default here ([`NetworkPolicy::InstallOnly`]) gives the
//! network to everything before the test command and nothing after it: the eval script is
//! gated just before the start marker ([`gate_script`]): it announces that it reached the
//! gate and waits; the harness disconnects the container from the network, then lets it go.
//! One script, one shell, one exec: the environment the install set up stays as it is, and
//! the test command runs with only a loopback interface. If the disconnect fails the tests
//! never run (the instance is an infrastructure error).
//!
//! Why not two execs (install, then tests)? The eval script is one shell program (`set -x`,
//! an activated environment, variables, `cd`); splitting it would change what it does and
//! what it prints. The gate lines print nothing (shell tracing off), and sit outside the
//! graded region.
//!
//! What the install steps run with the network includes the patch's `setup.py` and build
//! hooks, as on the official harness. `--network none` takes the network away for the
//! whole run; the re-install then fails where it needs the index, which the integrity check
//! `reinstall_failed` reports ([`crate::integrity::install`]).

use crate::grade::START_TEST_OUTPUT;

/// The file the script creates when it reaches the gate.
pub const GATE_REACHED: &str = "/tmp/.agentless-mini-install-done";
/// The file the harness creates once the network is gone.
pub const GATE_OPEN: &str = "/tmp/.agentless-mini-tests-go";

/// Which network a container of an evaluation gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkPolicy {
    /// No network at all (`--network none`): re-installs that need the index fail.
    None,
    /// `network` (a Docker network, e.g. `bridge`) until the test command, none during it.
    InstallOnly { network: String },
    /// `network` for the whole run (`--network MODE`), as the official harness does.
    Full { network: String },
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy::InstallOnly {
            network: "bridge".into(),
        }
    }
}

impl NetworkPolicy {
    /// The network the container starts with.
    pub fn start_network(&self) -> Option<&str> {
        match self {
            NetworkPolicy::None => None,
            NetworkPolicy::InstallOnly { network } | NetworkPolicy::Full { network } => Some(network),
        }
    }
}

/// `script` with the gate inserted just before its start marker, or None when the script has
/// no start marker (the caller then takes the network away before the script runs).
pub fn gate_script(script: &str) -> Option<String> {
    let lines: Vec<&str> = script.split('\n').collect();
    let start = lines.iter().position(|l| l.contains(START_TEST_OUTPUT))?;
    let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    out.push("{ __am_gx=${-//[^x]/}; set +x; } 2>/dev/null".to_owned());
    // The open file stays: the engine writes it by extracting an archive (create, then
    // lchown, chmod, times), and a script that removed it as soon as it appeared made that
    // extraction fail ("lchown ...: no such file or directory") under load, and with it the
    // instance (an infra error, no verdict).
    out.push(format!(
        ": > {GATE_REACHED}; while [ ! -e {GATE_OPEN} ]; do sleep 0.05; done; rm -f {GATE_REACHED}"
    ));
    out.push("if [ -n \"$__am_gx\" ]; then set -x; fi".to_owned());
    out.extend(lines[start..].iter().map(|l| (*l).to_owned()));
    Some(out.join("\n"))
}

/// The command that waits, in the container, until the script reaches the gate.
pub fn wait_for_gate_command() -> String {
    format!("while [ ! -e {GATE_REACHED} ]; do sleep 0.05; done")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_goes_just_before_the_start_marker_and_prints_nothing() {
        let script = "#!/bin/bash\nset -uxo pipefail\npython -m pip install .\n: '>>>>> Start Test Output'\npytest\n: '>>>>> End Test Output'\n";
        let gated = gate_script(script).unwrap();
        let lines: Vec<&str> = gated.lines().collect();
        assert_eq!(lines[2], "python -m pip install .");
        assert!(lines[3].starts_with("{ __am_gx="));
        assert!(lines[4].contains(GATE_OPEN));
        // Only the script's own file is removed, never the one the harness writes.
        assert!(lines[4].ends_with(&format!("rm -f {GATE_REACHED}")), "{}", lines[4]);
        assert_eq!(lines[6], ": '>>>>> Start Test Output'");
        assert_eq!(gate_script("echo no markers\n"), None);
        // Run it (no container): the gate waits for the open file, tracing stays quiet.
        let dir = std::env::temp_dir().join(format!("am-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let local = gated
            .replace(GATE_REACHED, &dir.join("reached").display().to_string())
            .replace(GATE_OPEN, &dir.join("open").display().to_string())
            .replace("python -m pip install .", "true")
            .replace("pytest", "echo tests");
        let reached = dir.join("reached");
        let open = dir.join("open");
        let opener = std::thread::spawn(move || {
            while !reached.exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::fs::write(&open, b"").unwrap();
        });
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&local)
            .output()
            .unwrap();
        opener.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "tests\n");
        assert!(
            !err.contains("am_gx") && !err.contains("sleep") && !err.contains("agentless"),
            "{err}"
        );
        assert!(err.contains("+ true") && err.contains("+ echo tests"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
