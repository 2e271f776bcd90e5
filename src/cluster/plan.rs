//! `agentless-mini plan`: a capacity plan on paper for an `eval` with the same flags — model
//! completions, tokens, container runs, container-hours, and the wall time on N nodes at a
//! given model throughput. Per-stage costs come from a recorded run (`--from-run DIR`: its
//! stage artifacts' token usage and candidate run times) or from the documented defaults
//! below. Pure arithmetic; nothing runs.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::artifact::{RunDir, StageId};
use crate::cli::GlobalArgs;
use crate::commands::eval::PipelineArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::DownloadBar;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Per-stage costs measured on this recorded run directory (tokens per completion,
    /// share of distinct candidates, seconds per candidate run) instead of the defaults.
    #[arg(long, value_name = "DIR")]
    pub from_run: Option<PathBuf>,
    /// Nodes of the cluster, for the wall-time estimate.
    #[arg(long, default_value_t = 8)]
    pub nodes: usize,
    /// Containers at once per node.
    #[arg(long, default_value_t = 8)]
    pub containers_per_node: usize,
    /// Completion tokens per second the model endpoints deliver, all together.
    #[arg(long, default_value_t = 20_000.0)]
    pub tokens_per_second: f64,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Cost of one completion of a stage.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct TokenCost {
    pub prompt: f64,
    pub completion: f64,
}

/// The per-stage costs a plan multiplies.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Costs {
    pub localize: TokenCost,
    pub repair: TokenCost,
    pub repro: TokenCost,
    pub regression: TokenCost,
    /// Distinct normalized candidate patches per repair sample.
    pub distinct_share: f64,
    /// Seconds of one reproduction-test run on the original code.
    pub repro_run_s: f64,
    /// Seconds of the regression run on the original code.
    pub regression_run_s: f64,
    /// Seconds of one candidate's container (apply, regression tests, reproduction tests).
    pub candidate_run_s: f64,
    /// Seconds of one official evaluation.
    pub evaluation_s: f64,
    /// Where they come from.
    pub source: String,
}

impl Costs {
    /// Documented defaults for SWE-bench Verified-sized repositories (README, "On a
    /// cluster"): prompts of localization hold the repository tree, repair prompts the
    /// localized files (up to --max-input-tokens), and test runs last as Verified's test
    /// commands do on 2 CPUs. They are estimates, not measurements on Verified: replace them
    /// with `--from-run` on a pilot of a few instances.
    pub fn defaults() -> Costs {
        Costs {
            localize: TokenCost {
                prompt: 6_000.0,
                completion: 150.0,
            },
            repair: TokenCost {
                prompt: 12_000.0,
                completion: 800.0,
            },
            repro: TokenCost {
                prompt: 9_000.0,
                completion: 600.0,
            },
            regression: TokenCost {
                prompt: 4_000.0,
                completion: 300.0,
            },
            distinct_share: 0.35,
            repro_run_s: 20.0,
            regression_run_s: 90.0,
            candidate_run_s: 150.0,
            evaluation_s: 240.0,
            source: "documented defaults".into(),
        }
    }
}

