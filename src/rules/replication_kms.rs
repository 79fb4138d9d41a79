use super::context::same_kms_key;
use super::support::{per_live_rule, skip, RuleCheck};
use super::{AuditContext, Rule, RuleMeta};
use crate::findings::{Finding, Scenario, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Where the spec expects encrypted replicas, the rule opts SSE-KMS objects in
    /// (`SourceSelectionCriteria.SseKmsEncryptedObjects = Enabled`) and names the spec's
    /// replica key (`EncryptionConfiguration.ReplicaKmsKeyID`).
    ///
    /// ## Why it matters
    /// S3 does not replicate SSE-KMS objects unless the rule opts in, and re-encrypts replicas
    /// with the key the rule names. A missing replica key means no replication of encrypted
    /// reports; a wrong key means replicas ABCD's readers cannot decrypt (scenario A).
    ///
    /// ## Example
    /// `EncryptionConfiguration` absent: fail.
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
    references: ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html"],
}

impl Rule for ReplicationKms {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        per_live_rule(&META, cx, |c: &RuleCheck| {
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
            let evidence = json!({
                "expected_replica_key": want_key,
                "actual_replica_key": key,
                "sse_kms_encrypted_objects": c.live.sse_kms_encrypted_objects,
            });
            let mut problems = Vec::new();
            if !selected {
                problems.push("SSE-KMS encrypted objects are not selected for replication (SourceSelectionCriteria)".to_string());
            }
            match key {
                Some(k) if same_kms_key(k, want_key) => {}
                Some(k) => problems.push(format!("replica key is {k}, expected {want_key}")),
                None => problems.push(
                    "no replica KMS key (EncryptionConfiguration.ReplicaKmsKeyID)".to_string(),
                ),
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
        })
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
    fn fails_on_another_key_and_accepts_a_bare_key_id() {
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
        has(&f.run(&ReplicationKms), Status::Pass, "re-encrypted with");
    }
}
