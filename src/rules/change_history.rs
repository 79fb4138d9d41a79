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

/// The rules a change of this kind can make fail. A change is blamed only for failures it
/// could have caused: a new encryption setting does not explain a missing trail selector.
fn affected_rules(event_name: &str) -> &'static [&'static str] {
    match event_name {
        "PutBucketPolicy" | "DeleteBucketPolicy" => &[
            "access-expectation",
            "bucket-policy-grantees",
            "destination-policy-allows-role",
            "uploader-restriction",
            "encrypted-replica-readable",
            "log-export-permissions",
            "config-rule-agreement",
        ],
        "PutBucketReplication" | "DeleteBucketReplication" => &[
            "replication-configured",
            "replication-role-matches",
            "replication-rule-enabled",
            "replication-filter",
            "replication-unexpected-rules",
            "replication-destination",
            "replication-owner-override",
            "replication-rtc",
            "replication-delete-markers",
            "replication-kms",
            "prefix-scope",
            "config-rule-agreement",
        ],
        "PutBucketPublicAccessBlock" | "DeleteBucketPublicAccessBlock" => &[
            "bucket-public-access-block",
            "access-expectation",
            "encrypted-replica-readable",
            "config-rule-agreement",
        ],
        "PutAccountPublicAccessBlock" | "DeleteAccountPublicAccessBlock" => {
            &["account-public-access-block", "access-expectation"]
        }
        "PutBucketVersioning" => &["bucket-versioning", "config-rule-agreement"],
        "PutBucketEncryption" | "DeleteBucketEncryption" => {
            &["bucket-default-encryption", "config-rule-agreement"]
        }
        "PutBucketOwnershipControls" => &["bucket-object-ownership", "replication-owner-override"],
        "PutRolePolicy"
        | "DeleteRolePolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "PutRolePermissionsBoundary" => &[
            "role-source-permissions",
            "role-destination-permissions",
            "role-least-privilege",
            "replication-kms-permissions",
        ],
        "UpdateAssumeRolePolicy" => &["role-trust"],
        "DeleteRole" => &[
            "role-exists",
            "role-trust",
            "role-source-permissions",
            "role-destination-permissions",
        ],
        "PutKeyPolicy" | "DisableKey" | "ScheduleKeyDeletion" => &[
            "replication-kms-permissions",
            "encrypted-replica-readable",
            "access-expectation",
        ],
        _ => &[],
    }
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
            let account_level = e.event_name.ends_with("AccountPublicAccessBlock");
            let target = if account_level {
                // Account-level settings name no resource; the rule's resource is the account.
                Some((
                    cx.account_scenario(alias),
                    format!("arn:aws:s3:::account/{id}"),
                ))
            } else {
                e.resources.iter().find_map(|r| classify(cx, r))
            };
            let Some((scenario, what)) = target else {
                continue;
            };
            relevant += 1;
            let rules = affected_rules(&e.event_name);
            let broken: Vec<String> = earlier
                .iter()
                .filter(|f| f.status == Status::Fail && rules.contains(&f.id.as_str()))
                .filter(|f| {
                    touches(&f.resource, &what)
                        || e.resources.iter().any(|r| touches(&f.resource, r))
                        || (account_level && f.id == "access-expectation")
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
            let on = if account_level {
                format!("account {id}")
            } else {
                e.resources.join(", ")
            };
            let evidence = json!({"event": e, "rules_it_can_affect": rules, "failing_rules_on_resource": broken});
            out.push(if broken.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    &what,
                    format!(
                        "{} on {on} by {who} at {when}; no rule it affects fails",
                        e.event_name
                    ),
                    evidence,
                )
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    &what,
                    format!(
                        "{} on {on} by {who} at {when}; now failing: {}",
                        e.event_name,
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

/// Whether a finding's resource is (or is inside) the changed resource. Findings about a
/// bucket name its ARN or an object ARN inside it; findings about a role or key name its ARN.
fn touches(finding_resource: &str, changed: &str) -> bool {
    finding_resource == changed
        || finding_resource.starts_with(&format!("{changed}/"))
        || finding_resource == format!("arn:aws:s3:::{changed}")
        || finding_resource.starts_with(&format!("arn:aws:s3:::{changed}/"))
        || finding_resource.ends_with(&format!("/{changed}"))
        || finding_resource.ends_with(&format!(":key/{changed}"))
}
