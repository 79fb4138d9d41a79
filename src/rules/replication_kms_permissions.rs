use super::kms_support::ask_kms;
use super::support::{error, sample_key, skip, Asked};
use super::{At, AuditContext, Rule, Walk};
use crate::access::kms::{bucket_key_enabled, either, S3KmsContext};
use crate::access::{identity_side, IdentitySide};
use crate::findings::{Finding, Status};
use crate::spec::{Replication, ReplicationRule};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// For rules that replicate SSE-KMS objects, the replication role may use the keys the way
    /// S3 will use them on its behalf — each decided by the policy engine over the role's
    /// identity policies *and* the key policy (a key policy must itself allow; cross-account,
    /// both sides must), or by a KMS grant to the role whose constraints the request meets:
    /// - `kms:Decrypt` with the source bucket's key, in the encryption context the source
    ///   objects were encrypted under;
    /// - `kms:Encrypt` with the replica key, in the replica's encryption context;
    /// - `kms:Decrypt` with the replica key too when the replica uses an S3 Bucket Key ("the AWS
    ///   KMS key policy for the KMS key that's used to encrypt the object replica must include the
    ///   kms:Decrypt permission for the calling principal").
    ///
    /// The encryption context (`kms:EncryptionContext:aws:s3:arn`) is the bucket ARN with an S3
    /// Bucket Key and the object ARN without; this rule reads the live `BucketKeyEnabled` of the
    /// source bucket (for the source objects) and, for replicas, of the source and destination
    /// buckets ("When an S3 Bucket Key is enabled for the source or destination bucket, the
    /// encryption context will be the bucket's Amazon Resource Name (ARN), not the object's
    /// ARN"). When a Bucket-Key setting could not be read, both contexts are evaluated and the
    /// rule decides only if they agree. Keys named by alias are evaluated as the key they
    /// resolve to.
    ///
    /// ## Why it matters
    /// S3 decrypts the source object and re-encrypts the replica as the role. If either key
    /// refuses, replication of encrypted reports fails while unencrypted ones keep flowing —
    /// a partial outage that looks healthy. A policy written for object-ARN contexts stops
    /// matching the day a Bucket Key is turned on.
    ///
    /// ## Example
    /// ABCD's replica key policy gives XYZ's role `kms:Encrypt` only, and the destination uses
    /// an S3 Bucket Key: fail on `kms:Decrypt` with the replica key.
    ///
    /// ## Fix
    /// Add the role to the key policies (`kms:Decrypt` on the source key; `kms:Encrypt`, plus
    /// `kms:Decrypt` with Bucket Keys, on the replica key) and to the role's identity policy,
    /// with `kms:EncryptionContext:aws:s3:arn` conditions naming the bucket ARN when Bucket Keys
    /// are on.
    pub struct ReplicationKmsPermissions;
    id: "replication-kms-permissions",
    title: "Replication role can use the source and replica KMS keys",
    severity: High,
    scenarios: [ScenarioA],
    remediation: "Allow the role kms:Decrypt on the source key and kms:Encrypt (and, with S3 Bucket Keys, kms:Decrypt) on the replica key, in both the key policies and the role's policy, for the encryption context S3 uses (the bucket ARN with Bucket Keys).",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html",
    ],
}

/// One KMS request S3 makes as the role.
struct Need<'a> {
    action: &'static str,
    key: &'a str,
    context: S3KmsContext,
    why: &'static str,
    /// Set when it is unknown whether S3 makes this request at all (the Bucket-Key setting
    /// could not be read): a refusal is then an error, not a failure.
    only_if: Option<String>,
}

impl Rule for ReplicationKmsPermissions {
    fn walk(&self) -> Walk {
        Walk::SpecRules
    }

    fn names_its_rule(&self) -> bool {
        true
    }

