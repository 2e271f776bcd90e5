//! `agentless-mini report` on a run directory in the pipeline's real artifact format — stage
//! files written with the pipeline's own writer (`open_stage` / `StageWriter`) and record
//! types, the rerank record produced by the pipeline's own rule — evaluated by the real
//! evaluation of a SWE-bench Verified run (`../shared/data/oracle-logs`: official run report
//! and log folders). The page is opened in a real headless browser (Debian's `chromium`):
//! `--dump-dom` must show every section and its inline SVG plots, and `--screenshot` must
//! give a non-blank picture.

#![allow(
    clippy::unwrap_used,
    reason = "fixture builders outside #[test] fns: a failure is a test failure"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use agentless_harness::sandbox::ApplyStrategy;
use agentless_mini::artifact::CandidateVerdict;
use agentless_mini::artifact::jsonl::{Opened, open_stage};
use agentless_mini::artifact::key::sha256_hex;
use agentless_mini::artifact::{RunDir, StageId, StageKey};
use agentless_mini::pipeline::containers::ReproVerdict;
use agentless_mini::pipeline::execute::{ApplyResult, CandidateResult, Executions, RegressionOutcome};
use agentless_mini::pipeline::format_version;
use agentless_mini::pipeline::localize::LocalizeSample;
use agentless_mini::pipeline::regression::{Regression, RegressionRecord};
use agentless_mini::pipeline::repair::{DropReason, RepairOutcome, RepairSample, Repairs};
use agentless_mini::pipeline::repro::{ReproTest, ReproTests};
use agentless_mini::pipeline::rerank::select;
use agentless_mini::pipeline::sampling::{PromptRecord, Rec};
use agentless_mini::pipeline::select::{RerankRecord, build_candidates};
use agentless_model::Usage;
use serde_json::Value;

use crate::common::{bin, chromium, copy_oracle_logs, oracle_logs as oracle};

const MODEL: &str = "vexp-swebench-1774184993333";
const RUN_ID: &str = "nightly";

/// Instances of the fixture and what the model did for each (all 12 repositories).
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Majority and tests agree on the submitted (real) patch.
    Clear,
    /// The submitted patch wins only through the reproduction tests (majority is another).
    TestsDecide,
    /// A correct alternative exists (verdict recorded) but the rule picks the submitted one.
    OracleOnly,
    /// Localization named no file: nothing downstream.
    NoLocalization,
    /// Every repair sample was dropped.
    NoValidPatch,
}

const INSTANCES: [(&str, Shape); 14] = [
    ("astropy__astropy-14365", Shape::Clear),
    ("astropy__astropy-14598", Shape::OracleOnly),
    ("django__django-10880", Shape::TestsDecide),
    ("django__django-11133", Shape::Clear),
    ("matplotlib__matplotlib-24627", Shape::Clear),
    ("mwaskom__seaborn-3187", Shape::Clear),
    ("pallets__flask-5014", Shape::TestsDecide),
    ("psf__requests-5414", Shape::NoValidPatch),
    ("pydata__xarray-2905", Shape::Clear),
    ("pylint-dev__pylint-4551", Shape::NoLocalization),
    ("pytest-dev__pytest-10051", Shape::OracleOnly),
    ("scikit-learn__scikit-learn-10844", Shape::Clear),
    ("sphinx-doc__sphinx-7462", Shape::Clear),
    ("sympy__sympy-12419", Shape::TestsDecide),
];

fn usage(p: u64, c: u64) -> Usage {
    Usage {
        prompt_tokens: p,
        completion_tokens: c,
    }
}

fn files_of(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .map(str::to_owned)
        .collect()
}

fn write_stage<T: serde::Serialize + serde::de::DeserializeOwned>(
    run: &RunDir,
    id: &str,
    stage: StageId,
    records: &[T],
) {
    let path = run.stage_file(id, stage).expect("stage path");
    let key = StageKey::of(&(stage.name(), id));
    match open_stage::<T>(&path, stage, format_version(stage), &key).expect("open stage") {
        Opened::Open(_, mut w) => {
            for r in records {
                w.record(r).expect("record");
            }
            w.finish().expect("finish");
        }
        Opened::Done(_) => panic!("fresh stage file expected"),
    }
}

fn repair(index: usize, outcome: RepairOutcome) -> Rec<RepairSample> {
    Rec::Sample(RepairSample {
        index,
        location_set: 0,
        prompt_sha: "p".into(),
        raw: format!("<think>sample {index}</think>"),
        usage: usage(3000, 400 + index as u64),
        failure: None,
        outcome,
    })
}

fn patch_outcome(patch: &str, normalized: &str) -> RepairOutcome {
    RepairOutcome::Patch {
        patch: patch.into(),
        normalized: normalized.into(),
        edited_files: files_of(patch),
    }
}

