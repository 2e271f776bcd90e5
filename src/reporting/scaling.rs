//! Test-time scaling without new model calls (SWE-RL Fig. 4): the resolve rate against the
//! number of repair samples and against the number of reproduction tests, computed by
//! re-running the pipeline's rerank rule ([`crate::pipeline::rerank::select`]) on subsets of
//! the samples and tests a run recorded, and the "oracle" upper bound (some sample correct).
//!
//! - Samples: for each k, every instance reranks a random k-subset of its samples (kept in
//!   sample order, as the pipeline stores them), averaged over `draws` seeded draws; k = N is
//!   the run itself. The paper's curve (20 → 500 samples) is of this kind.
//! - Reproduction tests: all samples, only the first m tests of the instance's ranking
//!   (`--max_tests m` in the reference), m = 0 … M.
//!
//! A chosen sample counts as resolved when its correctness is known to be true. Correctness
//! is known for samples that were evaluated with the official tests (the submitted one, and
//! any other evaluated candidate) and for every sample whose normalized patch equals one of
//! those (the rerank rule's own notion of sameness). Unknown choices are reported as such:
//! each point carries a lower bound (unknown = not resolved) and an upper bound.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::pipeline::rerank::{Candidate, select};

/// One recorded repair sample, as the scaling needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleOutcome {
    /// The rerank grouping key (normalized patch, trimmed); empty = no valid patch.
    pub normalized: String,
    /// Failing regression tests (None = not executed: the rule's 10000).
    pub regression_failures: Option<usize>,
    /// Reproduction tests passed (ids).
    pub reproduction_passed: BTreeSet<String>,
    /// Resolved under the official tests, when known.
    pub correct: Option<bool>,
}

/// An instance's recorded samples and its ranked reproduction tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceSamples {
    pub instance_id: String,
    pub samples: Vec<SampleOutcome>,
    /// The reproduction tests in rank order (the rule keeps the first m).
    pub repro_tests: Vec<String>,
}

/// One point of a curve (rates are percent of the instances given).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Samples (or tests) used.
    pub x: usize,
    /// Expected resolve rate counting unknown choices as not resolved / as resolved.
    pub low: f64,
    pub high: f64,
    /// The oracle: some sample among those used is correct (lower bound, unknown = no).
    pub oracle: f64,
}

/// Both curves.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Curves {
    pub instances: usize,
    pub samples: Vec<Point>,
    pub tests: Vec<Point>,
    /// The most samples / tests any instance has.
    pub max_samples: usize,
    pub max_tests: usize,
}

/// The x values: 1, 2, 4, … (powers of two) and the maximum, plus the paper's points that fit.
pub fn ladder(max: usize, paper: &[usize]) -> Vec<usize> {
    let mut xs: BTreeSet<usize> = BTreeSet::new();
    let mut k = 1;
    while k < max {
        xs.insert(k);
        k *= 2;
    }
    xs.extend(paper.iter().copied().filter(|&p| p >= 1 && p <= max));
    if max > 0 {
        xs.insert(max);
    }
    xs.into_iter().collect()
}

/// The paper's x values (Fig. 4).
pub const PAPER_SAMPLES: [usize; 6] = [20, 40, 80, 160, 320, 500];
pub const PAPER_TESTS: [usize; 5] = [1, 5, 10, 20, 30];

/// Candidates with small interned keys (the rule only compares keys for equality).
struct Interned {
    keys: Vec<String>,
    regression: Vec<usize>,
    repro: Vec<Vec<u32>>,
    /// Short names of the interned tests, by number.
    names: Vec<String>,
}

fn intern(inst: &InstanceSamples) -> Interned {
    let mut patch_ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut test_ids: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, t) in inst.repro_tests.iter().enumerate() {
        test_ids.entry(t.as_str()).or_insert(i as u32);
    }
    let mut keys = Vec::new();
    let mut repro = Vec::new();
    let mut regression = Vec::new();
    for s in &inst.samples {
        let n = s.normalized.trim();
        keys.push(if n.is_empty() {
            String::new()
        } else {
            let next = patch_ids.len();
            format!("p{}", patch_ids.entry(n).or_insert(next))
        });
        regression.push(s.regression_failures.unwrap_or(10_000));
        // Tests outside the ranking get ranks after it (kept for the all-tests point).
        let mut r: Vec<u32> = s
            .reproduction_passed
            .iter()
            .map(|t| {
                let next = (inst.repro_tests.len() + test_ids.len()) as u32;
                *test_ids.entry(t.as_str()).or_insert(next)
            })
            .collect();
        r.sort_unstable();
        repro.push(r);
    }
    let count = repro.iter().flatten().map(|&t| t as usize + 1).max().unwrap_or(0);
    let names = (0..count).map(|t| t.to_string()).collect();
    Interned {
        keys,
        regression,
        repro,
        names,
    }
}

