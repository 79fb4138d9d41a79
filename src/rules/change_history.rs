use super::support::{skip, unknown};
use super::*;
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
/// Typed references: a renamed or removed rule is a compile error here, not a silent miss.
fn affected_rules(event_name: &str) -> &'static [&'static RuleMeta] {
    match event_name {
        "PutBucketPolicy" | "DeleteBucketPolicy" => BUCKET_POLICY,
        "PutBucketReplication" | "DeleteBucketReplication" => REPLICATION,
        "PutBucketPublicAccessBlock" | "DeleteBucketPublicAccessBlock" => BUCKET_BPA,
        "PutAccountPublicAccessBlock" | "DeleteAccountPublicAccessBlock" => ACCOUNT_BPA,
        "PutBucketVersioning" => VERSIONING,
        "PutBucketEncryption" | "DeleteBucketEncryption" => ENCRYPTION,
        "PutBucketOwnershipControls" => OWNERSHIP,
        "PutRolePolicy"
        | "DeleteRolePolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "PutRolePermissionsBoundary" => ROLE_POLICY,
        "UpdateAssumeRolePolicy" => ROLE_TRUST,
        "DeleteRole" => ROLE_DELETED,
        "PutKeyPolicy" | "DisableKey" | "ScheduleKeyDeletion" => KEY_POLICY,
        _ => &[],
    }
}

static BUCKET_POLICY: &[&RuleMeta] = &[
    &access_expectation::META,
    &bucket_policy_grantees::META,
    &destination_policy_allows_role::META,
    &uploader_restriction::META,
    &encrypted_replica_readable::META,
    &log_export_permissions::META,
    &config_rule_agreement::META,
];

static REPLICATION: &[&RuleMeta] = &[
    &replication_configured::META,
    &replication_role_matches::META,
    &replication_rule_enabled::META,
    &replication_filter::META,
    &replication_unexpected_rules::META,
    &replication_destination::META,
    &replication_owner_override::META,
    &replication_rtc::META,
    &replication_delete_markers::META,
    &replication_kms::META,
    &prefix_scope::META,
    &config_rule_agreement::META,
];

static BUCKET_BPA: &[&RuleMeta] = &[
    &bucket_public_access_block::META,
    &access_expectation::META,
    &encrypted_replica_readable::META,
    &config_rule_agreement::META,
];

static ACCOUNT_BPA: &[&RuleMeta] = &[
    &account_public_access_block::META,
    &access_expectation::META,
];

static VERSIONING: &[&RuleMeta] = &[&bucket_versioning::META, &config_rule_agreement::META];

static ENCRYPTION: &[&RuleMeta] = &[
    &bucket_default_encryption::META,
    &config_rule_agreement::META,
];

static OWNERSHIP: &[&RuleMeta] = &[
    &bucket_object_ownership::META,
    &replication_owner_override::META,
];

static ROLE_POLICY: &[&RuleMeta] = &[
    &role_source_permissions::META,
    &role_destination_permissions::META,
    &role_least_privilege::META,
    &replication_kms_permissions::META,
];

static ROLE_TRUST: &[&RuleMeta] = &[&role_trust::META];

static ROLE_DELETED: &[&RuleMeta] = &[
    &role_exists::META,
    &role_trust::META,
    &role_source_permissions::META,
    &role_destination_permissions::META,
];

