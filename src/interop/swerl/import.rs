//! swe-rl layout → run directory: each instance gets finished stage files (localization,
//! repair samples, regression tests, reproduction tests, execution results) that
//! `agentless-mini rerank` reads as its own, and that `execute` runs again in containers when
//! asked. Stage keys are hashes of the imported records, so importing the same files again
//! changes nothing, and importing changed files moves the old ones aside.
//!
//! Two things cannot cross over: upstream executes every sample while we execute one sample
//! per normalized patch (the first), so samples that normalize alike but got different test
//! results upstream are reported as disagreements (the first sample's results are kept); and
//! reproduction results need the tests' code (`reproduction_tests.jsonl`), without which they
//! are left out and counted.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::artifact::jsonl::{Opened, open_stage};
use crate::artifact::key::sha256_hex;
use crate::artifact::{RunDir, StageId, StageKey};
use crate::pipeline::containers::ReproVerdict;
use crate::pipeline::execute::{self, ApplyResult, CandidateResult, RegressionOutcome};
use crate::pipeline::localize::{self, LocalizeSample, location_sets};
use crate::pipeline::patch::{FileChange, normalized_patch};
use crate::pipeline::python::syntax;
use crate::pipeline::regression::{self, RegressionRecord};
use crate::pipeline::repair::{self, DropReason, RepairOutcome, RepairSample};
use crate::pipeline::repro::{self, ReproRecord};
use crate::pipeline::sampling::{PromptRecord, Rec};

use super::InteropError;
use super::format::{
    Layout, LocRow, PatchRow, RegressionResultRow, RegressionTestsRow, RepairRow, ReproResultRow, ReproTestRow,
    read_rows,
};

/// The tool named in imported drop reasons.
pub const TOOL: &str = "swe-rl";

/// What was imported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub instances: usize,
    /// Samples per instance (upstream's `--num_samples`).
    pub samples: usize,
    pub localized: usize,
    pub with_regression_tests: usize,
    pub with_repro_tests: usize,
    /// Stage files already imported with the same content (left as they were).
    pub unchanged: usize,
    /// Reproduction results whose test has no code in `reproduction_tests.jsonl` (left out).
    pub results_without_code: usize,
    /// Instance → samples whose results differ from the first sample of the same normalized
    /// patch (only the first one's results are kept).
    pub disagreements: BTreeMap<String, usize>,
}

#[derive(Default)]
struct Instance {
    loc: Option<LocRow>,
    repair: Option<RepairRow>,
    patches: Vec<(usize, PatchRow)>,
    regression: HashMap<usize, RegressionResultRow>,
    reproduction: HashMap<usize, Vec<ReproResultRow>>,
    regression_tests: Option<RegressionTestsRow>,
    repro_tests: Vec<ReproTestRow>,
}

fn by_instance<'a>(all: &'a mut BTreeMap<String, Instance>, id: &str) -> &'a mut Instance {
    all.entry(id.to_owned()).or_default()
}

