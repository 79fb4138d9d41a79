use super::support::{ask, error, sample_key, skip};
use super::{AuditContext, Rule};
use crate::access::{bucket_policy, identity_side, restrict_public_buckets, IdentitySide, Leg};
use crate::findings::{Finding, Scenario, Status};
use serde_json::json;

/// An account id that is no real account's: the "anyone from another account" probe.
const OUTSIDE_ACCOUNT: &str = "000000000000";

declare_rule! {
    /// ## What it checks
    /// Scenario C: only the named uploaders can write into the replicated prefixes. S3
    /// replication filters on prefix and tags, never on who uploaded, so "only objects
    /// uploaded by these users replicate" holds only if no one else can write there. The
    /// policy engine proves, for each prefix: every uploader is allowed `s3:PutObject`; every
    /// named non-uploader is denied; and an *arbitrary* identity of the bucket's own account
    /// holding `s3:*` in its identity policy, and one from another account, are denied too —
    /// i.e. the bucket policy itself enforces the restriction, not the current set of IAM
    /// policies.
    ///
    /// ## Why it matters
    /// Anyone who can write into `reports/` can have their objects copied into ABCD's account.
    /// An identity-policy-only restriction breaks the day an admin grants `s3:*` to someone.
    ///
    /// ## Example
    /// Bucket policy without a Deny for non-uploaders: the synthetic same-account admin is
    /// allowed `s3:PutObject` on `reports/…`: fail.
    ///
    /// ## Fix
    /// Add to the bucket policy: `{"Effect":"Deny","Principal":"*","Action":"s3:PutObject",
    /// "Resource":"arn:aws:s3:::SOURCE/reports/*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":[UPLOADER-ARNS]}}}`.
    pub struct UploaderRestriction;
    id: "uploader-restriction",
    title: "Only the expected uploaders can write into replicated prefixes",
    severity: High,
    scenarios: [ScenarioC],
    remediation: "Deny s3:PutObject on the replicated prefixes in the bucket policy for every principal except the uploaders (ArnNotEquals aws:PrincipalArn).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html#replication-config-optional-filter",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn",
    ],
}

