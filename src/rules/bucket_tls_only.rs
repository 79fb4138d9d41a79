use super::support::{error, skip};
use super::{AuditContext, Rule};
use crate::access::{bucket_policy, IdentitySide, Leg, Query};
use crate::findings::{Finding, Status};
use crate::policy::Decision;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The bucket policy of every bucket the spec wants TLS-only (`tls_only`, on by default)
    /// denies requests that were not sent over TLS. The policy engine evaluates requests with
    /// `aws:SecureTransport` = `false` — reads, writes and deletes of an object, listing the
    /// bucket and reading its policy — made by an administrator of the bucket's own account
    /// (whose identity policy allows everything, so only an explicit Deny stops it) and by every
    /// principal the spec names (as if its own policies allowed everything). Every one of them
    /// must be denied.
    ///
    /// ## Why it matters
    /// S3 accepts plain HTTP: "Amazon S3 supports both HTTP and HTTPS protocols for data
    /// transmission." Over HTTP, incident reports and credentials-signed requests travel in
    /// clear text. AWS's S3 security best practices ask for encryption of data in transit,
    /// enforced with a bucket-policy Deny on `aws:SecureTransport` false; the AWS Config rule
    /// `s3-bucket-ssl-requests-only` checks the same thing (`config-rule-agreement` compares).
    ///
    /// ## Example
    /// `rubes-s3-bucket`'s policy grants tom-cruise `s3:GetObject` and has no Deny on
    /// `aws:SecureTransport`: an administrator of 111122223333 can `s3:GetObject` over HTTP —
    /// fail, naming the request that was allowed.
    ///
    /// ## Fix
    /// Add to the bucket policy: `{"Sid": "DenyInsecureTransport", "Effect": "Deny",
    /// "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::BUCKET",
    /// "arn:aws:s3:::BUCKET/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}`.
    /// A bucket that must serve plain HTTP says `tls_only = false` in the spec.
    pub struct BucketTlsOnly;
    id: "bucket-tls-only",
    title: "Bucket policy denies requests without TLS",
    severity: Medium,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Add a bucket-policy statement that denies s3:* on the bucket and its objects to Principal \"*\" when aws:SecureTransport is false.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingEncryptionInTransit.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-securetransport",
        "https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-ssl-requests-only.html",
    ],
}

/// A request over plain HTTP that the bucket's policies let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOverHttp {
    pub principal: String,
    pub action: &'static str,
    pub resource: String,
    /// The statements that allowed it.
    pub deciding: String,
}

