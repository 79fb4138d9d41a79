//! `replaudit fix`: for every failing finding a configuration change can cure, the smallest
//! change that cures it, as the AWS API request that makes it, proven on a copy of the
//! snapshot before anyone applies it. Pure: reads a spec and a snapshot.
//!
//! "Smallest" means: add the missing field or statement, never widen (no `*` action or
//! resource, no removed Deny). What needs a person (who should read, which key, whether a grant
//! or a Deny should go) is listed as a decision with its choices, never guessed.
//!
//! Proof: the changes are put in a safe order (account and bucket settings, versioning before
//! replication, keys and roles before the configurations that use them, destinations before
//! sources) and each is applied, on top of the ones before it, to a copy of the snapshot; the
//! whole audit and the access matrix are run again ([`crate::whatif`]). A change is verified
//! when a finding it was made for turns `pass` and nothing anywhere gets worse. The plan as a
//! whole is verified the same way, all changes together.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::change::aws_shape::{
    EncryptionConfigJson, PublicAccessBlockJson, ReplicationConfigurationJson,
};
use crate::change::{apply_all, Change};
use crate::findings::{Finding, Status};
use crate::rules::{run_all, AuditContext};
use crate::snapshot::{
    EncryptionRule, Fetched, PublicAccessBlock, ReplicationConfiguration, ReplicationDestination,
    RuleFilter, Snapshot, Toggle,
};
use crate::spec::Spec;
use crate::whatif::{self, WhatIf};

/// The plan: changes in the order to apply them, and what no change here can cure.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub spec_name: String,
    pub changes: Vec<PlannedChange>,
    pub decisions: Vec<Decision>,
    pub not_fixable: Vec<NotFixable>,
    /// All changes together: every finding they were made for turns `pass` and nothing gets
    /// worse. `None` when there is no change.
    pub verified: Option<bool>,
    /// Failing findings before, and after all changes.
    pub failing_before: usize,
    pub failing_after: usize,
    /// Failing findings of the checks that restate others (`change-history`,
    /// `config-rule-agreement`): they follow the ones they restate once AWS records the change.
    pub restating: usize,
    /// Findings that could not be decided (`error`: something was not read). A plan over a
    /// state it did not see whole is never green.
    pub unseen: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedChange {
    /// 1-based position in the plan.
    pub order: usize,
    pub change: Change,
    /// Spec alias of the account whose credentials make the call.
    pub account: String,
    /// The checks this change was made for.
    pub for_checks: Vec<String>,
    /// The findings it turns `pass` (`check resource`).
    pub cures: Vec<String>,
    pub verified: bool,
    /// Why it is not verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// The proof: every finding and access decision the change alters.
    pub proof: WhatIf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub check: String,
    pub resource: String,
    pub message: String,
    pub why: String,
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotFixable {
    pub check: String,
    pub resource: String,
    pub reason: String,
}

/// Checks whose failures need a person: what to choose, and the choices.
fn decision_for(f: &Finding) -> Option<(&'static str, Vec<String>)> {
    Some(match f.id.as_str() {
        "access-expectation" => (
            "who may do what is the spec's to say, and a grant can live on either side (the bucket policy, the principal's identity policy, or both across accounts)",
            vec![
                "add or remove the principal's statement in the bucket policy".into(),
                "add or remove the permission in the principal's identity policy".into(),
                "change the spec's expectation if it is out of date".into(),
            ],
        ),
        "bucket-policy-grantees" | "who-can" => (
            "removing a grant may cut off someone who relies on it",
            vec![
                "remove the statement (or the principal from it)".into(),
                "add the grantee to the spec's expectations if the grant is intended".into(),
            ],
        ),
        "replication-unexpected-rules" => (
            "deleting a replication rule stops replication someone may rely on",
            vec![
                "remove the rule from the replication configuration".into(),
                "add it to the spec".into(),
            ],
        ),
        "replication-kms-permissions" | "encrypted-replica-readable" | "log-export-permissions" => (
            "a key permission can be granted in the key policy or in the role's policy (and across accounts needs both); which key owner grants it is an organisational choice",
            vec![
                "add a statement for the principal to the key policy".into(),
                "add kms:Decrypt/kms:Encrypt on the key ARN to the principal's identity policy".into(),
            ],
        ),
        "role-least-privilege" => (
            "removing permissions may break a use the spec does not describe",
            vec!["replace the role's policy with the least-privilege policy in the finding's evidence".into()],
        ),
        "role-trust" | "role-exists" => (
            "a trust policy decides who can become the role; changing it is a security decision",
            vec!["trust only s3.amazonaws.com (with aws:SourceAccount for the source account)".into()],
        ),
        "uploader-restriction" | "prefix-scope" => (
            "who may write which prefix is the spec's to say",
            vec![
                "add or change the bucket-policy Deny that limits uploaders".into(),
                "change the spec".into(),
            ],
        ),
        _ => return None,
    })
}

/// Checks no configuration change of this plan can cure, and why.
fn not_fixable_reason(id: &str) -> &'static str {
    match id {
        "bucket-location" => "a bucket cannot move Region: create a bucket in the right Region and replicate into it",
        "trail-data-events" | "config-recorder" | "config-rule-agreement" => {
            "CloudTrail and AWS Config changes are not in the fix plan yet: follow the finding's remediation"
        }
        "change-history" => "history cannot be changed: review the changes it lists",
        _ => "no configuration change of the fix plan cures this check: follow the finding's remediation",
    }
}

/// The replication configuration checks a rebuilt configuration cures.
const REPLICATION_CHECKS: &[&str] = &[
    "replication-configured",
    "replication-rule-enabled",
    "replication-rtc",
    "replication-metrics",
    "replication-delete-markers",
    "replication-owner-override",
    "replication-kms",
    "replication-filter",
    "replication-destination",
    "replication-role-matches",
];

/// A failing finding the plan answers for: `fail`, and not one of the checks that restate
/// others against state AWS recomputes after a change ([`whatif::RESTATING`]).
fn failing(f: &Finding) -> bool {
    matches!(f.status, Status::Fail) && !restating(f)
}

fn restating(f: &Finding) -> bool {
    whatif::RESTATING.contains(&f.id.as_str())
}

fn key(f: &Finding) -> String {
    format!("{} {}", f.id, f.resource)
}

