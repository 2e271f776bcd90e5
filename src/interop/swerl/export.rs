//! Run directory → swe-rl layout. Upstream's `rerank.py` reads the normalized files as they
//! are (it normalizes only when they are missing), so with `--applied_rankers regression
//! reproduction` it votes over exactly our candidates: the same normalized patches, the same
//! regression failure counts (10000 when unknown, 0 where the ranker was off) and the same
//! sets of passed reproduction tests.

use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::RunDir;
use crate::artifact::key::sha256_hex;
use crate::pipeline::containers::ReproVerdict;
use crate::pipeline::execute::RegressionOutcome;
use crate::pipeline::localize::location_sets;
use crate::pipeline::repair::RepairOutcome;

use super::InteropError;
use super::format::{
    Layout, LocRow, PatchRow, RegressionResultRow, RegressionTestsRow, RepairRow, ReproResultRow, ReproTestRow, Traj,
    write_rows,
};
use super::ours::{InstanceArtifacts, RerankSettings};

/// `model_name_or_path` of upstream's patch rows (a constant there).
pub const UPSTREAM_MODEL_NAME: &str = "agentless";

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub instances: usize,
    /// `--num_samples` for `rerank.py`: the most repair samples of an instance.
    pub num_samples: usize,
    /// Instances with a localization here (the others were given with `--locations`).
    pub localized: usize,
    /// Instances without a finished repair stage (not exported).
    pub skipped: Vec<String>,
    /// Our rerank's choice by instance: the sample position and its patch (None: no rerank
    /// record, or no candidate).
    pub chosen: BTreeMap<String, Option<(usize, String)>>,
}

#[derive(Default)]
struct Rows {
    loc: Vec<LocRow>,
    repair: Vec<RepairRow>,
    regression_tests: Vec<RegressionTestsRow>,
    repro_tests: Vec<ReproTestRow>,
    /// By sample position.
    patches: Vec<Vec<PatchRow>>,
    regression: Vec<Vec<RegressionResultRow>>,
    reproduction: Vec<Vec<ReproResultRow>>,
}

/// Export every instance of `run` with finished repair samples into `out`.
pub fn export(run: &RunDir, out: &Path) -> Result<Exported, InteropError> {
    let settings = RerankSettings::of_run(run)?;
    let mut rows = Rows::default();
    let mut exported = Exported {
        instances: 0,
        num_samples: 0,
        localized: 0,
        skipped: Vec::new(),
        chosen: BTreeMap::new(),
    };
    for id in run.instance_ids()? {
        let art = match InstanceArtifacts::load(run, &id, settings) {
            Ok(a) => a,
            Err(InteropError::Invalid(_)) => {
                exported.skipped.push(id);
                continue;
            }
            Err(e) => return Err(e),
        };
        exported.instances += 1;
        exported.localized += usize::from(art.localization.is_some());
        exported.num_samples = exported.num_samples.max(art.repairs.samples.len());
        let chosen = art.rerank.as_ref().and_then(|r| {
            let pos = art
                .repairs
                .samples
                .iter()
                .position(|s| Some(s.index) == r.selected_sample)?;
            Some((pos, r.patch.clone()))
        });
        exported.chosen.insert(id.clone(), chosen);
        add_instance(&mut rows, &art);
    }
    let layout = Layout::new(out);
    fs_err::create_dir_all(layout.repair_dir()).map_err(|e| InteropError::Io {
        path: layout.repair_dir(),
        source: e,
    })?;
    if !rows.loc.is_empty() {
        write_rows(&layout.loc(), &rows.loc)?;
    }
    write_rows(&layout.repair_output(), &rows.repair)?;
    write_rows(&layout.regression_tests(), &rows.regression_tests)?;
    write_rows(&layout.repro_tests(), &rows.repro_tests)?;
    for i in 0..exported.num_samples {
        let processed: Vec<PatchRow> = rows.patches[i]
            .iter()
            .map(|p| PatchRow {
                normalized_patch: None,
                ..p.clone()
            })
            .collect();
        write_rows(&layout.processed(i), &processed)?;
        write_rows(&layout.normalized(i), &rows.patches[i])?;
        write_rows(&layout.regression_results(i), &rows.regression[i])?;
        write_rows(&layout.reproduction_results(i), &rows.reproduction[i])?;
    }
    Ok(exported)
}

