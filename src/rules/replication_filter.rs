use super::support::RuleCheck;
use super::{AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// The filter of each live replication rule is exactly the spec's: same key prefix
    /// (an empty prefix means every object) and same tag set.
    ///
    /// ## Why it matters
    /// A prefix off by one character (`report/` for `reports/`) replicates nothing the users
    /// care about; a broader filter copies objects across the account boundary that were never
    /// meant to leave XYZ.
    ///
    /// ## Example
    /// Spec prefix `reports/`, rule filter `docs/`: fail.
    ///
    /// ## Fix
    /// Put the replication configuration with `"Filter": {"Prefix": "reports/"}` (or
    /// `{"And": {"Prefix": ..., "Tags": [...]}}` with tags).
    pub struct ReplicationFilter;
    id: "replication-filter",
    title: "Replication rule filter matches the expected prefix and tags",
    severity: High,
    scenarios: [Step4, ScenarioB, ScenarioD],
    remediation: "Set the rule's Filter to exactly the expected prefix and tags.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-add-config.html#replication-config-optional-filter"],
}

impl Rule for ReplicationFilter {
    fn walk(&self) -> Walk {
        Walk::ReplicationRules
    }

    fn check_replication_rule(&self, _cx: &AuditContext, c: &RuleCheck) -> Vec<Finding> {
        vec![judge(c)]
    }
}

/// One spec rule against the live rule that implements it.
fn judge(c: &RuleCheck) -> Finding {
    let want_prefix = c.want.prefix_or_empty();
    let live_prefix = c.live.filter.prefix.as_deref().unwrap_or("");
    let evidence = json!({
        "expected": {"prefix": want_prefix, "tags": c.want.tags},
        "actual": {"prefix": live_prefix, "tags": c.live.filter.tags, "legacy_prefix_rule": c.live.filter.legacy},
    });
    let mut problems = Vec::new();
    if live_prefix != want_prefix {
        problems.push(format!(
            "prefix is '{live_prefix}', expected '{want_prefix}'"
        ));
    }
    if c.live.filter.tags != c.want.tags {
        problems.push(format!(
            "tags are {:?}, expected {:?}",
            c.live.filter.tags, c.want.tags
        ));
    }
    if problems.is_empty() {
        META.finding(
            c.scenario,
            Status::Pass,
            c.resource,
            format!(
                "{}: filter prefix '{want_prefix}'{}",
                c.label,
                if c.want.tags.is_empty() {
                    String::new()
                } else {
                    format!(" with tags {:?}", c.want.tags)
                }
            ),
            evidence,
        )
    } else {
        META.finding(
            c.scenario,
            Status::Fail,
            c.resource,
            format!("{}: {}", c.label, problems.join("; ")),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_with_the_expected_prefix() {
        let out = seed().run(&ReplicationFilter);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(&out, "rule 'reports-to-abcd': filter prefix 'reports/'");
    }

    #[test]
    fn fails_on_another_prefix() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").filter.prefix = Some("".into());
        let x = only(
            &f.run(&ReplicationFilter),
            Status::Fail,
            "rule 'reports-to-abcd': prefix is '', expected 'reports/'",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn tags_must_match_too() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .filter
            .tags
            .insert("team".into(), "l2".into());
        only(
            &f.run(&ReplicationFilter),
            Status::Fail,
            "rule 'reports-to-abcd': tags are {\"team\": \"l2\"}, expected {}",
        );
        let mut f = seed_with_spec(|doc| {
            let mut tags = toml::Table::new();
            tags.insert("team".into(), "l2".into());
            rule_doc(doc, 1, 0).insert("tags".into(), tags.into());
        });
        has(
            &f.run(&ReplicationFilter),
            Status::Fail,
            "rule 'logs-to-backup': tags are {}, expected {\"team\": \"l2\"}",
        );
        f.live_rule("logs", "logs-to-backup")
            .filter
            .tags
            .insert("team".into(), "l2".into());
        clean(
            &f.run(&ReplicationFilter),
            "rule 'logs-to-backup': filter prefix 'exports/' with tags {\"team\": \"l2\"}",
        );
    }

    #[test]
    fn a_rule_without_live_counterpart_is_skipped() {
        let mut f = seed();
        f.replication("logs").rules.clear();
        only(
            &f.run(&ReplicationFilter),
            Status::Skip,
            "rule 'logs-to-backup': no live rule to check (reported by replication-rule-enabled)",
        );
    }

    /// A V1 rule's top-level Prefix filters as a V2 Filter.Prefix does (replication-add-config.html,
    /// "Backward compatibility"): the same prefix passes, another fails.
    #[test]
    fn a_legacy_v1_prefix_is_compared_like_a_filter_prefix() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").filter.legacy = true;
        has(
            &f.run(&ReplicationFilter),
            Status::Pass,
            "rule 'reports-to-abcd': filter prefix 'reports/'",
        );
        f.live_rule("source", "reports-to-abcd").filter.prefix = Some("report".into());
        only(
            &f.run(&ReplicationFilter),
            Status::Fail,
            "rule 'reports-to-abcd': prefix is 'report', expected 'reports/'",
        );
    }

    /// A prefix is a plain string match: a narrower prefix replicates less than the spec says.
    #[test]
    fn a_narrower_prefix_fails() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").filter.prefix = Some("reports/2026/".into());
        only(
            &f.run(&ReplicationFilter),
            Status::Fail,
            "rule 'reports-to-abcd': prefix is 'reports/2026/', expected 'reports/'",
        );
    }
}
