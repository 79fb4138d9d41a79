use super::support::{ask, destination_needs, error, skip};
use super::{At, AuditContext, Rule, Walk};
use crate::access::{bucket_policy, identity_side, IdentitySide, Leg};
use crate::findings::{Finding, Status};
use crate::spec::{Replication, ReplicationRule};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// For a destination in another account, the destination bucket policy grants the
    /// replication role what replication writes: `s3:ReplicateObject`, `s3:ReplicateTags`,
    /// `s3:ReplicateDelete` (when delete markers replicate) and
    /// `s3:ObjectOwnerOverrideToBucketOwner` (with owner override) — decided by the policy
    /// engine on the bucket policy alone, so a failure here is the destination owner's to fix.
    ///
    /// ## Why it matters
    /// Cross-account, the role's own permissions are not enough: the destination account must
    /// allow the role in its bucket policy, or every replication attempt is denied.
    ///
    /// ## Example
    /// No bucket policy on `clint-s3-bucket`: fail.
    ///
    /// ## Fix
    /// Add a statement to the destination bucket policy with `"Principal": {"AWS":
    /// "ROLE-ARN"}` and the actions above on `arn:aws:s3:::DEST/*`.
    pub struct DestinationPolicyAllowsRole;
    id: "destination-policy-allows-role",
    title: "Destination bucket policy lets the replication role replicate",
    severity: Critical,
    scenarios: [Step4, ScenarioD],
    remediation: "Grant the replication role s3:ReplicateObject, s3:ReplicateTags, s3:ReplicateDelete and s3:ObjectOwnerOverrideToBucketOwner on the destination objects in the destination bucket policy.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-walkthrough-2.html"],
}