/// Sum of every `usage` object (prompt / completion tokens) in a JSON value.
fn usage_in(v: &serde_json::Value, acc: &mut (f64, f64, usize)) {
    match v {
        serde_json::Value::Object(m) => {
            if let (Some(p), Some(c)) = (
                m.get("prompt_tokens").and_then(serde_json::Value::as_f64),
                m.get("completion_tokens").and_then(serde_json::Value::as_f64),
            ) {
                acc.0 += p;
                acc.1 += c;
                acc.2 += 1;
                return;
            }
            for x in m.values() {
                usage_in(x, acc);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| usage_in(x, acc)),
        _ => {}
    }
}

/// Records of one stage file of an instance (none when it is missing or unreadable: the
/// measurement then keeps the defaults).
fn records(run: &RunDir, id: &str, stage: StageId) -> Vec<serde_json::Value> {
    run.read_stage::<serde_json::Value>(id, stage)
        .ok()
        .flatten()
        .map(|f| f.records)
        .unwrap_or_default()
}

/// Costs measured on a recorded run; stages it did not run keep the defaults.
pub fn measure(run_dir: &Path) -> anyhow::Result<Costs> {
    let mut c = Costs::defaults();
    let run = RunDir::open(run_dir)?;
    let dirs = run.instance_ids()?;
    anyhow::ensure!(!dirs.is_empty(), "{} has no instance artifacts", run_dir.display());
    let per_stage = |stage: StageId| {
        let mut acc = (0.0, 0.0, 0usize);
        for d in &dirs {
            for r in records(&run, d, stage) {
                usage_in(&r, &mut acc);
            }
        }
        // A replayed run records no tokens: the defaults stay.
        (acc.2 > 0 && acc.0 + acc.1 > 0.0).then(|| TokenCost {
            prompt: acc.0 / acc.2 as f64,
            completion: acc.1 / acc.2 as f64,
        })
    };
    if let Some(t) = per_stage(StageId::Localize) {
        c.localize = t;
    }
    if let Some(t) = per_stage(StageId::Repair) {
        c.repair = t;
    }
    if let Some(t) = per_stage(StageId::Repro) {
        c.repro = t;
    }
    if let Some(t) = per_stage(StageId::Regression) {
        c.regression = t;
    }
    // Candidates: execute records with their run time, against the repair samples.
    let (mut candidates, mut ms, mut samples) = (0usize, 0f64, 0usize);
    for d in &dirs {
        for r in records(&run, d, StageId::Execute) {
            if let Some(e) = r.get("elapsed_ms").and_then(serde_json::Value::as_f64) {
                candidates += 1;
                ms += e;
            }
        }
        samples += records(&run, d, StageId::Repair)
            .iter()
            .filter(|r| r["kind"] == "sample")
            .count();
    }
    if candidates > 0 {
        c.candidate_run_s = ms / 1000.0 / candidates as f64;
        if samples > 0 {
            c.distinct_share = (candidates as f64 / samples as f64).min(1.0);
        }
    }
    c.source = format!("measured on {}", run_dir.display());
    Ok(c)
}

/// The plan's totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    pub instances: usize,
    pub completions: f64,
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub container_runs: f64,
    pub container_hours: f64,
    /// Hours of model generation at the given throughput.
    pub model_hours: f64,
    /// Hours of containers spread over every node's slots.
    pub container_wall_hours: f64,
    pub costs: Costs,
}

/// Shape of one `eval`, from its flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub loc_samples: f64,
    pub repair_samples: f64,
    pub repro: bool,
    pub repro_samples: f64,
    pub repro_top_n: f64,
    pub regression: bool,
    pub regression_filter: bool,
    pub evaluate: bool,
}

/// Multiply out the plan.
pub fn compute(instances: usize, s: &Shape, c: &Costs, slots: usize, tokens_per_second: f64) -> Plan {
    let n = instances as f64;
    let mut completions = 0.0;
    let (mut tin, mut tout) = (0.0, 0.0);
    let mut add = |k: f64, t: TokenCost| {
        completions += n * k;
        tin += n * k * t.prompt;
        tout += n * k * t.completion;
    };
    add(s.loc_samples, c.localize);
    add(s.repair_samples, c.repair);
    if s.repro {
        // One request for the closest test file, then the test samples.
        add(1.0 + s.repro_samples, c.repro);
    }
    if s.regression && s.regression_filter {
        add(1.0, c.regression);
    }
    let candidates = (s.repair_samples * c.distinct_share).max(1.0);
    let mut runs = 0.0;
    let mut secs = 0.0;
    if s.repro {
        runs += s.repro_samples;
        secs += s.repro_samples * c.repro_run_s;
    }
    if s.regression {
        runs += 1.0;
        secs += c.regression_run_s;
    }
    if s.repro || s.regression {
        runs += candidates;
        // A candidate's container also runs its kept reproduction tests.
        let per = c.candidate_run_s
            + if s.repro {
                s.repro_top_n * c.repro_run_s * 0.25
            } else {
                0.0
            };
        secs += candidates * per;
    }
    if s.evaluate {
        runs += 1.0;
        secs += c.evaluation_s;
    }
    let container_hours = n * secs / 3600.0;
    Plan {
        instances,
        completions,
        prompt_tokens: tin,
        completion_tokens: tout,
        container_runs: n * runs,
        container_hours,
        model_hours: tout / tokens_per_second.max(1e-9) / 3600.0,
        container_wall_hours: container_hours / slots.max(1) as f64,
        costs: c.clone(),
    }
}

fn big(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2}B", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

