//! The comparison page of `report --compare BASE NEW`: one self-contained HTML page with the
//! two runs' resolve rates, the instances newly resolved and newly broken, and the change per
//! repository. The figures are [`super::compare::compare`]'s (the same as `compare`'s text);
//! this module adds the per-repository deltas and lays the page out, escaping all text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use agentless_harness::report::RunReport;
use serde::Serialize;

use super::compare::{Comparison, compare};
use super::html::esc;
use super::{percent, repo_of};

/// Resolved instances of one repository in each run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoDelta {
    pub repo: String,
    pub base_resolved: usize,
    pub base_total: usize,
    pub new_resolved: usize,
    pub new_total: usize,
}

impl RepoDelta {
    /// Change in resolved instances (NEW − BASE).
    pub fn delta(&self) -> i64 {
        self.new_resolved as i64 - self.base_resolved as i64
    }
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparePage {
    pub comparison: Comparison,
    pub per_repo: Vec<RepoDelta>,
}

/// The instances a run report knows of (submitted, or listed under any outcome).
fn known_ids(r: &RunReport) -> BTreeSet<&str> {
    r.submitted_ids
        .iter()
        .chain(&r.completed_ids)
        .chain(&r.resolved_ids)
        .chain(&r.unresolved_ids)
        .chain(&r.empty_patch_ids)
        .chain(&r.error_ids)
        .map(String::as_str)
        .collect()
}

impl ComparePage {
    pub fn build(base_label: &str, base: &RunReport, new_label: &str, new: &RunReport) -> Self {
        let mut repos: BTreeMap<String, RepoDelta> = BTreeMap::new();
        for (is_new, r) in [(false, base), (true, new)] {
            let resolved: BTreeSet<&str> = r.resolved_ids.iter().map(String::as_str).collect();
            for id in known_ids(r) {
                let repo = repo_of(id);
                let d = repos.entry(repo.clone()).or_insert(RepoDelta {
                    repo,
                    base_resolved: 0,
                    base_total: 0,
                    new_resolved: 0,
                    new_total: 0,
                });
                let hit = usize::from(resolved.contains(id));
                if is_new {
                    d.new_total += 1;
                    d.new_resolved += hit;
                } else {
                    d.base_total += 1;
                    d.base_resolved += hit;
                }
            }
        }
        let mut per_repo: Vec<RepoDelta> = repos.into_values().collect();
        per_repo.sort_by(|a, b| a.delta().cmp(&b.delta()).then_with(|| a.repo.cmp(&b.repo)));
        ComparePage {
            comparison: compare(base_label, base, new_label, new),
            per_repo,
        }
    }

    /// The page.
    pub fn render(&self) -> String {
        let c = &self.comparison;
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        let _ = writeln!(
            h,
            "<title>{} vs {} — agentless-mini comparison</title>",
            esc(&c.base.label),
            esc(&c.new.label)
        );
        h.push_str(
            "<style>body{font-family:system-ui,sans-serif;color:#0f172a;background:#f8fafc;margin:0}\
             main{max-width:1000px;margin:0 auto;padding:24px}h2{font-size:19px;border-bottom:1px solid #e2e8f0;padding-bottom:6px;margin-top:28px}\
             table{border-collapse:collapse;width:100%;background:white;font-size:14px}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e2e8f0}\
             th{background:#f1f5f9}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.up{color:#166534;font-weight:600}.down{color:#991b1b;font-weight:600}\
             .sub{color:#64748b;font-size:14px}code{font-size:13px}</style>\n</head>\n<body>\n<main>\n",
        );
        h.push_str("<h1>Comparison of two runs</h1>\n");
        let _ = writeln!(
            h,
            "<p class=\"sub\">BASE <code>{}</code> · NEW <code>{}</code></p>",
            esc(&c.base.label),
            esc(&c.new.label)
        );
        h.push_str("<section id=\"rates\"><h2>Resolve rate</h2><table><tr><th></th><th class=\"n\">resolved</th><th class=\"n\">instances</th><th class=\"n\">rate</th></tr>");
        for (name, s) in [("BASE", &c.base), ("NEW", &c.new)] {
            let _ = write!(
                h,
                "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td></tr>",
                s.resolved, s.total, s.rate
            );
        }
        let cls = if c.delta_points >= 0.0 { "up" } else { "down" };
        let _ = writeln!(
            h,
            "<tr><td>change</td><td class=\"n {cls}\">{:+}</td><td></td><td class=\"n {cls}\">{:+.1} points</td></tr></table></section>",
            c.new.resolved as i64 - c.base.resolved as i64,
            c.delta_points
        );
        let list = |h: &mut String, id: &str, title: &str, ids: &[String]| {
            let _ = write!(h, "<section id=\"{id}\"><h2>{} ({})</h2>", esc(title), ids.len());
            if ids.is_empty() {
                h.push_str("<p class=\"sub\">None.</p>");
            } else {
                h.push_str("<ul>");
                for i in ids {
                    let _ = write!(h, "<li><code>{}</code></li>", esc(i));
                }
                h.push_str("</ul>");
            }
            h.push_str("</section>\n");
        };
        list(&mut h, "newly-resolved", "Newly resolved", &c.newly_resolved);
        list(
            &mut h,
            "newly-broken",
            "Newly broken (resolved in BASE, not in NEW)",
            &c.newly_broken,
        );
        if !c.newly_errored.is_empty() {
            list(&mut h, "newly-errored", "New harness errors", &c.newly_errored);
        }
        if !c.only_in_base.is_empty() || !c.only_in_new.is_empty() {
            let _ = write!(
                h,
                "<p class=\"sub\">The runs cover different instances: {} only in BASE, {} only in NEW.</p>",
                c.only_in_base.len(),
                c.only_in_new.len()
            );
        }
        h.push_str("<section id=\"per-repo\"><h2>Per repository</h2><table><tr><th>repository</th><th class=\"n\">BASE</th><th class=\"n\">NEW</th><th class=\"n\">change</th></tr>");
        for r in &self.per_repo {
            let d = r.delta();
            let cls = match d.cmp(&0) {
                std::cmp::Ordering::Greater => "up",
                std::cmp::Ordering::Less => "down",
                std::cmp::Ordering::Equal => "",
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}/{} ({:.1}%)</td><td class=\"n\">{}/{} ({:.1}%)</td><td class=\"n {cls}\">{d:+}</td></tr>",
                esc(&r.repo),
                r.base_resolved,
                r.base_total,
                percent(r.base_resolved, r.base_total),
                r.new_resolved,
                r.new_total,
                percent(r.new_resolved, r.new_total)
            );
        }
        h.push_str("</table></section>\n");
        let _ = writeln!(
            h,
            "<footer class=\"sub\">Generated by agentless-mini {}.</footer>\n</main>\n</body>\n</html>",
            env!("CARGO_PKG_VERSION")
        );
        h
    }
}