/// Make the plan.
pub fn plan(spec: &Spec, snap: &Snapshot) -> Plan {
    let cx = AuditContext::new(spec, snap);
    let before = run_all(&cx);
    let fails: Vec<&Finding> = before.iter().filter(|f| failing(f)).collect();
    let mut proposals: Vec<(u8, Change, String, Vec<String>)> = Vec::new();
    let mut handled: BTreeSet<String> = BTreeSet::new();
    // Findings a change would cure but cannot be written for, with why.
    let mut reasons: std::collections::BTreeMap<String, String> = Default::default();
    let fails_of =
        |ids: &[&str], resource: Option<&str>, replication: Option<&str>| -> Vec<&Finding> {
            fails
                .iter()
                .filter(|f| ids.contains(&f.id.as_str()))
                .filter(|f| resource.is_none_or(|r| f.resource == r))
                .filter(|f| {
                    replication.is_none_or(|id| {
                        f.replications.iter().any(|r| r.replication == id)
                            || (f.replications.is_empty() && resource.is_some())
                    })
                })
                .copied()
                .collect()
        };

    // Accounts: S3 Block Public Access at account level (S3 Control).
    for (alias, a) in &spec.accounts {
        let id = a.account_id.get_ref();
        let hit = fails
            .iter()
            .filter(|f| {
                f.id == "account-public-access-block"
                    && f.resource.ends_with(&format!("account/{id}"))
            })
            .copied()
            .collect::<Vec<_>>();
        if !hit.is_empty() {
            proposals.push((
                0,
                change(
                    "PutPublicAccessBlock",
                    json!({"AccountId": id, "PublicAccessBlockConfiguration": all_on()}),
                    "turn on S3 Block Public Access for the account",
                ),
                alias.clone(),
                ids(&hit),
            ));
            handled.extend(hit.iter().map(|f| key(f)));
        }
    }

    // Buckets: destinations before sources within each kind of change.
    let mut aliases: Vec<&String> = spec.buckets.keys().collect();
    let is_destination = |a: &str| {
        spec.replication
            .iter()
            .any(|r| r.rules.iter().any(|x| x.destination.get_ref() == a))
    };
    aliases.sort_by_key(|a| (!is_destination(a), (*a).clone()));
    for alias in aliases {
        let b = &spec.buckets[alias];
        let name = b.name.get_ref();
        let arn = cx.bucket_arn(alias);
        let owner = b.account.get_ref().clone();
        let state = snap.bucket(alias);
        let mut add = |rank: u8, c: Change, hit: Vec<&Finding>| {
            handled.extend(hit.iter().map(|f| key(f)));
            proposals.push((rank, c, owner.clone(), ids(&hit)));
        };
        let hit = fails_of(&["bucket-public-access-block"], Some(&arn), None);
        if !hit.is_empty() {
            add(
                1,
                change(
                    "PutPublicAccessBlock",
                    json!({"Bucket": name, "PublicAccessBlockConfiguration": all_on()}),
                    &format!("turn on S3 Block Public Access for {name}"),
                ),
                hit,
            );
        }
        let hit = fails_of(&["bucket-versioning"], Some(&arn), None);
        if !hit.is_empty() && b.versioning {
            add(
                2,
                change(
                    "PutBucketVersioning",
                    json!({"Bucket": name, "VersioningConfiguration": {"Status": "Enabled"}}),
                    &format!("enable versioning on {name} (replication needs it on both sides)"),
                ),
                hit,
            );
        }
        let hit = fails_of(&["bucket-default-encryption"], Some(&arn), None);
        if let (false, Some(alg)) = (hit.is_empty(), &b.default_encryption) {
            let keep_bucket_key = state
                .and_then(|s| s.encryption.value())
                .and_then(|rules| rules.first())
                .and_then(|r| r.bucket_key_enabled);
            let rule = EncryptionRule {
                sse_algorithm: alg.get_ref().clone(),
                kms_master_key_id: b.kms_key_arn.as_ref().map(|k| k.get_ref().clone()),
                bucket_key_enabled: keep_bucket_key,
            };
            add(
                3,
                change(
                    "PutBucketEncryption",
                    json!({"Bucket": name, "ServerSideEncryptionConfiguration": EncryptionConfigJson::from(std::slice::from_ref(&rule))}),
                    &format!("set {name}'s default encryption to what the spec says"),
                ),
                hit,
            );
        }
        let hit = fails_of(&["bucket-object-ownership"], Some(&arn), None);
        if let (false, Some(o)) = (hit.is_empty(), &b.object_ownership) {
            add(
                4,
                change(
                    "PutBucketOwnershipControls",
                    json!({"Bucket": name, "OwnershipControls": {"Rules": [{"ObjectOwnership": o.get_ref()}]}}),
                    &format!("set {name}'s object ownership to {}", o.get_ref()),
                ),
                hit,
            );
        }
        let mut statements: Vec<Value> = Vec::new();
        let mut hits: Vec<&Finding> = Vec::new();
        let hit = fails_of(&["bucket-tls-only"], Some(&arn), None);
        if !hit.is_empty() {
            statements.push(json!({
                "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn.clone(), format!("{arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }));
            hits.extend(hit);
        }
        let hit = fails_of(&["destination-policy-allows-role"], Some(&arn), None);
        if !hit.is_empty() {
            statements.extend(destination_grants(spec, &cx, alias));
            hits.extend(hit);
        }
        if !statements.is_empty() {
            match bucket_policy_with(state, statements) {
                Ok(policy) => add(
                    8,
                    change(
                        "PutBucketPolicy",
                        json!({"Bucket": name, "Policy": policy.to_string()}),
                        &format!("add {} statement(s) to {name}'s bucket policy", hits.len()),
                    ),
                    hits,
                ),
                Err(e) => {
                    for f in hits {
                        reasons.insert(
                            key(f),
                            format!("the change would add to {name}'s bucket policy, but {e}"),
                        );
                    }
                }
            }
        }
    }

    // Replications: the role's own grants, then the configuration.
    for r in &spec.replication {
        let src = r.source.get_ref();
        let role_arn = cx.principal_arn(r.role.get_ref()).to_string();
        let owner = spec
            .bucket(src)
            .map(|b| b.account.get_ref().clone())
            .unwrap_or_default();
        let hit = fails_of(
            &["role-source-permissions", "role-destination-permissions"],
            None,
            Some(r.id.get_ref()),
        );
        if !hit.is_empty() {
            if let Some(doc) = role_grants(spec, &cx, r) {
                let name = role_arn.rsplit('/').next().unwrap_or_default().to_string();
                handled.extend(hit.iter().map(|f| key(f)));
                proposals.push((
                    7,
                    change(
                        "PutRolePolicy",
                        json!({"RoleName": name, "PolicyName": format!("replaudit-fix-{}", r.id.get_ref()), "PolicyDocument": doc.to_string()}),
                        &format!("grant {name} what replication '{}' needs and lacks", r.id.get_ref()),
                    ),
                    owner.clone(),
                    ids(&hit),
                ));
            }
        }
        let hit = fails_of(REPLICATION_CHECKS, None, Some(r.id.get_ref()));
        let src_arn = cx.bucket_arn(src);
        let hit: Vec<&Finding> = hit
            .into_iter()
            .chain(fails_of(REPLICATION_CHECKS, Some(&src_arn), None))
            .collect::<Vec<_>>();
        if !hit.is_empty() {
            let config = desired_replication(spec, &cx, r);
            let name = cx.bucket_name(src).to_string();
            handled.extend(hit.iter().map(|f| key(f)));
            proposals.push((
                9,
                change(
                    "PutBucketReplication",
                    json!({"Bucket": name, "ReplicationConfiguration": ReplicationConfigurationJson::from(&config)}),
                    &format!("make {name}'s replication rules say what replication '{}' says", r.id.get_ref()),
                ),
                owner,
                ids(&hit),
            ));
        }
    }

    proposals.sort_by_key(|p| p.0);
    let mut decisions = Vec::new();
    let mut not_fixable = Vec::new();
    for f in &fails {
        if handled.contains(&key(f)) {
            continue;
        }
        match decision_for(f) {
            Some((why, choices)) => decisions.push(Decision {
                check: f.id.clone(),
                resource: f.resource.clone(),
                message: f.message.clone(),
                why: why.into(),
                choices,
            }),
            None => not_fixable.push(NotFixable {
                check: f.id.clone(),
                resource: f.resource.clone(),
                reason: reasons
                    .get(&key(f))
                    .cloned()
                    .unwrap_or_else(|| not_fixable_reason(&f.id).into()),
            }),
        }
    }

    // Prove each change on top of the ones before it.
    let mut state = snap.clone();
    let mut changes = Vec::new();
    for (i, (_, c, account, for_checks)) in proposals.into_iter().enumerate() {
        let (verified, why_not, proof, cures) = match whatif::evaluate(
            spec,
            &state,
            std::slice::from_ref(&c),
        ) {
            Ok(w) => {
                let cures: Vec<String> = w
                    .findings
                    .iter()
                    .filter(|d| d.before == Some(Status::Fail) && d.after == Some(Status::Pass))
                    .map(|d| format!("{} {}", d.id, d.resource))
                    .collect();
                let cures_its_own = w.findings.iter().any(|d| {
                    for_checks.contains(&d.id)
                        && d.before == Some(Status::Fail)
                        && d.after == Some(Status::Pass)
                });
                let why_not = if w.breaks {
                    let worse: Vec<String> = w
                        .findings
                        .iter()
                        .filter(|d| d.worse)
                        .map(|d| format!("{} {}: {}", d.id, d.resource, d.message))
                        .collect();
                    Some(format!(
                        "it makes {} finding(s) worse: {}",
                        worse.len(),
                        worse.join("; ")
                    ))
                } else if !cures_its_own {
                    Some("no finding it was made for turns pass on the copy: something else (a Deny, another account's side) decides".into())
                } else {
                    None
                };
                if why_not.is_none() {
                    let _ = apply_all(spec, &mut state, std::slice::from_ref(&c));
                }
                (why_not.is_none(), why_not, w, cures)
            }
            Err(e) => (
                false,
                Some(e.to_string()),
                WhatIf {
                    applied: vec![],
                    findings: vec![],
                    access: vec![],
                    who_can: vec![],
                    breaks: false,
                    changed: vec![],
                },
                vec![],
            ),
        };
        changes.push(PlannedChange {
            order: i + 1,
            change: c,
            account,
            for_checks,
            cures,
            verified,
            why_not,
            proof,
        });
    }
    let after = run_all(&AuditContext::new(spec, &state));
    let failing_after = after.iter().filter(|f| failing(f)).count();
    // What the verified changes cure on the way (a derived check such as
    // `config-rule-agreement` or `change-history` follows the one it restates) is not left
    // to a person: decisions and "not fixable" list only what still fails after the plan.
    let still: BTreeSet<String> = after.iter().filter(|f| failing(f)).map(key).collect();
    decisions.retain(|d| still.contains(&format!("{} {}", d.check, d.resource)));
    not_fixable.retain(|n| still.contains(&format!("{} {}", n.check, n.resource)));
    let verified = (!changes.is_empty()).then(|| {
        let whole: Vec<Change> = changes
            .iter()
            .filter(|c| c.verified)
            .map(|c| c.change.clone())
            .collect();
        changes.iter().all(|c| c.verified)
            && whatif::evaluate(spec, snap, &whole).is_ok_and(|w| !w.breaks)
    });
    Plan {
        spec_name: spec.name.clone(),
        changes,
        decisions,
        not_fixable,
        verified,
        failing_before: fails.len(),
        failing_after,
        unseen: after.iter().filter(|f| f.status == Status::Error).count(),
        restating: before
            .iter()
            .filter(|f| f.status == Status::Fail && restating(f))
            .count(),
    }
}

fn ids(fs: &[&Finding]) -> Vec<String> {
    let mut v: Vec<String> = fs.iter().map(|f| f.id.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn change(operation: &str, request: Value, description: &str) -> Change {
    Change {
        operation: operation.into(),
        account: None,
        request,
        description: Some(description.into()),
    }
}

fn all_on() -> PublicAccessBlockJson {
    PublicAccessBlockJson::from(&PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    })
}

/// Why a bucket policy cannot be added to.
#[derive(Debug, thiserror::Error)]
pub enum PolicyEdit {
    #[error("the bucket policy is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("the bucket policy was not read")]
    NotRead,
    #[error("the bucket policy has no Statement")]
    NoStatement,
}

/// The bucket's policy with `add` appended (a statement whose Sid is already there replaces
/// it); a new policy when it has none.
fn bucket_policy_with(
    state: Option<&crate::snapshot::BucketState>,
    add: Vec<Value>,
) -> Result<Value, PolicyEdit> {
    let mut policy = match state.map(|s| &s.policy) {
        Some(Fetched::Ok { value }) => serde_json::from_str::<Value>(value)?,
        Some(Fetched::Absent { .. }) => json!({"Version": "2012-10-17", "Statement": []}),
        _ => return Err(PolicyEdit::NotRead),
    };
    let list = match policy.get_mut("Statement") {
        Some(Value::Array(a)) => a,
        Some(one) => {
            *one = Value::Array(vec![one.take()]);
            one.as_array_mut().expect("just made an array")
        }
        None => return Err(PolicyEdit::NoStatement),
    };
    for s in add {
        if let Some(sid) = s.get("Sid") {
            list.retain(|x| x.get("Sid") != Some(sid));
        }
        list.push(s);
    }
    Ok(policy)
}

/// An object resource the rules ask about (`.../PREFIX/replaudit-sample-object`) as the
/// prefix it stands for (`.../PREFIX/*`): the grant covers the prefix, not one sample key.
fn prefix_resource(resource: &str) -> String {
    match resource.strip_suffix(&crate::rules::support::sample_key("")) {
        Some(p) => format!("{p}*"),
        None => resource.to_string(),
    }
}

/// A statement granting each action on the resources that need it (one statement per action
/// set, resources listed exactly).
fn grant_statement(sid: &str, principal: Option<&str>, needs: &[(String, String)]) -> Value {
    let mut actions: Vec<&str> = needs.iter().map(|(a, _)| a.as_str()).collect();
    actions.sort();
    actions.dedup();
    let mut resources: Vec<&str> = needs.iter().map(|(_, r)| r.as_str()).collect();
    resources.sort();
    resources.dedup();
    let mut s = json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources});
    if let Some(p) = principal {
        s["Principal"] = json!({"AWS": p});
    }
    s
}

