use super::support::{error, skip, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Status};
use crate::policy::{self, Context, Decision, Policy, PolicySet, PrincipalEntry, Request};
use crate::snapshot::Fetched;
use serde_json::json;

const S3_SERVICE: &str = "s3.amazonaws.com";

declare_rule! {
    /// ## What it checks
    /// The replication role's trust policy lets `s3.amazonaws.com` assume it (evaluated with
    /// the policy engine, with the `aws:SourceAccount` / `aws:SourceArn` S3 sends), and lets
    /// no other principal assume it.
    ///
    /// ## Why it matters
    /// If S3 cannot assume the role, nothing replicates. If anyone else can (another service,
    /// an account, a user), they get the role's read access to every incident report and its
    /// write access to ABCD's bucket — a confused-deputy and exfiltration path.
    ///
    /// ## Example
    /// Trust policy principal `ec2.amazonaws.com`: fail (S3 cannot assume it; EC2 can).
    ///
    /// ## Fix
    /// Trust policy: `{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},
    /// "Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"SOURCE-ACCOUNT"}}}`
    /// and nothing else.
    pub struct RoleTrust;
    id: "role-trust",
    title: "Replication role trusted by S3 and no one else",
    severity: Critical,
    scenarios: [Step3, ScenarioD],
    remediation: "Make the trust policy allow only the s3.amazonaws.com service principal to sts:AssumeRole (with an aws:SourceAccount condition).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
    ],
}

