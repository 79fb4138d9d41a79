use super::support::{error, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Every bucket of the spec exists, is owned by the account the spec names (it is listed by
    /// that account's `ListBuckets`, read once per account) and lives in the Region the spec names
    /// (`HeadBucket`'s `x-amz-bucket-region`, which S3 sends even on a 301/400/403 answer, as AWS
    /// recommends instead of `GetBucketLocation`). A bucket in another Region is this one failure:
    /// everything else about it is still read, in the Region it really is in.
    ///
    /// ## Why it matters
    /// Cross-region replication is only cross-region if the buckets are where they should be,
    /// and cross-account only if each bucket belongs to the right account. A bucket name that
    /// is taken by someone else, or re-created in the wrong region, silently breaks both.
    ///
    /// ## Example
    /// `rubes-s3-bucket` expected in ap-southeast-1, found in ap-southeast-3: fail.
    ///
    /// ## Fix
    /// Create the bucket in the right account and region (a bucket cannot be moved; copy the
    /// data and re-create it), or correct the spec.
    pub struct BucketLocation;
    id: "bucket-location",
    title: "Bucket exists in the expected account and region",
    severity: Critical,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Create the bucket in the expected account and region (buckets cannot be moved), or correct the spec.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html",
    ],
}

impl Rule for BucketLocation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, want) in &cx.spec.buckets {
            let scenario = cx.bucket_scenario(alias);
            let resource = cx.bucket_arn(alias);
            let Some(b) = cx.bucket_state(alias) else {
                out.push(error(
                    &META,
                    scenario,
                    &resource,
                    "bucket was not collected",
                ));
                continue;
            };
            let want_region = want.region.get_ref();
            let want_account = cx.bucket_account_id(alias).unwrap_or_default();
            let region = match &b.region {
                Fetched::Ok { value } => value,
                Fetched::Absent { reason } => {
                    out.push(META.finding(
                        scenario,
                        Status::Fail,
                        &resource,
                        format!("bucket {} does not exist ({reason})", b.name),
                        json!({"expected_region": want_region, "expected_account": want_account}),
                    ));
                    continue;
                }
                f => {
                    out.push(unknown(&META, scenario, &resource, "the bucket region", f));
                    continue;
                }
            };
            let owned = match &b.owned_by_expected_account {
                Fetched::Ok { value } => *value,
                f => {
                    out.push(unknown(&META, scenario, &resource, "the bucket owner", f));
                    continue;
                }
            };
            let evidence = json!({
                "expected_region": want_region,
                "actual_region": region,
                "expected_account": want_account,
                "listed_by_expected_account": owned,
            });
            let finding = if !owned {
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!(
                        "bucket {} is not owned by account {want_account} (ListBuckets of that account does not list it)",
                        b.name
                    ),
                    evidence,
                )
            } else if region != want_region {
                META.finding(
                    scenario,
                    Status::Fail,
                    &resource,
                    format!(
                        "bucket {} is in {region}, expected {want_region} (its other settings were read in {region})",
                        b.name
                    ),
                    evidence,
                )
            } else {
                META.finding(
                    scenario,
                    Status::Pass,
                    &resource,
                    format!("bucket {} is owned by {want_account} in {region}", b.name),
                    evidence,
                )
            };
            out.push(finding);
        }
        out
    }
}
