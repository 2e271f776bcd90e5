//! The submission layout of the SWE-bench experiments repository
//! (`evaluation/<split>/<YYYYMMDD>_<name>/`):
//!
//! ```text
//! all_preds.jsonl            {"instance_id", "model_name_or_path", "model_patch"} per line
//! metadata.yaml              assets / info / tags, as the leaderboard reads them
//! README.md                  the system, the results, the submission checklist
//! trajs/<instance_id>.json   one trace per instance: every stage record the pipeline kept
//! logs/<instance_id>/        eval.sh, patch.diff, report.json, run_instance.log, test_output.txt
//! results/results.json       {"no_generation", "no_logs", "resolved"}
//! results/resolved_by_repo.json, results/resolved_by_time.json   {key: {"resolved", "total"}}
//! ```
//!
//! The split folder is one of the repository's (`lite`, `verified`, `test` (the full set),
//! `multimodal`, `multilingual`, `bash-only`) and is what its `analysis/get_results.py` prints
//! as the split; [`check_submission_path`] says where the folder belongs when `--out` is not
//! already `evaluation/<split>/<YYYYMMDD>_<name>`.
//!
//! `all_preds.jsonl` is written and then checked against the official predictions schema
//! (the harness's [`check_predictions_file`]): each line one object with exactly those three
//! keys, string ids, one model, no duplicate ids, ids from the dataset, and loadable by the
//! official loader's rules. Trajectories are the stage records as the run directory's own
//! reader ([`RunDir::read_stage`]) gives them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use agentless_harness::dataset::Instance;
use agentless_harness::evaluate::logs::{EVAL_FILE, INSTANCE_LOG_FILE, PATCH_FILE, REPORT_FILE, TEST_OUTPUT_FILE};
use agentless_harness::predictions::Prediction;
pub use agentless_harness::predictions::check::check_predictions_file;
use serde_json::{Value, json};

use crate::artifact::{RunDir, StageId};
use crate::reporting::runs::EvalRun;
use crate::reporting::summary::per_repo;
use crate::reporting::{ReportingError, percent};

/// The five files of an instance's log folder, in the layout's order.
pub const LOG_FILES: [&str; 5] = [EVAL_FILE, PATCH_FILE, REPORT_FILE, INSTANCE_LOG_FILE, TEST_OUTPUT_FILE];

/// `metadata.yaml` fields (the leaderboard's `info` and `tags`).
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// `info.name`, the leaderboard entry's name.
    pub name: String,
    pub authors: Option<String>,
    /// `info.site`, `info.report`, `info.logo` (URLs).
    pub site: Option<String>,
    pub report: Option<String>,
    pub logo: Option<String>,
    /// `tags.model`, `tags.org`.
    pub models: Vec<String>,
    pub orgs: Vec<String>,
    /// `tags.os_model`: the model's weights are open.
    pub os_model: bool,
    /// `tags.os_system`: the system is open source (agentless-mini is).
    pub os_system: bool,
    /// `tags.system.attempts`: `1`, or `2+` when several samples are reranked (Best@k).
    pub attempts: String,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportInput<'a> {
    pub predictions: &'a [Prediction],
    pub eval: &'a EvalRun,
    /// The pipeline's run directory (for trajectories), when there is one.
    pub run_dir: Option<&'a RunDir>,
    /// The whole split, for per-repository and per-year totals and the id check.
    pub dataset: Option<&'a [Instance]>,
    /// `swe-bench verified`, `lite`, ... (for the README).
    pub split_name: &'a str,
}

/// The experiments repository's split folders under `evaluation/`.
pub const EXPERIMENTS_SPLITS: [&str; 6] = ["lite", "verified", "test", "multimodal", "multilingual", "bash-only"];

/// The `evaluation/<split>` folder name of a dataset: `--split` (`full` is the experiments
/// repository's `test`), else a name containing `verified`, `lite`, `multimodal` or
/// `multilingual` (a repository id such as `SWE-bench/SWE-bench_Verified`, or a file name).
pub fn experiments_split(split: Option<&str>, dataset: Option<&str>) -> Option<&'static str> {
    match split {
        Some("verified") => return Some("verified"),
        Some("lite") => return Some("lite"),
        Some("full") => return Some("test"),
        _ => {}
    }
    let d = dataset?.to_ascii_lowercase();
    ["verified", "lite", "multimodal", "multilingual"]
        .into_iter()
        .find(|k| d.contains(k))
        .or_else(|| (d.ends_with("swe-bench") || d.ends_with("swe-bench/swe-bench")).then_some("test"))
}

