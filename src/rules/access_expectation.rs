use super::kms_support::ask_kms;
use super::support::{ask, error};
use super::{AuditContext, Rule};
use crate::access::kms::{object_bucket_key, S3KmsContext};
use crate::access::{bucket_policy, identity_side, restrict_public_buckets, Leg};
use crate::findings::{Finding, Scenario, Status};
use crate::policy::{s3_resource_kind, S3ResourceKind};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Every `[[access]]` expectation of the spec: for each action that must be allowed or
    /// denied, the policy engine evaluates the principal's request over everything AWS would:
    /// the principal's identity policies (inline, attached, group) from its own account, its
    /// permissions boundary, the bucket policy, and S3 Block Public Access. Cross-account
    /// requests need both sides to allow. For `s3:GetObject` on a bucket whose default
    /// encryption is SSE-KMS with a known key, the reader must also be able to `kms:Decrypt`
    /// (key policy + identity) in the encryption context S3 sends: the bucket ARN when the
    /// objects use an S3 Bucket Key, the object ARN otherwise. The deciding statements are in
    /// the evidence.
    ///
    /// ## Why it matters
    /// This is the proof the set-up exists for: tom-cruise can list and download, clint-eastwood
    /// cannot. A configuration that "looks right" is not proof; an evaluation of every policy
    /// involved is.
    ///
    /// ## Example
    /// tom-cruise `s3:GetObject` on `rubes-s3-bucket/reports/sample.txt`: bucket policy allows,
    /// ABCD identity policy allows, XYZ key policy allows decrypt: pass.
    ///
    /// ## Fix
    /// Follow the evidence: the missing Allow (which side), or the Deny statement that blocks.
    pub struct AccessExpectation;
    id: "access-expectation",
    title: "Principal access is exactly as expected",
    severity: Critical,
    scenarios: [Step5, ScenarioC],
    remediation: "Grant the missing side (bucket policy and/or the principal's identity policy, KMS key policy) or remove the statement that grants or denies against the expectation.",
    references: [
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context",
    ],
}

