//! Two runs side by side: instances newly resolved and newly broken, the change in resolve
//! rate, and the regression gate of nightly evaluation (`compare --max-drop`).
//!
//! The resolve rate is `resolved_instances / total_instances`, the official "Resolved
//! (total)" figure. The gate compares rates, so runs over different selections can still be
//! gated; the differences in the instance sets are reported so nobody is misled.
//!
//! Integrity: each side shows its flagged instances (the run report's `flagged_ids`). When a
//! run has the hardened report of `--integrity strict` beside its official one, the gate
//! uses the hardened figures for that side (flagged instances count as unresolved); the
//! official figures are still the ones shown first and compared instance by instance.

use std::collections::BTreeSet;

use agentless_harness::report::RunReport;
use serde::Serialize;

use super::percent;

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub label: String,
    pub resolved: usize,
    pub total: usize,
    pub submitted: usize,
    pub errors: usize,
    /// Percent of `total`.
    pub rate: f64,
    /// Instances flagged by integrity checks (None: the report has no integrity keys).
    pub flagged: Option<Vec<String>>,
    /// The hardened run report's figures (`--integrity strict`), when there is one.
    pub hardened: Option<Hardened>,
}

/// The figures of a hardened run report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hardened {
    pub path: String,
    pub resolved: usize,
    pub total: usize,
    pub rate: f64,
}

/// What is known of a run's integrity besides its official report.
#[derive(Debug, Clone, Default)]
pub struct RunIntegrity {
    /// The official report's `flagged_ids` (None: no integrity keys).
    pub flagged: Option<Vec<String>>,
    /// The hardened run report and its path.
    pub hardened: Option<(String, RunReport)>,
}

impl Side {
    fn of(label: &str, r: &RunReport) -> Self {
        Side {
            label: label.to_owned(),
            resolved: r.resolved_instances,
            total: r.total_instances,
            submitted: r.submitted_instances,
            errors: r.error_instances,
            rate: percent(r.resolved_instances, r.total_instances),
            flagged: None,
            hardened: None,
        }
    }

    fn set_integrity(&mut self, i: RunIntegrity) {
        self.flagged = i.flagged;
        self.hardened = i.hardened.map(|(path, h)| Hardened {
            path,
            resolved: h.resolved_instances,
            total: h.total_instances,
            rate: percent(h.resolved_instances, h.total_instances),
        });
    }

    /// The figures the gate uses: the hardened report's when there is one.
    fn gated(&self) -> (usize, usize, f64, GatedOn) {
        match &self.hardened {
            Some(h) => (h.resolved, h.total, h.rate, GatedOn::Hardened),
            None => (self.resolved, self.total, self.rate, GatedOn::Official),
        }
    }
}

/// Which report of a side the gate used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GatedOn {
    Official,
    Hardened,
}

/// What changed from BASE to NEW.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base: Side,
    pub new: Side,
    /// Resolved in NEW, not in BASE.
    pub newly_resolved: Vec<String>,
    /// Resolved in BASE, not in NEW.
    pub newly_broken: Vec<String>,
    /// Harness errors in NEW that were not errors in BASE.
    pub newly_errored: Vec<String>,
    /// Submitted only in BASE / only in NEW (the runs cover different instances).
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
    /// NEW rate minus BASE rate, in percentage points.
    pub delta_points: f64,
}

/// The verdict of the regression gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gate {
    /// Largest drop allowed, in percentage points.
    pub max_drop_points: f64,
    /// BASE rate minus NEW rate (positive when NEW is worse).
    pub drop_points: f64,
    pub passed: bool,
    /// The report each side's rate came from.
    pub base_report: GatedOn,
    pub new_report: GatedOn,
}

/// Compare two run reports.
pub fn compare(base_label: &str, base: &RunReport, new_label: &str, new: &RunReport) -> Comparison {
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    let (b_res, n_res) = (set(&base.resolved_ids), set(&new.resolved_ids));
    let (b_err, n_err) = (set(&base.error_ids), set(&new.error_ids));
    let (b_sub, n_sub) = (submitted(base), submitted(new));
    let b = Side::of(base_label, base);
    let n = Side::of(new_label, new);
    Comparison {
        delta_points: n.rate - b.rate,
        base: b,
        new: n,
        newly_resolved: n_res.difference(&b_res).cloned().collect(),
        newly_broken: b_res.difference(&n_res).cloned().collect(),
        newly_errored: n_err.difference(&b_err).cloned().collect(),
        only_in_base: b_sub.difference(&n_sub).cloned().collect(),
        only_in_new: n_sub.difference(&b_sub).cloned().collect(),
    }
}

