use super::support::{destination_needs, role_needs_finding};
use super::{At, AuditContext, Rule, Walk};
use crate::access::IdentitySide;
use crate::findings::Finding;
use crate::spec::{Replication, ReplicationRule};

declare_rule! {
    /// ## What it checks
    /// The replication role's identity policies (within its permissions boundary) allow what
    /// S3 needs on each destination: `s3:ReplicateObject` and `s3:ReplicateTags`, plus
    /// `s3:ReplicateDelete` when delete markers replicate and
    /// `s3:ObjectOwnerOverrideToBucketOwner` when ownership is translated. This is the source
    /// account's half; a destination bucket policy in another account is checked by
    /// `destination-policy-allows-role`. A destination in the role's own account is decided
    /// with its bucket policy too (a Deny there refuses, an Allow there suffices).
    ///
    /// ## Why it matters
    /// Without `s3:ReplicateObject` nothing is written to the destination; without the owner
    /// override permission, cross-account replication with ownership translation fails.
    ///
    /// ## Example
    /// Role policy lacks `s3:ReplicateObject`: fail, naming the action.
    ///
    /// ## Fix
    /// Grant the listed actions on `arn:aws:s3:::DEST/PREFIX*`.
    pub struct RoleDestinationPermissions;
    id: "role-destination-permissions",
    title: "Replication role can write to the destination",
    severity: Critical,
    scenarios: [Step3, ScenarioD],
    remediation: "Grant the role s3:ReplicateObject, s3:ReplicateTags, s3:ReplicateDelete (when delete markers replicate) and s3:ObjectOwnerOverrideToBucketOwner (with owner override) on the destination objects.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html"],
}

impl Rule for RoleDestinationPermissions {
    fn walk(&self) -> Walk {
        Walk::Roles
    }

