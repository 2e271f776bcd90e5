//! The self-contained HTML report: one page, inline CSS and inline SVG plots, no scripts and
//! no network; a section lists the instances flagged by integrity checks with their evidence. Everything shown is computed in [`super::rundata`]; this module only lays it
//! out (and escapes every piece of text it did not write itself).

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use agentless_harness::integrity::Severity;

use super::plots::{Bar, bar_chart, scaling_chart};
use super::rundata::ReportData;
use super::{ReportingError, percent};

const CSS: &str = r#"
:root { --fg:#0f172a; --muted:#64748b; --line:#e2e8f0; --blue:#2563eb; --green:#16a34a; --red:#dc2626; --amber:#d97706; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; background: #f8fafc; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
.sub { color: var(--muted); margin: 0 0 18px; font-size: 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.card { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 14px; }
.card .v { font-size: 28px; font-weight: 650; }
.card .k { color: var(--muted); font-size: 13px; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; margin-bottom: 10px; }
.plot { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 8px; }
.plot svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; background: white; border: 1px solid var(--line); font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f1f5f9; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.resolved { background: #dcfce7; color: #166534; } .lost { background: #fee2e2; color: #991b1b; }
.warn { background: #fef3c7; color: #92400e; } .none { background: #e2e8f0; color: #334155; }
.notes li { color: #92400e; }
code { font-family: ui-monospace, monospace; font-size: 13px; }
footer { color: var(--muted); font-size: 12px; margin-top: 30px; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: white; border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; font-size: 14px; }
dl.settings dt { color: var(--muted); } dl.settings dd { margin: 0; }
details.inst { background: white; border: 1px solid var(--line); border-radius: 10px; margin: 8px 0; padding: 8px 12px; }
details.inst summary { cursor: pointer; font-size: 15px; }
details.inst h3 { font-size: 14px; margin: 12px 0 4px; }
pre.diff { background: #0f172a; color: #e2e8f0; padding: 10px; border-radius: 8px; overflow-x: auto; font-size: 12px; line-height: 1.4; }
pre.diff .add { color: #86efac; } pre.diff .del { color: #fca5a5; } pre.diff .hunk { color: #93c5fd; } pre.diff .file { color: #fde68a; font-weight: 600; }
ul.tests { margin: 4px 0; padding-left: 20px; font-size: 13px; }
.links a { margin-right: 14px; }
"#;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn card(h: &mut String, value: &str, key: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>",
        esc(value),
        esc(key)
    );
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 3_600_000.0 {
        format!("{:.1} h", ms / 3_600_000.0)
    } else if ms >= 60_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn fmt_tokens(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.2} M", n as f64 / 1e6)
    } else if n >= 10_000 {
        format!("{:.1} k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// The flagged instances with every finding and its evidence (kind, severity, file, line,
/// test id, the line itself).
fn integrity_section(h: &mut String, d: &ReportData) {
    let i = &d.integrity;
    h.push_str("<section id=\"integrity\"><h2>Integrity findings</h2>\n");
    if i.assessed == 0 {
        h.push_str("<p class=\"sub\">No integrity findings were recorded for this evaluation (no <code>integrity.json</code>).</p></section>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<p class=\"sub\">{} of {} assessed instances flagged{}. Findings never change the official verdict shown \
         elsewhere on this page; <code>--integrity strict</code> counts flagged instances as unresolved in a separate \
         hardened run report.</p>",
        i.flagged.len(),
        i.assessed,
        if i.with_minor_findings > 0 {
            format!("; {} more with low or medium findings only", i.with_minor_findings)
        } else {
            String::new()
        }
    );
    if i.flagged.is_empty() {
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<table class=\"flagged\"><tr><th>instance</th><th>official verdict</th><th>severity</th><th>finding</th>\
         <th>file</th><th class=\"n\">line</th><th>test</th><th>evidence</th></tr>",
    );
    for f in &i.flagged {
        let verdict = if f.officially_resolved {
            "<span class=\"tag warn\">resolved</span>"
        } else {
            "<span class=\"tag none\">not resolved</span>"
        };
        for finding in &f.report.findings {
            let sev = match finding.severity {
                Severity::High => ("lost", "high"),
                Severity::Medium => ("warn", "medium"),
                Severity::Low => ("none", "low"),
            };
            let mut evidence: Vec<Option<&agentless_harness::integrity::Evidence>> =
                finding.evidence.iter().map(Some).collect();
            if evidence.is_empty() {
                evidence.push(None);
            }
            for e in evidence {
                let _ = write!(
                    h,
                    "<tr data-instance=\"{id}\" data-kind=\"{kind}\"><td><code>{id}</code></td><td>{verdict}</td>\
                     <td><span class=\"tag {}\">{}</span></td><td><code>{kind}</code><br>{}</td><td><code>{}</code></td>\
                     <td class=\"n\">{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    sev.0,
                    sev.1,
                    esc(&finding.message),
                    esc(e.map_or("", |e| e.file.as_str())),
                    e.and_then(|e| e.line).map_or_else(String::new, |l| l.to_string()),
                    esc(e.and_then(|e| e.test_id.as_deref()).unwrap_or("")),
                    esc(e.and_then(|e| e.text.as_deref()).unwrap_or("")),
                    id = esc(&f.instance_id),
                    kind = esc(finding.kind.as_str()),
                );
            }
            if finding.omitted_evidence > 0 {
                let _ = write!(
                    h,
                    "<tr><td colspan=\"8\" class=\"sub\">… {} more evidence lines in integrity.json</td></tr>",
                    finding.omitted_evidence
                );
            }
        }
    }
    h.push_str("</table></section>\n");
}

/// The patch as a coloured diff: every line HTML-escaped, then wrapped by its kind.
pub fn diff_html(patch: &str) -> String {
    let mut o = String::from("<pre class=\"diff\">");
    for line in patch.lines() {
        let class = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
            Some("file")
        } else if line.starts_with("@@") {
            Some("hunk")
        } else if line.starts_with('+') {
            Some("add")
        } else if line.starts_with('-') {
            Some("del")
        } else {
            None
        };
        match class {
            Some(c) => {
                let _ = writeln!(o, "<span class=\"{c}\">{}</span>", esc(line));
            }
            None => {
                let _ = writeln!(o, "{}", esc(line));
            }
        }
    }
    o.push_str("</pre>");
    o
}

/// `to` relative to the folder `from` (both made absolute first); `to` itself when they
/// share no root.
pub fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let abs = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|c| c.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let (from, to) = (abs(from), abs(to));
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return to;
    }
    let mut r = PathBuf::new();
    for _ in common..f.len() {
        r.push("..");
    }
    for c in &t[common..] {
        r.push(c.as_os_str());
    }
    r
}

/// A relative link as an `href`: `/`-separated, each segment percent-escaped where needed.
fn href(p: &Path) -> String {
    let mut o = String::new();
    for (i, c) in p.components().enumerate() {
        if i > 0 {
            o.push('/');
        }
        for b in c.as_os_str().to_string_lossy().bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                o.push(b as char);
            } else {
                let _ = write!(o, "%{b:02X}");
            }
        }
    }
    o
}

fn settings_section(h: &mut String, d: &ReportData) {
    let s = &d.settings;
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(m) = &d.model {
        rows.push(("model", m.clone()));
    }
    if let Some(n) = s.repair_samples {
        rows.push(("repair samples", n.to_string()));
    }
    if let Some(t) = s.repair_temperature {
        rows.push(("repair temperature", format!("{t}")));
    }
    if let Some(n) = s.localize_samples {
        rows.push(("localization samples", n.to_string()));
    }
    if let Some(n) = s.repro_samples {
        rows.push(("reproduction-test samples", n.to_string()));
    }
    if let Some(n) = s.seed {
        rows.push(("seed", n.to_string()));
    }
    if let Some(g) = &s.grading {
        let rule = if g == "hardened" {
            "hardened (integrity checks; flagged instances count as unresolved)"
        } else {
            "official (SWE-bench's FAIL_TO_PASS and PASS_TO_PASS rules)"
        };
        rows.push(("grading", rule.to_owned()));
    }
    if let Some(r) = &s.dataset_repo {
        rows.push(("dataset", r.clone()));
    }
    if let Some(r) = &s.dataset_file {
        rows.push(("dataset file", r.clone()));
    }
    if let Some(r) = &s.dataset_split {
        rows.push(("split", r.clone()));
    }
    match (&s.dataset_revision, &s.dataset_commit) {
        (Some(r), Some(c)) if r != c => rows.push(("dataset revision", format!("{r} ({c})"))),
        (_, Some(c)) => rows.push(("dataset revision", c.clone())),
        (Some(r), None) => rows.push(("dataset revision", r.clone())),
        (None, None) => {}
    }
    if let Some(x) = &s.dataset_sha256 {
        rows.push(("dataset sha256", x.clone()));
    }
    if let Some(x) = &s.started {
        rows.push(("started", x.clone()));
    }
    if let Some(w) = s.wall_s {
        rows.push(("wall time", fmt_ms(w * 1000.0)));
    }
    if let Some(v) = &s.version {
        rows.push(("agentless-mini", v.clone()));
    }
    h.push_str("<section id=\"settings\"><h2>Run settings</h2>\n");
    if rows.is_empty() {
        h.push_str("<p class=\"sub\">No run settings were recorded (no run.json).</p>");
    } else {
        h.push_str("<dl class=\"settings\">");
        for (k, v) in rows {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
        }
        h.push_str("</dl>");
    }
    h.push_str("</section>\n");
}

fn test_list(h: &mut String, title: &str, failed: Option<&Vec<String>>, total: usize) {
    let Some(failed) = failed else { return };
    let _ = write!(h, "<h3>{} failures: {} of {}</h3>", esc(title), failed.len(), total);
    if !failed.is_empty() {
        h.push_str("<ul class=\"tests\">");
        for t in failed {
            let _ = write!(h, "<li><code>{}</code></li>", esc(t));
        }
        h.push_str("</ul>");
    }
}

fn instance_sections(h: &mut String, d: &ReportData, link_base: &Path) {
    h.push_str("<section id=\"instance-details\"><h2>Per instance</h2>\n");
    for i in &d.instances {
        let x = &i.detail;
        let _ = write!(
            h,
            "<details class=\"inst\" id=\"i-{}\"{}><summary><code>{}</code> <span class=\"tag {}\">{}</span></summary>",
            esc(&i.instance_id),
            if i.loss == super::rundata::Loss::Resolved {
                ""
            } else {
                " open"
            },
            esc(&i.instance_id),
            i.loss.css(),
            esc(i.loss.label())
        );
        if let Some(p) = &x.eval_problem {
            let _ = write!(h, "<p class=\"sub\">Evaluation: {}</p>", esc(p));
        }
        if let Some(dir) = &x.log_dir {
            let rel = relative_to(link_base, dir);
            h.push_str("<p class=\"links\">");
            for f in ["report.json", "test_output.txt", "run_instance.log"] {
                if dir.join(f).is_file() {
                    let _ = write!(h, "<a href=\"{}\">{f}</a>", esc(&href(&rel.join(f))));
                }
            }
            h.push_str("</p>");
        }
        test_list(h, "FAIL_TO_PASS", x.fail_to_pass_failed.as_ref(), x.fail_to_pass_total);
        test_list(h, "PASS_TO_PASS", x.pass_to_pass_failed.as_ref(), x.pass_to_pass_total);
        if x.votes.is_some() || !x.repro_passed.is_empty() {
            h.push_str("<h3>Rerank</h3><p>");
            if let Some(v) = x.votes {
                let _ = write!(
                    h,
                    "{v} sample{} voted for the chosen patch",
                    if v == 1 { "" } else { "s" }
                );
            }
            if !x.repro_passed.is_empty() {
                let passed = x.repro_passed.iter().filter(|(_, p)| *p).count();
                let _ = write!(
                    h,
                    "{}it passes {passed} of {} reproduction tests",
                    if x.votes.is_some() { "; " } else { "" },
                    x.repro_passed.len()
                );
            }
            h.push_str("</p>");
            if !x.repro_passed.is_empty() {
                h.push_str("<ul class=\"tests\">");
                for (t, p) in &x.repro_passed {
                    let _ = write!(
                        h,
                        "<li><code>{}</code> {}</li>",
                        esc(t),
                        if *p { "passed" } else { "failed" }
                    );
                }
                h.push_str("</ul>");
            }
        }
        match &x.patch {
            Some(p) => {
                h.push_str("<h3>Submitted patch</h3>");
                h.push_str(&diff_html(p));
            }
            None => h.push_str("<p class=\"sub\">No patch was submitted.</p>"),
        }
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n");
}

/// Render the page. Links to log files are made relative to `link_base` (the folder the
/// page is written to).
pub fn render(d: &ReportData, link_base: &Path) -> Result<String, ReportingError> {
    let plot = |r: Result<String, super::plots::PlotError>| r.map_err(|e| ReportingError::Invalid(e.to_string()));
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>{} — agentless-mini report</title>", esc(&d.title));
    let _ = writeln!(h, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(h, "<h1>{}</h1>", esc(&d.title));
    let mut sub = Vec::new();
    if let Some(m) = &d.model {
        sub.push(format!("model {m}"));
    }
    if let Some(r) = &d.run_id {
        sub.push(format!("evaluation run {r}"));
    }
    sub.push(format!("{} instances", d.instances.len()));
    let _ = writeln!(h, "<p class=\"sub\">{}</p>", esc(&sub.join(" · ")));

    // Headline numbers.
    h.push_str("<section id=\"summary\"><div class=\"cards\">");
    let n = d.instances.len();
    card(
        &mut h,
        &format!("{:.1}%", percent(d.resolved, n)),
        &format!("resolved ({} of {})", d.resolved, n),
    );
    if let Some(o) = d.oracle {
        card(
            &mut h,
            &format!("{:.1}%", percent(o, n)),
            &format!("oracle upper bound ({o} with a correct sample)"),
        );
    }
    if let Some(r) = &d.run_report {
        card(
            &mut h,
            &format!("{:.1}%", percent(r.resolved_instances, r.total_instances)),
            &format!(
                "of the whole dataset ({} of {})",
                r.resolved_instances, r.total_instances
            ),
        );
    }
    if d.integrity.assessed > 0 {
        card(
            &mut h,
            &d.integrity.flagged.len().to_string(),
            &format!("flagged by integrity checks (of {} assessed)", d.integrity.assessed),
        );
    }
    if let Some(t) = &d.tokens {
        card(
            &mut h,
            &fmt_tokens(t.prompt + t.completion),
            "tokens (prompt + completion)",
        );
        if let Some(c) = t.cost {
            card(&mut h, &format!("${c:.2}"), "model cost");
        }
    }
    let total_ms: f64 = d.stages.iter().map(|s| s.total_ms).sum();
    if total_ms > 0.0 {
        card(&mut h, &fmt_ms(total_ms), "time in stages (summed over instances)");
    }
    h.push_str("</div></section>\n");
    if !d.notes.is_empty() {
        h.push_str("<ul class=\"notes\">");
        for note in &d.notes {
            let _ = write!(h, "<li>{}</li>", esc(note));
        }
        h.push_str("</ul>\n");
    }

    settings_section(&mut h, d);
    integrity_section(&mut h, d);

    // Per repository.
    h.push_str("<section id=\"repositories\"><h2>Resolve rate per repository</h2>\n<div class=\"plot\">");
    let bars: Vec<Bar> = d
        .per_repo
        .iter()
        .map(|r| Bar {
            label: r.repo.clone(),
            value: percent(r.resolved, r.total),
            note: format!("{}/{}", r.resolved, r.total),
        })
        .collect();
    h.push_str(&plot(bar_chart(
        "Resolved per repository",
        "% resolved",
        &bars,
        Some(100.0),
    ))?);
    h.push_str("</div>\n<table><tr><th>repository</th><th class=\"n\">resolved</th><th class=\"n\">instances</th><th class=\"n\">rate</th></tr>");
    for r in &d.per_repo {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td></tr>",
            esc(&r.repo),
            r.resolved,
            r.total,
            percent(r.resolved, r.total)
        );
    }
    h.push_str("</table></section>\n");

    // Scaling.
    h.push_str(
        "<section id=\"scaling\"><h2>Test-time scaling (recorded samples, re-ranked; no new model calls)</h2>\n",
    );
    match &d.curves {
        Some(c) if c.max_samples > 0 => {
            h.push_str("<div class=\"plots\"><div class=\"plot\">");
            h.push_str(&plot(scaling_chart(
                "Resolve rate vs repair samples",
                "repair samples per instance",
                &c.samples,
                true,
            ))?);
            h.push_str("</div><div class=\"plot\">");
            h.push_str(&plot(scaling_chart(
                "Resolve rate vs reproduction tests",
                "reproduction tests used by the rerank",
                &c.tests,
                true,
            ))?);
            h.push_str("</div></div>\n");
            let _ = write!(
                h,
                "<p class=\"sub\">Each point re-runs the rerank rule on random subsets of each instance's {} recorded samples \
                 (averaged over {} draws), or on the first m of its reproduction tests. A choice counts as resolved when its \
                 patch (or one equal after normalization) was evaluated with the official tests; the shaded band is the range \
                 if unevaluated choices were all resolved.</p>",
                c.max_samples, d.draws
            );
            h.push_str("<table><tr><th class=\"n\">samples</th><th class=\"n\">resolved</th><th class=\"n\">upper bound</th><th class=\"n\">oracle</th></tr>");
            for p in &c.samples {
                let _ = write!(
                    h,
                    "<tr><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1}%</td></tr>",
                    p.x, p.low, p.high, p.oracle
                );
            }
            h.push_str("</table>\n");
        }
        _ => h.push_str("<p class=\"sub\">No repair samples were recorded in this run directory.</p>\n"),
    }
    h.push_str("</section>\n");

    // Where instances were lost.
    h.push_str("<section id=\"losses\"><h2>Where instances were lost</h2>\n<div class=\"plot\">");
    let loss_bars: Vec<Bar> = d
        .losses
        .iter()
        .map(|(l, c)| Bar {
            label: l.label().to_owned(),
            value: *c as f64,
            note: c.to_string(),
        })
        .collect();
    h.push_str(&plot(bar_chart("Instances by outcome", "instances", &loss_bars, None))?);
    h.push_str("</div><table><tr><th>outcome</th><th class=\"n\">instances</th><th>meaning</th></tr>");
    for (l, c) in &d.losses {
        let _ = write!(
            h,
            "<tr><td><span class=\"tag {}\">{}</span></td><td class=\"n\">{c}</td><td>{}</td></tr>",
            l.css(),
            esc(l.label()),
            esc(l.meaning())
        );
    }
    h.push_str("</table></section>\n");

    // Tokens and cost.
    h.push_str("<section id=\"tokens\"><h2>Tokens and cost</h2>\n");
    match &d.tokens {
        Some(t) => {
            h.push_str("<table><tr><th></th><th class=\"n\">prompt</th><th class=\"n\">completion</th><th class=\"n\">requests</th><th class=\"n\">cost</th></tr>");
            let cost = |c: Option<f64>| c.map_or_else(|| "—".to_owned(), |c| format!("${c:.4}"));
            let _ = write!(
                h,
                "<tr><td>total</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                t.prompt,
                t.completion,
                t.requests,
                cost(t.cost)
            );
            if n > 0 {
                let _ = write!(
                    h,
                    "<tr><td>per instance</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td></tr>",
                    t.prompt as f64 / n as f64,
                    t.completion as f64 / n as f64,
                    t.requests as f64 / n as f64,
                    cost(t.cost.map(|c| c / n as f64))
                );
            }
            h.push_str("</table>\n");
        }
        None => h.push_str("<p class=\"sub\">No token usage was recorded.</p>\n"),
    }
    h.push_str("</section>\n");

    // Time per stage.
    h.push_str("<section id=\"timing\"><h2>Time per stage</h2>\n");
    if d.stages.is_empty() {
        h.push_str("<p class=\"sub\">No stage timings were recorded.</p>\n");
    } else {
        h.push_str("<div class=\"plot\">");
        let bars: Vec<Bar> = d
            .stages
            .iter()
            .map(|s| Bar {
                label: s.stage.clone(),
                value: s.total_ms / 1000.0,
                note: fmt_ms(s.total_ms),
            })
            .collect();
        h.push_str(&plot(bar_chart(
            "Time per stage (summed over instances)",
            "seconds",
            &bars,
            None,
        ))?);
        h.push_str("</div><table><tr><th>stage</th><th class=\"n\">instances</th><th class=\"n\">total</th><th class=\"n\">mean</th><th class=\"n\">max</th></tr>");
        for s in &d.stages {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&s.stage),
                s.instances,
                fmt_ms(s.total_ms),
                fmt_ms(s.total_ms / s.instances.max(1) as f64),
                fmt_ms(s.max_ms)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");

    // Per instance.
    h.push_str(
        "<section id=\"instances\"><h2>Instances</h2>\n<table><tr><th>instance</th><th>outcome</th>\
        <th class=\"n\">files localized</th><th class=\"n\">valid samples</th><th class=\"n\">distinct patches</th>\
        <th class=\"n\">correct samples</th><th class=\"n\">repro tests</th><th class=\"n\">tokens</th></tr>",
    );
    for i in &d.instances {
        let opt = |v: Option<usize>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><span class=\"tag {}\">{}</span></td><td class=\"n\">{}</td><td class=\"n\">{}/{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&i.instance_id),
            i.loss.css(),
            esc(i.loss.label()),
            opt(i.localized_files),
            i.valid_samples,
            i.samples,
            i.distinct_patches,
            i.correct_samples.map_or_else(|| "?".to_owned(), |c| c.to_string()),
            i.repro_tests,
            i.tokens.map_or_else(|| "—".to_owned(), fmt_tokens)
        );
    }
    h.push_str("</table></section>\n");
    instance_sections(&mut h, d, link_base);
    let _ = writeln!(
        h,
        "<footer>Generated by agentless-mini {} from {}.</footer>\n</main>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        esc(&d.source)
    );
    debug_assert!(!h.contains("<script"), "the page runs no scripts");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(fmt_ms(1500.0), "1.5 s");
        assert_eq!(fmt_ms(90_000.0), "1.5 min");
        assert_eq!(fmt_tokens(12_345), "12.3 k");
    }
}
