use super::support::{ask, error, sample_key, skip};
use super::{AuditContext, Rule, RuleMeta};
use crate::access::{identity_side, Leg};
use crate::findings::{Finding, Status};
use crate::spec::Replication;
use serde_json::{json, Value};

/// A bucket name no one can own (bucket names cannot contain `_`): asking whether the role may
/// touch it asks whether its permissions reach beyond the audited buckets. Its ARN is built in the
/// role's own partition, where a policy's `arn:*:s3:::*` or `*` would reach it.
const UNRELATED_BUCKET: &str = "replaudit_unrelated_bucket";

declare_rule! {
    /// ## What it checks
    /// The replication role cannot do what replication never needs. The policy engine asks its
    /// identity policies about: deleting buckets, changing bucket policies, replication
    /// configurations or Block Public Access, writing or deleting source objects, deleting
    /// object versions in the destination, and reading or replicating into an unrelated
    /// bucket. Any `Allowed` is over-privilege; the finding carries the least-privilege policy
    /// that would do (built from the spec).
    ///
    /// ## Why it matters
    /// The seed document gives the role broad S3 admin. Whoever can use the role (S3, or
    /// anyone a trust-policy mistake lets in) could then delete buckets or exfiltrate every
    /// bucket in the account. Least privilege limits the blast radius to replication.
    ///
    /// ## Example
    /// Role policy `{"Effect":"Allow","Action":"s3:*","Resource":"*"}`: fail.
    ///
    /// ## Fix
    /// Replace the role's S3 permissions with the least-privilege policy in the evidence.
    pub struct RoleLeastPrivilege;
    id: "role-least-privilege",
    title: "Replication role is not over-privileged",
    severity: High,
    scenarios: [Step3, ScenarioD],
    remediation: "Replace the role's permissions with the least-privilege replication policy given in the evidence.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
    ],
}

impl Rule for RoleLeastPrivilege {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, replications) in cx.replication_roles() {
            let scenario = cx.role_scenario(alias);
            let arn = cx.principal_arn(alias);
            let who = match identity_side(cx.snap, arn) {
                Ok(w) => w,
                Err(e) => {
                    out.push(if e.contains("does not exist") {
                        skip(
                            &META,
                            scenario,
                            arn,
                            "role does not exist (reported by role-exists)",
                        )
                    } else {
                        error(&META, scenario, arn, e)
                    });
                    continue;
                }
            };
            let partition = who.partition().to_string();
            let mut probes: Vec<(&str, String, String)> = vec![
                (
                    "s3:GetObject",
                    format!("arn:{partition}:s3:::{UNRELATED_BUCKET}/any-object"),
                    "read objects of unrelated buckets".into(),
                ),
                (
                    "s3:ReplicateObject",
                    format!("arn:{partition}:s3:::{UNRELATED_BUCKET}/any-object"),
                    "replicate into unrelated buckets".into(),
                ),
            ];
            for r in &replications {
                let src = r.source.get_ref();
                for action in [
                    "s3:DeleteBucket",
                    "s3:PutBucketPolicy",
                    "s3:PutReplicationConfiguration",
                    "s3:PutBucketPublicAccessBlock",
                ] {
                    probes.push((
                        action,
                        cx.bucket_arn(src),
                        format!("{action} on the source bucket"),
                    ));
                }
                for rule in &r.rules {
                    let key = sample_key(rule.prefix_or_empty());
                    probes.push((
                        "s3:PutObject",
                        cx.object_arn(src, &key),
                        "write source objects".into(),
                    ));
                    probes.push((
                        "s3:DeleteObjectVersion",
                        cx.object_arn(src, &key),
                        "permanently delete source object versions".into(),
                    ));
                    probes.push((
                        "s3:DeleteObjectVersion",
                        cx.object_arn(rule.destination.get_ref(), &key),
                        "permanently delete replica versions".into(),
                    ));
                }
            }
            let mut excess = Vec::new();
            let mut evidence = Vec::new();
            for (action, resource, what) in &probes {
                let a = ask(
                    cx,
                    &who,
                    action,
                    resource,
                    &who.account,
                    None,
                    false,
                    &[],
                    Leg::IdentityOnly,
                );
                if a.allowed() {
                    excess.push(format!("{what} ({action} allowed by {})", a.summary()));
                    evidence.push(a.evidence);
                }
            }
            let least = least_privilege_policy(cx, &replications);
            out.push(if excess.is_empty() {
                META.finding(scenario, Status::Pass, arn, format!("none of {} over-privilege probes is allowed", probes.len()), json!({"probes": probes.len()}))
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    arn,
                    format!("role is over-privileged: it can {}", excess.join("; ")),
                    json!({"allowed_beyond_replication": evidence, "least_privilege_policy": least}),
                )
            });
        }
        out
    }
}