/// Import the layout at `from` into the run directory `run`.
pub fn import(from: &Layout, run: &RunDir) -> Result<Imported, InteropError> {
    let n = from.sample_count();
    if n == 0 {
        return Err(InteropError::Invalid(format!(
            "{}: no output_0_normalized.jsonl or output_0_processed.jsonl: not a swe-rl repair folder",
            from.repair_dir().display()
        )));
    }
    let mut all: BTreeMap<String, Instance> = BTreeMap::new();
    for i in 0..n {
        let path = if from.normalized(i).is_file() {
            from.normalized(i)
        } else {
            from.processed(i)
        };
        for row in read_rows::<PatchRow>(&path)?.unwrap_or_default() {
            by_instance(&mut all, &row.instance_id).patches.push((i, row));
        }
        for row in read_rows::<RegressionResultRow>(&from.regression_results(i))?.unwrap_or_default() {
            // rerank.py reads the first row of an instance.
            by_instance(&mut all, &row.instance_id)
                .regression
                .entry(i)
                .or_insert(row);
        }
        for row in read_rows::<ReproResultRow>(&from.reproduction_results(i))?.unwrap_or_default() {
            by_instance(&mut all, &row.instance_id)
                .reproduction
                .entry(i)
                .or_default()
                .push(row);
        }
    }
    for row in read_rows::<LocRow>(&from.loc())?.unwrap_or_default() {
        if let Some(inst) = all.get_mut(&row.instance_id) {
            inst.loc = Some(row);
        }
    }
    for row in read_rows::<RepairRow>(&from.repair_output())?.unwrap_or_default() {
        if let Some(inst) = all.get_mut(&row.instance_id) {
            inst.repair = Some(row);
        }
    }
    for row in read_rows::<RegressionTestsRow>(&from.regression_tests())?.unwrap_or_default() {
        if let Some(inst) = all.get_mut(&row.instance_id) {
            inst.regression_tests = Some(row);
        }
    }
    for row in read_rows::<ReproTestRow>(&from.repro_tests())?.unwrap_or_default() {
        if let Some(inst) = all.get_mut(&row.instance_id) {
            inst.repro_tests.push(row);
        }
    }
    let mut out = Imported {
        samples: n,
        ..Imported::default()
    };
    for (id, inst) in &all {
        import_instance(run, id, inst, &mut out)?;
        out.instances += 1;
    }
    Ok(out)
}

