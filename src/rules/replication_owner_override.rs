use super::support::{skip, RuleCheck};
use super::{AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// For a cross-account destination, replicas end up owned by the destination account:
    /// the rule sets `AccessControlTranslation.Owner = Destination` (required when the spec
    /// says `owner_override = true`), or else the destination bucket enforces
    /// `BucketOwnerEnforced` object ownership.
    ///
    /// ## Why it matters
    /// Without it, replicas in ABCD's bucket remain owned by XYZ, and ABCD's users (tom-cruise)
    /// cannot be granted access to them by ABCD's own policies.
    ///
    /// ## Example
    /// Cross-account rule without `AccessControlTranslation`, destination `ObjectWriter`: fail.
    ///
    /// ## Fix
    /// Add `"AccessControlTranslation": {"Owner": "Destination"}` and the destination `Account`
    /// to the rule, and `s3:ObjectOwnerOverrideToBucketOwner` to the role; or set the
    /// destination bucket's Object Ownership to `BucketOwnerEnforced`.
    pub struct ReplicationOwnerOverride;
    id: "replication-owner-override",
    title: "Replica ownership goes to the destination account",
    severity: High,
    scenarios: [Step4, ScenarioD],
    remediation: "Set AccessControlTranslation Owner=Destination on the rule (and grant s3:ObjectOwnerOverrideToBucketOwner), or BucketOwnerEnforced on the destination bucket.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-change-owner.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html",
    ],
}

impl Rule for ReplicationOwnerOverride {
    fn walk(&self) -> Walk {
        Walk::ReplicationRules
    }

    fn check_replication_rule(&self, cx: &AuditContext, c: &RuleCheck) -> Vec<Finding> {
        vec![judge(cx, c)]
    }
}

/// One spec rule against the live rule that implements it.
fn judge(cx: &AuditContext, c: &RuleCheck) -> Finding {
    let dest_alias = c.want.destination.get_ref();
    let cross_account =
        cx.bucket_account_id(dest_alias) != cx.bucket_account_id(c.replication.source.get_ref());
    let translated = c.live.destination.access_control_owner.as_deref() == Some("Destination");
    if !cross_account && !c.want.owner_override {
        return skip(
            &META,
            c.scenario,
            c.resource,
            format!(
                "{}: same-account destination; ownership translation not needed",
                c.label
            ),
        );
    }
    let enforced = match cx.bucket_state(dest_alias).map(|b| &b.ownership_controls) {
        Some(Fetched::Ok { value }) => Some(value == "BucketOwnerEnforced"),
        Some(Fetched::Absent { .. }) => Some(false),
        _ => None,
    };
    let evidence = json!({
        "spec_owner_override": c.want.owner_override,
        "access_control_translation_owner": c.live.destination.access_control_owner,
        "destination_bucket_owner_enforced": enforced,
        "cross_account": cross_account,
    });
    if translated {
        return META.finding(
            c.scenario,
            Status::Pass,
            c.resource,
            format!(
                "{}: replica ownership is translated to the destination owner",
                c.label
            ),
            evidence,
        );
    }
    if c.want.owner_override {
        return META.finding(c.scenario, Status::Fail, c.resource, format!("{}: the spec expects AccessControlTranslation Owner=Destination; the rule does not set it", c.label), evidence);
    }
    match enforced {
        Some(true) => META.finding(c.scenario, Status::Pass, c.resource, format!("{}: destination enforces BucketOwnerEnforced, so replicas are owned by the destination account", c.label), evidence),
        Some(false) => META.finding(c.scenario, Status::Fail, c.resource, format!("{}: cross-account replicas stay owned by the source account (no owner override, destination not BucketOwnerEnforced)", c.label), evidence),
        None => super::support::error(&META, c.scenario, c.resource, "destination Object Ownership could not be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_ownership_is_translated_and_skips_same_account() {
        let out = seed().run(&ReplicationOwnerOverride);
        only(
            &out,
            Status::Pass,
            "rule 'reports-to-abcd': replica ownership is translated to the destination owner",
        );
        only(
            &out,
            Status::Skip,
            "rule 'logs-to-backup': same-account destination; ownership translation not needed",
        );
    }

    #[test]
    fn fails_when_the_spec_expects_translation_and_the_rule_lacks_it() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .destination
            .access_control_owner = None;
        only(
            &f.run(&ReplicationOwnerOverride),
            Status::Fail,
            "rule 'reports-to-abcd': the spec expects AccessControlTranslation Owner=Destination; the rule does not set it",
        );
    }

    #[test]
    fn without_override_in_the_spec_bucket_owner_enforced_suffices() {
        let mut f = seed();
        f.spec.replication[0].rules[0].owner_override = false;
        f.live_rule("source", "reports-to-abcd")
            .destination
            .access_control_owner = None;
        has(
            &f.run(&ReplicationOwnerOverride),
            Status::Pass,
            "rule 'reports-to-abcd': destination enforces BucketOwnerEnforced",
        );
        f.bucket("destination").ownership_controls = Fetched::ok("ObjectWriter".into());
        only(
            &f.run(&ReplicationOwnerOverride),
            Status::Fail,
            "rule 'reports-to-abcd': cross-account replicas stay owned by the source account",
        );
        f.bucket("destination").ownership_controls = Fetched::absent("none");
        only(
            &f.run(&ReplicationOwnerOverride),
            Status::Fail,
            "cross-account replicas stay owned by the source account",
        );
        f.bucket("destination").ownership_controls = denied("s3:GetBucketOwnershipControls");
        only(
            &f.run(&ReplicationOwnerOverride),
            Status::Error,
            "cannot check: destination Object Ownership could not be read",
        );
    }

    /// Same account, the spec may still ask for the override: then the rule must set it.
    #[test]
    fn a_same_account_override_the_spec_asks_for_is_checked() {
        let mut f = seed();
        f.spec.replication[1].rules[0].owner_override = true;
        only(
            &f.run(&ReplicationOwnerOverride),
            Status::Fail,
            "rule 'logs-to-backup': the spec expects AccessControlTranslation Owner=Destination; the rule does not set it",
        );
        f.live_rule("logs", "logs-to-backup")
            .destination
            .access_control_owner = Some("Destination".into());
        has(
            &f.run(&ReplicationOwnerOverride),
            Status::Pass,
            "rule 'logs-to-backup': replica ownership is translated to the destination owner",
        );
    }

    /// `BucketOwnerPreferred` keeps the writer's ownership when the writer does not send the
    /// bucket-owner-full-control ACL, which replication does not: only `BucketOwnerEnforced`
    /// makes the destination owner own every replica (about-object-ownership.html).
    #[test]
    fn bucket_owner_preferred_is_not_enough_without_override() {
        let mut f = seed();
        f.spec.replication[0].rules[0].owner_override = false;
        f.live_rule("source", "reports-to-abcd")
            .destination
            .access_control_owner = None;
        f.bucket("destination").ownership_controls = Fetched::ok("BucketOwnerPreferred".into());
        only(
            &f.run(&ReplicationOwnerOverride),
            Status::Fail,
            "rule 'reports-to-abcd': cross-account replicas stay owned by the source account",
        );
    }
}
