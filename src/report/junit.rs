//! JUnit XML for CI: one testsuite per scenario, one testcase per finding.
//!
//! quick-junit is used rather than junit-report: it writes `skipped` counts on suites and
//! properties (kept for rule metadata), lets us set timestamps from the report (so JSON and
//! JUnit of one run agree), and strips characters XML cannot carry.

use crate::findings::{Finding, Report, Scenario, Status};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

pub fn render(report: &Report) -> Result<String, String> {
    let mut out = quick_junit::Report::new(format!("replaudit: {}", report.spec_name));
    out.set_timestamp(report.generated_at.fixed_offset());
    for scenario in Scenario::ALL {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.scenario == scenario)
            .collect();
        if findings.is_empty() {
            continue;
        }
        let mut suite = TestSuite::new(format!("{} ({})", scenario, scenario.description()));
        suite.set_timestamp(report.generated_at.fixed_offset());
        // CI systems key test history by name: several findings of one rule on one resource
        // (one per principal and action, say) get a stable ordinal so names stay unique.
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for f in findings {
            let base = format!("{} [{}]", f.id, f.resource);
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 {
                base
            } else {
                format!("{base} #{n}")
            };
            suite.add_test_case(test_case(f, name));
        }
        out.add_test_suite(suite);
    }
    if !report.run.is_completed() {
        out.add_test_suite(run_suite(report));
    }
    out.to_string()
        .map_err(|e| format!("cannot serialise JUnit report: {e}"))
}

/// For a run that did not complete, one more testcase, an `error` saying how it ended: a CI job
/// reading only the JUnit file cannot take a stopped run for a green one. (A completed run has
/// none: one testcase per finding.)
fn run_suite(report: &Report) -> TestSuite {
    let mut suite = TestSuite::new("run (how the run ended)");
    suite.set_timestamp(report.generated_at.fixed_offset());
    let status = {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        let message = match &report.run.reason {
            Some(why) => format!("{}: {why}", report.run.headline()),
            None => report.run.headline(),
        };
        s.set_message(message.as_str())
            .set_type("run")
            .set_description(format!(
                "{message}\n\nThe run did not see everything: findings that pass may only pass because the check that would fail never ran."
            ));
        s
    };
    let mut tc = TestCase::new("run completed", status);
    tc.set_classname("replaudit.run");
    let status = serde_json::to_value(report.run.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    tc.add_property(Property::new("status", status.as_str()));
    suite.add_test_case(tc);
    suite
}

fn test_case(f: &Finding, name: String) -> TestCase {
    let evidence =
        serde_json::to_string_pretty(&f.evidence).unwrap_or_else(|_| f.evidence.to_string());
    let status = match f.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Fail | Status::Error => {
            let kind = if f.status == Status::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(f.message.as_str())
                .set_type(f.severity.as_str())
                .set_description(format!(
                    "{}\n\nresource: {}\nremediation: {}\nevidence:\n{}",
                    f.message, f.resource, f.remediation, evidence
                ));
            s
        }
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(f.message.as_str());
            s
        }
    };
    let mut tc = TestCase::new(name, status);
    tc.set_classname(format!("replaudit.{}", f.scenario));
    if let Some(secs) = f.duration_secs {
        if secs.is_finite() && secs >= 0.0 {
            tc.set_time(Duration::from_secs_f64(secs));
        }
    }
    tc.add_property(Property::new("rule", f.id.as_str()));
    tc.add_property(Property::new("title", f.title.as_str()));
    tc.add_property(Property::new("severity", f.severity.as_str()));
    if f.status == Status::Pass {
        tc.set_system_out(format!("{}\nevidence:\n{}", f.message, evidence));
    }
    tc
}
