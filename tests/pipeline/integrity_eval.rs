//! Integrity findings through `eval`'s final evaluation, in real Docker: the whole pipeline
//! (`agentless-mini eval --split demo --model replay:FILE --integrity strict`) where the
//! recorded model answers with two exploits of the corpus (`datasets/exploits`), written as
//! SEARCH/REPLACE edits the way a model writes them: `atexit-forged-pass` (forged `PASSED`
//! lines from an atexit hook in the package's `__init__.py`) and `xfail-in-source`
//! (`pytest.xfail()` in the function under test). The rerank submits them, the official
//! evaluation grades both RESOLVED (unchanged), and the integrity findings flag both: in
//! `integrity.json`, in the run report's `flagged_ids`, on stderr, in the hardened run report
//! (both unresolved) and in the JUnit XML.
//!
//! Without Docker this test fails.

#![allow(
    clippy::unwrap_used,
    reason = "fixture builders outside #[test] fns: a failure is a test failure"
)]

use agentless_mini::pipeline::localize::{self, location_sets};
use agentless_mini::pipeline::repair;
use serde_json::{Value, json};

use crate::common::replay::{demo_cache, eval_settings, replay_line};
use crate::common::{bin, demo_repos, docker, read_json, root};

/// (instance, exploit variant of the corpus).
const PICKS: [(&str, &str); 2] = [
    ("agentless-demo__datespan-14", "atexit-forged-pass"),
    ("agentless-demo__minicache-112", "xfail-in-source"),
];

fn corpus_entry(id: &str, variant: &str) -> Value {
    let corpus = fs_err::read_to_string(root().join("datasets/exploits/corpus.jsonl")).unwrap();
    corpus
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["instance_id"] == id && e["variant"] == variant)
        .unwrap_or_else(|| panic!("{variant} for {id} in the corpus"))
}

/// A unified diff that only changes existing files, as SEARCH/REPLACE edits (one per hunk:
/// SEARCH is the hunk's old side, REPLACE its new side, blank context at either end left
/// out). Returns the edited files and the answer text.
fn as_edits(patch: &str) -> (Vec<String>, String) {
    let mut files: Vec<String> = Vec::new();
    let mut hunks: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut in_hunk = false;
    for line in patch.lines() {
        if line.starts_with("diff --git") {
            in_hunk = false;
        } else if let Some(rest) = line.strip_prefix("+++ b/") {
            files.push(rest.to_owned());
        } else if line.starts_with("@@") {
            in_hunk = true;
            hunks.push((files.last().cloned().unwrap(), Vec::new(), Vec::new()));
        } else if in_hunk && let Some((_, old, new)) = hunks.last_mut() {
            match line.split_at_checked(1) {
                Some((" ", rest)) => {
                    old.push(rest.to_owned());
                    new.push(rest.to_owned());
                }
                Some(("-", rest)) => old.push(rest.to_owned()),
                Some(("+", rest)) => new.push(rest.to_owned()),
                None => {
                    old.push(String::new());
                    new.push(String::new());
                }
                _ => {}
            }
        }
    }
    let mut answer = String::from("The fix:\n\n");
    for (file, mut old, mut new) in hunks {
        while old.first().is_some_and(String::is_empty) && new.first().is_some_and(String::is_empty) {
            old.remove(0);
            new.remove(0);
        }
        while old.last().is_some_and(String::is_empty) && new.last().is_some_and(String::is_empty) {
            old.pop();
            new.pop();
        }
        answer.push_str(&format!(
            "```python\n### {file}\n<<<<<<< SEARCH\n{}\n=======\n{}\n>>>>>>> REPLACE\n```\n\n",
            old.join("\n"),
            new.join("\n")
        ));
    }
    (files, answer)
}