impl Rule for AccessExpectation {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for exp in &cx.spec.access {
            let bucket = exp.bucket.get_ref();
            let principal = cx.principal_arn(exp.principal.get_ref());
            let bucket_account = cx.bucket_account_id(bucket).unwrap_or_default();
            let policy = bucket_policy(cx.snap, bucket);
            let who = identity_side(cx.snap, principal);
            let wants = exp
                .allow
                .iter()
                .map(|a| (a, true))
                .chain(exp.deny.iter().map(|a| (a, false)));
            for (action, must_allow) in wants {
                let action = action.get_ref().as_str();
                let object_level = s3_resource_kind(action) != Some(S3ResourceKind::Bucket);
                let resource = if object_level {
                    cx.object_arn(bucket, &exp.sample_key)
                } else {
                    cx.bucket_arn(bucket)
                };
                let scenario = if object_level
                    && is_write(action)
                    && in_replicated_prefix(cx, bucket, &exp.sample_key)
                {
                    Scenario::ScenarioC
                } else {
                    Scenario::Step5
                };
                let (policy, who) = match (&policy, &who) {
                    (Ok(p), Ok(w)) => (p.as_ref(), w),
                    (Err(e), _) | (_, Err(e)) => {
                        out.push(error(
                            &META,
                            scenario,
                            &resource,
                            format!("{principal} {action}: {e}"),
                        ));
                        continue;
                    }
                };
                let restrict = match restrict_public_buckets(cx.snap, cx.spec, bucket, policy) {
                    Ok(r) => r,
                    Err(e) => {
                        out.push(error(&META, scenario, &resource, e));
                        continue;
                    }
                };
                let s3 = ask(
                    cx,
                    who,
                    action,
                    &resource,
                    bucket_account,
                    policy,
                    restrict,
                    &[],
                    Leg::Full,
                );
                let mut evidence = json!({"principal": principal, "expected": if must_allow { "Allowed" } else { "Denied" }, "s3": s3.evidence});
                // Reading an SSE-KMS object also needs the key.
                let mut kms_ok = true;
                let mut kms_part = None;
                if action.eq_ignore_ascii_case("s3:GetObject") {
                    if let Some(key) = kms_key_of(cx, bucket) {
                        let region = cx
                            .spec
                            .bucket(bucket)
                            .map(|b| b.region.get_ref().as_str())
                            .unwrap_or_default();
                        let context = S3KmsContext::new(
                            object_bucket_key(cx.spec, cx.snap, bucket, &exp.sample_key),
                            &cx.bucket_arn(bucket),
                            &resource,
                            region,
                        );
                        match ask_kms(cx, who, "kms:Decrypt", &key, &context) {
                            Ok(k) => {
                                kms_ok = k.allowed();
                                kms_part = Some(format!(
                                    "kms:Decrypt on {key} says {} ({}; {})",
                                    k.eval.decision,
                                    k.summary(),
                                    context.describe()
                                ));
                                evidence["kms"] = k.evidence;
                            }
                            Err(e) if must_allow => {
                                out.push(error(&META, scenario, &resource, format!("{principal} {action}: the objects are SSE-KMS encrypted and {e}")));
                                continue;
                            }
                            Err(e) => evidence["kms"] = json!({"unknown": e}),
                        }
                    }
                }
                let allowed = s3.allowed() && kms_ok;
                // The overall decision first, then each part that made it: "is Allowed" next to
                // a denial would read as a contradiction.
                let mut parts = vec![format!("S3 says {} ({})", s3.eval.decision, s3.summary())];
                // The key is part of the decision only where access must be allowed (reading an
                // SSE-KMS object needs both); a required denial is decided by S3 alone.
                if must_allow {
                    parts.extend(kms_part);
                }
                let parts = parts.join("; ");
                let (status, message) = match (must_allow, allowed, s3.allowed()) {
                    (true, true, _) => (
                        Status::Pass,
                        format!("{principal} is allowed {action}: {parts}"),
                    ),
                    (true, false, _) => (
                        Status::Fail,
                        format!("{principal} must be allowed {action} but is denied: {parts}"),
                    ),
                    (false, _, false) => (
                        Status::Pass,
                        format!("{principal} is denied {action}: {parts}"),
                    ),
                    (false, _, true) => (
                        Status::Fail,
                        format!("{principal} must be denied {action} but is allowed: {parts}"),
                    ),
                };
                out.push(META.finding(scenario, status, &resource, message, evidence));
            }
        }
        out
    }
}

fn is_write(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    a.starts_with("s3:put")
        || a.starts_with("s3:delete")
        || a.starts_with("s3:replicate")
        || a == "s3:restoreobject"
}

fn in_replicated_prefix(cx: &AuditContext, bucket: &str, key: &str) -> bool {
    cx.spec
        .replication
        .iter()
        .filter(|r| r.source.get_ref() == bucket)
        .flat_map(|r| r.rules.iter())
        .any(|rule| key.starts_with(rule.prefix_or_empty()))
}

