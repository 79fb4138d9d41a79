use super::support::{skip, unknown};
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::{BucketState, Fetched};
use crate::spec::{Bucket, Replication};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Versioning is `Enabled` on every bucket the spec expects versioned — in particular on
    /// both the source and the destination of every replication.
    ///
    /// ## Why it matters
    /// S3 replication requires versioning on the source and on every destination bucket; if
    /// the destination's versioning is suspended, replication of new objects fails. Versions
    /// are also what lets a deleted or overwritten incident report be recovered.
    ///
    /// ## Example
    /// `clint-s3-bucket` versioning `Suspended`: fail.
    ///
    /// ## Fix
    /// `aws s3api put-bucket-versioning --bucket B --versioning-configuration Status=Enabled`
    pub struct BucketVersioning;
    id: "bucket-versioning",
    title: "Versioning enabled (replication prerequisite)",
    severity: High,
    scenarios: [Step4, ScenarioD, Step1, Step2],
    remediation: "Enable versioning on the bucket (s3api put-bucket-versioning Status=Enabled).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html",
    ],
}

impl Rule for BucketVersioning {
    fn walk(&self) -> Walk {
        Walk::Buckets
    }

    /// A bucket that takes part in replication goes with that replication's scenario.
    fn bucket_scenario(&self, cx: &AuditContext, alias: &str) -> Scenario {
        match replication_of(cx, alias) {
            Some(r) => cx.replication_scenario(r),
            None => cx.bucket_scenario(alias),
        }
    }

    fn check_bucket_spec(
        &self,
        cx: &AuditContext,
        alias: &str,
        want: &Bucket,
        at: &At,
    ) -> Option<Finding> {
        if want.versioning {
            return None;
        }
        let replicated = replication_of(cx, alias).is_some();
        let reason = if replicated {
            "the spec does not expect versioning, but this bucket takes part in replication, which requires it"
        } else {
            "the spec does not expect versioning on this bucket"
        };
        Some(if replicated {
            META.finding(
                at.scenario,
                Status::Fail,
                at.resource.as_str(),
                reason,
                json!({"spec_versioning": false}),
            )
        } else {
            skip(&META, at.scenario, &at.resource, reason)
        })
    }

    fn check_bucket(
        &self,
        cx: &AuditContext,
        alias: &str,
        _want: &Bucket,
        b: &BucketState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        // A replicated bucket's scenario is never step 1, so no scenario test is needed.
        let why = if replication_of(cx, alias).is_some() {
            " (replication requires versioning on source and destination)"
        } else {
            ""
        };
        vec![match &b.versioning {
            Fetched::Ok { value } if value == "Enabled" => META.finding(
                scenario,
                Status::Pass,
                resource,
                format!("versioning is Enabled on {}", b.name),
                json!({"versioning": value}),
            ),
            Fetched::Ok { value } => META.finding(
                scenario,
                Status::Fail,
                resource,
                format!("versioning is {value} on {}{why}", b.name),
                json!({"versioning": value, "expected": "Enabled"}),
            ),
            f => unknown(&META, scenario, resource, "versioning", f),
        }]
    }
}

/// The first replication the bucket takes part in, as its source or a destination.
fn replication_of<'a>(cx: &AuditContext<'a>, alias: &str) -> Option<&'a Replication> {
    cx.spec.replication.iter().find(|r| {
        r.source.get_ref() == alias || r.rules.iter().any(|x| x.destination.get_ref() == alias)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_enabled_everywhere() {
        let out = seed().run(&BucketVersioning);
        assert_eq!(count(&out, Status::Pass), 4);
        clean(&out, "versioning is Enabled on rubes-s3-bucket");
    }

    #[test]
    fn fails_when_suspended_saying_replication_needs_it() {
        let mut f = seed();
        f.bucket("destination").versioning = Fetched::ok("Suspended".into());
        let x = only(
            &f.run(&BucketVersioning),
            Status::Fail,
            "versioning is Suspended on clint-s3-bucket (replication requires versioning on source and destination)",
        );
        assert_eq!(x.resource, DEST_ARN);
        assert_eq!(x.scenario, Scenario::Step4);
    }

    #[test]
    fn a_spec_without_versioning_fails_for_replicated_buckets_and_skips_others() {
        let mut f = seed();
        f.spec.buckets.get_mut("source").unwrap().versioning = false;
        only(
            &f.run(&BucketVersioning),
            Status::Fail,
            "the spec does not expect versioning, but this bucket takes part in replication",
        );
        let mut f = seed_with_spec(|doc| {
            let b = table(doc, &["buckets", "logs"]).clone();
            table(doc, &["buckets"]).insert("spare".into(), toml::Value::Table(b));
            let spare = table(doc, &["buckets", "spare"]);
            spare.insert("name".into(), "xyz-spare".into());
            spare.insert("versioning".into(), false.into());
        });
        let out = f.run(&BucketVersioning);
        only(
            &out,
            Status::Skip,
            "the spec does not expect versioning on this bucket",
        );
        f.spec.buckets.get_mut("spare").unwrap().versioning = true;
        let spare = f.snap.buckets["logs"].clone();
        f.snap.buckets.insert("spare".into(), spare);
        f.bucket("spare").name = "xyz-spare".into();
        f.bucket("spare").versioning = Fetched::ok("Suspended".into());
        let x = only(
            &f.run(&BucketVersioning),
            Status::Fail,
            "versioning is Suspended",
        );
        assert_eq!(
            x.message, "versioning is Suspended on xyz-spare",
            "no replication note"
        );
        assert_eq!(x.scenario, Scenario::Step1);
        f.snap.buckets.remove("spare");
        has(
            &f.run(&BucketVersioning),
            Status::Error,
            "bucket was not collected",
        );
    }

    #[test]
    fn errors_when_unreadable() {
        let mut f = seed();
        f.bucket("logs").versioning = denied("s3:GetBucketVersioning");
        only(
            &f.run(&BucketVersioning),
            Status::Error,
            "cannot check versioning: s3:GetBucketVersioning failed: AccessDenied",
        );
    }

    /// A bucket whose versioning was never enabled (GetBucketVersioning returns no Status, kept as
    /// `Disabled`) cannot take part in replication (replication-requirements.html).
    #[test]
    fn never_enabled_versioning_fails() {
        let mut f = seed();
        f.bucket("source").versioning = Fetched::ok("Disabled".into());
        let x = only(
            &f.run(&BucketVersioning),
            Status::Fail,
            "versioning is Disabled on rubes-s3-bucket (replication requires versioning on source and destination)",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }
}
