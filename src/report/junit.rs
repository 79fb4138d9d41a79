//! JUnit XML for CI: one testsuite per scenario, one testcase per checked thing.
//!
//! Written by hand (not with a JUnit crate) because real consumers validate it against two
//! schemas that disagree with every writer's defaults, and this file satisfies both:
//! - the Jenkins xUnit plugin's `junit-10.xsd` (no `<properties>` or attributes beyond
//!   `name`/`time`/`classname` on `<testcase>`, no `timestamp`/`skipped` on `<testsuites>`);
//! - the Ant `JUnit.xsd` (windyroad): `<testsuites>` without attributes; each suite with
//!   `package`, `id`, `timestamp` (no zone), `hostname`, `time`, then exactly one
//!   `<properties>`, the cases, `<system-out>` and `<system-err>` in that order; `type` on
//!   every `<failure>`/`<error>`; no `<system-out>` inside a case.
//!
//! Copies of both schemas are in `tests/schemas/`, and `tests/reports.rs` validates with
//! `xmllint`. Names are stable across runs and machines (CI history is keyed on them): rule
//! id, resource with the canary run id replaced by `<run>`, and the principal, action, config
//! rule, replication rule or event name the finding is about. Findings that still share a
//! name (two `PutBucketPolicy` events on one bucket) become one testcase with the worst
//! status, never `#2`, whose number would depend on event order.

use crate::findings::{Finding, Report, Scenario, Status};
use serde_json::Value;

/// What goes beside each testcase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Family {
    /// Valid against the Jenkins xUnit `junit-10.xsd` and the Ant `JUnit.xsd` (default).
    #[default]
    Strict,
    /// Adds `file` (the spec path) and `line` (the line of the expectation) to each
    /// `<testcase>`, as pytest's `junit_family=xunit1` does: GitHub annotators
    /// (mikepenz/action-junit-report, dorny/test-reporter) read them. Both schemas reject
    /// these attributes.
    Annotated,
}

/// Evidence in a failure text is cut at this many characters: the JSON report has it whole,
/// and a CI page of 100 full policy dumps hides the failure it is about.
pub const EVIDENCE_LIMIT: usize = 4000;

pub fn render(report: &Report) -> Result<String, super::Error> {
    render_family(report, Family::Strict)
}

pub fn render_family(report: &Report, family: Family) -> Result<String, super::Error> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let timestamp = report.generated_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let host = hostname();
    let mut id = 0usize;
    for scenario in Scenario::ALL {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.scenario == scenario)
            .collect();
        if findings.is_empty() {
            continue;
        }
        let cases = merge_by_name(&findings);
        let suite = SuiteHead {
            name: format!("{} ({})", scenario, scenario.description()),
            package: format!("replaudit.{scenario}"),
            id,
            timestamp: &timestamp,
            host: &host,
        };
        write_suite(&mut out, &suite, report, &cases, family);
        id += 1;
    }
    if !report.run.is_completed() {
        let case = run_case(report);
        let suite = SuiteHead {
            name: "run (how the run ended)".into(),
            package: "replaudit.run".into(),
            id,
            timestamp: &timestamp,
            host: &host,
        };
        write_suite(&mut out, &suite, report, &[case], family);
    }
    out.push_str("</testsuites>\n");
    Ok(out)
}

struct SuiteHead<'a> {
    name: String,
    package: String,
    id: usize,
    timestamp: &'a str,
    host: &'a str,
}

/// One `<testcase>`: one finding, or several that share a name.
struct Case {
    name: String,
    classname: String,
    status: Status,
    severity: String,
    time: f64,
    /// `path:line` of the expectation.
    location: Option<crate::findings::SpecLocation>,
    /// First line (the `message` attribute) and full text of a non-passing case.
    message: String,
    text: String,
}

fn write_suite(out: &mut String, s: &SuiteHead, report: &Report, cases: &[Case], family: Family) {
    let count = |st: Status| cases.iter().filter(|c| c.status == st).count();
    let time: f64 = cases.iter().map(|c| c.time).sum();
    out.push_str(&format!(
        "  <testsuite name=\"{}\" package=\"{}\" id=\"{}\" timestamp=\"{}\" hostname=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        attr(&s.name),
        attr(&s.package),
        s.id,
        s.timestamp,
        attr(s.host),
        cases.len(),
        count(Status::Fail),
        count(Status::Error),
        count(Status::Skip),
        time
    ));
    out.push_str("    <properties>\n");
    for (k, v) in [
        ("spec", report.spec_name.as_str()),
        ("tool_version", report.tool_version.as_str()),
        ("run", &report.run.headline()),
    ] {
        out.push_str(&format!(
            "      <property name=\"{k}\" value=\"{}\"/>\n",
            attr(v)
        ));
    }
    out.push_str("    </properties>\n");
    for c in cases {
        out.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            attr(&c.name),
            attr(&c.classname),
            c.time
        ));
        if family == Family::Annotated {
            if let Some(l) = &c.location {
                out.push_str(&format!(" file=\"{}\" line=\"{}\"", attr(&l.file), l.line));
            }
        }
        let element = match c.status {
            Status::Pass => {
                out.push_str("/>\n");
                continue;
            }
            Status::Fail => "failure",
            Status::Error => "error",
            Status::Skip => "skipped",
        };
        out.push_str(">\n");
        out.push_str(&format!(
            "      <{element} type=\"{}\" message=\"{}\">{}</{element}>\n",
            attr(&c.severity),
            attr(&c.message),
            text(&c.text)
        ));
        out.push_str("    </testcase>\n");
    }
    out.push_str("    <system-out></system-out>\n    <system-err></system-err>\n  </testsuite>\n");
}