fn add_instance(rows: &mut Rows, art: &InstanceArtifacts) {
    let id = art.instance_id.as_str();
    let sets = art
        .localization
        .as_ref()
        .map(|(samples, _)| location_sets(samples.iter().map(|s| s.files.clone())))
        .unwrap_or_default();
    if let Some((samples, prompts)) = &art.localization {
        rows.loc.push(LocRow {
            instance_id: id.to_owned(),
            found_files: super::format::FoundFiles::PerSample(samples.iter().map(|s| s.files.clone()).collect()),
            file_traj: samples
                .iter()
                .map(|s| Traj {
                    prompt: prompts.get(&s.prompt_sha).cloned().unwrap_or_default(),
                    response: s.raw.clone(),
                })
                .collect(),
        });
    }
    let samples = &art.repairs.samples;
    let edited = |o: &RepairOutcome| match o {
        RepairOutcome::Patch { edited_files, .. } => edited_files.clone(),
        RepairOutcome::Dropped { .. } => Vec::new(),
    };
    rows.repair.push(RepairRow {
        instance_id: id.to_owned(),
        raw_output: samples.iter().map(|s| s.raw.clone()).collect(),
        all_generations: vec![samples.iter().map(|s| s.raw.clone()).collect()],
        traj: samples
            .iter()
            .map(|s| Traj {
                prompt: art.repair_prompts.get(&s.prompt_sha).cloned().unwrap_or_default(),
                response: s.raw.clone(),
            })
            .collect(),
        file_names: vec![samples.iter().map(|s| edited(&s.outcome)).collect()],
        all_indices: samples.iter().map(|s| s.index).collect(),
        all_found_files: samples
            .iter()
            .map(|s| sets.get(s.location_set).cloned().unwrap_or_default())
            .collect(),
    });
    let regression_on = art.regression.enabled && !art.regression.tests.is_empty();
    if regression_on {
        rows.regression_tests.push(RegressionTestsRow {
            instance_id: id.to_owned(),
            tests_passing_in_original_repo: art.regression.tests.clone(),
        });
    }
    for t in &art.repro.tests {
        rows.repro_tests.push(ReproTestRow {
            instance_id: id.to_owned(),
            test_id: t.id.clone(),
            code: t.code.clone(),
            votes: t.votes,
        });
    }
    for (k, s) in samples.iter().enumerate() {
        grow(&mut rows.patches, k);
        grow(&mut rows.regression, k);
        grow(&mut rows.reproduction, k);
        let normalized = s.outcome.normalized().trim();
        let (model_patch, raw_model_patch) = match &s.outcome {
            RepairOutcome::Patch { patch, .. } => (patch.clone(), patch.clone()),
            RepairOutcome::Dropped { raw_patch, .. } => (String::new(), raw_patch.clone()),
        };
        rows.patches[k].push(PatchRow {
            model_name_or_path: UPSTREAM_MODEL_NAME.to_owned(),
            instance_id: id.to_owned(),
            model_patch,
            raw_model_patch,
            edited_files: edited(&s.outcome),
            original_file_content: None,
            new_file_content: None,
            normalized_patch: Some(normalized.to_owned()),
        });
        let result = (!normalized.is_empty())
            .then(|| art.executions.results.get(&sha256_hex(normalized)))
            .flatten();
        let regression = if !regression_on {
            Some(Vec::new())
        } else {
            // A run that could not be graded counts every selected test as failed (as rerank does).
            result.filter(|r| r.applied()).and_then(|r| {
                r.regression.as_ref().map(|o| match o {
                    RegressionOutcome::Ran { failed } => failed.clone(),
                    RegressionOutcome::TimedOut | RegressionOutcome::Unreadable(_) | RegressionOutcome::NoParser => {
                        art.regression.tests.clone()
                    }
                })
            })
        };
        rows.regression[k].push(RegressionResultRow {
            instance_id: id.to_owned(),
            regression,
        });
        if let Some(r) = result.filter(|_| art.repro.enabled) {
            for t in &art.repro.tests {
                if let Some((_, v)) = r.repro.iter().find(|(tid, _)| *tid == t.id) {
                    rows.reproduction[k].push(ReproResultRow {
                        instance_id: id.to_owned(),
                        test_id: t.id.clone(),
                        resolved: *v == ReproVerdict::Resolved,
                    });
                }
            }
        }
    }
}

fn grow<T>(v: &mut Vec<Vec<T>>, k: usize) {
    while v.len() <= k {
        v.push(Vec::new());
    }
}
