//! What the HTML report shows, computed from a run: per instance what localization, repair,
//! the tests and the rerank recorded and how the evaluation judged the submission; over the
//! run the resolve rates, the scaling curves, where instances were lost, tokens, cost and
//! time per stage, and the instances flagged by integrity checks with their evidence.
//!
//! [`InstanceData`] is the typed view of one instance (filled from the pipeline's artifacts
//! by [`super::artifacts`], or from an evaluation alone); [`ReportData::build`] derives
//! everything else from it.

use std::collections::BTreeMap;

use agentless_harness::integrity::IntegrityReport;
use agentless_harness::report::RunReport;
use serde::Serialize;

use super::repo_of;
use super::scaling::{Curves, InstanceSamples, SampleOutcome, curves, spread_correctness};
use super::summary::RepoStat;

/// How the evaluation judged an instance's submitted patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalStatus {
    Resolved,
    Unresolved,
    /// The submitted patch was empty (not run).
    EmptyPatch,
    /// The harness could not judge it (patch did not apply, timeout, infrastructure).
    Error,
    /// No evaluation found for it.
    NotEvaluated,
}

/// Tokens and cost of an instance (all model stages).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
    pub requests: u64,
    /// In dollars, when the model has a price.
    pub cost: Option<f64>,
}

impl Tokens {
    pub fn add(&mut self, o: &Tokens) {
        self.prompt += o.prompt;
        self.completion += o.completion;
        self.requests += o.requests;
        self.cost = match (self.cost, o.cost) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// One instance as recorded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstanceData {
    pub instance_id: String,
    /// Distinct files named by localization (None: localization not recorded).
    pub localized_files: Option<usize>,
    /// Repair samples in sample order (empty: repair not recorded).
    pub samples: Vec<SampleOutcome>,
    /// Reproduction tests in rank order.
    pub repro_tests: Vec<String>,
    /// The sample the rerank chose (None: no rerank record, or nothing to choose).
    pub chosen: Option<usize>,
    pub eval: Option<EvalStatus>,
    pub tokens: Option<Tokens>,
    /// Wall time of each stage (ms), from the stage files' `end` lines.
    pub stage_ms: BTreeMap<String, f64>,
    /// The evaluation's integrity findings (`integrity.json`; None: not assessed).
    pub integrity: Option<IntegrityReport>,
    /// What the per-instance section of the page shows (patch, failing tests, votes, logs).
    pub detail: InstanceDetail,
}

/// The drill-down of one instance: the submitted patch, the official tests it failed, the
/// reproduction-test votes of the rerank and the evaluation's log folder.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct InstanceDetail {
    /// The submitted `model_patch` (None: no prediction, or an empty one).
    pub patch: Option<String>,
    /// The evaluation's log folder (`report.json`, `test_output.txt`, `run_instance.log`).
    pub log_dir: Option<std::path::PathBuf>,
    /// FAIL_TO_PASS tests that still fail with the patch (None: no graded `report.json`).
    pub fail_to_pass_failed: Option<Vec<String>>,
    /// PASS_TO_PASS tests the patch broke.
    pub pass_to_pass_failed: Option<Vec<String>>,
    /// FAIL_TO_PASS and PASS_TO_PASS totals (for "2 of 5 failed").
    pub fail_to_pass_total: usize,
    pub pass_to_pass_total: usize,
    /// The rerank's majority vote count of the chosen patch (None: no rerank record).
    pub votes: Option<usize>,
    /// Each reproduction test (rank order) and whether the chosen patch passed it.
    pub repro_passed: Vec<(String, bool)>,
    /// Why the harness could not judge it (patch did not apply, timeout, last error).
    pub eval_problem: Option<String>,
}

/// How the run was made, from the run directory's `run.json` (all optional: older runs and
/// evaluations alone lack it).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunSettings {
    pub repair_samples: Option<u64>,
    pub repair_temperature: Option<f64>,
    pub localize_samples: Option<u64>,
    pub seed: Option<u64>,
    pub repro_samples: Option<u64>,
    /// `official` or `hardened` (a `*.hardened.json` report beside the official one).
    pub grading: Option<String>,
    pub dataset_repo: Option<String>,
    pub dataset_split: Option<String>,
    pub dataset_revision: Option<String>,
    pub dataset_commit: Option<String>,
    pub dataset_sha256: Option<String>,
    pub dataset_file: Option<String>,
    /// When the run started (`run.json` written), as an HTTP date (UTC).
    pub started: Option<String>,
    /// From `run.json` to the last artifact written, in seconds.
    pub wall_s: Option<f64>,
    pub version: Option<String>,
}