/// Build the run directory; returns it and the ids the evaluation resolved.
fn build_run(root: &Path) -> (PathBuf, BTreeSet<String>) {
    let run_path = root.join("run");
    let run = RunDir::create(&run_path).expect("run dir");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(oracle().join("run-report.json")).unwrap()).unwrap();
    let resolved_all: BTreeSet<String> = report["resolved_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut predictions = String::new();
    let mut verdicts = String::new();
    let mut fixture_resolved = BTreeSet::new();
    let mut run_report = serde_json::json!({
        "total_instances": 500, "submitted_instances": 0, "completed_instances": 0, "resolved_instances": 0,
        "unresolved_instances": 0, "empty_patch_instances": 0, "error_instances": 0,
        "completed_ids": [], "incomplete_ids": [], "empty_patch_ids": [], "submitted_ids": [],
        "resolved_ids": [], "unresolved_ids": [], "error_ids": [],
        "unstopped_instances": 0, "unstopped_containers": [], "unremoved_images": [], "schema_version": 2
    });
    let push = |r: &mut Value, key: &str, id: &str| r[key].as_array_mut().unwrap().push(Value::from(id));
    for (n, (id, shape)) in INSTANCES.iter().enumerate() {
        let real = std::fs::read_to_string(oracle().join(id).join("patch.diff")).expect("oracle patch");
        let files = files_of(&real);
        // Localization: four samples (the prompt stored once, as the pipeline does).
        let mut loc: Vec<Rec<LocalizeSample>> = vec![Rec::Prompt(PromptRecord {
            sha: "p".into(),
            text: "issue + tree".into(),
        })];
        for i in 0..4 {
            loc.push(Rec::Sample(LocalizeSample {
                index: i,
                prompt_sha: "p".into(),
                n_files: 3,
                raw: "files".into(),
                files: if *shape == Shape::NoLocalization {
                    vec![]
                } else {
                    files.clone()
                },
                usage: usage(5000, 60),
                failure: None,
            }));
        }
        write_stage(&run, id, StageId::Localize, &loc);
        let mut submitted = String::new();
        if *shape != Shape::NoLocalization {
            // Eight repair samples: the real patch (several, one differing only in form), an
            // alternative, a third, and dropped ones.
            let alt = format!("{real}\n# alternative {n}\n");
            let third = format!("{real}\n# third {n}\n");
            let mut samples: Vec<Rec<RepairSample>> = Vec::new();
            let pattern: Vec<&str> = match shape {
                Shape::Clear => vec!["real", "real", "alt", "real", "drop", "third", "real", "drop"],
                Shape::TestsDecide => vec!["alt", "real", "alt", "alt", "drop", "real", "alt", "third"],
                Shape::OracleOnly => vec!["real", "alt", "real", "drop", "real", "third", "real", "alt"],
                Shape::NoValidPatch => vec!["drop"; 8],
                Shape::NoLocalization => unreachable!(),
            };
            for (i, p) in pattern.iter().enumerate() {
                let outcome = match *p {
                    "real" => patch_outcome(&real, &format!("N:{id}:real")),
                    "alt" => patch_outcome(&alt, &format!("N:{id}:alt")),
                    "third" => patch_outcome(&third, &format!("N:{id}:third")),
                    _ => RepairOutcome::Dropped {
                        reason: if i % 2 == 0 {
                            DropReason::NoEdits
                        } else {
                            DropReason::SearchNotFound
                        },
                        raw_patch: String::new(),
                    },
                };
                samples.push(repair(i, outcome));
            }
            write_stage(&run, id, StageId::Repair, &samples);
            // Regression: three tests pass on the original code; the model filter removes one.
            let reg = vec![
                RegressionRecord::Run {
                    passing: vec!["r1".into(), "r2".into(), "r3".into()],
                    rejected: None,
                    output_tail: String::new(),
                },
                RegressionRecord::Filter {
                    prompt_sha: "f".into(),
                    raw: "r3".into(),
                    usage: usage(2000, 20),
                    removed: vec!["r3".into()],
                    failure: None,
                },
            ];
            write_stage(&run, id, StageId::Regression, &reg);
            // Reproduction tests: the stage file exists (the stage ran); its ranking is what
            // execute ran, in order.
            write_stage::<Value>(
                &run,
                id,
                StageId::Repro,
                &[serde_json::json!({"kind": "prompt", "sha": "t", "text": "gen tests"})],
            );
            let tests = ["t1", "t2", "t3"];
            let verdict = |pass: bool| {
                if pass {
                    ReproVerdict::Resolved
                } else {
                    ReproVerdict::Reproduced
                }
            };
            let mut execs = Vec::new();
            for (kind, first) in [
                ("real", pattern.iter().position(|p| *p == "real")),
                ("alt", pattern.iter().position(|p| *p == "alt")),
                ("third", pattern.iter().position(|p| *p == "third")),
            ] {
                let Some(first) = first else { continue };
                let normalized = format!("N:{id}:{kind}");
                let (reg_failed, passes): (Vec<String>, [bool; 3]) = match (shape, kind) {
                    (Shape::TestsDecide, "real") => (vec![], [true, true, false]),
                    (Shape::TestsDecide, _) => (vec![], [true, false, false]),
                    (_, "real") => (vec![], [true, true, true]),
                    (_, "alt") => (vec!["r1".into()], [true, false, false]),
                    _ => (vec!["r1".into(), "r2".into()], [false, false, false]),
                };
                execs.push(CandidateResult {
                    normalized_sha: sha256_hex(&normalized),
                    sample: first,
                    apply: ApplyResult::Applied {
                        strategy: Some(ApplyStrategy::GitApply),
                    },
                    regression: Some(RegressionOutcome::Ran { failed: reg_failed }),
                    repro: tests
                        .iter()
                        .zip(passes)
                        .map(|(t, p)| ((*t).to_owned(), verdict(p)))
                        .collect(),
                    elapsed_ms: 1200,
                });
            }
            write_stage(&run, id, StageId::Execute, &execs);
            // The rerank record, by the pipeline's own rule over the same inputs.
            let repairs = Repairs {
                key: StageKey::of("r"),
                samples: samples
                    .iter()
                    .filter_map(|r| if let Rec::Sample(s) = r { Some(s.clone()) } else { None })
                    .collect(),
            };
            let regression = Regression {
                key: StageKey::of("g"),
                enabled: true,
                tests: vec!["r1".into(), "r2".into()],
                usage: Usage::default(),
            };
            let repro = ReproTests {
                key: StageKey::of("t"),
                enabled: true,
                tests: tests
                    .iter()
                    .map(|t| ReproTest {
                        id: (*t).into(),
                        code: String::new(),
                        votes: 1,
                    })
                    .collect(),
                usage: Usage::default(),
            };
            let execs_map = Executions {
                key: StageKey::of("e"),
                results: execs.iter().map(|e| (e.normalized_sha.clone(), e.clone())).collect(),
            };
            let cands = build_candidates(&repairs, &regression, &repro, &execs_map);
            let sel = select(&cands);
            let chosen = sel.selected.map(|i| repairs.samples[i].clone());
            if let Some(c) = &chosen {
                assert_eq!(
                    c.outcome.patch(),
                    Some(real.as_str()),
                    "{id}: the fixture's rule must pick the real patch"
                );
                submitted = real.clone();
            }
            let rec = RerankRecord {
                selected_sample: chosen.as_ref().map(|c| c.index),
                patch: submitted.clone(),
                filter: sel.filter,
                pool: sel.pool,
                votes: sel.votes,
                selected_without_execution: sel.selected_without_execution,
                samples: repairs.samples.len(),
                candidates: cands.iter().filter(|c| !c.normalized.is_empty()).count(),
            };
            write_stage(&run, id, StageId::Rerank, &[rec]);
            // Candidate verdicts: the alternative of OracleOnly instances is correct.
            if *shape == Shape::OracleOnly {
                let v = CandidateVerdict {
                    instance_id: (*id).into(),
                    normalized_sha: sha256_hex(&format!("N:{id}:alt")),
                    resolved: true,
                };
                verdicts.push_str(&serde_json::to_string(&v).unwrap());
                verdicts.push('\n');
            }
        }
        predictions.push_str(
            &serde_json::json!({"instance_id": id, "model_name_or_path": MODEL, "model_patch": submitted}).to_string(),
        );
        predictions.push('\n');
        // The evaluation: the real log folder for submitted patches, an empty patch otherwise.
        push(&mut run_report, "submitted_ids", id);
        if submitted.is_empty() {
            push(&mut run_report, "empty_patch_ids", id);
        } else {
            let dst = run.evaluation_log_root().join(RUN_ID).join(MODEL).join(id);
            std::fs::create_dir_all(&dst).unwrap();
            for f in std::fs::read_dir(oracle().join(id)).unwrap().flatten() {
                std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
            }
            push(&mut run_report, "completed_ids", id);
            if resolved_all.contains(*id) {
                push(&mut run_report, "resolved_ids", id);
                fixture_resolved.insert((*id).to_owned());
            } else {
                push(&mut run_report, "unresolved_ids", id);
            }
        }
    }
    for (count, list) in [
        ("submitted_instances", "submitted_ids"),
        ("completed_instances", "completed_ids"),
        ("resolved_instances", "resolved_ids"),
        ("unresolved_instances", "unresolved_ids"),
        ("empty_patch_instances", "empty_patch_ids"),
    ] {
        run_report[count] = Value::from(run_report[list].as_array().unwrap().len());
    }
    std::fs::write(run.predictions_file(), predictions).unwrap();
    // The settings record `eval` writes (its `settings` and `dataset` parts).
    std::fs::write(
        run.settings_file(),
        serde_json::json!({
            "settings": {"seed": 7, "localize": {"samples": 4, "temperature": 0.8, "max_tokens": 1024},
                         "repair": {"samples": 8, "temperature": 0.8, "max_tokens": 4096},
                         "repro": {"enabled": true, "sampling": {"samples": 3, "temperature": 0.8, "max_tokens": 1024}}},
            "model": MODEL,
            "version": "0.1.0",
            "dataset": {"repo": "SWE-bench/SWE-bench_Verified", "split": "test", "revision": "main",
                        "commit": "c104f840cc67f8b6eec6f759ebc8b2693d585d4a",
                        "sha256": "3f3b6b1a0c4d2e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd"},
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(RunDir::at(&run_path).verdicts_file(), verdicts).unwrap();
    std::fs::write(
        run_path.join(format!("{MODEL}.{RUN_ID}.json")),
        serde_json::to_string_pretty(&run_report).unwrap(),
    )
    .unwrap();
    (run_path, fixture_resolved)
}

/// Fraction of non-white bytes in the decompressed pixel rows of a PNG (python3 stdlib).
fn ink(png: &Path) -> f64 {
    let script = r#"
import sys, zlib, struct
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, w, h = 8, b'', 0, 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos+8])
    body = data[pos+8:pos+8+n]
    if kind == b'IHDR': w, h = struct.unpack('>II', body[:8])
    if kind == b'IDAT': idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
print(w, h, sum(1 for b in raw if b < 0xF0) / len(raw))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(png)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let parts: Vec<&str> = out.split_whitespace().collect();
    assert!(parts[0].parse::<u32>().unwrap() >= 1000, "width {out}");
    parts[2].parse().unwrap()
}

#[test]
fn report_page_renders_in_a_real_browser_with_its_plots() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (run, resolved) = build_run(tmp.path());
    let out = tmp.path().join("site/report.html");
    let json = tmp.path().join("report.json");
    let junit = tmp.path().join("junit.xml");
    let o = bin()
        .args(["report", "--run-dir"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("run agentless-mini");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stderr.contains("does not give the recorded choice"),
        "the recomputed rerank disagrees: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("{} of 14 resolved", resolved.len())),
        "{stdout}"
    );

    // The numbers behind the page.
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(d["resolved"], resolved.len());
    let losses: Vec<(String, u64)> = d["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l[0].as_str().unwrap().to_owned(), l[1].as_u64().unwrap()))
        .collect();
    let count = |k: &str| losses.iter().find(|(l, _)| l == k).map_or(0, |(_, c)| *c);
    assert_eq!(count("no_localization"), 1);
    assert_eq!(count("no_valid_patch"), 1);
    // The two OracleOnly instances: astropy-14598 and pytest-10051 are unresolved in the real
    // evaluation, with a correct alternative recorded: the rerank missed them.
    assert_eq!(count("rerank_missed"), 2);
    assert_eq!(count("resolved") as usize, resolved.len());
    assert_eq!(d["oracle"], resolved.len() + 2);
    // At all 8 samples the curve is the run itself; with every test it is too.
    let samples = d["curves"]["samples"].as_array().unwrap();
    let last = samples.last().unwrap();
    assert_eq!(last["x"], 8);
    let rate = 100.0 * resolved.len() as f64 / 14.0;
    assert!((last["low"].as_f64().unwrap() - rate).abs() < 1e-9, "{last}");
    let tests = d["curves"]["tests"].as_array().unwrap();
    assert_eq!(
        tests.iter().map(|p| p["x"].as_u64().unwrap()).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!((tests.last().unwrap()["low"].as_f64().unwrap() - rate).abs() < 1e-9);
    // Without tests, the majority ("alt") wins the TestsDecide instances: their outcome is then
    // unknown, so the lower bound drops and the band opens.
    assert!(tests[0]["low"].as_f64().unwrap() < rate, "{}", tests[0]);
    assert!(tests[0]["high"].as_f64().unwrap() > tests[0]["low"].as_f64().unwrap());
    // Tokens: localize 4×5060, repair samples, regression filter (for 13 instances with repair).
    let tokens = &d["tokens"];
    assert!(tokens["prompt"].as_u64().unwrap() > 14 * 4 * 5000, "{tokens}");
    let stages: Vec<&str> = d["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        vec![
            "localize",
            "repair",
            "regression",
            "repro",
            "execute",
            "rerank",
            "evaluation"
        ]
    );

    // JUnit from the same run.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("junit well-formed");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("testcase")).count(), 14);

    // The page itself: self-contained, no scripts, no network. Outside the patches (model
    // text, escaped) the only links are relative ones to the evaluation's log files.
    let full = std::fs::read_to_string(&out).unwrap();
    let mut html = String::new();
    let mut rest = full.as_str();
    while let Some(a) = rest.find("<pre class=\"diff\">") {
        html.push_str(&rest[..a]);
        rest = &rest[a..];
        rest = &rest[rest.find("</pre>").expect("closed diff")..];
    }
    html.push_str(rest);
    let hrefs: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|x| &x[..x.find('"').unwrap()])
        .collect();
    assert!(!hrefs.is_empty(), "the instance sections link their logs");
    for h in &hrefs {
        assert!(!h.contains(':') && !h.starts_with('/'), "not a relative link: {h}");
        assert!(out.parent().unwrap().join(h).is_file(), "broken link {h}");
    }
    let html = html.replace("href=", "");
    for fetch in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(fetch), "the page must load nothing: found {fetch:?}");
    }
    // The only URLs are SVG namespace names, which are never fetched.
    let urls = html.matches("http").count();
    assert_eq!(
        urls,
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "unexpected URL in the page"
    );

    // A real browser renders it; the DOM holds every section and its SVG plots.
    let url = format!("file://{}", out.display());
    let dom = String::from_utf8(chromium(&["--dump-dom", &url]).stdout).expect("utf8 dom");
    for section in [
        "summary",
        "repositories",
        "scaling",
        "losses",
        "tokens",
        "timing",
        "instances",
    ] {
        assert!(
            dom.contains(&format!("<section id=\"{section}\">")),
            "section {section} missing from the DOM"
        );
    }
    let svgs = dom.matches("<svg").count();
    assert!(svgs >= 5, "expected at least 5 inline plots, the DOM has {svgs}");
    assert!(dom.contains("Resolve rate vs repair samples") && dom.contains("Resolve rate vs reproduction tests"));
    assert!(dom.contains("reranked choice resolved") && dom.contains("oracle: some sample correct"));
    assert!(dom.contains("polyline"), "the curves are drawn");
    for (id, _) in INSTANCES {
        assert!(dom.contains(id), "{id} missing from the instance table");
    }
    assert!(dom.contains("rerank chose wrong") && dom.contains("no localized file") && dom.contains("no valid patch"));
    assert_rendered_details(&dom, &run, &out, &resolved);

    // And paints it: a full-page screenshot that is not blank.
    let png = tmp.path().join("report.png");
    chromium(&[
        "--window-size=1280,4200",
        &format!("--screenshot={}", png.display()),
        &url,
    ]);
    let ink = ink(&png);
    assert!(ink > 0.02, "the screenshot is (nearly) blank: {ink}");
    if let Ok(keep) = std::env::var("AGENTLESS_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).expect("keep screenshot");
        std::fs::copy(
            &out,
            format!("{}.html", std::env::var("AGENTLESS_KEEP_SCREENSHOT").unwrap()),
        )
        .ok();
    }
}