static KEY_POLICY: &[&RuleMeta] = &[
    &replication_kms_permissions::META,
    &encrypted_replica_readable::META,
    &access_expectation::META,
];

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
        let mut any_relevant = false;
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
            any_relevant = true;
            let rules = affected_rules(&e.event_name);
            let broken: Vec<String> = earlier
                .iter()
                .filter(|f| f.status == Status::Fail && rules.iter().any(|m| m.id == f.id))
                .filter(|f| {
                    touches(&f.resource, &what)
                        || e.resources.iter().any(|r| touches(&f.resource, r))
                        || (account_level && f.id == access_expectation::META.id)
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
            let evidence = json!({"event": e, "rules_it_can_affect": rules.iter().map(|m| m.id).collect::<Vec<_>>(), "failing_rules_on_resource": broken});
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
        if !any_relevant {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn after(f: &Fixture, earlier: &[Finding]) -> Vec<Finding> {
        check_after(&AuditContext::new(&f.spec, &f.snap), earlier)
    }

    #[test]
    fn passes_for_every_change_when_no_rule_fails() {
        let f = seed();
        let out = after(&f, &run_all_but_history(&f));
        assert_eq!(
            count(&out, Status::Pass),
            21,
            "the provisioning changes on audited resources"
        );
        clean(
            &out,
            "PutBucketVersioning on clint-s3-bucket by arn:aws:iam::271089868719:user/replaudit-admin at 2026-",
        );
        // Changes to buckets the spec does not audit are not reported.
        assert!(!out.iter().any(|x| x.message.contains("replaudit-trail-")));
    }

    fn run_all_but_history(f: &Fixture) -> Vec<Finding> {
        let cx = AuditContext::new(&f.spec, &f.snap);
        all_rules().iter().flat_map(|r| r.check(&cx)).collect()
    }

    #[test]
    fn fails_when_a_rule_the_change_can_affect_now_fails_on_its_resource() {
        let mut f = seed();
        f.bucket("destination").versioning = Fetched::ok("Suspended".into());
        let out = after(&f, &f.run(&bucket_versioning::BucketVersioning));
        let x = only(
            &out,
            Status::Fail,
            "PutBucketVersioning on clint-s3-bucket by arn:aws:iam::271089868719:user/replaudit-admin",
        );
        assert!(
            x.message.ends_with("now failing: bucket-versioning"),
            "{}",
            x.message
        );
        assert_eq!(x.resource, DEST_ARN);
        assert_eq!(
            x.evidence["rules_it_can_affect"],
            json!(["bucket-versioning", "config-rule-agreement"])
        );
    }

    #[test]
    fn a_change_is_not_blamed_for_rules_it_cannot_affect() {
        // The destination's default encryption breaks: PutBucketVersioning on it is not blamed,
        // PutBucketEncryption is.
        let mut f = seed();
        f.bucket("destination").encryption = Fetched::absent("none");
        let earlier = f.run(&bucket_default_encryption::BucketDefaultEncryption);
        let out = after(&f, &earlier);
        only(&out, Status::Fail, "PutBucketEncryption on clint-s3-bucket");
        has(&out, Status::Pass, "PutBucketVersioning on clint-s3-bucket");
    }

    #[test]
    fn account_level_changes_are_blamed_for_account_findings_and_access() {
        let mut f = seed();
        f.account("xyz").public_access_block = Fetched::absent("none");
        let out = after(&f, &run_all_but_history(&f));
        let x = only(
            &out,
            Status::Fail,
            "PutAccountPublicAccessBlock on account 111122223333",
        );
        assert!(
            x.message
                .ends_with("now failing: account-public-access-block"),
            "{}",
            x.message
        );
        let earlier = vec![access_expectation::META.finding(
            Scenario::Step5,
            Status::Fail,
            "arn:aws:s3:::elsewhere",
            "x",
            json!({}),
        )];
        has(
            &after(&f, &earlier),
            Status::Fail,
            "PutAccountPublicAccessBlock on account 271089868719",
        );
    }

    #[test]
    fn role_and_key_changes_are_matched_by_name() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:ReplicateObject")
        });
        let out = after(&f, &run_all_but_history(&f));
        let x = only(&out, Status::Fail, "PutRolePolicy on s3_replication_role");
        assert!(
            x.message
                .ends_with("now failing: role-destination-permissions"),
            "{}",
            x.message
        );
        assert_eq!(x.resource, ROLE_ARN);
        assert_eq!(x.scenario, Scenario::Step3);
    }

    #[test]
    fn no_relevant_change_is_one_pass_per_account_and_unreadable_history_errors() {
        let mut f = seed();
        f.account("abcd").change_events = Fetched::ok(crate::snapshot::ChangeEvents::default());
        f.account("xyz").change_events = denied("cloudtrail:LookupEvents");
        let out = after(&f, &[]);
        only(
            &out,
            Status::Pass,
            "account 271089868719: no change to audited configuration since ?",
        );
        only(
            &out,
            Status::Error,
            "cannot check CloudTrail change history: cloudtrail:LookupEvents failed: AccessDenied",
        );
    }

    #[test]
    fn every_affected_rule_is_a_registered_rule() {
        let events = [
            "PutBucketPolicy",
            "PutBucketReplication",
            "PutBucketPublicAccessBlock",
            "PutAccountPublicAccessBlock",
            "PutBucketVersioning",
            "PutBucketEncryption",
            "PutBucketOwnershipControls",
            "PutRolePolicy",
            "UpdateAssumeRolePolicy",
            "DeleteRole",
            "PutKeyPolicy",
        ];
        for e in events {
            assert!(!affected_rules(e).is_empty(), "{e}");
            for m in affected_rules(e) {
                assert!(
                    all_rules().iter().any(|r| std::ptr::eq(r.meta(), *m)),
                    "{}",
                    m.id
                );
            }
        }
        assert!(affected_rules("ListBuckets").is_empty());
    }

    #[test]
    fn cloudtrail_resource_names_map_to_audited_resources() {
        let f = seed();
        let cx = AuditContext::new(&f.spec, &f.snap);
        let bucket = Some((Scenario::Step2, DEST_ARN.to_string()));
        assert_eq!(classify(&cx, "clint-s3-bucket"), bucket);
        assert_eq!(classify(&cx, DEST_ARN), bucket);
        let role = Some((Scenario::Step3, ROLE_ARN.to_string()));
        assert_eq!(classify(&cx, ROLE_ARN), role);
        assert_eq!(classify(&cx, "s3_replication_role"), role);
        let key = Some((Scenario::ScenarioA, DEST_KEY.to_string()));
        assert_eq!(classify(&cx, DEST_KEY), key);
        assert_eq!(classify(&cx, "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"), key);
        assert_eq!(classify(&cx, "replaudit-trail-111122223333"), None);
    }

    #[test]
    fn a_finding_touches_the_changed_resource_or_what_is_inside_it() {
        assert!(touches(DEST_ARN, DEST_ARN));
        assert!(touches("arn:aws:s3:::clint-s3-bucket/reports/x", DEST_ARN));
        assert!(touches(DEST_ARN, "clint-s3-bucket"));
        assert!(touches(
            "arn:aws:s3:::clint-s3-bucket/reports/x",
            "clint-s3-bucket"
        ));
        assert!(touches(ROLE_ARN, "s3_replication_role"));
        assert!(touches(DEST_KEY, "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"));
        assert!(!touches(SOURCE_ARN, "clint-s3-bucket"));
        assert!(!touches(
            "arn:aws:s3:::clint-s3-bucket-2",
            "clint-s3-bucket"
        ));
        assert!(!touches(ROLE_ARN, "replication_role"));
    }
}
