//! The 4.x and 5.x patch-apply cascades against the real Docker engine, on the edge cases
//! where they differ (a patch applied twice, an already-applied patch, context drift) and
//! the symbolic-link rule. Side by side with the official harnesses on real instances:
//! `tests/real_instances.rs`. These tests FAIL when the engine is unreachable.

use std::time::Duration;

use agentless_harness::sandbox::{
    ApplyOutcome, ApplySequence, ApplyStrategy, DockerEnv, RefusalReason, Sandbox, SandboxOptions,
};

use crate::common::{repo_sandbox, unique};

/// A sandbox with a committed `f.txt` of ten lines in `/testbed`.
async fn repo(env: &DockerEnv, run: &str) -> Sandbox {
    let mut o = SandboxOptions::new(run);
    o.memory_bytes = Some(512 << 20);
    o.cpus = Some(1.0);
    repo_sandbox(env, &o).await
}

async fn reset(sb: &Sandbox) {
    let r = sb
        .exec(
            &["sh", "-c", "git checkout -- . && git clean -fdq"],
            Duration::from_secs(30),
        )
        .await
        .expect("reset");
    assert_eq!(r.exit_code, Some(0));
}

async fn head(sb: &Sandbox) -> String {
    let text = String::from_utf8(sb.read_file("/testbed/f.txt").await.expect("read")).expect("utf8");
    text.lines().take(3).collect::<Vec<_>>().join("|")
}

fn strategies(o: &ApplyOutcome) -> (Option<ApplyStrategy>, Vec<ApplyStrategy>) {
    match o {
        ApplyOutcome::Applied { strategy, failed, .. } => {
            (Some(*strategy), failed.iter().map(|f| f.strategy).collect())
        }
        ApplyOutcome::Failed { attempts } => (None, attempts.iter().map(|f| f.strategy).collect()),
        ApplyOutcome::Refused(r) => panic!("refused: {r}"),
    }
}

const CLEAN: &str =
    "diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n line 1\n-line 2\n+line two\n line 3\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_5x_cascade_differs_from_4x_where_5x_does() {
    use ApplyStrategy as S;
    let env = DockerEnv::connect()
        .await
        .expect("the Docker engine must be reachable for these tests (DOCKER_HOST)");
    let run = unique("t-realinst-apply");
    let sb = repo(&env, &run).await;

    // A patch whose change is given twice. 4.x: `--reject` applies the first copy, then
    // `patch --batch` takes the first copy as reversed (undoes it) and applies the second: exit
    // 0. 5.x: from a reset tree `patch --forward` skips the second copy and fails; the reverse
    // check fails too.
    let twice = format!("{CLEAN}{CLEAN}");
    let v4 = sb.apply_patch_with(&twice, ApplySequence::V4).await.expect("apply");
    assert_eq!(
        strategies(&v4),
        (Some(S::PatchFuzz), vec![S::GitApply, S::GitApplyReject])
    );
    assert_eq!(head(&sb).await, "line 1|line two|line 3");
    reset(&sb).await;
    let v5 = sb.apply_patch_with(&twice, ApplySequence::V5).await.expect("apply");
    assert_eq!(
        strategies(&v5),
        (
            None,
            vec![S::GitApply, S::GitApply3Way, S::GitApplyReject, S::PatchFuzzForward]
        )
    );
    reset(&sb).await;

    // Already in the work tree. 5.x: the first attempt fails, the reset restores the file
    // from the index, `git apply --3way` applies it (and stages it). Then already in the
    // index too: the reset keeps it, `--3way` cannot run (the patch names blobs the
    // repository lacks), `--forward` refuses, and `git apply --check --reverse` accepts it.
    // 4.x on the same tree: `patch --batch` reverses it and reports success.
    assert!(
        sb.apply_patch_with(CLEAN, ApplySequence::V4)
            .await
            .expect("apply")
            .applied()
    );
    let v5 = sb.apply_patch_with(CLEAN, ApplySequence::V5).await.expect("apply");
    assert_eq!(strategies(&v5), (Some(S::GitApply3Way), vec![S::GitApply]));
    assert_eq!(head(&sb).await, "line 1|line two|line 3");
    let unknown_blobs = CLEAN.replace("--- a/f.txt", "index 1234567..89abcde 100644\n--- a/f.txt");
    let v5 = sb
        .apply_patch_with(&unknown_blobs, ApplySequence::V5)
        .await
        .expect("apply");
    assert_eq!(
        strategies(&v5),
        (
            Some(S::AlreadyApplied),
            vec![S::GitApply, S::GitApply3Way, S::GitApplyReject, S::PatchFuzzForward]
        )
    );
    assert_eq!(head(&sb).await, "line 1|line two|line 3");
    let v4 = sb.apply_patch_with(CLEAN, ApplySequence::V4).await.expect("apply");
    assert_eq!(strategies(&v4).0, Some(S::PatchFuzz));
    assert_eq!(head(&sb).await, "line 1|line 2|line 3", "4.x reversed the patch");
    reset(&sb).await;

    // Context drift: only `patch --fuzz` applies it; 5.x tried `--3way` on the way.
    let drift = "--- a/f.txt\n+++ b/f.txt\n@@ -5,5 +5,5 @@\n line 5\n line 6\n-line 7\n+line seven\n line 8\n line 9 (changed upstream)\n";
    let v4 = sb.apply_patch_with(drift, ApplySequence::V4).await.expect("apply");
    assert_eq!(
        strategies(&v4),
        (Some(S::PatchFuzz), vec![S::GitApply, S::GitApplyReject])
    );
    reset(&sb).await;
    let v5 = sb.apply_patch_with(drift, ApplySequence::V5).await.expect("apply");
    assert_eq!(
        strategies(&v5),
        (
            Some(S::PatchFuzzForward),
            vec![S::GitApply, S::GitApply3Way, S::GitApplyReject]
        )
    );
    // 5.x reset the tree before `patch`: no `.rej` left by the `--reject` attempt.
    let rej = sb
        .exec(&["sh", "-c", "ls *.rej 2>/dev/null | wc -l"], Duration::from_secs(10))
        .await
        .expect("ls");
    assert_eq!(rej.text().trim(), "0");
    reset(&sb).await;

    // A relative link inside the repository applies; one leaving it is refused by name.
    let link = |target: &str| {
        format!(
            "diff --git a/docs/latest b/docs/latest\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n\
             +++ b/docs/latest\n@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
        )
    };
    for seq in [ApplySequence::V4, ApplySequence::V5] {
        let ok = sb.apply_patch_with(&link("../f.txt"), seq).await.expect("apply");
        assert_eq!(strategies(&ok).0, Some(S::GitApply), "{seq:?}");
        let read = sb
            .exec(&["cat", "docs/latest"], Duration::from_secs(10))
            .await
            .expect("cat");
        assert!(read.text().starts_with("line 1"), "{}", read.text());
        reset(&sb).await;
        match sb.apply_patch_with(&link("../../etc"), seq).await.expect("apply") {
            ApplyOutcome::Refused(r) => {
                assert_eq!(r.path, "docs/latest");
                assert_eq!(
                    r.reason,
                    RefusalReason::SymlinkOutside {
                        target: "../../etc".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
    }
    sb.remove().await.expect("remove");
    let left = env.list_labelled(Some(&run)).await.expect("list");
    assert!(left.is_empty(), "{left:?}");
}