    fn check_spec_rule(
        &self,
        cx: &AuditContext,
        r: &Replication,
        i: usize,
        rule: &ReplicationRule,
        _at: &At,
    ) -> Vec<Finding> {
        // Filed under scenario A (SSE-KMS), on the role, whichever replication it serves.
        let scenario = crate::findings::Scenario::ScenarioA;
        let role = cx.principal_arn(r.role.get_ref());
        let src = r.source.get_ref();
        let label = rule.label(i);
        let Some(replica_key) = rule.replica_kms_key_arn.as_ref().map(|k| k.get_ref()) else {
            return vec![skip(
                &META,
                scenario,
                role,
                format!("{label}: the spec does not expect SSE-KMS replication"),
            )];
        };
        let who = match identity_side(cx.snap, role) {
            Ok(w) => w,
            Err(e) => {
                return vec![error(&META, scenario, role, e)];
            }
        };
        let key_sample = sample_key(rule.prefix_or_empty());
        let dest = rule.destination.get_ref();
        let region = |alias: &str| {
            cx.spec
                .bucket(alias)
                .map(|b| b.region.get_ref().clone())
                .unwrap_or_default()
        };
        // Source objects: encrypted under the source bucket's Bucket-Key setting.
        let src_bk = bucket_key_enabled(cx.snap, src);
        // Replicas: a Bucket Key on the source or the destination makes S3 use one
        // (the replica keeps the source object's Bucket-Key setting, and the destination's
        // own setting applies too).
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html#bk-replication
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html#bucket-key-replication
        let replica_bk = either(src_bk.clone(), bucket_key_enabled(cx.snap, dest));
        let mut needs = Vec::new();
        if let Some(sk) = cx.spec.bucket(src).and_then(|b| b.kms_key_arn.as_ref()) {
            needs.push(Need {
                action: "kms:Decrypt",
                key: sk.get_ref(),
                context: S3KmsContext::new(
                    src_bk,
                    &cx.bucket_arn(src),
                    &cx.object_arn(src, &key_sample),
                    &region(src),
                ),
                why: "decrypt the source objects",
                only_if: None,
            });
        }
        let replica_cx = S3KmsContext::new(
            replica_bk.clone(),
            &cx.bucket_arn(dest),
            &cx.object_arn(dest, &key_sample),
            &region(dest),
        );
        needs.push(Need {
            action: "kms:Encrypt",
            key: replica_key,
            context: replica_cx.clone(),
            why: "encrypt the replicas",
            only_if: None,
        });
        if replica_bk != Ok(false) {
            needs.push(Need {
                action: "kms:Decrypt",
                key: replica_key,
                context: replica_cx,
                why: "verify the S3 Bucket Key of the replicas",
                only_if: replica_bk.as_ref().err().map(|e| e.to_string()),
            });
        }
        let mut missing = Vec::new();
        let mut evidence = Vec::new();
        let mut failed = None;
        for n in &needs {
            match ask_key(cx, &who, n) {
                Ok(a) => {
                    if let (false, Some(why)) = (a.allowed(), &n.only_if) {
                        failed = Some(format!(
                            "{} on {} is {}, and whether S3 needs it (S3 Bucket Keys) cannot be told: {why}",
                            n.action, n.key, a.eval.decision
                        ));
                        break;
                    }
                    if !a.allowed() {
                        missing.push(format!(
                            "{} on {} to {} ({}; {}: {})",
                            n.action,
                            n.key,
                            n.why,
                            n.context.describe(),
                            a.eval.decision,
                            a.summary()
                        ));
                    }
                    evidence.push(a.evidence);
                }
                Err(e) => {
                    failed = Some(format!("{} on {}: {e}", n.action, n.key));
                    break;
                }
            }
        }
        if let Some(e) = failed {
            return vec![error(&META, scenario, role, format!("{label}: {e}"))];
        }
        let asked: Vec<String> = needs
            .iter()
            .map(|n| format!("{} on {}", n.action, n.key))
            .collect();
        vec![if missing.is_empty() {
            META.finding(
                scenario,
                Status::Pass,
                role,
                format!(
                    "{label}: role can {} ({})",
                    asked.join(", "),
                    needs
                        .iter()
                        .map(|n| n.context.describe())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                json!({"checks": evidence}),
            )
        } else {
            META.finding(
                scenario,
                Status::Fail,
                role,
                format!("{label}: role cannot use the keys: {}", missing.join("; ")),
                json!({"checks": evidence}),
            )
        }]
    }
}

/// Ask the policy engine one KMS request of the role (identity + key policy).
fn ask_key(cx: &AuditContext, who: &IdentitySide, n: &Need) -> Result<Asked, crate::access::Error> {
    ask_kms(cx, who, n.action, n.key, &n.context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_when_the_role_can_use_both_keys() {
        let out = seed().run(&ReplicationKmsPermissions);
        only(
            &out,
            Status::Pass,
            &format!("rule 'reports-to-abcd': role can kms:Decrypt on {SOURCE_KEY}, kms:Encrypt on {DEST_KEY}, kms:Decrypt on {DEST_KEY} (S3 Bucket Key: encryption context {SOURCE_ARN}; S3 Bucket Key: encryption context {DEST_ARN}"),
        );
        only(
            &out,
            Status::Skip,
            "rule 'logs-to-backup': the spec does not expect SSE-KMS replication",
        );
    }

    #[test]
    fn fails_when_the_replica_key_policy_does_not_let_the_role_encrypt() {
        let mut f = seed();
        f.key_policy(DEST_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowReplicaEncrypt")
        });
        let x = only(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("rule 'reports-to-abcd': role cannot use the keys: kms:Encrypt on {DEST_KEY} to encrypt the replicas (S3 Bucket Key: encryption context {DEST_ARN}; ImplicitDeny: KMS key policy: it names neither"),
        );
        assert_eq!(x.resource, ROLE_ARN);
        // The source key still works; with Bucket Keys on the replicas the replica key's
        // Decrypt is denied too, by the same missing statement.
        assert!(
            !x.message.contains(&format!("kms:Decrypt on {SOURCE_KEY}")),
            "{}",
            x.message
        );
        assert!(
            x.message.contains(&format!(
                "kms:Decrypt on {DEST_KEY} to verify the S3 Bucket Key of the replicas"
            )),
            "{}",
            x.message
        );
    }

    #[test]
    fn fails_when_neither_key_policy_nor_role_policy_allows_decrypt() {
        // Same account: the key policy naming the role suffices, and so does the role's own
        // policy (the key policy delegates to the account); only without both is it denied.
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).retain(|s| s["Sid"] != "DecryptSource0")
        });
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Pass,
            &format!("role can kms:Decrypt on {SOURCE_KEY}"),
        );
        f.key_policy(SOURCE_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowDecrypt")
        });
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("role cannot use the keys: kms:Decrypt on {SOURCE_KEY}"),
        );
    }

    #[test]
    fn errors_when_a_key_policy_or_the_role_is_unreadable() {
        let mut f = seed();
        f.key(SOURCE_KEY).key_policy = denied("kms:GetKeyPolicy");
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Error,
            &format!(
                "cannot check: rule 'reports-to-abcd': kms:Decrypt on {SOURCE_KEY}: key policy of {SOURCE_KEY}: kms:GetKeyPolicy failed: AccessDenied"
            ),
        );
        f.snap.principals.remove(ROLE_ARN);
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Error,
            "was not collected",
        );
    }

    fn bucket_key(f: &mut Fixture, alias: &str, on: bool) {
        if let Fetched::Ok { value } = &mut f.bucket(alias).encryption {
            value[0].bucket_key_enabled = Some(on);
        }
    }

    fn role_statement(f: &mut Fixture, sid: &str, edit: impl Fn(&mut serde_json::Value)) {
        f.inline_policies("replication-role", |p| {
            for s in statements(p).iter_mut().filter(|s| s["Sid"] == sid) {
                edit(s)
            }
        });
    }

    /// With a Bucket Key the context is the bucket ARN, without it the object ARN
    /// (UsingKMSEncryption.html#encryption-context): a role policy conditioned on the bucket ARN
    /// holds only with the Bucket Key, once the key policy leaves the decision to IAM.
    #[test]
    fn the_source_encryption_context_follows_the_source_bucket_key() {
        let mut f = seed();
        f.key_policy(SOURCE_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowDecrypt")
        });
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Pass,
            &format!("role can kms:Decrypt on {SOURCE_KEY}"),
        );
        bucket_key(&mut f, "source", false);
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("role cannot use the keys: kms:Decrypt on {SOURCE_KEY} to decrypt the source objects (no S3 Bucket Key: encryption context {SOURCE_ARN}/reports/"),
        );
    }

    /// Cross-account, the key policy's grant is not enough: the role's own policy must allow too
    /// (key-policy-modifying-external-accounts.html).
    #[test]
    fn a_cross_account_replica_key_needs_the_role_policy_too() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).retain(|s| s["Sid"] != "UseReplicaKey1")
        });
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("role cannot use the keys: kms:Encrypt on {DEST_KEY} to encrypt the replicas"),
        );
    }

    /// kms:ViaService names S3 in the bucket's Region (conditions-kms.html#conditions-kms-via-service):
    /// a condition naming another Region's S3 does not match.
    #[test]
    fn a_via_service_condition_for_another_region_fails() {
        let mut f = seed();
        role_statement(&mut f, "UseReplicaKey1", |s| {
            s["Condition"]["StringLike"]["kms:ViaService"] =
                "s3.ap-southeast-1.amazonaws.com".into()
        });
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("kms:Encrypt on {DEST_KEY} to encrypt the replicas"),
        );
    }

    /// Without a Bucket Key on either bucket, S3 does not call kms:Decrypt with the replica key
    /// (replication-config-for-kms-objects.html#bk-replication); with one on either, it does.
    #[test]
    fn replica_key_decrypt_is_needed_only_with_a_bucket_key_on_either_bucket() {
        let mut f = seed();
        f.key_policy(DEST_KEY, |p| {
            for s in statements(p)
                .iter_mut()
                .filter(|s| s["Sid"] == "AllowReplicaEncrypt")
            {
                s["Action"] = serde_json::json!("kms:Encrypt");
            }
        });
        role_statement(&mut f, "UseReplicaKey1", |s| {
            s["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] =
                "arn:aws:s3:::clint-s3-bucket*".into()
        });
        role_statement(&mut f, "DecryptSource0", |s| {
            s["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] =
                "arn:aws:s3:::rubes-s3-bucket*".into()
        });
        bucket_key(&mut f, "source", false);
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("kms:Decrypt on {DEST_KEY} to verify the S3 Bucket Key of the replicas"),
        );
        bucket_key(&mut f, "destination", false);
        let x = only(&f.run(&ReplicationKmsPermissions), Status::Pass, "role can");
        assert!(
            !x.message.contains(&format!("kms:Decrypt on {DEST_KEY}")),
            "{}",
            x.message
        );
        // Bucket-Key setting unreadable and Decrypt refused: whether S3 needs it is unknown.
        f.bucket("destination").encryption = denied("s3:GetBucketEncryption");
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Error,
            "cannot be told",
        );
    }

    /// A KMS grant to the role for Encrypt and Decrypt allows what the replica key policy no
    /// longer does; a grant for Encrypt alone leaves the Bucket-Key Decrypt refused
    /// (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html).
    #[test]
    fn a_kms_grant_to_the_role_allows_the_operations_it_names() {
        let mut f = seed();
        f.key_policy(DEST_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowReplicaEncrypt")
        });
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("kms:Encrypt on {DEST_KEY} to encrypt the replicas"),
        );
        let grant = |ops: &[&str]| crate::snapshot::KmsGrant {
            grant_id: "g-replication".into(),
            key_id: Some(DEST_KEY.into()),
            grantee_principal: Some(ROLE_ARN.into()),
            operations: ops.iter().map(|o| o.to_string()).collect(),
            ..Default::default()
        };
        f.key(DEST_KEY).grants = Fetched::ok(vec![grant(&["Encrypt", "Decrypt"])]);
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Pass,
            &format!("role can kms:Decrypt on {SOURCE_KEY}, kms:Encrypt on {DEST_KEY}"),
        );
        f.key(DEST_KEY).grants = Fetched::ok(vec![grant(&["Encrypt"])]);
        let x = only(
            &f.run(&ReplicationKmsPermissions),
            Status::Fail,
            &format!("kms:Decrypt on {DEST_KEY} to verify the S3 Bucket Key of the replicas"),
        );
        assert!(
            !x.message.contains(&format!("kms:Encrypt on {DEST_KEY}")),
            "{}",
            x.message
        );
    }
}
