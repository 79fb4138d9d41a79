use super::support::{error, skip, unknown};
use super::{AuditContext, Rule};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Where the AWS Config managed rules that cover this scenario are deployed
    /// (`s3-bucket-replication-enabled`, `s3-bucket-versioning-enabled`,
    /// `s3-bucket-level-public-access-prohibited`, `s3-bucket-server-side-encryption-enabled`,
    /// `s3-bucket-ssl-requests-only`), their compliance for each audited bucket is shown beside
    /// the verdict of the replaudit rule that asks the same question (`replication-rule-enabled`,
    /// `bucket-versioning`, `bucket-public-access-block`, `bucket-default-encryption`,
    /// `bucket-tls-only`), and a disagreement fails. An agreement is a pass of this rule only:
    /// when both say NON_COMPLIANT, the message names the replaudit rule that reports the problem.
    /// Rules are read from every page of `DescribeConfigRules`, in every Region that holds one of
    /// the account's buckets (a rule evaluates the buckets of its own Region only).
    ///
    /// ## Why it matters
    /// Two independent evaluators agreeing is evidence; disagreeing means one of them sees
    /// stale or different data (a rule not re-evaluated since a change, a recorder gap) — which
    /// is exactly what an auditor must look at.
    ///
    /// ## Example
    /// Config says `s3-bucket-versioning-enabled` COMPLIANT for `clint-s3-bucket`, replaudit
    /// reads versioning Suspended: fail.
    ///
    /// ## Fix
    /// Re-evaluate the Config rule (`aws configservice start-config-rules-evaluation`) and
    /// check the recorder; then fix whichever side is right about a real problem.
    pub struct ConfigRuleAgreement;
    id: "config-rule-agreement",
    title: "AWS Config managed rules agree with replaudit",
    severity: Low,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Re-run the AWS Config rule evaluation and check the configuration recorder; then fix the underlying setting.",
    references: [
        "https://docs.aws.amazon.com/config/latest/developerguide/managed-rules-by-aws-config.html",
        "https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeConfigRules.html",
        "https://docs.aws.amazon.com/config/latest/APIReference/API_GetComplianceDetailsByConfigRule.html",
    ],
}

impl Rule for ConfigRuleAgreement {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, acct) in &cx.spec.accounts {
            let resource = format!(
                "arn:{}:config:::account/{}",
                cx.account_partition(alias),
                acct.account_id.get_ref()
            );
            let Some(st) = cx.snap.accounts.get(alias) else {
                continue;
            };
            let buckets: Vec<&String> = cx
                .spec
                .buckets
                .iter()
                .filter(|(_, b)| b.account.get_ref() == alias)
                .map(|(k, _)| k)
                .collect();
            let Some(scenario) = buckets.iter().map(|b| cx.bucket_scenario(b)).min() else {
                continue;
            };
            let results = match &st.config_compliance {
                Fetched::Ok { value } => value,
                f => {
                    out.push(unknown(
                        &META,
                        scenario,
                        &resource,
                        "AWS Config rule compliance",
                        f,
                    ));
                    continue;
                }
            };
            if results.is_empty() {
                out.push(skip(&META, scenario, &resource, format!("none of the covering AWS Config managed rules is deployed (or evaluated) in account {}", acct.account_id.get_ref())));
                continue;
            }
            for b in buckets {
                let name = cx.bucket_name(b);
                let scenario = cx.bucket_scenario(b);
                let bucket_arn = cx.bucket_arn(b);
                for r in results.iter().filter(|r| r.resource_id == name) {
                    let theirs = match r.compliance.as_str() {
                        "COMPLIANT" => true,
                        "NON_COMPLIANT" => false,
                        other => {
                            out.push(skip(
                                &META,
                                scenario,
                                &bucket_arn,
                                format!(
                                    "AWS Config rule {} reports {other} for {name}",
                                    r.rule_name
                                ),
                            ));
                            continue;
                        }
                    };
                    let ours = match own_verdict(cx, &r.source_identifier, b) {
                        Ok(v) => v,
                        Err(e) => {
                            out.push(error(
                                &META,
                                scenario,
                                &bucket_arn,
                                format!("{}: {e}", r.rule_name),
                            ));
                            continue;
                        }
                    };
                    let word = |c: bool| if c { "COMPLIANT" } else { "NON_COMPLIANT" };
                    let ours_rule = counterpart(&r.source_identifier);
                    let evidence = json!({"config_rule": r.rule_name, "source_identifier": r.source_identifier, "aws_config": r.compliance, "replaudit": word(ours), "replaudit_rule": ours_rule});
                    // An agreement on NON_COMPLIANT is agreement, not compliance: the message
                    // says which replaudit rule reports the problem itself.
                    let note = if ours {
                        String::new()
                    } else {
                        format!("; the problem itself is reported by {ours_rule}")
                    };
                    out.push(if ours == theirs {
                        META.finding(
                            scenario,
                            Status::Pass,
                            &bucket_arn,
                            format!(
                                "{}: AWS Config and replaudit's {ours_rule} agree: {}{note}",
                                r.rule_name,
                                word(ours)
                            ),
                            evidence,
                        )
                    } else {
                        META.finding(
                            scenario,
                            Status::Fail,
                            &bucket_arn,
                            format!(
                                "{}: AWS Config says {} but replaudit's {ours_rule} finds {}",
                                r.rule_name,
                                r.compliance,
                                word(ours)
                            ),
                            evidence,
                        )
                    });
                }
            }
        }
        out
    }
}

