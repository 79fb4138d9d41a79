use super::support::skip;
use super::{AuditContext, Rule, RuleMeta};
use crate::access::whocan::{self, Grant, Level, WhoCan};
use crate::findings::{Finding, Scenario, Status};
use crate::spec::{AccessClass, WhoCanEntry, WhoCanExpectation};
use serde_json::json;
use std::collections::BTreeMap;

declare_rule! {
    /// ## What it checks
    /// For every `[[who_can]]` bucket of the spec and every class it lists (`read`, `write`,
    /// `control`, `decrypt`), the set of principals that can do any action of that class —
    /// found by asking the policy engine about *every* IAM user and role of the spec's accounts,
    /// each account's root user, anonymous callers, and every account, principal, service and
    /// organisation the bucket, key and trust policies name (`replaudit who-can` shows the whole
    /// table) — is within what the spec lists. A principal that can become a role (assume it, or
    /// pass it to a service the role trusts) can do what the role can, and is named with that
    /// chain. Anyone else fails, named with the statements and the path that grant it.
    ///
    /// Classes: read = `s3:GetObject`, `s3:GetObjectVersion`, `s3:ListBucket`,
    /// `s3:ListBucketVersions`, `s3:GetObjectVersionForReplication`; write = `s3:PutObject`,
    /// `s3:DeleteObject`, `s3:DeleteObjectVersion`, `s3:ReplicateObject`, `s3:ReplicateDelete`;
    /// control = `s3:PutBucketPolicy`, `s3:DeleteBucketPolicy`, `s3:PutReplicationConfiguration`,
    /// `s3:PutBucketPublicAccessBlock`, `s3:PutEncryptionConfiguration`, `s3:PutBucketVersioning`,
    /// `s3:PutBucketOwnershipControls`, `s3:PutBucketAcl`, `s3:PutLifecycleConfiguration`;
    /// decrypt = `kms:Decrypt` on the bucket's default-encryption key, as S3 asks it for a reader.
    /// Object actions are asked on a key anywhere in the bucket and under every prefix the spec
    /// gives it. The root user of the bucket's account (of the key's account for `decrypt`) is
    /// always expected: AWS gives it every permission on its own account's resources.
    ///
    /// Access that holds only under conditions on per-request values (source IP, VPC, MFA,
    /// `s3:prefix`, organisation membership, a service's `aws:SourceAccount`) counts, marked
    /// conditional. What could grant access but could not be evaluated — ACLs on a bucket without
    /// `BucketOwnerEnforced`, access points the bucket policy delegates to, policies that could
    /// not be read — makes the check `error` (or is added to a `fail`), never a pass; SCPs, RCPs
    /// and VPC endpoint policies, which can only remove access, are not read and are named in the
    /// evidence.
    ///
    /// ## Why it matters
    /// Step 5 promises that only the authorised can see the incident reports. The bucket policy
    /// is only half of that: in the bucket's own account, a user or role whose identity policy
    /// allows `s3:*` reads the bucket without the bucket policy saying anything
    /// ("If either the identity-based policy or the resource-based policy within the same account
    /// allows the request ..., the request is still allowed"), and so does anyone who can assume
    /// that role. Scenario C (only some uploaders write the replicated prefix) is the same
    /// question for writes.
    ///
    /// ## Example
    /// The XYZ role `support-admin` has `s3:*` on `*`, and the XYZ user `contractor` may
    /// `sts:AssumeRole` it: both can read `rubes-s3-bucket`; the user is named with the chain
    /// `contractor -> support-admin (sts:AssumeRole)`.
    ///
    /// ## Fix
    /// Remove the grant (the named statement), or the ability to become the role (its trust
    /// policy, or the caller's `sts:AssumeRole`/`iam:PassRole` permission); or, if the access is
    /// intended, add the principal to the bucket's `[[who_can]]` list.
    pub struct WhoCanRule;
    id: "who-can",
    title: "Only the expected principals can read, write or control each bucket",
    severity: Critical,
    scenarios: [Step5, ScenarioC],
    remediation: "Remove the statement or role chain that gives the unexpected principal access, or add the principal to the bucket's [[who_can]] list if the access is intended.",
    references: [
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html",
        "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html",
    ],
}