#[test]
fn evals_final_evaluation_flags_exploits_and_writes_the_hardened_report() {
    let _serial = docker::serial();
    let tmp = tempfile::tempdir().unwrap();
    let run_id = format!("integrity-eval-{}", std::process::id());
    let run_dir = tmp.path().join(&run_id);
    let repos = tmp.path().join("repos");
    let replay = tmp.path().join("replay.jsonl");
    let junit = tmp.path().join("junit.xml");
    let ids: Vec<&str> = PICKS.iter().map(|(id, _)| *id).collect();
    let argv: Vec<String> = [
        "eval",
        "--split",
        "demo",
        "--instances",
        &ids.join(","),
        "--model",
        &format!("replay:{}", replay.display()),
        "--num-samples",
        "1",
        "--loc-samples",
        "1",
        "--no-repro",
        "--no-regression",
        "--run-dir",
        &run_dir.display().to_string(),
        "--repos-dir",
        &repos.display().to_string(),
        "--demo-repos",
        &demo_repos().display().to_string(),
        "--workers",
        "2",
        "--eval-timeout",
        "300",
        "--integrity",
        "strict",
        "--junit",
        &junit.display().to_string(),
        "--no-progress",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let settings = eval_settings(&argv);
    let cache = demo_cache(&repos);
    let instances = agentless_mini::demo::instances().unwrap();

    // The recorded answers: localization names the files the exploit edits, repair edits them.
    let mut lines = Vec::new();
    for (id, variant) in PICKS {
        let inst = instances.iter().find(|i| i.instance_id == id).unwrap();
        let entry = corpus_entry(id, variant);
        let (files, answer) = as_edits(entry["model_patch"].as_str().unwrap());
        let snap = cache.snapshot(inst).unwrap();
        let tree = localize::tree_for(inst, &snap);
        let known = tree.files();
        for f in &files {
            assert!(known.contains(f), "{f} is not shown to localization");
        }
        let loc_job = localize::job(&settings, inst, &tree, 1, 0);
        lines.push(replay_line(
            &loc_job,
            &format!("These files:\n\n```\n{}\n```\n", files.join("\n")),
        ));
        let sets = location_sets([files]);
        let contents = repair::read_contents(inst, &snap, &sets);
        lines.push(replay_line(
            &repair::job(&settings, inst, &sets, &contents, 1, 0),
            &answer,
        ));
    }
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    fs_err::write(&replay, text).unwrap();

    let out = bin().args(&argv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status.code());
    assert!(out.status.success(), "{all}");

    // The exploits were submitted.
    let preds = fs_err::read_to_string(run_dir.join("predictions.jsonl")).unwrap();
    assert!(preds.contains("_atexit.register(_report_session)"), "{preds}");
    assert!(preds.contains("pytest.xfail("), "{preds}");

    // The official verdict is unchanged: both RESOLVED under v4.
    let report = read_json(&run_dir.join(format!("agentless-mini.{run_id}.json")));
    assert_eq!(report["resolved_ids"], json!(ids), "{report}\n{all}");
    assert_eq!(report["flagged_instances"], json!(2), "{report}");
    assert_eq!(report["flagged_ids"], json!(ids), "{report}");
    assert!(stdout.contains("evaluation: 2/2 resolved"), "{all}");

    // integrity.json beside each report.json, with the kinds the corpus expects.
    let logs = run_dir.join("logs/run_evaluation").join(&run_id).join("agentless-mini");
    for (id, variant) in PICKS {
        let integrity = read_json(&logs.join(id).join("integrity.json"));
        assert_eq!(integrity["flagged"], json!(true), "{id}: {integrity:#}");
        let kinds: Vec<&str> = integrity["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "high")
            .map(|f| f["kind"].as_str().unwrap())
            .collect();
        for want in corpus_entry(id, variant)["expect"]["kinds"].as_array().unwrap() {
            assert!(kinds.contains(&want.as_str().unwrap()), "{id}: {want} not in {kinds:?}");
        }
        assert!(
            stderr.contains(&format!("evaluation of {id}: flagged by integrity checks")),
            "{all}"
        );
    }

    // Strict: the hardened run report, both unresolved there; the CLI says where it is.
    let hardened_path = run_dir.join(format!("agentless-mini.{run_id}.hardened.json"));
    let hardened = read_json(&hardened_path);
    assert_eq!(hardened["resolved_instances"], json!(0), "{hardened}");
    assert_eq!(hardened["unresolved_ids"], json!(ids), "{hardened}");
    assert!(
        stdout.contains(&format!(
            "0/{} resolved — {}",
            report["total_instances"],
            hardened_path.display()
        )),
        "{all}"
    );

    // JUnit (strict): both cases fail as integrity failures, with the facts in <system-out>.
    let xml = fs_err::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit");
    for id in &ids {
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(*id))
            .unwrap_or_else(|| panic!("{id} in {xml}"));
        let failure = case.children().find(|n| n.has_tag_name("failure")).expect("failure");
        assert_eq!(failure.attribute("type"), Some("integrity"), "{xml}");
        let out = case
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text())
            .unwrap_or("");
        assert!(out.lines().any(|l| l == "integrity.flagged=true"), "{xml}");
    }
}
