//! The flags of every pipeline command (`eval` and the stages `localize`, `repair`,
//! `gen-tests`, `select-regression`, `execute`, `rerank`), and the pipeline [`Settings`] they
//! describe. The container flags are [`ContainerArgs`], shared with `evaluate` and `report`;
//! which flags each stage shows in its help is [`crate::cli::command`]'s business.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::cli::DatasetArgs;
use crate::pipeline::context::{RegressionSettings, ReproSettings, Sampling, Settings};
use crate::pipeline::llm::Thinking;
use crate::settings::ContainerArgs;

/// Arguments every pipeline command takes.
#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The run directory (artifacts, predictions, evaluation). Re-running with the same
    /// directory resumes: finished work is reused, work whose inputs changed is redone.
    #[arg(long, default_value = "runs/default")]
    pub run_dir: PathBuf,
    /// Only shard I of K (0-based): instance j goes to shard j mod K, as upstream.
    #[arg(long, value_name = "I/K", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,

    #[command(flatten)]
    pub model: crate::commands::model_args::ModelArgs,
    /// `model_name_or_path` written in predictions.jsonl.
    #[arg(long, default_value = "agentless-mini")]
    pub model_name: String,
    /// Instances in progress at once.
    #[arg(long, default_value_t = 4)]
    pub instance_jobs: usize,

    /// Repair samples per instance (500 in the paper).
    #[arg(long, default_value_t = 500)]
    pub num_samples: usize,
    /// Sampling temperature of repair (1.0 in the paper).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 4096)]
    pub max_tokens: u32,
    /// Localization samples (default: --num-samples, as the reference's full-pipeline example).
    #[arg(long)]
    pub loc_samples: Option<usize>,
    /// Localization temperature (default: --temperature).
    #[arg(long)]
    pub loc_temperature: Option<f64>,
    /// Token budget of the file contents in a repair prompt.
    #[arg(long, default_value_t = 60_000)]
    pub max_input_tokens: usize,
    /// Base seed of randomized prompts and per-sample model seeds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The model thinks first: only the text between the answer tags is parsed.
    #[arg(long)]
    pub thinking: bool,
    #[arg(long, default_value = "<solution>")]
    pub answer_start_tag: String,
    #[arg(long, default_value = "</solution>")]
    pub answer_end_tag: String,

    /// No reproduction tests.
    #[arg(long)]
    pub no_repro: bool,
    /// Cap on generated reproduction-test samples (sample 1 greedy, the rest at
    /// --repro-temperature); generation stops earlier once --num-repro-tests reproduce.
    #[arg(long, default_value_t = 160)]
    pub repro_samples: usize,
    /// Reproduction-test samples per batch (Agentless generates 40 in all).
    #[arg(long, default_value_t = 40)]
    pub repro_batch: usize,
    /// Token budget of the predicted test file in the reproduction-test prompt.
    #[arg(long, default_value_t = crate::pipeline::context::DEFAULT_REPRO_CONTEXT_TOKENS)]
    pub repro_context_tokens: usize,
    /// The prompt set (TOML or .json; see README "Prompt sets"); default: the embedded one.
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
    /// Given locations (JSONL of {"instance_id", "found_files"}, as swe-rl's
    /// resources/*_gt_loc.jsonl): localization is skipped and these files are repaired.
    #[arg(long, value_name = "FILE")]
    pub locations: Option<PathBuf>,
    #[arg(long, default_value_t = 0.8)]
    pub repro_temperature: f64,
    /// Reproduction tests to find and keep after voting (30 in the paper).
    #[arg(long, default_value_t = 30)]
    pub num_repro_tests: usize,
    /// Seconds allowed for one reproduction-test run.
    #[arg(long, default_value_t = 600, value_parser = crate::limits::seconds)]
    pub repro_timeout: u64,
    /// No regression tests.
    #[arg(long)]
    pub no_regression: bool,
    /// Keep every passing test as a regression test (skip the model's filter).
    #[arg(long)]
    pub no_regression_filter: bool,
    /// Seconds allowed for one run of the regression tests.
    // `--timeout`, the spelling of the previous release, is a hidden alias.
    #[arg(long, alias = "timeout", default_value_t = 1800, value_parser = crate::limits::seconds)]
    pub regression_timeout: u64,

    /// Mirror cache of the repositories (default ~/.cache/agentless-mini/repos).
    #[arg(long)]
    pub repos_dir: Option<PathBuf>,
    #[command(flatten)]
    pub containers: ContainerArgs,

    /// Price per million prompt tokens, for the cost summary.
    #[arg(long, default_value_t = 0.0)]
    pub price_per_mtok_in: f64,
    /// Price per million completion tokens.
    #[arg(long, default_value_t = 0.0)]
    pub price_per_mtok_out: f64,
}

pub(crate) fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, k) = s.split_once('/').ok_or_else(|| format!("expected I/K, got {s:?}"))?;
    let i: usize = i.trim().parse().map_err(|_| format!("bad shard index in {s:?}"))?;
    let k: usize = k.trim().parse().map_err(|_| format!("bad shard count in {s:?}"))?;
    if k == 0 || i >= k {
        return Err(format!("shard {s}: need 0 <= I < K"));
    }
    Ok((i, k))
}

impl PipelineArgs {
    /// The settings that shape outputs (and keys).
    pub fn settings(&self) -> Settings {
        let mut s = Settings::paper_defaults();
        s.seed = self.seed;
        s.thinking = Thinking {
            enabled: self.thinking,
            start_tag: self.answer_start_tag.clone(),
            end_tag: self.answer_end_tag.clone(),
        };
        s.repair = Sampling {
            samples: self.num_samples.max(1),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
        };
        s.localize = Sampling {
            samples: self.loc_samples.unwrap_or(self.num_samples).max(1),
            temperature: self.loc_temperature.unwrap_or(self.temperature),
            max_tokens: self.max_tokens,
        };
        s.max_input_tokens = self.max_input_tokens;
        s.repro = ReproSettings {
            enabled: !self.no_repro,
            sampling: Sampling {
                samples: self.repro_samples.max(1),
                temperature: self.repro_temperature,
                max_tokens: self.max_tokens,
            },
            top_n: self.num_repro_tests,
            batch: self.repro_batch.max(1),
            context_tokens: self.repro_context_tokens,
            timeout_s: self.repro_timeout.max(1),
        };
        s.regression = RegressionSettings {
            enabled: !self.no_regression,
            filter_with_model: !self.no_regression_filter,
            max_tokens: self.max_tokens,
            timeout_s: self.regression_timeout.max(1),
        };
        s.execute_timeout_s = self.regression_timeout.max(1);
        s.model_name = self.model_name.clone();
        s
    }

    /// [`Self::settings`] with the prompt set and the given locations read from their files.
    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        let mut s = self.settings();
        if let Some(p) = &self.prompts {
            s.prompts = Arc::new(crate::pipeline::prompts::PromptSet::load(p)?);
        }
        if let Some(p) = &self.locations {
            let text = fs_err::read_to_string(p)?;
            let given = crate::pipeline::localize::Locations::parse(&p.display().to_string(), &text)
                .map_err(anyhow::Error::msg)?;
            s.locations = Some(Arc::new(given));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!(parse_shard("0/4"), Ok((0, 4)));
        assert_eq!(parse_shard("3/4"), Ok((3, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
        assert!(parse_shard("x").is_err());
    }
}
