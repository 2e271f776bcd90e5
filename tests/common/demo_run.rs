//! A real demo run for tests: `agentless-mini eval --split demo --model replay:FILE` on the
//! real Docker engine, with the recorded answers of [`super::replay::write_demo_replay`] (five
//! samples per instance — correct, wrong, reformatted and malformed answers — so that the
//! rerank has votes, execution results and a reproduction test that overturns plain voting).

use std::path::{Path, PathBuf};

use super::replay::{demo_repair_order, write_demo_replay};
use super::{assert_success, bin, demo_repos};

/// A demo run's folders.
pub struct DemoRun {
    pub run_dir: PathBuf,
    pub replay: PathBuf,
    pub repos: PathBuf,
}

impl DemoRun {
    /// The pipeline flags shared by `eval` and the single-stage commands on this run.
    pub fn pipeline_args(&self, run_dir: &Path) -> Vec<String> {
        [
            "--split",
            "demo",
            "--model",
            &format!("replay:{}", self.replay.display()),
            "--num-samples",
            "5",
            "--loc-samples",
            "1",
            "--repro-samples",
            "1",
            "--run-dir",
            &run_dir.display().to_string(),
            "--repos-dir",
            &self.repos.display().to_string(),
            "--demo-repos",
            &demo_repos().display().to_string(),
            "--no-progress",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// `eval`'s arguments for this run, with `extra` flags at the end.
    pub fn eval_args(&self, extra: &[&str]) -> Vec<String> {
        let mut argv = vec!["eval".to_owned()];
        argv.extend(self.pipeline_args(&self.run_dir));
        argv.extend(
            ["--workers", "4", "--timeout", "300", "--repro-timeout", "120"]
                .iter()
                .chain(extra)
                .map(|s| (*s).to_owned()),
        );
        argv
    }
}

/// The recorded answers of a demo run into `dir/replay.jsonl` (nothing runs yet).
pub fn prepare(dir: &Path) -> DemoRun {
    let demo = DemoRun {
        run_dir: dir.join("run"),
        replay: dir.join("replay.jsonl"),
        repos: dir.join("repos"),
    };
    write_demo_replay(&demo.eval_args(&[]), &demo.repos, &demo.replay, demo_repair_order);
    demo
}

/// Run the demo split into `dir/run` without the final evaluation (Docker; images are built
/// when missing).
pub fn demo_run(dir: &Path) -> DemoRun {
    let demo = prepare(dir);
    let out = bin().args(demo.eval_args(&["--no-evaluate"])).output().unwrap();
    assert_success("eval", &out);
    demo
}
