//! `usage.json`: tokens and cost per instance, derived from the stage records alone.
//!
//! Every stage record that made a model request carries a `usage` object
//! (`{"prompt_tokens", "completion_tokens"}`); an instance's usage is the sum over all its stage
//! files, so a stage command, a resumed run or a merge of shards all give the same figures
//! from the same files. The file is a cache of that sum with the prices it was costed at:
//!
//! ```text
//! {"format_version": 2, "price_per_mtok_in": 0.0, "price_per_mtok_out": 0.0,
//!  "instances": {"<id>": {"prompt_tokens": 1, "completion_tokens": 2, "requests": 1, "cost": 0.0}}}
//! ```
//!
//! Version 1 (no `format_version`, no `requests`) reads as is; a newer version is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format written now.
pub const USAGE_FORMAT_VERSION: u32 = 2;

fn version_1() -> u32 {
    1
}

/// Prices per million tokens (both zero: no price given, not "free").
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prices {
    pub per_mtok_in: f64,
    pub per_mtok_out: f64,
}

impl Prices {
    /// Whether a price was given.
    pub fn given(&self) -> bool {
        self.per_mtok_in > 0.0 || self.per_mtok_out > 0.0
    }

    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        prompt_tokens as f64 * self.per_mtok_in / 1e6 + completion_tokens as f64 * self.per_mtok_out / 1e6
    }
}

/// The tokens of one instance, summed over its stage records.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct InstanceUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Records that carried a `usage` (model requests answered or failed).
    #[serde(default)]
    pub requests: u64,
    /// At the file's prices.
    #[serde(default)]
    pub cost: f64,
}

impl InstanceUsage {
    pub fn add(&mut self, other: &InstanceUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.requests += other.requests;
        self.cost += other.cost;
    }
}

/// `usage.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageFile {
    #[serde(default = "version_1")]
    pub format_version: u32,
    #[serde(default)]
    pub price_per_mtok_in: f64,
    #[serde(default)]
    pub price_per_mtok_out: f64,
    #[serde(default)]
    pub instances: BTreeMap<String, InstanceUsage>,
}

impl UsageFile {
    pub fn new(prices: Prices) -> Self {
        UsageFile {
            format_version: USAGE_FORMAT_VERSION,
            price_per_mtok_in: prices.per_mtok_in,
            price_per_mtok_out: prices.per_mtok_out,
            instances: BTreeMap::new(),
        }
    }

    pub fn prices(&self) -> Prices {
        Prices {
            per_mtok_in: self.price_per_mtok_in,
            per_mtok_out: self.price_per_mtok_out,
        }
    }

    /// Set an instance's tokens, costed at the file's prices.
    pub fn set(&mut self, instance_id: &str, mut usage: InstanceUsage) {
        usage.cost = self.prices().cost(usage.prompt_tokens, usage.completion_tokens);
        self.instances.insert(instance_id.to_owned(), usage);
    }
}

/// The part of a stage record that tells its tokens (every other field is ignored).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct RecordUsage {
    #[serde(default)]
    usage: Option<Tokens>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct Tokens {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The sum over records.
pub(crate) fn sum(records: &[RecordUsage]) -> InstanceUsage {
    let mut u = InstanceUsage::default();
    for t in records.iter().filter_map(|r| r.usage) {
        u.prompt_tokens += t.prompt_tokens;
        u.completion_tokens += t.completion_tokens;
        u.requests += 1;
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_files_read_and_costs_follow_the_prices() {
        let v1 = r#"{"price_per_mtok_in": 1.0, "price_per_mtok_out": 2.0,
            "instances": {"a__b-1": {"prompt_tokens": 1000000, "completion_tokens": 500000, "cost": 2.0}}}"#;
        let f: UsageFile = serde_json::from_str(v1).unwrap();
        assert_eq!(f.format_version, 1);
        assert_eq!(f.instances["a__b-1"].requests, 0);
        let mut g = UsageFile::new(f.prices());
        g.set(
            "a__b-1",
            InstanceUsage {
                prompt_tokens: 1_000_000,
                completion_tokens: 500_000,
                requests: 3,
                cost: 0.0,
            },
        );
        assert_eq!(g.instances["a__b-1"].cost, 2.0);
        assert!(g.prices().given() && !Prices::default().given());
    }

    #[test]
    fn records_sum_their_usage() {
        let lines = [
            r#"{"kind": "prompt", "text": "x"}"#,
            r#"{"kind": "sample", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}"#,
            r#"{"role": "test", "usage": {"prompt_tokens": 5, "completion_tokens": 6}}"#,
        ];
        let records: Vec<RecordUsage> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let u = sum(&records);
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.requests), (8, 10, 2));
    }
}