/// The parsed DOM of one instance's `<details>` section.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"i-{id}\""))
        .unwrap_or_else(|| panic!("no section for {id}"));
    let end = dom[start..].find("</details>").expect("closed section");
    &dom[start..start + end]
}

/// The run-settings block and the per-instance sections as the browser parsed them.
fn assert_rendered_details(dom: &str, run: &Path, out: &Path, resolved: &BTreeSet<String>) {
    // Run settings: from run.json.
    let settings = &dom[dom.find("<section id=\"settings\">").expect("settings block")..];
    let settings = &settings[..settings.find("</section>").unwrap()];
    for want in [
        "<dt>repair samples</dt><dd>8</dd>",
        "<dt>repair temperature</dt><dd>0.8</dd>",
        "<dt>seed</dt><dd>7</dd>",
        "<dt>dataset</dt><dd>SWE-bench/SWE-bench_Verified</dd>",
        "<dd>main (c104f840cc67f8b6eec6f759ebc8b2693d585d4a)</dd>",
        "<dd>3f3b6b1a0c4d2e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd</dd>",
        "<dt>grading</dt><dd>official",
        "<dt>started</dt>",
    ] {
        assert!(
            settings.contains(want),
            "{want:?} missing from the settings block: {settings}"
        );
    }
    // The footer names the run directory, never ".".
    let canon = run.canonicalize().unwrap();
    assert!(dom.contains(&format!("from {}.</footer>", canon.display())), "footer");

    // A resolved instance: its patch as a coloured diff, votes, and links that resolve.
    let s = section(dom, "django__django-11133");
    assert!(s.contains("class=\"tag resolved\""));
    let real = std::fs::read_to_string(oracle().join("django__django-11133/patch.diff")).unwrap();
    let added = real
        .lines()
        .find(|l| l.starts_with('+') && !l.starts_with("+++"))
        .unwrap();
    assert!(s.contains("<pre class=\"diff\">"), "{s}");
    assert!(s.contains("<span class=\"add\">"), "added lines coloured");
    assert!(s.contains("<span class=\"hunk\">@@"), "hunk headers coloured");
    let added_dom = added.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    assert!(s.contains(&added_dom), "the diff shows {added:?}");
    assert!(s.contains("FAIL_TO_PASS failures: 0 of"), "{s}");
    assert!(
        s.contains("voted for the chosen patch") && s.contains("passes 3 of 3 reproduction tests"),
        "{s}"
    );
    for f in ["report.json", "test_output.txt", "run_instance.log"] {
        let href = format!("logs/run_evaluation/{RUN_ID}/{MODEL}/django__django-11133/{f}");
        let rel = relative(out.parent().unwrap(), &run.join(&href));
        assert!(
            s.contains(&format!("href=\"{rel}\">{f}</a>")),
            "{f}: {rel} not linked in {s}"
        );
    }
    // An unresolved instance: its real failing FAIL_TO_PASS test, open by default.
    let s = section(dom, "astropy__astropy-14598");
    assert!(!resolved.contains("astropy__astropy-14598"));
    assert!(s.contains(" open"), "unresolved sections start open");
    assert!(s.contains("FAIL_TO_PASS failures: 1 of"), "{s}");
    assert!(s.contains("test_long_string_value_with_quotes"), "{s}");
    assert!(s.contains("PASS_TO_PASS failures: 0 of"), "{s}");
    // pytest-10051 also broke a PASS_TO_PASS test.
    let s = section(dom, "pytest-dev__pytest-10051");
    assert!(s.contains("PASS_TO_PASS failures: 1 of"), "{s}");
    // TestsDecide: the chosen patch passes 2 of the 3 reproduction tests.
    let s = section(dom, "django__django-10880");
    assert!(s.contains("passes 2 of 3 reproduction tests"), "{s}");
    // No localization: nothing submitted.
    let s = section(dom, "pylint-dev__pylint-4551");
    assert!(s.contains("No patch was submitted."), "{s}");
}

