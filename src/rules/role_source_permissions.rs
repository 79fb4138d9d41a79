use super::support::{role_needs_finding, source_needs};
use super::{At, AuditContext, Rule, Walk};
use crate::access::IdentitySide;
use crate::findings::Finding;
use crate::spec::Replication;

declare_rule! {
    /// ## What it checks
    /// The replication role's identity policies (within its permissions boundary), and the
    /// source bucket policy when the bucket is in the role's account (where its Deny refuses and
    /// its Allow suffices), allow what S3 needs on the source: `s3:GetReplicationConfiguration` and `s3:ListBucket` on the
    /// bucket, `s3:GetObjectVersionForReplication`, `s3:GetObjectVersionAcl` and
    /// `s3:GetObjectVersionTagging` on the objects of every replicated prefix. Each is decided
    /// by the policy engine.
    ///
    /// ## Why it matters
    /// Missing any of these makes replication of the affected objects fail (status FAILED),
    /// which nobody sees without metrics.
    ///
    /// ## Example
    /// Role policy lacks `s3:GetObjectVersionForReplication`: fail, naming the action.
    ///
    /// ## Fix
    /// Grant the listed actions on `arn:aws:s3:::SOURCE` and `arn:aws:s3:::SOURCE/PREFIX*`.
    pub struct RoleSourcePermissions;
    id: "role-source-permissions",
    title: "Replication role can read the source",
    severity: Critical,
    scenarios: [Step3, ScenarioD],
    remediation: "Grant the role s3:GetReplicationConfiguration and s3:ListBucket on the source bucket, and s3:GetObjectVersionForReplication, s3:GetObjectVersionAcl, s3:GetObjectVersionTagging on its objects.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html"],
}

impl Rule for RoleSourcePermissions {
    fn walk(&self) -> Walk {
        Walk::Roles
    }

    fn check_role(
        &self,
        cx: &AuditContext,
        r: &Replication,
        who: &IdentitySide,
        at: &At,
    ) -> Vec<Finding> {
        let src = cx.bucket_name(r.source.get_ref());
        vec![role_needs_finding(
            &META,
            cx,
            who,
            at,
            r.source.get_ref(),
            source_needs(cx, r),
            None,
            format!("role can read {src} for replication '{}'", r.id.get_ref()),
            format!("role cannot read {src} for replication"),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;
    use serde_json::json;

    #[test]
    fn passes_when_the_role_can_read_both_sources() {
        let out = seed().run(&RoleSourcePermissions);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "role can read rubes-s3-bucket for replication 'incident-reports'",
        );
        has(
            &out,
            Status::Pass,
            "role can read xyz-app-logs for replication 'app-logs'",
        );
    }

    #[test]
    fn fails_naming_the_missing_action() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:GetObjectVersionForReplication")
        });
        let out = f.run(&RoleSourcePermissions);
        assert_eq!(count(&out, Status::Fail), 2);
        let x = has(
            &out,
            Status::Fail,
            "role cannot read rubes-s3-bucket for replication: missing s3:GetObjectVersionForReplication on arn:aws:s3:::rubes-s3-bucket/reports/replaudit-sample-object (ImplicitDeny",
        );
        assert_eq!(x.resource, ROLE_ARN);
        assert_eq!(x.scenario, crate::findings::Scenario::Step3);
        let logs = has(&out, Status::Fail, "role cannot read xyz-app-logs");
        assert_eq!(logs.scenario, crate::findings::Scenario::ScenarioD);
    }

    #[test]
    fn an_explicit_deny_fails() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).push(json!({"Effect": "Deny", "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::xyz-app-logs"}))
        });
        only(
            &f.run(&RoleSourcePermissions),
            Status::Fail,
            "missing s3:ListBucket on arn:aws:s3:::xyz-app-logs (ExplicitDeny",
        );
    }

    #[test]
    fn a_deny_in_the_source_bucket_policy_fails() {
        // Same account: S3 evaluates the bucket policy with the role's, and its Deny refuses.
        let mut f = seed();
        f.bucket_policy("source", |p| {
            statements(p).push(json!({"Sid": "NoReplicationReads", "Effect": "Deny",
                "Principal": {"AWS": ROLE_ARN}, "Action": "s3:GetObjectVersionForReplication",
                "Resource": "arn:aws:s3:::rubes-s3-bucket/*"}))
        });
        let out = f.run(&RoleSourcePermissions);
        let x = only(
            &out,
            Status::Fail,
            "role cannot read rubes-s3-bucket for replication: missing s3:GetObjectVersionForReplication on arn:aws:s3:::rubes-s3-bucket/reports/replaudit-sample-object (ExplicitDeny",
        );
        assert!(x.message.contains("NoReplicationReads"), "{}", x.message);
        has(&out, Status::Pass, "role can read xyz-app-logs");
    }

    #[test]
    fn a_source_bucket_policy_grant_suffices_in_the_roles_account() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:GetObjectVersionTagging")
        });
        f.bucket_policy("source", |p| {
            statements(p).push(json!({"Effect": "Allow", "Principal": {"AWS": ROLE_ARN},
                "Action": "s3:GetObjectVersionTagging", "Resource": "arn:aws:s3:::rubes-s3-bucket/*"}))
        });
        let out = f.run(&RoleSourcePermissions);
        has(&out, Status::Pass, "role can read rubes-s3-bucket");
        has(&out, Status::Fail, "role cannot read xyz-app-logs");
    }

    #[test]
    fn errors_when_the_source_bucket_policy_cannot_be_read() {
        let mut f = seed();
        f.bucket("source").policy = denied("s3:GetBucketPolicy");
        let out = f.run(&RoleSourcePermissions);
        has(
            &out,
            Status::Error,
            "s3:GetBucketPolicy failed: AccessDenied",
        );
        has(&out, Status::Pass, "role can read xyz-app-logs");
    }

    #[test]
    fn errors_when_the_role_cannot_be_evaluated() {
        let mut f = seed();
        f.details("replication-role").inline_policies = denied("iam:ListRolePolicies");
        let out = f.run(&RoleSourcePermissions);
        assert_eq!(count(&out, Status::Error), 2);
        let x = has(
            &out,
            Status::Error,
            "cannot check: inline policies: iam:ListRolePolicies failed: AccessDenied",
        );
        assert_eq!(x.resource, ROLE_ARN);
    }

    /// Object permissions are asked on an object under each rule's prefix: a role policy scoped
    /// to that prefix suffices, one scoped to another prefix does not
    /// (setting-repl-config-perm-overview.html).
    #[test]
    fn a_prefix_scoped_object_grant_covers_only_its_prefix() {
        let scoped = |prefix: &'static str| {
            let mut f = seed();
            f.inline_policies("replication-role", |p| {
                for s in statements(p)
                    .iter_mut()
                    .filter(|s| s["Sid"] == "SourceObjects")
                {
                    s["Resource"] = serde_json::json!([
                        format!("arn:aws:s3:::rubes-s3-bucket/{prefix}*"),
                        "arn:aws:s3:::xyz-app-logs/*"
                    ]);
                }
            });
            f.run(&RoleSourcePermissions)
        };
        let out = scoped("reports/");
        assert_eq!(count(&out, Status::Fail), 0);
        let out = scoped("other/");
        has(&out, Status::Fail, "s3:GetObjectVersionForReplication");
    }
}
