use super::kms_support::{check_live_key, key_problems};
use super::support::{error, skip, unknown};
use super::{At, AuditContext, Rule, Walk};
use crate::access::kms::live_default_key;
use crate::findings::{Finding, Status};
use crate::snapshot::{BucketState, Fetched};
use crate::spec::Bucket;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The bucket's default encryption uses the algorithm the spec names (`AES256`, `aws:kms`,
    /// `aws:kms:dsse`) and, for SSE-KMS, the spec's key — compared by key ARN, since the
    /// configuration may name the key by alias, key id or ARN (DescribeKey resolves it). The key
    /// must be usable: enabled (not disabled or pending deletion), symmetric, and in the
    /// bucket's Region ("the AWS KMS keys must be in the same Region as the bucket"). S3 does not
    /// validate the key when default encryption is put; writes fail later.
    ///
    /// ## Why it matters
    /// Default encryption decides how every new object is stored at rest. With SSE-KMS the key
    /// decides who can read (the key policy is a second gate next to the bucket policy), and
    /// replication of SSE-KMS objects needs the rule to opt in and name a replica key.
    ///
    /// ## Example
    /// Spec says `aws:kms` with XYZ's key; bucket uses `AES256`: fail. The key is pending
    /// deletion: fail.
    ///
    /// ## Fix
    /// `aws s3api put-bucket-encryption --bucket B --server-side-encryption-configuration
    /// '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"KEY-ARN"},"BucketKeyEnabled":true}]}'`
    pub struct BucketDefaultEncryption;
    id: "bucket-default-encryption",
    title: "Default encryption as specified",
    severity: Medium,
    scenarios: [Step1, Step2, ScenarioA, ScenarioD],
    remediation: "Set the bucket's default encryption to the algorithm and KMS key the spec names (s3api put-bucket-encryption).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-encryption.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketEncryption.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ServerSideEncryptionByDefault.html",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
    ],
}

impl Rule for BucketDefaultEncryption {
    fn walk(&self) -> Walk {
        Walk::Buckets
    }

    fn check_bucket_spec(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        want: &Bucket,
        at: &At,
    ) -> Option<Finding> {
        want.default_encryption.is_none().then(|| {
            skip(
                &META,
                at.scenario,
                &at.resource,
                "the spec does not name a default encryption for this bucket",
            )
        })
    }

