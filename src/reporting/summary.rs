//! The short text summary printed at the end of every `eval` and `evaluate`, and the
//! per-repository counts the other reports share.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use agentless_harness::report::RunReport;
use serde::Serialize;

use super::{percent, repo_of};

/// Resolved / submitted instances of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoStat {
    pub repo: String,
    pub resolved: usize,
    /// Instances of the repository the run covered (submitted, or bucketed).
    pub total: usize,
}

/// Per repository, sorted by repository name. The denominator is what the run covered
/// (`submitted_ids`, or every bucketed id for reports without that list).
pub fn per_repo(report: &RunReport) -> Vec<RepoStat> {
    let mut map: BTreeMap<String, RepoStat> = BTreeMap::new();
    let covered: Vec<&String> = if report.submitted_ids.is_empty() {
        report
            .completed_ids
            .iter()
            .chain(&report.empty_patch_ids)
            .chain(&report.error_ids)
            .collect()
    } else {
        report.submitted_ids.iter().collect()
    };
    for id in covered {
        let repo = repo_of(id);
        map.entry(repo.clone())
            .or_insert(RepoStat {
                repo,
                resolved: 0,
                total: 0,
            })
            .total += 1;
    }
    for id in &report.resolved_ids {
        let repo = repo_of(id);
        let e = map.entry(repo.clone()).or_insert(RepoStat {
            repo,
            resolved: 0,
            total: 0,
        });
        e.resolved += 1;
        e.total = e.total.max(e.resolved);
    }
    map.into_values().collect()
}

/// A few lines: the resolve rate against the submitted and the whole dataset, the other
/// buckets, the repositories (the largest first, at most `max_repos`), and the report path.
pub fn run_summary(report: &RunReport, report_path: Option<&Path>, max_repos: usize) -> String {
    let r = report;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "resolved {} of {} submitted ({:.1}%), {} of {} in the dataset ({:.1}%)",
        r.resolved_instances,
        r.submitted_instances,
        percent(r.resolved_instances, r.submitted_instances),
        r.resolved_instances,
        r.total_instances,
        percent(r.resolved_instances, r.total_instances)
    );
    let _ = writeln!(
        s,
        "unresolved {}, empty patches {}, harness errors {}",
        r.unresolved_instances, r.empty_patch_instances, r.error_instances
    );
    let mut repos = per_repo(r);
    if repos.len() > 1 && max_repos > 0 {
        repos.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.repo.cmp(&b.repo)));
        let shown: Vec<String> = repos
            .iter()
            .take(max_repos)
            .map(|x| format!("{} {}/{}", x.repo, x.resolved, x.total))
            .collect();
        let more = repos.len().saturating_sub(max_repos);
        let _ = writeln!(
            s,
            "by repository: {}{}",
            shown.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    if let Some(p) = report_path {
        let _ = writeln!(s, "report: {}", p.display());
    }
    s.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_and_lines() {
        let r = RunReport {
            total_instances: 10,
            submitted_instances: 3,
            resolved_instances: 1,
            unresolved_instances: 1,
            error_instances: 1,
            submitted_ids: vec!["a__x-1".into(), "a__x-2".into(), "b__y-1".into()],
            resolved_ids: vec!["a__x-2".into()],
            ..Default::default()
        };
        let repos = per_repo(&r);
        assert_eq!(
            repos,
            vec![
                RepoStat {
                    repo: "a/x".into(),
                    resolved: 1,
                    total: 2
                },
                RepoStat {
                    repo: "b/y".into(),
                    resolved: 0,
                    total: 1
                }
            ]
        );
        let s = run_summary(&r, Some(Path::new("m.r.json")), 1);
        assert!(
            s.starts_with("resolved 1 of 3 submitted (33.3%), 1 of 10 in the dataset (10.0%)"),
            "{s}"
        );
        assert!(s.contains("by repository: a/x 1/2, and 1 more"), "{s}");
        assert!(s.ends_with("report: m.r.json"), "{s}");
    }
}