fn import_instance(run: &RunDir, id: &str, inst: &Instance, out: &mut Imported) -> Result<(), InteropError> {
    // Localization.
    let mut sets: Vec<Vec<String>> = Vec::new();
    if let Some(loc) = &inst.loc {
        let lists = loc.found_files.lists();
        sets = location_sets(lists.clone());
        let mut records: Vec<Rec<LocalizeSample>> = Vec::new();
        for (i, files) in lists.into_iter().enumerate() {
            let traj = loc.file_traj.get(i);
            let prompt_sha = traj.map(|t| prompt(&mut records, &t.prompt)).unwrap_or_default();
            records.push(Rec::Sample(LocalizeSample {
                index: i,
                prompt_sha,
                n_files: files.len(),
                raw: traj.map(|t| t.response.clone()).unwrap_or_default(),
                files,
                usage: Default::default(),
                failure: None,
            }));
        }
        write_stage(run, id, StageId::Localize, localize::FORMAT_VERSION, &records, out)?;
        out.localized += 1;
    }

    // Repair samples, in upstream sample order.
    let mut records: Vec<Rec<RepairSample>> = Vec::new();
    let mut samples: Vec<RepairSample> = Vec::new();
    for (i, row) in &inst.patches {
        let repair = inst.repair.as_ref();
        let raw = repair
            .and_then(|r| r.all_generations.first())
            .and_then(|g| g.get(*i))
            .cloned()
            .unwrap_or_default();
        let prompt_sha = repair
            .and_then(|r| r.traj.get(*i))
            .map(|t| prompt(&mut records, &t.prompt))
            .unwrap_or_default();
        let location_set = repair
            .and_then(|r| r.all_found_files.get(*i))
            .and_then(|files| sets.iter().position(|s| s == files))
            .unwrap_or(0);
        let sample = RepairSample {
            index: *i,
            location_set,
            prompt_sha,
            raw,
            usage: Default::default(),
            failure: None,
            outcome: outcome(row, *i)?,
        };
        records.push(Rec::Sample(sample.clone()));
        samples.push(sample);
    }
    write_stage(run, id, StageId::Repair, repair::FORMAT_VERSION, &records, out)?;

    // Regression tests: the listed ones, or (no list: rerank.py counts every failure) every
    // test that failed anywhere.
    let passing: Vec<String> = match &inst.regression_tests {
        Some(r) => {
            out.with_regression_tests += 1;
            r.tests_passing_in_original_repo.clone()
        }
        None => {
            let mut all: Vec<String> = Vec::new();
            for (i, _) in &inst.patches {
                for t in inst
                    .regression
                    .get(i)
                    .and_then(|r| r.regression.as_ref())
                    .into_iter()
                    .flatten()
                {
                    if !all.contains(t) {
                        all.push(t.clone());
                    }
                }
            }
            all
        }
    };
    let reg = vec![RegressionRecord::Run {
        passing,
        rejected: None,
        output_tail: String::new(),
    }];
    write_stage(run, id, StageId::Regression, regression::FORMAT_VERSION, &reg, out)?;

    // Reproduction tests: one generated sample per vote, each kept as reproducing the issue.
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut repro_records: Vec<Rec<ReproRecord>> = Vec::new();
    let mut index = 1;
    for t in &inst.repro_tests {
        let sha = repro::normalized_sha(&t.code);
        ids.insert(t.test_id.as_str(), format!("repro-{}", &sha[..12.min(sha.len())]));
        for _ in 0..t.votes.max(1) {
            repro_records.push(Rec::Sample(ReproRecord::Test {
                index,
                prompt_sha: String::new(),
                raw: String::new(),
                usage: Default::default(),
                code: Some(t.code.clone()),
                normalized_sha: Some(sha.clone()),
                failure: None,
            }));
            index += 1;
        }
        repro_records.push(Rec::Sample(ReproRecord::Verified {
            normalized_sha: sha,
            verdict: ReproVerdict::Reproduced,
            exit_code: None,
            timed_out: false,
            output_tail: String::new(),
        }));
    }
    out.with_repro_tests += usize::from(!inst.repro_tests.is_empty());
    write_stage(run, id, StageId::Repro, repro::FORMAT_VERSION, &repro_records, out)?;

    // Execution results: one per normalized patch, from its first sample.
    let result_of = |i: usize, out: &mut Imported| -> (Option<Vec<String>>, Vec<(String, ReproVerdict)>, bool) {
        let regression = inst.regression.get(&i).and_then(|r| r.regression.clone());
        let mut repro_results = Vec::new();
        for row in inst.reproduction.get(&i).into_iter().flatten() {
            match ids.get(row.test_id.as_str()) {
                Some(our) => repro_results.push((
                    our.clone(),
                    if row.resolved {
                        ReproVerdict::Resolved
                    } else {
                        ReproVerdict::Other
                    },
                )),
                None => out.results_without_code += 1,
            }
        }
        let ran = regression.is_some() || !repro_results.is_empty();
        (regression, repro_results, ran)
    };
    let mut results: Vec<CandidateResult> = Vec::new();
    let mut disagreements = 0;
    for s in &samples {
        let normalized = s.outcome.normalized().trim();
        if normalized.is_empty() {
            continue;
        }
        let sha = sha256_hex(normalized);
        let (regression_failed, repro_results, ran) = result_of(s.index, out);
        let regression = regression_failed.map(|failed| RegressionOutcome::Ran { failed });
        match results.iter().find(|r| r.normalized_sha == sha) {
            Some(first) => {
                let same = first.regression == regression && sorted(&first.repro) == sorted(&repro_results);
                disagreements += usize::from(!same);
            }
            None if ran => results.push(CandidateResult {
                normalized_sha: sha,
                sample: s.index,
                // Upstream records neither how a patch was applied nor why a run failed: an
                // imported result is an applied patch whose regression run was graded.
                apply: ApplyResult::Applied { strategy: None },
                regression,
                repro: repro_results,
                elapsed_ms: 0,
            }),
            None => {}
        }
    }
    if disagreements > 0 {
        out.disagreements.insert(id.to_owned(), disagreements);
    }
    write_stage(run, id, StageId::Execute, execute::FORMAT_VERSION, &results, out)?;
    Ok(())
}

