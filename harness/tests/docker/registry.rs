//! The pull path against a real registry on loopback (Debian's `docker-registry`, the
//! reference distribution registry): an instance image pushed there, removed locally, and
//! evaluated with the namespace pointing at it is pulled and resolves; a registry that is
//! down and an image that is missing each give a clear error for that instance.
//!
//! Needs the Docker engine and the `docker-registry` binary (apt-get install
//! docker-registry); the test FAILS when either is missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::evaluate::{EvalConfig, EvalError, EvalOutcome, InfraStage, RunProgress, run_evaluation};
use agentless_harness::images::{self, ImageOptions, Namespace, NoImageProgress};
use agentless_harness::predictions::gold_predictions;
use agentless_harness::sandbox::{CancellationToken, DockerEnv};
use futures::StreamExt as _;

use crate::common::mini_fixture as fixture;

struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_registry() -> Registry {
    let bin = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("docker-registry is not installed (apt-get install docker-registry): this test needs a real registry");
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.path().join("data").display()
    );
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).expect("config");
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start registry");
    let reg = Registry { child, port, _dir: dir };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/v2/")).send().await
            && r.status().is_success()
        {
            return reg;
        }
        assert!(Instant::now() < deadline, "the registry did not come up on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records what the run reported about images.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);
impl RunProgress for Seen {
    fn image_status(&self, image: &str, message: &str) {
        self.0.lock().expect("lock").push(format!("{image}: {message}"));
    }
}

fn renamed(inst: &Instance, id: &str) -> Instance {
    let mut i = inst.clone();
    i.instance_id = id.to_owned();
    i
}

async fn remove_image(env: &DockerEnv, name: &str) {
    let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default()
        .force(true)
        .build();
    match env.docker().remove_image(name, Some(opts), None).await {
        Ok(_) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => panic!("removing {name}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn images_are_pulled_from_the_namespace_registry_and_failures_name_the_image() {
    let env = DockerEnv::connect()
        .await
        .expect("the Docker engine must be reachable (DOCKER_HOST)");
    let registry = start_registry().await;
    let ns = format!("127.0.0.1:{}/agentless", registry.port);
    let base = load_dataset(&fixture().join("instances.jsonl")).expect("fixture");
    // Distinct ids so that the images of other tests are never touched.
    let pushed = renamed(&base[0], "agentless-demo__textkit-pull1");
    let missing = renamed(&base[1], "agentless-demo__textkit-pull2");

    // Build the image locally, push it under the namespace name, then remove every local copy.
    let local_opts = ImageOptions {
        demo_repos: Some(fixture().join("repos")),
        ..Default::default()
    };
    let local = images::ensure_instance_image(&env, &pushed, &local_opts, &NoImageProgress)
        .await
        .expect("build");
    let remote_opts = ImageOptions {
        namespace: Namespace::Remote(ns.clone()),
        ..Default::default()
    };
    let remote = images::plan_image(&pushed, &remote_opts).name;
    assert_eq!(
        remote,
        format!(
            "{ns}/sweb.eval.{}.agentless-demo_1776_textkit-pull1:latest",
            images::Arch::host().as_str()
        )
    );
    let (repo, tag) = images::naming::split_tag(&remote);
    env.docker()
        .tag_image(
            &local,
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::default()
                    .repo(repo)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .expect("tag");
    let mut push = env.docker().push_image(
        repo,
        Some(
            bollard::query_parameters::PushImageOptionsBuilder::default()
                .tag(tag)
                .build(),
        ),
        None,
    );
    while let Some(item) = push.next().await {
        item.expect("push");
    }
    remove_image(&env, &remote).await;
    remove_image(&env, &local).await;
    assert!(!images::image_exists(&env, &remote).await.expect("inspect"));

    // Evaluate with --namespace pointing at the registry: pulled, then resolved.
    let run_id = format!("t-pull-{}", std::process::id());
    let mut cfg = EvalConfig::new(&run_id);
    let logs = tempfile::tempdir().expect("tmp");
    cfg.log_root = logs.path().join("logs/run_evaluation");
    cfg.images = remote_opts.clone();
    cfg.timeout = Duration::from_secs(120);
    let dataset = vec![pushed.clone(), missing.clone()];
    let preds = gold_predictions(&dataset);
    let seen = Seen::default();
    let summary = run_evaluation(
        &env,
        &dataset,
        &preds,
        &cfg,
        logs.path(),
        &seen,
        &CancellationToken::new(),
    )
    .await
    .expect("run");
    assert_eq!(
        summary.results[0].outcome,
        EvalOutcome::Resolved,
        "{:?}",
        summary.results[0]
    );
    assert!(
        images::image_exists(&env, &remote).await.expect("inspect"),
        "the image was pulled"
    );
    assert!(
        seen.0
            .lock()
            .expect("lock")
            .iter()
            .any(|s| s.starts_with(&remote) && s.contains("pulling"))
    );
    // Never pushed: a clear error for that instance only.
    match &summary.results[1].outcome {
        EvalOutcome::Error(EvalError::Infra {
            stage: InfraStage::Image,
            message,
        }) => {
            assert!(
                message.contains("agentless-demo_1776_textkit-pull2") && message.contains("pulling it failed"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let report = summary.report.expect("run report");
    assert_eq!(report.resolved_ids, vec![pushed.instance_id.clone()]);
    assert_eq!(report.error_ids, vec![missing.instance_id.clone()]);

    // The registry is down: the pull fails with a message naming the image and the cause.
    let port = registry.port;
    drop(registry);
    remove_image(&env, &remote).await;
    let err = images::ensure_instance_image(&env, &pushed, &remote_opts, &NoImageProgress)
        .await
        .expect_err("registry down");
    let msg = err.to_string();
    assert!(
        msg.contains(&remote) && msg.contains(&format!("127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(env.list_labelled(Some(&run_id)).await.expect("list").is_empty());
}
