use super::support::skip;
use super::{AuditContext, Rule};
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
    /// decrypt = `kms:Decrypt` on the bucket's default-encryption key, as S3 asks it for a reader,
    /// allowed by the key policy with IAM policies or by a KMS grant (named by its grant id;
    /// conditional when the grant has constraints); keys whose grants could not be listed
    /// make `decrypt` an `error`.
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
        "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html",
    ],
}

impl Rule for WhoCanRule {
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
            format!(" via {}", w.path(first))
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
    // Named in the bucket's partition, as who-can names account roots.
    let partition = cx.bucket_partition(alias);
    let owner_root = owner.map(|a| format!("arn:{partition}:iam::{a}:root"));

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::whocan::fixture::*;
    use crate::snapshot::{Fetched, Snapshot};

    fn findings(extra: &str, snap: &Snapshot) -> Vec<Finding> {
        let spec = spec(extra);
        WhoCanRule.check(&AuditContext::new(&spec, snap))
    }

    fn of<'a>(f: &'a [Finding], class: &str) -> &'a Finding {
        f.iter()
            .find(|x| x.evidence["class"] == class || x.message.contains(&format!("`{class}`")))
            .unwrap_or_else(|| panic!("no {class} finding in {f:#?}"))
    }

    /// The planted set-up: a role with `s3:*` that a user of the same account may assume, and
    /// the authorised cross-account reader.
    fn planted() -> Snapshot {
        let mut snap = snapshot();
        let user = add_user(
            &mut snap,
            "a",
            "contractor",
            &[r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#],
        );
        add_role(
            &mut snap,
            "a",
            "support-admin",
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{user}"}},"Action":"sts:AssumeRole"}}"#
            ),
            &[r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#],
        );
        let reader = add_user(
            &mut snap,
            "b",
            "reader",
            &[r#"{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}"#],
        );
        add_user(&mut snap, "b", "clint", &[]);
        set_bucket_policy(
            &mut snap,
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{reader}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::data-bucket/*"}}"#
            ),
        );
        snap
    }

    #[test]
    fn fails_naming_the_planted_role_and_the_user_with_its_chain() {
        let f = findings(
            "[[who_can]]\nbucket = \"data\"\nread = [\"reader\"]\nwrite = []\ncontrol = []\n",
            &planted(),
        );
        let read = of(&f, "read");
        assert_eq!(read.status, Status::Fail, "{read:#?}");
        assert!(
            read.message.contains(&format!(
                "arn:aws:iam::{A}:role/support-admin (role) can s3:GetObject"
            )),
            "{}",
            read.message
        );
        assert!(
            read.message.contains(&format!(
                "arn:aws:iam::{A}:user/contractor (user) via arn:aws:iam::{A}:role/support-admin (sts:AssumeRole) can"
            )),
            "{}",
            read.message
        );
        assert!(read.message.contains("statement 0"), "{}", read.message);
        assert!(
            !read.message.contains("user/reader"),
            "the reader is expected"
        );
        assert!(!read.message.contains("clint"), "clint cannot read");
        assert!(
            !read.message.contains(":root"),
            "the owner's root is implicit"
        );
        assert_eq!(read.evidence["unexpected"].as_array().unwrap().len(), 2);
        assert_eq!(of(&f, "control").status, Status::Fail);
        assert_eq!(of(&f, "write").status, Status::Fail);
    }

    /// The seed's who-can verdicts are the same in the China partition, where buckets, roots
    /// and policies are named `arn:aws-cn:`. Who-can used to ask about `arn:aws:s3:::<bucket>`
    /// whatever the partition, which no statement of a China policy matches: nobody could read
    /// anything, and unexpected readers passed unseen.
    #[test]
    fn the_china_partition_gives_the_same_verdicts() {
        use crate::rules::testkit::{seed, seed_in_china};
        let verdicts = |f: crate::rules::testkit::Fixture| -> Vec<(Status, String)> {
            f.run(&WhoCanRule)
                .into_iter()
                .map(|x| {
                    (
                        x.status,
                        x.message
                            .replace("arn:aws-cn:", "arn:aws:")
                            .replace("cn-north-1", "ap-southeast-1")
                            .replace("cn-northwest-1", "ap-southeast-2"),
                    )
                })
                .collect()
        };
        // An outside account the spec does not expect, granted by the source bucket's policy.
        let outsider = |mut f: crate::rules::testkit::Fixture| {
            let partition = if f.spec.accounts["xyz"].region.get_ref().starts_with("cn-") {
                "aws-cn"
            } else {
                "aws"
            };
            f.bucket_policy("source", |p| {
                crate::rules::testkit::statements(p).push(json!({
                    "Sid": "Outsider", "Effect": "Allow", "Principal": {"AWS": "999988887777"},
                    "Action": ["s3:GetObject", "s3:ListBucket", "s3:PutObject"],
                    "Resource": [format!("arn:{partition}:s3:::rubes-s3-bucket"), format!("arn:{partition}:s3:::rubes-s3-bucket/*")]}))
            });
            f
        };
        let commercial = verdicts(outsider(seed()));
        assert!(
            commercial
                .iter()
                .any(|(s, m)| *s == Status::Fail && m.contains("999988887777")),
            "{commercial:?}"
        );
        assert!(
            commercial.iter().any(|(s, _)| *s != Status::Skip),
            "{commercial:?}"
        );
        assert_eq!(verdicts(outsider(seed_in_china())), commercial);
    }

    #[test]
    fn passes_when_the_spec_expects_them() {
        let f = findings(
            &format!(
                "[[who_can]]\nbucket = \"data\"\nread = [\"reader\", \"arn:aws:iam::{A}:role/support-admin\", \"arn:aws:iam::{A}:user/contractor\"]\nwrite = [\"arn:aws:iam::{A}:*\"]\ncontrol = [\"arn:aws:iam::{A}:*\"]\n"
            ),
            &planted(),
        );
        for class in ["read", "write", "control"] {
            let x = of(&f, class);
            assert_eq!(x.status, Status::Pass, "{x:#?}");
        }
        assert_eq!(
            of(&f, "read").message,
            "only principals the spec expects can read data-bucket"
        );
    }

    #[test]
    fn without_the_section_it_skips_and_a_class_left_out_is_not_checked() {
        let f = findings("", &planted());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Skip);
        assert!(f[0].message.contains("[[who_can]]"));
        let f = findings(
            "[[who_can]]\nbucket = \"data\"\nread = [\"reader\"]\n",
            &planted(),
        );
        assert_eq!(
            f.len(),
            3,
            "no decrypt finding on a bucket without SSE-KMS: {f:#?}"
        );
        assert_eq!(of(&f, "write").status, Status::Skip);
        assert!(of(&f, "write").message.contains("has no `write` list"));
    }

    #[test]
    fn what_was_not_evaluated_is_an_error_or_added_to_a_fail_never_a_pass() {
        let mut snap = snapshot();
        snap.buckets.get_mut("data").unwrap().ownership_controls =
            Fetched::ok("ObjectWriter".into());
        let f = findings(
            &format!("[[who_can]]\nbucket = \"data\"\nread = [\"arn:aws:iam::{A}:*\"]\n"),
            &snap,
        );
        let read = of(&f, "read");
        assert_eq!(read.status, Status::Error, "{read:#?}");
        assert!(
            read.message.contains("ACLs are enabled on data-bucket"),
            "{}",
            read.message
        );
        let mut snap = planted();
        snap.iam_accounts.insert(
            "b".into(),
            Fetched::unknown(
                "iam:GetAccountAuthorizationDetails",
                Some("AccessDenied".into()),
                "denied",
            ),
        );
        let f = findings(
            "[[who_can]]\nbucket = \"data\"\nread = [\"reader\"]\n",
            &snap,
        );
        let read = of(&f, "read");
        assert_eq!(read.status, Status::Fail);
        assert!(
            read.message.contains("and there may be more: the IAM users and roles of account 'b' (222222222222) are unknown: iam:GetAccountAuthorizationDetails failed: AccessDenied: denied"),
            "{}",
            read.message
        );
    }
}

#[cfg(test)]
mod on_the_seed {
    use super::WhoCanRule;
    use crate::findings::Status;
    use crate::rules::testkit::*;

    /// The seed's [[who_can]] expectations describe exactly who can reach its buckets.
    #[test]
    fn the_seed_passes_and_a_reader_the_spec_leaves_out_fails() {
        let out = seed().run(&WhoCanRule);
        assert!(
            out.iter().all(|f| f.status == Status::Pass),
            "{:#?}",
            out.iter()
                .filter(|f| f.status != Status::Pass)
                .map(|f| &f.message)
                .collect::<Vec<_>>()
        );
        assert!(out.len() >= 4, "one finding per bucket and class at least");
        // Leave tom out of the source's readers: the bucket policy still lets him read.
        let f = seed_with_spec(|doc| {
            let who = doc["who_can"].as_array_mut().unwrap()[0]
                .as_table_mut()
                .unwrap();
            let read = who["read"].as_array_mut().unwrap();
            read.retain(|v| v.as_str() != Some("tom"));
        });
        let out = f.run(&WhoCanRule);
        has(&out, Status::Fail, "tom-cruise");
    }

    const DEST_KEY: &str =
        "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    const CLINT: &str = "arn:aws:iam::271089868719:user/clint-eastwood";

    /// The destination key with one more grant: Decrypt to clint, whom no list expects.
    fn granted(spec_edit: impl FnOnce(&mut toml::Table)) -> Fixture {
        let mut f = seed_with_spec(spec_edit);
        f.key(DEST_KEY).grants = Fetched::ok(vec![crate::snapshot::KmsGrant {
            grant_id: "0c1d2e3f".into(),
            key_id: Some(DEST_KEY.into()),
            grantee_principal: Some(CLINT.into()),
            operations: vec!["Decrypt".into()],
            ..Default::default()
        }]);
        f
    }

    #[test]
    fn a_kms_grant_to_an_unlisted_principal_fails_decrypt_unless_the_spec_allows_it() {
        let out = granted(|_| {}).run(&WhoCanRule);
        let f = has(
            &out,
            Status::Fail,
            &format!("principals the spec does not expect can decrypt clint-s3-bucket: {CLINT} (user) can kms:Decrypt by KMS grant 0c1d2e3f"),
        );
        assert_eq!(f.evidence["unexpected"].as_array().unwrap().len(), 1);
        // Allowed by the spec: the same grant passes.
        let out = granted(|doc| {
            let who = doc["who_can"].as_array_mut().unwrap()[1]
                .as_table_mut()
                .unwrap();
            who["decrypt"].as_array_mut().unwrap().push(CLINT.into());
        })
        .run(&WhoCanRule);
        assert!(
            out.iter().all(|f| f.status == Status::Pass),
            "{:#?}",
            out.iter()
                .filter(|f| f.status != Status::Pass)
                .map(|f| &f.message)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn grants_not_listed_are_not_evaluated_never_a_pass() {
        let mut f = seed();
        f.key(DEST_KEY).grants = Fetched::unknown(
            "kms:ListGrants",
            Some("AccessDeniedException".into()),
            "not authorized to perform kms:ListGrants",
        );
        let out = f.run(&WhoCanRule);
        has(
            &out,
            Status::Error,
            "cannot prove that only expected principals can decrypt clint-s3-bucket: KMS grants of key arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d were not listed, so anyone a grant names may use the key: kms:ListGrants failed: AccessDeniedException",
        );
        // A snapshot from before grants were collected: the same, never a pass.
        let mut f = seed();
        f.key(DEST_KEY).grants =
            Fetched::unknown("snapshot", None, "not collected in this snapshot");
        let out = f.run(&WhoCanRule);
        has(&out, Status::Error, "not collected in this snapshot");
    }
}