/// The submitted ids; old reports without `submitted_ids` fall back to every bucketed id.
fn submitted(r: &RunReport) -> BTreeSet<String> {
    if !r.submitted_ids.is_empty() {
        return r.submitted_ids.iter().cloned().collect();
    }
    r.completed_ids
        .iter()
        .chain(&r.empty_patch_ids)
        .chain(&r.error_ids)
        .cloned()
        .collect()
}

impl Comparison {
    /// Add what is known of each run's integrity (flagged instances, hardened report).
    pub fn with_integrity(mut self, base: RunIntegrity, new: RunIntegrity) -> Self {
        self.base.set_integrity(base);
        self.new.set_integrity(new);
        self
    }

    /// Passes unless NEW's rate is below BASE's by more than `max_drop_points`. Rates are
    /// compared exactly (cross-multiplied counts), so equal results never fail on rounding.
    /// A side with a hardened report is gated on it.
    pub fn gate(&self, max_drop_points: f64) -> Gate {
        let (b_res, b_tot, b_rate, base_report) = self.base.gated();
        let (n_res, n_tot, n_rate, new_report) = self.new.gated();
        let drop_points = b_rate - n_rate;
        // base/B - new/N > max/100  <=>  100*(base*N - new*B) > max*B*N   (B, N > 0)
        let passed = match (b_tot, n_tot) {
            (0, _) | (_, 0) => drop_points <= max_drop_points,
            (bt, nt) => {
                let lhs = 100 * (b_res as i128 * nt as i128 - n_res as i128 * bt as i128);
                (lhs as f64) <= max_drop_points * (bt as f64) * (nt as f64)
            }
        };
        Gate {
            max_drop_points,
            drop_points,
            passed,
            base_report,
            new_report,
        }
    }

