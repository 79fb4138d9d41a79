//! A single-file HTML report for people: the summary and what is not passing first, grouped by
//! scenario, evidence folded in `<details>`, and the canary's replication latencies drawn
//! against the 15-minute Replication Time Control line.
//!
//! Self-contained: inline CSS, inline SVG, one small inline script, and a Content Security
//! Policy that forbids every network fetch, so the file reads the same from a CI artifact, a
//! mail attachment or an air-gapped laptop.
//!
//! S3 RTC "is designed to replicate 99.99 percent of objects within 15 minutes"
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-time-control.html>): the
//! chart's red line.

use crate::findings::{Finding, Report, Scenario, Status};

/// The RTC objective, in seconds.
pub const RTC_SECS: f64 = 900.0;

/// Evidence shown per finding is cut at this many characters (the JSON report has it whole).
const EVIDENCE_LIMIT: usize = 20_000;

pub fn render(report: &Report) -> Result<String, super::Error> {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("replaudit — {}", report.spec_name);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!("<title>{}</title>\n", esc(&title)));
    h.push_str(STYLE);
    h.push_str("</head>\n<body>\n");
    h.push_str(&format!("<h1>{}</h1>\n", esc(&title)));
    h.push_str(&format!(
        "<p class=\"meta\">replaudit {} · state collected {} · report generated {}</p>\n",
        esc(&report.tool_version),
        report.collected_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    summary(&mut h, report);
    problems(&mut h, report);
    chart(&mut h, report);
    everything(&mut h, report);
    documents(&mut h, report);
    h.push_str(SCRIPT);
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

fn summary(h: &mut String, report: &Report) {
    let s = &report.summary;
    let (class, verdict) = if !report.run.is_completed() {
        (
            "bad",
            format!(
                "{}: {} — not a pass",
                report.run.headline(),
                report.run.reason.clone().unwrap_or_default()
            ),
        )
    } else if s.is_clean() {
        ("good", "PASSED".to_string())
    } else {
        ("bad", "FAILED (fail or error findings present)".to_string())
    };
    h.push_str(&format!(
        "<section id=\"summary\"><h2>Summary</h2>\n<p class=\"verdict {class}\">{}</p>\n",
        esc(&verdict)
    ));
    h.push_str(&format!(
        "<p>{} findings: <b class=\"pass\">{} pass</b>, <b class=\"fail\">{} fail</b>, <b class=\"error\">{} error</b>, <b class=\"skip\">{} skip</b></p>\n",
        report.findings.len(), s.pass, s.fail, s.error, s.skip
    ));
    h.push_str("<table class=\"grid\"><tr><th>scenario</th><th>pass</th><th>fail</th><th>error</th><th>skip</th><th>not passing</th></tr>\n");
    for l in super::scenario_summary(&report.findings) {
        let c = l.counts;
        h.push_str(&format!(
            "<tr><td>{} — {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            l.scenario,
            l.scenario.description(),
            c.pass,
            c.fail,
            c.error,
            c.skip,
            esc(&l.not_passing.join(", "))
        ));
    }
    h.push_str("</table>\n");
    replications(h, report);
    if !report.notices.is_empty() {
        h.push_str("<ul class=\"notices\">\n");
        for n in &report.notices {
            h.push_str(&format!("<li>{}</li>\n", esc(n)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

/// One row per replication rule, worst first, before any finding (see `table.rs`).
fn replications(h: &mut String, report: &Report) {
    if report.replications.is_empty() {
        return;
    }
    h.push_str(&format!(
        "<h3>Replications ({}, worst first)</h3>\n<table class=\"grid\" id=\"replications\"><tr><th>status</th><th>source</th><th>destination</th><th>replication</th><th>rule</th><th>pass</th><th>fail</th><th>error</th><th>skip</th><th>not passing</th></tr>\n",
        report.replications.len()
    ));
    for l in &report.replications {
        let st = l.worst.as_str();
        h.push_str(&format!(
            "<tr class=\"{st}\"><td><span class=\"badge {st}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            st.to_uppercase(),
            esc(&l.of.source),
            esc(&l.of.destination),
            esc(&l.of.replication),
            esc(&l.of.rule),
            l.pass,
            l.fail,
            l.error,
            l.skip,
            esc(&l.not_passing.join(", "))
        ));
    }
    h.push_str("</table>\n");
}

fn problems(h: &mut String, report: &Report) {
    h.push_str("<section id=\"failures\"><h2>Not passing</h2>\n");
    let mut any = false;
    for sc in Scenario::ALL {
        let bad: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.scenario == sc && matches!(f.status, Status::Fail | Status::Error))
            .collect();
        if bad.is_empty() {
            continue;
        }
        any = true;
        h.push_str(&format!("<h3>{} — {}</h3>\n", sc, esc(sc.description())));
        for f in bad {
            finding(h, f, true);
        }
    }
    if !any {
        h.push_str("<p>Every check passed or was skipped.</p>\n");
    }
    h.push_str("</section>\n");
}

fn finding(h: &mut String, f: &Finding, open_remediation: bool) {
    let status = f.status.as_str();
    h.push_str(&format!(
        "<article class=\"finding {status}\" data-rule=\"{}\">\n<p><span class=\"badge {status}\">{}</span> <span class=\"sev\">{}</span> <code>{}</code> {}</p>\n",
        esc(&f.id),
        status.to_uppercase(),
        f.severity,
        esc(&f.id),
        esc(&f.resource)
    ));
    h.push_str(&format!("<p class=\"msg\">{}</p>\n", esc(&f.message)));
    if let Some(l) = &f.location {
        h.push_str(&format!(
            "<p class=\"loc\">spec: <code>{}</code></p>\n",
            esc(&l.to_string())
        ));
    }
    if let Some(m) = &f.muted {
        h.push_str(&format!(
            "<p class=\"muted\">muted: {}{}</p>\n",
            esc(&m.reason),
            m.expires
                .as_ref()
                .map(|e| format!(" (until {})", esc(e)))
                .unwrap_or_default()
        ));
    }
    if open_remediation && !f.remediation.is_empty() {
        h.push_str(&format!(
            "<p class=\"fix\">fix: {}</p>\n",
            esc(&f.remediation)
        ));
    }
    let mut ev = serde_json::to_string_pretty(&f.evidence).unwrap_or_default();
    if ev.chars().count() > EVIDENCE_LIMIT {
        ev = ev.chars().take(EVIDENCE_LIMIT).collect::<String>()
            + "\n... (cut; the JSON report has the whole evidence)";
    }
    h.push_str(&format!(
        "<details><summary>evidence</summary><pre>{}</pre></details>\n</article>\n",
        esc(&ev)
    ));
}

/// Replication latencies measured by the canary (findings with a duration), as horizontal bars
/// on a logarithmic time axis (seconds to an hour) with the 15-minute RTC line.
fn chart(h: &mut String, report: &Report) {
    let points: Vec<(String, f64, Status)> = report
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.id.as_str(),
                "canary-replication-latency" | "canary-log-replication"
            )
        })
        .filter_map(|f| {
            f.duration_secs
                .filter(|d| d.is_finite() && *d >= 0.0)
                .map(|d| (super::junit::case_name(f), d, f.status))
        })
        .collect();
    h.push_str("<section id=\"latency\"><h2>Replication latency (canary)</h2>\n");
    if points.is_empty() {
        h.push_str("<p>No canary latencies in this report (run with <code>--canary</code>).</p>\n</section>\n");
        return;
    }
    let (w, left, row, top) = (900.0_f64, 330.0_f64, 26.0_f64, 30.0_f64);
    let height = top + row * points.len() as f64 + 40.0;
    let (lo, hi) = (0.1_f64, 3600.0_f64);
    let x = |secs: f64| {
        let s = secs.clamp(lo, hi);
        left + (s.ln() - lo.ln()) / (hi.ln() - lo.ln()) * (w - left - 20.0)
    };
    h.push_str(&format!(
        "<svg id=\"latency-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" role=\"img\" aria-label=\"replication latency per canary object against the 15-minute RTC objective\">\n"
    ));
    for (label, t) in [
        ("0.1 s", 0.1),
        ("1 s", 1.0),
        ("10 s", 10.0),
        ("1 min", 60.0),
        ("15 min", RTC_SECS),
        ("1 h", 3600.0),
    ] {
        let xx = x(t);
        h.push_str(&format!(
            "<line x1=\"{xx:.1}\" y1=\"{top}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{xx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{label}</text>\n",
            height - 30.0,
            height - 15.0
        ));
    }
    for (i, (label, secs, status)) in points.iter().enumerate() {
        let y = top + row * i as f64 + 4.0;
        let color = if *status == Status::Pass && *secs <= RTC_SECS {
            "#2e7d32"
        } else {
            "#c62828"
        };
        h.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
            left - 6.0,
            y + 13.0,
            esc(&shorten(label, 52))
        ));
        h.push_str(&format!(
            "<rect class=\"bar\" x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {secs:.3} s</title></rect>\n",
            (x(*secs) - left).max(2.0),
            row - 8.0,
            esc(label)
        ));
        h.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{secs:.2} s</text>\n",
            x(*secs) + 4.0,
            y + 13.0
        ));
    }
    let rtc = x(RTC_SECS);
    h.push_str(&format!(
        "<line id=\"rtc-line\" x1=\"{rtc:.1}\" y1=\"{:.1}\" x2=\"{rtc:.1}\" y2=\"{:.1}\" stroke=\"#c62828\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/><text x=\"{rtc:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#c62828\" text-anchor=\"middle\">RTC 15 min</text>\n",
        top - 8.0,
        height - 30.0,
        top - 12.0
    ));
    h.push_str("</svg>\n</section>\n");
}

