//! SARIF 2.1.0 for code scanning dashboards (GitHub code scanning, Azure DevOps, DefectDojo).
//!
//! One result per `fail` or `error` finding (a pass or a skip is not a problem to show in
//! code), located at the spec line that declared the expectation: the spec is the code a
//! reviewer changes. Rules carry the `rules --explain` text as help. Choices follow GitHub's
//! "SARIF support for code scanning" page
//! (<https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning>):
//! - "The ruleId for a result has to be the same across analysis": rule ids are replaudit's
//!   stable rule ids;
//! - fingerprints: "code scanning uses fingerprints to match results across various runs";
//!   `partialFingerprints` carries a hash of the finding's stable name (rule, resource,
//!   principal, action — never a run id), so an alert survives spec edits that move lines;
//! - "SARIF upload supports a maximum of 5000 results per analysis run. Any results over
//!   this limit are ignored" (REST API "Upload an analysis as SARIF data"): at most
//!   [`MAX_RESULTS`] results, most severe first, and a notification saying how many were left
//!   out;
//! - `security-severity` (a score from 0.0 to 10.0) and the `security` tag on rules make GitHub
//!   show Critical/High/Medium/Low as for security queries.
//!
//! Muted findings are results with an `external` suppression carrying the mute's reason.

use crate::findings::{Finding, Report, Severity, Status};
use crate::rules::RuleMeta;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// GitHub code scanning ignores results past 5000 in a run.
pub const MAX_RESULTS: usize = 5000;

pub fn render(report: &Report) -> Result<String, super::Error> {
    let mut problems: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Error))
        .collect();
    // Most severe first, so a cut keeps what matters.
    problems.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let left_out = problems.len().saturating_sub(MAX_RESULTS);
    problems.truncate(MAX_RESULTS);

    let mut rule_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut rules: Vec<Value> = Vec::new();
    for f in &problems {
        if !rule_index.contains_key(&f.id) {
            rule_index.insert(f.id.clone(), rules.len());
            rules.push(rule_descriptor(f, crate::rules::find_rule(&f.id)));
        }
    }
    let results: Vec<Value> = problems
        .iter()
        .map(|f| result(f, rule_index[&f.id]))
        .collect();

    let mut notifications = Vec::new();
    if left_out > 0 {
        notifications.push(json!({
            "level": "warning",
            "message": {"text": format!("{left_out} further non-passing finding(s) left out: code scanning keeps at most {MAX_RESULTS} results per run; the JSON report has them all")}
        }));
    }
    if !report.run.is_completed() {
        notifications.push(json!({
            "level": "error",
            "message": {"text": format!("{}: {}", report.run.headline(), report.run.reason.clone().unwrap_or_default())}
        }));
    }
    for n in &report.notices {
        notifications.push(json!({"level": "warning", "message": {"text": n}}));
    }
    let invocation = json!({
        "executionSuccessful": report.run.is_completed(),
        "endTimeUtc": report.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "toolExecutionNotifications": notifications,
    });
    let log = json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "replaudit",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html",
                "rules": rules,
            }},
            "automationDetails": {"id": format!("replaudit/{}/", report.spec_name)},
            "invocations": [invocation],
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&log)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(super::Error::Sarif)
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's bands: over 9.0 critical, 7.0 to 8.9 high, 4.0 to 6.9 medium, 0.1 to 3.9 low.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn rule_descriptor(f: &Finding, meta: Option<&'static RuleMeta>) -> Value {
    let help = meta
        .map(super::explain)
        .unwrap_or_else(|| format!("{}\n\nRemediation: {}", f.title, f.remediation));
    let help_uri = meta
        .and_then(|m| m.references.first().copied())
        .or_else(|| f.references.first().map(String::as_str));
    // The doc comment's first paragraph line: what the rule checks, in a sentence.
    let full_description = meta
        .map(|m| {
            m.doc
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or(m.title)
                .to_string()
        })
        .unwrap_or_else(|| f.title.clone());
    let mut r = json!({
        "id": f.id,
        "name": f.id,
        "shortDescription": {"text": f.title},
        "fullDescription": {"text": full_description},
        "help": {"text": help},
        "defaultConfiguration": {"level": level(f.severity)},
        "properties": {
            "tags": ["security", "aws", "s3"],
            "security-severity": security_severity(f.severity),
            "precision": "high",
        },
    });
    if let Some(u) = help_uri {
        r["helpUri"] = json!(u);
    }
    r
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let (uri, line) = match &f.location {
        Some(l) => (l.file.clone(), l.line.max(1)),
        None => ("replaudit-spec.toml".to_string(), 1),
    };
    let mut artifact = json!({"uri": uri});
    if !uri.starts_with('/') {
        artifact["uriBaseId"] = json!("%SRCROOT%");
    }
    let what = if f.status == Status::Error {
        "could not be checked: "
    } else {
        ""
    };
    let mut r = json!({
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": if f.status == Status::Error { "error" } else { level(f.severity) },
        "message": {"text": format!("{what}{} (resource: {})", f.message, f.resource)},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact,
                "region": {"startLine": line},
            },
            "logicalLocations": [{"name": f.resource, "kind": "resource"}],
        }],
        "partialFingerprints": {"replauditFinding/v1": fingerprint(&super::junit::case_name(f))},
        "properties": {
            "status": f.status.as_str(),
            "severity": f.severity.as_str(),
            "scenario": f.scenario.as_str(),
            "resource": f.resource,
        },
    });
    if let Some(m) = &f.muted {
        r["suppressions"] =
            json!([{"kind": "external", "status": "accepted", "justification": m.reason}]);
    }
    r
}

/// FNV-1a 64 of the stable name: a fingerprint needs stability, not secrecy.
fn fingerprint(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