/// Rerank the samples `subset` (indices, in order) using the first `tests` tests; the
/// chosen sample's index.
fn choose(c: &Interned, subset: &[usize], tests: Option<u32>) -> Option<usize> {
    let cands: Vec<Candidate> = subset
        .iter()
        .map(|&i| Candidate {
            normalized: c.keys[i].clone(),
            regression_failures: c.regression[i],
            reproduction_passed: c.repro[i]
                .iter()
                .filter(|&&t| tests.is_none_or(|m| t < m))
                .map(|&t| c.names[t as usize].clone())
                .collect(),
        })
        .collect();
    select(&cands).selected.map(|j| subset[j])
}

/// The correctness of every sample, spread to samples with the same normalized patch.
pub fn spread_correctness(inst: &mut InstanceSamples) {
    let mut known: BTreeMap<String, bool> = BTreeMap::new();
    for s in &inst.samples {
        if let Some(c) = s.correct {
            let k = s.normalized.trim().to_owned();
            if !k.is_empty() {
                // A conflict (same normalized patch, different verdicts: flaky tests) is
                // resolved pessimistically.
                let e = known.entry(k).or_insert(c);
                *e = *e && c;
            }
        }
    }
    for s in &mut inst.samples {
        if s.correct.is_none() {
            s.correct = known.get(s.normalized.trim()).copied();
        }
        if s.normalized.trim().is_empty() {
            s.correct = Some(false);
        }
    }
}

/// Tally of choices: resolved for sure, unknown.
#[derive(Default, Clone, Copy)]
struct Tally {
    sure: f64,
    unknown: f64,
    oracle: f64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.sure += o.sure;
        self.unknown += o.unknown;
        self.oracle += o.oracle;
    }
}

fn add_choice(t: &mut Tally, inst: &InstanceSamples, chosen: Option<usize>, subset: &[usize], weight: f64) {
    match chosen.and_then(|i| inst.samples[i].correct) {
        Some(true) => t.sure += weight,
        Some(false) => {}
        None if chosen.is_some() => t.unknown += weight,
        None => {}
    }
    if subset.iter().any(|&i| inst.samples[i].correct == Some(true)) {
        t.oracle += weight;
    }
}