fn sorted(v: &[(String, ReproVerdict)]) -> Vec<(String, ReproVerdict)> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Store a prompt once in `records`; its hash.
fn prompt<S>(records: &mut Vec<Rec<S>>, text: &str) -> String {
    let sha = sha256_hex(text);
    let known = records.iter().any(|r| matches!(r, Rec::Prompt(p) if p.sha == sha));
    if !known {
        records.push(Rec::Prompt(PromptRecord {
            sha: sha.clone(),
            text: text.to_owned(),
        }));
    }
    sha
}

/// A patch row as a sample's outcome.
fn outcome(row: &PatchRow, i: usize) -> Result<RepairOutcome, InteropError> {
    let changes = || -> Option<Vec<FileChange>> {
        let old = row.original_file_content.as_ref()?;
        let new = row.new_file_content.as_ref()?;
        Some(
            row.edited_files
                .iter()
                .zip(old.iter().zip(new))
                .map(|(path, (old, new))| FileChange {
                    path: path.clone(),
                    old: old.clone(),
                    new: new.clone(),
                })
                .collect(),
        )
    };
    if !row.model_patch.trim().is_empty() {
        let normalized = match (&row.normalized_patch, changes()) {
            (Some(n), _) => n.clone(),
            (None, Some(ch)) => normalized_patch(&ch),
            (None, None) => {
                return Err(InteropError::Invalid(format!(
                    "{}: sample {i} has a patch but neither normalized_patch nor the file contents to normalize it",
                    row.instance_id
                )));
            }
        };
        return Ok(RepairOutcome::Patch {
            patch: row.model_patch.clone(),
            normalized,
            edited_files: row.edited_files.clone(),
        });
    }
    let reason = if row.raw_model_patch.trim().is_empty() {
        DropReason::NoEdits
    } else {
        match changes() {
            Some(ch) => ch
                .iter()
                .find_map(|c| {
                    syntax::check(&c.new).err().map(|e| DropReason::SyntaxError {
                        file: c.path.clone(),
                        line: e.line,
                        message: e.message,
                    })
                })
                .unwrap_or(DropReason::BlankLinesOnly),
            None => DropReason::Upstream { tool: TOOL.to_owned() },
        }
    };
    Ok(RepairOutcome::Dropped {
        reason,
        raw_patch: row.raw_model_patch.clone(),
    })
}

