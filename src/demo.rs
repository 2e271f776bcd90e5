//! The demo split: small SWE-bench-style instances shipped inside the binary
//! (`datasets/demo/instances.jsonl`), so `--split demo` works with no download.

use agentless_harness::dataset::{DatasetError, Instance, parse_json_rows};

const DEMO_JSONL: &str = include_str!("../datasets/demo/instances.jsonl");

/// The demo instances, in file order.
pub fn instances() -> Result<Vec<Instance>, DatasetError> {
    parse_json_rows(std::path::Path::new("datasets/demo/instances.jsonl"), DEMO_JSONL)
}