/// Deterministic draws (splitmix64): a k-subset of 0..n in increasing order.
fn draw(n: usize, k: usize, state: &mut u64) -> Vec<usize> {
    let mut next = || {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    // Partial Fisher–Yates.
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + (next() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut out = idx[..k.min(n)].to_vec();
    out.sort_unstable();
    out
}

/// Compute both curves over `instances` (`total` = the denominator, e.g. every instance of
/// the run including those with no samples). `draws` random subsets per point (≥ 1).
pub fn curves(instances: &[InstanceSamples], total: usize, draws: usize, seed: u64) -> Curves {
    let draws = draws.max(1);
    let max_samples = instances.iter().map(|i| i.samples.len()).max().unwrap_or(0);
    let max_tests = instances.iter().map(|i| i.repro_tests.len()).max().unwrap_or(0);
    let ks = ladder(max_samples, &PAPER_SAMPLES);
    let mut ms = vec![0];
    ms.extend(ladder(max_tests, &PAPER_TESTS));
    let pct = |x: f64| if total == 0 { 0.0 } else { 100.0 * x / total as f64 };
    let point = |x: usize, t: &Tally| Point {
        x,
        low: pct(t.sure),
        high: pct(t.sure + t.unknown),
        oracle: pct(t.oracle),
    };

    // Instances are independent: split them over the cores, then add the tallies.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    let chunk = instances.len().div_ceil(threads).max(1);
    let parts: Vec<(Vec<Tally>, Vec<Tally>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = instances
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let (ks, ms) = (&ks, &ms);
                scope.spawn(move || tally_instances(part, c * chunk, ks, ms, draws, seed))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut by_k = vec![Tally::default(); ks.len()];
    let mut by_m = vec![Tally::default(); ms.len()];
    for (a, b) in &parts {
        for (t, x) in by_k.iter_mut().zip(a) {
            t.add(x);
        }
        for (t, x) in by_m.iter_mut().zip(b) {
            t.add(x);
        }
    }
    Curves {
        instances: total,
        samples: ks.iter().zip(&by_k).map(|(k, t)| point(*k, t)).collect(),
        tests: ms.iter().zip(&by_m).map(|(m, t)| point(*m, t)).collect(),
        max_samples,
        max_tests,
    }
}

/// The tallies of some instances (`first` = index of the first, for the seeds).
fn tally_instances(
    instances: &[InstanceSamples],
    first: usize,
    ks: &[usize],
    ms: &[usize],
    draws: usize,
    seed: u64,
) -> (Vec<Tally>, Vec<Tally>) {
    let mut by_k = vec![Tally::default(); ks.len()];
    let mut by_m = vec![Tally::default(); ms.len()];
    for (j, inst) in instances.iter().enumerate() {
        let n = first + j;
        let size = inst.samples.len();
        if size == 0 {
            continue;
        }
        let c = intern(inst);
        let all: Vec<usize> = (0..size).collect();
        for (t, &k) in by_k.iter_mut().zip(ks) {
            if k >= size {
                add_choice(t, inst, choose(&c, &all, None), &all, 1.0);
                continue;
            }
            let mut state = seed ^ (n as u64).wrapping_mul(0x100_0000_01B3) ^ (k as u64) << 40;
            for _ in 0..draws {
                let subset = draw(size, k, &mut state);
                add_choice(t, inst, choose(&c, &subset, None), &subset, 1.0 / draws as f64);
            }
        }
        for (t, &m) in by_m.iter_mut().zip(ms) {
            add_choice(t, inst, choose(&c, &all, Some(m as u32)), &all, 1.0);
        }
    }
    (by_k, by_m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: &str, reg: Option<usize>, rep: &[&str], correct: Option<bool>) -> SampleOutcome {
        SampleOutcome {
            normalized: n.into(),
            regression_failures: reg,
            reproduction_passed: rep.iter().map(|x| x.to_string()).collect(),
            correct,
        }
    }

    #[test]
    fn ladder_has_powers_paper_points_and_the_max() {
        assert_eq!(ladder(40, &PAPER_SAMPLES), vec![1, 2, 4, 8, 16, 20, 32, 40]);
        assert_eq!(ladder(1, &PAPER_SAMPLES), vec![1]);
        assert_eq!(ladder(0, &PAPER_SAMPLES), Vec::<usize>::new());
    }

    #[test]
    fn draws_are_k_distinct_sorted_and_deterministic() {
        let mut a = 7;
        let mut b = 7;
        let x = draw(10, 4, &mut a);
        assert_eq!(x, draw(10, 4, &mut b));
        assert_eq!(x.len(), 4);
        assert!(x.windows(2).all(|w| w[0] < w[1]) && x.iter().all(|&i| i < 10));
    }

    #[test]
    fn correctness_spreads_to_equal_patches() {
        let mut inst = InstanceSamples {
            instance_id: "a".into(),
            samples: vec![
                s("x", None, &[], Some(true)),
                s("x", None, &[], None),
                s("y", None, &[], None),
                s("", None, &[], None),
            ],
            repro_tests: vec![],
        };
        spread_correctness(&mut inst);
        let c: Vec<_> = inst.samples.iter().map(|s| s.correct).collect();
        assert_eq!(c, vec![Some(true), Some(true), None, Some(false)]);
    }

    #[test]
    fn the_full_set_reproduces_the_run_and_tests_change_the_choice() {
        // Majority says "bad" (3 votes) but only "good" passes the reproduction test.
        let inst = InstanceSamples {
            instance_id: "a".into(),
            samples: vec![
                s("bad", Some(0), &[], Some(false)),
                s("good", Some(0), &["t1"], Some(true)),
                s("bad", Some(0), &[], Some(false)),
                s("bad", Some(0), &[], Some(false)),
            ],
            repro_tests: vec!["t1".into()],
        };
        let c = curves(std::slice::from_ref(&inst), 1, 8, 1);
        // With one test the rule picks "good"; with none it votes "bad".
        assert_eq!(
            c.tests.iter().map(|p| (p.x, p.low)).collect::<Vec<_>>(),
            vec![(0, 0.0), (1, 100.0)]
        );
        let last = c.samples.last().unwrap();
        assert_eq!((last.x, last.low, last.high, last.oracle), (4, 100.0, 100.0, 100.0));
        // One sample: "good" is drawn a quarter of the time (in expectation over the draws).
        let first = &c.samples[0];
        assert_eq!(first.x, 1);
        assert!(first.low > 0.0 && first.low < 100.0, "{first:?}");
        assert_eq!(first.low, first.oracle, "with one sample the choice is the oracle");
    }

    #[test]
    fn unknown_choices_widen_the_band() {
        let inst = InstanceSamples {
            instance_id: "a".into(),
            samples: vec![
                s("u", Some(0), &[], None),
                s("u", Some(0), &[], None),
                s("k", Some(0), &[], Some(true)),
            ],
            repro_tests: vec![],
        };
        let c = curves(&[inst], 2, 4, 3);
        let last = c.samples.last().unwrap();
        assert_eq!((last.low, last.high, last.oracle), (0.0, 50.0, 50.0));
    }
}
