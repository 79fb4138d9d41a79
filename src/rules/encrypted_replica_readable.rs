use super::kms_support::{ask_kms, key_problems};
use super::support::{ask, error, skip};
use super::{AuditContext, Rule};
use crate::access::kms::{object_bucket_key, S3KmsContext};
use crate::access::{bucket_policy, identity_side, restrict_public_buckets, Leg};
use crate::findings::{Finding, Scenario, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// Scenario A: each reader the spec names can open the encrypted replicas — the replica key
    /// exists, is enabled and is in the bucket's Region (DescribeKey), and the policy engine
    /// proves `s3:GetObject` on the replica bucket (identity + bucket policy) and `kms:Decrypt`
    /// with the replica key (identity + key policy, or a KMS grant to the reader whose
    /// constraints the request meets: "grants are considered along with key policies and IAM
    /// policies", <https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>) in the
    /// request context S3 sends:
    /// `kms:ViaService` and the encryption context, which is the bucket ARN when the replicas use
    /// an S3 Bucket Key (the destination's, or the source's that a replica keeps) and the object
    /// ARN otherwise.
    ///
    /// ## Why it matters
    /// Encrypting replicas with a destination key is only half the job: if the authorized
    /// reader cannot decrypt, the replicas are an unreadable backup and the first real
    /// incident discovers it.
    ///
    /// ## Example
    /// Key policy of ABCD's replica key does not allow tom-cruise (and does not delegate to
    /// IAM): fail on `kms:Decrypt`.
    ///
    /// ## Fix
    /// Allow the reader `kms:Decrypt` in the key policy (or let the key policy delegate to the
    /// account and grant it in the reader's identity policy).
    pub struct EncryptedReplicaReadable;
    id: "encrypted-replica-readable",
    title: "Authorized readers can decrypt the encrypted replicas",
    severity: High,
    scenarios: [ScenarioA],
    remediation: "Grant the reader kms:Decrypt on the replica key (key policy and identity policy) and s3:GetObject on the replicas.",
    references: [
        "https://docs.aws.amazon.com/kms/latest/developerguide/determining-access-key-policy.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html#bucket-key-replication",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
    ],
}

impl Rule for EncryptedReplicaReadable {
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let scenario = Scenario::ScenarioA;
        let Some(a) = &cx.spec.scenario_a else {
            return vec![skip(
                &META,
                scenario,
                "-",
                "the spec declares no scenario A",
            )];
        };
        let bucket = a.bucket.get_ref();
        let key = a.kms_key_arn.get_ref();
        let object = cx.object_arn(bucket, &a.sample_key);
        let bucket_account = cx.bucket_account_id(bucket).unwrap_or_default();
        let mut out = Vec::new();
        if a.readers.is_empty() {
            out.push(skip(
                &META,
                scenario,
                &object,
                "scenario A names no readers",
            ));
        }
        let region = cx
            .spec
            .bucket(bucket)
            .map(|b| b.region.get_ref().as_str())
            .unwrap_or_default();
        // A key nobody can use makes every replica unreadable, whatever the policies say.
        let unusable = match key_problems(cx, key, region) {
            Ok(p) => p,
            Err(e) => {
                out.push(error(&META, scenario, &object, e));
                return out;
            }
        };
        let context = S3KmsContext::new(
            object_bucket_key(cx.spec, cx.snap, bucket, &a.sample_key),
            &cx.bucket_arn(bucket),
            &object,
            region,
        );
        for reader in &a.readers {
            let arn = cx.principal_arn(reader.get_ref());
            let prepared = (|| -> Result<_, crate::access::Error> {
                let who = identity_side(cx.snap, arn)?;
                let bp = bucket_policy(cx.snap, bucket)?;
                let restrict = restrict_public_buckets(cx.snap, cx.spec, bucket, bp.as_ref())?;
                let dec = ask_kms(cx, &who, "kms:Decrypt", key, &context)?;
                Ok((who, bp, restrict, dec))
            })();
            let (who, bp, restrict, dec) = match prepared {
                Ok(x) => x,
                Err(e) => {
                    out.push(error(&META, scenario, &object, format!("{arn}: {e}")));
                    continue;
                }
            };
            let get = ask(
                cx,
                &who,
                "s3:GetObject",
                &object,
                bucket_account,
                bp.as_ref(),
                restrict,
                &[],
                Leg::Full,
            );
            let evidence = json!({"reader": arn, "s3": get.evidence, "kms": dec.evidence});
            let mut problems = unusable.clone();
            if !get.allowed() {
                problems.push(format!(
                    "s3:GetObject is {} ({})",
                    get.eval.decision,
                    get.summary()
                ));
            }
            if !dec.allowed() {
                problems.push(format!(
                    "kms:Decrypt on {key} is {} ({}; {})",
                    dec.eval.decision,
                    dec.summary(),
                    context.describe()
                ));
            }
            out.push(if problems.is_empty() {
                META.finding(
                    scenario,
                    Status::Pass,
                    &object,
                    format!(
                        "{arn} can read and decrypt replicas ({}; {})",
                        get.summary(),
                        dec.summary()
                    ),
                    evidence,
                )
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    &object,
                    format!(
                        "{arn} cannot open encrypted replicas: {}",
                        problems.join("; ")
                    ),
                    evidence,
                )
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    const TOM: &str = "arn:aws:iam::271089868719:user/tom-cruise";
    const OBJECT: &str = "arn:aws:s3:::clint-s3-bucket/reports/sample.txt";

    #[test]
    fn passes_when_the_reader_can_get_and_decrypt() {
        let out = seed().run(&EncryptedReplicaReadable);
        let x = only(
            &out,
            Status::Pass,
            &format!("{TOM} can read and decrypt replicas"),
        );
        assert_eq!(x.resource, OBJECT);
    }

    #[test]
    fn fails_when_neither_key_policy_nor_reader_policy_allows_decrypt() {
        // The key policy names the reader, and also delegates to the account's IAM policies:
        // either grant suffices in the key's own account.
        let mut f = seed();
        f.key_policy(DEST_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowDecrypt")
        });
        has(
            &f.run(&EncryptedReplicaReadable),
            Status::Pass,
            "can read and decrypt",
        );
        f.inline_policies("tom", |p| {
            statements(p).retain(|s| s["Sid"] != "DecryptReplicas")
        });
        let x = only(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            &format!(
                "{TOM} cannot open encrypted replicas: kms:Decrypt on {DEST_KEY} is ImplicitDeny"
            ),
        );
        assert!(!x.message.contains("s3:GetObject is"), "{}", x.message);
    }

    #[test]
    fn fails_when_the_reader_cannot_get_the_object() {
        let mut f = seed();
        f.inline_policies("tom", |p| {
            statements(p).retain(|s| s["Sid"] != "ReadReplicas")
        });
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            &format!("{TOM} cannot open encrypted replicas: s3:GetObject is ImplicitDeny"),
        );
    }

