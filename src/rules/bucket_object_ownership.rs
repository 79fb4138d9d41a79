use super::support::{error, skip, unknown};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The bucket's Object Ownership setting is the one the spec names (typically
    /// `BucketOwnerEnforced` on a cross-account destination).
    ///
    /// ## Why it matters
    /// With `BucketOwnerEnforced`, ACLs are disabled and the destination account owns every
    /// replica, so ABCD's own IAM policies govern access to them. With `ObjectWriter`, replicas
    /// written by XYZ's role would stay owned by XYZ unless the rule translates ownership.
    ///
    /// ## Example
    /// Spec expects `BucketOwnerEnforced`, bucket has `ObjectWriter`: fail.
    ///
    /// ## Fix
    /// `aws s3api put-bucket-ownership-controls --bucket B --ownership-controls Rules=[{ObjectOwnership=BucketOwnerEnforced}]`
    pub struct BucketObjectOwnership;
    id: "bucket-object-ownership",
    title: "Object Ownership as specified",
    severity: Medium,
    scenarios: [Step1, Step2, ScenarioD],
    remediation: "Set the bucket's Object Ownership to the spec's value (s3api put-bucket-ownership-controls).",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html"],
}

impl Rule for BucketObjectOwnership {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, want) in &cx.spec.buckets {
            let scenario = cx.bucket_scenario(alias);
            let resource = cx.bucket_arn(alias);
            let Some(want_own) = &want.object_ownership else {
                out.push(skip(
                    &META,
                    scenario,
                    &resource,
                    "the spec does not name an Object Ownership setting for this bucket",
                ));
                continue;
            };
            let want_own = want_own.get_ref();
            let Some(b) = cx.bucket_state(alias) else {
                out.push(error(
                    &META,
                    scenario,
                    &resource,
                    "bucket was not collected",
                ));
                continue;
            };
            out.push(match &b.ownership_controls {
                Fetched::Ok { value } => META.finding(
                    scenario,
                    if value == want_own { Status::Pass } else { Status::Fail },
                    &resource,
                    if value == want_own {
                        format!("Object Ownership is {value}")
                    } else {
                        format!("Object Ownership is {value}, expected {want_own}")
                    },
                    json!({"expected": want_own, "actual": value}),
                ),
                // No ownership controls means the legacy default, ObjectWriter.
                Fetched::Absent { reason } => META.finding(
                    scenario,
                    if want_own == "ObjectWriter" { Status::Pass } else { Status::Fail },
                    &resource,
                    format!("no ownership controls ({reason}): objects are owned by their writer; expected {want_own}"),
                    json!({"expected": want_own, "actual": null}),
                ),
                f => unknown(&META, scenario, &resource, "Object Ownership", f),
            });
        }
        out
    }
}
