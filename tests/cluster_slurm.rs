//! `eval` and `evaluate` with `--executor slurm` on a real two-node Slurm cluster on
//! loopback (Debian's slurm-wlm and munge; `tests/slurm_cluster`), the demo split with the
//! recorded answers of `tests/pipeline/demo.rs`, the real Docker engine. The results must
//! equal a local run's byte for byte (predictions.jsonl) and value for value (the official
//! run report). The node-loss test kills a node in the middle of its task; the task must be
//! requeued, finish on the other node from the artifacts its predecessor finished (they
//! stay byte-identical), duplicate nothing and leave no container. Without Slurm, munge or
//! Docker the tests fail.

#![allow(clippy::unwrap_used, reason = "test code: any failure is the test failing")]
#![allow(clippy::print_stderr, reason = "timings for the test log")]

mod common;
mod slurm_cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::docker::containers_labelled;
use common::{assert_success, bin, demo_repos, read_json, walk};
use serde_json::Value;
use slurm_cluster::{Cluster, demo_eval_args, kill_pid, write_demo_replay};

/// The two tests share the machine's 2 CPUs and Docker: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What a local run of the demo gave.
struct Baseline {
    _tmp: tempfile::TempDir,
    replay: PathBuf,
    repos: PathBuf,
    run_dir: PathBuf,
    predictions: String,
    report: Value,
    seconds: f64,
}

const REPORT: &str = "agentless-mini.demo-slurm.json";

/// One local run (`--executor local`, the default) of the demo with recorded answers.
fn baseline() -> &'static Baseline {
    static B: OnceLock<Baseline> = OnceLock::new();
    B.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let replay = tmp.path().join("replay.jsonl");
        let repos = tmp.path().join("repos");
        write_demo_replay(&replay, &repos);
        let run_dir = tmp.path().join("local").join("demo-slurm");
        let t = Instant::now();
        let out = bin().args(demo_eval_args(&run_dir, &repos, &replay)).output().unwrap();
        assert_success("local eval", &out);
        let seconds = t.elapsed().as_secs_f64();
        eprintln!("local eval of the demo: {seconds:.1} s");
        Baseline {
            predictions: fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap(),
            report: read_json(&run_dir.join(REPORT)),
            _tmp: tmp,
            replay,
            repos,
            run_dir,
            seconds,
        }
    })
}

/// The cluster folder's task logs, for failure messages.
fn task_logs(cluster_dir: &Path) -> String {
    let mut s = String::new();
    for p in walk(cluster_dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".err") || name.ends_with(".out") || name.ends_with(".json") {
            s.push_str(&format!(
                "--- {}\n{}\n",
                p.display(),
                fs_err::read_to_string(&p).unwrap_or_default()
            ));
        }
    }
    s
}

