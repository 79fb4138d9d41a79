use super::support::{skip, unknown};
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use crate::spec::{Replication, ReplicationRule};
use serde_json::json;

/// The RTC threshold: replication slower than this breaks the 15-minute promise.
const RTC_SECONDS: f64 = 900.0;

/// "24 h", "90 min": the window as a stable phrase (messages are compared across runs).
fn human_window(minutes: i64) -> String {
    if minutes % 60 == 0 {
        format!("{} h", minutes / 60)
    } else {
        format!("{minutes} min")
    }
}

declare_rule! {
    /// ## What it checks
    /// For every rule with replication metrics, the CloudWatch metrics S3 itself publishes over
    /// the metrics window (`--metrics-window`, default 24 h): no `OperationsFailedReplication`,
    /// and a maximum `ReplicationLatency` within the 15-minute RTC threshold.
    /// `OperationsPendingReplication` is reported as evidence. Each metric is read where S3
    /// publishes it, in the source bucket owner's account: latency and pending operations in the
    /// destination bucket's Region, failed operations in the source bucket's Region, under the
    /// live rule's ID. A rule passes only when a latency was seen: failures alone (or nothing)
    /// cannot show that replication is on time, so that is `skip`, saying what was not seen.
    ///
    /// ## Why it matters
    /// Configuration can be right while replication fails (a KMS grant revoked, a destination
    /// policy edited). The metrics are AWS's own record of what actually happened.
    ///
    /// ## Example
    /// 3 failed operations in the last 24 h: fail.
    ///
    /// ## Fix
    /// Look up the failure reason (S3 Event Notifications `s3:Replication:OperationFailedReplication`,
    /// or the objects' replication status), fix the permission or key, and re-replicate with
    /// S3 Batch Replication.
    pub struct ReplicationMetrics;
    id: "replication-metrics",
    title: "No failed or late replication in CloudWatch metrics",
    severity: High,
    scenarios: [Step4, ScenarioD],
    remediation: "Investigate failed operations (replication failure events), fix the cause, and re-replicate the affected objects with S3 Batch Replication.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-metrics.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-time-control.html",
    ],
}

impl Rule for ReplicationMetrics {
    fn walk(&self) -> Walk {
        Walk::SpecRules
    }

