//! The Agentless Mini pipeline (SWE-RL, arXiv 2502.18449, App. B), stage by stage:
//!
//! ```text
//! repository (git2, base_commit) ─► localize ─► repair ×N ───────────────┐
//!                                 └► gen-tests (repro) ─┐                 │
//!                  select-regression ───────────────────┴─► execute ─► rerank ─► predictions
//! ```
//!
//! Pure pieces (parsing, applying, diffing, normalizing, the rerank rule) live in their own
//! modules and never touch the network, Docker or the disk; stage modules combine them with a
//! model and containers and persist through [`crate::artifact`]. Libraries never print:
//! progress is reported as typed [`events::Event`]s.

pub mod containers;
pub mod context;
pub mod diff;
pub mod edits;
pub mod events;
pub mod execute;
pub mod keys;
pub mod llm;
pub mod localize;
pub mod patch;
pub mod prompts;
pub mod python;
pub mod regression;
pub mod repair;
pub mod repo;
pub mod repro;
pub mod rerank;
pub mod rng;
pub mod run;
pub mod sampling;
pub mod select;
pub mod structure;

use crate::artifact::StageId;

/// The format version of `stage`'s artifact records (part of its key).
pub fn format_version(stage: StageId) -> u32 {
    match stage {
        StageId::Localize => localize::FORMAT_VERSION,
        StageId::Repair => repair::FORMAT_VERSION,
        StageId::Regression => regression::FORMAT_VERSION,
        StageId::Repro => repro::FORMAT_VERSION,
        StageId::Execute => execute::FORMAT_VERSION,
        StageId::Rerank => select::FORMAT_VERSION,
    }
}