/// Where a submission folder goes: the split and folder name when `out` is already
/// `evaluation/<split>/<YYYYMMDD>_<name>`, and notes on what differs from that convention.
pub fn check_submission_path(out: &Path, expected_split: Option<&str>, today: &str) -> (Option<String>, Vec<String>) {
    let mut notes = Vec::new();
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = out.parent();
    let split = parent
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| EXPERIMENTS_SPLITS.contains(&n.as_str()));
    let under_evaluation = parent
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .is_some_and(|n| n == "evaluation");
    let dated = name.len() > 9 && name.as_bytes()[..8].iter().all(u8::is_ascii_digit) && name.as_bytes()[8] == b'_';
    let suggested = format!(
        "evaluation/{}/{today}_{}",
        expected_split.or(split.as_deref()).unwrap_or("<split>"),
        if dated { &name[9..] } else { name.as_str() }
    );
    if !dated {
        notes.push(format!(
            "the experiments repository names a submission folder <YYYYMMDD>_<name>: rename {name} (e.g. {suggested})"
        ));
    }
    match (&split, under_evaluation) {
        (Some(_), true) => {}
        _ => notes.push(format!(
            "a submission goes under evaluation/<split>/ of the experiments repository ({}): move it to {suggested}",
            EXPERIMENTS_SPLITS.join(", ")
        )),
    }
    if let (Some(got), Some(want)) = (&split, expected_split)
        && got != want
    {
        notes.push(format!(
            "the folder is under evaluation/{got}/ but the dataset is the {want} split"
        ));
    }
    (split.or_else(|| expected_split.map(str::to_owned)), notes)
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub predictions: usize,
    pub resolved: Vec<String>,
    pub no_generation: Vec<String>,
    pub no_logs: Vec<String>,
    pub log_folders: usize,
    pub trajectories: usize,
    /// Things the user should know (missing trajectories, no dataset for totals, ...).
    pub notes: Vec<String>,
}

