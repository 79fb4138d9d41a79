//! Bridges the snapshot to the policy engine: which policies apply to a principal, what the
//! request context of a principal looks like, and evaluation of one request, either in full or
//! one leg at a time.
//!
//! Legs exist because an audit must say *which side* is wrong. A cross-account request needs
//! both the caller's identity side and the resource policy to allow
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>);
//! "the role lacks s3:ReplicateObject" and "the destination bucket policy does not let the role
//! replicate" are different defects with different owners (the two accounts).

pub mod grants;
pub mod kms;
pub mod matrix;
pub mod replica_sse;
pub mod whocan;

pub mod error;
pub use error::Error;

use crate::arn::{self, Arn};
use crate::policy::{self, Context, Evaluation, Policy, PolicySet, Request};
use crate::snapshot::{Fetched, NamedPolicy, PrincipalState, Snapshot};
use crate::spec;
use std::collections::BTreeMap;

/// Which part of the evaluation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// Everything AWS would evaluate.
    Full,
    /// Only the caller's side: identity policies, permission boundary (as if no resource policy
    /// existed and the resource were in the caller's account).
    IdentityOnly,
    /// Only the resource policy, as if the caller's identity side allowed everything.
    ResourceOnly,
}

/// The identity side of a principal, parsed.
#[derive(Debug, Clone)]
pub struct IdentitySide {
    pub arn: String,
    pub account: String,
    /// `user` or `role`.
    pub kind: String,
    pub name: String,
    pub policies: Vec<Policy>,
    pub boundary: Option<Policy>,
    pub tags: BTreeMap<String, String>,
}

impl IdentitySide {
    /// An invented principal of `account` whose identity policies allow everything: used to ask
    /// what a resource policy alone lets "anyone else in that account" do. `partition` is the
    /// account's ARN partition (`aws`, `aws-cn`, ...): a principal of another partition never
    /// matches a policy of this one.
    pub fn synthetic_admin(partition: &str, account: &str, name: &str) -> IdentitySide {
        let p = Policy::parse(
            "synthetic allow-all identity policy",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .expect("constant policy parses");
        IdentitySide {
            arn: format!("arn:{partition}:iam::{account}:user/{name}"),
            account: account.to_string(),
            kind: "user".into(),
            name: name.into(),
            policies: vec![p],
            boundary: None,
            tags: BTreeMap::new(),
        }
    }

    /// A principal known only by its ARN (no policies): enough for resource-policy questions.
    pub fn from_arn(arn: &str) -> Option<IdentitySide> {
        let account = arn::account_of(arn)?.to_string();
        let (kind, path_name) = Arn::split(arn)?.resource.split_once('/')?;
        if kind != "user" && kind != "role" {
            return None;
        }
        Some(IdentitySide {
            arn: arn.to_string(),
            account,
            kind: kind.to_string(),
            name: path_name.rsplit('/').next()?.to_string(),
            policies: Vec::new(),
            boundary: None,
            tags: BTreeMap::new(),
        })
    }

    /// The partition named by the principal's own ARN (its second field).
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>
    pub fn partition(&self) -> &str {
        arn::partition_of(&self.arn).unwrap_or("aws")
    }

    /// The ARN a request carries: the user, or a session of the role.
    pub fn caller_arn(&self) -> String {
        if self.kind == "role" {
            format!(
                "arn:{}:sts::{}:assumed-role/{}/replaudit-simulated",
                self.partition(),
                self.account,
                self.name
            )
        } else {
            self.arn.clone()
        }
    }

    /// The global condition keys AWS puts in every request of this principal.
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>
    pub fn context(&self, at: chrono::DateTime<chrono::Utc>) -> Context {
        let mut c = Context::new();
        c.insert("aws:PrincipalArn", self.arn.as_str());
        c.insert("aws:PrincipalAccount", self.account.as_str());
        c.insert(
            "aws:PrincipalType",
            if self.kind == "role" {
                "AssumedRole"
            } else {
                "User"
            },
        );
        if self.kind == "user" {
            c.insert("aws:username", self.name.as_str());
        }
        c.insert("aws:SecureTransport", "true");
        c.insert(
            "aws:CurrentTime",
            at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        c.insert("aws:EpochTime", at.timestamp().to_string());
        c.insert("aws:ViaAWSService", "false");
        for (k, v) in &self.tags {
            c.insert(&format!("aws:PrincipalTag/{k}"), v.as_str());
        }
        c
    }
}

fn parse_named(p: &NamedPolicy, owner: &str) -> Result<Policy, Error> {
    let label = match &p.arn {
        Some(arn) => arn.clone(),
        None => format!("{owner} inline policy {}", p.name),
    };
    match &p.document {
        Fetched::Ok { value } => Policy::parse(&label, value).map_err(Error::Policy),
        other => Err(Error::Undecided(format!(
            "policy {label} could not be read: {}",
            other.why_missing().unwrap_or_default()
        ))),
    }
}

fn fetched_list<'a, T>(f: &'a Fetched<Vec<T>>, what: &str) -> Result<&'a [T], Error> {
    match f {
        Fetched::Ok { value } => Ok(value),
        Fetched::Absent { .. } => Ok(&[]),
        Fetched::Unknown { .. } => Err(Error::Undecided(format!(
            "{what}: {}",
            f.why_missing().unwrap_or_default()
        ))),
    }
}