/// The KMS key objects of this bucket are encrypted with by default, if the spec names one.
pub fn kms_key_of(cx: &AuditContext, bucket: &str) -> Option<String> {
    let b = cx.spec.bucket(bucket)?;
    let kms = b
        .default_encryption
        .as_ref()
        .is_some_and(|e| e.get_ref().starts_with("aws:kms"));
    if kms {
        b.kms_key_arn.as_ref().map(|k| k.get_ref().clone())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    const TOM: &str = "arn:aws:iam::271089868719:user/tom-cruise";
    const CLINT: &str = "arn:aws:iam::271089868719:user/clint-eastwood";

    #[test]
    fn passes_for_the_seed_allows_and_denies() {
        let out = seed().run(&AccessExpectation);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(&out, &format!("{TOM} is allowed s3:GetObject: S3 says Allowed (identity-based policy 'tom-cruise inline policy replaudit-spec' statement 1 (Sid Access0Objects); resource-based policy 'bucket policy of rubes-s3-bucket' statement 1 (Sid Grant0Objects)); kms:Decrypt on {SOURCE_KEY} says Allowed ("));
        has(
            &out,
            Status::Pass,
            &format!("{TOM} is allowed s3:ListBucket: S3 says Allowed ("),
        );
        has(
            &out,
            Status::Pass,
            &format!("{CLINT} is denied s3:GetObject: S3 says ImplicitDeny (cross-account: no identity-based policy allows"),
        );
        has(
            &out,
            Status::Pass,
            &format!("{CLINT} is denied s3:ListBucket: S3 says ImplicitDeny (cross-account: no identity-based policy allows"),
        );
    }

    #[test]
    fn fails_when_an_allowed_principal_is_denied() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            statements(p).retain(|s| s["Sid"] != "Grant0Objects")
        });
        let x = only(
            &f.run(&AccessExpectation),
            Status::Fail,
            &format!("{TOM} must be allowed s3:GetObject but is denied: S3 says ImplicitDeny (cross-account: identity policy allows but the resource-based policy has no matching Allow); kms:Decrypt on {SOURCE_KEY} says Allowed"),
        );
        assert_eq!(
            x.resource,
            "arn:aws:s3:::rubes-s3-bucket/reports/sample.txt"
        );
        assert_eq!(x.scenario, Scenario::Step5);
    }

    #[test]
    fn fails_when_the_reader_cannot_decrypt_the_sse_kms_object() {
        let mut f = seed();
        f.key_policy(SOURCE_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowDecrypt")
        });
        only(
            &f.run(&AccessExpectation),
            Status::Fail,
            &format!("{TOM} must be allowed s3:GetObject but is denied: S3 says Allowed ("),
        )
        .message
        .contains(&format!("; kms:Decrypt on {SOURCE_KEY} says ImplicitDeny (KMS key policy: it names neither {TOM} nor its account"))
        .then_some(())
        .expect("names the KMS denial");
    }

    #[test]
    fn fails_when_a_denied_principal_is_granted() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            statements(p).push(json!({"Sid": "Oops", "Effect": "Allow",
                "Principal": {"AWS": CLINT}, "Action": "s3:ListBucket",
                "Resource": SOURCE_ARN}))
        });
        f.inline_policies("tom", |_| {});
        f.principal("clint").details = f.snap.principals[TOM].details.clone();
        only(
            &f.run(&AccessExpectation),
            Status::Fail,
            &format!("{CLINT} must be denied s3:ListBucket but is allowed: S3 says Allowed (identity-based policy 'clint-eastwood inline policy replaudit-spec' statement 0 (Sid Access0Bucket); resource-based policy 'bucket policy of rubes-s3-bucket' statement 4 (Sid Oops))"),
        );
    }

    #[test]
    fn errors_when_policies_cannot_be_read() {
        let mut f = seed();
        f.bucket("source").policy = denied("s3:GetBucketPolicy");
        let out = f.run(&AccessExpectation);
        assert_eq!(count(&out, Status::Error), 4);
        has(
            &out,
            Status::Error,
            &format!("cannot check: {TOM} s3:GetObject: bucket policy of rubes-s3-bucket: s3:GetBucketPolicy failed"),
        );
        let mut f = seed();
        f.key(SOURCE_KEY).key_policy = denied("kms:GetKeyPolicy");
        let out = f.run(&AccessExpectation);
        // Only the allowed read needs the key to be proven; a denied read is denied anyway.
        only(
            &out,
            Status::Error,
            &format!("{TOM} s3:GetObject: the objects are SSE-KMS encrypted and key policy of {SOURCE_KEY}"),
        );
        has(
            &out,
            Status::Pass,
            &format!("{CLINT} is denied s3:GetObject"),
        );
    }

    #[test]
    fn writes_into_replicated_prefixes_belong_to_scenario_c() {
        let mut f = seed();
        f.spec.access[0]
            .allow
            .push(toml::Spanned::new(0..0, "s3:PutObject".into()));
        let x = has(
            &f.run(&AccessExpectation),
            Status::Fail,
            &format!("{TOM} must be allowed s3:PutObject but is denied: S3 says ExplicitDeny (resource-based policy 'bucket policy of rubes-s3-bucket' statement 2 (Sid OnlyUploadersWriteReplicatedPrefixes))"),
        );
        assert_eq!(x.scenario, Scenario::ScenarioC);
    }

    #[test]
    fn writes_are_puts_deletes_replications_and_restores() {
        for a in [
            "s3:PutObject",
            "s3:DeleteObjectVersion",
            "s3:ReplicateObject",
            "s3:RestoreObject",
        ] {
            assert!(is_write(a), "{a}");
        }
        for a in ["s3:GetObject", "s3:ListBucket", "s3:RestoreObjectX"] {
            assert!(!is_write(a), "{a}");
        }
        let f = seed();
        let cx = AuditContext::new(&f.spec, &f.snap);
        assert!(in_replicated_prefix(&cx, "source", "reports/x"));
        assert!(!in_replicated_prefix(&cx, "source", "scratch/x"));
        assert!(!in_replicated_prefix(&cx, "destination", "reports/x"));
        assert_eq!(kms_key_of(&cx, "source").as_deref(), Some(SOURCE_KEY));
        assert_eq!(kms_key_of(&cx, "logs"), None, "AES256");
    }
    /// Cross-account both sides must allow: the bucket policy's grant without the reader's own
    /// identity policy is not enough (reference_policies_evaluation-logic-cross-account.html).
    #[test]
    fn cross_account_the_reader_s_identity_policy_is_needed_too() {
        let mut f = seed();
        f.inline_policies("tom", |p| {
            statements(p).retain(|s| s["Sid"] != "Access0Objects")
        });
        has(
            &f.run(&AccessExpectation),
            Status::Fail,
            &format!("{TOM} must be allowed s3:GetObject but is denied: S3 says ImplicitDeny"),
        );
    }

    /// s3:GetObject is an object action: a grant on the bucket ARN alone does not cover the
    /// objects (https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html).
    #[test]
    fn a_get_object_grant_on_the_bucket_arn_does_not_cover_objects() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            for s in statements(p)
                .iter_mut()
                .filter(|s| s["Sid"] == "Grant0Objects")
            {
                s["Resource"] = json!(SOURCE_ARN);
            }
        });
        has(
            &f.run(&AccessExpectation),
            Status::Fail,
            &format!("{TOM} must be allowed s3:GetObject but is denied"),
        );
    }

    /// A grant to the reader's account (its root) delegates to that account's identity policies:
    /// tom, whose policy allows, is allowed; clint, whose policy does not, stays denied
    /// (reference_policies_elements_principal.html).
    #[test]
    fn a_grant_to_the_reader_s_account_delegates_to_its_identity_policies() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            for s in statements(p)
                .iter_mut()
                .filter(|s| s["Sid"] == "Grant0Objects" || s["Sid"] == "Grant0Bucket")
            {
                s["Principal"] = json!({"AWS": "arn:aws:iam::271089868719:root"});
            }
        });
        let out = f.run(&AccessExpectation);
        assert_eq!(count(&out, Status::Fail), 0);
        has(&out, Status::Pass, TOM);
        has(&out, Status::Pass, CLINT);
    }
}