/// Write a finished stage file of imported records (left alone when the same records are
/// already there).
fn write_stage<T: Serialize + DeserializeOwned>(
    run: &RunDir,
    id: &str,
    stage: StageId,
    format_version: u32,
    records: &[T],
    out: &mut Imported,
) -> Result<(), InteropError> {
    let body = serde_json::to_string(records).map_err(|e| InteropError::Invalid(format!("{id}: {e}")))?;
    let key = StageKey::of(&serde_json::json!({
        "imported": TOOL,
        "stage": stage.name(),
        "instance_id": id,
        "records_sha256": sha256_hex(&body),
    }));
    let path = run.stage_file(id, stage)?;
    let mut w = match open_stage::<T>(&path, stage, format_version, &key)? {
        Opened::Done(_) => {
            out.unchanged += 1;
            return Ok(());
        }
        Opened::Open(existing, w) if existing.is_empty() => w,
        Opened::Open(_, w) => {
            // A partial file with this key (an interrupted import) is written again whole.
            drop(w);
            fs_err::remove_file(&path).map_err(|e| InteropError::Io {
                path: path.clone(),
                source: e,
            })?;
            match open_stage::<T>(&path, stage, format_version, &key)? {
                Opened::Open(_, w) => w,
                Opened::Done(_) => return Err(InteropError::Invalid(format!("{}: cannot rewrite", path.display()))),
            }
        }
    };
    for r in records {
        w.record(r)?;
    }
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::swerl::format::write_rows;
    use crate::interop::swerl::ours::{InstanceArtifacts, RerankSettings};

    const OLD: &str = "def f(x):\n    return x + 1\n";

    fn row(id: &str, new: Option<&str>, patch: &str, raw: &str) -> PatchRow {
        PatchRow {
            model_name_or_path: "agentless".into(),
            instance_id: id.into(),
            model_patch: patch.into(),
            raw_model_patch: raw.into(),
            edited_files: new.map(|_| vec!["m.py".to_owned()]).unwrap_or_default(),
            original_file_content: new.map(|_| vec![OLD.to_owned()]),
            new_file_content: new.map(|n| vec![n.to_owned()]),
            normalized_patch: None,
        }
    }

    /// Upstream's processed files only (no normalized ones): the vote key is computed from the
    /// file contents, drop reasons are read from them, and samples of one normalized patch
    /// with different results are counted.
    #[test]
    fn processed_files_with_contents_import_and_disagreements_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("in"));
        let fixed = "def f(x):\n    return x + 2\n";
        let reformatted = "def f(x):\n    return (x + 2)  # fixed\n";
        let patch = "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f(x):\n-    return x + 1\n+    return x + 2\n";
        let samples = [
            row("o__r-1", Some(fixed), patch, patch),
            row("o__r-1", Some("def f(x:\n"), "", "diff --git a/m.py b/m.py\n"),
            row("o__r-1", Some(reformatted), patch, patch),
            row("o__r-1", None, "", ""),
        ];
        fs_err::create_dir_all(layout.repair_dir()).unwrap();
        for (i, r) in samples.iter().enumerate() {
            write_rows(&layout.processed(i), std::slice::from_ref(r)).unwrap();
            let failed = if i == 2 { vec!["t::b".to_owned()] } else { vec![] };
            write_rows(
                &layout.regression_results(i),
                &[RegressionResultRow {
                    instance_id: "o__r-1".into(),
                    regression: Some(failed),
                }],
            )
            .unwrap();
        }
        write_rows(
            &layout.regression_tests(),
            &[RegressionTestsRow {
                instance_id: "o__r-1".into(),
                tests_passing_in_original_repo: vec!["t::a".into(), "t::b".into()],
            }],
        )
        .unwrap();
        let run = RunDir::at(dir.path().join("run"));
        fs_err::create_dir_all(run.root()).unwrap();
        let s = import(&layout, &run).unwrap();
        assert_eq!((s.instances, s.samples), (1, 4));
        assert_eq!(
            s.disagreements.get("o__r-1"),
            Some(&1),
            "sample 2 failed t::b, sample 0 did not"
        );
        let a = InstanceArtifacts::load(&run, "o__r-1", RerankSettings::default()).unwrap();
        let out: Vec<&RepairOutcome> = a.repairs.samples.iter().map(|s| &s.outcome).collect();
        assert!(!out[0].normalized().is_empty());
        assert_eq!(
            out[0].normalized(),
            out[2].normalized(),
            "formatting and comments do not vote apart"
        );
        assert!(
            matches!(out[1], RepairOutcome::Dropped { reason: DropReason::SyntaxError { file, .. }, .. } if file == "m.py"),
            "{:?}",
            out[1]
        );
        assert!(matches!(
            out[3],
            RepairOutcome::Dropped {
                reason: DropReason::NoEdits,
                ..
            }
        ));
        // Sample 2 takes sample 0's result (one execution per normalized patch); dropped
        // samples have none (and are no candidates).
        let c = a.candidates();
        assert_eq!(
            c.iter().map(|c| c.regression_failures).collect::<Vec<_>>(),
            [0, 10_000, 0, 10_000]
        );
        assert_eq!(a.regression.tests, ["t::a", "t::b"]);
        // Again: nothing changes.
        let again = import(&layout, &run).unwrap();
        assert_eq!(again.unchanged, 4, "repair, regression, repro, execute");
    }
}
