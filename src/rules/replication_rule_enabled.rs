use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::ReplicationConfiguration;
use crate::spec::Replication;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Every replication rule of the spec exists in the live configuration (matched by rule ID,
    /// else by prefix and destination) and its status is `Enabled`.
    ///
    /// ## Why it matters
    /// A disabled or missing rule replicates nothing, and S3 gives no error on writes: the
    /// only symptom is a destination that stops changing.
    ///
    /// ## Example
    /// Rule `reports-to-abcd` has `Status: Disabled`: fail.
    ///
    /// ## Fix
    /// Put the replication configuration with the rule's `"Status": "Enabled"`.
    pub struct ReplicationRuleEnabled;
    id: "replication-rule-enabled",
    title: "Replication rule present and enabled",
    severity: Critical,
    scenarios: [Step4, ScenarioD],
    remediation: "Add the rule to the replication configuration and set its Status to Enabled.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html"],
}

impl Rule for ReplicationRuleEnabled {
    fn walk(&self) -> Walk {
        Walk::Replications
    }

    fn check_replication(
        &self,
        cx: &AuditContext,
        r: &Replication,
        live: &ReplicationConfiguration,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        let mut out = Vec::new();
        for (i, want) in r.rules.iter().enumerate() {
            let label = want.label(i);
            out.push(match cx.live_rule(&live.rules, want) {
                Some(rule) if rule.status.eq_ignore_ascii_case("Enabled") => META.finding(
                    scenario,
                    Status::Pass,
                    resource,
                    format!("{label} is enabled"),
                    json!({"rule_id": rule.id, "status": rule.status}),
                ),
                Some(rule) => META.finding(
                    scenario,
                    Status::Fail,
                    resource,
                    format!("{label} is {}", rule.status),
                    json!({"rule_id": rule.id, "status": rule.status}),
                ),
                None => META.finding(
                    scenario,
                    Status::Fail,
                    resource,
                    format!(
                        "{label}: no live rule replicates prefix '{}' to {}",
                        want.prefix_or_empty(),
                        cx.bucket_arn(want.destination.get_ref())
                    ),
                    json!({"live_rule_ids": live.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>()}),
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_every_rule_is_enabled() {
        let out = seed().run(&ReplicationRuleEnabled);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(&out, "rule 'reports-to-abcd' is enabled");
    }

    #[test]
    fn fails_when_disabled() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").status = "Disabled".into();
        only(
            &f.run(&ReplicationRuleEnabled),
            Status::Fail,
            "rule 'reports-to-abcd' is Disabled",
        );
    }

    #[test]
    fn fails_when_no_live_rule_matches() {
        let mut f = seed();
        let r = f.live_rule("source", "reports-to-abcd");
        r.id = Some("renamed".into());
        r.filter.prefix = Some("other/".into());
        only(
            &f.run(&ReplicationRuleEnabled),
            Status::Fail,
            "rule 'reports-to-abcd': no live rule replicates prefix 'reports/' to arn:aws:s3:::clint-s3-bucket",
        );
    }

    #[test]
    fn a_renamed_rule_with_the_same_prefix_and_destination_still_counts() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").id = Some("renamed".into());
        clean(
            &f.run(&ReplicationRuleEnabled),
            "rule 'reports-to-abcd' is enabled",
        );
    }

    #[test]
    fn skips_without_configuration_and_errors_when_unreadable() {
        let mut f = seed();
        f.bucket("source").replication = Fetched::absent("ReplicationConfigurationNotFoundError");
        f.bucket("logs").replication = denied("s3:GetBucketReplication");
        let out = f.run(&ReplicationRuleEnabled);
        only(
            &out,
            Status::Skip,
            "no replication configuration on the source bucket (reported by replication-configured)",
        );
        only(
            &out,
            Status::Error,
            "cannot check the replication configuration: s3:GetBucketReplication failed",
        );
        f.snap.buckets.remove("logs");
        has(
            &f.run(&ReplicationRuleEnabled),
            Status::Error,
            "bucket was not collected",
        );
    }
}