/// Parse every identity policy of a collected principal. Any policy that could not be read or
/// parsed makes the identity side unknown: evaluating with a policy missing could turn a Deny
/// into an Allow.
pub fn identity_side(snap: &Snapshot, arn: &str) -> Result<IdentitySide, Error> {
    let st: &PrincipalState = snap
        .principal(arn)
        .ok_or_else(|| Error::NotCollected(format!("principal {arn}")))?;
    let d = match &st.details {
        Fetched::Ok { value } => value,
        Fetched::Absent { reason } => {
            return Err(Error::PrincipalMissing {
                arn: arn.to_string(),
                reason: reason.clone(),
            })
        }
        other => {
            return Err(Error::Undecided(format!(
                "principal {arn} could not be read: {}",
                other.why_missing().unwrap_or_default()
            )))
        }
    };
    let mut policies = Vec::new();
    for p in fetched_list(&d.inline_policies, "inline policies")? {
        policies.push(parse_named(p, &st.name)?);
    }
    for p in fetched_list(&d.attached_policies, "attached policies")? {
        policies.push(parse_named(p, &st.name)?);
    }
    for g in fetched_list(&d.groups, "groups")? {
        for p in fetched_list(
            &g.inline_policies,
            &format!("group {} inline policies", g.name),
        )? {
            policies.push(parse_named(p, &format!("group {}", g.name))?);
        }
        for p in fetched_list(
            &g.attached_policies,
            &format!("group {} attached policies", g.name),
        )? {
            policies.push(parse_named(p, &format!("group {}", g.name))?);
        }
    }
    let boundary = match &d.permission_boundary {
        Fetched::Ok { value: Some(p) } => Some(parse_named(p, &st.name)?),
        Fetched::Ok { value: None } | Fetched::Absent { .. } => None,
        other => {
            return Err(Error::Undecided(format!(
                "permissions boundary: {}",
                other.why_missing().unwrap_or_default()
            )))
        }
    };
    Ok(IdentitySide {
        arn: st.arn.clone(),
        account: st.account_id.clone(),
        kind: st.kind.clone(),
        name: st.name.clone(),
        policies,
        boundary,
        tags: d.tags.clone(),
    })
}

/// The bucket policy of a bucket alias: `Ok(None)` when the bucket has none.
pub fn bucket_policy(snap: &Snapshot, alias: &str) -> Result<Option<Policy>, Error> {
    let b = snap
        .bucket(alias)
        .ok_or_else(|| Error::NotCollected(format!("bucket '{alias}'")))?;
    match &b.policy {
        Fetched::Ok { value } => Policy::parse(&format!("bucket policy of {}", b.name), value)
            .map(Some)
            .map_err(Error::Policy),
        Fetched::Absent { .. } => Ok(None),
        other => Err(Error::Undecided(format!(
            "bucket policy of {}: {}",
            b.name,
            other.why_missing().unwrap_or_default()
        ))),
    }
}

/// Whether S3 ignores public grants of this bucket's policy: RestrictPublicBuckets at bucket
/// or account level. Unknown settings are an error only when the answer could matter (the
/// policy is public).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>
pub fn restrict_public_buckets(
    snap: &Snapshot,
    spec: &spec::Spec,
    alias: &str,
    policy: Option<&Policy>,
) -> Result<bool, Error> {
    let Some(policy) = policy else {
        return Ok(false);
    };
    if !policy::is_public(policy) {
        return Ok(false);
    }
    let b = snap
        .bucket(alias)
        .ok_or_else(|| Error::NotCollected(format!("bucket '{alias}'")))?;
    let bucket_level = match &b.public_access_block {
        Fetched::Ok { value } => Some(value.restrict_public_buckets),
        Fetched::Absent { .. } => Some(false),
        Fetched::Unknown { .. } => None,
    };
    let account_alias = spec.bucket(alias).map(|s| s.account.get_ref().clone());
    let account_level = match account_alias
        .as_deref()
        .and_then(|a| snap.accounts.get(a))
        .map(|a| &a.public_access_block)
    {
        Some(Fetched::Ok { value }) => Some(value.restrict_public_buckets),
        Some(Fetched::Absent { .. }) => Some(false),
        _ => None,
    };
    match (bucket_level, account_level) {
        (Some(true), _) | (_, Some(true)) => Ok(true),
        (Some(false), Some(false)) => Ok(false),
        _ => Err(Error::Undecided(format!(
            "the bucket policy of {} is public and its Block Public Access settings could not be read",
            b.name
        ))),
    }
}

