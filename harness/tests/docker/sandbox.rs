//! The sandbox and the image builder against the real Docker engine (no fakes). These tests
//! FAIL when the engine is unreachable: Docker is a requirement of this test suite.
//!
//! The demo base image (`agentless-mini/base:bookworm-py3`) is built once with debootstrap
//! and then cached by tag; later runs reuse it.

use std::time::Duration;

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::images::{self, ImageError, ImageOptions, NoImageProgress};
use agentless_harness::sandbox::{
    ApplyOutcome, ApplyStrategy, CancellationToken, DockerEnv, ExecSpec, RefusalReason, Sandbox, SandboxError,
    SandboxOptions,
};

use crate::common::{self, assert_no_containers, base, env, mini_fixture as fixture, unique};

fn opts(run_id: &str) -> SandboxOptions {
    let mut o = SandboxOptions::new(run_id);
    o.memory_bytes = Some(512 << 20);
    o.cpus = Some(1.0);
    o.pids_limit = Some(256);
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_runs_commands_with_labels_limits_and_no_network() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("t-basic");
    let mut o = opts(&run);
    o.instance_id = Some("x__y-1".into());
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    // Labels, limits, init, no privileges, no network — as the engine reports them.
    let info = env.docker().inspect_container(sb.id(), None).await.expect("inspect");
    let labels = info.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
    assert_eq!(labels.get("agentless-mini.run-id"), Some(&run));
    assert_eq!(
        labels.get("agentless-mini.instance-id").map(String::as_str),
        Some("x__y-1")
    );
    let host = info.host_config.expect("host config");
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.memory, Some(512 << 20));
    assert_eq!(host.pids_limit, Some(256));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.init, Some(true));

    let out = sb
        .exec(&["sh", "-c", "echo out; echo err >&2; exit 3"], Duration::from_secs(30))
        .await
        .expect("exec");
    assert_eq!(out.exit_code, Some(3));
    assert!(!out.timed_out && !out.truncated);
    let text = out.text();
    assert!(text.contains("out\n") && text.contains("err\n"), "{text:?}");

    // Only the loopback interface: no network.
    let net = sb
        .exec(&["ls", "/sys/class/net"], Duration::from_secs(30))
        .await
        .expect("exec");
    assert_eq!(net.text().split_whitespace().collect::<Vec<_>>(), vec!["lo"]);

    sb.write_file("/testbed/dir/hello.txt", b"hello\nworld\n")
        .await
        .expect("write");
    assert_eq!(
        sb.read_file("/testbed/dir/hello.txt").await.expect("read"),
        b"hello\nworld\n"
    );
    let cat = sb
        .exec(&["cat", "dir/hello.txt"], Duration::from_secs(30))
        .await
        .expect("exec");
    assert_eq!(cat.text(), "hello\nworld\n", "the working directory is /testbed");
    assert!(matches!(
        sb.write_file("relative", b"x").await,
        Err(SandboxError::Invalid(_))
    ));

    // An image without `timeout` cannot bound commands: a clear error, not a wrong verdict.
    let rm = sb
        .exec(&["rm", "/usr/bin/timeout"], Duration::from_secs(10))
        .await
        .expect("rm");
    assert_eq!(rm.exit_code, Some(0));
    match sb.exec(&["true"], Duration::from_secs(10)).await {
        Err(SandboxError::Invalid(msg)) => assert!(msg.contains("no `timeout` command"), "{msg}"),
        other => panic!("{other:?}"),
    }

    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_kills_the_command_inside_the_container() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("t-timeout");
    let sb = Sandbox::start(&env, &image, &opts(&run)).await.expect("start");
    let out = sb
        .exec(
            &["sh", "-c", "echo started; sleep 60; echo never"],
            Duration::from_secs(2),
        )
        .await
        .expect("exec");
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, Some(137));
    // Killed well before the 60 s sleep would have ended (no tighter wall-time bound: a loaded
    // machine can take seconds to start an exec).
    assert!(out.elapsed < Duration::from_secs(30), "{:?}", out.elapsed);
    assert_eq!(out.text(), "started\n");
    // The sleep is really gone, and the sandbox still works.
    let ps = sb
        .exec(
            &["sh", "-c", "ps -eo comm 2>/dev/null || ls /proc | grep -c '^[0-9]'"],
            Duration::from_secs(10),
        )
        .await
        .expect("ps");
    assert!(!ps.text().contains("sleep"), "{}", ps.text());
    let ok = sb.exec(&["true"], Duration::from_secs(10)).await.expect("exec");
    assert_eq!(ok.exit_code, Some(0));
    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_escaping_the_timeout_is_stopped_by_removing_the_container() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("t-escape");
    let sb = Sandbox::start(&env, &image, &opts(&run)).await.expect("start");
    // An image whose `timeout` does not enforce anything (broken, or a stub): the in-container
    // kill never comes, so the host timer must stop the command by removing the container.
    sb.write_file("/usr/local/bin/timeout", b"#!/bin/sh\nshift 3\nexec \"$@\"\n")
        .await
        .expect("write");
    let chmod = sb
        .exec(&["chmod", "+x", "/usr/local/bin/timeout"], Duration::from_secs(10))
        .await
        .expect("chmod");
    assert_eq!(chmod.exit_code, Some(0));
    let out = sb
        .exec(&["sh", "-c", "echo started; sleep 300"], Duration::from_secs(1))
        .await
        .expect("exec");
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, None, "the host timer fired");
    assert!(out.elapsed < Duration::from_secs(30), "{:?}", out.elapsed);
    assert_eq!(out.text(), "started\n");
    assert_no_containers(&env, &run).await;
    assert!(matches!(
        sb.exec(&["true"], Duration::from_secs(5)).await,
        Err(SandboxError::Gone { .. })
    ));
    sb.remove().await.expect("remove after the host kill is fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_running_exec_and_removes_the_container() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("t-cancel");
    let mut o = opts(&run);
    let cancel = CancellationToken::new();
    o.cancel = cancel.clone();
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let t = std::time::Instant::now();
    let res = sb.exec(&["sleep", "120"], Duration::from_secs(300)).await;
    assert!(matches!(res, Err(SandboxError::Cancelled)), "{res:?}");
    // Stopped well before the 120 s sleep would have ended.
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert_no_containers(&env, &run).await;
    drop(sb);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_capped_keeping_head_and_tail() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("t-cap");
    let mut o = opts(&run);
    o.output_limit = 1 << 20;
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    let out = sb
        .exec(
            &[
                "sh",
                "-c",
                "echo FIRST; head -c 50000000 /dev/zero | tr '\\0' x; echo; echo LAST",
            ],
            Duration::from_secs(60),
        )
        .await
        .expect("exec");
    assert_eq!(out.exit_code, Some(0));
    assert!(out.truncated);
    assert!(out.output.len() < (1 << 20) + 200, "{}", out.output.len());
    let text = out.text();
    assert!(text.starts_with("FIRST\n") && text.ends_with("LAST\n"));
    assert!(text.contains("bytes of output omitted"));
    sb.remove().await.expect("remove");
}