/// What the role lacks for replication `r` (identity side), as an identity policy; `None` when
/// it lacks nothing an Allow can give (an explicit Deny decides: a person must).
fn role_grants(spec: &Spec, cx: &AuditContext, r: &crate::spec::Replication) -> Option<Value> {
    use crate::rules::support::{destination_needs, source_needs, BucketSide};
    let who = crate::access::identity_side(cx.snap, cx.principal_arn(r.role.get_ref())).ok()?;
    let mut needs: Vec<(String, String)> = Vec::new();
    let mut ask = |alias: &str, list: Vec<crate::rules::support::Needed>| {
        let side = BucketSide::for_role(cx, &who, alias).ok();
        let acct = spec.bucket_account_id(alias).unwrap_or_default();
        for n in list {
            let decision = side
                .as_ref()
                .map(|s| s.ask(cx, &who, n.action, &n.resource, acct).eval.decision);
            if decision == Some(crate::policy::Decision::ImplicitDeny) {
                needs.push((n.action.to_string(), prefix_resource(&n.resource)));
            }
        }
    };
    ask(r.source.get_ref(), source_needs(cx, r));
    for rule in &r.rules {
        ask(rule.destination.get_ref(), destination_needs(cx, rule));
    }
    if needs.is_empty() {
        return None;
    }
    // One statement per resource kind keeps bucket actions off object ARNs.
    let (bucket, object): (Vec<_>, Vec<_>) =
        needs.into_iter().partition(|(_, res)| !res.contains('/'));
    let mut statements = Vec::new();
    if !bucket.is_empty() {
        statements.push(grant_statement("ReplicationBucketAccess", None, &bucket));
    }
    if !object.is_empty() {
        statements.push(grant_statement("ReplicationObjectAccess", None, &object));
    }
    Some(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The destination-policy statement that lets each replication role writing into `alias`
/// replicate (what `destination-policy-allows-role` asks).
fn destination_grants(spec: &Spec, cx: &AuditContext, alias: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &spec.replication {
        let role = cx.principal_arn(r.role.get_ref());
        let needs: Vec<(String, String)> = r
            .rules
            .iter()
            .filter(|x| x.destination.get_ref() == alias)
            .flat_map(|x| crate::rules::support::destination_needs(cx, x))
            .map(|n| (n.action.to_string(), prefix_resource(&n.resource)))
            .collect();
        if !needs.is_empty() {
            out.push(grant_statement(
                &format!("ReplauditReplicate{}", sid_safe(r.id.get_ref())),
                Some(role),
                &needs,
            ));
        }
    }
    out
}

fn sid_safe(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// The source bucket's replication configuration with each of `r`'s rules made to say what the
/// spec says (fields the spec does not decide are kept as they are), rules of other
/// replications and rules the spec does not know kept (removing them is a decision).
fn desired_replication(
    spec: &Spec,
    cx: &AuditContext,
    r: &crate::spec::Replication,
) -> ReplicationConfiguration {
    let live = cx
        .snap
        .bucket(r.source.get_ref())
        .and_then(|b| b.replication.value().cloned());
    let mut config = live.clone().unwrap_or(ReplicationConfiguration {
        role: String::new(),
        rules: vec![],
    });
    config.role = cx.principal_arn(r.role.get_ref()).to_string();
    let src_account = cx.bucket_account_id(r.source.get_ref());
    for (i, want) in r.rules.iter().enumerate() {
        let dest = want.destination.get_ref();
        let dest_arn = cx.bucket_arn(dest);
        let existing = crate::snapshot::rule_for(
            &config.rules,
            want.id.as_deref(),
            &dest_arn,
            want.prefix_or_empty(),
        )
        .and_then(|found| config.rules.iter().position(|x| std::ptr::eq(x, found)));
        let mut rule = existing
            .map(|at| config.rules[at].clone())
            .unwrap_or_default();
        rule.id = want.id.clone().or(rule.id).or_else(|| Some(want.label(i)));
        rule.priority = want.priority.or(rule.priority).or(Some(i as i32 + 1));
        rule.status = "Enabled".into();
        rule.filter = RuleFilter {
            prefix: Some(want.prefix_or_empty().to_string()),
            tags: want.tags.clone(),
            legacy: false,
        };
        rule.delete_marker_replication = Some(
            if want.delete_marker_replication {
                "Enabled"
            } else {
                "Disabled"
            }
            .into(),
        );
        let cross = spec.bucket_account_id(dest) != src_account;
        let d = &mut rule.destination;
        *d = ReplicationDestination {
            bucket: dest_arn,
            account: if cross || want.owner_override {
                spec.bucket_account_id(dest).map(str::to_string)
            } else {
                d.account.clone()
            },
            storage_class: want.storage_class.clone().or(d.storage_class.clone()),
            access_control_owner: if want.owner_override {
                Some("Destination".into())
            } else {
                d.access_control_owner.clone()
            },
            replica_kms_key_id: want
                .replica_kms_key_arn
                .as_ref()
                .map(|k| k.get_ref().clone())
                .or(d.replica_kms_key_id.clone()),
            replication_time: if want.rtc {
                Some(Toggle {
                    status: "Enabled".into(),
                    minutes: Some(15),
                })
            } else {
                d.replication_time.clone()
            },
            metrics: if want.metrics_expected() {
                Some(Toggle {
                    status: "Enabled".into(),
                    minutes: Some(15),
                })
            } else {
                d.metrics.clone()
            },
        };
        if want.sse_kms_encrypted_objects {
            rule.sse_kms_encrypted_objects = Some("Enabled".into());
        }
        match existing {
            Some(at) => config.rules[at] = rule,
            None => config.rules.push(rule),
        }
    }
    config
}

impl Plan {
    /// Exit code: 0 when nothing fails or every failure is cured by verified changes, 1 when
    /// something stays failing (a decision, a change that could not be verified) or could not
    /// be decided (an `error` finding: the plan cannot say it is cured).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failing_after > 0 || self.unseen > 0 || self.verified == Some(false))
    }

    /// The AWS CLI command of a change, reading its request from `file`.
    pub fn command(spec: &Spec, c: &PlannedChange, file: &str) -> String {
        let (service, op) = match c.change.operation.as_str() {
            "PutPublicAccessBlock" if c.change.request.get("AccountId").is_some() => {
                ("s3control", "put-public-access-block")
            }
            "PutRolePolicy" => ("iam", "put-role-policy"),
            "PutKeyPolicy" => ("kms", "put-key-policy"),
            other => ("s3api", kebab(other)),
        };
        let profile = spec
            .account(&c.account)
            .and_then(|a| a.credentials.profile.clone())
            .map(|p| format!(" --profile {p}"))
            .unwrap_or_else(|| format!(" # with credentials of account {}", c.account));
        format!("aws {service} {op} --cli-input-json file://{file}{profile}")
    }

    /// The terminal rendering.
    pub fn render_table(&self, spec: &Spec) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "fix plan for '{}': {} failing finding(s); {} change(s), {} decision(s), {} not fixable here",
            self.spec_name,
            self.failing_before,
            self.changes.len(),
            self.decisions.len(),
            self.not_fixable.len()
        );
        for c in &self.changes {
            let _ = writeln!(
                s,
                "\n{}. {} {} [{}]",
                c.order,
                c.change.operation,
                c.change.description.as_deref().unwrap_or_default(),
                if c.verified {
                    "verified"
                } else {
                    "NOT verified"
                }
            );
            let _ = writeln!(s, "   {}", Plan::command(spec, c, &file_name(c)));
            if !c.cures.is_empty() {
                let _ = writeln!(s, "   cures: {}", c.cures.join(", "));
            }
            for a in &c.proof.access {
                let _ = writeln!(
                    s,
                    "   access: {} {} {} on {}",
                    a.principal, a.change, a.action, a.bucket
                );
            }
            if let Some(w) = &c.why_not {
                let _ = writeln!(s, "   not verified: {w}");
            }
        }
        for d in &self.decisions {
            let _ = writeln!(
                s,
                "\ndecision needed: {} on {}: {}",
                d.check, d.resource, d.why
            );
            for ch in &d.choices {
                let _ = writeln!(s, "   - {ch}");
            }
        }
        for n in &self.not_fixable {
            let _ = writeln!(
                s,
                "\nnot fixable here: {} on {}: {}",
                n.check, n.resource, n.reason
            );
        }
        if self.restating > 0 {
            let _ = writeln!(
                s,
                "\n{} failing finding(s) of {} restate the ones above; they follow once AWS records the changes",
                self.restating,
                whatif::RESTATING.join(" and ")
            );
        }
        if self.unseen > 0 {
            let _ = writeln!(
                s,
                "\n{} finding(s) could not be decided (error: something was not read); the plan cannot cure what it did not see",
                self.unseen
            );
        }
        let _ = writeln!(
            s,
            "\nafter all changes: {} failing finding(s); plan {}",
            self.failing_after,
            match self.verified {
                Some(true) => "verified",
                Some(false) => "NOT verified",
                None => "empty",
            }
        );
        s
    }
}

