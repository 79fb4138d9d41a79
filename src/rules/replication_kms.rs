use super::kms_support::check_live_key;
use super::support::{error, skip, RuleCheck};
use super::{AuditContext, Rule, Walk};
use crate::access::kms::{key_metadata, live_replica_key};
use crate::findings::{Finding, Scenario, Status};
use crate::snapshot::Fetched;
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Where the spec expects encrypted replicas, the rule opts SSE-KMS objects in
    /// (`SourceSelectionCriteria.SseKmsEncryptedObjects = Enabled`) and names the spec's
    /// replica key (`EncryptionConfiguration.ReplicaKmsKeyID`), compared by key ARN (the rule may
    /// name the key by an alias ARN: DescribeKey resolves it). The replica key must be usable:
    /// enabled (not disabled or pending deletion), a symmetric key, in the destination bucket's
    /// Region ("The KMS key must have been created in the same AWS Region as the destination
    /// bucket"), and a customer managed key when the destination is in another account ("AWS
    /// managed keys don't allow cross-account use"). S3 does not check any of this when the
    /// configuration is put: replication just fails.
    ///
    /// ## Why it matters
    /// S3 does not replicate SSE-KMS objects unless the rule opts in, and re-encrypts replicas
    /// with the key the rule names. A missing replica key means no replication of encrypted
    /// reports; a wrong key means replicas ABCD's readers cannot decrypt (scenario A).
    ///
    /// ## Example
    /// `EncryptionConfiguration` absent: fail. Replica key disabled: fail.
    ///
    /// ## Fix
    /// Add `"SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}}` and
    /// `"EncryptionConfiguration": {"ReplicaKmsKeyID": "KEY-ARN"}` to the rule.
    pub struct ReplicationKms;
    id: "replication-kms",
    title: "SSE-KMS objects selected and re-encrypted with the replica key",
    severity: High,
    scenarios: [ScenarioA],
    remediation: "Enable SseKmsEncryptedObjects in SourceSelectionCriteria and set Destination.EncryptionConfiguration.ReplicaKmsKeyID to the replica key ARN.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html",
        "https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
    ],
}

impl Rule for ReplicationKms {
    fn walk(&self) -> Walk {
        Walk::ReplicationRules
    }

    fn check_replication_rule(&self, cx: &AuditContext, c: &RuleCheck) -> Vec<Finding> {
        vec![judge(cx, c)]
    }
}