/// An eval script's stdout and stderr come back in the order the script wrote them. Docker
/// itself keeps no order across the two streams, so this holds only because
/// `ExecSpec::bash_script` puts both on one pipe; the script interleaves them line by line,
/// ending as eval.sh does, with an xtrace marker on stderr right after the last stdout line.
#[tokio::test(flavor = "multi_thread")]
async fn a_scripts_stdout_and_stderr_keep_their_order() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("t-order");
    let o = opts(&run);
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    let script = "set -x\nfor i in $(seq 1 3000); do echo \"out $i\"; echo \"err $i\" >&2; done\n: '>>>>> End'\n";
    sb.write_file("/tmp/order.sh", script.as_bytes()).await.expect("write");
    let spec = ExecSpec::bash_script("/tmp/order.sh", Duration::from_secs(120));
    let out = sb.exec_spec(&spec).await.expect("exec");
    assert_eq!(out.exit_code, Some(0));
    let text = out.text();
    // Only the lines the loop echoed, in the order they appear (xtrace lines start with '+').
    let echoed: Vec<&str> = text.lines().filter(|l| !l.starts_with('+')).collect();
    let expected: Vec<String> = (1..=3000)
        .flat_map(|i| [format!("out {i}"), format!("err {i}")])
        .collect();
    assert_eq!(echoed, expected);
    assert!(
        text.trim_end().ends_with("+ : '>>>>> End'"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    sb.remove().await.expect("remove");
}

/// A git repository in /testbed with one ten-line file.
async fn repo_sandbox(env: &DockerEnv, run: &str) -> Sandbox {
    common::repo_sandbox(env, &opts(run)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn patches_apply_with_the_official_cascade() {
    let env = env().await;
    let run = unique("t-apply");
    let sb = repo_sandbox(&env, &run).await;

    let clean =
        "diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n line 1\n-line 2\n+line two\n line 3\n";
    match sb.apply_patch(clean).await.expect("apply") {
        ApplyOutcome::Applied {
            strategy,
            output,
            failed,
        } => {
            assert_eq!(strategy, ApplyStrategy::GitApply);
            assert!(failed.is_empty());
            assert!(output.contains("Applied patch f.txt cleanly"), "{output}");
        }
        other => panic!("{other:?}"),
    }
    // Context that no longer matches exactly: git refuses, `patch --fuzz=5` applies it.
    let fuzzy = "--- a/f.txt\n+++ b/f.txt\n@@ -5,5 +5,5 @@\n line 5\n line 6\n-line 7\n+line seven\n line 8\n line 9 (changed upstream)\n";
    match sb.apply_patch(fuzzy).await.expect("apply") {
        ApplyOutcome::Applied { strategy, failed, .. } => {
            assert_eq!(strategy, ApplyStrategy::PatchFuzz);
            assert_eq!(
                failed.iter().map(|f| f.strategy).collect::<Vec<_>>(),
                vec![ApplyStrategy::GitApply, ApplyStrategy::GitApplyReject]
            );
        }
        other => panic!("{other:?}"),
    }
    let text = String::from_utf8(sb.read_file("/testbed/f.txt").await.expect("read")).expect("utf8");
    assert!(text.contains("line two") && text.contains("line seven"), "{text}");

    let garbage = "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n nothing like this\n-exists here\n+at all\n";
    match sb.apply_patch(garbage).await.expect("apply") {
        ApplyOutcome::Failed { attempts } => assert_eq!(attempts.len(), 3),
        other => panic!("{other:?}"),
    }

    // Outside the repository: refused before it runs, nothing written.
    let evil = "--- a/../../tmp/pwned\n+++ b/../../tmp/pwned\n@@ -0,0 +1 @@\n+pwned\n";
    match sb.apply_patch(evil).await.expect("apply") {
        ApplyOutcome::Refused(r) => assert_eq!(r.reason, RefusalReason::ParentTraversal),
        other => panic!("{other:?}"),
    }
    let check = sb
        .exec(
            &["sh", "-c", "test -e /tmp/pwned && echo yes || echo no"],
            Duration::from_secs(10),
        )
        .await
        .expect("exec");
    assert_eq!(check.text().trim(), "no");
    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

/// Progress that keeps every status line.
#[derive(Default)]
struct RecordProgress(std::sync::Mutex<Vec<String>>);

impl images::ImageProgress for RecordProgress {
    fn status(&self, image: &str, message: &str) {
        self.0.lock().expect("lock").push(format!("{image}: {message}"));
    }
}

fn mini_instances() -> Vec<Instance> {
    load_dataset(&fixture().join("instances.jsonl")).expect("fixture dataset")
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_instance_images_build_offline_at_the_dataset_base_commit() {
    let env = env().await;
    let inst = mini_instances().remove(0);
    let opts = ImageOptions {
        demo_repos: Some(fixture().join("repos")),
        ..Default::default()
    };
    let image = images::ensure_instance_image(&env, &inst, &opts, &NoImageProgress)
        .await
        .expect("build");
    assert_eq!(
        image,
        format!(
            "sweb.eval.{}.{}:latest",
            images::Arch::host().as_str(),
            inst.instance_id
        )
    );
    let run = unique("t-demo");
    let sb = Sandbox::start(&env, &image, &SandboxOptions::new(&run))
        .await
        .expect("start");
    let head = sb
        .exec(&["git", "rev-parse", "HEAD"], Duration::from_secs(10))
        .await
        .expect("exec");
    assert_eq!(head.text().trim(), inst.base_commit);
    let status = sb
        .exec(&["git", "status", "--porcelain"], Duration::from_secs(10))
        .await
        .expect("exec");
    assert_eq!(status.text(), "", "clean tree");
    let pytest = sb
        .exec(
            &["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            Duration::from_secs(60),
        )
        .await
        .expect("exec");
    assert_eq!(pytest.exit_code, Some(0), "{}", pytest.text());
    sb.remove().await.expect("remove");
    // Cached: the second call builds nothing (same source label): it reports no build step.
    // (Seen through progress, not timed: a wall-time bound fails on a loaded machine.)
    let seen = RecordProgress::default();
    images::ensure_instance_image(&env, &inst, &opts, &seen)
        .await
        .expect("cached");
    assert_eq!(
        *seen.0.lock().expect("lock"),
        Vec::<String>::new(),
        "the cached image was rebuilt"
    );

    // A dataset base_commit the tree does not commit to fails the build, naming both.
    let mut wrong = inst.clone();
    wrong.instance_id = "agentless-demo__textkit-wrongsha".into();
    wrong.base_commit = "0".repeat(40);
    match images::ensure_instance_image(&env, &wrong, &opts, &NoImageProgress).await {
        Err(ImageError::BuildFailed { message, log_tail, .. }) => {
            let all = format!("{message}\n{log_tail}");
            assert!(
                all.contains("base commit mismatch") && all.contains(&inst.base_commit),
                "{all}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pulling_a_missing_image_is_a_clear_error() {
    let env = env().await;
    let mut inst = mini_instances().remove(0);
    // A registry on a closed loopback port: the pull fails, naming the image.
    inst.image = Some("127.0.0.1:9/agentless-mini/does-not-exist:latest".into());
    let err = images::ensure_instance_image(&env, &inst, &ImageOptions::default(), &NoImageProgress)
        .await
        .expect_err("no registry");
    let msg = err.to_string();
    assert!(matches!(err, ImageError::PullFailed { .. }), "{err:?}");
    assert!(
        msg.contains("127.0.0.1:9/agentless-mini/does-not-exist:latest"),
        "{msg}"
    );
}