    fn check_role_rule(
        &self,
        cx: &AuditContext,
        _r: &Replication,
        i: usize,
        rule: &ReplicationRule,
        who: &IdentitySide,
        at: &At,
    ) -> Vec<Finding> {
        let label = rule.label(i);
        let dest = rule.destination.get_ref();
        let d = cx.bucket_name(dest);
        vec![role_needs_finding(
            &META,
            cx,
            who,
            at,
            dest,
            destination_needs(cx, rule),
            Some(&label),
            format!("{label}: role can replicate into {d}"),
            format!("{label}: role cannot replicate into {d}"),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;
    use serde_json::json;

    #[test]
    fn passes_when_the_role_can_replicate_into_both_destinations() {
        let out = seed().run(&RoleDestinationPermissions);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "rule 'reports-to-abcd': role can replicate into clint-s3-bucket",
        );
        has(
            &out,
            Status::Pass,
            "rule 'logs-to-backup': role can replicate into xyz-app-logs-backup",
        );
    }

    #[test]
    fn a_deny_in_a_same_account_destination_policy_fails() {
        // logs-backup is in the role's account: its bucket policy is evaluated with the role's.
        let mut f = seed();
        f.bucket_policy("logs-backup", |p| {
            statements(p).push(json!({"Sid": "NoReplicas", "Effect": "Deny",
                "Principal": {"AWS": ROLE_ARN}, "Action": "s3:ReplicateObject",
                "Resource": "arn:aws:s3:::xyz-app-logs-backup/*"}))
        });
        let out = f.run(&RoleDestinationPermissions);
        let x = has(
            &out,
            Status::Fail,
            "rule 'logs-to-backup': role cannot replicate into xyz-app-logs-backup: missing s3:ReplicateObject",
        );
        assert!(x.message.contains("ExplicitDeny"), "{}", x.message);
        has(
            &out,
            Status::Pass,
            "rule 'reports-to-abcd': role can replicate into clint-s3-bucket",
        );
    }

    #[test]
    fn fails_without_replicate_object() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:ReplicateObject")
        });
        let out = f.run(&RoleDestinationPermissions);
        assert_eq!(count(&out, Status::Fail), 2);
        let x = has(
            &out,
            Status::Fail,
            "rule 'reports-to-abcd': role cannot replicate into clint-s3-bucket: missing s3:ReplicateObject on arn:aws:s3:::clint-s3-bucket/reports/replaudit-sample-object (ImplicitDeny",
        );
        assert_eq!(x.scenario, Scenario::Step3);
        assert_eq!(
            has(&out, Status::Fail, "xyz-app-logs-backup").scenario,
            Scenario::ScenarioD
        );
    }

    #[test]
    fn only_what_the_rule_needs_is_required() {
        // Owner override is needed by the incident rule only; delete replication by it only.
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:ObjectOwnerOverrideToBucketOwner");
            remove_action(p, "s3:ReplicateDelete");
        });
        let out = f.run(&RoleDestinationPermissions);
        let x = only(&out, Status::Fail, "rule 'reports-to-abcd'");
        assert!(x.message.contains("s3:ReplicateDelete on"), "{}", x.message);
        assert!(
            x.message.contains("s3:ObjectOwnerOverrideToBucketOwner on"),
            "{}",
            x.message
        );
        has(&out, Status::Pass, "rule 'logs-to-backup'");
    }

    #[test]
    fn errors_when_the_role_cannot_be_evaluated() {
        let mut f = seed();
        f.snap.principals.remove(ROLE_ARN);
        let out = f.run(&RoleDestinationPermissions);
        assert_eq!(count(&out, Status::Error), 2);
        has(
            &out,
            Status::Error,
            "cannot check: principal arn:aws:iam::111122223333:role/s3_replication_role was not collected",
        );
    }

    /// Cross-account the destination bucket policy is the other owner's grant: the role's own
    /// policy must still allow (reference_policies_evaluation-logic-cross-account.html). In the
    /// role's account a bucket-policy grant alone suffices (reference_policies_evaluation-logic.html).
    #[test]
    fn a_bucket_policy_grant_suffices_in_the_role_s_account_only() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).retain(|s| s["Sid"] != "DestinationObjects")
        });
        f.bucket_policy("logs-backup", |p| {
            statements(p).push(json!({"Sid": "RoleReplicates", "Effect": "Allow",
                "Principal": {"AWS": ROLE_ARN},
                "Action": ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ReplicateDelete"],
                "Resource": "arn:aws:s3:::xyz-app-logs-backup/*"}))
        });
        let out = f.run(&RoleDestinationPermissions);
        has(
            &out,
            Status::Pass,
            "rule 'logs-to-backup': role can replicate into xyz-app-logs-backup",
        );
        // clint-s3-bucket's policy grants the role too, but it is in another account.
        has(
            &out,
            Status::Fail,
            "rule 'reports-to-abcd': role cannot replicate into clint-s3-bucket: missing s3:ReplicateObject",
        );
    }

    /// A permissions boundary caps the role: an action it does not allow is denied even when
    /// the role's policy allows it (access_policies_boundaries.html).
    #[test]
    fn a_permissions_boundary_without_the_action_fails() {
        let mut f = seed();
        let boundary = |actions: serde_json::Value| {
            Fetched::ok(Some(crate::snapshot::NamedPolicy {
                name: "boundary".into(),
                arn: Some("arn:aws:iam::111122223333:policy/boundary".into()),
                document: Fetched::ok(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Action": actions, "Resource": "*"}]})
                    .to_string(),
                ),
            }))
        };
        f.details("replication-role").permission_boundary = boundary(json!(["s3:*", "kms:*"]));
        assert_eq!(count(&f.run(&RoleDestinationPermissions), Status::Pass), 2);
        f.details("replication-role").permission_boundary =
            boundary(json!(["s3:Get*", "s3:List*", "kms:*"]));
        let out = f.run(&RoleDestinationPermissions);
        assert_eq!(count(&out, Status::Fail), 2);
        has(&out, Status::Fail, "missing s3:ReplicateObject");
    }
}
