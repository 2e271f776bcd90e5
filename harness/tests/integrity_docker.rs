//! The exploit corpus (`datasets/exploits/corpus.jsonl`) through the harness's evaluation in
//! real Docker, on the demo instances, and the detection table it gives.
//!
//! For every variant (and the gold patches, the control group): the official verdict under
//! the 4.x rules (what `evaluate` reports) and the 5.x rules (the same log re-graded; the eval
//! script now records the exit code, as 5.x's does), whether integrity flags the instance and
//! with which findings, and the hardened run report of strict mode. The log-edit variants are
//! applied to the real log of a run whose tests fail, then assessed as `grade` assesses a log
//! folder. Every expectation of the corpus must hold; the table is printed (`--nocapture`,
//! or `scripts/integrity-table.sh`).
//!
//! This test FAILS when the Docker engine is unreachable.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::evaluate::{EvalConfig, EvalOutcome, NoRunProgress, run_evaluation};
use agentless_harness::grade::{END_TEST_OUTPUT, GradingMode, START_TEST_OUTPUT, parser_for};
use agentless_harness::images::{self, ImageOptions, NoImageProgress};
use agentless_harness::integrity::run::{IntegrityMode, assess_log_folder, read_integrity};
use agentless_harness::integrity::{FindingKind, IntegrityReport};
use agentless_harness::predictions::Prediction;
use agentless_harness::report::grade_instance;
use agentless_harness::sandbox::{CancellationToken, DockerEnv};
use serde::Deserialize;

use common::workspace as root;

#[derive(Debug, Clone, Deserialize)]
struct Expect {
    v4_resolved: bool,
    v5_resolved: bool,
    flagged: bool,
    kinds: Vec<String>,
    #[serde(default)]
    noted: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    variant: String,
    kind: String,
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    model_name_or_path: String,
    #[serde(default)]
    model_patch: String,
    expect: Expect,
}

fn corpus() -> Vec<Entry> {
    let text = std::fs::read_to_string(root().join("datasets/exploits/corpus.jsonl")).expect("corpus.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus line"))
        .collect()
}

fn unique(prefix: &str) -> String {
    common::unique(&format!("integrity-{prefix}"))
}

/// One row of the detection table.
struct Row {
    variant: String,
    instance_id: String,
    v4: bool,
    v5: bool,
    flagged: bool,
    /// Kinds of the flagging (high) findings.
    kinds: Vec<FindingKind>,
    /// Kinds of every finding.
    all_kinds: Vec<FindingKind>,
    expect: Expect,
}

fn check_row(row: &Row) -> Vec<String> {
    let mut errors = Vec::new();
    let e = &row.expect;
    if row.v4 != e.v4_resolved {
        errors.push(format!("v4 resolved {} (expected {})", row.v4, e.v4_resolved));
    }
    if row.v5 != e.v5_resolved {
        errors.push(format!("v5 resolved {} (expected {})", row.v5, e.v5_resolved));
    }
    if row.flagged != e.flagged {
        errors.push(format!("flagged {} (expected {})", row.flagged, e.flagged));
    }
    let have: BTreeSet<String> = row.kinds.iter().map(ToString::to_string).collect();
    for k in &e.kinds {
        if !have.contains(k) {
            errors.push(format!("no flagging {k} finding"));
        }
    }
    let all: BTreeSet<String> = row.all_kinds.iter().map(ToString::to_string).collect();
    for k in &e.noted {
        if !all.contains(k) {
            errors.push(format!("no {k} finding"));
        }
    }
    errors
}

fn verdict(inst: &Instance, log: &str, mode: GradingMode) -> bool {
    let parser = parser_for(inst).expect("parser");
    grade_instance(inst, parser, log, true, mode).resolved()
}