/// The replaudit rule that answers the question a managed rule asks: an agreement names it, so
/// a PASS says which of replaudit's own checks Config agrees with.
fn counterpart(source_identifier: &str) -> &'static str {
    match source_identifier {
        "S3_BUCKET_REPLICATION_ENABLED" => super::replication_rule_enabled::META.id,
        "S3_BUCKET_VERSIONING_ENABLED" => super::bucket_versioning::META.id,
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED" => super::bucket_public_access_block::META.id,
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED" => super::bucket_default_encryption::META.id,
        "S3_BUCKET_SSL_REQUESTS_ONLY" => super::bucket_tls_only::META.id,
        _ => "replaudit",
    }
}

/// replaudit's answer to the question a managed rule asks, from the snapshot.
fn own_verdict(
    cx: &AuditContext,
    source_identifier: &str,
    alias: &str,
) -> Result<bool, crate::access::Error> {
    let b = cx
        .bucket_state(alias)
        .ok_or_else(|| crate::access::Error::NotCollected("bucket".into()))?;
    let why = |f: Option<String>| crate::access::Error::Unreadable(f.unwrap_or_default());
    match source_identifier {
        // NON_COMPLIANT when there is no replication rule or any rule is disabled.
        // <https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-replication-enabled.html>
        "S3_BUCKET_REPLICATION_ENABLED" => match &b.replication {
            Fetched::Ok { value } => Ok(!value.rules.is_empty()
                && value
                    .rules
                    .iter()
                    .all(|r| r.status.eq_ignore_ascii_case("Enabled"))),
            Fetched::Absent { .. } => Ok(false),
            f => Err(why(f.why_missing())),
        },
        "S3_BUCKET_VERSIONING_ENABLED" => b
            .versioning
            .value()
            .map(|v| v == "Enabled")
            .ok_or_else(|| why(b.versioning.why_missing())),
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED" => match &b.public_access_block {
            Fetched::Ok { value } => Ok(value.all_on()),
            Fetched::Absent { .. } => Ok(false),
            f => Err(why(f.why_missing())),
        },
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED" => match &b.encryption {
            Fetched::Ok { value } => Ok(!value.is_empty()),
            Fetched::Absent { .. } => Ok(false),
            f => Err(why(f.why_missing())),
        },
        // Compliant when the bucket policy explicitly denies every request without TLS, on the
        // bucket and on its objects: replaudit's `bucket-tls-only` asks the same question.
        // <https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-ssl-requests-only.html>
        "S3_BUCKET_SSL_REQUESTS_ONLY" => {
            super::bucket_tls_only::allowed_over_http(cx, alias).map(|a| a.is_empty())
        }
        other => Err(crate::access::Error::Undecided(format!(
            "unknown managed rule {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn compliance<'a>(
        f: &'a mut Fixture,
        alias: &str,
    ) -> &'a mut Vec<crate::snapshot::ConfigCompliance> {
        match &mut f.account(alias).config_compliance {
            Fetched::Ok { value } => value,
            _ => panic!("fixture has Config compliance for {alias}"),
        }
    }

    fn set(f: &mut Fixture, alias: &str, rule: &str, bucket: &str, value: &str) {
        compliance(f, alias)
            .iter_mut()
            .find(|c| c.rule_name == rule && c.resource_id == bucket)
            .unwrap_or_else(|| panic!("no {rule} result for {bucket}"))
            .compliance = value.into();
    }

    #[test]
    fn passes_when_config_and_replaudit_agree() {
        let out = seed().run(&ConfigRuleAgreement);
        assert_eq!(
            count(&out, Status::Pass),
            20,
            "5 managed rules on 4 buckets"
        );
        clean(
            &out,
            "s3-bucket-versioning-enabled: AWS Config and replaudit's bucket-versioning agree: COMPLIANT",
        );
        has(
            &out,
            Status::Pass,
            "s3-bucket-ssl-requests-only: AWS Config and replaudit's bucket-tls-only agree: COMPLIANT",
        );
        // The destination replicates nowhere: both say so, and the pass says who reports it.
        has(
            &out,
            Status::Pass,
            "s3-bucket-replication-enabled: AWS Config and replaudit's replication-rule-enabled agree: NON_COMPLIANT; the problem itself is reported by replication-rule-enabled",
        );
    }

    #[test]
    fn fails_when_they_disagree() {
        let mut f = seed();
        f.bucket("source").versioning = Fetched::ok("Suspended".into());
        let x = only(
            &f.run(&ConfigRuleAgreement),
            Status::Fail,
            "s3-bucket-versioning-enabled: AWS Config says COMPLIANT but replaudit's bucket-versioning finds NON_COMPLIANT",
        );
        assert_eq!(x.resource, SOURCE_ARN);
        let mut f = seed();
        set(
            &mut f,
            "xyz",
            "s3-bucket-replication-enabled",
            "rubes-s3-bucket",
            "NON_COMPLIANT",
        );
        only(
            &f.run(&ConfigRuleAgreement),
            Status::Fail,
            "s3-bucket-replication-enabled: AWS Config says NON_COMPLIANT but replaudit's replication-rule-enabled finds COMPLIANT",
        );
    }

    #[test]
    fn each_managed_rule_is_judged_from_the_snapshot() {
        let mut f = seed();
        f.live_rule("logs", "logs-to-backup").status = "Disabled".into();
        f.bucket("logs").public_access_block = Fetched::absent("none");
        f.bucket("logs").encryption = Fetched::absent("none");
        let out = f.run(&ConfigRuleAgreement);
        for (rule, ours) in [
            ("s3-bucket-replication-enabled", "replication-rule-enabled"),
            (
                "s3-bucket-level-public-access-prohibited",
                "bucket-public-access-block",
            ),
            (
                "s3-bucket-server-side-encryption-enabled",
                "bucket-default-encryption",
            ),
        ] {
            has(
                &out,
                Status::Fail,
                &format!(
                    "{rule}: AWS Config says COMPLIANT but replaudit's {ours} finds NON_COMPLIANT"
                ),
            );
        }
        let mut f = seed();
        f.bucket_policy("logs", |p| {
            statements(p).retain(|s| s["Sid"] != "DenyInsecureTransport")
        });
        only(
            &f.run(&ConfigRuleAgreement),
            Status::Fail,
            "s3-bucket-ssl-requests-only: AWS Config says COMPLIANT but replaudit's bucket-tls-only finds NON_COMPLIANT",
        );
    }

    #[test]
    fn skips_other_states_and_errors_when_unreadable() {
        let mut f = seed();
        set(
            &mut f,
            "abcd",
            "s3-bucket-versioning-enabled",
            "clint-s3-bucket",
            "INSUFFICIENT_DATA",
        );
        f.bucket("source").policy = denied("s3:GetBucketPolicy");
        let out = f.run(&ConfigRuleAgreement);
        only(
            &out,
            Status::Skip,
            "AWS Config rule s3-bucket-versioning-enabled reports INSUFFICIENT_DATA for clint-s3-bucket",
        );
        only(
            &out,
            Status::Error,
            "cannot check: s3-bucket-ssl-requests-only: bucket policy of rubes-s3-bucket: s3:GetBucketPolicy failed",
        );
        f.account("xyz").config_compliance = denied("config:GetComplianceDetailsByConfigRule");
        has(
            &f.run(&ConfigRuleAgreement),
            Status::Error,
            "cannot check AWS Config rule compliance: config:GetComplianceDetailsByConfigRule failed",
        );
        compliance(&mut f, "abcd").clear();
        has(
            &f.run(&ConfigRuleAgreement),
            Status::Skip,
            "none of the covering AWS Config managed rules is deployed (or evaluated) in account 271089868719",
        );
    }
}