/// The instance ids of the predictions of a shard's own file.
fn shard_ids(path: &Path) -> Vec<String> {
    fs_err::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["instance_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn eval_and_evaluate_through_slurm_equal_local_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let base = baseline();
    let cluster = Cluster::start(&["n1", "n2"], 2);
    let tmp = tempfile::tempdir().unwrap();

    // Ctrl-C in the front end (not a terminal): the jobs are cancelled with scancel, exit 130.
    let cancel_dir = tmp.path().join("cancelled").join("demo-slurm-cancel");
    let mut front = bin()
        .args(demo_eval_args(&cancel_dir, &base.repos, &base.replay))
        .args(["--executor", "slurm", "--shards", "2"])
        .env("SLURM_CONF", &cluster.conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let job_file = cancel_dir.join("cluster/job.json");
    let (array, final_job) = wait_for(Duration::from_secs(60), "the submission", || {
        let j: Value = serde_json::from_str(&fs_err::read_to_string(&job_file).ok()?).ok()?;
        Some((j["array_job"].as_str()?.to_owned(), j["final_job"].as_str()?.to_owned()))
    });
    slurm_cluster::run_ok(Command::new("kill").args(["-INT", &front.id().to_string()]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while front.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the front end did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = front.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains(&format!("cancelled jobs {array}, {final_job}")),
        "{stdout}"
    );
    for id in [&array, &final_job] {
        let s = cluster.show_job(id);
        assert!(
            s.lines().all(|l| l.contains("JobState=CANCELLED")),
            "job {id} cancelled: {s}"
        );
    }
    wait_for(Duration::from_secs(60), "the cancelled tasks' containers gone", || {
        containers_labelled("agentless-mini.run-id", "demo-slurm-cancel")
            .is_empty()
            .then_some(())
    });

    // eval: 4 shards over 2 nodes, then the final job.
    let run_dir = tmp.path().join("slurm").join("demo-slurm");
    let t = Instant::now();
    let out = bin()
        .args(demo_eval_args(&run_dir, &base.repos, &base.replay))
        .args(["--executor", "slurm", "--shards", "4", "--slurm-arg=--cpus-per-task=1"])
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .unwrap();
    let slurm_seconds = t.elapsed().as_secs_f64();
    let cdir = run_dir.join("cluster");
    assert!(
        out.status.success(),
        "slurm eval failed ({:?})\nstderr:\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        task_logs(&cdir)
    );
    eprintln!(
        "eval --executor slurm --shards 4: {slurm_seconds:.1} s (local {:.1} s)",
        base.seconds
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("evaluation: 5/5 resolved"),
        "the final job's summary is relayed: {stdout}"
    );
    assert!(stderr.contains("progress: localize"), "progress lines: {stderr}");
    assert!(stderr.contains("tasks:"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap(),
        base.predictions,
        "predictions.jsonl equals the local run's"
    );
    assert_eq!(
        read_json(&run_dir.join(REPORT)),
        base.report,
        "the run report equals the local run's"
    );
    // Every shard wrote its own files: disjoint predictions, together all five.
    let mut all = Vec::new();
    for i in 0..4 {
        let ids = shard_ids(&cdir.join(format!("shard-{i}/predictions.jsonl")));
        assert!(!ids.is_empty() && ids.len() <= 2, "shard {i}: {ids:?}");
        assert!(cdir.join(format!("shard-{i}/run.json")).is_file());
        assert_eq!(
            fs_err::read_to_string(cdir.join(format!("shard-{i}/exit")))
                .unwrap()
                .trim(),
            "0"
        );
        all.extend(ids);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "{all:?}");
    // Both nodes ran tasks.
    let nodes: Vec<String> = (0..4)
        .map(|i| {
            read_json(&cdir.join(format!("tasks/shard-{i}.json")))["node"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        nodes.iter().any(|n| n == "n1") && nodes.iter().any(|n| n == "n2"),
        "{nodes:?}"
    );
    assert!(containers_labelled("agentless-mini.run-id", "demo-slurm").is_empty());
    // `status` reads the finished run back.
    let st = bin()
        .args(["status", "--run-dir"])
        .arg(&run_dir)
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .unwrap();
    assert_success("status", &st);
    let st_out = String::from_utf8_lossy(&st.stdout);
    assert!(
        st_out.contains("evaluate 5/5") && st_out.contains("final job exited with 0"),
        "{st_out}"
    );

    // evaluate --predictions gold: locally, then over 2 tasks (with --detach + status --follow).
    let local_dir = tmp.path().join("gold-local");
    let slurm_dir = tmp.path().join("gold-slurm");
    let gold_args = |d: &Path| -> Vec<String> {
        [
            "--no-progress",
            "evaluate",
            "--split",
            "demo",
            "--predictions",
            "gold",
            "--run-id",
            "demo-slurm-gold",
            "--workers",
            "2",
            "--demo-repos",
            &demo_repos().display().to_string(),
            "--report-dir",
            &d.display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    fs_err::create_dir_all(&local_dir).unwrap();
    fs_err::create_dir_all(&slurm_dir).unwrap();
    let local = bin()
        .args(gold_args(&local_dir))
        .current_dir(&local_dir)
        .output()
        .unwrap();
    assert_success("local evaluate gold", &local);
    let submitted = bin()
        .args(gold_args(&slurm_dir))
        .args(["--executor", "slurm", "--shards", "2", "--detach"])
        .current_dir(&slurm_dir)
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .unwrap();
    assert_success("evaluate --detach", &submitted);
    let ids = String::from_utf8_lossy(&submitted.stdout).trim().to_owned();
    assert_eq!(ids.split(' ').count(), 2, "two job ids: {ids}");
    let gcdir = slurm_dir.join("demo-slurm-gold.cluster");
    let followed = bin()
        .args(["--progress-interval", "2", "status", "--follow", "--run-dir"])
        .arg(&gcdir)
        .current_dir(&slurm_dir)
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .unwrap();
    assert!(
        followed.status.success(),
        "status --follow: {}\n{}",
        String::from_utf8_lossy(&followed.stderr),
        task_logs(&gcdir)
    );
    let local_report = read_json(&local_dir.join("gold.demo-slurm-gold.json"));
    assert_eq!(local_report["resolved_instances"], 5, "{local_report}");
    assert_eq!(read_json(&slurm_dir.join("gold.demo-slurm-gold.json")), local_report);
    for i in 0..2 {
        assert!(
            gcdir.join(format!("shard-{i}/gold.demo-slurm-gold.json")).is_file(),
            "shard {i} report"
        );
    }
    let followed_out = String::from_utf8_lossy(&followed.stdout);
    assert!(followed_out.contains("5/5 instances resolved"), "{followed_out}");
    // The evaluation ran in the tasks: each instance's verdict was written once, by a shard.
    let logs = slurm_dir.join("logs/run_evaluation/demo-slurm-gold/gold");
    assert_eq!(walk(&logs).iter().filter(|p| p.ends_with("report.json")).count(), 5);
    assert!(containers_labelled("agentless-mini.run-id", "demo-slurm-gold").is_empty());
    drop(cluster);
}

/// Wait for `f` to give something, up to `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stage_finished(p: &Path) -> bool {
    fs_err::read_to_string(p)
        .map(|t| t.lines().last().is_some_and(|l| l.contains("\"type\":\"end\"")))
        .unwrap_or(false)
}

#[test]
fn a_node_lost_mid_run_is_requeued_and_resumes_without_duplicates() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let base = baseline();
    let mut cluster = Cluster::start(&["n1", "n2"], 2);
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("lost").join("demo-slurm");
    let cdir = run_dir.join("cluster");
    let t = Instant::now();
    // One task per node (2 CPUs each), so that the lost node's task must move.
    let mut front = bin()
        .args(demo_eval_args(&run_dir, &base.repos, &base.replay))
        .args(["--executor", "slurm", "--shards", "2", "--slurm-arg=--cpus-per-task=2"])
        .env("SLURM_CONF", &cluster.conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let instances: Vec<String> = agentless_mini::demo::instances()
        .unwrap()
        .into_iter()
        .map(|i| i.instance_id)
        .collect();
    // The task on n2, once one of its instances has finished repair (5 samples) and one of
    // its containers is running (so that the loss leaves it behind).
    let (shard, attempt) = wait_for(Duration::from_secs(240), "a task on n2 with finished repair", || {
        (0..2).find_map(|i| {
            let a: Value =
                serde_json::from_str(&fs_err::read_to_string(cdir.join(format!("tasks/shard-{i}.json"))).ok()?).ok()?;
            if a["node"] != "n2" || cdir.join(format!("shard-{i}/exit")).exists() {
                return None;
            }
            let mine = instances.iter().enumerate().filter(|(j, _)| j % 2 == i);
            let repaired = mine
                .clone()
                .any(|(_, id)| stage_finished(&run_dir.join(format!("instances/{id}/repair.jsonl"))));
            let busy = repaired && !containers_labelled("agentless-mini.shard", &format!("{i}/2")).is_empty();
            busy.then_some((i, a))
        })
    });
    let mine: Vec<&String> = instances
        .iter()
        .enumerate()
        .filter(|(j, _)| j % 2 == shard)
        .map(|(_, id)| id)
        .collect();
    // The node dies: slurmd, then the task's processes (the step daemon and agentless-mini).
    cluster.kill_node("n2");
    kill_pid(attempt["pid"].as_u64().unwrap());
    kill_pid(attempt["ppid"].as_u64().unwrap());
    let killed_at = t.elapsed().as_secs_f64();
    // What the dead task had finished: it must stay exactly as it is.
    let finished: Vec<(PathBuf, Vec<u8>)> = mine
        .iter()
        .flat_map(|id| walk(&run_dir.join(format!("instances/{id}"))))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && stage_finished(p))
        .map(|p| {
            let b = fs_err::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(!finished.is_empty());
    let orphans = containers_labelled("agentless-mini.shard", &format!("{shard}/2")).len();
    assert!(orphans > 0, "the dead task left its container");
    // Slurm requeues the task (Restarts=1, pending); its fixed requeue delay (BeginTime, about
    // 2 minutes) is skipped by making it eligible now, as an operator may.
    let array = read_json(&cdir.join("job.json"))["array_job"]
        .as_str()
        .unwrap()
        .to_owned();
    let task_id = format!("{array}_{shard}");
    wait_for(Duration::from_secs(60), "the task requeued", || {
        let s = cluster.show_job(&task_id);
        (s.contains("Restarts=1") && s.contains("JobState=PENDING")).then_some(())
    });
    slurm_cluster::run_ok(
        cluster
            .cmd("scontrol")
            .args(["update", &format!("jobid={task_id}"), "StartTime=now"]),
    );

    let deadline = Instant::now() + Duration::from_secs(420);
    let status = loop {
        if let Some(s) = front.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = front.kill();
            panic!("the run did not finish\n{}", task_logs(&cdir));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = front.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "slurm eval after node loss failed: {stderr}\n{}",
        task_logs(&cdir)
    );
    eprintln!(
        "node loss: killed n2 at {killed_at:.1} s ({orphans} container(s) of its shard alive), whole run {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(
        stderr.contains("1 requeued"),
        "the front end reported the requeue: {stderr}"
    );
    // Requeued, restarted on n1, and it said so.
    let again = read_json(&cdir.join(format!("tasks/shard-{shard}.json")));
    assert_eq!(again["node"], "n1", "{again}");
    assert_eq!(again["restart"], 1, "{again}");
    let err = fs_err::read_to_string(cdir.join(format!("task-{shard}.err"))).unwrap();
    assert!(err.contains(&format!("restart 1 of shard {shard}/2")), "{err}");
    assert!(
        err.contains("left by an earlier attempt"),
        "the new attempt removed the orphans: {err}"
    );
    // Nothing finished before the loss was recomputed.
    for (p, before) in &finished {
        assert_eq!(&fs_err::read(p).unwrap(), before, "{} was rewritten", p.display());
    }
    // Same results as local; nothing duplicated; no container left.
    assert_eq!(
        fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap(),
        base.predictions
    );
    assert_eq!(read_json(&run_dir.join(REPORT)), base.report);
    for id in &instances {
        let repair = fs_err::read_to_string(run_dir.join(format!("instances/{id}/repair.jsonl"))).unwrap();
        let mut idx: Vec<u64> = repair
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "record" && v["data"]["kind"] == "sample")
            .map(|v| v["data"]["index"].as_u64().unwrap())
            .collect();
        idx.sort_unstable();
        assert_eq!(idx, vec![0, 1, 2, 3, 4], "{id}: each sample once");
    }
    assert!(
        containers_labelled("agentless-mini.run-id", "demo-slurm").is_empty(),
        "no container left"
    );
    drop(cluster);
}

#[test]
fn plan_measures_a_recorded_run() {
    let base = baseline();
    let out = bin()
        .args([
            "plan",
            "--split",
            "demo",
            "--num-samples",
            "5",
            "--loc-samples",
            "1",
            "--repro-samples",
            "1",
            "--json",
            "--from-run",
        ])
        .arg(&base.run_dir)
        .output()
        .unwrap();
    assert_success("plan", &out);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 5 instances × (1 localization + 5 repair + 1 test file + 1 test + 1 regression filter).
    assert_eq!(plan["completions"], 45.0, "{plan}");
    assert!(
        plan["costs"]["source"].as_str().unwrap().starts_with("measured on"),
        "{plan}"
    );
    // Candidate containers ran for seconds each; at most 5 distinct candidates of 5 samples.
    let secs = plan["costs"]["candidate_run_s"].as_f64().unwrap();
    assert!(secs > 0.5 && secs < 300.0, "{plan}");
    let share = plan["costs"]["distinct_share"].as_f64().unwrap();
    assert!(share > 0.0 && share <= 1.0, "{plan}");
    eprintln!("plan from the demo run: {secs:.1} s per candidate container, {share:.2} distinct share");
}
