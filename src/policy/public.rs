//! "Is this bucket policy public?" and "whom does it grant?".
//!
//! Public follows S3 Block Public Access
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>,
//! "The meaning of public"): a policy starts out public and is non-public only if every Allow
//! grants to fixed values (no wildcard, no policy variable) of an AWS principal, user, role or
//! service principal, or is pinned by a condition with a fixed value on `aws:SourceIp` (not
//! broader than /8 for IPv4 or /32 for IPv6, RFC 1918 ranges excepted), `aws:SourceArn`,
//! `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`, `aws:SourceAccount`,
//! `s3:x-amz-server-side-encryption-aws-kms-key-id`, `aws:userid` (outside `AROLEID:*`),
//! `s3:DataAccessPointArn` (a wildcard only in the access point name) or
//! `s3:DataAccessPointAccount`, or a principal key such as `aws:PrincipalOrgID`.
//! `{"Federated": ...}` counts as public (the page's first example).

use std::net::IpAddr;

use serde::Serialize;

use super::condition::{Condition, OpKind, Qualifier, Values};
use super::model::{action_matches, resource_matches};
use super::model::{AwsTarget, Effect, Policy, PrincipalEntry, Statement, Target};
use super::{Context, PolicyKind, StatementRef};
use crate::arn;

/// Condition keys that pin an open principal down, per the Block Public Access page.
const FIXING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
    // "An AWS principal, user, role, or service principal (e.g. aws:PrincipalOrgID)".
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:sourceorgid",
];

/// Is this resource policy "public" per S3 Block Public Access rules?
pub fn is_public(policy: &Policy) -> bool {
    policy
        .statements
        .iter()
        .any(|s| s.effect == Effect::Allow && statement_is_public(s))
}

fn statement_is_public(st: &Statement) -> bool {
    let open = match &st.principal {
        // Not a grant to anyone (AWS refuses such resource policies).
        None => false,
        // Everyone except a list is everyone that matters.
        Some(b) if b.negated => true,
        Some(b) => b.entries.iter().any(|e| {
            matches!(
                e.target,
                Target::Aws(AwsTarget::Any)
                    | Target::Aws(AwsTarget::Wildcard)
                    | Target::Federated(_)
            ) || matches!(&e.target, Target::CanonicalUser(c) if c.contains(['*', '?']))
                || matches!(&e.target, Target::Service(s) if s.contains(['*', '?']))
        }),
    };
    open && !st.conditions.iter().any(condition_fixes)
}

/// Does this condition restrict the statement to fixed values of a pinning key?
fn condition_fixes(c: &Condition) -> bool {
    if c.negated || c.if_exists || c.qualifier == Qualifier::ForAllValues {
        // Negations, absent-key passes and the vacuous ForAllValues leave the door open.
        return false;
    }
    let key = c.key_lc.as_str();
    if !FIXING_KEYS.contains(&key) {
        return false;
    }
    let fixed = |v: &str| !v.contains(['*', '?']) && !v.contains("${");
    match (&c.values, c.kind) {
        (Values::Ip(nets), _) => key == "aws:sourceip" && nets.iter().all(|n| !broad(n)),
        (_, OpKind::StringEquals { .. }) | (_, OpKind::StringLike) | (_, OpKind::Arn) => {
            c.raw_values.iter().all(|v| {
                if key == "s3:dataaccesspointarn" {
                    access_point_fixed(v)
                } else {
                    fixed(v)
                }
            })
        }
        _ => false,
    }
}

/// "values broader than /8 for IPv4 and /32 for IPv6 (excluding RFC1918 private ranges)".
fn broad(n: &ipnet::IpNet) -> bool {
    match n.network() {
        IpAddr::V4(a) => n.prefix_len() < 8 && !a.is_private(),
        IpAddr::V6(_) => n.prefix_len() < 32,
    }
}

/// `arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME`: a wildcard is allowed in NAME only.
fn access_point_fixed(v: &str) -> bool {
    let Some(parts) = arn::segments(v) else {
        return false;
    };
    if v.contains("${") {
        return false;
    }
    let head_fixed = parts[..5].iter().all(|p| !p.contains(['*', '?']));
    head_fixed
        && !parts[4].is_empty()
        && parts[5]
            .strip_prefix("accesspoint/")
            .is_some_and(|name| !name.is_empty())
}