impl Rule for RoleTrust {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, replications) in cx.replication_roles() {
            let scenario = cx.role_scenario(alias);
            let arn = cx.principal_arn(alias);
            let Some(st) = cx.snap.principal(arn) else {
                out.push(error(&META, scenario, arn, "role was not collected"));
                continue;
            };
            let details = match &st.details {
                Fetched::Ok { value } => value,
                Fetched::Absent { .. } => {
                    out.push(skip(
                        &META,
                        scenario,
                        arn,
                        format!(
                            "role does not exist (reported by {})",
                            super::role_exists::META.id
                        ),
                    ));
                    continue;
                }
                f => {
                    out.push(unknown(&META, scenario, arn, "the role's trust policy", f));
                    continue;
                }
            };
            let Some(doc) = &details.trust_policy else {
                out.push(error(
                    &META,
                    scenario,
                    arn,
                    "role has no trust policy in the snapshot",
                ));
                continue;
            };
            let trust = match Policy::parse(&format!("trust policy of {arn}"), doc) {
                Ok(p) => p,
                Err(e) => {
                    out.push(error(&META, scenario, arn, e.to_string()));
                    continue;
                }
            };
            let role_account = st.account_id.clone();
            // S3 assumes the role on behalf of each source bucket using it.
            let mut denied_for = Vec::new();
            let mut evaluations = Vec::new();
            for r in &replications {
                let source = r.source.get_ref();
                let mut ctx = Context::new();
                if let Some(acct) = cx.bucket_account_id(source) {
                    ctx.insert("aws:SourceAccount", acct);
                }
                ctx.insert("aws:SourceArn", cx.bucket_arn(source));
                let req = Request {
                    principal: S3_SERVICE.to_string(),
                    principal_account: None,
                    action: "sts:AssumeRole".into(),
                    resource: arn.to_string(),
                    resource_account: Some(role_account.clone()),
                    context: ctx,
                };
                let e = policy::evaluate(
                    &req,
                    &PolicySet {
                        resource: Some(&trust),
                        ..PolicySet::default()
                    },
                );
                if e.decision != Decision::Allowed {
                    denied_for.push(format!("{} ({})", cx.bucket_arn(source), e.decision));
                }
                evaluations.push(crate::access::evidence(
                    "sts:AssumeRole",
                    arn,
                    crate::access::Leg::Full,
                    &e,
                ));
            }
            let others: Vec<_> = policy::grants(&trust, &["sts:AssumeRole"], arn)
                .into_iter()
                .filter(|g| {
                    g.not_principal
                        || !matches!(&g.principal, PrincipalEntry::Service(s) if s == S3_SERVICE)
                })
                .collect();
            let other_desc: Vec<String> = others
                .iter()
                .map(|g| {
                    format!(
                        "{} via {}",
                        if g.not_principal {
                            format!("everyone except {:?}", g.principal)
                        } else {
                            format!("{:?}", g.principal)
                        },
                        g.statement
                    )
                })
                .collect();
            let evidence = json!({
                "s3_assume_role": evaluations,
                "other_trusted_principals": other_desc,
                "trust_policy": serde_json::from_str::<serde_json::Value>(doc).unwrap_or(serde_json::Value::Null),
            });
            let mut problems = Vec::new();
            if !denied_for.is_empty() {
                problems.push(format!(
                    "s3.amazonaws.com cannot assume the role for {}",
                    denied_for.join(", ")
                ));
            }
            if !other_desc.is_empty() {
                problems.push(format!(
                    "the trust policy also lets {} assume the role",
                    other_desc.join("; ")
                ));
            }
            out.push(if problems.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    arn,
                    "only s3.amazonaws.com can assume the role",
                    evidence,
                )
            } else {
                META.finding(scenario, Status::Fail, arn, problems.join("; "), evidence)
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn trust(f: &mut Fixture, doc: serde_json::Value) {
        f.details("replication-role").trust_policy = Some(doc.to_string());
    }

    #[test]
    fn passes_when_only_s3_can_assume_the_role() {
        let out = seed().run(&RoleTrust);
        only(
            &out,
            Status::Pass,
            "only s3.amazonaws.com can assume the role",
        );
    }

    #[test]
    fn fails_when_s3_is_not_trusted() {
        let mut f = seed();
        trust(
            &mut f,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        );
        let x = only(
            &f.run(&RoleTrust),
            Status::Fail,
            "s3.amazonaws.com cannot assume the role for arn:aws:s3:::rubes-s3-bucket (ImplicitDeny), arn:aws:s3:::xyz-app-logs (ImplicitDeny)",
        );
        assert!(x
            .message
            .contains("also lets Service(\"ec2.amazonaws.com\")"));
    }

    #[test]
    fn fails_when_a_source_account_condition_excludes_a_source() {
        let mut f = seed();
        trust(
            &mut f,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:s3:::rubes-s3-bucket"}}}]}),
        );
        only(
            &f.run(&RoleTrust),
            Status::Fail,
            "s3.amazonaws.com cannot assume the role for arn:aws:s3:::xyz-app-logs (ImplicitDeny)",
        );
    }

    #[test]
    fn fails_when_someone_else_is_trusted_too() {
        let mut f = seed();
        trust(
            &mut f,
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"},
                {"Sid": "Ops", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"}]}),
        );
        let x = only(
            &f.run(&RoleTrust),
            Status::Fail,
            "the trust policy also lets",
        );
        assert!(x.message.contains("444455556666"), "{}", x.message);
        assert!(!x.message.contains("cannot assume"), "{}", x.message);
    }

    #[test]
    fn errors_on_unreadable_missing_or_broken_trust_and_skips_a_missing_role() {
        let mut f = seed();
        f.details("replication-role").trust_policy = None;
        only(
            &f.run(&RoleTrust),
            Status::Error,
            "role has no trust policy in the snapshot",
        );
        f.details("replication-role").trust_policy = Some("{not json".into());
        only(&f.run(&RoleTrust), Status::Error, "cannot check: ");
        f.principal("replication-role").details = denied("iam:GetRole");
        only(
            &f.run(&RoleTrust),
            Status::Error,
            "cannot check the role's trust policy: iam:GetRole failed: AccessDenied",
        );
        f.principal("replication-role").details = Fetched::absent("NoSuchEntity");
        only(
            &f.run(&RoleTrust),
            Status::Skip,
            "role does not exist (reported by role-exists)",
        );
        f.snap.principals.remove(ROLE_ARN);
        only(&f.run(&RoleTrust), Status::Error, "role was not collected");
    }
}
