use super::support::RuleCheck;
use super::{AuditContext, Rule, Walk};
use crate::findings::{Finding, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Each rule's destination is the spec's destination bucket ARN; a `Destination.Account`, when
    /// set, is the destination bucket owner's account id; and a rule that translates replica
    /// ownership (`AccessControlTranslation`) sets `Account`.
    ///
    /// `Destination.Account` is optional: the S3 API reference defines it as the destination
    /// bucket owner's account id for the case where "you direct Amazon S3 to change replica
    /// ownership ... by specifying the AccessControlTranslation property", and the owner override
    /// is configured by adding both `AccessControlTranslation` and `Account` to the destination.
    /// A cross-account rule without an owner override and without `Account` is valid; who owns
    /// its replicas (the source account, or the destination owner when the destination bucket
    /// enforces `BucketOwnerEnforced`) is `replication-owner-override`'s question.
    ///
    /// ## Why it matters
    /// A wrong bucket ARN copies XYZ's data to a bucket ABCD does not own; a wrong `Account` or
    /// an owner override without `Account` means the ownership hand-over ABCD relies on does not
    /// happen.
    ///
    /// ## Example
    /// `AccessControlTranslation` set but `Destination.Account` missing: fail. No owner override,
    /// no `Account`, destination `BucketOwnerEnforced`: pass.
    ///
    /// ## Fix
    /// Set `"Destination": {"Bucket": "arn:aws:s3:::DEST", "Account": "DEST-ACCOUNT-ID", ...}`.
    pub struct ReplicationDestination;
    id: "replication-destination",
    title: "Destination bucket ARN and account set",
    severity: Critical,
    scenarios: [Step4, ScenarioD],
    remediation: "Set the rule's Destination.Bucket to the destination bucket ARN, and Destination.Account to the destination bucket owner's account id whenever it is set or the rule has AccessControlTranslation.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_Destination.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-change-owner.html",
    ],
}

impl Rule for ReplicationDestination {
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
    let want_bucket = cx.bucket_arn(dest_alias);
    let want_account = cx.bucket_account_id(dest_alias).unwrap_or_default();
    let source_account = cx
        .bucket_account_id(c.replication.source.get_ref())
        .unwrap_or_default();
    let cross_account = want_account != source_account;
    let d = &c.live.destination;
    let evidence = json!({
        "expected_bucket": want_bucket,
        "expected_account": want_account,
        "actual_bucket": d.bucket,
        "actual_account": d.account,
        "cross_account": cross_account,
        "access_control_translation": d.access_control_owner,
    });
    let mut problems = Vec::new();
    if d.bucket != want_bucket {
        problems.push(format!(
            "destination bucket is {}, expected {want_bucket}",
            d.bucket
        ));
    }
    let owner_override = d.access_control_owner.is_some();
    match d.account.as_deref() {
        Some(a) if a != want_account => problems.push(format!(
            "destination account is {a}, expected {want_account}"
        )),
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-change-owner.html#repl-ownership-owneroverride-option
        None if owner_override => problems.push(format!(
            "the rule translates replica ownership (AccessControlTranslation) but does not set Destination.Account ({want_account})"
        )),
        _ => {}
    }
    if problems.is_empty() {
        META.finding(
            c.scenario,
            Status::Pass,
            c.resource,
            match (&d.account, cross_account) {
                (Some(_), _) | (None, false) => format!(
                    "{}: replicates to {want_bucket} in account {want_account}",
                    c.label
                ),
                (None, true) => format!(
                    "{}: replicates to {want_bucket} (account {want_account}); Destination.Account is not set, which S3 needs only with an owner override",
                    c.label
                ),
            },
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
    fn passes_with_the_expected_bucket_and_account() {
        let out = seed().run(&ReplicationDestination);
        assert_eq!(count(&out, Status::Pass), 2);
        clean(
            &out,
            "rule 'reports-to-abcd': replicates to arn:aws:s3:::clint-s3-bucket in account 271089868719",
        );
    }

    #[test]
    fn fails_on_another_destination_bucket() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").destination.bucket =
            "arn:aws:s3:::attacker-bucket".into();
        // Found by id, so the rule is checked (not reported missing).
        let x = only(
            &f.run(&ReplicationDestination),
            Status::Fail,
            "rule 'reports-to-abcd': destination bucket is arn:aws:s3:::attacker-bucket, expected arn:aws:s3:::clint-s3-bucket",
        );
        assert_eq!(x.resource, SOURCE_ARN);
    }

    #[test]
    fn fails_on_another_or_a_missing_cross_account_id() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd").destination.account = Some("444455556666".into());
        only(
            &f.run(&ReplicationDestination),
            Status::Fail,
            "rule 'reports-to-abcd': destination account is 444455556666, expected 271089868719",
        );
        // With the owner override S3 needs Destination.Account; without it, it does not.
        f.live_rule("source", "reports-to-abcd").destination.account = None;
        only(
            &f.run(&ReplicationDestination),
            Status::Fail,
            "rule 'reports-to-abcd': the rule translates replica ownership (AccessControlTranslation) but does not set Destination.Account (271089868719)",
        );
        f.live_rule("source", "reports-to-abcd")
            .destination
            .access_control_owner = None;
        let out = f.run(&ReplicationDestination);
        has(
            &out,
            Status::Pass,
            "rule 'reports-to-abcd': replicates to arn:aws:s3:::clint-s3-bucket (account 271089868719); Destination.Account is not set, which S3 needs only with an owner override",
        );
        assert_eq!(count(&out, Status::Fail), 0);
    }

    #[test]
    fn a_same_account_destination_needs_no_account_id() {
        let mut f = seed();
        f.live_rule("logs", "logs-to-backup").destination.account = None;
        clean(
            &f.run(&ReplicationDestination),
            "rule 'logs-to-backup': replicates to arn:aws:s3:::xyz-app-logs-backup in account 111122223333",
        );
    }

    /// In the China partition the destination ARN is `arn:aws-cn:s3:::`; an `arn:aws:` ARN
    /// names no bucket there (reference-arns.html).
    #[test]
    fn the_destination_arn_carries_the_partition() {
        let mut f = seed_in_china();
        has(
            &f.run(&ReplicationDestination),
            Status::Pass,
            "rule 'reports-to-abcd': replicates to arn:aws-cn:s3:::clint-s3-bucket in account 271089868719",
        );
        f.live_rule("source", "reports-to-abcd").destination.bucket = DEST_ARN.into();
        only(
            &f.run(&ReplicationDestination),
            Status::Fail,
            "rule 'reports-to-abcd': destination bucket is arn:aws:s3:::clint-s3-bucket, expected arn:aws-cn:s3:::clint-s3-bucket",
        );
    }
}
