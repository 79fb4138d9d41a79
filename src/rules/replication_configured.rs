use super::verdict::unknown;
use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::{BucketState, Fetched};
use crate::spec::Replication;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The source bucket of every replication in the spec has a replication configuration.
    ///
    /// ## Why it matters
    /// Without it nothing replicates: the destination silently stops receiving incident
    /// reports, which no one notices until the copy is needed.
    ///
    /// ## Example
    /// `GetBucketReplication` answers `ReplicationConfigurationNotFoundError`: fail.
    ///
    /// ## Fix
    /// `aws s3api put-bucket-replication --bucket SOURCE --replication-configuration file://replication.json`
    pub struct ReplicationConfigured;
    id: "replication-configured",
    title: "Replication configuration present on the source bucket",
    severity: Critical,
    scenarios: [Step4, ScenarioD],
    remediation: "Put a replication configuration on the source bucket (s3api put-bucket-replication).",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-walkthrough-2.html"],
}

impl Rule for ReplicationConfigured {
    fn walk(&self) -> Walk {
        Walk::Sources
    }

    fn check_source(
        &self,
        _cx: &AuditContext,
        r: &Replication,
        b: &BucketState,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        vec![match &b.replication {
            Fetched::Ok { value } => META.finding(
                scenario,
                Status::Pass,
                resource,
                format!(
                    "replication '{}': {} rule(s) configured",
                    r.id.get_ref(),
                    value.rules.len()
                ),
                json!({"role": value.role, "rules": value.rules.len()}),
            ),
            Fetched::Absent { reason } => META.finding(
                scenario,
                Status::Fail,
                resource,
                format!(
                    "replication '{}': no replication configuration on {} ({reason})",
                    r.id.get_ref(),
                    b.name
                ),
                json!({"replication": null}),
            ),
            f => unknown(
                &META,
                scenario,
                resource,
                "the replication configuration",
                f,
            ),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_both_sources_have_a_configuration() {
        let out = seed().run(&ReplicationConfigured);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(&out, "replication 'incident-reports': 1 rule(s) configured");
    }

    #[test]
    fn fails_without_a_configuration() {
        let mut f = seed();
        f.bucket("source").replication = Fetched::absent("ReplicationConfigurationNotFoundError");
        let x = only(
            &f.run(&ReplicationConfigured),
            Status::Fail,
            "replication 'incident-reports': no replication configuration on rubes-s3-bucket (ReplicationConfigurationNotFoundError)",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn errors_when_unreadable_or_not_collected() {
        let mut f = seed();
        f.bucket("source").replication = denied("s3:GetBucketReplication");
        f.snap.buckets.remove("logs");
        let out = f.run(&ReplicationConfigured);
        has(
            &out,
            Status::Error,
            "cannot check the replication configuration: s3:GetBucketReplication failed: AccessDenied",
        );
        has(&out, Status::Error, "bucket was not collected");
    }
}