pub async fn run(args: &PlanArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let mut instances = crate::commands::load_instances(&args.pipeline.dataset, &DownloadBar::new(global)).await?;
    if let Some((i, k)) = args.pipeline.shard {
        instances = instances
            .into_iter()
            .enumerate()
            .filter(|(j, _)| j % k == i)
            .map(|(_, x)| x)
            .collect();
    }
    let costs = match &args.from_run {
        Some(d) => measure(d)?,
        None => Costs::defaults(),
    };
    let st = args.pipeline.settings();
    let shape = Shape {
        loc_samples: st.localize.samples as f64,
        repair_samples: st.repair.samples as f64,
        repro: st.repro.enabled,
        repro_samples: st.repro.sampling.samples as f64,
        repro_top_n: st.repro.top_n as f64,
        regression: st.regression.enabled,
        regression_filter: st.regression.filter_with_model,
        evaluate: true,
    };
    let plan = compute(
        instances.len(),
        &shape,
        &costs,
        args.nodes * args.containers_per_node,
        args.tokens_per_second,
    );
    if args.json {
        printer.data(&serde_json::to_string_pretty(&plan)?);
        return Ok(ExitStatus::Success);
    }
    let wall = plan.model_hours.max(plan.container_wall_hours);
    for line in [
        format!("plan for {} instances ({})", plan.instances, plan.costs.source),
        format!(
            "model: {} completions, {} prompt + {} completion tokens",
            big(plan.completions),
            big(plan.prompt_tokens),
            big(plan.completion_tokens)
        ),
        format!(
            "containers: {} runs, {:.0} container-hours",
            big(plan.container_runs),
            plan.container_hours
        ),
        format!(
            "wall time: model {:.1} h at {} completion tokens/s; containers {:.1} h on {} nodes × {} slots; about {:.1} h (the larger, when the stages overlap across instances)",
            plan.model_hours,
            args.tokens_per_second,
            plan.container_wall_hours,
            args.nodes,
            args.containers_per_node,
            wall
        ),
    ] {
        printer.summary(&line);
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_measured_on_the_stage_records_of_a_run() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::create(d.path()).unwrap();
        let write = |id: &str, stage: StageId, records: &[&str]| {
            let mut text = format!(
                "{{\"type\":\"begin\",\"data\":{{\"stage\":\"{stage}\",\"format_version\":1,\"key\":\"sha256:0\",\"started_at_unix\":0}}}}\n"
            );
            for r in records {
                text.push_str(&format!("{{\"type\":\"record\",\"data\":{r}}}\n"));
            }
            let path = run.stage_file(id, stage).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let sample = r#"{"kind":"sample","usage":{"prompt_tokens":100,"completion_tokens":10}}"#;
        let other = r#"{"kind":"sample","usage":{"prompt_tokens":300,"completion_tokens":30}}"#;
        write("a__b-1", StageId::Localize, &[sample, other]);
        write("a__b-1", StageId::Repair, &[sample, sample, sample, sample]);
        write(
            "a__b-1",
            StageId::Execute,
            &[r#"{"elapsed_ms":2000}"#, r#"{"elapsed_ms":4000}"#],
        );
        let c = measure(d.path()).unwrap();
        assert_eq!((c.localize.prompt, c.localize.completion), (200.0, 20.0));
        assert_eq!((c.repair.prompt, c.repair.completion), (100.0, 10.0));
        assert_eq!(c.candidate_run_s, 3.0);
        assert_eq!(c.distinct_share, 0.5);
        assert!(c.source.starts_with("measured on"));
        let empty = tempfile::tempdir().unwrap();
        assert!(measure(empty.path()).is_err());
    }

    #[test]
    fn paper_setting_multiplies_out() {
        let s = Shape {
            loc_samples: 500.0,
            repair_samples: 500.0,
            repro: true,
            repro_samples: 40.0,
            repro_top_n: 30.0,
            regression: true,
            regression_filter: true,
            evaluate: true,
        };
        let c = Costs::defaults();
        let p = compute(500, &s, &c, 64, 20_000.0);
        // 500 × (500 + 500 + 41 + 1) completions.
        assert_eq!(p.completions, 500.0 * 1042.0);
        // 500 × (40 repro + 1 regression + 175 candidates + 1 evaluation) container runs.
        assert!((p.container_runs - 500.0 * 217.0).abs() < 1e-6, "{}", p.container_runs);
        assert!(p.container_hours > 1000.0, "{}", p.container_hours);
        assert!((p.container_wall_hours * 64.0 - p.container_hours).abs() < 1e-6);
    }

    #[test]
    fn usage_is_found_anywhere() {
        let v = serde_json::json!({"a": {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}, "b": [{"prompt_tokens": 4, "completion_tokens": 1}]});
        let mut acc = (0.0, 0.0, 0);
        usage_in(&v, &mut acc);
        assert_eq!(acc, (14.0, 3.0, 2));
    }
}
