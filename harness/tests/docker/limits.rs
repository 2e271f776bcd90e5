//! The sandbox's limits against the real Docker engine, each proved by trying to break it:
//! a patch filling the disk (the writable-layer watchdog removes the container, a typed
//! outcome), a fork bomb (the pids limit), a memory hog (the memory limit), `mknod` and other
//! capabilities (all dropped but the kept list), and the optional size-limited `/tmp`.
//! These tests FAIL when the engine is unreachable. About 1 minute once the demo base image
//! exists.

use std::time::Duration;

use agentless_harness::sandbox::{KEPT_CAPABILITIES, LayerProbe, Sandbox, SandboxError, SandboxOptions};

use crate::common::{self, assert_no_containers, base, env};

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

fn local_engine() -> bool {
    std::env::var("DOCKER_HOST").map_or(true, |h| h.is_empty() || h.starts_with("unix://"))
}

fn unique(prefix: &str) -> String {
    common::unique(&format!("harden-{prefix}"))
}

fn opts(run_id: &str) -> SandboxOptions {
    let mut o = SandboxOptions::new(run_id);
    o.memory_bytes = Some(256 << 20);
    o.cpus = Some(1.0);
    o.pids_limit = Some(64);
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn filling_the_disk_removes_the_container_with_a_typed_outcome() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("disk");
    let mut o = opts(&run);
    o.disk_bytes = Some(64 << 20);
    o.disk_poll = Duration::from_millis(200);
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    // Under the limit: nothing happens.
    let small = sb
        .exec(
            &["dd", "if=/dev/zero", "of=/small", "bs=1M", "count=8"],
            Duration::from_secs(60),
        )
        .await
        .expect("exec");
    assert!(small.success(), "{}", small.text());
    assert_eq!(small.disk_exceeded, None);
    let used = sb.writable_layer_bytes().await.expect("size");
    assert!(used >= 8 << 20, "SizeRw {used}");
    // As root against a local engine, the watchdog walks the upper directory on the host (the
    // engine's SizeRw can take minutes under load on fuse-overlayfs); the two measures agree.
    let probe = sb.layer_probe().await.expect("probe");
    if running_as_root() && local_engine() {
        let LayerProbe::UpperDir(dir) = &probe else {
            panic!("a local engine run as root must give an upper directory to walk: {probe:?}")
        };
        let walked = agentless_harness::sandbox::allocated_bytes(dir).expect("walk");
        assert!(
            walked >= 8 << 20 && walked < used + (4 << 20),
            "walked {walked}, SizeRw {used}"
        );
    }
    // 3 GiB, slowly enough for the host's disk: stopped near 64 MiB.
    let t = std::time::Instant::now();
    let fill = sb
        .exec(
            &[
                "sh",
                "-c",
                "for i in $(seq 1 3072); do dd if=/dev/zero of=/fill.$i bs=1M count=1 2>/dev/null; done; echo done",
            ],
            Duration::from_secs(300),
        )
        .await
        .expect("exec");
    let over = fill.disk_exceeded.expect("the watchdog must stop the fill");
    assert_eq!(over.limit_bytes, 64 << 20);
    assert!(over.used_bytes > 64 << 20, "{over:?}");
    assert!(!fill.text().contains("done"), "{}", fill.text());
    assert_eq!(fill.exit_code, None);
    assert!(!fill.timed_out);
    assert!(t.elapsed() < Duration::from_secs(120), "took {:?}", t.elapsed());
    assert!(over.to_string().contains("over the disk limit of 64 MiB"), "{over}");
    // The container is gone: later calls say so.
    assert!(matches!(
        sb.exec(&["true"], Duration::from_secs(5)).await,
        Err(SandboxError::Gone { .. })
    ));
    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_are_dropped_and_mknod_fails() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("caps");
    let sb = Sandbox::start(&env, &image, &opts(&run)).await.expect("start");
    let info = env.docker().inspect_container(sb.id(), None).await.expect("inspect");
    let host = info.host_config.expect("host config");
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    let kept: Vec<String> = KEPT_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(host.cap_add, Some(kept));
    assert!(!KEPT_CAPABILITIES.contains(&"MKNOD"));
    let mknod = sb
        .exec(&["mknod", "/dev/null2", "c", "1", "3"], Duration::from_secs(30))
        .await
        .expect("exec");
    assert_ne!(mknod.exit_code, Some(0), "mknod must fail: {}", mknod.text());
    assert!(mknod.text().contains("Operation not permitted"), "{}", mknod.text());
    // The effective set as the kernel reports it: 7 bits, none of MKNOD (27), NET_RAW (13),
    // SYS_CHROOT (18), SETPCAP (8), NET_BIND_SERVICE (10), AUDIT_WRITE (29), SETFCAP (31).
    let status = sb
        .exec(&["sh", "-c", "grep CapEff /proc/self/status"], Duration::from_secs(30))
        .await
        .expect("exec");
    let hex = status.text().split_whitespace().nth(1).unwrap_or("").to_owned();
    let eff = u64::from_str_radix(&hex, 16).unwrap_or_else(|e| panic!("{hex:?}: {e}"));
    // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7.
    assert_eq!(eff, 0b1111_1011, "CapEff {hex}");
    // Root still writes into a folder it does not own (DAC_OVERRIDE is kept).
    let write = sb
        .exec(
            &[
                "sh",
                "-c",
                "mkdir -p /d && chown 1234 /d && chmod 700 /d && echo x > /d/f && cat /d/f",
            ],
            Duration::from_secs(30),
        )
        .await
        .expect("exec");
    assert_eq!(write.text().trim(), "x", "{}", write.text());
    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_hits_the_pids_limit_and_the_host_is_fine() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("pids");
    let mut o = opts(&run);
    o.pids_limit = Some(32);
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    let info = env.docker().inspect_container(sb.id(), None).await.expect("inspect");
    assert_eq!(info.host_config.and_then(|h| h.pids_limit), Some(32));
    let t = std::time::Instant::now();
    let bomb = sb
        .exec(
            &["bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 3; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; echo end"],
            Duration::from_secs(8),
        )
        .await;
    // Either the script reports the cap, or it could not even fork its last commands;
    // the engine answers and the container is removed either way.
    if let Ok(out) = &bomb {
        let text = out.text();
        assert!(
            text.contains("32")
                || text.contains("fork")
                || text.contains("Resource temporarily unavailable")
                || out.timed_out,
            "{text}"
        );
    }
    // Bounded: the timeout, then the host-side removal if the bomb outlived it.
    assert!(t.elapsed() < Duration::from_secs(60), "took {:?}", t.elapsed());
    // The engine still answers; a new container starts.
    sb.remove().await.expect("remove");
    let again = Sandbox::start(&env, &image, &o).await.expect("start after the bomb");
    let ok = again.exec(&["true"], Duration::from_secs(30)).await.expect("exec");
    assert!(ok.success());
    again.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_hog_is_stopped_by_the_memory_limit() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("mem");
    let mut o = opts(&run);
    o.memory_bytes = Some(64 << 20);
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    // Touches every byte (b"x" * n writes; a zeroed bytearray might not).
    let hog = sb
        .exec(
            &["python3", "-c", "x = b'x' * (512 << 20); print('allocated', len(x))"],
            Duration::from_secs(60),
        )
        .await
        .expect("exec");
    assert!(!hog.text().contains("allocated"), "{}", hog.text());
    assert!(
        hog.exit_code == Some(137) || hog.text().contains("MemoryError"),
        "exit {:?}: {}",
        hog.exit_code,
        hog.text()
    );
    // The container survives its process being killed.
    let after = sb.exec(&["true"], Duration::from_secs(30)).await.expect("exec");
    assert!(after.success());
    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tmp_can_be_a_size_limited_tmpfs() {
    let env = env().await;
    let image = base(&env).await;
    let run = unique("tmp");
    let mut o = opts(&run);
    o.tmp_bytes = Some(8 << 20);
    let sb = Sandbox::start(&env, &image, &o).await.expect("start");
    let fill = sb
        .exec(
            &[
                "sh",
                "-c",
                "grep ' /tmp ' /proc/mounts; dd if=/dev/zero of=/tmp/f bs=1M count=32",
            ],
            Duration::from_secs(60),
        )
        .await
        .expect("exec");
    let text = fill.text();
    assert!(text.contains("tmpfs /tmp tmpfs"), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert_ne!(fill.exit_code, Some(0));
    sb.remove().await.expect("remove");
    // Off by default: /tmp is the image's own.
    let run2 = unique("tmp-default");
    let sb = Sandbox::start(&env, &image, &opts(&run2)).await.expect("start");
    let mounts = sb
        .exec(
            &["sh", "-c", "grep ' /tmp ' /proc/mounts || echo none"],
            Duration::from_secs(30),
        )
        .await
        .expect("exec");
    assert_eq!(mounts.text().trim(), "none");
    sb.remove().await.expect("remove");
    assert_no_containers(&env, &run).await;
    assert_no_containers(&env, &run2).await;
}