/// `to` relative to the folder `from`, as the page writes it (test's own implementation).
fn relative(from: &Path, to: &Path) -> String {
    let from = from.canonicalize().unwrap();
    let to = to.canonicalize().unwrap();
    let mut up = String::new();
    let mut base = from.as_path();
    loop {
        if let Ok(rest) = to.strip_prefix(base) {
            return format!("{up}{}", rest.display());
        }
        up.push_str("../");
        base = base.parent().unwrap();
    }
}

#[test]
fn an_evaluation_alone_still_gives_a_page() {
    // The official layout without pipeline artifacts: outcomes, repositories and test times.
    let tmp = tempfile::tempdir().expect("tmp");
    let run = tmp.path().join("eval");
    let model_dir = run.join("logs/run_evaluation").join(RUN_ID).join(MODEL);
    copy_oracle_logs(&model_dir);
    std::fs::copy(
        oracle().join("run-report.json"),
        run.join(format!("{MODEL}.{RUN_ID}.json")),
    )
    .unwrap();
    let json = tmp.path().join("d.json");
    let o = bin()
        .args(["report", "--run-dir"])
        .arg(&run)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no pipeline artifacts"));
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(d["resolved"], 73);
    assert_eq!(d["instances"].as_array().unwrap().len(), 100);
    assert_eq!(d["per_repo"].as_array().unwrap().len(), 12);
    assert!(d["curves"].is_null());
    assert_eq!(d["stages"][0]["stage"], "evaluation");
    assert_eq!(d["stages"][0]["instances"], 71);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("No repair samples were recorded"));
    // The patch of an evaluation alone is its log folder's patch.diff. astropy-14369's holds
    // `<empty>`: the browser must show it as text, not parse it as an element.
    let url = format!("file://{}", run.join("report.html").display());
    let dom = String::from_utf8(chromium(&["--dump-dom", &url]).stdout).expect("utf8 dom");
    let s = section(&dom, "astropy__astropy-14369");
    assert!(
        s.contains("('sign -&gt; &lt;empty&gt;','sign',0,'p_sign','cds.py',239),"),
        "escaped diff line missing: {s}"
    );
    assert!(!dom.contains("<empty>"), "patch text became markup");
    assert_eq!(
        dom.matches("<pre class=\"diff\">").count(),
        dom.matches("<h3>Submitted patch</h3>").count()
    );
    // The fixture keeps the log folders (patch.diff) of 71 of the 100 instances.
    assert_eq!(
        dom.matches("<pre class=\"diff\">").count(),
        71,
        "every logged patch shown"
    );
    // No run.json: the settings block says so; the grading rule is still known.
    assert!(dom.contains("<dt>grading</dt><dd>official"), "grading rule");

    // Two run reports in one folder: an error naming both, then --report picks one.
    let other = run.join(format!("{MODEL}.other.json"));
    std::fs::copy(oracle().join("run-report.json"), &other).unwrap();
    let o = bin().args(["report", "--run-dir"]).arg(&run).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("several run reports")
            && err.contains(&format!("{MODEL}.other.json"))
            && err.contains(&format!("{MODEL}.{RUN_ID}.json"))
            && err.contains("--report FILE")
            && !err.contains("is it a run directory"),
        "{err}"
    );
    let o = bin()
        .args(["report", "--run-dir"])
        .arg(&run)
        .arg("--report")
        .arg(run.join(format!("{MODEL}.{RUN_ID}.json")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("73 of 100 resolved"));

    // A folder that is not a run: a clear error, nothing written.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = bin().args(["report", "--run-dir"]).arg(&empty).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing to report"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!empty.join("report.html").exists());
}

