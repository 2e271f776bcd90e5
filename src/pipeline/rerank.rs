//! The rerank rule of Agentless Mini (`majority_voting` in swe-rl's `agentless_mini/rerank.py`,
//! swe-rl's Agentless Mini), as a pure function over candidates in sample order:
//!
//! 1. `P0` = candidates whose normalized patch is not empty.
//! 2. `REG(S)` keeps the members of `S` with the fewest failing regression tests.
//! 3. `REP(S)` groups `S` by the set `T` of reproduction tests passed (groups in order of first
//!    member); a group scores `|T|² × |P|`; the union of every top-scoring group is kept, in
//!    group order.
//! 4. The first of `REP(REG(P0))`, `REG(REP(P0))`, `REP(P0)`, `REG(P0)` that is neither empty
//!    nor as large as `P0` is used; otherwise `P0`.
//! 5. Majority vote inside that set over normalized patches: the winner maximizes (votes,
//!    −first index at which its normalized patch appears while walking the set in order); the
//!    first candidate reaching the maximum (in set order) is chosen.
//!
//! One deliberate difference (as swe-rl's Agentless Mini does): candidates are in request order, not in the
//! order completions arrived, so ties break deterministically.

use std::collections::{BTreeSet, HashMap};

/// One candidate patch with its execution results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The grouping key: the normalized patch, trimmed (empty = not a candidate).
    pub normalized: String,
    /// Failing selected regression tests (10000 when unknown, 0 when the ranker is off).
    pub regression_failures: usize,
    /// Ids of the reproduction tests the patch passes (empty when the ranker is off).
    pub reproduction_passed: BTreeSet<String>,
}

/// Which filter chose the set the vote ran over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    RegressionThenReproduction,
    ReproductionThenRegression,
    ReproductionOnly,
    RegressionOnly,
    /// No filter discriminated: plain majority voting over `P0`.
    None,
}

/// The outcome of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Index of the chosen candidate; None when no candidate has a non-empty patch.
    pub selected: Option<usize>,
    pub filter: Filter,
    /// Size of the set voted over.
    pub pool: usize,
    /// Votes of the chosen normalized patch.
    pub votes: usize,
    /// What plain majority voting over `P0` would have chosen (the reference's "Delta").
    pub selected_without_execution: Option<usize>,
}

/// Apply the rule to `candidates` (in sample order).
pub fn select(candidates: &[Candidate]) -> Selection {
    let p0: Vec<usize> = (0..candidates.len())
        .filter(|&i| !candidates[i].normalized.trim().is_empty())
        .collect();
    if p0.is_empty() {
        return Selection {
            selected: None,
            filter: Filter::None,
            pool: 0,
            votes: 0,
            selected_without_execution: None,
        };
    }
    let reg = |ids: &[usize]| -> Vec<usize> {
        let Some(min) = ids.iter().map(|&i| candidates[i].regression_failures).min() else {
            return Vec::new();
        };
        ids.iter()
            .copied()
            .filter(|&i| candidates[i].regression_failures == min)
            .collect()
    };
    let rep = |ids: &[usize]| -> Vec<usize> {
        if ids.is_empty() {
            return Vec::new();
        }
        let mut groups: Vec<(&BTreeSet<String>, Vec<usize>)> = Vec::new();
        for &i in ids {
            let t = &candidates[i].reproduction_passed;
            match groups.iter_mut().find(|(k, _)| *k == t) {
                Some((_, members)) => members.push(i),
                None => groups.push((t, vec![i])),
            }
        }
        let score = |(k, v): &(&BTreeSet<String>, Vec<usize>)| k.len() * k.len() * v.len();
        let max = groups.iter().map(score).max().unwrap_or(0);
        groups
            .iter()
            .filter(|g| score(g) == max)
            .flat_map(|(_, v)| v.iter().copied())
            .collect()
    };
    let regression_only = reg(&p0);
    let reproduction_only = rep(&p0);
    let considered = [
        (Filter::RegressionThenReproduction, rep(&regression_only)),
        (Filter::ReproductionThenRegression, reg(&reproduction_only)),
        (Filter::ReproductionOnly, reproduction_only.clone()),
        (Filter::RegressionOnly, regression_only.clone()),
    ];
    let (filter, pool) = considered
        .into_iter()
        .find(|(_, ids)| !ids.is_empty() && ids.len() != p0.len())
        .unwrap_or((Filter::None, p0.clone()));
    let (selected, votes) = vote(candidates, &pool);
    let (without, _) = vote(candidates, &p0);
    Selection {
        selected: Some(selected),
        filter,
        pool: pool.len(),
        votes,
        selected_without_execution: Some(without),
    }
}