fn kebab(op: &str) -> &'static str {
    match op {
        "PutPublicAccessBlock" => "put-public-access-block",
        "PutBucketVersioning" => "put-bucket-versioning",
        "PutBucketEncryption" => "put-bucket-encryption",
        "PutBucketOwnershipControls" => "put-bucket-ownership-controls",
        "PutBucketPolicy" => "put-bucket-policy",
        "PutBucketReplication" => "put-bucket-replication",
        _ => "unknown-operation",
    }
}

/// The change set that puts back what the plan's changes replace, from the state the plan was
/// made on, in reverse order: the documents as they were read (byte for byte), a Delete where
/// there was nothing. Versioning once enabled can only be suspended, never made unversioned
/// again (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html>): its undo
/// is `Suspended`, said in the change's description. What was not read cannot be restored and
/// is returned as a problem.
pub fn rollback(spec: &Spec, snap: &Snapshot, changes: &[Change]) -> (Vec<Change>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let bucket = |name: &str| snap.buckets.values().find(|b| b.name == name);
    for c in changes.iter().rev() {
        let r = &c.request;
        let name = r.get("Bucket").and_then(Value::as_str).unwrap_or_default();
        let b = bucket(name);
        let undo = |op: &str, request: Value, what: &str| Change {
            operation: op.into(),
            account: c.account.clone(),
            request,
            description: Some(format!("undo: {what}")),
        };
        let missing = |what: &str| {
            format!(
                "{} of {name}: {what} was not read, so it cannot be restored",
                c.operation
            )
        };
        let undo = match (c.operation.as_str(), b) {
            ("PutBucketPolicy", Some(b)) => match &b.policy {
                Fetched::Ok { value } => Ok(undo("PutBucketPolicy", json!({"Bucket": name, "Policy": value}), "the bucket policy as it was")),
                Fetched::Absent { .. } => Ok(undo("DeleteBucketPolicy", json!({"Bucket": name}), "no bucket policy, as before")),
                Fetched::Unknown { .. } => Err(missing("the bucket policy")),
            },
            ("PutBucketReplication", Some(b)) => match &b.replication {
                Fetched::Ok { value } => Ok(undo("PutBucketReplication", json!({"Bucket": name, "ReplicationConfiguration": ReplicationConfigurationJson::from(value)}), "the replication configuration as it was")),
                Fetched::Absent { .. } => Ok(undo("DeleteBucketReplication", json!({"Bucket": name}), "no replication configuration, as before")),
                Fetched::Unknown { .. } => Err(missing("the replication configuration")),
            },
            ("PutBucketVersioning", Some(b)) => match &b.versioning {
                Fetched::Ok { value } if value == "Enabled" => continue,
                Fetched::Ok { value } if value == "Suspended" => Ok(undo("PutBucketVersioning", json!({"Bucket": name, "VersioningConfiguration": {"Status": "Suspended"}}), "versioning Suspended, as before")),
                Fetched::Ok { .. } | Fetched::Absent { .. } => Ok(undo("PutBucketVersioning", json!({"Bucket": name, "VersioningConfiguration": {"Status": "Suspended"}}), "versioning Suspended: the bucket was never versioned, and S3 cannot make a versioned bucket unversioned again")),
                Fetched::Unknown { .. } => Err(missing("versioning")),
            },
            ("PutPublicAccessBlock", _) if r.get("AccountId").is_some() => {
                let id = r["AccountId"].as_str().unwrap_or_default();
                let state = spec
                    .account_alias_for_id(id)
                    .and_then(|a| snap.accounts.get(a))
                    .map(|a| &a.public_access_block);
                match state {
                    Some(Fetched::Ok { value }) => Ok(undo("PutPublicAccessBlock", json!({"AccountId": id, "PublicAccessBlockConfiguration": PublicAccessBlockJson::from(value)}), "the account's Block Public Access as it was")),
                    Some(Fetched::Absent { .. }) => Ok(undo("DeletePublicAccessBlock", json!({"AccountId": id}), "no account Block Public Access, as before")),
                    _ => Err(format!("PutPublicAccessBlock of account {id}: its settings were not read, so they cannot be restored")),
                }
            }
            ("PutPublicAccessBlock", Some(b)) => match &b.public_access_block {
                Fetched::Ok { value } => Ok(undo("PutPublicAccessBlock", json!({"Bucket": name, "PublicAccessBlockConfiguration": PublicAccessBlockJson::from(value)}), "Block Public Access as it was")),
                Fetched::Absent { .. } => Ok(undo("DeletePublicAccessBlock", json!({"Bucket": name}), "no Block Public Access configuration, as before")),
                Fetched::Unknown { .. } => Err(missing("Block Public Access")),
            },
            ("PutBucketEncryption", Some(b)) => match &b.encryption {
                Fetched::Ok { value } => Ok(undo("PutBucketEncryption", json!({"Bucket": name, "ServerSideEncryptionConfiguration": EncryptionConfigJson::from(value.as_slice())}), "default encryption as it was")),
                Fetched::Absent { .. } => Ok(undo("DeleteBucketEncryption", json!({"Bucket": name}), "default encryption reset to SSE-S3")),
                Fetched::Unknown { .. } => Err(missing("default encryption")),
            },
            ("PutBucketOwnershipControls", Some(b)) => match &b.ownership_controls {
                Fetched::Ok { value } => Ok(undo("PutBucketOwnershipControls", json!({"Bucket": name, "OwnershipControls": {"Rules": [{"ObjectOwnership": value}]}}), "object ownership as it was")),
                Fetched::Absent { .. } => Ok(undo("DeleteBucketOwnershipControls", json!({"Bucket": name}), "no ownership controls, as before")),
                Fetched::Unknown { .. } => Err(missing("object ownership")),
            },
            ("PutRolePolicy", _) => {
                let role = r["RoleName"].as_str().unwrap_or_default();
                let policy = r["PolicyName"].as_str().unwrap_or_default();
                let found = snap
                    .principals
                    .values()
                    .find(|p| p.kind == "role" && p.name == role)
                    .and_then(|p| p.details.value())
                    .and_then(|d| d.inline_policies.value());
                match found {
                    Some(list) => match list.iter().find(|p| p.name == policy) {
                        Some(p) => match &p.document {
                            Fetched::Ok { value } => Ok(undo("PutRolePolicy", json!({"RoleName": role, "PolicyName": policy, "PolicyDocument": value}), "the inline policy as it was")),
                            _ => Err(format!("PutRolePolicy {role}/{policy}: the policy was not read, so it cannot be restored")),
                        },
                        None => Ok(undo("DeleteRolePolicy", json!({"RoleName": role, "PolicyName": policy}), "no such inline policy, as before")),
                    },
                    None => Err(format!("PutRolePolicy {role}: its inline policies were not read, so they cannot be restored")),
                }
            }
            (op, _) => Err(format!("{op} {name}: replaudit has no undo for it")),
        };
        match undo {
            Ok(u) => out.push(u),
            Err(p) => problems.push(p),
        }
    }
    (out, problems)
}

