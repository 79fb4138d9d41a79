use super::support::{error, skip, unknown};
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::policy::{self, Context, Decision, Policy, PolicySet, PrincipalEntry, Request};
use crate::snapshot::{Fetched, PrincipalState};
use crate::spec::Replication;
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
    fn walk(&self) -> Walk {
        Walk::Principals
    }

    fn check_principal(
        &self,
        cx: &AuditContext,
        _alias: &str,
        replications: &[&Replication],
        st: &PrincipalState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, arn) = (at.scenario, at.resource.as_str());
        let details = match &st.details {
            Fetched::Ok { value } => value,
            Fetched::Absent { .. } => {
                return vec![skip(
                    &META,
                    scenario,
                    arn,
                    format!(
                        "role does not exist (reported by {})",
                        super::role_exists::META.id
                    ),
                )];
            }
            f => {
                return vec![unknown(&META, scenario, arn, "the role's trust policy", f)];
            }
        };
        let Some(doc) = &details.trust_policy else {
            return vec![error(
                &META,
                scenario,
                arn,
                "role has no trust policy in the snapshot",
            )];
        };
        let trust = match Policy::parse(&format!("trust policy of {arn}"), doc) {
            Ok(p) => p,
            Err(e) => {
                return vec![error(&META, scenario, arn, e.to_string())];
            }
        };
        let role_account = st.account_id.clone();
        // S3 assumes the role on behalf of each source bucket using it. Principal
        // (s3.amazonaws.com), action and role are the same for every replication of the
        // role; only the context S3 sends differs, `aws:SourceAccount` and `aws:SourceArn`
        // of the source bucket (present only when a service principal calls:
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html,
        // the confused-deputy guard: https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
        // Each distinct source is evaluated once, and the evidence quotes one evaluation per
        // distinct outcome (decision and deciding statements) with how many replications it
        // covers, plus the sources S3 cannot assume the role for: its size does not grow
        // with the replications sharing the role.
        let mut denied_for = Vec::new();
        // One per distinct outcome: the evaluation, the first source it was seen for, and
        // how many replications it covers.
        let mut outcomes: Vec<(policy::Evaluation, String, usize)> = Vec::new();
        let mut by_source: std::collections::HashMap<(Option<&str>, String), usize> =
            std::collections::HashMap::new();
        for r in replications {
            let source = r.source.get_ref();
            let source_arn = cx.bucket_arn(source);
            let account = cx.bucket_account_id(source);
            let key = (account, source_arn.clone());
            if let Some(&i) = by_source.get(&key) {
                outcomes[i].2 += 1;
                continue;
            }
            let mut ctx = Context::new();
            if let Some(acct) = account {
                ctx.insert("aws:SourceAccount", acct);
            }
            ctx.insert("aws:SourceArn", source_arn.clone());
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
                denied_for.push(format!("{source_arn} ({})", e.decision));
            }
            let i = match outcomes
                .iter()
                .position(|o| o.0.decision == e.decision && o.0.deciding == e.deciding)
            {
                Some(i) => i,
                None => {
                    outcomes.push((e, source_arn, 0));
                    outcomes.len() - 1
                }
            };
            outcomes[i].2 += 1;
            by_source.insert(key, i);
        }
        let evaluations: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(e, example, n)| {
                let mut v =
                    crate::access::evidence("sts:AssumeRole", arn, crate::access::Leg::Full, e);
                v["replications"] = json!(n);
                v["example_source"] = json!(example);
                v
            })
            .collect();
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
            "replications": replications.len(),
            "s3_assume_role": evaluations,
            "s3_cannot_assume_for": denied_for,
            "other_trusted_principals": other_desc,
            // Parsed above, so it is JSON.
            "trust_policy": crate::findings::cite_document(
                "trust-policy",
                arn,
                serde_json::from_str::<serde_json::Value>(doc).unwrap_or(serde_json::Value::Null),
            ),
        });
        let mut problems = Vec::new();
        if !denied_for.is_empty() {
            // The message names the first few; the evidence has them all.
            const NAMED: usize = 10;
            let mut named = denied_for
                .iter()
                .take(NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if denied_for.len() > NAMED {
                named.push_str(&format!(
                    " and {} more source buckets (evidence: s3_cannot_assume_for)",
                    denied_for.len() - NAMED
                ));
            }
            problems.push(format!(
                "s3.amazonaws.com cannot assume the role for {named}"
            ));
        }
        if !other_desc.is_empty() {
            problems.push(format!(
                "the trust policy also lets {} assume the role",
                other_desc.join("; ")
            ));
        }
        vec![if problems.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                arn,
                "only s3.amazonaws.com can assume the role",
                evidence,
            )
        } else {
            META.finding(scenario, Status::Fail, arn, problems.join("; "), evidence)
        }]
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
        let x = only(
            &f.run(&RoleTrust),
            Status::Fail,
            "s3.amazonaws.com cannot assume the role for arn:aws:s3:::xyz-app-logs (ImplicitDeny)",
        );
        // One evaluation per outcome, each with the replications it covers; the failing source
        // by name; the trust policy cited, not copied.
        let e = &x.evidence;
        assert_eq!(e["replications"], 2);
        let outcomes = e["s3_assume_role"].as_array().unwrap();
        assert_eq!(outcomes.len(), 2, "{e}");
        assert_eq!(outcomes[0]["decision"], "Allowed");
        assert_eq!(outcomes[0]["replications"], 1);
        assert_eq!(
            outcomes[0]["example_source"],
            "arn:aws:s3:::rubes-s3-bucket"
        );
        assert_eq!(outcomes[1]["decision"], "ImplicitDeny");
        assert_eq!(
            e["s3_cannot_assume_for"],
            json!(["arn:aws:s3:::xyz-app-logs (ImplicitDeny)"])
        );
        assert_eq!(
            e["trust_policy"]["document"],
            format!("doc:trust-policy:{ROLE_ARN}")
        );
    }

    /// Issue 22: the replications sharing a role share one trust decision when the trust
    /// policy does not tell their sources apart: one evaluation, counted, however many.
    #[test]
    fn one_evaluation_covers_every_replication_with_the_same_outcome() {
        let x = only(&seed().run(&RoleTrust), Status::Pass, "only s3");
        let outcomes = x.evidence["s3_assume_role"].as_array().unwrap();
        assert_eq!(outcomes.len(), 1, "{}", x.evidence);
        assert_eq!(outcomes[0]["replications"], 2);
        assert_eq!(x.evidence["s3_cannot_assume_for"], json!([]));
    }

    #[test]
    fn names_at_most_ten_denied_sources_in_the_message() {
        let (spec, snap) = crate::rules::testkit::shared_role_estate(12);
        let mut f = Fixture {
            spec: spec.spec,
            snap,
        };
        trust(
            &mut f,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:s3:::rubes-s3-bucket"}}}]}),
        );
        let x = only(
            &f.run(&RoleTrust),
            Status::Fail,
            "and 3 more source buckets (evidence: s3_cannot_assume_for)",
        );
        assert_eq!(
            x.message.matches("(ImplicitDeny)").count(),
            10,
            "{}",
            x.message
        );
        assert_eq!(
            x.evidence["s3_cannot_assume_for"].as_array().unwrap().len(),
            13
        );
        assert_eq!(x.evidence["replications"], 14);
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
