//! Recorded model answers for `eval --model replay:FILE`: each answer is keyed by the exact
//! request the pipeline sends, computed with the pipeline's own request builders from the
//! same command line (so the tests also pin that prompts are deterministic). The demo split's
//! answers come from `datasets/demo/samples` (localization and labelled repair answers:
//! correct, wrong, correct up to comments and formatting, malformed) and
//! `tests/fixtures/pipeline/repro_tests.json` (reproduction tests for two instances).

use std::collections::HashMap;
use std::path::Path;

use agentless_mini::cli::{Cli, Command as Cmd};
use agentless_mini::pipeline::context::Settings;
use agentless_mini::pipeline::llm::chat_request;
use agentless_mini::pipeline::repo::RepoCache;
use agentless_mini::pipeline::repro;
use agentless_mini::pipeline::sampling::Job;
use agentless_mini::pipeline::{localize, repair};
use clap::Parser as _;
use serde_json::{Value, json};

use super::{demo_repos, root};

/// One line of a replay file: the answer `text` to `job`'s request.
pub fn replay_line(job: &Job, text: &str) -> Value {
    let req = chat_request(&job.prompt, job.temperature, job.max_tokens, job.seed);
    json!({"key": agentless_model::replay::sample_key(&req, 0), "text": text})
}

/// The pipeline settings `agentless-mini ARGV` (an `eval` command line) runs with.
pub fn eval_settings(argv: &[String]) -> Settings {
    let cli = Cli::parse_from(std::iter::once("agentless-mini".to_owned()).chain(argv.iter().cloned()));
    let Cmd::Eval(eval) = cli.command else {
        panic!("not eval: {argv:?}")
    };
    eval.pipeline.settings()
}

/// A repository cache over `repos` seeded from the demo trees.
pub fn demo_cache(repos: &Path) -> RepoCache {
    RepoCache::new(repos.to_path_buf(), Some(demo_repos()))
}

/// Write the demo split's recorded answers for the `eval` command line `argv` to `replay`:
/// the recorded localization, the repair answers labelled `order(instance_id)` (one per
/// sample, so as many as `--num-samples`), and a reproduction test where the fixture has
/// one (a refusal otherwise). Returns each instance's labels.
pub fn write_demo_replay<O>(
    argv: &[String],
    repos: &Path,
    replay: &Path,
    order: O,
) -> HashMap<String, Vec<&'static str>>
where
    O: Fn(&str) -> Vec<&'static str>,
{
    let settings = eval_settings(argv);
    let cache = demo_cache(repos);
    let instances = agentless_mini::demo::instances().unwrap();
    let repro_tests: HashMap<String, Value> =
        serde_json::from_str(&fs_err::read_to_string(root().join("tests/fixtures/pipeline/repro_tests.json")).unwrap())
            .unwrap();
    let mut lines = Vec::new();
    let mut labels = HashMap::new();
    for inst in &instances {
        let samples: Value = serde_json::from_str(
            &fs_err::read_to_string(root().join(format!("datasets/demo/samples/{}.json", inst.instance_id))).unwrap(),
        )
        .unwrap();
        let snap = cache.snapshot(inst).unwrap();
        let tree = localize::tree_for(inst, &snap);
        let loc_job = localize::job(&settings, inst, &tree, 1, 0);
        lines.push(replay_line(
            &loc_job,
            samples["localization"]["output"].as_str().unwrap(),
        ));
        let files: Vec<String> = samples["localization"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        let sets = localize::location_sets([files]);
        let contents = repair::read_contents(inst, &snap, &sets);
        let by_label: HashMap<&str, &str> = samples["repair"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["label"].as_str().unwrap(), r["output"].as_str().unwrap()))
            .collect();
        let labelled = order(&inst.instance_id);
        for (i, label) in labelled.iter().enumerate() {
            let job = repair::job(&settings, inst, &sets, &contents, labelled.len(), i);
            lines.push(replay_line(&job, by_label[label]));
        }
        labels.insert(inst.instance_id.clone(), labelled);
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
    fs_err::write(replay, text).unwrap();
    labels
}

/// The repair answers of the five-sample demo runs, per sample index, by label.
pub fn demo_repair_order(instance_id: &str) -> Vec<&'static str> {
    if instance_id.contains("slugkit") {
        // Plain majority voting would pick `wrong` (two identical votes, earliest); the
        // reproduction test must overturn it.
        vec!["wrong", "wrong", "correct", "correct_reformatted", "malformed"]
    } else {
        vec!["malformed", "correct", "wrong", "correct_reformatted", "malformed"]
    }
}