/// The smallest identity policy that lets S3 replicate what the spec describes with this role.
pub fn least_privilege_policy(cx: &AuditContext, replications: &[&Replication]) -> Value {
    let mut statements = Vec::new();
    let mut source_buckets = Vec::new();
    let mut source_objects = Vec::new();
    let mut dest_objects = Vec::new();
    let mut dest_extra = Vec::new();
    let mut decrypt_keys = Vec::new();
    let mut encrypt_keys = Vec::new();
    for r in replications {
        let src = r.source.get_ref();
        source_buckets.push(cx.bucket_arn(src));
        for rule in &r.rules {
            source_objects.push(cx.object_arn(src, &format!("{}*", rule.prefix_or_empty())));
            dest_objects.push(cx.object_arn(
                rule.destination.get_ref(),
                &format!("{}*", rule.prefix_or_empty()),
            ));
            if rule.delete_marker_replication && !dest_extra.contains(&"s3:ReplicateDelete") {
                dest_extra.push("s3:ReplicateDelete");
            }
            if rule.owner_override && !dest_extra.contains(&"s3:ObjectOwnerOverrideToBucketOwner") {
                dest_extra.push("s3:ObjectOwnerOverrideToBucketOwner");
            }
            if let Some(k) = &rule.replica_kms_key_arn {
                encrypt_keys.push(k.get_ref().clone());
                if let Some(sk) = cx.spec.bucket(src).and_then(|b| b.kms_key_arn.as_ref()) {
                    decrypt_keys.push(sk.get_ref().clone());
                }
                // With an S3 Bucket Key on the replicas S3 also decrypts with the replica key.
                // https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html#bk-replication
                let replica_bk = crate::access::kms::either(
                    crate::access::kms::bucket_key_enabled(cx.snap, src),
                    crate::access::kms::bucket_key_enabled(cx.snap, rule.destination.get_ref()),
                );
                if replica_bk != Ok(false) {
                    decrypt_keys.push(k.get_ref().clone());
                }
            }
        }
    }
    for v in [
        &mut source_buckets,
        &mut source_objects,
        &mut dest_objects,
        &mut decrypt_keys,
        &mut encrypt_keys,
    ] {
        v.sort();
        v.dedup();
    }
    statements.push(json!({"Sid": "SourceBucket", "Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"], "Resource": source_buckets}));
    statements.push(json!({"Sid": "SourceObjects", "Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"], "Resource": source_objects}));
    let mut dest_actions = vec!["s3:ReplicateObject", "s3:ReplicateTags"];
    dest_actions.extend(dest_extra);
    statements.push(json!({"Sid": "DestinationObjects", "Effect": "Allow", "Action": dest_actions, "Resource": dest_objects}));
    if !decrypt_keys.is_empty() {
        statements.push(json!({"Sid": "DecryptSourceAndBucketKeys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": decrypt_keys}));
    }
    if !encrypt_keys.is_empty() {
        statements.push(json!({"Sid": "EncryptReplicas", "Effect": "Allow", "Action": "kms:Encrypt", "Resource": encrypt_keys}));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}