    #[test]
    fn errors_when_unreadable_and_skips_without_scenario_or_readers() {
        let mut f = seed();
        f.bucket("destination").policy = denied("s3:GetBucketPolicy");
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Error,
            &format!(
                "cannot check: {TOM}: bucket policy of clint-s3-bucket: s3:GetBucketPolicy failed"
            ),
        );
        f.spec.scenario_a.as_mut().unwrap().readers.clear();
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Skip,
            "scenario A names no readers",
        );
        f.spec.scenario_a = None;
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Skip,
            "the spec declares no scenario A",
        );
    }

    /// Neither the key policy nor the reader's policy allows: a grant to the reader for Decrypt
    /// does, unless its encryption-context constraint is for another object
    /// (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html,
    /// https://docs.aws.amazon.com/kms/latest/developerguide/grant-constraints.html).
    #[test]
    fn a_kms_grant_lets_the_reader_decrypt_unless_constrained_to_another_context() {
        let mut f = seed();
        f.key_policy(DEST_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowDecrypt")
        });
        f.inline_policies("tom", |p| {
            statements(p).retain(|s| s["Sid"] != "DecryptReplicas")
        });
        has(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            "kms:Decrypt on",
        );
        let grant = |ctx: Option<&str>| crate::snapshot::KmsGrant {
            grant_id: "0c1d2e3f".into(),
            key_id: Some(DEST_KEY.into()),
            grantee_principal: Some(TOM.into()),
            operations: vec!["Decrypt".into()],
            encryption_context_subset: ctx.map(|c| {
                [("aws:s3:arn".to_string(), c.to_string())]
                    .into_iter()
                    .collect()
            }),
            ..Default::default()
        };
        f.key(DEST_KEY).grants = Fetched::ok(vec![grant(None)]);
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Pass,
            &format!("{TOM} can read and decrypt replicas"),
        );
        f.key(DEST_KEY).grants = Fetched::ok(vec![grant(Some("arn:aws:s3:::other-bucket"))]);
        has(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            "kms:Decrypt on",
        );
        f.key(DEST_KEY).grants = Fetched::ok(vec![grant(Some(DEST_ARN))]);
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Pass,
            "can read and decrypt replicas",
        );
    }

    /// A replica key that is disabled, or in another Region than the replicas, leaves them
    /// unreadable whatever the policies say (key-state.html).
    #[test]
    fn a_disabled_or_foreign_region_replica_key_fails() {
        let mut f = seed();
        if let Fetched::Ok { value } = &mut f.key(DEST_KEY).metadata {
            value.enabled = false;
            value.key_state = Some("Disabled".into());
        }
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            &format!(
                "{TOM} cannot open encrypted replicas: key {DEST_KEY} is Disabled, not Enabled"
            ),
        );
        let mut f = seed();
        f.spec.buckets.get_mut("destination").unwrap().region =
            f.spec.buckets["source"].region.clone();
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            "is in ap-southeast-2, not in the bucket's Region ap-southeast-1",
        );
        f.key(DEST_KEY).metadata = denied("kms:DescribeKey");
        only(
            &f.run(&EncryptedReplicaReadable),
            Status::Error,
            "could not be described",
        );
    }

    /// With the destination's Bucket Key off the context is the object ARN: a reader policy
    /// conditioned on the bucket ARN no longer matches
    /// (UsingKMSEncryption.html#encryption-context).
    #[test]
    fn the_reader_s_context_condition_follows_the_bucket_key() {
        let mut f = seed();
        f.key_policy(DEST_KEY, |p| {
            statements(p).retain(|s| s["Sid"] != "AllowDecrypt")
        });
        f.inline_policies("tom", |p| {
            for s in statements(p)
                .iter_mut()
                .filter(|s| s["Sid"] == "DecryptReplicas")
            {
                s["Condition"] = serde_json::json!({"StringEquals":
                    {"kms:EncryptionContext:aws:s3:arn": DEST_ARN}});
            }
        });
        has(
            &f.run(&EncryptedReplicaReadable),
            Status::Pass,
            "can read and decrypt replicas",
        );
        for alias in ["source", "destination"] {
            if let Fetched::Ok { value } = &mut f.bucket(alias).encryption {
                value[0].bucket_key_enabled = Some(false);
            }
        }
        has(
            &f.run(&EncryptedReplicaReadable),
            Status::Fail,
            "kms:Decrypt on",
        );
    }
}