/// One spec rule against the live rule that implements it.
fn judge(cx: &AuditContext, c: &RuleCheck) -> Finding {
    let scenario = if c.scenario == Scenario::ScenarioD {
        Scenario::ScenarioD
    } else {
        Scenario::ScenarioA
    };
    let Some(want_key) = c.want.replica_kms_key_arn.as_ref().map(|k| k.get_ref()) else {
        return skip(
            &META,
            scenario,
            c.resource,
            format!("{}: the spec does not expect SSE-KMS replicas", c.label),
        );
    };
    let selected = c
        .live
        .sse_kms_encrypted_objects
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("Enabled"));
    let key = c.live.destination.replica_kms_key_id.as_deref();
    let source = c.replication.source.get_ref();
    let live_ref = live_replica_key(cx.spec, &cx.snap.buckets, source, c.live);
    let dest = c.want.destination.get_ref();
    let dest_region = cx
        .spec
        .bucket(dest)
        .map(|b| b.region.get_ref().as_str())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut unknowns = Vec::new();
    if !selected {
        problems.push(
            "SSE-KMS encrypted objects are not selected for replication (SourceSelectionCriteria)"
                .to_string(),
        );
    }
    let mut resolved = None;
    match &live_ref {
        Some(r) => {
            let k = check_live_key(cx, want_key, r, dest_region);
            problems.extend(k.problems.iter().map(|p| format!("replica {p}")));
            unknowns.extend(k.unknowns);
            resolved = k.actual_key_arn;
            // AWS managed keys cannot be used by another account.
            // https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html#replication-kms-cross-acct-scenario
            let cross_account = cx.bucket_account_id(dest) != cx.bucket_account_id(source);
            if let Fetched::Ok { value } = key_metadata(cx.snap, r) {
                if cross_account && value.key_manager.as_deref() == Some("AWS") {
                    problems.push(format!(
                        "replica key {r} is an AWS managed key, which another account cannot use"
                    ));
                }
            }
        }
        None => problems
            .push("no replica KMS key (EncryptionConfiguration.ReplicaKmsKeyID)".to_string()),
    }
    let evidence = json!({
        "expected_replica_key": want_key,
        "actual_replica_key": key,
        "actual_replica_key_arn": resolved,
        "sse_kms_encrypted_objects": c.live.sse_kms_encrypted_objects,
        "unknown": unknowns,
    });
    if problems.is_empty() && !unknowns.is_empty() {
        return error(
            &META,
            scenario,
            c.resource,
            format!("{}: {}", c.label, unknowns.join("; ")),
        );
    }
    if problems.is_empty() {
        META.finding(
            scenario,
            Status::Pass,
            c.resource,
            format!(
                "{}: SSE-KMS objects replicate, re-encrypted with {want_key}",
                c.label
            ),
            evidence,
        )
    } else {
        META.finding(
            scenario,
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
    fn passes_with_selection_and_replica_key() {
        let out = seed().run(&ReplicationKms);
        only(
            &out,
            Status::Pass,
            &format!(
                "rule 'reports-to-abcd': SSE-KMS objects replicate, re-encrypted with {DEST_KEY}"
            ),
        );
        only(
            &out,
            Status::Skip,
            "rule 'logs-to-backup': the spec does not expect SSE-KMS replicas",
        );
    }

    #[test]
    fn fails_without_selection_or_key() {
        let mut f = seed();
        let r = f.live_rule("source", "reports-to-abcd");
        r.sse_kms_encrypted_objects = Some("Disabled".into());
        r.destination.replica_kms_key_id = None;
        let x = only(
            &f.run(&ReplicationKms),
            Status::Fail,
            "rule 'reports-to-abcd': SSE-KMS encrypted objects are not selected for replication (SourceSelectionCriteria); no replica KMS key (EncryptionConfiguration.ReplicaKmsKeyID)",
        );
        assert_eq!(x.scenario, Scenario::ScenarioA);
    }

    #[test]
    fn fails_on_another_key_or_a_bare_key_id_of_the_other_account_s_key() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replica_kms_key_id = Some(SOURCE_KEY.into());
        only(
            &f.run(&ReplicationKms),
            Status::Fail,
            &format!("rule 'reports-to-abcd': replica key is {SOURCE_KEY}, expected {DEST_KEY}"),
        );
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replica_kms_key_id = Some("9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into());
        // A bare key id names a key of the source bucket's account, not the destination's.
        only(
            &f.run(&ReplicationKms),
            Status::Fail,
            &format!("rule 'reports-to-abcd': replica key is arn:aws:kms:ap-southeast-2:111122223333:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d, expected {DEST_KEY}"),
        );
    }

    /// An alias ARN in `ReplicaKmsKeyID` is accepted by S3 and means the key DescribeKey
    /// resolves it to (API_EncryptionConfiguration: "Key ARN or Alias ARN").
    #[test]
    fn an_alias_arn_of_the_replica_key_passes_and_of_another_key_fails() {
        let alias = "arn:aws:kms:ap-southeast-2:271089868719:alias/replicas";
        let mut f = seed();
        let mut k = f.key(DEST_KEY).clone();
        k.arn = alias.into();
        f.snap.kms_keys.insert(alias.into(), k);
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replica_kms_key_id = Some(alias.into());
        only(
            &f.run(&ReplicationKms),
            Status::Pass,
            &format!(
                "rule 'reports-to-abcd': SSE-KMS objects replicate, re-encrypted with {DEST_KEY}"
            ),
        );
        let other =
            "arn:aws:kms:ap-southeast-2:271089868719:key/00000000-0000-4000-8000-000000000000";
        if let Fetched::Ok { value } = &mut f.snap.kms_keys.get_mut(alias).unwrap().metadata {
            value.arn = other.into();
        }
        only(
            &f.run(&ReplicationKms),
            Status::Fail,
            &format!(
                "rule 'reports-to-abcd': replica key is {alias} (key {other}), expected {DEST_KEY}"
            ),
        );
    }

    /// An alias that DescribeKey could not resolve is an error, never a pass.
    #[test]
    fn an_unresolved_alias_is_an_error() {
        let alias = "arn:aws:kms:ap-southeast-2:271089868719:alias/replicas";
        let mut f = seed();
        let mut k = f.key(DEST_KEY).clone();
        k.arn = alias.into();
        k.metadata = denied("kms:DescribeKey");
        f.snap.kms_keys.insert(alias.into(), k);
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replica_kms_key_id = Some(alias.into());
        only(
            &f.run(&ReplicationKms),
            Status::Error,
            "rule 'reports-to-abcd': ",
        );
        assert_eq!(count(&f.run(&ReplicationKms), Status::Pass), 0);
    }

    /// A disabled or pending-deletion replica key cannot encrypt replicas
    /// (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).
    #[test]
    fn a_disabled_or_pending_deletion_replica_key_fails() {
        for (enabled, state) in [(false, "Disabled"), (false, "PendingDeletion")] {
            let mut f = seed();
            if let Fetched::Ok { value } = &mut f.key(DEST_KEY).metadata {
                value.enabled = enabled;
                value.key_state = Some(state.into());
            }
            only(
                &f.run(&ReplicationKms),
                Status::Fail,
                &format!("rule 'reports-to-abcd': replica key {DEST_KEY} is {state}, not Enabled"),
            );
        }
    }

    /// "The KMS key must have been created in the same AWS Region as the destination bucket."
    #[test]
    fn a_replica_key_outside_the_destination_region_fails() {
        let mut f = seed();
        f.spec.buckets.get_mut("destination").unwrap().region =
            f.spec.buckets["source"].region.clone();
        f.bucket("destination").region = Fetched::ok("ap-southeast-1".into());
        only(
            &f.run(&ReplicationKms),
            Status::Fail,
            "is in ap-southeast-2, not in the bucket's Region ap-southeast-1",
        );
    }

    /// AWS managed keys cannot be used across accounts, customer managed keys can.
    #[test]
    fn an_aws_managed_replica_key_fails_cross_account() {
        let mut f = seed();
        if let Fetched::Ok { value } = &mut f.key(DEST_KEY).metadata {
            value.key_manager = Some("AWS".into());
        }
        only(
            &f.run(&ReplicationKms),
            Status::Fail,
            "is an AWS managed key, which another account cannot use",
        );
    }

    /// Only symmetric encryption keys serve SSE-KMS.
    #[test]
    fn an_asymmetric_replica_key_fails() {
        let mut f = seed();
        if let Fetched::Ok { value } = &mut f.key(DEST_KEY).metadata {
            value.key_spec = Some("RSA_2048".into());
        }
        only(
            &f.run(&ReplicationKms),
            Status::Fail,
            "is RSA_2048, not a symmetric encryption key",
        );
    }

    /// A key DescribeKey could not read: its ARN names the right Region, so the verdict is
    /// unknown (error), not a pass.
    #[test]
    fn an_undescribed_replica_key_is_an_error() {
        let mut f = seed();
        f.key(DEST_KEY).metadata = denied("kms:DescribeKey");
        only(
            &f.run(&ReplicationKms),
            Status::Error,
            "rule 'reports-to-abcd': ",
        );
    }
}