#[test]
fn flagged_instances_are_listed_with_their_evidence() {
    use agentless_harness::integrity::run::{Flagged, hardened_run_report, run_report_json, write_integrity};
    use agentless_harness::integrity::{Evidence, Finding, FindingKind, IntegrityReport, Severity};
    use agentless_mini::reporting::runs::read_run_report;

    // An evaluation-only folder (real official logs) with integrity findings: one resolved
    // instance flagged (evidence that must be escaped), one with a low finding only; the
    // hardened run report of strict mode beside the official one.
    let tmp = tempfile::tempdir().expect("tmp");
    let run = tmp.path().join("eval");
    let model_dir = run.join("logs/run_evaluation").join(RUN_ID).join(MODEL);
    copy_oracle_logs(&model_dir);
    let flagged_id = "astropy__astropy-14365";
    let minor_id = "django__django-10880";
    let test_id = "astropy/io/ascii/tests/test_qdp.py::test_roundtrip[True]";
    let forged = Finding::new(
        FindingKind::StatusOutsideRunner,
        Severity::High,
        "a status line after the runner's final summary",
        vec![Evidence::at("test_output.txt", 411, &format!("PASSED {test_id} <script>x</script>")).with_test(test_id)],
    );
    let conftest = Finding::new(
        FindingKind::TestConfigChanged,
        Severity::Low,
        "the patch changes conftest.py",
        vec![Evidence::at("conftest.py", 2, "import pytest")],
    );
    write_integrity(
        &model_dir.join(flagged_id),
        &IntegrityReport::new(flagged_id, vec![forged, conftest.clone()], vec![]),
    )
    .unwrap();
    write_integrity(
        &model_dir.join(minor_id),
        &IntegrityReport::new(minor_id, vec![conftest], vec![]),
    )
    .unwrap();
    let official = read_run_report(&oracle().join("run-report.json")).unwrap();
    assert!(official.resolved_ids.iter().any(|i| i == flagged_id));
    let flagged = Flagged {
        ids: [flagged_id.to_owned()].into_iter().collect(),
    };
    std::fs::write(
        run.join(format!("{MODEL}.{RUN_ID}.json")),
        run_report_json(&official, &flagged),
    )
    .unwrap();
    std::fs::write(
        run.join(format!("{MODEL}.{RUN_ID}.hardened.json")),
        run_report_json(&hardened_run_report(&official, &flagged), &flagged),
    )
    .unwrap();

    let out = tmp.path().join("page.html");
    let json = tmp.path().join("d.json");
    let junit = tmp.path().join("junit.xml");
    let o = bin()
        .args(["report", "--run-dir"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The official numbers are the page's numbers (the hardened report is not taken for it).
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(d["resolved"], 73);
    assert_eq!(d["integrity"]["assessed"], 2);
    assert_eq!(d["integrity"]["with_minor_findings"], 1);
    assert_eq!(d["integrity"]["flagged"][0]["instance_id"], flagged_id);
    assert_eq!(d["integrity"]["flagged"][0]["officially_resolved"], true);

    // The browser's DOM: the section, one row per evidence item with kind, severity, file,
    // line, test id and the line itself (as text, never as markup).
    let url = format!("file://{}", out.display());
    let dom = String::from_utf8(chromium(&["--dump-dom", &url]).stdout).expect("utf8 dom");
    assert!(dom.contains("<section id=\"integrity\">"), "no integrity section");
    let start = dom.find("<section id=\"integrity\">").unwrap();
    let section = &dom[start..start + dom[start..].find("</section>").unwrap()];
    assert!(section.contains("1 of 2 assessed instances flagged"), "{section}");
    assert!(section.contains("1 more with low or medium findings only"), "{section}");
    let rows: Vec<&str> = section.split("<tr data-instance=").skip(1).collect();
    assert_eq!(rows.len(), 2, "two findings of the flagged instance: {section}");
    let high = rows[0];
    for want in [
        flagged_id,
        "status_outside_runner",
        ">high<",
        ">resolved<",
        "test_output.txt",
        ">412<",
        test_id,
        "&lt;script&gt;x&lt;/script&gt;",
    ] {
        assert!(high.contains(want), "{want} missing from {high}");
    }
    assert!(
        rows[1].contains("test_config_changed") && rows[1].contains(">low<"),
        "{}",
        rows[1]
    );
    assert!(!section.contains(minor_id), "an unflagged instance is not listed");
    assert!(!dom.contains("<script>"), "evidence is text, not markup");
    assert!(dom.contains("flagged by integrity checks (of 2 assessed)"));

    // JUnit of a strict run (hardened report present): the flagged resolved case fails with
    // its evidence; the property names the kind.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("junit well-formed");
    let case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(flagged_id))
        .unwrap();
    let failure = case.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(failure.attribute("type"), Some("integrity"));
    assert!(
        failure
            .text()
            .unwrap()
            .contains(&format!("test_output.txt:412 ({test_id})"))
    );
    let kinds = case
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("integrity.kinds=")));
    assert_eq!(kinds, Some("status_outside_runner"));
}