/// Tests that build their states from nothing (the testkit's builders) rather than mutating
/// the seed fixture.
#[cfg(test)]
mod built {
    use super::*;
    use crate::rules::bucket_tls_only::tests::{snapshot, spec, TLS_DENY, TOM_READS};
    use crate::snapshot::{AccountState, ConfigCompliance};

    fn with_config(statements: &[&str], compliance: &str) -> Vec<Finding> {
        let spec = spec();
        let mut snap = snapshot(statements);
        fn u<T>() -> Fetched<T> {
            Fetched::unknown("test", None, "not in this test")
        }
        snap.accounts.insert(
            "xyz".into(),
            AccountState {
                alias: "xyz".into(),
                expected_account_id: "111122223333".into(),
                caller: u(),
                public_access_block: u(),
                trails: u(),
                config: u(),
                config_by_region: Default::default(),
                config_compliance: Fetched::ok(vec![ConfigCompliance {
                    rule_name: "s3-bucket-ssl-requests-only".into(),
                    source_identifier: "S3_BUCKET_SSL_REQUESTS_ONLY".into(),
                    resource_type: "AWS::S3::Bucket".into(),
                    resource_id: "rubes-s3-bucket".into(),
                    compliance: compliance.into(),
                }]),
                change_events: u(),
            },
        );
        let cx = AuditContext::new(&spec, &snap);
        ConfigRuleAgreement
            .check(&cx)
            .into_iter()
            .filter(|f| f.resource == "arn:aws:s3:::rubes-s3-bucket")
            .collect()
    }

