use super::support::{skip, unknown};
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::{BucketState, Fetched};
use crate::spec::Bucket;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The bucket-level S3 Block Public Access configuration has all four settings on
    /// (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets) for every
    /// bucket the spec says must block public access.
    ///
    /// ## Why it matters
    /// Incident reports and their replicas must never become public through an ACL or a
    /// bucket-policy mistake. The bucket-level setting protects the bucket even if the
    /// account-level setting is later relaxed.
    ///
    /// ## Example
    /// `RestrictPublicBuckets = false` on `rubes-s3-bucket`: fail, naming the setting.
    ///
    /// ## Fix
    /// `aws s3api put-public-access-block --bucket B --public-access-block-configuration
    /// BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`
    pub struct BucketPublicAccessBlock;
    id: "bucket-public-access-block",
    title: "Bucket-level Block Public Access fully on",
    severity: High,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Turn on all four bucket-level Block Public Access settings (s3api put-public-access-block).",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html"],
}

impl Rule for BucketPublicAccessBlock {
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
        (!want.block_public_access).then(|| {
            skip(
                &META,
                at.scenario,
                &at.resource,
                "the spec does not require Block Public Access on this bucket",
            )
        })
    }

    fn check_bucket(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        _want: &Bucket,
        b: &BucketState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        vec![match &b.public_access_block {
            Fetched::Ok { value } if value.all_on() => META.finding(
                scenario,
                Status::Pass,
                resource,
                "all four Block Public Access settings are on",
                json!({"public_access_block": value}),
            ),
            Fetched::Ok { value } => META.finding(
                scenario,
                Status::Fail,
                resource,
                format!(
                    "Block Public Access settings off: {}",
                    value.off().join(", ")
                ),
                json!({"public_access_block": value, "off": value.off()}),
            ),
            Fetched::Absent { reason } => META.finding(
                scenario,
                Status::Fail,
                resource,
                format!("no bucket-level Block Public Access configuration ({reason})"),
                json!({"public_access_block": null}),
            ),
            f => unknown(&META, scenario, resource, "Block Public Access", f),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;
    use crate::snapshot::PublicAccessBlock;

    #[test]
    fn passes_when_all_four_settings_are_on() {
        let out = seed().run(&BucketPublicAccessBlock);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(&out, "all four Block Public Access settings are on");
    }

    #[test]
    fn fails_naming_the_settings_that_are_off() {
        let mut f = seed();
        f.bucket("source").public_access_block = Fetched::ok(PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: false,
            restrict_public_buckets: false,
        });
        let out = f.run(&BucketPublicAccessBlock);
        let x = only(
            &out,
            Status::Fail,
            "Block Public Access settings off: BlockPublicPolicy, RestrictPublicBuckets",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn fails_without_a_configuration() {
        let mut f = seed();
        f.bucket("logs").public_access_block =
            Fetched::absent("NoSuchPublicAccessBlockConfiguration");
        only(
            &f.run(&BucketPublicAccessBlock),
            Status::Fail,
            "no bucket-level Block Public Access configuration (NoSuchPublicAccessBlockConfiguration)",
        );
    }

    #[test]
    fn errors_when_unreadable_and_skips_when_not_required() {
        let mut f = seed();
        f.bucket("source").public_access_block = denied("s3:GetPublicAccessBlock");
        f.snap.buckets.remove("logs");
        f.spec
            .buckets
            .get_mut("destination")
            .unwrap()
            .block_public_access = false;
        let out = f.run(&BucketPublicAccessBlock);
        has(
            &out,
            Status::Error,
            "cannot check Block Public Access: s3:GetPublicAccessBlock failed: AccessDenied",
        );
        has(&out, Status::Error, "bucket was not collected");
        only(
            &out,
            Status::Skip,
            "the spec does not require Block Public Access on this bucket",
        );
    }
}
