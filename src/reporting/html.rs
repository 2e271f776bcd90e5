//! The self-contained HTML report: one page, inline CSS and inline SVG plots, no scripts and
//! no network; a section lists the instances flagged by integrity checks with their evidence. Everything shown is computed in [`super::rundata`]; this module only lays it
//! out (and escapes every piece of text it did not write itself).

use std::fmt::Write as _;

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

/// Render the page.
pub fn render(d: &ReportData) -> Result<String, ReportingError> {
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
                c.max_samples >= 8,
            ))?);
            h.push_str("</div><div class=\"plot\">");
            h.push_str(&plot(scaling_chart(
                "Resolve rate vs reproduction tests",
                "reproduction tests used by the rerank",
                &c.tests,
                false,
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