impl Rule for WhoCanRule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &AuditContext) -> Vec<Finding> {
        if cx.spec.who_can.is_empty() {
            return vec![skip(
                &META,
                Scenario::Step5,
                "-",
                "the spec has no [[who_can]] section saying who may read, write or control the buckets (see `replaudit who-can` for who can)",
            )];
        }
        let w = whocan::analyze(cx.spec, cx.snap, &whocan::Options::default());
        let mut out = Vec::new();
        for exp in &cx.spec.who_can {
            for class in AccessClass::ALL {
                // `decrypt` only exists for SSE-KMS buckets (the spec refuses it elsewhere).
                let kms = cx
                    .spec
                    .bucket(exp.bucket.get_ref())
                    .and_then(|b| b.default_encryption.as_ref())
                    .is_some_and(|e| e.get_ref().starts_with("aws:kms"));
                if class == AccessClass::Decrypt && exp.decrypt.is_none() && !kms {
                    continue;
                }
                out.push(check_class(cx, &w, exp, class));
            }
        }
        out
    }
}

fn scenario(cx: &AuditContext, bucket: &str, class: AccessClass) -> Scenario {
    match &cx.spec.scenario_c {
        Some(c) if class == AccessClass::Write && c.bucket.get_ref() == bucket => {
            Scenario::ScenarioC
        }
        _ => Scenario::Step5,
    }
}

/// Who has access of one class, with the best grant per action.
struct Access<'a> {
    subject: &'a str,
    grants: Vec<&'a Grant>,
}

impl Access<'_> {
    fn level(&self) -> Level {
        self.grants
            .iter()
            .map(|g| g.level)
            .max()
            .unwrap_or(Level::Conditional)
    }

    /// One line: who, the chain, what, and the statements that decided.
    fn describe(&self, w: &WhoCan) -> String {
        let kind = w
            .subject(self.subject)
            .map(|s| s.kind.as_str())
            .unwrap_or("principal");
        let first = self.grants[0];
        let via = if first.via.is_empty() {
            String::new()
        } else {
            format!(" via {}", first.path())
        };
        let actions: Vec<String> = self
            .grants
            .iter()
            .map(|g| match g.level {
                Level::Yes => g.action.clone(),
                Level::Conditional => format!("{} (conditional)", g.action),
            })
            .collect();
        let mut s = format!(
            "{} ({kind}){via} can {} by {}",
            self.subject,
            actions.join(", "),
            if first.deciding.is_empty() {
                "its own permissions".to_string()
            } else {
                first.deciding.join("; ")
            }
        );
        if first.level == Level::Conditional && !first.conditions.is_empty() {
            s.push_str(&format!(" [when: {}]", first.conditions.join("; ")));
        }
        s
    }
}