/// Tests that build their states from nothing (the testkit's builders) rather than mutating
/// the seed fixture.
#[cfg(test)]
mod built {
    use super::*;
    use crate::rules::bucket_tls_only::tests::bucket;
    use crate::snapshot::{
        Fetched, KmsKeyState, NamedPolicy, PrincipalDetails, PrincipalState, Snapshot,
    };
    use std::collections::BTreeMap;

    const KEY: &str =
        "arn:aws:kms:ap-southeast-1:111122223333:key/6f1e3c2a-0b7d-4e8f-9a51-2c3d4e5f6a7b";
    const TOM: &str = "arn:aws:iam::271089868719:user/tom-cruise";

    fn spec() -> crate::spec::LoadedSpec {
        let text = format!(
            r#"
version = 1
name = "access"
[accounts.xyz]
account_id = "111122223333"
region = "ap-southeast-1"
[accounts.abcd]
account_id = "271089868719"
region = "ap-southeast-2"
[buckets.source]
name = "rubes-s3-bucket"
account = "xyz"
region = "ap-southeast-1"
default_encryption = "aws:kms"
kms_key_arn = "{KEY}"
[principals.tom]
arn = "{TOM}"
[[access]]
principal = "tom"
bucket = "source"
allow = ["s3:GetObject"]
sample_key = "reports/sample.txt"
"#
        );
        crate::spec::parse(std::path::Path::new("access.toml"), &text).expect("test spec")
    }