/// Why a plan could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("cannot write the fix plan to {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Write the plan into `dir`: `plan.json` (the plan with its proofs), `changes.json` (the
/// change set, in order, that `what-if --change` reads), one `NN-Operation.json` request per
/// change for `aws ... --cli-input-json`, `commands.sh` listing those commands in order
/// (verified changes only; it is not run by replaudit), and `rollback.json`: the change set
/// that restores what the verified changes replace, from `snap` (the state the plan was made on).
/// Returns the files written.
pub fn write(
    plan: &Plan,
    spec: &Spec,
    snap: &Snapshot,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, FixError> {
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| FixError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: String| -> Result<(), FixError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
        written.push(path);
        Ok(())
    };
    put("plan.json", pretty(plan))?;
    let set: Vec<&Change> = plan.changes.iter().map(|c| &c.change).collect();
    put("changes.json", pretty(&serde_json::json!({"changes": set})))?;
    let mut sh = String::from(
        "#!/bin/sh\n# replaudit fix plan: the verified changes, in order. Review before running.\nset -eu\ncd \"$(dirname \"$0\")\"\n",
    );
    for c in &plan.changes {
        put(&file_name(c), pretty(&c.change.request))?;
        let cmd = Plan::command(spec, c, &file_name(c));
        if c.verified {
            sh.push_str(&format!("{cmd}\n"));
        } else {
            sh.push_str(&format!(
                "# NOT verified ({}): {cmd}\n",
                c.why_not.as_deref().unwrap_or("")
            ));
        }
    }
    put("commands.sh", sh)?;
    let (undo, problems) = rollback(
        spec,
        snap,
        &plan
            .changes
            .iter()
            .filter(|c| c.verified)
            .map(|c| c.change.clone())
            .collect::<Vec<_>>(),
    );
    put(
        "rollback.json",
        pretty(&serde_json::json!({"changes": undo, "cannot_restore": problems})),
    )?;
    Ok(written)
}

