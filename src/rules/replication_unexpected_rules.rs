use super::{At, AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::ReplicationConfiguration;
use crate::spec::Replication;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// For a replication the spec marks `exclusive`, the live configuration has no enabled
    /// rule beyond the ones the spec lists.
    ///
    /// ## Why it matters
    /// An extra rule (added by hand, left over from a test) can replicate other prefixes, or
    /// everything, to a bucket the audit never looks at — data leaving the account unaudited.
    ///
    /// ## Example
    /// An extra enabled rule `everything` with an empty filter: fail.
    ///
    /// ## Fix
    /// Remove the unexpected rules, or add them to the spec if they are intended.
    pub struct ReplicationUnexpectedRules;
    id: "replication-unexpected-rules",
    title: "No replication rules beyond the expected ones",
    severity: High,
    scenarios: [Step4, ScenarioB, ScenarioD],
    remediation: "Delete the unexpected replication rules, or declare them in the spec.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html"],
}

impl Rule for ReplicationUnexpectedRules {
    fn walk(&self) -> Walk {
        Walk::Replications
    }

    fn skip_replication(&self, _cx: &AuditContext, r: &Replication) -> Option<String> {
        (!r.exclusive).then(|| {
            format!(
                "replication '{}' is not marked exclusive in the spec",
                r.id.get_ref()
            )
        })
    }

    fn check_replication(
        &self,
        cx: &AuditContext,
        r: &Replication,
        live: &ReplicationConfiguration,
        at: &At,
    ) -> Vec<Finding> {
        let (scenario, resource) = (at.scenario, at.resource.as_str());
        let expected: Vec<_> = r
            .rules
            .iter()
            .filter_map(|w| cx.live_rule(&live.rules, w))
            .collect();
        let extra: Vec<_> = live
            .rules
            .iter()
            .filter(|l| {
                l.status.eq_ignore_ascii_case("Enabled")
                    && !expected.iter().any(|e| std::ptr::eq(*e, *l))
            })
            .collect();
        vec![if extra.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                resource,
                format!(
                    "replication '{}': only the expected rules are enabled",
                    r.id.get_ref()
                ),
                json!({"live_rules": live.rules.len()}),
            )
        } else {
            META.finding(
                scenario,
                Status::Fail,
                resource,
                format!(
                    "replication '{}': unexpected enabled rule(s): {}",
                    r.id.get_ref(),
                    extra
                        .iter()
                        .map(|l| format!(
                            "{} (prefix '{}' → {})",
                            l.id.as_deref().unwrap_or("<no id>"),
                            l.filter.prefix.as_deref().unwrap_or(""),
                            l.destination.bucket
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                json!({"unexpected_rules": extra}),
            )
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_with_only_the_spec_rules() {
        let out = seed().run(&ReplicationUnexpectedRules);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "replication 'incident-reports': only the expected rules are enabled",
        );
    }

    #[test]
    fn fails_on_an_extra_enabled_rule() {
        let mut f = seed();
        let mut extra = f.live_rule("source", "reports-to-abcd").clone();
        extra.id = Some("everything".into());
        extra.priority = Some(2);
        extra.filter.prefix = Some("".into());
        f.replication("source").rules.push(extra.clone());
        let x = only(
            &f.run(&ReplicationUnexpectedRules),
            Status::Fail,
            "replication 'incident-reports': unexpected enabled rule(s): everything (prefix '' → arn:aws:s3:::clint-s3-bucket)",
        );
        assert_eq!(x.resource, SOURCE_ARN);
        // A disabled extra rule replicates nothing.
        f.live_rule("source", "everything").status = "Disabled".into();
        assert_eq!(count(&f.run(&ReplicationUnexpectedRules), Status::Pass), 2);
    }

    #[test]
    fn skips_when_not_exclusive_and_without_configuration() {
        let mut f = seed();
        f.spec.replication[0].exclusive = false;
        f.bucket("logs").replication = Fetched::absent("ReplicationConfigurationNotFoundError");
        let out = f.run(&ReplicationUnexpectedRules);
        has(
            &out,
            Status::Skip,
            "replication 'incident-reports' is not marked exclusive in the spec",
        );
        has(
            &out,
            Status::Skip,
            "no replication configuration on the source bucket (reported by replication-configured)",
        );
        assert_eq!(count(&out, Status::Skip), 2);
    }
}