/// A run as the report reads it.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    pub title: String,
    /// The path it was read from.
    pub source: String,
    pub model: Option<String>,
    pub run_id: Option<String>,
    pub run_report: Option<RunReport>,
    pub instances: Vec<InstanceData>,
    pub notes: Vec<String>,
    pub settings: RunSettings,
}

/// Where an instance was lost (or that it was not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Resolved,
    NoLocalization,
    NoValidPatch,
    TestsFailed,
    RerankMissed,
    HarnessError,
    NotEvaluated,
}

impl Loss {
    pub const ALL: [Loss; 7] = [
        Loss::Resolved,
        Loss::NoLocalization,
        Loss::NoValidPatch,
        Loss::TestsFailed,
        Loss::RerankMissed,
        Loss::HarnessError,
        Loss::NotEvaluated,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Loss::Resolved => "resolved",
            Loss::NoLocalization => "no localized file",
            Loss::NoValidPatch => "no valid patch",
            Loss::TestsFailed => "tests failed",
            Loss::RerankMissed => "rerank chose wrong",
            Loss::HarnessError => "harness error",
            Loss::NotEvaluated => "not evaluated",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Loss::Resolved => "the submitted patch passes FAIL_TO_PASS and PASS_TO_PASS",
            Loss::NoLocalization => "no localization sample named an existing file: nothing to repair",
            Loss::NoValidPatch => "no repair sample gave a patch that applies, parses and changes code",
            Loss::TestsFailed => {
                "the submitted patch fails the official tests and no other sample is known to pass them"
            }
            Loss::RerankMissed => "a correct sample existed (the oracle) but the rerank chose a wrong one",
            Loss::HarnessError => "the evaluation could not judge the patch (did not apply, timed out, infrastructure)",
            Loss::NotEvaluated => "no evaluation of the submission was found",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            Loss::Resolved => "resolved",
            Loss::RerankMissed | Loss::HarnessError => "warn",
            Loss::NotEvaluated => "none",
            _ => "lost",
        }
    }
}

/// One row of the instance table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceRow {
    pub instance_id: String,
    pub repo: String,
    pub loss: Loss,
    pub localized_files: Option<usize>,
    pub samples: usize,
    pub valid_samples: usize,
    pub distinct_patches: usize,
    /// Samples known correct (None: none evaluated).
    pub correct_samples: Option<usize>,
    pub repro_tests: usize,
    pub tokens: Option<u64>,
    pub detail: InstanceDetail,
}

/// Time of one stage over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTime {
    pub stage: String,
    pub instances: usize,
    pub total_ms: f64,
    pub max_ms: f64,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub title: String,
    pub source: String,
    pub model: Option<String>,
    pub run_id: Option<String>,
    #[serde(skip)]
    pub run_report: Option<RunReport>,
    pub resolved: usize,
    /// Instances with some sample known correct (None when no sample data).
    pub oracle: Option<usize>,
    pub per_repo: Vec<RepoStat>,
    pub losses: Vec<(Loss, usize)>,
    pub curves: Option<Curves>,
    pub draws: usize,
    pub tokens: Option<Tokens>,
    pub stages: Vec<StageTime>,
    pub instances: Vec<InstanceRow>,
    pub notes: Vec<String>,
    pub settings: RunSettings,
    /// Integrity findings over the evaluation.
    pub integrity: IntegritySummary,
}

/// The integrity findings of the evaluated instances (`integrity.json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegritySummary {
    /// Instances with an `integrity.json`.
    pub assessed: usize,
    /// Flagged instances with their findings (instance order).
    pub flagged: Vec<FlaggedInstance>,
    /// Instances with findings below the flagging severity.
    pub with_minor_findings: usize,
}

/// One flagged instance.
#[derive(Debug, Clone, Serialize)]
pub struct FlaggedInstance {
    pub instance_id: String,
    /// Resolved by the official verdict.
    pub officially_resolved: bool,
    pub report: IntegrityReport,
}

/// The stage order of the pipeline (others sort after, by name).
const STAGE_ORDER: [&str; 7] = [
    "localize",
    "repair",
    "regression",
    "repro",
    "execute",
    "rerank",
    "evaluation",
];