/// Pretty JSON, newline-terminated, for the plan's files.
fn pretty<T: Serialize + ?Sized>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("plan values serialise");
    s.push('\n');
    s
}

/// The request file of a change, e.g. `03-PutBucketPolicy.json`.
pub fn file_name(c: &PlannedChange) -> String {
    format!("{:02}-{}.json", c.order, c.change.operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn verified_cure(f: &Fixture, check: &str) -> Plan {
        let before = run_all(&AuditContext::new(&f.spec, &f.snap));
        assert!(
            before
                .iter()
                .any(|x| x.id == check && x.status == Status::Fail),
            "the mutation does not fail {check}"
        );
        let p = plan(&f.spec, &f.snap);
        let c = p
            .changes
            .iter()
            .find(|c| c.cures.iter().any(|k| k.starts_with(&format!("{check} "))))
            .unwrap_or_else(|| panic!("no change cures {check}:\n{}", p.render_table(&f.spec)));
        assert!(c.verified, "{}", p.render_table(&f.spec));
        assert!(!c.proof.breaks);
        assert_eq!(p.verified, Some(true), "{}", p.render_table(&f.spec));
        assert_eq!(p.failing_after, 0, "{}", p.render_table(&f.spec));
        p
    }

    /// Whether a change's policy document has an Allow of `*`/`s3:*` or on resource `*`.
    fn widens(c: &Change) -> bool {
        let doc = ["Policy", "PolicyDocument"]
            .iter()
            .find_map(|k| c.request.get(*k).and_then(Value::as_str));
        let Some(doc) = doc else { return false };
        let doc: Value = serde_json::from_str(doc).unwrap();
        let as_list = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => vec![],
            }
        };
        doc["Statement"].as_array().unwrap().iter().any(|st| {
            st["Effect"] == "Allow"
                && (as_list(&st["Action"])
                    .iter()
                    .any(|a| a == "*" || a == "s3:*")
                    || as_list(&st["Resource"]).iter().any(|r| r == "*"))
        })
    }

    #[test]
    fn the_seed_needs_no_change() {
        let f = seed();
        let p = plan(&f.spec, &f.snap);
        assert!(
            p.changes.is_empty() && p.decisions.is_empty(),
            "{}",
            p.render_table(&f.spec)
        );
        assert_eq!(p.exit_code(), 0);
    }

    #[test]
    fn versioning_is_enabled_before_replication() {
        let mut f = seed();
        f.bucket("destination").versioning = Fetched::ok("Suspended".into());
        let p = verified_cure(&f, "bucket-versioning");
        assert_eq!(p.changes[0].change.operation, "PutBucketVersioning");
        assert_eq!(p.changes[0].change.request["Bucket"], "clint-s3-bucket");
        assert!(Plan::command(&f.spec, &p.changes[0], "01.json")
            .starts_with("aws s3api put-bucket-versioning --cli-input-json file://01.json --profile abcd-audit"));
    }

    #[test]
    fn rtc_off_is_cured_by_the_whole_configuration() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replication_time = None;
        f.live_rule("source", "reports-to-abcd").destination.metrics = None;
        let p = verified_cure(&f, "replication-rtc");
        let c = &p.changes[0];
        assert_eq!(c.change.operation, "PutBucketReplication");
        let rules = &c.change.request["ReplicationConfiguration"]["Rules"];
        let r = rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ID"] == "reports-to-abcd")
            .unwrap();
        assert_eq!(r["Destination"]["ReplicationTime"]["Time"]["Minutes"], 15);
        // The rest of the rule is kept: the replica key, the owner override.
        assert!(r["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"].is_string());
        assert_eq!(
            r["Destination"]["AccessControlTranslation"]["Owner"],
            "Destination"
        );
    }

    #[test]
    fn delete_marker_replication_and_owner_override_are_cured() {
        let mut f = seed();
        f.live_rule("source", "reports-to-abcd")
            .delete_marker_replication = Some("Disabled".into());
        f.live_rule("source", "reports-to-abcd")
            .destination
            .access_control_owner = None;
        verified_cure(&f, "replication-delete-markers");
    }

    #[test]
    fn a_missing_role_grant_is_added_exactly() {
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:ReplicateObject")
        });
        let p = verified_cure(&f, "role-destination-permissions");
        let c = &p.changes[0];
        assert_eq!(c.change.operation, "PutRolePolicy");
        let doc: Value =
            serde_json::from_str(c.change.request["PolicyDocument"].as_str().unwrap()).unwrap();
        let text = doc.to_string();
        assert!(text.contains("s3:ReplicateObject"), "{text}");
        assert!(!widens(&c.change), "widened: {text}");
        assert!(
            text.contains("arn:aws:s3:::clint-s3-bucket/reports/*"),
            "{text}"
        );
    }

    #[test]
    fn a_deny_is_not_overridden_by_a_grant() {
        // The role's Deny decides: no Allow cures it, so no change is proposed for it.
        let mut f = seed();
        f.inline_policies("replication-role", |p| {
            statements(p).push(json!({"Effect": "Deny", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::xyz-app-logs"}))
        });
        let p = plan(&f.spec, &f.snap);
        assert!(
            p.changes
                .iter()
                .all(|c| c.change.operation != "PutRolePolicy"),
            "{}",
            p.render_table(&f.spec)
        );
        assert!(p.failing_after > 0);
        assert_eq!(p.exit_code(), 1);
    }

    #[test]
    fn tls_only_adds_the_deny_statement() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            statements(p).retain(|s| s["Sid"] != "DenyInsecureTransport")
        });
        let p = verified_cure(&f, "bucket-tls-only");
        let policy: Value =
            serde_json::from_str(p.changes[0].change.request["Policy"].as_str().unwrap()).unwrap();
        // Tom's grants are kept: the change adds, it does not replace.
        assert!(policy.to_string().contains("tom-cruise"));
        assert!(policy.to_string().contains("aws:SecureTransport"));
    }

    #[test]
    fn block_public_access_and_encryption_and_ownership() {
        let mut f = seed();
        f.bucket("logs").public_access_block =
            Fetched::absent("NoSuchPublicAccessBlockConfiguration");
        verified_cure(&f, "bucket-public-access-block");
        let mut f = seed();
        f.bucket("logs").encryption = Fetched::ok(vec![EncryptionRule {
            sse_algorithm: "aws:kms".into(),
            kms_master_key_id: None,
            bucket_key_enabled: None,
        }]);
        verified_cure(&f, "bucket-default-encryption");
        let mut f = seed();
        f.bucket("destination").ownership_controls = Fetched::ok("ObjectWriter".into());
        verified_cure(&f, "bucket-object-ownership");
        let mut f = seed();
        f.account("xyz").public_access_block =
            Fetched::absent("NoSuchPublicAccessBlockConfiguration");
        let p = verified_cure(&f, "account-public-access-block");
        assert!(Plan::command(&f.spec, &p.changes[0], "x.json")
            .starts_with("aws s3control put-public-access-block"));
    }

    #[test]
    fn who_may_read_is_a_decision_never_a_guess() {
        let mut f = seed();
        f.bucket_policy("source", |p| {
            statements(p).retain(|s| s["Sid"] != "Grant0Objects")
        });
        let p = plan(&f.spec, &f.snap);
        assert!(p.changes.is_empty(), "{}", p.render_table(&f.spec));
        assert!(p
            .decisions
            .iter()
            .any(|d| d.check == "access-expectation" && !d.choices.is_empty()));
        assert_eq!(p.exit_code(), 1);
    }

    #[test]
    fn each_replication_configuration_check_is_cured() {
        type Mutation = fn(&mut Fixture);
        let cases: &[(&str, Mutation)] = &[
            ("replication-configured", |f| {
                f.bucket("source").replication =
                    Fetched::absent("ReplicationConfigurationNotFoundError")
            }),
            ("replication-rule-enabled", |f| {
                f.live_rule("source", "reports-to-abcd").status = "Disabled".into()
            }),
            ("replication-kms", |f| {
                let r = f.live_rule("source", "reports-to-abcd");
                r.sse_kms_encrypted_objects = None;
                r.destination.replica_kms_key_id = None;
            }),
            ("replication-filter", |f| {
                f.live_rule("source", "reports-to-abcd").filter.prefix = Some("".into())
            }),
            ("replication-destination", |f| {
                f.live_rule("source", "reports-to-abcd").destination.account =
                    Some("444455556666".into())
            }),
            ("replication-role-matches", |f| {
                f.replication("logs").role = "arn:aws:iam::111122223333:role/other".into()
            }),
            ("destination-policy-allows-role", |f| {
                f.bucket_policy("destination", |p| remove_action(p, "s3:ReplicateDelete"))
            }),
            ("destination-policy-allows-role", |f| {
                f.bucket("destination").policy = Fetched::absent("NoSuchBucketPolicy")
            }),
            ("role-source-permissions", |f| {
                f.inline_policies("replication-role", |p| {
                    remove_action(p, "s3:GetObjectVersionForReplication")
                })
            }),
        ];
        for (check, mutate) in cases {
            let mut f = seed();
            mutate(&mut f);
            let p = verified_cure(&f, check);
            for c in &p.changes {
                assert!(!widens(&c.change), "{check}: widened: {}", c.change.request);
            }
        }
    }

    #[test]
    fn what_needs_a_person_is_a_decision_and_changes_nothing() {
        type Mutation = fn(&mut Fixture);
        let cases: &[(&str, Mutation)] = &[
            ("bucket-policy-grantees", |f| {
                f.bucket_policy("source", |p| {
                    statements(p).push(json!({"Sid": "Extra", "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::rubes-s3-bucket/*"}))
                })
            }),
            ("replication-unexpected-rules", |f| {
                let mut extra = f.live_rule("source", "reports-to-abcd").clone();
                extra.id = Some("everything".into());
                extra.priority = Some(9);
                extra.filter.prefix = Some("".into());
                f.replication("source").rules.push(extra);
            }),
            ("role-trust", |f| {
                f.details("replication-role").trust_policy = Some(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                    .to_string(),
                )
            }),
            ("replication-kms-permissions", |f| {
                f.key_policy(DEST_KEY, |p| {
                    statements(p).retain(|s| s["Sid"] != "AllowReplicaEncrypt")
                })
            }),
            // tom loses his grant: whether to give it back, and on which side, is the spec's
            // owner's call.
            ("access-expectation", |f| {
                f.bucket_policy("source", |p| {
                    statements(p).retain(|s| s["Sid"] != "Grant0Objects")
                })
            }),
            ("role-least-privilege", |f| {
                f.inline_policies("replication-role", |p| {
                    statements(p)
                        .push(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
                })
            }),
            ("role-exists", |f| {
                f.principal("replication-role").details = Fetched::absent("NoSuchEntity")
            }),
            ("uploader-restriction", |f| {
                f.bucket_policy("source", |p| {
                    statements(p).retain(|s| s["Sid"] != "OnlyUploadersWriteReplicatedPrefixes")
                })
            }),
            ("log-export-permissions", |f| {
                f.bucket_policy("logs", |p| {
                    for s in statements(p).iter_mut().filter(|s| s["Effect"] == "Allow") {
                        s.as_object_mut().unwrap().remove("Condition");
                    }
                })
            }),
        ];
        for (check, mutate) in cases {
            let mut f = seed();
            mutate(&mut f);
            let p = plan(&f.spec, &f.snap);
            assert!(
                p.decisions
                    .iter()
                    .any(|d| d.check == *check && !d.choices.is_empty()),
                "{check}: {}",
                p.render_table(&f.spec)
            );
            assert!(
                p.changes
                    .iter()
                    .all(|c| !c.for_checks.iter().any(|x| x == check)),
                "{check}: a change was guessed: {}",
                p.render_table(&f.spec)
            );
            assert_eq!(p.exit_code(), 1, "{check}");
        }
    }

    #[test]
    fn the_plan_is_written_as_files_the_aws_cli_and_what_if_read() {
        let mut f = seed();
        f.bucket("destination").versioning = Fetched::ok("Suspended".into());
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replication_time = None;
        let p = plan(&f.spec, &f.snap);
        let dir = std::env::temp_dir().join(format!("replaudit-fix-{}", std::process::id()));
        let files = write(&p, &f.spec, &f.snap, &dir).unwrap();
        assert!(files.len() >= 5, "{files:?}");
        // The change set reads back, and applied to the broken snapshot breaks nothing.
        let set = crate::change::load(&dir.join("changes.json")).unwrap();
        assert_eq!(set.len(), p.changes.len());
        let w = whatif::evaluate(&f.spec, &f.snap, &set).unwrap();
        assert!(!w.breaks, "{}", w.render_table());
        // Each request file is the request of its change, and commands.sh names each in order.
        let sh = std::fs::read_to_string(dir.join("commands.sh")).unwrap();
        for c in &p.changes {
            let req: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(file_name(c))).unwrap())
                    .unwrap();
            assert_eq!(req, c.change.request);
            assert!(sh.contains(&format!("file://{}", file_name(c))), "{sh}");
        }
        let versioning = sh.find("put-bucket-versioning").unwrap();
        let replication = sh.find("put-bucket-replication").unwrap();
        assert!(versioning < replication, "{sh}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_it() {
        let f = seed();
        let p = plan(&f.spec, &f.snap);
        let file = std::env::temp_dir().join(format!("replaudit-fix-file-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let e = write(&p, &f.spec, &f.snap, &file.join("sub")).unwrap_err();
        assert!(
            e.to_string().contains("cannot write the fix plan to"),
            "{e}"
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn the_rollback_puts_back_every_document_byte_for_byte() {
        let mut f = seed();
        f.bucket("destination").versioning = Fetched::ok("Suspended".into());
        f.live_rule("source", "reports-to-abcd")
            .destination
            .replication_time = None;
        f.bucket_policy("source", |p| {
            statements(p).retain(|s| s["Sid"] != "DenyInsecureTransport")
        });
        f.bucket("logs").public_access_block =
            Fetched::absent("NoSuchPublicAccessBlockConfiguration");
        f.inline_policies("replication-role", |p| {
            remove_action(p, "s3:ReplicateObject")
        });
        let p = plan(&f.spec, &f.snap);
        let changes: Vec<Change> = p
            .changes
            .iter()
            .filter(|c| c.verified)
            .map(|c| c.change.clone())
            .collect();
        assert!(changes.len() >= 5, "{}", p.render_table(&f.spec));
        let mut state = f.snap.clone();
        apply_all(&f.spec, &mut state, &changes).unwrap();
        let (undo, problems) = rollback(&f.spec, &f.snap, &changes);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(undo.len(), changes.len());
        apply_all(&f.spec, &mut state, &undo).unwrap();
        for (alias, was) in &f.snap.buckets {
            let now = &state.buckets[alias];
            assert_eq!(now.policy, was.policy, "{alias} policy");
            assert_eq!(now.replication, was.replication, "{alias} replication");
            assert_eq!(now.versioning, was.versioning, "{alias} versioning");
            assert_eq!(
                serde_json::to_value(&now.public_access_block).unwrap()["state"],
                serde_json::to_value(&was.public_access_block).unwrap()["state"],
                "{alias} block public access"
            );
        }
        let role = |s: &Snapshot| serde_json::to_string(&s.principals[ROLE_ARN].details).unwrap();
        assert_eq!(role(&state), role(&f.snap));
        // The audit is back where it was.
        let statuses = |s: &Snapshot| -> Vec<(String, String, Status)> {
            run_all(&AuditContext::new(&f.spec, s))
                .into_iter()
                .map(|x| (x.id, x.resource, x.status))
                .collect()
        };
        assert_eq!(statuses(&state), statuses(&f.snap));
    }

    #[test]
    fn an_unread_state_is_never_a_green_plan() {
        let mut f = seed();
        f.bucket("destination").versioning = denied("s3:GetBucketVersioning");
        let p = plan(&f.spec, &f.snap);
        assert!(p.unseen > 0, "{}", p.render_table(&f.spec));
        assert_eq!(p.exit_code(), 1, "{}", p.render_table(&f.spec));
        assert!(p.render_table(&f.spec).contains("could not be decided"));
    }
}
