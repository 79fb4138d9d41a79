use super::support::unknown;
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::{BucketState, Fetched};
use crate::spec::Bucket;
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
    fn walk(&self) -> Walk {
        Walk::Buckets
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
        let want_region = want.region.get_ref();
        let want_account = cx.bucket_account_id(alias).unwrap_or_default();
        let region = match &b.region {
            Fetched::Ok { value } => value,
            Fetched::Absent { reason } => {
                return vec![META.finding(
                    scenario,
                    Status::Fail,
                    resource,
                    format!("bucket {} does not exist ({reason})", b.name),
                    json!({"expected_region": want_region, "expected_account": want_account}),
                )];
            }
            f => {
                return vec![unknown(&META, scenario, resource, "the bucket region", f)];
            }
        };
        let owned = match &b.owned_by_expected_account {
            Fetched::Ok { value } => *value,
            f => {
                return vec![unknown(&META, scenario, resource, "the bucket owner", f)];
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
                resource,
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
                resource,
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
                resource,
                format!("bucket {} is owned by {want_account} in {region}", b.name),
                evidence,
            )
        };
        vec![finding]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_for_every_seed_bucket() {
        let out = seed().run(&BucketLocation);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(
            &out,
            "bucket rubes-s3-bucket is owned by 111122223333 in ap-southeast-1",
        );
    }

    #[test]
    fn fails_in_another_region() {
        let mut f = seed();
        f.bucket("source").region = Fetched::ok("us-east-1".into());
        let out = f.run(&BucketLocation);
        let x = only(
            &out,
            Status::Fail,
            "bucket rubes-s3-bucket is in us-east-1, expected ap-southeast-1",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn fails_when_missing_or_owned_by_another_account() {
        let mut f = seed();
        f.bucket("destination").region = Fetched::absent("s3:HeadBucket: NoSuchBucket");
        only(
            &f.run(&BucketLocation),
            Status::Fail,
            "bucket clint-s3-bucket does not exist (s3:HeadBucket: NoSuchBucket)",
        );
        let mut f = seed();
        f.bucket("destination").owned_by_expected_account = Fetched::ok(false);
        only(
            &f.run(&BucketLocation),
            Status::Fail,
            "bucket clint-s3-bucket is not owned by account 271089868719",
        );
    }

    #[test]
    fn errors_when_unreadable_or_not_collected() {
        let mut f = seed();
        f.bucket("source").region = denied("s3:GetBucketLocation");
        f.bucket("logs").owned_by_expected_account = denied("s3:ListBuckets");
        f.snap.buckets.remove("destination");
        let out = f.run(&BucketLocation);
        assert_eq!(count(&out, Status::Error), 3);
        has(
            &out,
            Status::Error,
            "cannot check the bucket region: s3:GetBucketLocation failed: AccessDenied",
        );
        has(
            &out,
            Status::Error,
            "cannot check the bucket owner: s3:ListBuckets failed",
        );
        has(&out, Status::Error, "bucket was not collected");
    }
}
