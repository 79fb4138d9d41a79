use super::support::{skip, unknown};
use super::*;
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// CloudTrail management events (`LookupEvents`) since `--since` (default: the previous
    /// report's time) that changed audited configuration — bucket policies and ACLs, replication
    /// configurations, Block Public Access, versioning, encryption, ownership controls, the
    /// replication role's policies, boundary and trust, the access principals' user and group
    /// policies, new default versions of managed policies attached to them, KMS key policies,
    /// grants and key state — of the spec's buckets, principals and keys. Each change is a
    /// finding saying who changed what and when; it fails when a rule it can affect currently
    /// fails on the resource it changed. The history is read with one paginated lookup per
    /// Region at CloudTrail's documented rate (two requests per second per account and Region);
    /// a Region whose lookup failed part-way is an `error` naming what is missing, beside the
    /// changes that were read.
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
    references: [
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html",
    ],
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
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => OWNERSHIP,
        // ACLs grant access beside the policies; with Object Ownership not enforced they can
        // open the bucket to others, or change who owns replicas.
        // <https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html>
        "PutBucketAcl" => BUCKET_ACL,
        "PutRolePolicy"
        | "DeleteRolePolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "PutRolePermissionsBoundary"
        | "DeleteRolePermissionsBoundary" => ROLE_POLICY,
        // A new default version is the policy every principal it is attached to now has.
        // <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html>
        "CreatePolicyVersion" | "SetDefaultPolicyVersion" => ROLE_POLICY,
        "PutUserPolicy"
        | "DeleteUserPolicy"
        | "AttachUserPolicy"
        | "DetachUserPolicy"
        | "PutUserPermissionsBoundary"
        | "DeleteUserPermissionsBoundary"
        | "AddUserToGroup"
        | "RemoveUserFromGroup"
        | "PutGroupPolicy"
        | "DeleteGroupPolicy"
        | "AttachGroupPolicy"
        | "DetachGroupPolicy" => USER_POLICY,
        "UpdateAssumeRolePolicy" => ROLE_TRUST,
        "DeleteRole" => ROLE_DELETED,
        // Key policy and grants decide who may use the key; a disabled or pending-deletion key
        // can be used by no one.
        // <https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>,
        // <https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html>
        "PutKeyPolicy"
        | "CreateGrant"
        | "RevokeGrant"
        | "DisableKey"
        | "EnableKey"
        | "ScheduleKeyDeletion"
        | "CancelKeyDeletion" => KEY_POLICY,
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

static BUCKET_ACL: &[&RuleMeta] = &[
    &access_expectation::META,
    &encrypted_replica_readable::META,
    &uploader_restriction::META,
    &bucket_object_ownership::META,
];

static ROLE_POLICY: &[&RuleMeta] = &[
    &role_source_permissions::META,
    &role_destination_permissions::META,
    &role_least_privilege::META,
    &replication_kms_permissions::META,
    &access_expectation::META,
    &encrypted_replica_readable::META,
    &uploader_restriction::META,
];

static USER_POLICY: &[&RuleMeta] = &[
    &access_expectation::META,
    &encrypted_replica_readable::META,
    &uploader_restriction::META,
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
    &bucket_default_encryption::META,
    &replication_kms::META,
];

