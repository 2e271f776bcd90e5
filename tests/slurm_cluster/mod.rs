//! Test helpers: a real Slurm cluster on loopback (Debian's `slurmctld` and one `slurmd -N
//! NAME` per node, all in the foreground as children of the test, configured in a temporary
//! folder with free ports; `munged` started when it is not running), the `eval` command line
//! of the demo with recorded answers (those of `tests/pipeline/demo.rs`, written by
//! `tests/common/replay.rs`), and killing a process. A missing Slurm or munge fails the test
//! with what to install.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test helpers: any failure is the test failing"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::replay::{demo_repair_order, write_demo_replay as write_replay};
use crate::common::{demo_repos, run_ok_hint};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Run a Slurm or munge program; its stdout, or a panic with its output (and what installs
/// the program, when it cannot start).
pub fn run_ok(cmd: &mut Command) -> String {
    run_ok_hint(cmd, "(scripts/setup.sh --tests installs slurm-wlm and munge)")
}

/// `munged` answers, or is started as Debian's package would (root only).
pub fn ensure_munge() {
    let works = || {
        Command::new("sh")
            .args(["-c", "munge -n | unmunge"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return;
    }
    run_ok(Command::new("sh").args([
        "-c",
        "test -s /etc/munge/munge.key || mungekey -c; chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key \
         && mkdir -p /run/munge && chown munge:munge /run/munge && runuser -u munge -- /usr/sbin/munged --force",
    ]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !works() {
        assert!(Instant::now() < deadline, "munged does not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running cluster: controller and nodes, stopped (jobs cancelled first) on drop.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    controller: Child,
    nodes: Vec<(String, Option<Child>)>,
}

impl Cluster {
    /// Start a controller and nodes `names`, each with `cpus` CPUs, and wait until every
    /// node is idle.
    pub fn start(names: &[&str], cpus: u32) -> Cluster {
        ensure_munge();
        let dir = tempfile::Builder::new().prefix("am-slurm-").tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        fs_err::create_dir_all(d.join("state")).unwrap();
        fs_err::create_dir_all(d.join("spool")).unwrap();
        let mut conf = format!(
            "ClusterName=amtest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={}\nAuthType=auth/munge\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nReturnToService=2\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd-%n.pid\nSlurmdSpoolDir={d}/spool/%n\n\
             StateSaveLocation={d}/state\nSlurmUser=root\nSchedulerType=sched/backfill\n\
             SchedulerParameters=sched_interval=2,bf_interval=2\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\nSlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd-%n.log\n\
             JobCompType=jobcomp/none\nJobAcctGatherType=jobacct_gather/none\nMpiDefault=none\n",
            free_port(),
            d = d.display()
        );
        for n in names {
            conf.push_str(&format!(
                "NodeName={n} NodeHostname=localhost NodeAddr=127.0.0.1 Port={} CPUs={cpus} RealMemory=8000 State=UNKNOWN\n",
                free_port()
            ));
        }
        conf.push_str(&format!(
            "PartitionName=main Nodes={} Default=YES MaxTime=INFINITE State=UP\n",
            names.join(",")
        ));
        let conf_path = d.join("slurm.conf");
        fs_err::write(&conf_path, conf).unwrap();
        let spawn = |program: &str, args: &[&str], log: &str| -> Child {
            let out = fs_err::File::create(d.join(log)).unwrap().into_parts().0;
            let err = out.try_clone().unwrap();
            Command::new(program)
                .args(args)
                .env("SLURM_CONF", &conf_path)
                .stdout(out)
                .stderr(err)
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {program}: {e} (scripts/setup.sh --tests installs slurm-wlm)"))
        };
        let controller = spawn("slurmctld", &["-D"], "slurmctld.stdout");
        let mut cluster = Cluster {
            conf: conf_path.clone(),
            controller,
            nodes: Vec::new(),
            dir,
        };
        // The controller first, then the nodes.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster
            .cmd("sinfo")
            .arg("-h")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                Instant::now() < deadline,
                "slurmctld did not come up: {}",
                cluster.log("slurmctld.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        for n in names {
            let child = spawn("slurmd", &["-D", "-N", n], &format!("slurmd-{n}.stdout"));
            cluster.nodes.push(((*n).to_owned(), Some(child)));
        }
        loop {
            let states = run_ok(cluster.cmd("sinfo").args(["-h", "-N", "-o", "%N %T"]));
            let idle = states.lines().filter(|l| l.ends_with(" idle")).count();
            if idle == names.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nodes not idle: {states}\n{}",
                cluster.log("slurmctld.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster
    }

    /// A Slurm command against this cluster.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    pub fn log(&self, name: &str) -> String {
        fs_err::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// `scontrol -o show job ID`, one line per task.
    pub fn show_job(&self, id: &str) -> String {
        run_ok(self.cmd("scontrol").args(["-o", "show", "job", id]))
    }

    /// The node dies: its `slurmd` is killed and the controller is told it is down (the
    /// job processes it started live on; the caller ends them by their ids).
    pub fn kill_node(&mut self, name: &str) {
        let slot = self.nodes.iter_mut().find(|(n, _)| n == name).unwrap();
        if let Some(mut child) = slot.1.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        run_ok(self.cmd("scontrol").args([
            "update",
            &format!("nodename={name}"),
            "state=down",
            "reason=node-loss-test",
        ]));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.cmd("scancel").args(["--user", "root"]).output();
        std::thread::sleep(Duration::from_millis(500));
        for (_, child) in &mut self.nodes {
            if let Some(c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = self.controller.kill();
        let _ = self.controller.wait();
    }
}

/// SIGKILL a process by id.
pub fn kill_pid(pid: u64) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}

/// `eval` on the demo split with recorded answers (the flags of `tests/pipeline/demo.rs`).
pub fn demo_eval_args(run_dir: &Path, repos: &Path, replay: &Path) -> Vec<String> {
    [
        "--no-progress",
        "--progress-interval",
        "2",
        "eval",
        "--split",
        "demo",
        "--model",
        &format!("replay:{}", replay.display()),
        "--num-samples",
        "5",
        "--loc-samples",
        "1",
        "--repro-samples",
        "1",
        "--run-dir",
        &run_dir.display().to_string(),
        "--repos-dir",
        &repos.display().to_string(),
        "--demo-repos",
        &demo_repos().display().to_string(),
        "--workers",
        "2",
        "--timeout",
        "300",
        "--repro-timeout",
        "120",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Write the demo's recorded answers to `replay`, keyed by the exact requests the pipeline
/// sends for [`demo_eval_args`] (five repair samples, as `tests/pipeline/demo.rs`).
pub fn write_demo_replay(replay: &Path, repos: &Path) {
    let argv = demo_eval_args(Path::new("unused"), repos, replay);
    write_replay(&argv, repos, replay, demo_repair_order);
}
