use super::support::{skip, unknown};
use super::AuditContext;
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// CloudTrail management events (`LookupEvents`) since `--since` (default: the previous
    /// report's time) that changed audited configuration — bucket policies, replication
    /// configurations, Block Public Access, versioning, encryption, the replication role's
    /// policies and trust, KMS key policies — of the spec's buckets, roles and keys. Each change
    /// is a finding saying who changed what and when; it fails when a rule currently fails on
    /// the resource it changed.
    ///
    /// ## Why it matters
    /// "Replication broke" is half an answer; "replication broke after arn:…:user/alice put a
    /// new bucket policy at 02:14" is the one an on-call engineer needs.
    ///
    /// ## Example
    /// `PutBucketReplication` on `rubes-s3-bucket` by `arn:aws:iam::111122223333:user/ops`, and
    /// `replication-rtc` now fails on that bucket: fail.
    ///
    /// ## Fix
    /// Review the change with its author; revert or fix it.
    pub struct ChangeHistory;
    id: "change-history",
    title: "Changes to audited configuration since the last report",
    severity: Info,
    scenarios: [Step1, Step2, Step3, Step4, ScenarioA, ScenarioD],
    remediation: "Review the change with whoever made it; revert or correct it so the failing rules pass again.",
    references: ["https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html"],
}

/// Runs after every other rule: it needs their verdicts to tell which changes broke something.
pub fn check_after(cx: &AuditContext, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (alias, acct) in &cx.spec.accounts {
        let id = acct.account_id.get_ref();
        let resource = format!("arn:aws:cloudtrail:::account/{id}");
        let Some(st) = cx.snap.accounts.get(alias) else {
            continue;
        };
        let ev = match &st.change_events {
            Fetched::Ok { value } => value,
            f => {
                out.push(unknown(
                    &META,
                    Scenario::Step1,
                    &resource,
                    "CloudTrail change history",
                    f,
                ));
                continue;
            }
        };
        let since = ev
            .since
            .map(|s| s.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "?".into());
        let mut relevant = 0;
        for e in &ev.events {
            let Some((scenario, what)) = e.resources.iter().find_map(|r| classify(cx, r)) else {
                continue;
            };
            relevant += 1;
            let broken: Vec<String> = earlier
                .iter()
                .filter(|f| {
                    f.status == Status::Fail && e.resources.iter().any(|r| touches(&f.resource, r))
                })
                .map(|f| f.id.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let who = e
                .principal_arn
                .clone()
                .or_else(|| e.username.clone())
                .unwrap_or_else(|| "unknown principal".into());
            let when = e
                .event_time
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "?".into());
            let evidence = json!({"event": e, "failing_rules_on_resource": broken});
            out.push(if broken.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    &what,
                    format!(
                        "{} on {} by {who} at {when}; no rule fails on it",
                        e.event_name,
                        e.resources.join(", ")
                    ),
                    evidence,
                )
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    &what,
                    format!(
                        "{} on {} by {who} at {when}; now failing: {}",
                        e.event_name,
                        e.resources.join(", "),
                        broken.join(", ")
                    ),
                    evidence,
                )
            });
        }
        if relevant == 0 {
            out.push(META.finding(
                Scenario::Step1,
                Status::Pass,
                &resource,
                format!("account {id}: no change to audited configuration since {since}"),
                json!({"since": ev.since, "events_seen": ev.events.len()}),
            ));
        }
    }
    if cx.spec.accounts.is_empty() {
        out.push(skip(&META, Scenario::Step1, "-", "no accounts"));
    }
    out
}

/// Which audited resource a CloudTrail resource name is, with its scenario and ARN.
fn classify(cx: &AuditContext, name: &str) -> Option<(Scenario, String)> {
    if let Some((alias, _)) = cx.spec.buckets.iter().find(|(_, b)| {
        b.name.get_ref() == name || name.ends_with(&format!(":::{}", b.name.get_ref()))
    }) {
        return Some((cx.bucket_scenario(alias), cx.bucket_arn(alias)));
    }
    if let Some(p) = cx.spec.principals.values().find(|p| {
        let arn = p.arn.get_ref();
        arn == name || arn.rsplit('/').next() == Some(name)
    }) {
        return Some((Scenario::Step3, p.arn.get_ref().clone()));
    }
    cx.spec
        .kms_key_arns()
        .into_iter()
        .find(|k| k == name || super::context::kms_key_id(k) == name)
        .map(|k| (Scenario::ScenarioA, k))
}

/// Whether a finding's resource is (or is inside) the changed resource.
fn touches(finding_resource: &str, changed: &str) -> bool {
    finding_resource == changed
        || finding_resource.starts_with(&format!("arn:aws:s3:::{changed}/"))
        || finding_resource == format!("arn:aws:s3:::{changed}")
        || finding_resource.ends_with(&format!("/{changed}"))
        || finding_resource.ends_with(&format!(":key/{changed}"))
}
