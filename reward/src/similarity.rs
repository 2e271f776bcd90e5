//! Step 5-6 of the reward: per-file similarity of two normalized patches and their mean
//! (SWE-RL's `compute_change_similarities` and the averaging around it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::difflib::char_ratio;

/// The similarity of one file's predicted change to the oracle change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSimilarity {
    pub path: String,
    /// `SequenceMatcher(None, pred, oracle, autojunk=False).ratio()`, or 0 when either side
    /// has no change for this path.
    pub similarity: f64,
}

/// A reward in `[0, 1]` and the per-file similarities it is the mean of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub reward: f64,
    /// One entry per path of the union of predicted and oracle changes, sorted by path.
    pub files: Vec<FileSimilarity>,
}

/// Compare normalized per-file patches: for every path in the union, the character-level
/// ratio of the two patch texts (0 when either is missing or empty); the reward is their mean,
/// and 1.0 when both sides are empty.
///
/// SWE-RL iterates a Python `set` of paths, so its summation order depends on
/// `PYTHONHASHSEED`; this sums in path order. Each per-file similarity is bit-identical to
/// CPython's; the mean can differ in the last bits (at most a few ulp, as between hash seeds).
pub fn compare_patches(pred: &BTreeMap<String, String>, oracle: &BTreeMap<String, String>) -> Score {
    let paths: BTreeSet<&String> = pred.keys().chain(oracle.keys()).collect();
    if paths.is_empty() {
        return Score {
            reward: 1.0,
            files: Vec::new(),
        };
    }
    let files: Vec<FileSimilarity> = paths
        .into_iter()
        .map(|path| {
            let p = pred.get(path).map_or("", String::as_str);
            let o = oracle.get(path).map_or("", String::as_str);
            FileSimilarity {
                path: path.clone(),
                similarity: change_similarity(p, o),
            }
        })
        .collect();
    let sum: f64 = files.iter().map(|f| f.similarity).sum();
    Score {
        reward: sum / files.len() as f64,
        files,
    }
}

/// The similarity of one path's changes.
pub fn change_similarity(pred: &str, oracle: &str) -> f64 {
    if pred.is_empty() || oracle.is_empty() {
        0.0
    } else if pred == oracle {
        // What SequenceMatcher(autojunk=False) computes for equal texts: one block of all.
        1.0
    } else {
        char_ratio(pred, oracle, false)
    }
}
