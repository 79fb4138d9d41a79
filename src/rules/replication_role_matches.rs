use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::ReplicationConfiguration;
use crate::spec::Replication;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The replication configuration names the replication role of the spec.
    ///
    /// ## Why it matters
    /// S3 replicates with whatever role the configuration names. Another role may have
    /// broader (or no) permissions than the audited one, so every other role check would be
    /// about the wrong role.
    ///
    /// ## Example
    /// Configuration role `arn:aws:iam::111122223333:role/old-replication`: fail.
    ///
    /// ## Fix
    /// Put the replication configuration again with `"Role": "<spec role ARN>"`.
    pub struct ReplicationRoleMatches;
    id: "replication-role-matches",
    title: "Replication configuration uses the expected role",
    severity: High,
    scenarios: [Step4, ScenarioD],
    remediation: "Set the replication configuration's Role to the audited replication role.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html"],
}

impl Rule for ReplicationRoleMatches {
    fn walk(&self) -> Walk {
        Walk::Replications
    }

    fn check_replication(
        &self,
        cx: &AuditContext,
        r: &Replication,
        live: &ReplicationConfiguration,
        at: &At,
    ) -> Vec<Finding> {
        let want = cx.principal_arn(r.role.get_ref());
        let ok = live.role == want;
        vec![META.finding(
            at.scenario,
            if ok { Status::Pass } else { Status::Fail },
            at.resource.as_str(),
            if ok {
                format!("replication '{}' uses role {want}", r.id.get_ref())
            } else {
                format!(
                    "replication '{}' uses role {}, expected {want}",
                    r.id.get_ref(),
                    live.role
                )
            },
            json!({"expected_role": want, "actual_role": live.role}),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_with_the_audited_role() {
        let out = seed().run(&ReplicationRoleMatches);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            &format!("replication 'incident-reports' uses role {ROLE_ARN}"),
        );
    }

    #[test]
    fn fails_with_another_role() {
        let mut f = seed();
        f.replication("logs").role = "arn:aws:iam::111122223333:role/other".into();
        let x = only(
            &f.run(&ReplicationRoleMatches),
            Status::Fail,
            &format!(
                "replication 'app-logs' uses role arn:aws:iam::111122223333:role/other, expected {ROLE_ARN}"
            ),
        );
        assert_eq!(x.scenario, Scenario::ScenarioD);
    }

    #[test]
    fn errors_when_the_configuration_is_unreadable() {
        let mut f = seed();
        f.bucket("logs").replication = denied("s3:GetBucketReplication");
        only(
            &f.run(&ReplicationRoleMatches),
            Status::Error,
            "cannot check the replication configuration: s3:GetBucketReplication failed",
        );
    }
}