/// Write the layout into `out` (created; must be empty or absent so nothing is mixed).
pub fn export(input: &ExportInput<'_>, meta: &Metadata, out: &Path) -> Result<ExportSummary, ReportingError> {
    if out.exists()
        && fs_err::read_dir(out)
            .map_err(|e| ReportingError::io(out, e))?
            .next()
            .is_some()
    {
        return Err(ReportingError::Invalid(format!(
            "{} is not empty; export into a new folder",
            out.display()
        )));
    }
    let io = |p: &Path, e| ReportingError::io(p, e);
    fs_err::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut s = ExportSummary {
        out: out.to_path_buf(),
        predictions: input.predictions.len(),
        ..Default::default()
    };
    let report = &input.eval.report;

    // all_preds.jsonl, then the schema check on what was written.
    let preds_path = out.join("all_preds.jsonl");
    let mut text = String::new();
    for p in input.predictions {
        let line = json!({
            "instance_id": p.instance_id,
            "model_name_or_path": p.model_name_or_path,
            "model_patch": p.model_patch,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    fs_err::write(&preds_path, text).map_err(|e| io(&preds_path, e))?;
    let known: Option<BTreeSet<String>> = input.dataset.map(|d| d.iter().map(|i| i.instance_id.clone()).collect());
    check_predictions_file(&preds_path, known.as_ref()).map_err(|e| ReportingError::Invalid(e.to_string()))?;

    // logs/<instance_id>/ from the official log tree.
    let predicted: BTreeSet<&str> = input.predictions.iter().map(|p| p.instance_id.as_str()).collect();
    for p in input.predictions {
        if p.is_empty() {
            s.no_generation.push(p.instance_id.clone());
            continue;
        }
        let Some(src) = input.eval.instance_dir(&p.instance_id) else {
            s.no_logs.push(p.instance_id.clone());
            continue;
        };
        let dst = out.join("logs").join(&p.instance_id);
        fs_err::create_dir_all(&dst).map_err(|e| io(&dst, e))?;
        let mut copied = 0;
        for f in LOG_FILES {
            let from = src.join(f);
            if from.is_file() {
                fs_err::copy(&from, dst.join(f)).map_err(|e| io(&from, e))?;
                copied += 1;
            }
        }
        if copied == 0 {
            s.no_logs.push(p.instance_id.clone());
        } else {
            s.log_folders += 1;
        }
    }
    s.resolved = report
        .resolved_ids
        .iter()
        .filter(|id| predicted.contains(id.as_str()))
        .cloned()
        .collect();
    s.no_generation.sort();
    s.no_logs.sort();

    // trajs/: every stage record the pipeline kept for the instance.
    if let Some(run_dir) = input.run_dir {
        for p in input.predictions {
            if !run_dir.instance_dir(&p.instance_id)?.is_dir() {
                continue;
            }
            let traj = trajectory(run_dir, &p.instance_id)?;
            let path = out.join("trajs").join(format!("{}.json", p.instance_id));
            fs_err::create_dir_all(out.join("trajs")).map_err(|e| io(out, e))?;
            fs_err::write(&path, serde_json::to_string_pretty(&traj).unwrap_or_default()).map_err(|e| io(&path, e))?;
            s.trajectories += 1;
        }
    }
    if s.trajectories == 0 {
        s.notes.push(
            "no trajectories: the run has no pipeline artifacts (instances/<id>/*.jsonl); the leaderboard asks for one trace per instance"
                .into(),
        );
    } else if s.trajectories < input.predictions.len() {
        s.notes.push(format!(
            "trajectories for {} of {} predictions",
            s.trajectories,
            input.predictions.len()
        ));
    }

    // results/.
    let results = out.join("results");
    fs_err::create_dir_all(&results).map_err(|e| io(&results, e))?;
    let rjson = json!({ "no_generation": s.no_generation, "no_logs": s.no_logs, "resolved": s.resolved });
    write_json(&results.join("results.json"), &rjson)?;
    let (by_repo, by_time) = breakdowns(&s.resolved, input, &mut s.notes);
    write_json(&results.join("resolved_by_repo.json"), &by_repo)?;
    if let Some(t) = &by_time {
        write_json(&results.join("resolved_by_time.json"), t)?;
    }

    // metadata.yaml and README.md.
    let yaml = metadata_yaml(meta);
    fs_err::write(out.join("metadata.yaml"), yaml).map_err(|e| io(out, e))?;
    let readme = readme(meta, input, &s, &by_repo, by_time.as_ref(), out);
    fs_err::write(out.join("README.md"), readme).map_err(|e| io(out, e))?;
    Ok(s)
}

fn write_json(path: &Path, v: &Value) -> Result<(), ReportingError> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    fs_err::write(path, text).map_err(|e| ReportingError::io(path, e))
}

/// `{key: {"resolved": n, "total": m}}` by repository and by year of the issue. Totals come
/// from the dataset when given (the leaderboard's convention: the whole split), else from
/// the predictions.
fn breakdowns(resolved: &[String], input: &ExportInput<'_>, notes: &mut Vec<String>) -> (Value, Option<Value>) {
    let resolved: BTreeSet<&str> = resolved.iter().map(String::as_str).collect();
    let mut repo: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut time: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    match input.dataset {
        Some(d) => {
            for i in d {
                let hit = usize::from(resolved.contains(i.instance_id.as_str()));
                let e = repo.entry(i.repo.clone()).or_default();
                e.0 += hit;
                e.1 += 1;
                let year: String = i.created_at.chars().take(4).collect();
                if year.len() == 4 && year.chars().all(|c| c.is_ascii_digit()) {
                    let e = time.entry(year).or_default();
                    e.0 += hit;
                    e.1 += 1;
                }
            }
        }
        None => {
            for s in per_repo(&input.eval.report) {
                repo.insert(s.repo, (s.resolved, s.total));
            }
            notes.push(
                "no dataset given: per-repository totals count the run's instances, and resolved_by_time.json is not written"
                    .into(),
            );
        }
    }
    let to_json = |m: BTreeMap<String, (usize, usize)>| {
        Value::Object(
            m.into_iter()
                .map(|(k, (r, t))| (k, json!({"resolved": r, "total": t})))
                .collect(),
        )
    };
    let by_time = (!time.is_empty()).then(|| to_json(time));
    (to_json(repo), by_time)
}

/// A YAML double-quoted scalar (every string is quoted: no type guessing, no injection).
fn yq(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `metadata.yaml` as the experiments repository lays it out.
pub fn metadata_yaml(m: &Metadata) -> String {
    let mut y = String::new();
    y.push_str("assets:\n  logs: \"logs\"\n  trajs: \"trajs\"\n");
    y.push_str("info:\n");
    if let Some(a) = &m.authors {
        let _ = writeln!(y, "  authors: {}", yq(a));
    }
    if let Some(l) = &m.logo {
        let _ = writeln!(y, "  logo: {}", yq(l));
    }
    let _ = writeln!(y, "  name: {}", yq(&m.name));
    if let Some(r) = &m.report {
        let _ = writeln!(y, "  report: {}", yq(r));
    }
    if let Some(s) = &m.site {
        let _ = writeln!(y, "  site: {}", yq(s));
    }
    y.push_str("tags:\n  checked: false\n");
    let list = |y: &mut String, key: &str, items: &[String]| {
        if items.is_empty() {
            let _ = writeln!(y, "  {key}: []");
        } else {
            let _ = writeln!(y, "  {key}:");
            for i in items {
                let _ = writeln!(y, "  - {}", yq(i));
            }
        }
    };
    list(&mut y, "model", &m.models);
    list(&mut y, "org", &m.orgs);
    let _ = writeln!(y, "  os_model: {}", m.os_model);
    let _ = writeln!(y, "  os_system: {}", m.os_system);
    let attempts = if m.attempts.trim() == "1" {
        "1".to_owned()
    } else {
        yq(m.attempts.trim())
    };
    let _ = writeln!(y, "  system:\n    attempts: {attempts}");
    y
}

fn readme(
    m: &Metadata,
    input: &ExportInput<'_>,
    s: &ExportSummary,
    by_repo: &Value,
    by_time: Option<&Value>,
    out: &Path,
) -> String {
    let dir = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let total = input
        .dataset
        .map_or(input.eval.report.total_instances, <[Instance]>::len);
    let mut r = String::new();
    let _ = writeln!(r, "# {}\n", m.name);
    let _ = writeln!(
        r,
        "Generated by agentless-mini: the Agentless Mini scaffold of SWE-RL (arXiv 2502.18449) — file localization, \
         sampled SEARCH/REPLACE repairs, reproduction and regression tests executed in the SWE-bench containers, \
         and the SWE-RL rerank rule choosing one patch per issue. The submitted patch is the only attempt evaluated \
         ({}).\n",
        if m.attempts.trim() == "1" {
            "a single sample"
        } else {
            "several samples are reranked without the SWE-bench tests: Best@k"
        }
    );
    let _ = writeln!(r, "## Results\n");
    r.push_str("```\n");
    let _ = writeln!(
        r,
        "Submission summary for {dir} on SWE-bench {} split",
        input.split_name
    );
    r.push_str(&"=".repeat(50));
    r.push('\n');
    let _ = writeln!(
        r,
        "Resolved {} instances ({:.2}%)",
        s.resolved.len(),
        percent(s.resolved.len(), total)
    );
    r.push_str(&"=".repeat(50));
    r.push_str("\nResolved by Repository\n");
    if let Value::Object(map) = by_repo {
        for (k, v) in map {
            let (res, tot) = (v["resolved"].as_u64().unwrap_or(0), v["total"].as_u64().unwrap_or(0));
            let _ = writeln!(r, "- {k}: {res}/{tot} ({:.2}%)", percent(res as usize, tot as usize));
        }
    }
    if let Some(Value::Object(map)) = by_time {
        r.push_str(&"=".repeat(50));
        r.push_str("\nResolved by Time\n");
        for (k, v) in map {
            let (res, tot) = (v["resolved"].as_u64().unwrap_or(0), v["total"].as_u64().unwrap_or(0));
            let _ = writeln!(r, "- {k}: {res}/{tot} ({:.2}%)", percent(res as usize, tot as usize));
        }
    }
    r.push_str("```\n\n");
    let _ = writeln!(
        r,
        "{} predictions, {} without a patch (`no_generation`), {} without evaluation logs (`no_logs`).\n",
        s.predictions,
        s.no_generation.len(),
        s.no_logs.len()
    );
    r.push_str(
        "Before opening the pull request, run `python analysis/get_results.py evaluation/<split>/<this folder>` in the \
         experiments repository and paste its output here, as the checklist asks.\n\n",
    );
    // Left unticked: each point is the submitter's own statement, not something a tool can
    // vouch for (an Agentless Mini run with several samples is not pass@1, for one).
    r.push_str("## Checklist (for the submitter to tick)\n\n");
    r.push_str("- [ ] Is a pass@1 submission (does not attempt the same task instance more than once)\n");
    r.push_str("- [ ] Does not use SWE-bench test knowledge (`PASS_TO_PASS`, `FAIL_TO_PASS`)\n");
    r.push_str("- [ ] Does not use the `hints` field in SWE-bench\n");
    r.push_str("- [ ] Does not have web-browsing OR has taken steps to prevent lookup of SWE-bench solutions via web-browsing\n\n");
    if let Some(rep) = &m.report {
        let _ = writeln!(r, "Technical report: {rep}\n");
    }
    if let Some(a) = &m.authors {
        let _ = writeln!(r, "Authors: {a}\n");
    }
    r
}

/// One instance's trace: the records of every stage file, in pipeline order.
fn trajectory(run: &RunDir, instance_id: &str) -> Result<Value, ReportingError> {
    let mut stages = serde_json::Map::new();
    for stage in StageId::ALL {
        if let Some(f) = run.read_stage::<Value>(instance_id, stage)? {
            stages.insert(stage.name().to_owned(), Value::Array(f.records));
        }
    }
    Ok(json!({ "instance_id": instance_id, "stages": stages }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_paths_follow_the_experiments_layout() {
        assert_eq!(experiments_split(Some("full"), None), Some("test"));
        assert_eq!(
            experiments_split(None, Some("SWE-bench/SWE-bench_Verified")),
            Some("verified")
        );
        assert_eq!(
            experiments_split(None, Some("princeton-nlp/SWE-bench_Lite")),
            Some("lite")
        );
        assert_eq!(experiments_split(None, Some("princeton-nlp/SWE-bench")), Some("test"));
        assert_eq!(experiments_split(None, Some("mine.jsonl")), None);
        let (split, notes) = check_submission_path(
            Path::new("/x/evaluation/verified/20261204_agentless-mini"),
            Some("verified"),
            "20261204",
        );
        assert_eq!((split.as_deref(), notes.len()), (Some("verified"), 0), "{notes:?}");
        let (split, notes) = check_submission_path(Path::new("/x/out"), Some("lite"), "20261204");
        assert_eq!(split.as_deref(), Some("lite"));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes.iter().all(|n| n.contains("evaluation/lite/20261204_out")),
            "{notes:?}"
        );
        let (_, notes) =
            check_submission_path(Path::new("/x/evaluation/lite/20261204_a"), Some("verified"), "20261204");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("the verified split"), "{notes:?}");
    }

    #[test]
    fn yaml_strings_are_quoted_and_escaped() {
        assert_eq!(yq("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        let y = metadata_yaml(&Metadata {
            name: "Agentless Mini: \"x\"".into(),
            models: vec!["m/1".into()],
            attempts: "2+".into(),
            os_system: true,
            ..Default::default()
        });
        assert!(y.contains("  name: \"Agentless Mini: \\\"x\\\"\"\n"), "{y}");
        assert!(y.contains("  model:\n  - \"m/1\"\n  org: []\n"), "{y}");
        assert!(
            y.ends_with("  os_model: false\n  os_system: true\n  system:\n    attempts: \"2+\"\n"),
            "{y}"
        );
    }
}