    /// Tom's own account lets him read anything; the source bucket policy grants him
    /// GetObject; the key policy says what `key_policy` says.
    fn snapshot(key_policy: &str) -> Snapshot {
        let doc = |s: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#);
        let mut buckets = BTreeMap::new();
        buckets.insert(
            "source".into(),
            bucket(
                "source",
                "rubes-s3-bucket",
                Fetched::ok(doc(&format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"{TOM}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::rubes-s3-bucket/*"}}"#
                ))),
            ),
        );
        let mut principals = BTreeMap::new();
        principals.insert(
            TOM.to_string(),
            PrincipalState {
                arn: TOM.into(),
                kind: "user".into(),
                name: "tom-cruise".into(),
                account_id: "271089868719".into(),
                read_as: Some("abcd".into()),
                details: Fetched::ok(PrincipalDetails {
                    inline_policies: Fetched::ok(vec![NamedPolicy {
                        name: "reads".into(),
                        arn: None,
                        document: Fetched::ok(doc(
                            r#"{"Effect":"Allow","Action":["s3:GetObject","kms:Decrypt"],"Resource":"*"}"#,
                        )),
                    }]),
                    attached_policies: Fetched::ok(vec![]),
                    groups: Fetched::ok(vec![]),
                    permission_boundary: Fetched::ok(None),
                    trust_policy: None,
                    tags: BTreeMap::new(),
                }),
            },
        );
        let mut kms_keys = BTreeMap::new();
        kms_keys.insert(
            KEY.to_string(),
            KmsKeyState {
                arn: KEY.into(),
                read_as: Some("xyz".into()),
                metadata: Fetched::unknown("test", None, "not in this test"),
                key_policy: Fetched::ok(doc(key_policy)),
                grants: Fetched::ok(vec![]),
            },
        );
        Snapshot {
            schema_version: crate::snapshot::SCHEMA_VERSION,
            tool_version: "test".into(),
            collected_at: chrono::Utc::now(),
            spec_name: "access".into(),
            endpoint_url: None,
            accounts: BTreeMap::new(),
            buckets,
            principals,
            kms_keys,
            replication_metrics: BTreeMap::new(),
            iam_accounts: BTreeMap::new(),
        }
    }

    fn only_finding(key_policy: &str) -> Finding {
        let spec = spec();
        let snap = snapshot(key_policy);
        let cx = AuditContext::new(&spec, &snap);
        let mut f = AccessExpectation.check(&cx);
        assert_eq!(f.len(), 1, "{f:?}");
        f.remove(0)
    }

    const OWNER_ONLY: &str = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
    const TOM_DECRYPTS: &str = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::271089868719:user/tom-cruise"},"Action":"kms:Decrypt","Resource":"*"}"#;

    /// S3 allows, the key does not: the message says "denied" before it says which part allowed.
    #[test]
    fn a_kms_denial_is_stated_as_the_overall_decision_first() {
        let f = only_finding(OWNER_ONLY);
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        let prefix = format!("{TOM} must be allowed s3:GetObject but is denied: S3 says Allowed (");
        assert!(f.message.starts_with(&prefix), "{}", f.message);
        assert!(
            f.message
                .contains(&format!("; kms:Decrypt on {KEY} says ImplicitDeny (")),
            "{}",
            f.message
        );
    }

    #[test]
    fn both_parts_allowed_passes_and_names_both() {
        let f = only_finding(&format!("{OWNER_ONLY},{TOM_DECRYPTS}"));
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert!(
            f.message
                .starts_with(&format!("{TOM} is allowed s3:GetObject: S3 says Allowed (")),
            "{}",
            f.message
        );
        assert!(
            f.message
                .contains(&format!("; kms:Decrypt on {KEY} says Allowed (")),
            "{}",
            f.message
        );
    }
}
