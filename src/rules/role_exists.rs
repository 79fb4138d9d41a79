use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::{Fetched, PrincipalState};
use crate::spec::Replication;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The replication role of every replication exists in its account and could be read
    /// (trust policy, inline and attached policies, permissions boundary).
    ///
    /// ## Why it matters
    /// S3 replicates by assuming this role. A deleted or renamed role stops replication, and
    /// a role the auditor cannot read cannot be verified.
    ///
    /// ## Example
    /// `GetRole` answers `NoSuchEntity`: fail.
    ///
    /// ## Fix
    /// Create the role (trusted by `s3.amazonaws.com`) with the replication permissions, or
    /// point the replication configuration at the right role.
    pub struct RoleExists;
    id: "role-exists",
    title: "Replication role exists",
    severity: Critical,
    scenarios: [Step3, ScenarioD],
    remediation: "Create the replication role in the source account, trusted by s3.amazonaws.com, with the replication permissions.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html"],
}

impl Rule for RoleExists {
    fn walk(&self) -> Walk {
        Walk::Principals
    }

    fn check_principal(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        _replications: &[&Replication],
        st: &PrincipalState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, arn) = (at.scenario, at.resource.as_str());
        vec![match &st.details {
            Fetched::Ok { value } => META.finding(
                scenario,
                Status::Pass,
                arn,
                format!("role {arn} exists"),
                json!({"has_trust_policy": value.trust_policy.is_some()}),
            ),
            Fetched::Absent { reason } => META.finding(
                scenario,
                Status::Fail,
                arn,
                format!("role {arn} does not exist ({reason})"),
                json!({}),
            ),
            f => super::support::unknown(&META, scenario, arn, "the role", f),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_the_role_was_read() {
        let out = seed().run(&RoleExists);
        assert_eq!(out.len(), 1, "one role for both replications");
        only(&out, Status::Pass, &format!("role {ROLE_ARN} exists"));
    }

    #[test]
    fn fails_when_the_role_does_not_exist() {
        let mut f = seed();
        f.principal("replication-role").details = Fetched::absent("iam:GetRole: NoSuchEntity");
        let out = f.run(&RoleExists);
        only(
            &out,
            Status::Fail,
            &format!("role {ROLE_ARN} does not exist (iam:GetRole: NoSuchEntity)"),
        );
    }

    #[test]
    fn errors_when_the_role_could_not_be_read_or_was_not_collected() {
        let mut f = seed();
        f.principal("replication-role").details = denied("iam:GetRole");
        let out = f.run(&RoleExists);
        only(
            &out,
            Status::Error,
            "cannot check the role: iam:GetRole failed: AccessDenied",
        );
        f.snap.principals.remove(ROLE_ARN);
        only(&f.run(&RoleExists), Status::Error, "role was not collected");
    }
}
