use super::kms_support::{check_live_key, key_problems};
use super::support::{error, skip, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::access::kms::live_default_key;
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
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
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, want) in &cx.spec.buckets {
            let scenario = cx.bucket_scenario(alias);
            let resource = cx.bucket_arn(alias);
            let Some(want_alg) = &want.default_encryption else {
                out.push(skip(
                    &META,
                    scenario,
                    &resource,
                    "the spec does not name a default encryption for this bucket",
                ));
                continue;
            };
            let want_alg = want_alg.get_ref();
            let want_key = want.kms_key_arn.as_ref().map(|k| k.get_ref().as_str());
            let Some(b) = cx.bucket_state(alias) else {
                out.push(error(
                    &META,
                    scenario,
                    &resource,
                    "bucket was not collected",
                ));
                continue;
            };
            let rules = match &b.encryption {
                Fetched::Ok { value } => value,
                Fetched::Absent { reason } => {
                    out.push(META.finding(
                        scenario,
                        Status::Fail,
                        &resource,
                        format!("no default encryption configured ({reason}); expected {want_alg}"),
                        json!({"expected_algorithm": want_alg, "expected_key": want_key}),
                    ));
                    continue;
                }
                f => {
                    out.push(unknown(&META, scenario, &resource, "default encryption", f));
                    continue;
                }
            };
            let mut evidence =
                json!({"expected_algorithm": want_alg, "expected_key": want_key, "actual": rules});
            let Some(rule) = rules.first() else {
                out.push(META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    "default encryption configuration has no rule",
                    evidence,
                ));
                continue;
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
                            out.push(error(&META, scenario, &resource, k.unknowns.join("; ")));
                            continue;
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
                            out.push(error(&META, scenario, &resource, e));
                            continue;
                        }
                    },
                    (None, None) => (Status::Pass, format!("default encryption is {want_alg}")),
                }
            };
            out.push(META.finding(scenario, status, &resource, msg, evidence));
        }
        out
    }
}
