use super::support::{per_live_rule, skip, RuleCheck};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Status};
use serde_json::json;

/// The only threshold S3 Replication Time Control offers.
const RTC_MINUTES: i32 = 15;

declare_rule! {
    /// ## What it checks
    /// Where the spec expects Replication Time Control, the rule has
    /// `ReplicationTime {Status: Enabled, Time: 15 minutes}` and
    /// `Metrics {Status: Enabled, EventThreshold: 15 minutes}`.
    ///
    /// ## Why it matters
    /// RTC is the SLA behind "visible in Sydney within 15 minutes": it replicates 99.99% of
    /// objects within 15 minutes and emits the metrics and events that prove it. Without
    /// metrics, late replication is invisible.
    ///
    /// ## Example
    /// Rule without `ReplicationTime`: fail.
    ///
    /// ## Fix
    /// Add `"ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}}, "Metrics":
    /// {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}` to the rule's Destination.
    pub struct ReplicationRtc;
    id: "replication-rtc",
    title: "Replication Time Control on at 15 minutes, with metrics",
    severity: High,
    scenarios: [Step4, ScenarioD],
    remediation: "Enable ReplicationTime (15 minutes) and Metrics (EventThreshold 15 minutes) on the rule's destination.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-time-control.html"],
}

impl Rule for ReplicationRtc {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        per_live_rule(&META, cx, |c: &RuleCheck| {
            if !c.want.rtc && !c.want.metrics_expected() {
                return skip(
                    &META,
                    c.scenario,
                    c.resource,
                    format!("{}: the spec does not expect RTC or metrics", c.label),
                );
            }
            let d = &c.live.destination;
            let evidence = json!({
                "expected_rtc": c.want.rtc,
                "expected_metrics": c.want.metrics_expected(),
                "replication_time": d.replication_time,
                "metrics": d.metrics,
            });
            let mut problems = Vec::new();
            if c.want.rtc {
                match &d.replication_time {
                    Some(t) if t.enabled() && t.minutes == Some(RTC_MINUTES) => {}
                    Some(t) if t.enabled() => problems.push(format!(
                        "RTC time is {:?} minutes, expected {RTC_MINUTES}",
                        t.minutes
                    )),
                    _ => problems.push("Replication Time Control is not enabled".to_string()),
                }
            }
            if c.want.metrics_expected() {
                match &d.metrics {
                    Some(m) if m.enabled() && (!c.want.rtc || m.minutes == Some(RTC_MINUTES)) => {}
                    Some(m) if m.enabled() => problems.push(format!(
                        "metrics event threshold is {:?} minutes, expected {RTC_MINUTES}",
                        m.minutes
                    )),
                    _ => problems.push("replication metrics are not enabled".to_string()),
                }
            }
            if c.live.filter.legacy {
                problems.push(
                    "the rule uses the legacy V1 schema (top-level Prefix), which cannot carry RTC"
                        .to_string(),
                );
            }
            if problems.is_empty() {
                META.finding(
                    c.scenario,
                    Status::Pass,
                    c.resource,
                    format!("{}: RTC 15 min with metrics", c.label),
                    evidence,
                )
            } else {
                META.finding(
                    c.scenario,
                    Status::Fail,
                    c.resource,
                    format!("{}: {}", c.label, problems.join("; ")),
                    evidence,
                )
            }
        })
    }
}