/// Classify one instance.
pub fn classify(i: &InstanceData) -> Loss {
    let valid = i.samples.iter().filter(|s| !s.normalized.trim().is_empty()).count();
    match &i.eval {
        Some(EvalStatus::Resolved) => return Loss::Resolved,
        _ if i.localized_files == Some(0) => return Loss::NoLocalization,
        _ if !i.samples.is_empty() && valid == 0 => return Loss::NoValidPatch,
        Some(EvalStatus::EmptyPatch) => return Loss::NoValidPatch,
        Some(EvalStatus::Error) => return Loss::HarnessError,
        None | Some(EvalStatus::NotEvaluated) => return Loss::NotEvaluated,
        Some(EvalStatus::Unresolved) => {}
    }
    if i.samples.iter().any(|s| s.correct == Some(true)) {
        Loss::RerankMissed
    } else {
        Loss::TestsFailed
    }
}

impl ReportData {
    /// Derive the report from a run. `draws`: random subsets per scaling point.
    pub fn build(run: RunData, draws: usize, seed: u64) -> ReportData {
        let mut instances = run.instances;
        // What the evaluation said of the chosen sample is what is known of its correctness.
        for i in &mut instances {
            if let (Some(c), Some(st)) = (i.chosen, &i.eval)
                && let Some(s) = i.samples.get_mut(c)
                && s.correct.is_none()
            {
                s.correct = match st {
                    EvalStatus::Resolved => Some(true),
                    EvalStatus::Unresolved => Some(false),
                    _ => None,
                };
            }
        }
        let samples: Vec<InstanceSamples> = instances
            .iter()
            .map(|i| {
                let mut s = InstanceSamples {
                    instance_id: i.instance_id.clone(),
                    samples: i.samples.clone(),
                    repro_tests: i.repro_tests.clone(),
                };
                spread_correctness(&mut s);
                s
            })
            .collect();
        let any_samples = samples.iter().any(|s| !s.samples.is_empty());
        let curves = any_samples.then(|| curves(&samples, instances.len(), draws, seed));
        let oracle = any_samples.then(|| {
            samples
                .iter()
                .filter(|s| s.samples.iter().any(|x| x.correct == Some(true)))
                .count()
        });

        let mut rows = Vec::new();
        let mut loss_counts: BTreeMap<Loss, usize> = BTreeMap::new();
        let mut repos: BTreeMap<String, RepoStat> = BTreeMap::new();
        let mut tokens: Option<Tokens> = None;
        let mut stages: BTreeMap<String, StageTime> = BTreeMap::new();
        for (i, s) in instances.iter().zip(&samples) {
            let mut with_spread = i.clone();
            with_spread.samples = s.samples.clone();
            let loss = classify(&with_spread);
            *loss_counts.entry(loss).or_default() += 1;
            let repo = repo_of(&i.instance_id);
            let r = repos.entry(repo.clone()).or_insert(RepoStat {
                repo: repo.clone(),
                resolved: 0,
                total: 0,
            });
            r.total += 1;
            r.resolved += usize::from(loss == Loss::Resolved);
            if let Some(t) = &i.tokens {
                tokens.get_or_insert_with(Tokens::default).add(t);
            }
            for (stage, ms) in &i.stage_ms {
                let e = stages.entry(stage.clone()).or_insert(StageTime {
                    stage: stage.clone(),
                    instances: 0,
                    total_ms: 0.0,
                    max_ms: 0.0,
                });
                e.instances += 1;
                e.total_ms += ms;
                e.max_ms = e.max_ms.max(*ms);
            }
            let distinct: std::collections::BTreeSet<&str> = s
                .samples
                .iter()
                .map(|x| x.normalized.trim())
                .filter(|x| !x.is_empty())
                .collect();
            let known = s
                .samples
                .iter()
                .any(|x| x.correct.is_some() && !x.normalized.trim().is_empty());
            rows.push(InstanceRow {
                instance_id: i.instance_id.clone(),
                repo,
                loss,
                localized_files: i.localized_files,
                samples: s.samples.len(),
                valid_samples: s.samples.iter().filter(|x| !x.normalized.trim().is_empty()).count(),
                distinct_patches: distinct.len(),
                correct_samples: known.then(|| s.samples.iter().filter(|x| x.correct == Some(true)).count()),
                repro_tests: i.repro_tests.len(),
                tokens: i.tokens.map(|t| t.prompt + t.completion),
                detail: i.detail.clone(),
            });
        }
        let mut integrity = IntegritySummary::default();
        for i in &instances {
            let Some(r) = &i.integrity else { continue };
            integrity.assessed += 1;
            if r.flagged {
                integrity.flagged.push(FlaggedInstance {
                    instance_id: i.instance_id.clone(),
                    officially_resolved: i.eval == Some(EvalStatus::Resolved),
                    report: r.clone(),
                });
            } else if !r.findings.is_empty() {
                integrity.with_minor_findings += 1;
            }
        }
        let mut stages: Vec<StageTime> = stages.into_values().collect();
        let rank = |s: &str| STAGE_ORDER.iter().position(|x| *x == s).unwrap_or(STAGE_ORDER.len());
        stages.sort_by(|a, b| rank(&a.stage).cmp(&rank(&b.stage)).then_with(|| a.stage.cmp(&b.stage)));
        let losses: Vec<(Loss, usize)> = Loss::ALL
            .iter()
            .filter_map(|l| loss_counts.get(l).map(|c| (*l, *c)))
            .collect();
        ReportData {
            title: run.title,
            source: run.source,
            model: run.model,
            run_id: run.run_id,
            run_report: run.run_report,
            resolved: loss_counts.get(&Loss::Resolved).copied().unwrap_or(0),
            oracle,
            per_repo: repos.into_values().collect(),
            losses,
            curves,
            draws,
            tokens,
            stages,
            instances: rows,
            notes: run.notes,
            settings: run.settings,
            integrity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: &str, correct: Option<bool>) -> SampleOutcome {
        SampleOutcome {
            normalized: n.into(),
            regression_failures: Some(0),
            correct,
            ..Default::default()
        }
    }

    #[test]
    fn losses_are_classified_in_pipeline_order() {
        let base = InstanceData {
            instance_id: "o__r-1".into(),
            eval: Some(EvalStatus::Unresolved),
            ..Default::default()
        };
        let with = |f: &dyn Fn(&mut InstanceData)| {
            let mut i = base.clone();
            f(&mut i);
            classify(&i)
        };
        assert_eq!(with(&|i| i.eval = Some(EvalStatus::Resolved)), Loss::Resolved);
        assert_eq!(with(&|i| i.localized_files = Some(0)), Loss::NoLocalization);
        assert_eq!(with(&|i| i.samples = vec![sample("", None)]), Loss::NoValidPatch);
        assert_eq!(
            with(&|i| i.samples = vec![sample("a", Some(false)), sample("b", Some(true))]),
            Loss::RerankMissed
        );
        assert_eq!(with(&|i| i.samples = vec![sample("a", Some(false))]), Loss::TestsFailed);
        assert_eq!(with(&|i| i.eval = Some(EvalStatus::Error)), Loss::HarnessError);
        assert_eq!(with(&|i| i.eval = None), Loss::NotEvaluated);
    }

    #[test]
    fn the_chosen_verdict_spreads_and_feeds_the_oracle() {
        let run = RunData {
            instances: vec![
                InstanceData {
                    instance_id: "o__r-1".into(),
                    samples: vec![sample("a", None), sample("b", None), sample("a", None)],
                    chosen: Some(0),
                    eval: Some(EvalStatus::Resolved),
                    stage_ms: [("repair".to_owned(), 100.0)].into(),
                    tokens: Some(Tokens {
                        prompt: 10,
                        completion: 5,
                        requests: 3,
                        cost: None,
                    }),
                    ..Default::default()
                },
                InstanceData {
                    instance_id: "o__q-2".into(),
                    localized_files: Some(0),
                    eval: Some(EvalStatus::EmptyPatch),
                    stage_ms: [("localize".to_owned(), 50.0)].into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let d = ReportData::build(run, 4, 1);
        assert_eq!(d.resolved, 1);
        assert_eq!(d.oracle, Some(1));
        assert_eq!(
            d.instances[0].correct_samples,
            Some(2),
            "equal normalized patches share the verdict"
        );
        assert_eq!(d.losses, vec![(Loss::Resolved, 1), (Loss::NoLocalization, 1)]);
        assert_eq!(
            d.stages.iter().map(|s| s.stage.as_str()).collect::<Vec<_>>(),
            vec!["localize", "repair"]
        );
        assert_eq!(d.tokens.unwrap().prompt, 10);
        let c = d.curves.unwrap();
        assert_eq!(c.samples.last().unwrap().low, 50.0, "1 of 2 instances with all samples");
    }
}