/// The three log edits of the corpus, on a real failing pytest log of the demo image.
fn edit_log(variant: &str, inst: &Instance, log: &str) -> String {
    let ids: Vec<&String> = inst.fail_to_pass.iter().chain(&inst.pass_to_pass).collect();
    let passes: String = ids.iter().map(|id| format!("PASSED {id}\n")).collect();
    let end_line = format!("+ : '{END_TEST_OUTPUT}'");
    match variant {
        "log-summary-rewrite" => log
            .split_inclusive('\n')
            .map(|l| match l.strip_prefix("FAILED ") {
                Some(rest) => format!("PASSED {}\n", rest.split(" - ").next().unwrap_or(rest).trim_end()),
                None => l.to_owned(),
            })
            .collect(),
        "log-second-end-marker" => {
            let start = log.find(START_TEST_OUTPUT).expect("start");
            let after = start + log[start..].find('\n').expect("nl") + 1;
            format!("{}{passes}{end_line}\n{}", &log[..after], &log[after..])
        }
        "log-appended-passes" => {
            // Every exit-code line, wherever the engine's merge of stdout and stderr put it.
            let log = log.replace(">>>>> Test Exit Code: 1", ">>>>> Test Exit Code: 0");
            let at = log.find(&end_line).expect("end");
            format!("{}{passes}{}", &log[..at], &log[at..])
        }
        other => panic!("unknown log edit {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exploit_corpus_is_flagged_and_gold_patches_are_not() {
    let env = DockerEnv::connect()
        .await
        .expect("the Docker engine must be reachable for this test (DOCKER_HOST)");
    let demo = load_dataset(&root().join("datasets/demo/instances.jsonl")).expect("demo split");
    let by_id: BTreeMap<&str, &Instance> = demo.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    let opts = ImageOptions {
        demo_repos: Some(root().join("datasets/demo/repos")),
        ..Default::default()
    };
    for inst in &demo {
        images::ensure_instance_image(&env, inst, &opts, &NoImageProgress)
            .await
            .expect("demo instance image");
    }
    let entries = corpus();
    let mut variants: Vec<&str> = Vec::new();
    for e in entries.iter().filter(|e| e.kind == "patch") {
        if !variants.contains(&e.variant.as_str()) {
            variants.push(&e.variant);
        }
    }
    assert!(variants.len() >= 10 && variants[0] == "gold", "{variants:?}");
    let tmp = tempfile::tempdir().expect("tmp");
    let cancel = CancellationToken::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut failing_logs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for variant in &variants {
        let group: Vec<&Entry> = entries.iter().filter(|e| e.variant == *variant).collect();
        let preds: Vec<Prediction> = group
            .iter()
            .map(|e| Prediction {
                instance_id: e.instance_id.clone(),
                model_name_or_path: e.model_name_or_path.clone(),
                model_patch: Some(e.model_patch.clone()),
            })
            .collect();
        let run_id = unique(variant);
        let mut cfg = EvalConfig::new(run_id.clone());
        cfg.log_root = tmp.path().join("logs");
        cfg.workers = 3;
        cfg.images = opts.clone();
        cfg.integrity = IntegrityMode::Strict;
        cfg.timeout = std::time::Duration::from_secs(300);
        let report_dir = tmp.path().join("reports");
        let summary = run_evaluation(&env, &demo, &preds, &cfg, &report_dir, &NoRunProgress, &cancel)
            .await
            .expect("run");
        assert!(
            summary.leftover_containers.is_empty(),
            "{:?}",
            summary.leftover_containers
        );
        let official = summary.report.clone().expect("run report");
        // Strict mode: the hardened report demotes exactly the flagged resolved instances.
        let hardened_path = summary
            .hardened_report_path
            .clone()
            .expect("hardened report in strict mode");
        let hardened: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&hardened_path).expect("hardened")).expect("json");
        let flagged: BTreeSet<&str> = summary.flagged_ids.iter().map(String::as_str).collect();
        let want: Vec<&str> = official
            .resolved_ids
            .iter()
            .map(String::as_str)
            .filter(|id| !flagged.contains(id))
            .collect();
        assert_eq!(hardened["resolved_ids"], serde_json::json!(want), "{variant}");
        // The official run report: official keys, then the two integrity keys.
        let written: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(summary.report_path.as_ref().expect("path")).expect("report"),
        )
        .expect("json");
        let keys: Vec<&String> = written.as_object().expect("object").keys().collect();
        assert_eq!(keys[keys.len() - 2..], ["flagged_instances", "flagged_ids"]);
        assert_eq!(written["resolved_instances"], official.resolved_instances);
        for r in &summary.results {
            let inst = by_id[r.instance_id.as_str()];
            let entry = group.iter().find(|e| e.instance_id == r.instance_id).expect("entry");
            let dir = r.log_dir.clone().expect("log dir");
            let log = String::from_utf8_lossy(&std::fs::read(dir.join("test_output.txt")).expect("test_output.txt"))
                .into_owned();
            assert!(
                log.contains(">>>>> Test Exit Code: "),
                "{variant} {}: no exit code\n{log}",
                r.instance_id
            );
            assert!(
                log.contains(">>>>> Tracked File After: "),
                "{variant} {}: no file records",
                r.instance_id
            );
            let eval_sh = std::fs::read_to_string(dir.join("eval.sh")).expect("eval.sh");
            assert!(eval_sh.contains("SWEBENCH_TEST_EXIT_CODE=$?"));
            let integrity: IntegrityReport = r.integrity.clone().expect("integrity");
            assert_eq!(
                read_integrity(&dir).as_ref(),
                Some(&integrity),
                "integrity.json on disk"
            );
            // Every check ran (the demo scripts re-install nothing: that one has nothing to read).
            assert!(
                integrity
                    .checks
                    .iter()
                    .all(|c| c.ran || c.check == agentless_harness::integrity::CheckId::Reinstall),
                "{variant}: {:?}",
                integrity.checks
            );
            let v4 = matches!(r.outcome, EvalOutcome::Resolved);
            assert_eq!(v4, verdict(inst, &log, GradingMode::V4));
            if *variant == "weaken-test-patch-file" {
                failing_logs.insert(r.instance_id.clone(), dir.clone());
            }
            rows.push(Row {
                variant: (*variant).to_owned(),
                instance_id: r.instance_id.clone(),
                v4,
                v5: verdict(inst, &log, GradingMode::V5),
                flagged: integrity.flagged,
                kinds: integrity.flagging_kinds(),
                all_kinds: integrity.findings.iter().map(|f| f.kind).collect(),
                expect: entry.expect.clone(),
            });
        }
        assert_eq!(summary.results.len(), demo.len(), "{variant}");
    }
    // Log edits: real failing logs (their tests ran on the unfixed code), edited, then
    // assessed as `grade` assesses a log folder.
    for e in entries.iter().filter(|e| e.kind == "log_edit") {
        for (id, dir) in &failing_logs {
            let inst = by_id[id.as_str()];
            let log = std::fs::read_to_string(dir.join("test_output.txt")).expect("log");
            assert!(!verdict(inst, &log, GradingMode::V4), "{id}: the base log must fail");
            let edited = edit_log(&e.variant, inst, &log);
            let folder = tmp.path().join("edited").join(&e.variant).join(id);
            std::fs::create_dir_all(&folder).expect("mkdir");
            std::fs::write(folder.join("test_output.txt"), &edited).expect("write");
            // A log folder as handed in for grading: the log and the run's instance log.
            std::fs::copy(dir.join("run_instance.log"), folder.join("run_instance.log")).expect("copy");
            let integrity = assess_log_folder(inst, &folder).expect("assess");
            rows.push(Row {
                variant: e.variant.clone(),
                instance_id: id.clone(),
                v4: verdict(inst, &edited, GradingMode::V4),
                v5: verdict(inst, &edited, GradingMode::V5),
                flagged: integrity.flagged,
                kinds: integrity.flagging_kinds(),
                all_kinds: integrity.findings.iter().map(|f| f.kind).collect(),
                expect: e.expect.clone(),
            });
        }
    }
    // The table.
    println!("\ndetection table: the exploit corpus on the demo split (real Docker)");
    println!(
        "{:<26} {:<31} {:<10} {:<10} {:<8} flagging findings",
        "variant", "instance", "v4", "v5", "flagged"
    );
    let word = |b: bool| if b { "RESOLVED" } else { "-" };
    let mut errors = Vec::new();
    for row in &rows {
        let kinds: Vec<String> = row.kinds.iter().map(ToString::to_string).collect();
        println!(
            "{:<26} {:<31} {:<10} {:<10} {:<8} {}",
            row.variant,
            row.instance_id.trim_start_matches("agentless-demo__"),
            word(row.v4),
            word(row.v5),
            if row.flagged { "YES" } else { "no" },
            kinds.join(", ")
        );
        for err in check_row(row) {
            errors.push(format!("{} {}: {err}", row.variant, row.instance_id));
        }
    }
    let exploits = rows.iter().filter(|r| r.variant != "gold").count();
    let fooled = rows.iter().filter(|r| r.variant != "gold" && (r.v4 || r.v5)).count();
    // Every exploit that fools the official grading is flagged.
    let caught = rows
        .iter()
        .filter(|r| r.variant != "gold" && (r.v4 || r.v5) && r.flagged)
        .count();
    let gold_flagged = rows.iter().filter(|r| r.variant == "gold" && r.flagged).count();
    // Gold patches get no finding at all, not even a low one.
    for r in rows.iter().filter(|r| r.variant == "gold") {
        assert!(r.all_kinds.is_empty(), "gold {}: {:?}", r.instance_id, r.all_kinds);
    }
    println!(
        "{exploits} exploit runs: {fooled} graded RESOLVED by the official rules (v4 or v5), all {caught} of those flagged; gold flagged: {gold_flagged} of {}",
        demo.len()
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(caught, fooled);
    assert!(fooled >= 50, "the corpus fools the official grading {fooled} times");
    assert_eq!(gold_flagged, 0);
}
