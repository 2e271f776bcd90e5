//! A real demo run for tests: `agentless-mini eval --split demo --model replay:FILE
//! --no-evaluate` on the real Docker engine, with recorded answers keyed by the exact requests
//! the pipeline sends (built with its own request builders from `datasets/demo/samples` and
//! `tests/fixtures/pipeline/repro_tests.json`, as `tests/pipeline_demo.rs` does): five samples
//! per instance — correct, wrong, reformatted and malformed answers — so that the rerank has
//! votes, execution results and a reproduction test that overturns plain voting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use agentless_mini::cli::{Cli, Command as Cmd};
use agentless_mini::pipeline::llm::chat_request;
use agentless_mini::pipeline::localize::{self, location_sets};
use agentless_mini::pipeline::repair;
use agentless_mini::pipeline::repo::RepoCache;
use agentless_mini::pipeline::repro;
use agentless_mini::pipeline::sampling::Job;
use clap::Parser as _;
use serde_json::{Value, json};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A finished demo run.
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
            &root().join("datasets/demo/repos").display().to_string(),
            "--no-progress",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}

/// The repair answers given, per sample index, by label.
pub fn repair_order(instance_id: &str) -> Vec<&'static str> {
    if instance_id.contains("slugkit") {
        // Plain majority voting would pick `wrong` (two identical votes, earliest); the
        // reproduction test must overturn it.
        vec!["wrong", "wrong", "correct", "correct_reformatted", "malformed"]
    } else {
        vec!["malformed", "correct", "wrong", "correct_reformatted", "malformed"]
    }
}

fn replay_line(job: &Job, text: &str) -> Value {
    let req = chat_request(&job.prompt, job.temperature, job.max_tokens, job.seed);
    json!({"key": agentless_model::replay::sample_key(&req, 0), "text": text})
}

impl DemoRun {
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
    let argv = demo.eval_args(&[]);
    let cli = Cli::parse_from(std::iter::once("agentless-mini".to_owned()).chain(argv.iter().cloned()));
    let Cmd::Eval(eval) = cli.command else {
        panic!("not eval")
    };
    let settings = eval.pipeline.settings();
    let cache = RepoCache::new(demo.repos.clone(), Some(root().join("datasets/demo/repos")));
    let instances = agentless_mini::demo::instances().unwrap();
    let repro_tests: HashMap<String, Value> =
        serde_json::from_str(&fs_err::read_to_string(root().join("tests/fixtures/pipeline/repro_tests.json")).unwrap())
            .unwrap();
    let mut lines = Vec::new();
    for inst in &instances {
        let samples: Value = serde_json::from_str(
            &fs_err::read_to_string(root().join(format!("datasets/demo/samples/{}.json", inst.instance_id))).unwrap(),
        )
        .unwrap();
        let snap = cache.snapshot(inst).unwrap();
        let tree = localize::tree_for(inst, &snap);
        lines.push(replay_line(
            &localize::job(&settings, inst, &tree, 1, 0),
            samples["localization"]["output"].as_str().unwrap(),
        ));
        let files: Vec<String> = samples["localization"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        let sets = location_sets([files]);
        let contents = repair::read_contents(inst, &snap, &sets);
        let by_label: HashMap<&str, &str> = samples["repair"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["label"].as_str().unwrap(), r["output"].as_str().unwrap()))
            .collect();
        for (i, label) in repair_order(&inst.instance_id).iter().enumerate() {
            let job = repair::job(&settings, inst, &sets, &contents, 5, i);
            lines.push(replay_line(&job, by_label[label]));
        }
        let file_job = repro::test_file_job(&settings, inst, &snap);
        match repro_tests.get(&inst.instance_id) {
            Some(t) => {
                let path = t["test_file"].as_str().unwrap();
                lines.push(replay_line(
                    &file_job,
                    &format!("The closest tests:\n\n```\n{path}\n```\n"),
                ));
                let job = repro::test_job(&settings, inst, &snap, Some(path), 1);
                lines.push(replay_line(
                    &job,
                    &format!("Here is a script:\n\n```python\n{}```\n", t["code"].as_str().unwrap()),
                ));
            }
            None => {
                lines.push(replay_line(&file_job, "I am not sure which file."));
                let job = repro::test_job(&settings, inst, &snap, None, 1);
                lines.push(replay_line(&job, "I cannot write a reproduction test for this issue."));
            }
        }
    }
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    fs_err::write(&demo.replay, text).unwrap();
    demo
}

/// Run the demo split into `dir/run` without the final evaluation (Docker; images are built
/// when missing).
pub fn demo_run(dir: &Path) -> DemoRun {
    let demo = prepare(dir);
    let out = Command::new(env!("CARGO_BIN_EXE_agentless-mini"))
        .args(demo.eval_args(&["--no-evaluate"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "eval failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    demo
}
