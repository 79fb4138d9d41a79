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
    /// An enabled rule can still be outranked: another enabled live rule to the same destination
    /// bucket, at a higher priority, whose filter matches some of the same objects decides how
    /// those replicate ("objects will be replicated according to the rule with the highest
    /// priority", API_ReplicationRule), so the spec rule's settings do not apply to them.
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
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationRule.html",
    ],
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
                Some(rule) if rule.status.eq_ignore_ascii_case("Enabled") => {
                    match crate::snapshot::outranked_by(&live.rules, rule) {
                        Some(o) => META.finding(
                            scenario,
                            Status::Fail,
                            resource,
                            format!(
                                "{label} is enabled, but live rule '{}' (priority {}) outranks it (priority {}) for the same objects to {}, so S3 replicates them by that rule",
                                o.id.as_deref().unwrap_or("?"),
                                o.priority.unwrap_or(0),
                                rule.priority.unwrap_or(0),
                                rule.destination.bucket
                            ),
                            json!({"rule_id": rule.id, "status": rule.status, "priority": rule.priority, "outranked_by": o.id, "outranking_priority": o.priority}),
                        ),
                        None => META.finding(
                            scenario,
                            Status::Pass,
                            resource,
                            format!("{label} is enabled"),
                            json!({"rule_id": rule.id, "status": rule.status}),
                        ),
                    }
                }
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

    /// "If there are two or more rules with the same destination bucket, then objects will be
    /// replicated according to the rule with the highest priority" (API_ReplicationRule): an
    /// enabled rule whose filter overlaps the spec rule's, to the same bucket, at a higher
    /// priority, decides how the spec rule's objects replicate.
    #[test]
    fn an_overlapping_higher_priority_rule_to_the_same_destination_outranks_it() {
        let mut f = seed();
        let mut other = f.live_rule("source", "reports-to-abcd").clone();
        other.id = Some("everything".into());
        other.priority = Some(5);
        other.filter.prefix = Some("".into());
        other.sse_kms_encrypted_objects = None;
        f.replication("source").rules.push(other);
        only(
            &f.run(&ReplicationRuleEnabled),
            Status::Fail,
            "rule 'reports-to-abcd' is enabled, but live rule 'everything' (priority 5) outranks it (priority 1) for the same objects to arn:aws:s3:::clint-s3-bucket, so S3 replicates them by that rule",
        );
        // Lower priority, disabled, another destination, a disjoint prefix or a tag filter
        // the spec rule's objects cannot match together: the spec rule decides.
        let cases: [fn(&mut crate::snapshot::ReplicationRule); 4] = [
            |r| r.priority = Some(0),
            |r| r.status = "Disabled".into(),
            |r| r.destination.bucket = "arn:aws:s3:::elsewhere".into(),
            |r| r.filter.prefix = Some("exports/".into()),
        ];
        for change in cases {
            let mut g = seed();
            let mut o = other_rule(&mut g);
            change(&mut o);
            g.replication("source").rules.push(o);
            clean(
                &g.run(&ReplicationRuleEnabled),
                "rule 'reports-to-abcd' is enabled",
            );
        }
        // A narrower prefix overlaps too (objects under reports/2026/ go by it).
        let mut g = seed();
        let mut o = other_rule(&mut g);
        o.filter.prefix = Some("reports/2026/".into());
        g.replication("source").rules.push(o);
        only(&g.run(&ReplicationRuleEnabled), Status::Fail, "outranks it");
        // A tag filter on a key the spec rule does not filter on still matches some of its
        // objects (those carrying the tag).
        let mut g = seed();
        let mut o = other_rule(&mut g);
        o.filter.tags.insert("team".into(), "l2".into());
        o.delete_marker_replication = Some("Disabled".into());
        g.replication("source").rules.push(o);
        only(&g.run(&ReplicationRuleEnabled), Status::Fail, "outranks it");
    }

    fn other_rule(f: &mut Fixture) -> crate::snapshot::ReplicationRule {
        let mut o = f.live_rule("source", "reports-to-abcd").clone();
        o.id = Some("everything".into());
        o.priority = Some(5);
        o.filter.prefix = Some("".into());
        o
    }
}
