//! Usage and cost of a run: tokens per instance and their price from `--price-per-mtok-in` /
//! `--price-per-mtok-out`, written to `usage.json` and totalled for the summary.

use agentless_model::Usage;

use super::args::PipelineArgs;
use crate::artifact::{RunDir, write_atomic};
use crate::pipeline::run::InstanceReport;

/// Tokens and cost per instance, written to `usage.json` and summarized.
pub fn write_usage(
    args: &PipelineArgs,
    run_dir: &RunDir,
    reports: &[InstanceReport],
) -> anyhow::Result<(u64, u64, f64)> {
    let cost = |u: &Usage| {
        u.prompt_tokens as f64 * args.price_per_mtok_in / 1e6
            + u.completion_tokens as f64 * args.price_per_mtok_out / 1e6
    };
    let mut per: serde_json::Map<String, serde_json::Value> = match fs_err::read_to_string(run_dir.usage_file()) {
        Ok(t) => serde_json::from_str::<serde_json::Value>(&t)
            .ok()
            .and_then(|v| v.get("instances").and_then(|i| i.as_object().cloned()))
            .unwrap_or_default(),
        Err(_) => Default::default(),
    };
    for r in reports {
        let entry = per
            .entry(r.instance_id.clone())
            .or_insert_with(|| serde_json::json!({}));
        if let Some(obj) = entry.as_object_mut() {
            let prev_in = obj.get("prompt_tokens").and_then(|v| v.as_u64()).unwrap_or(0);
            let prev_out = obj.get("completion_tokens").and_then(|v| v.as_u64()).unwrap_or(0);
            // A stage command reports only its stage's tokens: keep the larger total seen.
            let u = Usage {
                prompt_tokens: prev_in.max(r.usage.prompt_tokens),
                completion_tokens: prev_out.max(r.usage.completion_tokens),
            };
            obj.insert("prompt_tokens".into(), u.prompt_tokens.into());
            obj.insert("completion_tokens".into(), u.completion_tokens.into());
            obj.insert("cost".into(), serde_json::json!(cost(&u)));
        }
    }
    let (mut tin, mut tout) = (0u64, 0u64);
    for r in reports {
        tin += r.usage.prompt_tokens;
        tout += r.usage.completion_tokens;
    }
    let total_cost = cost(&Usage {
        prompt_tokens: tin,
        completion_tokens: tout,
    });
    let doc = serde_json::json!({
        "price_per_mtok_in": args.price_per_mtok_in,
        "price_per_mtok_out": args.price_per_mtok_out,
        "instances": per,
    });
    write_atomic(&run_dir.usage_file(), serde_json::to_string_pretty(&doc)?.as_bytes())?;
    Ok((tin, tout, total_cost))
}