/// The key policy of a KMS key the snapshot holds.
pub fn key_policy(snap: &Snapshot, key_arn: &str) -> Result<Policy, Error> {
    let k = snap
        .kms_keys
        .get(key_arn)
        .ok_or_else(|| Error::NotCollected(format!("KMS key {key_arn}")))?;
    match &k.key_policy {
        Fetched::Ok { value } => {
            Policy::parse(&format!("key policy of {key_arn}"), value).map_err(Error::Policy)
        }
        other => Err(Error::Undecided(format!(
            "key policy of {key_arn}: {}",
            other.why_missing().unwrap_or_default()
        ))),
    }
}

/// One request to evaluate against a resource.
pub struct Query<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_account: &'a str,
    pub resource_policy: Option<&'a Policy>,
    pub restrict_public_buckets: bool,
    /// Extra request-context keys (e.g. `kms:ViaService`).
    pub extra_context: &'a [(&'a str, String)],
}

/// Evaluate one request of `who`, in full or one leg.
pub fn evaluate(snap: &Snapshot, who: &IdentitySide, q: &Query, leg: Leg) -> Evaluation {
    let mut ctx = who.context(snap.collected_at);
    for (k, v) in q.extra_context {
        ctx.insert(k, v.as_str());
    }
    let allow_all;
    let (identity, boundary, resource_policy, resource_account): (
        &[Policy],
        Option<&Policy>,
        Option<&Policy>,
        &str,
    ) = match leg {
        Leg::Full => (
            &who.policies,
            who.boundary.as_ref(),
            q.resource_policy,
            q.resource_account,
        ),
        // Framed as a same-account request with no resource policy, the decision is exactly
        // what the identity policies and the boundary allow.
        Leg::IdentityOnly => (
            &who.policies,
            who.boundary.as_ref(),
            None,
            who.account.as_str(),
        ),
        Leg::ResourceOnly => {
            allow_all =
                IdentitySide::synthetic_admin(who.partition(), &who.account, &who.name).policies;
            (&allow_all, None, q.resource_policy, q.resource_account)
        }
    };
    let req = Request {
        principal: who.caller_arn(),
        principal_account: Some(who.account.clone()),
        action: q.action.to_string(),
        resource: q.resource.to_string(),
        resource_account: Some(resource_account.to_string()),
        context: ctx,
    };
    let set = PolicySet {
        identity,
        resource: resource_policy,
        permission_boundary: boundary,
        restrict_public_buckets: q.restrict_public_buckets,
        ..PolicySet::default()
    };
    policy::evaluate(&req, &set)
}

/// Evidence for a finding: the decision, its deciding statements and reasons.
pub fn evidence(action: &str, resource: &str, leg: Leg, e: &Evaluation) -> serde_json::Value {
    serde_json::json!({
        "action": action,
        "resource": resource,
        "evaluated": match leg {
            Leg::Full => "identity policies, permissions boundary and resource policy",
            Leg::IdentityOnly => "identity policies and permissions boundary only",
            Leg::ResourceOnly => "resource policy only",
        },
        "decision": e.decision,
        "deciding_statements": e.deciding.iter().map(|s| serde_json::json!({
            "policy": s.policy,
            "kind": s.kind,
            "sid": s.sid,
            "index": s.index,
            "effect": s.effect,
        })).collect::<Vec<_>>(),
        "reasons": e.reasons,
    })
}

/// A short human description of the statements that decided, for messages.
pub fn deciding_summary(e: &Evaluation) -> String {
    if e.deciding.is_empty() {
        return e
            .reasons
            .first()
            .cloned()
            .unwrap_or_else(|| "no statement matched".into());
    }
    e.deciding
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::IdentitySide;

    /// A role of the China partition calls as `arn:aws-cn:sts::...`; an ARN built with `arn:aws:`
    /// would match none of its own partition's policies.
    #[test]
    fn sessions_and_synthetic_principals_keep_their_partition() {
        let role = IdentitySide::from_arn("arn:aws-cn:iam::111122223333:role/repl").unwrap();
        assert_eq!(
            role.caller_arn(),
            "arn:aws-cn:sts::111122223333:assumed-role/repl/replaudit-simulated"
        );
        let gov = IdentitySide::synthetic_admin("aws-us-gov", "111122223333", "probe");
        assert_eq!(gov.arn, "arn:aws-us-gov:iam::111122223333:user/probe");
        let commercial = IdentitySide::from_arn("arn:aws:iam::111122223333:user/u").unwrap();
        assert_eq!(commercial.caller_arn(), "arn:aws:iam::111122223333:user/u");
    }
}
