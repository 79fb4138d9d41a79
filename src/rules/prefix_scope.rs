use super::support::{live_replication, skip};
use super::{AuditContext, Rule};
use crate::findings::{Finding, Scenario, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Scenario B: the enabled rules of the named replication replicate exactly the spec's
    /// prefixes — every replicated prefix is covered by an enabled rule, no enabled rule
    /// reaches outside them (an empty filter replicates the whole bucket), and the spec's
    /// sample unreplicated prefix is matched by no enabled rule.
    ///
    /// ## Why it matters
    /// "Only these prefixes cross the region/account boundary" is a data-residency promise.
    /// A rule whose prefix is empty or too short quietly ships everything else too.
    ///
    /// ## Example
    /// Enabled rule with `Filter: {Prefix: ""}`: fail, the whole bucket replicates.
    ///
    /// ## Fix
    /// Give every rule a filter inside the replicated prefixes; delete rules that reach
    /// beyond them.
    pub struct PrefixScope;
    id: "prefix-scope",
    title: "Only the expected prefixes replicate",
    severity: High,
    scenarios: [ScenarioB],
    remediation: "Restrict every enabled replication rule's filter to the replicated prefixes.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html#replication-config-optional-filter"],
}

impl Rule for PrefixScope {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let scenario = Scenario::ScenarioB;
        let Some(b) = &cx.spec.scenario_b else {
            return vec![skip(
                &META,
                scenario,
                "-",
                "the spec declares no scenario B",
            )];
        };
        let Some(r) = cx.spec.replication_by_id(b.replication.get_ref()) else {
            return vec![];
        };
        let resource = cx.bucket_arn(r.source.get_ref());
        let live = match live_replication(&META, cx, r) {
            Ok(l) => l,
            Err(f) => return vec![Finding { scenario, ..f }],
        };
        let enabled: Vec<_> = live
            .rules
            .iter()
            .filter(|x| x.status.eq_ignore_ascii_case("Enabled"))
            .collect();
        let mut problems = Vec::new();
        for rule in &enabled {
            let p = rule.filter.prefix.as_deref().unwrap_or("");
            if !b
                .replicated_prefixes
                .iter()
                .any(|want| p.starts_with(want.as_str()))
            {
                problems.push(format!(
                    "rule {} replicates prefix '{p}'{}, outside {:?}",
                    rule.id.as_deref().unwrap_or("<no id>"),
                    if p.is_empty() {
                        " (the whole bucket)"
                    } else {
                        ""
                    },
                    b.replicated_prefixes
                ));
            }
        }
        for want in &b.replicated_prefixes {
            let covered = enabled.iter().any(|x| {
                want.starts_with(x.filter.prefix.as_deref().unwrap_or(""))
                    && x.filter.tags.is_empty()
            });
            if !covered {
                problems.push(format!(
                    "no enabled rule replicates every object under '{want}'"
                ));
            }
        }
        let sample = &b.unreplicated_prefix;
        if let Some(x) = enabled
            .iter()
            .find(|x| sample.starts_with(x.filter.prefix.as_deref().unwrap_or("")))
        {
            problems.push(format!(
                "the unreplicated prefix '{sample}' is replicated by rule {}",
                x.id.as_deref().unwrap_or("<no id>")
            ));
        }
        let evidence = json!({
            "replicated_prefixes": b.replicated_prefixes,
            "unreplicated_sample_prefix": sample,
            "enabled_rule_filters": enabled.iter().map(|x| json!({"id": x.id, "prefix": x.filter.prefix, "tags": x.filter.tags})).collect::<Vec<_>>(),
        });
        vec![if problems.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                &resource,
                format!("only {:?} replicate", b.replicated_prefixes),
                evidence,
            )
        } else {
            META.finding(
                scenario,
                Status::Fail,
                &resource,
                problems.join("; "),
                evidence,
            )
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_only_the_replicated_prefixes_replicate() {
        let out = seed().run(&PrefixScope);
        let x = only(&out, Status::Pass, "only [\"reports/\"] replicate");
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn fails_when_the_whole_bucket_replicates() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").filter.prefix = None;
        only(
            &f.run(&PrefixScope),
            Status::Fail,
            "rule reports-to-abcd replicates prefix '' (the whole bucket), outside [\"reports/\"]; the unreplicated prefix 'scratch/' is replicated by rule reports-to-abcd",
        );
    }

    #[test]
    fn fails_when_a_replicated_prefix_is_not_fully_covered() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").filter.prefix = Some("reports/2024/".into());
        only(
            &f.run(&PrefixScope),
            Status::Fail,
            "no enabled rule replicates every object under 'reports/'",
        );
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .filter
            .tags
            .insert("k".into(), "v".into());
        only(
            &f.run(&PrefixScope),
            Status::Fail,
            "no enabled rule replicates every object under 'reports/'",
        );
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").status = "Disabled".into();
        only(
            &f.run(&PrefixScope),
            Status::Fail,
            "no enabled rule replicates every object under 'reports/'",
        );
    }

    #[test]
    fn skips_without_scenario_and_reports_unreadable_configuration_under_b() {
        let mut f = seed();
        f.bucket("source").replication = denied("s3:GetBucketReplication");
        let x = only(
            &f.run(&PrefixScope),
            Status::Error,
            "cannot check the replication configuration: s3:GetBucketReplication failed",
        );
        assert_eq!(x.scenario, Scenario::ScenarioB);
        f.spec.scenario_b = None;
        only(
            &f.run(&PrefixScope),
            Status::Skip,
            "the spec declares no scenario B",
        );
    }

    /// An extra rule replicates only while enabled: an empty-prefix rule that is disabled keeps
    /// the scope, enabled it ships the whole bucket (replication-add-config.html).
    #[test]
    fn an_extra_whole_bucket_rule_counts_only_when_enabled() {
        let mut f = seed();
        let mut extra = f.live_rule("source", "reports-to-abcd").clone();
        extra.id = Some("everything".into());
        extra.filter.prefix = None;
        extra.priority = Some(2);
        extra.status = "Disabled".into();
        f.replication("source").rules.push(extra);
        only(
            &f.run(&PrefixScope),
            Status::Pass,
            "only [\"reports/\"] replicate",
        );
        f.live_rule("source", "everything").status = "Enabled".into();
        only(
            &f.run(&PrefixScope),
            Status::Fail,
            "rule everything replicates prefix '' (the whole bucket)",
        );
    }
}