    fn check_spec_rule(
        &self,
        cx: &AuditContext,
        r: &Replication,
        i: usize,
        rule: &ReplicationRule,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        let label = rule.label(i);
        if !rule.metrics_expected() {
            return vec![skip(
                &META,
                scenario,
                resource,
                format!("{label}: the spec does not expect replication metrics"),
            )];
        }
        let key = format!("{}/{}", r.id.get_ref(), label);
        let m = match cx.snap.replication_metrics.get(&key) {
            Some(Fetched::Ok { value }) => value,
            Some(Fetched::Absent { reason }) => {
                return vec![skip(
                    &META,
                    scenario,
                    resource,
                    format!("{label}: {reason}"),
                )];
            }
            Some(f) => {
                return vec![unknown(
                    &META,
                    scenario,
                    resource,
                    &format!("{label}: replication metrics"),
                    f,
                )];
            }
            None => {
                return vec![skip(
                    &META,
                    scenario,
                    resource,
                    format!("{label}: metrics were not collected in this snapshot"),
                )];
            }
        };
        let evidence = json!({"metrics": m, "rtc_threshold_seconds": RTC_SECONDS});
        let minutes = (m.window_end - m.window_start).num_minutes();
        let window = human_window(minutes);
        let latency_at = m.latency_region.as_deref().unwrap_or("the source's Region");
        let failures_at = m
            .failures_region
            .as_deref()
            .unwrap_or("the source's Region");
        let mut problems = Vec::new();
        if let Some(f) = m.failed_operations.filter(|f| *f > 0.0) {
            problems.push(format!("{f} failed replication operation(s)"));
        }
        if let Some(l) = m.max_latency_seconds.filter(|l| *l > RTC_SECONDS) {
            problems.push(format!(
                "maximum replication latency {l:.0} s exceeds the 15-minute threshold"
            ));
        }
        let latency_seen =
            m.max_latency_seconds.is_some() && m.latency_datapoints.is_none_or(|n| n > 0);
        if problems.is_empty() && m.datapoints == 0 {
            let mut f = skip(&META, scenario, resource, format!("{label}: no replication metric datapoints in the {window} window (rule {}: latency looked up in {latency_at}, failures in {failures_at}; no replication activity, or metrics not published)", m.rule_id));
            f.evidence = evidence;
            return vec![f];
        }
        if problems.is_empty() && !latency_seen {
            // A failure count of 0 says nothing about how late replication is.
            let mut f = skip(&META, scenario, resource, format!("{label}: no ReplicationLatency datapoints in {latency_at} in the {window} window, so timeliness is not proven (rule {}; {} failed operation(s) in {failures_at})", m.rule_id, m.failed_operations.map(|v| format!("{v:.0}")).unwrap_or_else(|| "no datapoints for".into())));
            f.evidence = evidence;
            return vec![f];
        }
        vec![if problems.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                resource,
                format!(
                    "{label}: no failures, max latency {} s, max pending {} in the window",
                    m.max_latency_seconds
                        .map(|v| format!("{v:.0}"))
                        .unwrap_or_else(|| "n/a".into()),
                    m.max_pending_operations
                        .map(|v| format!("{v:.0}"))
                        .unwrap_or_else(|| "n/a".into())
                ),
                evidence,
            )
        } else {
            META.finding(
                scenario,
                Status::Fail,
                resource,
                format!("{label}: {}", problems.join("; ")),
                evidence,
            )
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit;
    use crate::snapshot::ReplicationMetrics as M;

    fn metrics(latency: Option<f64>, failed: Option<f64>) -> M {
        let now = chrono::Utc::now();
        M {
            source_bucket: "rubes-s3-bucket".into(),
            destination_bucket: "clint-s3-bucket".into(),
            rule_id: "reports-to-abcd".into(),
            window_start: now - chrono::Duration::hours(24),
            window_end: now,
            max_latency_seconds: latency,
            max_pending_operations: None,
            failed_operations: failed,
            datapoints: usize::from(latency.is_some()) + usize::from(failed.is_some()),
            latency_region: Some("ap-southeast-2".into()),
            failures_region: Some("ap-southeast-1".into()),
            latency_datapoints: Some(usize::from(latency.is_some())),
            failure_datapoints: Some(usize::from(failed.is_some())),
        }
    }

    fn verdicts(m: Fetched<M>) -> Vec<Finding> {
        let spec = testkit::seed_spec();
        let mut snap = testkit::snapshot();
        snap.replication_metrics
            .insert("incident-reports/rule 'reports-to-abcd'".into(), m);
        let cx = AuditContext::new(&spec, &snap);
        ReplicationMetrics
            .check(&cx)
            .into_iter()
            .filter(|f| f.message.contains("rule 'reports-to-abcd'"))
            .collect()
    }

    #[test]
    fn a_failure_count_without_latency_is_not_a_pass() {
        let f = verdicts(Fetched::ok(metrics(None, Some(0.0))));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Skip, "{}", f[0].message);
        assert!(
            f[0].message
                .contains("no ReplicationLatency datapoints in ap-southeast-2"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn seen_latency_passes_and_late_latency_or_failures_fail() {
        let f = verdicts(Fetched::ok(metrics(Some(35.0), Some(0.0))));
        assert_eq!(f[0].status, Status::Pass, "{}", f[0].message);
        assert!(
            f[0].message.contains("max latency 35 s"),
            "{}",
            f[0].message
        );
        let f = verdicts(Fetched::ok(metrics(Some(1260.0), Some(0.0))));
        assert_eq!(f[0].status, Status::Fail);
        // Failures fail even when the latency was not seen.
        let f = verdicts(Fetched::ok(metrics(None, Some(3.0))));
        assert_eq!(f[0].status, Status::Fail, "{}", f[0].message);
    }

    #[test]
    fn a_missing_live_rule_is_a_skip_and_a_failed_read_an_error() {
        let f = verdicts(Fetched::absent("no live replication rule"));
        assert_eq!(f[0].status, Status::Skip);
        let f = verdicts(Fetched::unknown(
            "cloudwatch:GetMetricStatistics",
            Some("AccessDenied".into()),
            "denied (in ap-southeast-2)",
        ));
        assert_eq!(f[0].status, Status::Error);
        assert!(f[0].message.contains("ap-southeast-2"), "{}", f[0].message);
    }
}

#[cfg(test)]
mod on_the_seed {
    use super::*;
    use crate::rules::testkit::*;
    use crate::snapshot::ReplicationMetrics as Metrics;

    const KEY: &str = "incident-reports/rule 'reports-to-abcd'";

    fn metrics(f: &mut Fixture) -> &mut Metrics {
        match f.snap.replication_metrics.get_mut(KEY) {
            Some(Fetched::Ok { value }) => value,
            _ => panic!("fixture has metrics for {KEY}"),
        }
    }

    #[test]
    fn passes_without_failures_and_within_15_minutes() {
        let out = seed().run(&ReplicationMetrics);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "rule 'reports-to-abcd': no failures, max latency 35 s, max pending 3 in the window",
        );
    }

    #[test]
    fn fails_on_failed_operations_or_latency_beyond_rtc() {
        let mut f = seed();
        metrics(&mut f).failed_operations = Some(2.0);
        metrics(&mut f).max_latency_seconds = Some(901.0);
        let x = only(
            &f.run(&ReplicationMetrics),
            Status::Fail,
            "rule 'reports-to-abcd': 2 failed replication operation(s); maximum replication latency 901 s exceeds the 15-minute threshold",
        );
        assert_eq!(x.resource, SOURCE_ARN);
        metrics(&mut f).failed_operations = Some(0.0);
        metrics(&mut f).max_latency_seconds = Some(900.0);
        assert_eq!(
            count(&f.run(&ReplicationMetrics), Status::Pass),
            2,
            "900 s is within RTC"
        );
    }

    #[test]
    fn skips_without_datapoints_expectation_or_collection() {
        let mut f = seed();
        metrics(&mut f).datapoints = 0;
        only(
            &f.run(&ReplicationMetrics),
            Status::Skip,
            "rule 'reports-to-abcd': no replication metric datapoints in the 24 h window",
        );
        let m = metrics(&mut f);
        m.window_start = m.window_end - chrono::Duration::minutes(90);
        has(
            &f.run(&ReplicationMetrics),
            Status::Skip,
            "in the 90 min window",
        );
        f.snap.replication_metrics.clear();
        has(
            &f.run(&ReplicationMetrics),
            Status::Skip,
            "rule 'reports-to-abcd': metrics were not collected in this snapshot",
        );
        f.spec.replication[0].rules[0].rtc = false;
        f.spec.replication[0].rules[0].metrics = None;
        has(
            &f.run(&ReplicationMetrics),
            Status::Skip,
            "rule 'reports-to-abcd': the spec does not expect replication metrics",
        );
    }

    #[test]
    fn errors_when_unreadable() {
        let mut f = seed();
        f.snap
            .replication_metrics
            .insert(KEY.into(), denied("cloudwatch:GetMetricStatistics"));
        only(
            &f.run(&ReplicationMetrics),
            Status::Error,
            "cannot check rule 'reports-to-abcd': replication metrics: cloudwatch:GetMetricStatistics failed",
        );
    }
}