#[test]
fn comparison_page_lists_what_changed_in_a_real_browser() {
    // BASE: the real run report of 100 Verified instances (73 resolved). NEW: the same run
    // with two resolved instances broken and one unresolved one fixed.
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().join("base.json");
    std::fs::copy(oracle().join("run-report.json"), &base).unwrap();
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    let take = |r: &mut Value, key: &str, id: &str| {
        let a = r[key].as_array_mut().unwrap();
        let i = a
            .iter()
            .position(|v| v == id)
            .unwrap_or_else(|| panic!("{id} not in {key}"));
        a.remove(i);
    };
    let resolved: Vec<String> = r["resolved_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let unresolved: Vec<String> = r["unresolved_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let broken = ["django__django-11133", "sympy__sympy-12419"];
    let fixed = "astropy__astropy-14598";
    for b in broken {
        assert!(resolved.contains(&b.to_owned()));
        take(&mut r, "resolved_ids", b);
        r["unresolved_ids"].as_array_mut().unwrap().push(Value::from(b));
    }
    assert!(unresolved.contains(&fixed.to_owned()));
    take(&mut r, "unresolved_ids", fixed);
    r["resolved_ids"].as_array_mut().unwrap().push(Value::from(fixed));
    r["resolved_instances"] = Value::from(72);
    r["unresolved_instances"] = Value::from(r["unresolved_ids"].as_array().unwrap().len());
    let new = tmp.path().join("new.json");
    std::fs::write(&new, serde_json::to_string_pretty(&r).unwrap()).unwrap();

    let out = tmp.path().join("cmp/compare.html");
    let o = bin()
        .args(["report", "--compare"])
        .arg(&base)
        .arg(&new)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("1 newly resolved, 2 newly broken"), "{stdout}");
    let url = format!("file://{}", out.display());
    let dom = String::from_utf8(chromium(&["--dump-dom", &url]).stdout).expect("utf8 dom");
    let part = |id: &str| {
        let a = dom
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no {id}"));
        dom[a..a + dom[a..].find("</section>").unwrap()].to_owned()
    };
    let fixed_part = part("newly-resolved");
    assert!(
        fixed_part.contains("Newly resolved (1)") && fixed_part.contains(fixed),
        "{fixed_part}"
    );
    let broken_part = part("newly-broken");
    assert!(broken_part.contains("(2)"), "{broken_part}");
    for b in broken {
        assert!(broken_part.contains(b), "{b} not listed as broken");
        assert!(!fixed_part.contains(b));
    }
    let rates = part("rates");
    // The official rate is over the dataset's 500 instances: 73 → 72 of 500.
    assert!(
        rates.contains("<td class=\"n\">73</td>")
            && rates.contains("<td class=\"n\">72</td>")
            && rates.contains("-0.2 points"),
        "{rates}"
    );
    // Per repository: django and sympy lost one each, astropy gained one, others unchanged.
    let repos = part("per-repo");
    let row = |repo: &str| {
        let a = repos
            .find(&format!("<td>{repo}</td>"))
            .unwrap_or_else(|| panic!("no row {repo}"));
        repos[a..a + repos[a..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row("django/django").ends_with(">-1</td>"), "{}", row("django/django"));
    assert!(row("sympy/sympy").ends_with(">-1</td>"), "{}", row("sympy/sympy"));
    assert!(
        row("astropy/astropy").ends_with(">+1</td>"),
        "{}",
        row("astropy/astropy")
    );
    assert!(row("psf/requests").ends_with(">+0</td>"), "{}", row("psf/requests"));
    assert_eq!(repos.matches("<tr>").count(), 13, "12 repositories and the header");
}