/// Does this bucket refuse every request without TLS? `Ok(vec![])` when it does; otherwise the
/// requests that would be allowed over plain HTTP. `Err` when the bucket policy cannot be read.
/// Shared with `config-rule-agreement`, which compares AWS Config's verdict against this one.
pub fn allowed_over_http(
    cx: &AuditContext,
    alias: &str,
) -> Result<Vec<AllowedOverHttp>, crate::access::Error> {
    let policy = bucket_policy(cx.snap, alias)?;
    let account = cx.bucket_account_id(alias).unwrap_or_default();
    let bucket = cx.bucket_arn(alias);
    let object = cx.object_arn(alias, "replaudit-tls-probe");
    let admin =
        IdentitySide::synthetic_admin(cx.bucket_partition(alias), account, "replaudit-tls-probe");
    let mut who = vec![admin.clone()];
    // Every spec principal, with an identity that allows everything: only the bucket policy
    // (its Deny, or its lack of a grant across accounts) can stop an HTTP request of theirs.
    let mut arns: Vec<&str> = cx
        .spec
        .principals
        .values()
        .map(|p| p.arn.get_ref().as_str())
        .collect();
    arns.sort();
    arns.dedup();
    for arn in arns {
        if let Some(mut p) = IdentitySide::from_arn(arn) {
            p.policies = admin.policies.clone();
            who.push(p);
        }
    }
    // aws:SecureTransport "false": the request was not sent over TLS.
    // <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-securetransport>
    let extra = [("aws:SecureTransport", "false".to_string())];
    let probes: [(&'static str, &str); 5] = [
        ("s3:GetObject", object.as_str()),
        ("s3:PutObject", object.as_str()),
        ("s3:DeleteObject", object.as_str()),
        ("s3:ListBucket", bucket.as_str()),
        ("s3:GetBucketPolicy", bucket.as_str()),
    ];
    let mut allowed = Vec::new();
    for w in &who {
        for (action, resource) in probes {
            let q = Query {
                action,
                resource,
                resource_account: account,
                resource_policy: policy.as_ref(),
                restrict_public_buckets: false,
                extra_context: &extra,
            };
            let eval = crate::access::evaluate(cx.snap, w, &q, Leg::Full);
            if eval.decision == Decision::Allowed {
                allowed.push(AllowedOverHttp {
                    principal: w.arn.clone(),
                    action,
                    resource: resource.to_string(),
                    deciding: crate::access::deciding_summary(&eval),
                });
            }
        }
    }
    Ok(allowed)
}

impl Rule for BucketTlsOnly {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, want) in &cx.spec.buckets {
            let scenario = cx.bucket_scenario(alias);
            let resource = cx.bucket_arn(alias);
            if !want.tls_only {
                out.push(skip(
                    &META,
                    scenario,
                    &resource,
                    "the spec does not require TLS-only access to this bucket (tls_only = false)",
                ));
                continue;
            }
            match allowed_over_http(cx, alias) {
                Err(e) => out.push(error(&META, scenario, &resource, e)),
                Ok(allowed) if allowed.is_empty() => out.push(META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!(
                        "{}: every request without TLS is denied (object reads, writes, deletes, listing, policy reads; the bucket account's administrator and every spec principal)",
                        cx.bucket_name(alias)
                    ),
                    json!({"aws:SecureTransport": "false", "allowed": []}),
                )),
                Ok(allowed) => {
                    let first = &allowed[0];
                    let evidence: Vec<_> = allowed
                        .iter()
                        .map(|a| json!({"principal": a.principal, "action": a.action, "resource": a.resource, "allowed_by": a.deciding}))
                        .collect();
                    out.push(META.finding(
                        scenario,
                        Status::Fail,
                        &resource,
                        format!(
                            "{}: {} request(s) without TLS are allowed, e.g. {} {} by {} ({}): the bucket policy has no Deny on aws:SecureTransport false that covers them",
                            cx.bucket_name(alias),
                            allowed.len(),
                            first.action,
                            first.resource,
                            first.principal,
                            first.deciding
                        ),
                        json!({"aws:SecureTransport": "false", "allowed": evidence}),
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::snapshot::{BucketState, Fetched, Snapshot};
    use std::collections::BTreeMap;

    pub const SPEC: &str = r#"
version = 1
name = "tls"
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
[buckets.plain]
name = "plain-http-bucket"
account = "xyz"
region = "ap-southeast-1"
tls_only = false
[principals.tom]
arn = "arn:aws:iam::271089868719:user/tom-cruise"
"#;

    pub const TLS_DENY: &str = r#"{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::rubes-s3-bucket","arn:aws:s3:::rubes-s3-bucket/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#;
    pub const TOM_READS: &str = r#"{"Sid":"TomReads","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::271089868719:user/tom-cruise"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::rubes-s3-bucket/*"}"#;

    pub fn spec() -> crate::spec::LoadedSpec {
        crate::spec::parse(std::path::Path::new("tls.toml"), SPEC).expect("test spec")
    }

    pub fn bucket(alias: &str, name: &str, policy: Fetched<String>) -> BucketState {
        fn u<T>() -> Fetched<T> {
            Fetched::unknown("test", None, "not in this test")
        }
        BucketState {
            alias: alias.into(),
            name: name.into(),
            read_as: "xyz".into(),
            owned_by_expected_account: u(),
            region: u(),
            versioning: u(),
            public_access_block: u(),
            ownership_controls: u(),
            policy,
            policy_is_public: u(),
            encryption: u(),
            replication: u(),
            tags: u(),
        }
    }

    /// A snapshot holding only the source bucket's policy (statements joined into one document).
    pub fn snapshot(statements: &[&str]) -> Snapshot {
        let policy = if statements.is_empty() {
            Fetched::absent("NoSuchBucketPolicy")
        } else {
            Fetched::ok(format!(
                r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
                statements.join(",")
            ))
        };
        let mut buckets = BTreeMap::new();
        buckets.insert("source".into(), bucket("source", "rubes-s3-bucket", policy));
        buckets.insert(
            "plain".into(),
            bucket(
                "plain",
                "plain-http-bucket",
                Fetched::absent("NoSuchBucketPolicy"),
            ),
        );
        Snapshot {
            schema_version: crate::snapshot::SCHEMA_VERSION,
            tool_version: "test".into(),
            collected_at: chrono::Utc::now(),
            spec_name: "tls".into(),
            endpoint_url: None,
            accounts: BTreeMap::new(),
            buckets,
            principals: BTreeMap::new(),
            kms_keys: BTreeMap::new(),
            replication_metrics: BTreeMap::new(),
            iam_accounts: BTreeMap::new(),
        }
    }

    fn source_finding(statements: &[&str]) -> Finding {
        let spec = spec();
        let snap = snapshot(statements);
        let cx = AuditContext::new(&spec, &snap);
        BucketTlsOnly
            .check(&cx)
            .into_iter()
            .find(|f| f.resource == "arn:aws:s3:::rubes-s3-bucket")
            .unwrap()
    }

    #[test]
    fn a_deny_on_insecure_transport_passes() {
        let f = source_finding(&[TOM_READS, TLS_DENY]);
        assert_eq!(f.status, Status::Pass, "{}", f.message);
    }

    #[test]
    fn no_deny_fails_naming_the_request_allowed_over_http() {
        let f = source_finding(&[TOM_READS]);
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        assert!(
            f.message.contains("without TLS are allowed"),
            "{}",
            f.message
        );
        assert!(
            f.message
                .contains("arn:aws:iam::111122223333:user/replaudit-tls-probe"),
            "{}",
            f.message
        );
        let allowed = f.evidence["allowed"].as_array().unwrap();
        assert!(
            allowed.iter().any(
                |a| a["principal"] == "arn:aws:iam::271089868719:user/tom-cruise"
                    && a["action"] == "s3:GetObject"
            ),
            "the granted reader can read over HTTP: {allowed:?}"
        );
        // No policy at all: the account's own administrator reads over HTTP.
        assert_eq!(source_finding(&[]).status, Status::Fail);
    }

    /// A Deny that covers only some principals or only the objects is not TLS-only.
    #[test]
    fn a_partial_deny_fails() {
        let only_objects = TLS_DENY.replace(
            r#"["arn:aws:s3:::rubes-s3-bucket","arn:aws:s3:::rubes-s3-bucket/*"]"#,
            r#""arn:aws:s3:::rubes-s3-bucket/*""#,
        );
        let f = source_finding(&[TOM_READS, &only_objects]);
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        assert!(
            f.message.contains("s3:ListBucket") || f.message.contains("s3:GetBucketPolicy"),
            "{}",
            f.message
        );
        let only_tom = TLS_DENY.replace(
            r#""Principal":"*""#,
            r#""Principal":{"AWS":"arn:aws:iam::271089868719:user/tom-cruise"}"#,
        );
        let f = source_finding(&[TOM_READS, &only_tom]);
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        assert!(f.message.contains("replaudit-tls-probe"), "{}", f.message);
    }

    #[test]
    fn opted_out_bucket_is_skipped_and_unreadable_policy_is_an_error() {
        let spec = spec();
        let mut snap = snapshot(&[TLS_DENY]);
        let cx = AuditContext::new(&spec, &snap);
        let plain = BucketTlsOnly
            .check(&cx)
            .into_iter()
            .find(|f| f.resource == "arn:aws:s3:::plain-http-bucket")
            .unwrap();
        assert_eq!(plain.status, Status::Skip);
        snap.buckets.get_mut("source").unwrap().policy =
            Fetched::unknown("s3:GetBucketPolicy", Some("AccessDenied".into()), "denied");
        let cx = AuditContext::new(&spec, &snap);
        let f = BucketTlsOnly
            .check(&cx)
            .into_iter()
            .find(|f| f.resource == "arn:aws:s3:::rubes-s3-bucket")
            .unwrap();
        assert_eq!(f.status, Status::Error);
        assert!(f.message.contains("AccessDenied"), "{}", f.message);
    }
}

#[cfg(test)]
mod on_the_seed {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_with_the_seed_s_deny_on_insecure_transport() {
        let out = seed().run(&BucketTlsOnly);
        assert_eq!(
            count(&out, Status::Pass),
            4,
            "every seed bucket is TLS-only"
        );
        let x = has(
            &out,
            Status::Pass,
            "rubes-s3-bucket: every request without TLS is denied (object reads, writes, deletes, listing, policy reads; the bucket account's administrator and every spec principal)",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn fails_without_the_deny_naming_a_request_let_through() {
        let mut f = seed();
        f.bucket_policy("destination", |p| {
            statements(p).retain(|s| s["Sid"] != "DenyInsecureTransport")
        });
        let x = only(&f.run(&BucketTlsOnly), Status::Fail, "clint-s3-bucket: ");
        assert_eq!(x.resource, DEST_ARN);
        assert!(
            x.message.contains("request(s) without TLS are allowed, e.g. s3:GetObject arn:aws:s3:::clint-s3-bucket/replaudit-tls-probe by arn:aws:iam::271089868719:user/replaudit-tls-probe")
                && x.message.ends_with(
                    "the bucket policy has no Deny on aws:SecureTransport false that covers them"
                ),
            "{}",
            x.message
        );
    }

    /// In China the probe is an identity of the bucket's partition (`arn:aws-cn:`); one built
    /// with `arn:aws:` would be refused for its partition alone and hide the missing Deny.
    #[test]
    fn fails_without_the_deny_in_the_china_partition_too() {
        let mut f = seed_in_china();
        f.bucket_policy("destination", |p| {
            statements(p).retain(|s| s["Sid"] != "DenyInsecureTransport")
        });
        let x = only(&f.run(&BucketTlsOnly), Status::Fail, "clint-s3-bucket: ");
        assert_eq!(x.resource, "arn:aws-cn:s3:::clint-s3-bucket");
        assert!(
            x.message
                .contains("by arn:aws-cn:iam::271089868719:user/replaudit-tls-probe"),
            "{}",
            x.message
        );
    }

    #[test]
    fn skips_when_not_required_and_errors_when_the_policy_is_unreadable() {
        let mut f = seed();
        f.spec.buckets.get_mut("logs").unwrap().tls_only = false;
        f.bucket("source").policy = denied("s3:GetBucketPolicy");
        let out = f.run(&BucketTlsOnly);
        only(
            &out,
            Status::Skip,
            "the spec does not require TLS-only access to this bucket (tls_only = false)",
        );
        let x = only(
            &out,
            Status::Error,
            "s3:GetBucketPolicy failed: AccessDenied",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    fn with_tls_statement(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<Finding> {
        let mut f = seed();
        f.bucket_policy("destination", |p| {
            let s = statements(p)
                .iter_mut()
                .find(|s| s["Sid"] == "DenyInsecureTransport")
                .expect("seed Deny");
            edit(s)
        });
        f.run(&BucketTlsOnly)
    }

    /// `BoolIfExists` and a one-element list match a request with `aws:SecureTransport` false
    /// as `Bool` does (reference_policies_elements_condition_operators.html#Conditions_IfExists).
    #[test]
    fn bool_if_exists_or_a_value_list_still_denies() {
        for cond in [
            serde_json::json!({"BoolIfExists": {"aws:SecureTransport": "false"}}),
            serde_json::json!({"Bool": {"aws:SecureTransport": ["false"]}}),
        ] {
            let out = with_tls_statement(|s| s["Condition"] = cond.clone());
            assert_eq!(count(&out, Status::Fail), 0, "{cond}");
            has(
                &out,
                Status::Pass,
                "clint-s3-bucket: every request without TLS is denied",
            );
        }
    }

    /// A Deny on `aws:SecureTransport` true (denies HTTPS), or only on an old `s3:TlsVersion`
    /// (absent over HTTP, so a Numeric condition on it does not match), leaves HTTP open.
    #[test]
    fn a_deny_on_https_or_on_the_tls_version_alone_fails() {
        for cond in [
            serde_json::json!({"Bool": {"aws:SecureTransport": "true"}}),
            serde_json::json!({"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
        ] {
            let out = with_tls_statement(|s| s["Condition"] = cond.clone());
            has(&out, Status::Fail, "clint-s3-bucket: ");
        }
    }

    /// A Deny with NotPrincipal spares a principal only when its account is named too ("When you
    /// use NotPrincipal with Deny, you must also specify the account ARN of the not-denied
    /// principal", reference_policies_elements_notprincipal.html): naming the user alone still
    /// denies it, naming user and account lets it read over HTTP.
    #[test]
    fn a_not_principal_deny_spares_a_principal_only_with_its_account() {
        let exempt = |who: serde_json::Value| {
            with_tls_statement(|s| {
                s.as_object_mut().unwrap().remove("Principal");
                s["NotPrincipal"] = serde_json::json!({ "AWS": who });
            })
        };
        let tom = "arn:aws:iam::271089868719:user/tom-cruise";
        has(
            &exempt(serde_json::json!(tom)),
            Status::Pass,
            "clint-s3-bucket: every request without TLS is denied",
        );
        let x = only(
            &exempt(serde_json::json!([tom, "arn:aws:iam::271089868719:root"])),
            Status::Fail,
            "clint-s3-bucket: ",
        );
        assert!(x.message.contains("user/tom-cruise"), "{}", x.message);
    }
}
