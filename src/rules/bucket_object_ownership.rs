use super::support::{skip, unknown};
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::{BucketState, Fetched};
use crate::spec::Bucket;
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
        want.object_ownership.is_none().then(|| {
            skip(
                &META,
                at.scenario,
                &at.resource,
                "the spec does not name an Object Ownership setting for this bucket",
            )
        })
    }

    fn check_bucket(
        &self,
        _cx: &AuditContext,
        _alias: &str,
        want: &Bucket,
        b: &BucketState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        // `check_bucket_spec` skipped a bucket whose Object Ownership the spec does not name.
        let Some(want_own) = want.object_ownership.as_ref().map(|o| o.get_ref()) else {
            return Vec::new();
        };
        vec![match &b.ownership_controls {
            Fetched::Ok { value } => META.finding(
                scenario,
                if value == want_own { Status::Pass } else { Status::Fail },
                resource,
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
                resource,
                format!("no ownership controls ({reason}): objects are owned by their writer; expected {want_own}"),
                json!({"expected": want_own, "actual": null}),
            ),
            f => unknown(&META, scenario, resource, "Object Ownership", f),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn spec_ownership(f: &mut Fixture, alias: &str, value: &str) {
        f.spec.buckets.get_mut(alias).unwrap().object_ownership =
            Some(toml::Spanned::new(0..0, value.to_string()));
    }

    #[test]
    fn passes_when_ownership_is_as_specified() {
        let out = seed().run(&BucketObjectOwnership);
        only(
            &out,
            Status::Pass,
            "Object Ownership is BucketOwnerEnforced",
        );
        assert_eq!(count(&out, Status::Skip), 3);
        has(
            &out,
            Status::Skip,
            "the spec does not name an Object Ownership setting for this bucket",
        );
    }

    #[test]
    fn fails_on_another_setting() {
        let mut f = seed();
        f.bucket("destination").ownership_controls = Fetched::ok("ObjectWriter".into());
        let x = only(
            &f.run(&BucketObjectOwnership),
            Status::Fail,
            "Object Ownership is ObjectWriter, expected BucketOwnerEnforced",
        );
        assert_eq!(x.resource, DEST_ARN);
    }

    #[test]
    fn no_controls_means_object_writer() {
        let mut f = seed();
        f.bucket("destination").ownership_controls =
            Fetched::absent("OwnershipControlsNotFoundError");
        only(
            &f.run(&BucketObjectOwnership),
            Status::Fail,
            "no ownership controls (OwnershipControlsNotFoundError): objects are owned by their writer; expected BucketOwnerEnforced",
        );
        // A bucket without controls is right when the spec expects ObjectWriter.
        let mut f = seed();
        f.bucket("source").ownership_controls = Fetched::absent("OwnershipControlsNotFoundError");
        spec_ownership(&mut f, "source", "ObjectWriter");
        let out = f.run(&BucketObjectOwnership);
        assert_eq!(count(&out, Status::Pass), 2);
        has(&out, Status::Pass, "no ownership controls");
    }

    #[test]
    fn errors_when_unreadable_or_not_collected() {
        let mut f = seed();
        f.bucket("destination").ownership_controls = denied("s3:GetBucketOwnershipControls");
        spec_ownership(&mut f, "logs", "BucketOwnerEnforced");
        f.snap.buckets.remove("logs");
        let out = f.run(&BucketObjectOwnership);
        has(
            &out,
            Status::Error,
            "cannot check Object Ownership: s3:GetBucketOwnershipControls failed",
        );
        has(&out, Status::Error, "bucket was not collected");
    }
}