/// Every finding by scenario, passes folded.
fn everything(h: &mut String, report: &Report) {
    h.push_str("<section id=\"all\"><h2>All findings</h2>\n<p><button type=\"button\" id=\"toggle\">expand all</button></p>\n");
    for sc in Scenario::ALL {
        let rows: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.scenario == sc)
            .collect();
        if rows.is_empty() {
            continue;
        }
        h.push_str(&format!(
            "<details class=\"scenario\"><summary>{} — {} ({} findings)</summary>\n",
            sc,
            esc(sc.description()),
            rows.len()
        ));
        for f in rows {
            finding(h, f, false);
        }
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n");
}

/// The documents the findings' evidence cites by id (`{"document": "doc:..."}`), each once,
/// folded: the evidence above names them, the reader opens the one it needs.
fn documents(h: &mut String, report: &Report) {
    if report.documents.is_empty() {
        return;
    }
    h.push_str(&format!(
        "<section id=\"documents\"><h2>Documents cited ({})</h2>\n",
        report.documents.len()
    ));
    for (id, doc) in &report.documents {
        let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
        if text.chars().count() > EVIDENCE_LIMIT {
            text = text.chars().take(EVIDENCE_LIMIT).collect::<String>()
                + "\n... (cut; the JSON report has the whole document)";
        }
        h.push_str(&format!(
            "<details><summary>{}</summary><pre>{}</pre></details>\n",
            esc(id),
            esc(&text)
        ));
    }
    h.push_str("</section>\n");
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(n - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em}.meta{color:#666}
.verdict{font-size:1.2em;font-weight:bold;padding:.4em .6em;border-radius:4px}
.verdict.good{background:#e8f5e9;color:#2e7d32}.verdict.bad{background:#ffebee;color:#c62828}
table.grid{border-collapse:collapse}table.grid td,table.grid th{border:1px solid #ddd;padding:.2em .6em;text-align:left}
.finding{border-left:4px solid #999;padding:.2em .8em;margin:.6em 0;background:#fafafa}
.finding.fail{border-color:#c62828}.finding.error{border-color:#6a1b9a}.finding.skip{border-color:#f9a825}.finding.pass{border-color:#2e7d32}
.badge{font-weight:bold;padding:0 .3em;border-radius:3px;color:#fff}
.badge.fail{background:#c62828}.badge.error{background:#6a1b9a}.badge.skip{background:#f9a825}.badge.pass{background:#2e7d32}
b.pass{color:#2e7d32}b.fail{color:#c62828}b.error{color:#6a1b9a}b.skip{color:#f9a825}
.muted{color:#6d4c41;font-style:italic}pre{white-space:pre-wrap;font-size:.85em;background:#f0f0f0;padding:.5em}
</style>
"#;

/// Expand/fold all scenario sections; errors are recorded on <body> so that a headless browser
/// test can see them in the DOM.
const SCRIPT: &str = r#"<script>
window.addEventListener('error', function (e) {
  document.body.setAttribute('data-script-errors', (document.body.getAttribute('data-script-errors') || '') + e.message + ';');
});
(function () {
  var b = document.getElementById('toggle');
  var open = false;
  b.addEventListener('click', function () {
    open = !open;
    document.querySelectorAll('details.scenario').forEach(function (d) { d.open = open; });
    b.textContent = open ? 'fold all' : 'expand all';
  });
  document.body.setAttribute('data-failures', String(document.querySelectorAll('#failures article').length));
  document.body.setAttribute('data-bars', String(document.querySelectorAll('#latency-chart rect.bar').length));
  document.body.setAttribute('data-ready', 'yes');
})();
</script>
"#;