    fn check_bucket(
        &self,
        cx: &AuditContext,
        alias: &str,
        want: &Bucket,
        b: &BucketState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        // `check_bucket_spec` skipped a bucket whose default encryption the spec does not name.
        let Some(want_alg) = want.default_encryption.as_ref().map(|a| a.get_ref()) else {
            return Vec::new();
        };
        let want_key = want.kms_key_arn.as_ref().map(|k| k.get_ref().as_str());
        let rules = match &b.encryption {
            Fetched::Ok { value } => value,
            Fetched::Absent { reason } => {
                return vec![META.finding(
                    scenario,
                    Status::Fail,
                    resource,
                    format!("no default encryption configured ({reason}); expected {want_alg}"),
                    json!({"expected_algorithm": want_alg, "expected_key": want_key}),
                )];
            }
            f => {
                return vec![unknown(&META, scenario, resource, "default encryption", f)];
            }
        };
        let mut evidence =
            json!({"expected_algorithm": want_alg, "expected_key": want_key, "actual": rules});
        let Some(rule) = rules.first() else {
            return vec![META.finding(
                scenario,
                Status::Fail,
                resource,
                "default encryption configuration has no rule",
                evidence,
            )];
        };
        let region = b
            .region
            .value()
            .cloned()
            .unwrap_or_else(|| want.region.get_ref().clone());
        let (status, msg) = if &rule.sse_algorithm != want_alg {
            (
                Status::Fail,
                format!(
                    "default encryption is {}, expected {want_alg}",
                    rule.sse_algorithm
                ),
            )
        } else {
            let live = live_default_key(cx.spec, &cx.snap.buckets, alias);
            match (want_key, live) {
                (Some(w), Some(live)) => {
                    let k = check_live_key(cx, w, &live, &region);
                    evidence["actual_key_arn"] = json!(k.actual_key_arn);
                    if !k.problems.is_empty() {
                        (
                            Status::Fail,
                            format!("default encryption {}", k.problems.join("; ")),
                        )
                    } else if !k.unknowns.is_empty() {
                        return vec![error(&META, scenario, resource, k.unknowns.join("; "))];
                    } else {
                        (
                            Status::Pass,
                            format!("default encryption is {want_alg} with key {live}"),
                        )
                    }
                }
                (Some(w), None) => (
                    Status::Fail,
                    format!("default encryption uses the AWS managed key, expected {w}"),
                ),
                // The spec names no key: the key in use must still be usable.
                (None, Some(live)) => match key_problems(cx, &live, &region) {
                    Ok(p) if p.is_empty() => (
                        Status::Pass,
                        format!("default encryption is {want_alg} with key {live}"),
                    ),
                    Ok(p) => (Status::Fail, format!("default encryption {}", p.join("; "))),
                    Err(e) => {
                        return vec![error(&META, scenario, resource, e)];
                    }
                },
                (None, None) => (Status::Pass, format!("default encryption is {want_alg}")),
            }
        };
        vec![META.finding(scenario, status, resource, msg, evidence)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;
    use crate::snapshot::EncryptionRule;

    fn rule(alg: &str, key: Option<&str>) -> Fetched<Vec<EncryptionRule>> {
        Fetched::ok(vec![EncryptionRule {
            sse_algorithm: alg.into(),
            kms_master_key_id: key.map(String::from),
            bucket_key_enabled: None,
        }])
    }

    #[test]
    fn passes_with_the_expected_algorithm_and_key() {
        let out = seed().run(&BucketDefaultEncryption);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(
            &out,
            &format!("default encryption is aws:kms with key {SOURCE_KEY}"),
        );
        has(&out, Status::Pass, "default encryption is AES256");
    }

    #[test]
    fn a_bare_key_id_of_the_expected_key_passes() {
        let mut f = seed();
        f.bucket("source").encryption =
            rule("aws:kms", Some("6f1e3c2a-0b7d-4e8f-9a51-2c3d4e5f6a7b"));
        // The bare id is resolved to the key's ARN in the bucket's account and Region.
        clean(
            &f.run(&BucketDefaultEncryption),
            &format!("default encryption is aws:kms with key {SOURCE_KEY}"),
        );
    }

    /// A key that could not be described still says its Region in its ARN: in another Region
    /// than the bucket it fails; in the bucket's Region it is an error, neither pass nor fail.
    #[test]
    fn an_undescribed_key_fails_on_its_arn_s_region_and_is_an_error_otherwise() {
        let mut f = seed();
        f.key(DEST_KEY).metadata = denied("kms:DescribeKey");
        f.spec.buckets.get_mut("source").unwrap().kms_key_arn =
            Some(toml::Spanned::new(0..0, DEST_KEY.into()));
        f.bucket("source").encryption = rule("aws:kms", Some(DEST_KEY));
        let out = f.run(&BucketDefaultEncryption);
        let x = only(
            &out,
            Status::Fail,
            &format!("default encryption key {DEST_KEY} is in ap-southeast-2, not in the bucket's Region ap-southeast-1"),
        );
        assert_eq!(x.resource, SOURCE_ARN);
        let x = only(
            &out,
            Status::Error,
            &format!("key {DEST_KEY} could not be described: kms:DescribeKey failed: AccessDenied"),
        );
        assert_eq!(x.resource, DEST_ARN);
    }

    #[test]
    fn fails_on_another_algorithm() {
        let mut f = seed();
        f.bucket("source").encryption = rule("AES256", None);
        let x = only(
            &f.run(&BucketDefaultEncryption),
            Status::Fail,
            "default encryption is AES256, expected aws:kms",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn fails_on_another_key_or_the_aws_managed_key() {
        let mut f = seed();
        f.bucket("source").encryption = rule("aws:kms", Some(DEST_KEY));
        only(
            &f.run(&BucketDefaultEncryption),
            Status::Fail,
            &format!("default encryption key is {DEST_KEY}, expected {SOURCE_KEY}; key {DEST_KEY} is in ap-southeast-2, not in the bucket's Region ap-southeast-1"),
        );
        f.bucket("source").encryption = rule("aws:kms", None);
        only(
            &f.run(&BucketDefaultEncryption),
            Status::Fail,
            &format!("default encryption uses the AWS managed key, expected {SOURCE_KEY}"),
        );
    }

    #[test]
    fn fails_without_configuration_or_rule() {
        let mut f = seed();
        f.bucket("logs").encryption =
            Fetched::absent("ServerSideEncryptionConfigurationNotFoundError");
        only(
            &f.run(&BucketDefaultEncryption),
            Status::Fail,
            "no default encryption configured (ServerSideEncryptionConfigurationNotFoundError); expected AES256",
        );
        f.bucket("logs").encryption = Fetched::ok(vec![]);
        only(
            &f.run(&BucketDefaultEncryption),
            Status::Fail,
            "default encryption configuration has no rule",
        );
    }

    #[test]
    fn errors_when_unreadable_and_skips_without_expectation() {
        let mut f = seed();
        f.bucket("source").encryption = denied("s3:GetBucketEncryption");
        f.snap.buckets.remove("destination");
        f.spec.buckets.get_mut("logs").unwrap().default_encryption = None;
        let out = f.run(&BucketDefaultEncryption);
        has(
            &out,
            Status::Error,
            "cannot check default encryption: s3:GetBucketEncryption failed: AccessDenied",
        );
        has(&out, Status::Error, "bucket was not collected");
        only(
            &out,
            Status::Skip,
            "the spec does not name a default encryption for this bucket",
        );
    }
}
