use super::support::{ask, error, sample_key, skip};
use super::{AuditContext, Rule, RuleMeta};
use crate::access::{identity_side, key_policy, kms_via_s3_context, Leg};
use crate::findings::{Finding, Status};
use serde_json::json;

declare_rule! {
    /// ## What it checks
    /// For rules that replicate SSE-KMS objects, the replication role may `kms:Decrypt` with
    /// the source bucket's key and `kms:Encrypt` with the replica key — each decided by the
    /// policy engine over the role's identity policies *and* the key policy (a key policy must
    /// itself allow; cross-account, both sides must).
    ///
    /// ## Why it matters
    /// S3 decrypts the source object and re-encrypts the replica as the role. If either key
    /// refuses, replication of encrypted reports fails while unencrypted ones keep flowing —
    /// a partial outage that looks healthy.
    ///
    /// ## Example
    /// ABCD's replica key policy does not mention XYZ's role: fail on `kms:Encrypt`.
    ///
    /// ## Fix
    /// Add the role to the key policies (`kms:Decrypt` on the source key; `kms:Encrypt` on the
    /// replica key) and to the role's identity policy.
    pub struct ReplicationKmsPermissions;
    id: "replication-kms-permissions",
    title: "Replication role can use the source and replica KMS keys",
    severity: High,
    scenarios: [ScenarioA],
    remediation: "Allow the role kms:Decrypt on the source key and kms:Encrypt on the replica key, in both the key policies and the role's policy.",
    references: [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html",
    ],
}

impl Rule for ReplicationKmsPermissions {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        let mut out = Vec::new();
        let scenario = crate::findings::Scenario::ScenarioA;
        for r in &cx.spec.replication {
            let role = cx.principal_arn(r.role.get_ref());
            let src = r.source.get_ref();
            for (i, rule) in r.rules.iter().enumerate() {
                let label = rule.label(i);
                let Some(replica_key) = rule.replica_kms_key_arn.as_ref().map(|k| k.get_ref())
                else {
                    out.push(skip(
                        &META,
                        scenario,
                        role,
                        format!("{label}: the spec does not expect SSE-KMS replication"),
                    ));
                    continue;
                };
                let who = match identity_side(cx.snap, role) {
                    Ok(w) => w,
                    Err(e) => {
                        out.push(error(&META, scenario, role, e));
                        continue;
                    }
                };
                let key_sample = sample_key(rule.prefix_or_empty());
                let mut checks = Vec::new();
                if let Some(sk) = cx.spec.bucket(src).and_then(|b| b.kms_key_arn.as_ref()) {
                    let region = cx
                        .spec
                        .bucket(src)
                        .map(|b| b.region.get_ref().as_str())
                        .unwrap_or_default();
                    checks.push((
                        "kms:Decrypt",
                        sk.get_ref().as_str(),
                        kms_via_s3_context(region, &cx.object_arn(src, &key_sample), &who.account),
                    ));
                }
                let dest = rule.destination.get_ref();
                let dregion = cx
                    .spec
                    .bucket(dest)
                    .map(|b| b.region.get_ref().as_str())
                    .unwrap_or_default();
                checks.push((
                    "kms:Encrypt",
                    replica_key,
                    kms_via_s3_context(dregion, &cx.object_arn(dest, &key_sample), &who.account),
                ));
                let mut missing = Vec::new();
                let mut evidence = Vec::new();
                let mut failed = None;
                for (action, key, ctx) in &checks {
                    let kp = match key_policy(cx.snap, key) {
                        Ok(p) => p,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    };
                    let key_account = crate::spec::arn_account(key).unwrap_or_default();
                    let a = ask(
                        cx,
                        &who,
                        action,
                        key,
                        key_account,
                        Some(&kp),
                        false,
                        ctx,
                        Leg::Full,
                    );
                    if !a.allowed() {
                        missing.push(format!(
                            "{action} on {key} ({}: {})",
                            a.eval.decision,
                            a.summary()
                        ));
                    }
                    evidence.push(a.evidence);
                }
                if let Some(e) = failed {
                    out.push(error(&META, scenario, role, e));
                    continue;
                }
                out.push(if missing.is_empty() {
                    META.finding(scenario, Status::Pass, role, format!("{label}: role can decrypt the source key and encrypt with the replica key"), json!({"checks": evidence}))
                } else {
                    META.finding(scenario, Status::Fail, role, format!("{label}: role cannot use the keys: {}", missing.join("; ")), json!({"checks": evidence}))
                });
            }
        }
        out
    }
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
            "rule 'reports-to-abcd': role can decrypt the source key and encrypt with the replica key",
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
            &format!("rule 'reports-to-abcd': role cannot use the keys: kms:Encrypt on {DEST_KEY} (ImplicitDeny"),
        );
        assert_eq!(x.resource, ROLE_ARN);
        assert!(!x.message.contains("kms:Decrypt"), "{}", x.message);
    }

    #[test]
    fn fails_when_neither_key_policy_nor_role_policy_allows_decrypt() {
        // Same account: the key policy naming the role suffices, and so does the role's own
        // policy (the key policy delegates to the account); only without both is it denied.
        let mut f = seed();
        f.inline_policies("replication-role", |p| remove_action(p, "kms:Decrypt"));
        has(
            &f.run(&ReplicationKmsPermissions),
            Status::Pass,
            "role can decrypt",
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
                "cannot check: key policy of {SOURCE_KEY}: kms:GetKeyPolicy failed: AccessDenied"
            ),
        );
        f.snap.principals.remove(ROLE_ARN);
        only(
            &f.run(&ReplicationKmsPermissions),
            Status::Error,
            "was not collected",
        );
    }
}
