use super::support::RuleCheck;
use super::{AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Delete-marker replication is what the spec expects for each rule, and is never
    /// enabled together with a tag filter.
    ///
    /// ## Why it matters
    /// With delete markers replicated, a simple delete in Singapore hides the object in
    /// Sydney too (as the set-up requires); without, the backup keeps objects users deleted.
    /// Either can be the right choice, but it must be the intended one. S3 does not replicate
    /// delete markers for tag-based rules, so "enabled with tags" is a configuration that
    /// does not do what it says. Legacy (V1) rules always replicate delete markers.
    ///
    /// ## Example
    /// Spec expects delete markers replicated; `DeleteMarkerReplication.Status = Disabled`: fail.
    ///
    /// ## Fix
    /// Set `"DeleteMarkerReplication": {"Status": "Enabled"}` (or `Disabled`) on the rule.
    pub struct ReplicationDeleteMarkers;
    id: "replication-delete-markers",
    title: "Delete-marker replication as expected",
    severity: Medium,
    scenarios: [Step4, ScenarioD],
    remediation: "Set the rule's DeleteMarkerReplication Status to the expected value; do not combine it with tag filters.",
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html"],
}

impl Rule for ReplicationDeleteMarkers {
    fn walk(&self) -> Walk {
        Walk::ReplicationRules
    }

    fn check_replication_rule(&self, _cx: &AuditContext, c: &RuleCheck) -> Vec<Finding> {
        vec![judge(c)]
    }
}

/// One spec rule against the live rule that implements it.
fn judge(c: &RuleCheck) -> Finding {
    // V1 rules (no Filter) replicate delete markers by default.
    let actual = if c.live.filter.legacy {
        true
    } else {
        c.live
            .delete_marker_replication
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Enabled"))
    };
    let expected = c.want.delete_marker_replication;
    let evidence = json!({
        "expected": if expected { "Enabled" } else { "Disabled" },
        "actual": c.live.delete_marker_replication,
        "legacy_rule": c.live.filter.legacy,
        "tag_filter": c.live.filter.tags,
    });
    if actual && !c.live.filter.tags.is_empty() {
        return META.finding(c.scenario, Status::Fail, c.resource, format!("{}: delete-marker replication is enabled on a tag-filtered rule; S3 does not replicate delete markers for tag-based rules", c.label), evidence);
    }
    if actual == expected {
        META.finding(
            c.scenario,
            Status::Pass,
            c.resource,
            format!(
                "{}: delete markers {} replicated, as expected",
                c.label,
                if actual { "are" } else { "are not" }
            ),
            evidence,
        )
    } else {
        META.finding(
            c.scenario,
            Status::Fail,
            c.resource,
            format!(
                "{}: delete markers {} replicated, expected {}",
                c.label,
                if actual { "are" } else { "are not" },
                if expected {
                    "replicated"
                } else {
                    "not replicated"
                }
            ),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_as_expected_either_way() {
        let out = seed().run(&ReplicationDeleteMarkers);
        clean(
            &out,
            "rule 'reports-to-abcd': delete markers are replicated, as expected",
        );
        has(
            &out,
            Status::Pass,
            "rule 'logs-to-backup': delete markers are not replicated, as expected",
        );
    }

    #[test]
    fn fails_when_disabled_but_expected_and_enabled_but_not() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .delete_marker_replication = Some("Disabled".into());
        f.live_rule("logs", "logs-to-backup")
            .delete_marker_replication = Some("Enabled".into());
        let out = f.run(&ReplicationDeleteMarkers);
        has(
            &out,
            Status::Fail,
            "rule 'reports-to-abcd': delete markers are not replicated, expected replicated",
        );
        has(
            &out,
            Status::Fail,
            "rule 'logs-to-backup': delete markers are replicated, expected not replicated",
        );
    }

    #[test]
    fn legacy_rules_replicate_delete_markers() {
        let mut f = seed();
        let r = f.live_rule("logs", "logs-to-backup");
        r.filter.legacy = true;
        r.delete_marker_replication = None;
        only(
            &f.run(&ReplicationDeleteMarkers),
            Status::Fail,
            "rule 'logs-to-backup': delete markers are replicated, expected not replicated",
        );
    }

    #[test]
    fn fails_on_a_tag_filtered_rule_with_delete_markers() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .filter
            .tags
            .insert("k".into(), "v".into());
        only(
            &f.run(&ReplicationDeleteMarkers),
            Status::Fail,
            "rule 'reports-to-abcd': delete-marker replication is enabled on a tag-filtered rule",
        );
    }

    /// A V2 rule (with a Filter) that leaves out DeleteMarkerReplication does not replicate delete
    /// markers ("If you're using the latest version of the replication configuration ... delete
    /// markers aren't replicated by default", delete-marker-replication.html).
    #[test]
    fn a_v2_rule_without_the_element_does_not_replicate_delete_markers() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .delete_marker_replication = None;
        only(
            &f.run(&ReplicationDeleteMarkers),
            Status::Fail,
            "rule 'reports-to-abcd': delete markers are not replicated, expected replicated",
        );
        f.live_rule("logs", "logs-to-backup")
            .delete_marker_replication = None;
        has(
            &f.run(&ReplicationDeleteMarkers),
            Status::Pass,
            "rule 'logs-to-backup': delete markers are not replicated, as expected",
        );
    }

    /// A tag-filtered rule with delete-marker replication disabled is what S3 allows.
    #[test]
    fn a_tag_filtered_rule_without_delete_markers_passes() {
        let mut f = seed();
        f.live_rule("logs", "logs-to-backup")
            .filter
            .tags
            .insert("k".into(), "v".into());
        has(
            &f.run(&ReplicationDeleteMarkers),
            Status::Pass,
            "rule 'logs-to-backup': delete markers are not replicated, as expected",
        );
    }
}
