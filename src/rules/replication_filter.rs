use super::support::{per_live_rule, RuleCheck};
use super::{AuditContext, Rule, RuleMeta};
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
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        per_live_rule(&META, cx, |c: &RuleCheck| {
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
        })
    }
}