    /// Agreeing on NON_COMPLIANT is not a clean bill: the message names the replaudit rule that
    /// checks TLS-only access and reports the problem.
    #[test]
    fn agreement_on_a_missing_tls_deny_names_bucket_tls_only() {
        let f = with_config(&[TOM_READS], "NON_COMPLIANT");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Pass);
        assert_eq!(
            f[0].message,
            "s3-bucket-ssl-requests-only: AWS Config and replaudit's bucket-tls-only agree: NON_COMPLIANT; the problem itself is reported by bucket-tls-only"
        );
        assert_eq!(f[0].evidence["replaudit_rule"], "bucket-tls-only");
    }

    #[test]
    fn disagreement_with_bucket_tls_only_fails() {
        let f = with_config(&[TOM_READS], "COMPLIANT");
        assert_eq!(f[0].status, Status::Fail);
        assert!(
            f[0].message
                .contains("replaudit's bucket-tls-only finds NON_COMPLIANT"),
            "{}",
            f[0].message
        );
        let f = with_config(&[TOM_READS, TLS_DENY], "NON_COMPLIANT");
        assert_eq!(f[0].status, Status::Fail, "{}", f[0].message);
        let f = with_config(&[TOM_READS, TLS_DENY], "COMPLIANT");
        assert_eq!(f[0].status, Status::Pass, "{}", f[0].message);
        assert!(
            f[0].message.ends_with("agree: COMPLIANT"),
            "{}",
            f[0].message
        );
    }
}
