//! Picking the next token from logits: greedy at temperature 0, else temperature-scaled softmax
//! with nucleus (top-p) truncation, drawn with a per-sample seeded generator. One draw per token,
//! so a sample's tokens depend only on its seed and its logits.

use crate::rng::Rng;

/// The sampler of one sample.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    rng: Rng,
    temperature: f64,
    top_p: f64,
    /// Scratch: probabilities and candidate indices.
    probs: Vec<f64>,
    idx: Vec<u32>,
}

/// Temperatures below this are greedy.
const GREEDY_BELOW: f64 = 1e-5;

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        // Strictly greater: the lowest index wins ties; NaN never wins.
        if v > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    pub(crate) fn new(seed: u64, temperature: f64, top_p: f64) -> Self {
        Sampler {
            rng: Rng::seed_from_u64(seed),
            temperature,
            top_p,
            probs: Vec::new(),
            idx: Vec::new(),
        }
    }

    pub(crate) fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature < GREEDY_BELOW || logits.len() < 2 {
            return argmax(logits);
        }
        let inv_t = 1.0 / self.temperature;
        let max = logits
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .fold(f32::NEG_INFINITY, f32::max);
        self.probs.clear();
        self.probs.extend(logits.iter().map(|&l| {
            if l.is_nan() {
                0.0
            } else {
                (f64::from(l - max) * inv_t).exp()
            }
        }));
        let total: f64 = self.probs.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return argmax(logits);
        }
        let u = self.rng.next_f64();
        if self.top_p >= 1.0 {
            let mut target = u * total;
            for (i, p) in self.probs.iter().enumerate() {
                target -= p;
                if target < 0.0 {
                    return i as u32;
                }
            }
            return argmax(logits);
        }
        // Nucleus: the smallest set of most probable tokens whose mass reaches top_p. Find it
        // among the top k (growing k) instead of sorting the whole vocabulary.
        let n = self.probs.len();
        let probs = &self.probs;
        let order = |a: &u32, b: &u32| probs[*b as usize].total_cmp(&probs[*a as usize]).then(a.cmp(b));
        let mut k = 64.min(n);
        loop {
            self.idx.clear();
            self.idx.extend(0..n as u32);
            if k < n {
                self.idx.select_nth_unstable_by(k - 1, order);
                self.idx.truncate(k);
            }
            self.idx.sort_unstable_by(order);
            let mut mass = 0.0;
            let mut cut = None;
            for (j, &i) in self.idx.iter().enumerate() {
                mass += probs[i as usize];
                if mass >= self.top_p * total {
                    cut = Some(j + 1);
                    break;
                }
            }
            if let Some(cut) = cut.or(if k == n { Some(n) } else { None }) {
                let kept = &self.idx[..cut];
                let kept_mass: f64 = kept.iter().map(|&i| probs[i as usize]).sum();
                let mut target = u * kept_mass;
                for &i in kept {
                    target -= probs[i as usize];
                    if target < 0.0 {
                        return i;
                    }
                }
                return kept[cut - 1];
            }
            k = (k * 4).min(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(1, 0.0, 1.0);
        assert_eq!(s.sample(&[0.1, 3.0, 3.0, -1.0]), 1);
        assert_eq!(s.sample(&[f32::NAN, 1.0]), 1);
    }

    #[test]
    fn same_seed_same_draws_other_seed_other_draws() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 20.0).collect();
        let draw = |seed| {
            let mut s = Sampler::new(seed, 1.0, 0.95);
            (0..50).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Probabilities ~ [0.5, 0.3, 0.2, tiny...]: top_p 0.7 keeps the first two.
        let mut logits = vec![-30f32; 300];
        logits[10] = (0.5f32).ln();
        logits[20] = (0.3f32).ln();
        logits[30] = (0.2f32).ln();
        let mut s = Sampler::new(9, 1.0, 0.7);
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..4000 {
            *seen.entry(s.sample(&logits)).or_insert(0) += 1;
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![10, 20]);
        let share = f64::from(seen[&10]) / 4000.0;
        assert!((share - 0.625).abs() < 0.04, "{share}");
        // Full distribution: frequencies follow the probabilities.
        let mut s = Sampler::new(9, 1.0, 1.0);
        let hits = (0..4000).filter(|_| s.sample(&logits) == 30).count() as f64 / 4000.0;
        assert!((hits - 0.2).abs() < 0.03, "{hits}");
    }

    #[test]
    fn low_temperature_sharpens() {
        let logits = [1.0f32, 1.5];
        let mut s = Sampler::new(3, 0.05, 1.0);
        assert!((0..200).all(|_| s.sample(&logits) == 1));
    }
}