impl Rule for DestinationPolicyAllowsRole {
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
        let scenario = at.scenario;
        let role = cx.principal_arn(r.role.get_ref());
        let dest = rule.destination.get_ref();
        let resource = cx.bucket_arn(dest);
        let label = rule.label(i);
        let acct = cx.bucket_account_id(dest).unwrap_or_default();
        if Some(acct) == cx.bucket_account_id(r.source.get_ref()) {
            return vec![skip(&META, scenario, &resource, format!("{label}: destination is in the role's account; the role's identity policy suffices"))];
        }
        // Only the role's identity matters on this leg, not its policies: a role the
        // auditor cannot read is still a well-defined principal here.
        let who = match identity_side(cx.snap, role) {
            Ok(w) => w,
            Err(_) => match IdentitySide::from_arn(role) {
                Some(w) => w,
                None => {
                    return vec![error(
                        &META,
                        scenario,
                        &resource,
                        format!("'{role}' is not an IAM role ARN"),
                    )];
                }
            },
        };
        let policy = match bucket_policy(cx.snap, dest) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return vec![META.finding(scenario, Status::Fail, &resource, format!("{label}: {} has no bucket policy, so the cross-account role {role} cannot replicate into it", cx.bucket_name(dest)), json!({"bucket_policy": null}))];
            }
            Err(e) => {
                return vec![error(&META, scenario, &resource, e)];
            }
        };
        let mut missing = Vec::new();
        let mut evidence = Vec::new();
        for n in destination_needs(cx, rule) {
            let a = ask(
                cx,
                &who,
                n.action,
                &n.resource,
                acct,
                Some(&policy),
                false,
                &[],
                Leg::ResourceOnly,
            );
            if !a.allowed() {
                missing.push(format!(
                    "{} ({}: {})",
                    n.action,
                    a.eval.decision,
                    a.summary()
                ));
            }
            evidence.push(a.evidence);
        }
        vec![if missing.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                &resource,
                format!("{label}: bucket policy lets {role} replicate"),
                json!({"checks": evidence}),
            )
        } else {
            META.finding(
                scenario,
                Status::Fail,
                &resource,
                format!(
                    "{label}: bucket policy does not let {role} replicate: {}",
                    missing.join("; ")
                ),
                json!({"checks": evidence}),
            )
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_cross_account_and_skips_same_account() {
        let out = seed().run(&DestinationPolicyAllowsRole);
        let x = only(
            &out,
            Status::Pass,
            &format!("rule 'reports-to-abcd': bucket policy lets {ROLE_ARN} replicate"),
        );
        assert_eq!(x.resource, DEST_ARN);
        only(
            &out,
            Status::Skip,
            "rule 'logs-to-backup': destination is in the role's account; the role's identity policy suffices",
        );
    }

    #[test]
    fn fails_when_the_policy_lacks_an_action() {
        let mut f = seed();
        f.bucket_policy("destination", |p| remove_action(p, "s3:ReplicateDelete"));
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            &format!("rule 'reports-to-abcd': bucket policy does not let {ROLE_ARN} replicate: s3:ReplicateDelete (ImplicitDeny"),
        );
    }

    #[test]
    fn fails_without_a_bucket_policy() {
        let mut f = seed();
        f.bucket("destination").policy = Fetched::absent("NoSuchBucketPolicy");
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            &format!("rule 'reports-to-abcd': clint-s3-bucket has no bucket policy, so the cross-account role {ROLE_ARN} cannot replicate into it"),
        );
    }

    #[test]
    fn an_unreadable_role_is_still_a_principal_but_an_unreadable_policy_errors() {
        let mut f = seed();
        f.principal("replication-role").details = denied("iam:GetRole");
        has(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Pass,
            "bucket policy lets",
        );
        f.bucket("destination").policy = denied("s3:GetBucketPolicy");
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Error,
            "cannot check: bucket policy of clint-s3-bucket: s3:GetBucketPolicy failed",
        );
    }

    /// An explicit Deny in the bucket policy overrides the Allow
    /// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
    #[test]
    fn an_explicit_deny_for_the_role_fails() {
        let mut f = seed();
        f.bucket_policy("destination", |p| {
            statements(p).push(serde_json::json!({"Effect": "Deny",
                "Principal": {"AWS": ROLE_ARN}, "Action": "s3:ReplicateObject",
                "Resource": format!("{DEST_ARN}/*")}));
        });
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            &format!(
                "bucket policy does not let {ROLE_ARN} replicate: s3:ReplicateObject (ExplicitDeny"
            ),
        );
    }

    /// A grant to the source account (its root) delegates to the account's principals: the
    /// bucket policy side allows the role (its identity policy is `role-destination-permissions`).
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html
    #[test]
    fn a_grant_to_the_source_account_passes_and_to_another_principal_fails() {
        let mut f = seed();
        f.bucket_policy("destination", |p| {
            statements(p)[0]["Principal"] =
                serde_json::json!({"AWS": "arn:aws:iam::111122223333:root"});
        });
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Pass,
            "bucket policy lets",
        );
        f.bucket_policy("destination", |p| {
            statements(p)[0]["Principal"] =
                serde_json::json!({"AWS": "arn:aws:iam::111122223333:role/other"});
        });
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            "s3:ReplicateObject (ImplicitDeny",
        );
    }

    /// A grant on the bucket ARN alone does not cover its objects.
    #[test]
    fn a_grant_on_the_bucket_arn_only_fails() {
        let mut f = seed();
        f.bucket_policy("destination", |p| {
            statements(p)[0]["Resource"] = serde_json::json!(DEST_ARN);
        });
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            "s3:ReplicateObject (ImplicitDeny",
        );
    }

    /// s3:ObjectOwnerOverrideToBucketOwner is needed only with owner override, and
    /// s3:ReplicateDelete only when delete markers replicate.
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-walkthrough-3.html
    #[test]
    fn owner_override_and_delete_actions_are_needed_only_when_the_rule_uses_them() {
        let mut f = seed();
        f.bucket_policy("destination", |p| {
            remove_action(p, "s3:ObjectOwnerOverrideToBucketOwner");
            remove_action(p, "s3:ReplicateDelete");
        });
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            "s3:ReplicateDelete (ImplicitDeny",
        );
        has(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            "s3:ObjectOwnerOverrideToBucketOwner (ImplicitDeny",
        );
        f.spec.replication[0].rules[0].owner_override = false;
        f.spec.replication[0].rules[0].delete_marker_replication = false;
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Pass,
            "bucket policy lets",
        );
    }

    /// In the China partition the bucket policy names aws-cn ARNs and is judged the same way.
    #[test]
    fn fails_without_the_grant_in_the_china_partition_too() {
        let mut f = seed_in_china();
        has(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Pass,
            "bucket policy lets",
        );
        f.bucket_policy("destination", |p| remove_action(p, "s3:ReplicateObject"));
        only(
            &f.run(&DestinationPolicyAllowsRole),
            Status::Fail,
            "s3:ReplicateObject (ImplicitDeny",
        );
    }
}
