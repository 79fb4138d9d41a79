use super::support::{skip, RuleCheck};
use super::{AuditContext, Rule, Walk};
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
    fn walk(&self) -> Walk {
        Walk::ReplicationRules
    }

    fn check_replication_rule(&self, _cx: &AuditContext, c: &RuleCheck) -> Vec<Finding> {
        vec![judge(c)]
    }
}

/// One spec rule against the live rule that implements it.
fn judge(c: &RuleCheck) -> Finding {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;
    use crate::snapshot::Toggle;

    fn toggle(status: &str, minutes: Option<i32>) -> Option<Toggle> {
        Some(Toggle {
            status: status.into(),
            minutes,
        })
    }

    #[test]
    fn passes_with_rtc_and_metrics_at_15_minutes() {
        let out = seed().run(&ReplicationRtc);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(&out, "rule 'reports-to-abcd': RTC 15 min with metrics");
    }

    #[test]
    fn fails_without_rtc_or_metrics() {
        let mut f = seed();
        let d = &mut f.live_rule("source", "reports-to-abcd").destination;
        d.replication_time = None;
        d.metrics = toggle("Disabled", None);
        only(
            &f.run(&ReplicationRtc),
            Status::Fail,
            "rule 'reports-to-abcd': Replication Time Control is not enabled; replication metrics are not enabled",
        );
    }

    #[test]
    fn a_disabled_rtc_with_a_threshold_is_not_enabled() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replication_time = toggle("Disabled", Some(15));
        only(
            &f.run(&ReplicationRtc),
            Status::Fail,
            "rule 'reports-to-abcd': Replication Time Control is not enabled",
        );
    }

    #[test]
    fn fails_on_other_thresholds_or_a_legacy_rule() {
        let mut f = seed();
        let d = &mut f.live_rule("logs", "logs-to-backup").destination;
        d.replication_time = toggle("Enabled", Some(30));
        d.metrics = toggle("Enabled", Some(30));
        only(
            &f.run(&ReplicationRtc),
            Status::Fail,
            "rule 'logs-to-backup': RTC time is Some(30) minutes, expected 15; metrics event threshold is Some(30) minutes, expected 15",
        );
        let mut f = seed();
        f.live_rule("logs", "logs-to-backup").filter.legacy = true;
        only(
            &f.run(&ReplicationRtc),
            Status::Fail,
            "the rule uses the legacy V1 schema (top-level Prefix), which cannot carry RTC",
        );
    }

    #[test]
    fn metrics_alone_pass_at_any_threshold_and_nothing_expected_skips() {
        let mut f = seed();
        f.spec.replication[1].rules[0].rtc = false;
        f.live_rule("logs", "logs-to-backup").destination.metrics = toggle("Enabled", None);
        let out = f.run(&ReplicationRtc);
        assert_eq!(count(&out, Status::Pass), 2, "{out:?}");
        f.spec.replication[1].rules[0].metrics = Some(false);
        only(
            &f.run(&ReplicationRtc),
            Status::Skip,
            "rule 'logs-to-backup': the spec does not expect RTC or metrics",
        );
    }
}