fn check_class(
    cx: &AuditContext,
    w: &WhoCan,
    exp: &WhoCanExpectation,
    class: AccessClass,
) -> Finding {
    let alias = exp.bucket.get_ref();
    let scenario = scenario(cx, alias, class);
    let resource = cx.bucket_arn(alias);
    let name = cx.bucket_name(alias).to_string();
    let Some(entries) = exp.class(class) else {
        return skip(
            &META,
            scenario,
            &resource,
            format!("[[who_can]] for bucket '{alias}' has no `{class}` list: who can {class} {name} is not checked"),
        );
    };
    let info = w.buckets.iter().find(|b| b.alias == *alias);
    let unknowns = w.unknowns_for(alias, class);
    if class == AccessClass::Decrypt && info.is_some_and(|b| b.key.is_none()) && unknowns.is_empty()
    {
        return skip(
            &META,
            scenario,
            &resource,
            format!(
                "{name} has no SSE-KMS default encryption key: nobody needs kms:Decrypt to read it"
            ),
        );
    }
    let resolved: Vec<WhoCanEntry> = entries
        .iter()
        .filter_map(|e| WhoCanEntry::resolve(cx.spec, e.get_ref()))
        .collect();
    // The root user of the resource's account: "has complete access to all AWS services and
    // resources in the account" (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html>).
    let owner = match (class, info) {
        (AccessClass::Decrypt, Some(b)) => b
            .key
            .as_deref()
            .and_then(crate::spec::arn_account)
            .map(str::to_string),
        (_, Some(b)) => Some(b.account.clone()),
        _ => cx.bucket_account_id(alias).map(str::to_string),
    };
    let owner_root = owner.map(|a| format!("arn:aws:iam::{a}:root"));

    let mut by_subject: BTreeMap<&str, Vec<&Grant>> = BTreeMap::new();
    for g in &w.grants {
        if g.bucket == *alias && g.class == Some(class) {
            by_subject.entry(g.subject.as_str()).or_default().push(g);
        }
    }
    let mut unexpected: Vec<Access> = Vec::new();
    let mut expected: Vec<serde_json::Value> = Vec::new();
    for (subject, mut grants) in by_subject {
        // Own access and `yes` first: the line names the strongest, shortest way in.
        grants.sort_by(|a, b| {
            b.level
                .cmp(&a.level)
                .then(a.via.len().cmp(&b.via.len()))
                .then(a.action.cmp(&b.action))
        });
        let a = Access { subject, grants };
        let allowed_by = if owner_root.as_deref() == Some(subject) {
            Some("the resource account's root user".to_string())
        } else {
            resolved
                .iter()
                .zip(entries.iter())
                .find(|(r, _)| r.matches(subject))
                .map(|(_, e)| e.get_ref().clone())
        };
        match allowed_by {
            Some(by) => expected.push(json!({
                "principal": subject,
                "level": a.level(),
                "actions": a.grants.iter().map(|g| g.action.as_str()).collect::<Vec<_>>(),
                "expected_by": by,
            })),
            None => unexpected.push(a),
        }
    }
    let evidence = json!({
        "bucket": alias,
        "class": class,
        "actions": whocan::class_actions(class),
        "key": info.and_then(|b| b.key.clone()),
        "expected_entries": entries.iter().map(|e| e.get_ref()).collect::<Vec<_>>(),
        "expected_with_access": expected,
        "unexpected": unexpected.iter().map(|a| json!({
            "principal": a.subject,
            "kind": w.subject(a.subject).map(|s| s.kind),
            "level": a.level(),
            "grants": a.grants,
        })).collect::<Vec<_>>(),
        "not_evaluated_could_grant": unknowns.iter().map(|u| u.reason.as_str()).collect::<Vec<_>>(),
        "not_evaluated_can_only_remove": w.not_evaluated,
    });
    if !unexpected.is_empty() {
        let mut msg = format!(
            "principals the spec does not expect can {class} {name}: {}",
            unexpected
                .iter()
                .map(|a| a.describe(w))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if !unknowns.is_empty() {
            msg.push_str(&format!("; and there may be more: {}", summary(&unknowns)));
        }
        return META.finding(scenario, Status::Fail, &resource, msg, evidence);
    }
    if !unknowns.is_empty() {
        return META.finding(
            scenario,
            Status::Error,
            &resource,
            format!(
                "cannot prove that only expected principals can {class} {name}: {}",
                summary(&unknowns)
            ),
            evidence,
        );
    }
    META.finding(
        scenario,
        Status::Pass,
        &resource,
        format!("only principals the spec expects can {class} {name}"),
        evidence,
    )
}

/// The first unknown in full, the rest counted (all of them are in the evidence).
fn summary(unknowns: &[&whocan::Unknown]) -> String {
    match unknowns {
        [] => String::new(),
        [one] => one.reason.clone(),
        [first, rest @ ..] => format!(
            "{} (and {} more not evaluated, see the evidence)",
            first.reason,
            rest.len()
        ),
    }
}