/// `get_selected_id`: majority vote over normalized patches inside `ids` (not empty).
fn vote(candidates: &[Candidate], ids: &[usize]) -> (usize, usize) {
    let mut votes: HashMap<&str, usize> = HashMap::new();
    let mut first: HashMap<&str, usize> = HashMap::new();
    for &i in ids {
        let k = candidates[i].normalized.as_str();
        *votes.entry(k).or_default() += 1;
        first.entry(k).or_insert(i);
    }
    let mut best = ids[0];
    let mut best_key = (0usize, i64::MIN);
    for &i in ids {
        let k = candidates[i].normalized.as_str();
        let key = (votes[k], -(first[k] as i64));
        if key > best_key {
            best_key = key;
            best = i;
        }
    }
    (best, best_key.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(n: &str, reg: usize, rep: &[&str]) -> Candidate {
        Candidate {
            normalized: n.to_owned(),
            regression_failures: reg,
            reproduction_passed: rep.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn empty_and_all_empty() {
        assert_eq!(select(&[]).selected, None);
        assert_eq!(select(&[c("", 0, &[]), c("  ", 0, &[])]).selected, None);
    }

    #[test]
    fn plain_majority_ties_to_the_earliest() {
        let s = select(&[c("a", 0, &[]), c("b", 0, &[]), c("b", 0, &[]), c("a", 0, &[])]);
        assert_eq!((s.selected, s.filter, s.votes), (Some(0), Filter::None, 2));
        let s = select(&[c("a", 0, &[]), c("b", 0, &[]), c("b", 0, &[])]);
        assert_eq!(s.selected, Some(1));
    }

    #[test]
    fn regression_then_reproduction() {
        // b fails fewer regression tests; among the minimum, the group passing {t1,t2} wins.
        let cands = [
            c("a", 3, &["t1", "t2"]),
            c("b", 0, &["t1"]),
            c("c", 0, &["t1", "t2"]),
            c("b", 0, &["t1"]),
            c("b", 0, &["t1"]),
        ];
        let s = select(&cands);
        // REG(P0) = {1,2,3,4}; REP: {t1}: 1*1*3 = 3, {t1,t2}: 4*1 = 4 → {2}.
        assert_eq!(
            (s.selected, s.filter, s.pool),
            (Some(2), Filter::RegressionThenReproduction, 1)
        );
        assert_eq!(s.selected_without_execution, Some(1));
    }

    #[test]
    fn more_tests_beat_more_patches_but_not_always() {
        // |T|^2 x |P|: 1 test x 5 patches = 5 beats 2 tests x 1 patch = 4.
        let mut cands: Vec<Candidate> = (0..5).map(|_| c("x", 0, &["t1"])).collect();
        cands.push(c("y", 0, &["t1", "t2"]));
        let s = select(&cands);
        assert_eq!(s.selected, Some(0));
        // ... and 3 tests x 1 patch = 9 beats it.
        cands.push(c("z", 0, &["t1", "t2", "t3"]));
        assert_eq!(select(&cands).selected, Some(6));
    }

    #[test]
    fn tied_groups_are_all_kept_in_group_order() {
        // Two groups with equal scores: {t1} x 2 patches and... {t1} 1*1*2 = 2 vs {t2} 1*1*2 = 2.
        let cands = [
            c("a", 0, &["t2"]),
            c("b", 0, &["t1"]),
            c("b", 0, &["t1"]),
            c("a", 0, &["t2"]),
            c("c", 0, &[]),
        ];
        let s = select(&cands);
        // REG(P0) = P0 (all 0) → REP(REG(P0)) = {0,3,1,2} (4 of 5) discriminates.
        assert_eq!((s.filter, s.pool), (Filter::RegressionThenReproduction, 4));
        // Votes a:2, b:2; first appearance walking the set in group order: a at 0, b at 1.
        assert_eq!(s.selected, Some(0));
    }

    #[test]
    fn non_discriminating_filters_are_skipped() {
        // Nobody passes a test and everyone has the same failures: every filter keeps P0.
        let cands = [c("a", 1, &[]), c("b", 1, &[]), c("b", 1, &[])];
        let s = select(&cands);
        assert_eq!((s.filter, s.selected), (Filter::None, Some(1)));
        // Reproduction discriminates but regression does not.
        let cands = [c("a", 1, &[]), c("b", 1, &["t"]), c("a", 1, &[])];
        let s = select(&cands);
        assert_eq!((s.filter, s.selected), (Filter::RegressionThenReproduction, Some(1)));
    }

    #[test]
    fn regression_minimum_with_unknown_results() {
        // 10000 = missing result; the minimum wins even when nobody passes reproduction tests.
        let cands = [c("a", 10000, &[]), c("b", 2, &[]), c("a", 10000, &[])];
        let s = select(&cands);
        assert_eq!((s.filter, s.selected), (Filter::RegressionThenReproduction, Some(1)));
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["", "a", "b", "c", "d"]),
                0usize..3,
                prop::collection::btree_set(prop::sample::select(vec!["t1", "t2", "t3"]), 0..3),
            ),
            0..12,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(n, r, t)| Candidate {
                    normalized: n.to_owned(),
                    regression_failures: r,
                    reproduction_passed: t.into_iter().map(str::to_owned).collect(),
                })
                .collect()
        })
    }

    /// The rule as the reference writes it, transcribed independently (sets as sorted vecs).
    fn reference_rule(cands: &[Candidate]) -> Option<usize> {
        let p0: Vec<usize> = (0..cands.len()).filter(|&i| !cands[i].normalized.is_empty()).collect();
        if p0.is_empty() {
            return None;
        }
        let reg = |ids: &Vec<usize>| -> Vec<usize> {
            if ids.is_empty() {
                return vec![];
            }
            let m = ids.iter().map(|&i| cands[i].regression_failures).min().unwrap();
            ids.iter()
                .copied()
                .filter(|&i| cands[i].regression_failures == m)
                .collect()
        };
        let rep = |ids: &Vec<usize>| -> Vec<usize> {
            if ids.is_empty() {
                return vec![];
            }
            let mut keys: Vec<Vec<String>> = vec![];
            let mut members: Vec<Vec<usize>> = vec![];
            for &i in ids {
                let k: Vec<String> = cands[i].reproduction_passed.iter().cloned().collect();
                if let Some(p) = keys.iter().position(|x| *x == k) {
                    members[p].push(i);
                } else {
                    keys.push(k);
                    members.push(vec![i]);
                }
            }
            let scores: Vec<usize> = keys
                .iter()
                .zip(&members)
                .map(|(k, v)| k.len() * k.len() * v.len())
                .collect();
            let max = *scores.iter().max().unwrap();
            let mut out = vec![];
            for (j, v) in members.iter().enumerate() {
                if scores[j] == max {
                    out.extend(v);
                }
            }
            out
        };
        let r = reg(&p0);
        let p = rep(&p0);
        let considered = [rep(&r), reg(&p), p.clone(), r.clone()];
        let chosen = considered
            .into_iter()
            .find(|ids| !ids.is_empty() && ids.len() != p0.len())
            .unwrap_or(p0.clone());
        let mut count: Vec<(String, usize, usize)> = vec![]; // key, votes, first
        for &i in &chosen {
            let k = &cands[i].normalized;
            if let Some(e) = count.iter_mut().find(|e| &e.0 == k) {
                e.1 += 1;
            } else {
                count.push((k.clone(), 1, i));
            }
        }
        let best = count
            .iter()
            .max_by(|a, b| (a.1, std::cmp::Reverse(a.2)).cmp(&(b.1, std::cmp::Reverse(b.2))))
            .unwrap();
        Some(best.2)
    }

    proptest! {
        #[test]
        fn agrees_with_the_rule_as_written(cands in arb_candidates()) {
            prop_assert_eq!(select(&cands).selected, reference_rule(&cands));
        }

        #[test]
        fn selects_a_non_empty_patch_when_one_exists(cands in arb_candidates()) {
            let s = select(&cands);
            let any = cands.iter().any(|c| !c.normalized.is_empty());
            prop_assert_eq!(s.selected.is_some(), any);
            if let Some(i) = s.selected {
                prop_assert!(!cands[i].normalized.is_empty());
                prop_assert!(s.votes >= 1 && s.pool >= 1);
            }
        }

        #[test]
        fn empty_candidates_never_matter(cands in arb_candidates(), at in 0usize..13) {
            // Inserting a candidate with an empty patch shifts indices but changes nothing else.
            let at = at.min(cands.len());
            let mut more = cands.clone();
            more.insert(at, Candidate { normalized: String::new(), regression_failures: 0, reproduction_passed: BTreeSet::new() });
            let a = select(&cands).selected;
            let b = select(&more).selected.map(|i| if i > at { i - 1 } else { i });
            prop_assert_eq!(a, b);
        }
    }
}