/// The testcase name of a finding: stable across runs and machines.
pub fn case_name(f: &Finding) -> String {
    let ev = &f.evidence;
    let mut resource = f.resource.clone();
    if let Some(run) = ev
        .get("run_id")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        resource = resource.replace(run, "<run>");
    }
    let resource = scrub_run_ids(&resource);
    let mut parts: Vec<String> = Vec::new();
    let s = |p: &str| ev.pointer(p).and_then(Value::as_str).map(str::to_string);
    if let Some(rule) = f
        .message
        .strip_prefix("rule '")
        .and_then(|r| r.split_once('\''))
        .map(|(r, _)| r)
    {
        parts.push(format!("rule {rule}"));
    }
    if let Some(p) = s("/principal") {
        if !resource.ends_with(&format!(" as {p}")) {
            parts.push(p);
        }
    }
    if let Some(a) = s("/action").or_else(|| s("/s3/action")) {
        parts.push(a);
    }
    if let Some(c) = s("/config_rule") {
        parts.push(c);
    }
    if let Some(e) = s("/event/event_name") {
        parts.push(e);
    }
    if parts.is_empty() {
        format!("{} [{resource}]", f.id)
    } else {
        format!("{} [{resource}] {}", f.id, parts.join(" "))
    }
}

/// Canary run ids (`20261130T052507Z-6b846a97`) anywhere in a name become `<run>`.
fn scrub_run_ids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let is_run = b.len() >= i + 25
            && b[i..i + 8].iter().all(u8::is_ascii_digit)
            && b[i + 8] == b'T'
            && b[i + 9..i + 15].iter().all(u8::is_ascii_digit)
            && b[i + 15] == b'Z'
            && b[i + 16] == b'-'
            && b[i + 17..i + 25].iter().all(u8::is_ascii_hexdigit);
        if is_run {
            out.push_str("<run>");
            i += 25;
        } else {
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
    }
    out
}

fn severity_rank(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Skip => 1,
        Status::Fail => 2,
        Status::Error => 3,
    }
}

/// Group findings by case name (first occurrence keeps its place); a group's status is its
/// worst finding's, its text every non-passing member's.
fn merge_by_name(findings: &[&Finding]) -> Vec<Case> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: std::collections::HashMap<String, Vec<&Finding>> = Default::default();
    for f in findings {
        let name = case_name(f);
        if !groups.contains_key(&name) {
            order.push(name.clone());
        }
        groups.entry(name).or_default().push(f);
    }
    order
        .into_iter()
        .map(|name| {
            let members = &groups[&name];
            let status = members
                .iter()
                .map(|f| f.status)
                .max_by_key(|s| severity_rank(*s))
                .unwrap_or(Status::Pass);
            let worst: Vec<&&Finding> = members.iter().filter(|f| f.status == status).collect();
            let first = worst[0];
            let message = format!(
                "{}{}{}",
                first.location_prefix(),
                muted_tag(first),
                first.message
            );
            let text = worst
                .iter()
                .map(|f| finding_text(f))
                .collect::<Vec<_>>()
                .join("\n\n");
            Case {
                name,
                classname: format!("replaudit.{}", first.scenario),
                status,
                severity: first.severity.as_str().to_string(),
                time: members
                    .iter()
                    .filter_map(|f| f.duration_secs)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .fold(0.0, f64::max),
                location: first.location.clone(),
                message,
                text,
            }
        })
        .collect()
}

fn muted_tag(f: &Finding) -> String {
    match &f.muted {
        Some(m) => format!("[muted: {}] ", m.reason),
        None => String::new(),
    }
}

/// `path:line: message`, then (for fail and error) resource, remediation and bounded evidence.
fn finding_text(f: &Finding) -> String {
    let mut t = format!("{}{}{}", f.location_prefix(), muted_tag(f), f.message);
    if matches!(f.status, Status::Fail | Status::Error) {
        let mut evidence =
            serde_json::to_string_pretty(&f.evidence).unwrap_or_else(|_| f.evidence.to_string());
        if evidence.chars().count() > EVIDENCE_LIMIT {
            evidence = evidence.chars().take(EVIDENCE_LIMIT).collect::<String>()
                + "\n... (cut; the JSON report has the whole evidence)";
        }
        t.push_str(&format!(
            "\nrule: {} ({})\nresource: {}\nremediation: {}\nevidence:\n{}",
            f.id, f.title, f.resource, f.remediation, evidence
        ));
    }
    t
}

/// For a run that did not complete, one more testcase, an `error` saying how it ended: a CI job
/// reading only the JUnit file cannot take a stopped run for a green one.
fn run_case(report: &Report) -> Case {
    let message = match &report.run.reason {
        Some(why) => format!("{}: {why}", report.run.headline()),
        None => report.run.headline(),
    };
    Case {
        name: "run completed".into(),
        classname: "replaudit.run".into(),
        status: Status::Error,
        severity: "run".into(),
        time: 0.0,
        location: None,
        text: format!(
            "{message}\n\nThe run did not see everything: findings that pass may only pass because the check that would fail never ran."
        ),
        message,
    }
}

/// The Ant schema requires a host name; `localhost` when it cannot be read, as it says.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// XML 1.0 cannot carry most control characters even escaped: drop them.
fn xml_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(|&c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    })
}

fn text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in xml_chars(s) {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c => o.push(c),
        }
    }
    o
}

fn attr(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in xml_chars(s) {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            '\t' => o.push_str("&#9;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_scrubbed_from_names() {
        assert_eq!(
            scrub_run_ids("s3://b/reports/replaudit-canary/20261130T052507Z-6b846a97/0 as tom"),
            "s3://b/reports/replaudit-canary/<run>/0 as tom"
        );
        assert_eq!(scrub_run_ids("é 2026 x"), "é 2026 x");
    }
}