/// One principal that an Allow statement grants some of the queried actions to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// As written. With `not_principal` the statement grants to everyone *except* this entry
    /// (one `Grant` per excluded entry).
    pub principal: PrincipalEntry,
    /// Which of the queried actions the statement grants.
    pub actions: Vec<String>,
    pub statement: StatementRef,
    pub has_conditions: bool,
    pub not_principal: bool,
}

/// Every principal an Allow statement of a resource policy grants, for the given actions on
/// `resource`. Conditions are not evaluated (they are reported through `has_conditions`);
/// policy variables in `Resource` resolve only through their defaults.
pub fn grants(policy: &Policy, actions: &[&str], resource: &str) -> Vec<Grant> {
    let ctx = Context::new();
    let mut out = Vec::new();
    for st in &policy.statements {
        if st.effect != Effect::Allow {
            continue;
        }
        let Some(block) = &st.principal else {
            continue;
        };
        let matched: Vec<String> = actions
            .iter()
            .filter(|a| action_matches(st, a, &ctx))
            .map(|a| a.to_string())
            .collect();
        if matched.is_empty() || !resource_matches(st, resource, &ctx) {
            continue;
        }
        for e in &block.entries {
            out.push(Grant {
                principal: e.entry.clone(),
                actions: matched.clone(),
                statement: StatementRef {
                    policy: policy.name.clone(),
                    kind: PolicyKind::Resource,
                    sid: st.sid.clone(),
                    index: st.index,
                    effect: st.effect,
                },
                has_conditions: !st.conditions.is_empty(),
                not_principal: block.negated,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(stmts: &str) -> Policy {
        Policy::parse(
            "bp",
            &format!(r#"{{"Version":"2012-10-17","Statement":[{stmts}]}}"#),
        )
        .unwrap()
    }

    #[test]
    fn bpa_examples_from_the_s3_guide() {
        // The page's three public examples.
        assert!(is_public(&p(
            r#"{"Principal":{"Federated":"graph.facebook.com"},"Resource":"*","Action":"s3:PutObject","Effect":"Allow"}"#
        )));
        assert!(is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:PutObject","Effect":"Allow"}"#
        )));
        assert!(is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:PutObject","Effect":"Allow","Condition":{"StringLike":{"aws:SourceVpc":"vpc-*"}}}"#
        )));
        // ...and the fix it gives.
        assert!(!is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:PutObject","Effect":"Allow","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-91237329"}}}"#
        )));
    }

    #[test]
    fn fixed_principals_and_cidrs() {
        assert!(!is_public(&p(
            r#"{"Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:user/bob"],"Service":"cloudtrail.amazonaws.com"},"Resource":"*","Action":"s3:*","Effect":"Allow"}"#
        )));
        assert!(is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:GetObject","Effect":"Allow","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}}"#
        )));
        assert!(!is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:GetObject","Effect":"Allow","Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","10.0.0.0/8"]}}}"#
        )));
        assert!(is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:GetObject","Effect":"Allow","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-123"}}}"#
        )));
        assert!(!is_public(&p(
            r#"{"Principal":"*","Resource":"*","Action":"s3:GetObject","Effect":"Deny"}"#
        )));
    }

    #[test]
    fn grants_lists_each_principal() {
        let pol = p(
            r#"{"Sid":"R","Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:user/bob"]},"Resource":"arn:aws:s3:::b/*","Action":"s3:Get*","Effect":"Allow"},{"Principal":"*","Resource":"arn:aws:s3:::b","Action":"s3:ListBucket","Effect":"Allow","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
        );
        let g = grants(&pol, &["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::b/k");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].actions, vec!["s3:GetObject".to_string()]);
        assert_eq!(g[0].statement.sid.as_deref(), Some("R"));
        let g = grants(&pol, &["s3:ListBucket"], "arn:aws:s3:::b");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].principal, PrincipalEntry::Any);
        assert!(g[0].has_conditions);
    }
}