/// Runs after every other rule: it needs their verdicts to tell which changes broke something.
pub fn check_after(cx: &AuditContext, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (alias, acct) in &cx.spec.accounts {
        let id = acct.account_id.get_ref();
        let partition = cx.account_partition(alias);
        let resource = format!("arn:{partition}:cloudtrail:::account/{id}");
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
        for gap in &ev.incomplete {
            let cause = match &gap.code {
                Some(c) => format!("{} failed: {c}: {}", gap.call, gap.reason),
                None => format!("{} failed: {}", gap.call, gap.reason),
            };
            out.push(META.finding(
                Scenario::Step1,
                Status::Error,
                format!("arn:{partition}:cloudtrail:{}:{id}:event-history", gap.region),
                format!(
                    "account {id}: CloudTrail history in {} is incomplete: {cause}, after {} page(s); changes older than the {} reported from there are missing",
                    gap.region, gap.pages_read, gap.events_read
                ),
                json!({"incomplete": gap, "since": ev.since}),
            ));
        }
        let mut any_relevant = false;
        for e in &ev.events {
            let account_level = e.event_name.ends_with("AccountPublicAccessBlock");
            let target = if account_level {
                // Account-level settings name no resource; the rule's resource is the account.
                Some((
                    cx.account_scenario(alias),
                    format!("arn:{partition}:s3:::account/{id}"),
                ))
            } else {
                e.resources.iter().find_map(|r| classify(cx, r))
            };
            let Some((scenario, what)) = target else {
                // A group or managed policy reaches principals only through their IAM state: if
                // that could not be read, whether this change touched one is unknown, not "no".
                if let Some(f) = unclassifiable(cx, e, id, partition) {
                    out.push(f);
                }
                continue;
            };
            any_relevant = true;
            let rules = affected_rules(&e.event_name);
            // A change to a user, group or managed policy reaches the principals it applies to;
            // their findings name the buckets and keys they act on, so those rules are matched
            // whatever resource they name.
            let reaches_principals = matches!(e.event_source.as_deref(), Some("iam.amazonaws.com"))
                && what.contains(":iam::");
            let broken: Vec<String> = earlier
                .iter()
                .filter(|f| f.status == Status::Fail && rules.iter().any(|m| m.id == f.id))
                .filter(|f| {
                    touches(&f.resource, &what)
                        || e.resources.iter().any(|r| touches(&f.resource, r))
                        || (account_level && f.id == access_expectation::META.id)
                        || (reaches_principals && f.evidence.to_string().contains(what.as_str()))
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
        // "No change" is a claim about the whole history: not when part of it went unread.
        if !any_relevant && ev.incomplete.is_empty() {
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

/// The `error` for an IAM change that may concern an audited principal whose IAM state (policies,
/// groups) could not be read; `None` when every principal of the account was read.
fn unclassifiable(
    cx: &AuditContext,
    e: &crate::snapshot::ChangeEvent,
    account_id: &str,
    partition: &str,
) -> Option<Finding> {
    // Users and roles are named by the event; groups and managed policies are not principals.
    let indirect = matches!(
        e.event_name.as_str(),
        "CreatePolicyVersion"
            | "SetDefaultPolicyVersion"
            | "PutGroupPolicy"
            | "DeleteGroupPolicy"
            | "AttachGroupPolicy"
            | "DetachGroupPolicy"
    );
    if !indirect {
        return None;
    }
    let unread: Vec<String> = cx
        .snap
        .principals
        .values()
        .filter(|p| p.account_id == account_id)
        .filter_map(|p| {
            let why = match &p.details {
                crate::snapshot::Fetched::Ok { value: d } => {
                    let unknown = |f: Option<String>, u: bool| f.filter(|_| u);
                    unknown(d.groups.why_missing(), d.groups.is_unknown()).or(unknown(
                        d.attached_policies.why_missing(),
                        d.attached_policies.is_unknown(),
                    ))
                }
                other => other.why_missing(),
            };
            why.map(|why| format!("{}: {why}", p.arn))
        })
        .collect();
    if unread.is_empty() {
        return None;
    }
    Some(META.finding(
        Scenario::Step3,
        Status::Error,
        format!("arn:{partition}:iam::{account_id}:root"),
        format!(
            "cannot tell whether {} on {} changed an audited principal: the IAM state of {} could not be read",
            e.event_name,
            e.resources.join(", "),
            unread.join("; ")
        ),
        json!({"event": e, "unread_principals": unread}),
    ))
}

/// Which audited resource a CloudTrail resource name is, with its scenario and ARN: a spec bucket,
/// a spec principal (by ARN or name), a group one of them is in, a managed policy attached to one
/// of them (or to such a group), or a spec KMS key.
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
    // Groups and managed policies reach principals through the collected IAM state.
    for p in cx.snap.principals.values() {
        let Some(d) = p.details.value() else {
            continue;
        };
        let attached = |list: &crate::snapshot::Fetched<Vec<crate::snapshot::NamedPolicy>>| {
            list.value()
                .is_some_and(|l| l.iter().any(|x| x.arn.as_deref() == Some(name)))
        };
        let in_group = d.groups.value().is_some_and(|gs| {
            gs.iter()
                .any(|g| g.name == name || attached(&g.attached_policies))
        });
        if attached(&d.attached_policies) || in_group {
            return Some((Scenario::Step3, p.arn.clone()));
        }
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
    let bucket = |r: &str| {
        crate::arn::Arn::split(r)
            .filter(|a| a.service == "s3" && a.region.is_empty() && a.account.is_empty())
            .is_some_and(|a| {
                a.resource == changed || a.resource.starts_with(&format!("{changed}/"))
            })
    };
    finding_resource == changed
        || finding_resource.starts_with(&format!("{changed}/"))
        || bucket(finding_resource)
        || finding_resource.ends_with(&format!("/{changed}"))
        || finding_resource.ends_with(&format!(":key/{changed}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::evidence::{IAM_CHANGE_EVENTS, KMS_CHANGE_EVENTS, S3_CHANGE_EVENTS};
    use crate::rules::testkit;
    use crate::snapshot::{ChangeEvent, ChangeEvents, IncompleteHistory};

    #[test]
    fn every_change_kind_looked_up_can_break_some_rule() {
        for name in S3_CHANGE_EVENTS
            .iter()
            .chain(IAM_CHANGE_EVENTS)
            .chain(KMS_CHANGE_EVENTS)
        {
            assert!(!affected_rules(name).is_empty(), "{name} maps to no rule");
        }
        for name in [
            "CreatePolicyVersion",
            "SetDefaultPolicyVersion",
            "DeleteRolePermissionsBoundary",
            "PutUserPolicy",
            "AttachGroupPolicy",
            "PutBucketAcl",
            "DeleteBucketOwnershipControls",
            "CreateGrant",
            "RevokeGrant",
            "EnableKey",
            "CancelKeyDeletion",
        ] {
            assert!(
                S3_CHANGE_EVENTS.contains(&name)
                    || IAM_CHANGE_EVENTS.contains(&name)
                    || KMS_CHANGE_EVENTS.contains(&name),
                "{name} is not looked up"
            );
        }
    }

    fn event(name: &str, source: &str, resources: &[&str]) -> ChangeEvent {
        ChangeEvent {
            event_name: name.into(),
            event_source: Some(source.into()),
            event_time: Some(chrono::Utc::now()),
            username: Some("admin".into()),
            principal_arn: Some("arn:aws:iam::271089868719:user/admin".into()),
            region: "us-east-1".into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            event_id: None,
        }
    }

    #[test]
    fn a_user_policy_change_is_blamed_for_the_access_it_broke() {
        let spec = testkit::seed_spec();
        let mut snap = testkit::snapshot();
        for alias in spec.accounts.keys() {
            snap.accounts
                .insert(alias.clone(), testkit::account(&spec, alias));
        }
        snap.accounts.get_mut("abcd").unwrap().change_events = Fetched::ok(ChangeEvents {
            since: None,
            events: vec![event(
                "DeleteUserPolicy",
                "iam.amazonaws.com",
                &["tom-cruise", "replaudit-spec"],
            )],
            regions: vec!["us-east-1".into()],
            incomplete: vec![],
        });
        let cx = AuditContext::new(&spec, &snap);
        let broken = crate::rules::access_expectation::META.finding(
            Scenario::Step5,
            Status::Fail,
            "arn:aws:s3:::rubes-s3-bucket/reports/sample.txt",
            "tom-cruise is denied s3:GetObject",
            json!({"principal": "arn:aws:iam::271089868719:user/tom-cruise"}),
        );
        let out = check_after(&cx, &[broken]);
        let f = out
            .iter()
            .find(|f| f.message.starts_with("DeleteUserPolicy"))
            .expect("the change is reported");
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        assert!(f.message.contains("access-expectation"), "{}", f.message);
    }

    #[test]
    fn a_group_change_is_an_error_when_the_principals_groups_are_unread() {
        let spec = testkit::seed_spec();
        let mut snap = testkit::snapshot();
        for alias in spec.accounts.keys() {
            snap.accounts
                .insert(alias.clone(), testkit::account(&spec, alias));
        }
        snap.accounts.get_mut("abcd").unwrap().change_events = Fetched::ok(ChangeEvents {
            since: None,
            events: vec![event(
                "AttachGroupPolicy",
                "iam.amazonaws.com",
                &["readers", "arn:aws:iam::271089868719:policy/p"],
            )],
            regions: vec!["us-east-1".into()],
            incomplete: vec![],
        });
        let tom = "arn:aws:iam::271089868719:user/tom-cruise";
        snap.principals.insert(
            tom.into(),
            crate::snapshot::PrincipalState {
                arn: tom.into(),
                kind: "user".into(),
                name: "tom-cruise".into(),
                account_id: "271089868719".into(),
                read_as: Some("abcd".into()),
                details: Fetched::unknown("iam:GetUser", Some("AccessDenied".into()), "denied"),
            },
        );
        let out = check_after(&AuditContext::new(&spec, &snap), &[]);
        let err = out
            .iter()
            .find(|f| f.status == Status::Error)
            .expect("unknown, not silently irrelevant");
        assert!(
            err.message.contains("AttachGroupPolicy") && err.message.contains("iam:GetUser"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_incomplete_history_is_an_error_beside_the_changes_read() {
        let spec = testkit::seed_spec();
        let mut snap = testkit::snapshot();
        for alias in spec.accounts.keys() {
            snap.accounts
                .insert(alias.clone(), testkit::account(&spec, alias));
        }
        snap.accounts.get_mut("xyz").unwrap().change_events = Fetched::ok(ChangeEvents {
            since: None,
            events: vec![event(
                "PutBucketVersioning",
                "s3.amazonaws.com",
                &["rubes-s3-bucket"],
            )],
            regions: vec!["ap-southeast-1".into()],
            incomplete: vec![IncompleteHistory {
                region: "ap-southeast-1".into(),
                call: "cloudtrail:LookupEvents".into(),
                code: Some("ThrottlingException".into()),
                reason: "Rate exceeded".into(),
                pages_read: 1,
                events_read: 1,
            }],
        });
        let cx = AuditContext::new(&spec, &snap);
        let out = check_after(&cx, &[]);
        let err = out
            .iter()
            .find(|f| f.status == Status::Error)
            .expect("an error for the gap");
        assert!(
            err.message.contains("ap-southeast-1")
                && err.message.contains("ThrottlingException")
                && err.message.contains("after 1 page"),
            "{}",
            err.message
        );
        assert!(out
            .iter()
            .any(|f| f.status == Status::Pass && f.message.starts_with("PutBucketVersioning")));
    }
}

#[cfg(test)]
mod on_the_seed {
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
            28,
            "the provisioning changes on audited resources (the fixture's events but those on the trail bucket)"
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