impl Rule for UploaderRestriction {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let scenario = Scenario::ScenarioC;
        let Some(c) = &cx.spec.scenario_c else {
            return vec![skip(
                &META,
                scenario,
                "-",
                "the spec declares no scenario C",
            )];
        };
        let bucket = c.bucket.get_ref();
        let account = cx.bucket_account_id(bucket).unwrap_or_default();
        let policy = match bucket_policy(cx.snap, bucket) {
            Ok(p) => p,
            Err(e) => return vec![error(&META, scenario, &cx.bucket_arn(bucket), e)],
        };
        let restrict = match restrict_public_buckets(cx.snap, cx.spec, bucket, policy.as_ref()) {
            Ok(r) => r,
            Err(e) => return vec![error(&META, scenario, &cx.bucket_arn(bucket), e)],
        };
        let mut probes: Vec<(String, Result<IdentitySide, crate::access::Error>, bool)> =
            Vec::new();
        for u in &c.uploaders {
            let arn = cx.principal_arn(u.get_ref());
            probes.push((arn.to_string(), identity_side(cx.snap, arn), true));
        }
        for u in &c.non_uploaders {
            let arn = cx.principal_arn(u.get_ref());
            probes.push((arn.to_string(), identity_side(cx.snap, arn), false));
        }
        let partition = cx.bucket_partition(bucket);
        let inside =
            IdentitySide::synthetic_admin(partition, account, "replaudit-any-other-identity");
        probes.push((
            format!("any other identity of {account} with s3:* ({})", inside.arn),
            Ok(inside),
            false,
        ));
        let outside =
            IdentitySide::synthetic_admin(partition, OUTSIDE_ACCOUNT, "replaudit-outsider");
        probes.push((
            format!(
                "any identity of another account with s3:* ({})",
                outside.arn
            ),
            Ok(outside),
            false,
        ));
        let mut out = Vec::new();
        for prefix in &c.prefixes {
            let object = cx.object_arn(bucket, &sample_key(prefix));
            for (label, who, must_allow) in &probes {
                let who = match who {
                    Ok(w) => w,
                    Err(e) => {
                        out.push(error(&META, scenario, &object, format!("{label}: {e}")));
                        continue;
                    }
                };
                let a = ask(
                    cx,
                    who,
                    "s3:PutObject",
                    &object,
                    account,
                    policy.as_ref(),
                    restrict,
                    &[],
                    Leg::Full,
                );
                let evidence = json!({"principal": label, "expected": if *must_allow { "Allowed" } else { "Denied" }, "s3": a.evidence});
                let (status, msg) = match (*must_allow, a.allowed()) {
                    (true, true) => (Status::Pass, format!("uploader {label} can write into '{prefix}' ({})", a.summary())),
                    (true, false) => (Status::Fail, format!("uploader {label} cannot write into '{prefix}': {} ({})", a.eval.decision, a.summary())),
                    (false, false) => (Status::Pass, format!("{label} cannot write into '{prefix}' ({}: {})", a.eval.decision, a.summary())),
                    (false, true) => (Status::Fail, format!("{label} can write into '{prefix}' ({}), so its objects would replicate", a.summary())),
                };
                out.push(META.finding(scenario, status, &object, msg, evidence));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    const L2: &str = "arn:aws:iam::111122223333:user/l2-engineer";
    const INTERN: &str = "arn:aws:iam::111122223333:user/xyz-intern";

    #[test]
    fn passes_when_only_the_uploader_can_write() {
        let out = seed().run(&UploaderRestriction);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(&out, &format!("uploader {L2} can write into 'reports/'"));
        has(
            &out,
            Status::Pass,
            &format!("{INTERN} cannot write into 'reports/' (ExplicitDeny"),
        );
        has(
            &out,
            Status::Pass,
            "any other identity of 111122223333 with s3:*",
        );
        has(
            &out,
            Status::Pass,
            "any identity of another account with s3:*",
        );
    }

    #[test]
    fn fails_when_the_deny_statement_is_missing() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            statements(p).retain(|s| s["Sid"] != "OnlyUploadersWriteReplicatedPrefixes")
        });
        let out = f.run(&UploaderRestriction);
        assert_eq!(
            count(&out, Status::Fail),
            2,
            "the intern and any other identity of the account"
        );
        has(
            &out,
            Status::Fail,
            &format!("{INTERN} can write into 'reports/' (identity-based policy"),
        )
        .message
        .ends_with("so its objects would replicate")
        .then_some(())
        .expect("says why it matters");
        has(
            &out,
            Status::Fail,
            "any other identity of 111122223333 with s3:*",
        );
    }

    /// The "any other identity" probes are of the bucket's partition: in China an `arn:aws:`
    /// administrator would be refused for its partition and hide the missing Deny.
    #[test]
    fn fails_when_the_deny_statement_is_missing_in_the_china_partition() {
        let mut f = seed_in_china();
        f.bucket_policy("source", |p| {
            statements(p).retain(|s| s["Sid"] != "OnlyUploadersWriteReplicatedPrefixes")
        });
        let out = f.run(&UploaderRestriction);
        assert_eq!(count(&out, Status::Fail), 2, "{out:#?}");
        has(
            &out,
            Status::Fail,
            "any other identity of 111122223333 with s3:* (arn:aws-cn:iam::111122223333:",
        );
    }

    #[test]
    fn fails_when_the_uploader_cannot_write() {
        let mut f = seed();
        f.inline_policies("l2-engineer", |p| remove_action(p, "s3:PutObject"));
        only(
            &f.run(&UploaderRestriction),
            Status::Fail,
            &format!("uploader {L2} cannot write into 'reports/': ImplicitDeny"),
        );
    }

    #[test]
    fn errors_on_unreadable_principals_or_policy_and_skips_without_scenario() {
        let mut f = seed();
        f.principal("xyz-intern").details = denied("iam:GetUser");
        let x = only(
            &f.run(&UploaderRestriction),
            Status::Error,
            &format!("cannot check: {INTERN}: principal {INTERN} could not be read"),
        );
        assert_eq!(
            x.resource,
            "arn:aws:s3:::rubes-s3-bucket/reports/replaudit-sample-object"
        );
        f.bucket("source").policy = denied("s3:GetBucketPolicy");
        only(
            &f.run(&UploaderRestriction),
            Status::Error,
            "bucket policy of rubes-s3-bucket: s3:GetBucketPolicy failed",
        );
        f.spec.scenario_c = None;
        only(
            &f.run(&UploaderRestriction),
            Status::Skip,
            "the spec declares no scenario C",
        );
    }

    fn with_deny(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<Finding> {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            let s = statements(p)
                .iter_mut()
                .find(|s| s["Sid"] == "OnlyUploadersWriteReplicatedPrefixes")
                .expect("seed Deny");
            edit(s)
        });
        f.run(&UploaderRestriction)
    }

    /// A wildcard action (`s3:Put*`) matches s3:PutObject as the exact name does
    /// (reference_policies_elements_action.html); a Deny on a narrower resource leaves the rest
    /// of the prefix open to everyone.
    #[test]
    fn a_wildcard_action_denies_and_a_narrower_resource_does_not() {
        let out = with_deny(|s| s["Action"] = "s3:Put*".into());
        assert_eq!(count(&out, Status::Fail), 0);
        has(
            &out,
            Status::Pass,
            &format!("uploader {L2} can write into 'reports/'"),
        );
        let out = with_deny(|s| {
            s["Resource"] = serde_json::json!(["arn:aws:s3:::rubes-s3-bucket/reports/archive/*"])
        });
        has(
            &out,
            Status::Fail,
            "any other identity of 111122223333 with s3:* (",
        );
    }

    /// A Deny that only keeps other accounts out (`aws:PrincipalAccount`) leaves every identity of
    /// the bucket's own account free to write (reference_policies_condition-keys.html).
    #[test]
    fn a_deny_on_other_accounts_only_leaves_the_own_account_open() {
        let out = with_deny(|s| {
            s["Condition"] = serde_json::json!({"StringNotEquals":
                {"aws:PrincipalAccount": "111122223333"}})
        });
        has(
            &out,
            Status::Fail,
            "any other identity of 111122223333 with s3:* (",
        );
        has(
            &out,
            Status::Pass,
            "any identity of another account with s3:* (",
        );
    }
}
