//! The SWE-RL reward (facebookresearch/swe-rl `src/swerl/core/reward.py`), bit-exact, and
//! the pieces of CPython it rests on.
//!
//! - [`search_replace_reward`]: `calculate_search_replace_reward` — a model output with
//!   `<think>`/`<solution>` and SEARCH/REPLACE edits against the oracle file contents.
//! - [`calculate_reward`]: `calculate_reward` — new file contents against the oracle ones.
//! - [`unidiff_reward`]: `calculate_reward_unidiff` — predicted against gold unified diffs,
//!   parsed the way `unidiff` 0.7.5 parses them.
//! - [`difflib`]: a port of CPython's `SequenceMatcher` and `unified_diff`; [`py`]: Python's
//!   `splitlines`/`strip` semantics.
//! - [`jsonl`] and [`stream`]: the line protocol of `agentless-mini reward` and its parallel,
//!   order-keeping runner.
//!
//! A reward is a [`Score`] in `[0, 1]` (with per-file similarities), or a [`FormatError`] whose
//! reward is -1 ([`reward_of`]).

pub mod difflib;
pub mod jsonl;
pub mod py;
pub mod search_replace;
pub mod similarity;
pub mod stream;
pub mod unidiff;

pub use search_replace::{Files, FormatError, calculate_reward, search_replace_reward};
pub use similarity::{FileSimilarity, Score};
pub use unidiff::unidiff_reward;

/// The number SWE-RL returns: the score's reward, or -1 for a format error.
pub fn reward_of(outcome: &Result<Score, FormatError>) -> f64 {
    match outcome {
        Ok(score) => score.reward,
        Err(_) => FormatError::REWARD,
    }
}
