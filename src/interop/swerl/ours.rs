//! A run directory's rerank inputs per instance, read from its finished stage files (whatever
//! settings made them): localization, repair samples with their prompts, regression and
//! reproduction tests, execution results, the rerank's choice, and the candidates of the rule.

use std::collections::BTreeMap;

use crate::artifact::{RunDir, StageFile, StageId};
use crate::pipeline::execute::{self, Executions};
use crate::pipeline::localize::LocalizeSample;
use crate::pipeline::regression::{self, Regression};
use crate::pipeline::repair::{RepairSample, Repairs};
use crate::pipeline::repro::{self, ReproTests};
use crate::pipeline::rerank::Candidate;
use crate::pipeline::sampling::{Rec, prompts, read_finished};
use crate::pipeline::select::{self, RerankRecord, build_candidates};

use super::InteropError;

/// The settings of the run that decide what the rerank read (from `run.json`; the paper's
/// defaults when it is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RerankSettings {
    pub regression: bool,
    pub repro: bool,
    pub top_n: usize,
}

impl Default for RerankSettings {
    fn default() -> Self {
        RerankSettings {
            regression: true,
            repro: true,
            top_n: 30,
        }
    }
}

impl RerankSettings {
    /// From the run's `run.json`.
    pub fn of_run(run: &RunDir) -> Result<RerankSettings, InteropError> {
        let Some(manifest) = run.manifest()? else {
            return Ok(RerankSettings::default());
        };
        let d = RerankSettings::default();
        let s = &manifest.settings;
        Ok(RerankSettings {
            regression: s["regression"]["enabled"].as_bool().unwrap_or(d.regression),
            repro: s["repro"]["enabled"].as_bool().unwrap_or(d.repro),
            top_n: s["repro"]["top_n"].as_u64().map_or(d.top_n, |n| n as usize),
        })
    }
}

/// One instance's artifacts as the rerank saw them.
#[derive(Debug, Clone)]
pub struct InstanceArtifacts {
    pub instance_id: String,
    /// Localization samples (None: not run here, e.g. `--locations`) and their prompts by hash.
    pub localization: Option<(Vec<LocalizeSample>, BTreeMap<String, String>)>,
    pub repairs: Repairs,
    /// Repair prompts by hash.
    pub repair_prompts: BTreeMap<String, String>,
    pub regression: Regression,
    pub repro: ReproTests,
    pub executions: Executions,
    /// The rerank's record, when it ran.
    pub rerank: Option<RerankRecord>,
}

impl InstanceArtifacts {
    /// Read an instance (its repair samples must be finished).
    pub fn load(run: &RunDir, id: &str, settings: RerankSettings) -> Result<InstanceArtifacts, InteropError> {
        let loc_path = run.stage_file(id, StageId::Localize)?;
        let localization = match read_finished::<LocalizeSample>(&loc_path)? {
            Some((_, samples, _)) => Some((samples, stage_prompts::<LocalizeSample>(&loc_path)?)),
            None => None,
        };
        let repair_path = run.stage_file(id, StageId::Repair)?;
        let (key, samples, _) = read_finished::<RepairSample>(&repair_path)?.ok_or_else(|| {
            InteropError::Invalid(format!("{id}: no finished repair samples in {}", repair_path.display()))
        })?;
        let repair_prompts = stage_prompts::<RepairSample>(&repair_path)?;
        let regression = if settings.regression {
            regression::load_file(&run.stage_file(id, StageId::Regression)?)?.unwrap_or_else(Regression::disabled)
        } else {
            Regression::disabled()
        };
        let repro = if settings.repro {
            repro::load_file(&run.stage_file(id, StageId::Repro)?, settings.top_n)?.unwrap_or_else(ReproTests::disabled)
        } else {
            ReproTests::disabled()
        };
        let executions = execute::load_file(&run.stage_file(id, StageId::Execute)?)?.unwrap_or_else(|| Executions {
            key: crate::artifact::StageKey::of("execute-nothing"),
            results: Default::default(),
        });
        let rerank = select::load_file(&run.stage_file(id, StageId::Rerank)?)?;
        Ok(InstanceArtifacts {
            instance_id: id.to_owned(),
            localization,
            repairs: Repairs { key, samples },
            repair_prompts,
            regression,
            repro,
            executions,
            rerank,
        })
    }

    /// The candidates of the rerank rule, in sample order.
    pub fn candidates(&self) -> Vec<Candidate> {
        build_candidates(&self.repairs, &self.regression, &self.repro, &self.executions)
    }
}

fn stage_prompts<S: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<BTreeMap<String, String>, InteropError> {
    Ok(StageFile::<Rec<S>>::read(path)?
        .map(|f| prompts(&f.records))
        .unwrap_or_default())
}