    /// The human-readable comparison (a few lines, then the changed instances).
    pub fn render(&self, gate: Option<&Gate>) -> String {
        let mut s = String::new();
        let side = |x: &Side| {
            format!(
                "{:>6.2}%  ({}/{} resolved, {} errors)  {}",
                x.rate, x.resolved, x.total, x.errors, x.label
            )
        };
        s.push_str(&format!("base {}\n", side(&self.base)));
        if let Some(h) = &self.base.hardened {
            s.push_str(&format!(
                "     {:>6.2}%  ({}/{} resolved) hardened: {}\n",
                h.rate, h.resolved, h.total, h.path
            ));
        }
        s.push_str(&format!("new  {}\n", side(&self.new)));
        if let Some(h) = &self.new.hardened {
            s.push_str(&format!(
                "     {:>6.2}%  ({}/{} resolved) hardened: {}\n",
                h.rate, h.resolved, h.total, h.path
            ));
        }
        s.push_str(&format!(
            "change {:+.2} points: {} newly resolved, {} newly broken{}\n",
            self.delta_points,
            self.newly_resolved.len(),
            self.newly_broken.len(),
            if self.newly_errored.is_empty() {
                String::new()
            } else {
                format!(", {} new harness errors", self.newly_errored.len())
            }
        ));
        if !self.only_in_base.is_empty() || !self.only_in_new.is_empty() {
            s.push_str(&format!(
                "note: the runs cover different instances ({} only in base, {} only in new)\n",
                self.only_in_base.len(),
                self.only_in_new.len()
            ));
        }
        for (title, ids) in [
            ("newly resolved", &self.newly_resolved),
            ("newly broken", &self.newly_broken),
            ("new harness errors", &self.newly_errored),
        ] {
            if !ids.is_empty() {
                s.push_str(&format!("{title}:\n"));
                for id in ids {
                    s.push_str(&format!("  {id}\n"));
                }
            }
        }
        for (name, x) in [("base", &self.base), ("new", &self.new)] {
            match &x.flagged {
                Some(ids) if !ids.is_empty() => {
                    s.push_str(&format!("flagged by integrity checks in {name} ({}):\n", ids.len()));
                    for id in ids {
                        s.push_str(&format!("  {id}\n"));
                    }
                }
                Some(_) => s.push_str(&format!("flagged by integrity checks in {name}: none\n")),
                None => {}
            }
        }
        if let Some(g) = gate {
            let on = |r: GatedOn| match r {
                GatedOn::Official => "official",
                GatedOn::Hardened => "hardened",
            };
            if g.base_report == GatedOn::Hardened || g.new_report == GatedOn::Hardened {
                s.push_str(&format!(
                    "gate on the {} report of base and the {} report of new\n",
                    on(g.base_report),
                    on(g.new_report)
                ));
            }
            if g.passed {
                s.push_str(&format!(
                    "gate passed (drop {:.2} points, allowed {:.2})",
                    g.drop_points.max(0.0),
                    g.max_drop_points
                ));
            } else {
                s.push_str(&format!(
                    "gate FAILED: new is {:.2} points below base (allowed {:.2})",
                    g.drop_points, g.max_drop_points
                ));
            }
        }
        s.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(total: usize, resolved: &[&str], unresolved: &[&str]) -> RunReport {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut all = ids(resolved);
        all.extend(ids(unresolved));
        all.sort();
        RunReport {
            total_instances: total,
            submitted_instances: all.len(),
            completed_instances: all.len(),
            resolved_instances: resolved.len(),
            unresolved_instances: unresolved.len(),
            resolved_ids: ids(resolved),
            unresolved_ids: ids(unresolved),
            submitted_ids: all.clone(),
            completed_ids: all,
            schema_version: 2,
            ..Default::default()
        }
    }

    #[test]
    fn equal_runs_pass_the_zero_gate_and_one_fewer_fails_it() {
        let a = report(3, &["a", "b"], &["c"]);
        let c = compare("a", &a, "a", &a);
        assert!(c.gate(0.0).passed);
        assert_eq!(c.delta_points, 0.0);
        let b = report(3, &["a"], &["b", "c"]);
        let c = compare("a", &a, "b", &b);
        assert_eq!(c.newly_broken, vec!["b"]);
        assert!(!c.gate(0.0).passed);
        assert!(!c.gate(33.0).passed);
        assert!(c.gate(33.34).passed);
    }

    #[test]
    fn rates_with_thirds_compare_exactly() {
        // 1/3 vs 2/6: the same rate, never a failure from floating point.
        let a = report(3, &["a"], &["b", "c"]);
        let b = report(6, &["a", "x"], &["b", "c", "y", "z"]);
        let c = compare("a", &a, "b", &b);
        assert!(c.gate(0.0).passed, "{c:?}");
        assert_eq!(c.only_in_new, vec!["x", "y", "z"]);
    }

    #[test]
    fn the_gate_uses_a_hardened_report_when_a_side_has_one() {
        let base = report(3, &["a", "b"], &["c"]);
        let new = report(3, &["a", "b"], &["c"]);
        // Officially equal; new's hardened report demotes its flagged `b`.
        let c = compare("base", &base, "new", &new);
        assert!(c.gate(0.0).passed);
        let hardened = report(3, &["a"], &["b", "c"]);
        let c = c.with_integrity(
            RunIntegrity {
                flagged: Some(vec![]),
                hardened: None,
            },
            RunIntegrity {
                flagged: Some(vec!["b".into()]),
                hardened: Some(("new.hardened.json".into(), hardened)),
            },
        );
        let g = c.gate(0.0);
        assert!(!g.passed, "{g:?}");
        assert_eq!((g.base_report, g.new_report), (GatedOn::Official, GatedOn::Hardened));
        assert!(c.gate(33.34).passed);
        // The official comparison is unchanged: nothing newly broken.
        assert!(c.newly_broken.is_empty());
        let text = c.render(Some(&g));
        assert!(text.contains("flagged by integrity checks in new (1):\n  b"), "{text}");
        assert!(text.contains("flagged by integrity checks in base: none"), "{text}");
        assert!(text.contains("hardened: new.hardened.json"), "{text}");
        assert!(
            text.contains("gate on the official report of base and the hardened report of new"),
            "{text}"
        );
        assert!(text.contains("gate FAILED"), "{text}");
    }
}
