//! Usage and cost of a run: tokens per instance, summed from the stage records into
//! `usage.json` (the run directory's [`crate::artifact::UsageFile`]) at the prices of
//! `--price-per-mtok-in` / `--price-per-mtok-out`, and totalled for the summary.

use super::args::PipelineArgs;
use crate::artifact::{Prices, RunDir};
use crate::pipeline::run::InstanceReport;

/// Rewrite `usage.json` from the stage records of the run's instances; returns what this
/// invocation's stages used (prompt tokens, completion tokens, cost), for the summary.
pub fn write_usage(
    args: &PipelineArgs,
    run_dir: &RunDir,
    reports: &[InstanceReport],
) -> anyhow::Result<(u64, u64, f64)> {
    let prices = Prices {
        per_mtok_in: args.price_per_mtok_in,
        per_mtok_out: args.price_per_mtok_out,
    };
    run_dir.refresh_usage(prices, reports.iter().map(|r| r.instance_id.as_str()))?;
    let (mut tin, mut tout) = (0u64, 0u64);
    for r in reports {
        tin += r.usage.prompt_tokens;
        tout += r.usage.completion_tokens;
    }
    Ok((tin, tout, prices.cost(tin, tout)))
}
