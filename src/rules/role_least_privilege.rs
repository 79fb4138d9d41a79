use super::support::{ask, error, sample_key, skip};
use super::{AuditContext, Rule};
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
    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        for (alias, replications) in cx.replication_roles() {
            let scenario = cx.role_scenario(alias);
            let arn = cx.principal_arn(alias);
            let who = match identity_side(cx.snap, arn) {
                Ok(w) => w,
                Err(e) => {
                    out.push(
                        if matches!(e, crate::access::Error::PrincipalMissing { .. }) {
                            skip(
                                &META,
                                scenario,
                                arn,
                                format!(
                                    "role does not exist (reported by {})",
                                    super::role_exists::META.id
                                ),
                            )
                        } else {
                            error(&META, scenario, arn, e)
                        },
                    );
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
            // One line per (what, action, deciding statements), with how many probes it
            // answered: a role shared by a thousand replications whose one wildcard statement
            // over-grants gives one line, not a thousand (issue 22: a finding's size must not
            // grow with the replications sharing its role).
            let mut excess: Vec<(String, usize)> = Vec::new();
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
                    let line = format!("{what} ({action} allowed by {})", a.summary());
                    match excess.iter_mut().find(|(l, _)| *l == line) {
                        Some((_, n)) => *n += 1,
                        None => {
                            excess.push((line, 1));
                            evidence.push(a.evidence);
                        }
                    }
                }
            }
            let excess: Vec<String> = excess
                .into_iter()
                .map(|(line, n)| match n {
                    1 => line,
                    n => format!("{line} on {n} resources"),
                })
                .collect();
            let least = least_privilege_policy(cx, &replications);
            out.push(if excess.is_empty() {
                META.finding(scenario, Status::Pass, arn, format!("none of {} over-privilege probes is allowed", probes.len()), json!({"probes": probes.len()}))
            } else {
                META.finding(
                    scenario,
                    Status::Fail,
                    arn,
                    format!("role is over-privileged: it can {}", excess.join("; ")),
                    json!({"allowed_beyond_replication": evidence, "least_privilege_policy": crate::findings::cite_document("least-privilege-policy", arn, least)}),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    #[test]
    fn passes_with_the_seed_policy() {
        let out = seed().run(&RoleLeastPrivilege);
        only(
            &out,
            Status::Pass,
            "none of 16 over-privilege probes is allowed",
        );
    }

    #[test]
    fn fails_with_s3_star_and_proposes_the_least_privilege_policy() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).push(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
        });
        let x = only(
            &f.run(&RoleLeastPrivilege),
            Status::Fail,
            "role is over-privileged: it can read objects of unrelated buckets (s3:GetObject allowed by",
        );
        assert!(
            x.message.contains("s3:DeleteBucket on the source bucket"),
            "{}",
            x.message
        );
        assert!(
            x.message.contains("permanently delete replica versions"),
            "{}",
            x.message
        );
        let least = &crate::findings::cited(&x.evidence["least_privilege_policy"])["Statement"];
        assert_eq!(
            least[0]["Resource"],
            json!([SOURCE_ARN, "arn:aws:s3:::xyz-app-logs"])
        );
        assert_eq!(
            least[2]["Action"],
            json!([
                "s3:ReplicateObject",
                "s3:ReplicateTags",
                "s3:ReplicateDelete",
                "s3:ObjectOwnerOverrideToBucketOwner"
            ])
        );
        // Decrypt: the source key, and the replica key too (the replicas use an S3 Bucket Key).
        assert_eq!(least[3]["Resource"], json!([SOURCE_KEY, DEST_KEY]));
        assert_eq!(least[4]["Resource"], json!([DEST_KEY]));
    }

    /// The probes name unrelated buckets of the role's partition: in China a grant on
    /// `arn:aws-cn:s3:::*` is over-privilege, which probes built with `arn:aws:` would miss.
    #[test]
    fn fails_with_a_partition_wide_grant_in_the_china_partition() {
        let mut f = seed_in_china();
        f.inline_policies("replication-role", |p| {
            statements(p).push(json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws-cn:s3:::*"}))
        });
        only(
            &f.run(&RoleLeastPrivilege),
            Status::Fail,
            "role is over-privileged: it can read objects of unrelated buckets (s3:GetObject allowed by",
        );
    }

    /// The proposal grants ReplicateDelete and owner override only where a rule asks for them.
    #[test]
    fn the_proposal_omits_what_no_rule_replicates() {
        let mut f = seed();
        f.spec.replication[0].rules[0].delete_marker_replication = false;
        f.spec.replication[0].rules[0].owner_override = false;
        f.inline_policies("replication-role", |p| {
            statements(p).push(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
        });
        let x = only(&f.run(&RoleLeastPrivilege), Status::Fail, "over-privileged");
        assert_eq!(
            crate::findings::cited(&x.evidence["least_privilege_policy"])["Statement"][2]["Action"],
            json!(["s3:ReplicateObject", "s3:ReplicateTags"])
        );
    }

    #[test]
    fn one_excess_permission_is_enough_to_fail() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).push(json!({"Effect": "Allow", "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::xyz-app-logs/*"}))
        });
        only(
            &f.run(&RoleLeastPrivilege),
            Status::Fail,
            "role is over-privileged: it can write source objects (s3:PutObject allowed by",
        );
    }

    /// Issue 22: a shared role whose one wildcard statement over-grants on every pair gives one
    /// line per kind of excess, with a count, whatever the number of pairs: the finding is the
    /// same size at 2 and at 60 replications (give or take the count's digits).
    #[test]
    fn the_finding_does_not_grow_with_the_over_privileged_replications_sharing_the_role() {
        let finding = |n: usize| {
            let (spec, snap) = shared_role_estate(n);
            let mut f = Fixture {
                spec: spec.spec,
                snap,
            };
            f.inline_policies("replication-role", |p| {
                statements(p).push(json!({"Sid": "TooMuch", "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObjectVersion"],
                    "Resource": "arn:aws:s3:::xyz-pair-*"}))
            });
            let out = f.run(&RoleLeastPrivilege);
            let x = only(&out, Status::Fail, "role is over-privileged").clone();
            let size = x.message.len() + x.evidence["allowed_beyond_replication"].to_string().len();
            (x.message, size)
        };
        let (m2, s2) = finding(2);
        let (m60, s60) = finding(60);
        assert!(
            m60.contains("write source objects (s3:PutObject allowed by")
                && m60.contains("on 60 resources"),
            "{m60}"
        );
        assert!(m2.contains("on 2 resources"), "{m2}");
        assert!(
            s60 <= s2 + 8,
            "{s2} bytes at N = 2, {s60} at N = 60:\n{m60}"
        );
    }

    #[test]
    fn skips_a_missing_role_and_errors_on_an_unreadable_one() {
        let mut f = seed();
        f.principal("replication-role").details = Fetched::absent("NoSuchEntity");
        only(
            &f.run(&RoleLeastPrivilege),
            Status::Skip,
            "role does not exist (reported by role-exists)",
        );
        f.principal("replication-role").details = denied("iam:GetRole");
        only(
            &f.run(&RoleLeastPrivilege),
            Status::Error,
            "could not be read: iam:GetRole failed",
        );
    }
}
