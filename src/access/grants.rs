//! KMS grants as an access decision reads them: who a grant gives which operations, under which
//! constraint. Pure: reads the snapshot only; `who-can` ([`super::whocan`]) applies it.
//!
//! What AWS documents, and what follows from it here:
//! - "When authorizing access to a KMS key, grants are considered along with key policies and
//!   IAM policies"; "the grant allows the grantee principal to call the specified grant
//!   operations on the KMS key provided that all conditions specified in the grant are met";
//!   "A grant can allow access to a KMS key, but not deny access"
//!   (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>). So the grantee
//!   (GranteePrincipal, or GranteeServicePrincipal) gets the grant's operations; the retiring
//!   principal gets none of them (it may only retire the grant,
//!   <https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html>).
//! - "No AWS principal has any permissions to a KMS key unless that permission is provided
//!   explicitly and never denied"
//!   (<https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html>): an explicit
//!   Deny in the key policy or the principal's IAM policies still wins over a grant.
//! - Constraints (`EncryptionContextSubset`, `EncryptionContextEquals`) "allow cryptographic
//!   operations in the grant only when the operation request includes the specified encryption
//!   context" (<https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html>):
//!   the encryption context is a per-request value, so a constrained grant is a conditional
//!   allow, naming its constraint, as `who-can` reports any condition on per-request values.
//! - ListGrants answers GranteePrincipal with a service principal for grants an AWS service
//!   holds, "which might represent several different grantee principals"
//!   (<https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html>).

use super::Error;
use crate::snapshot::{Fetched, KmsGrant, Snapshot};
use std::collections::BTreeMap;

/// How a grant is named as the reason for an access (`who-can` shows it as the "via").
pub const REASON_PREFIX: &str = "KMS grant ";

/// The grants of a key the snapshot holds (`reference` as the snapshot keys it), or why they
/// are unknown: a key whose grants were not listed may give anyone access.
pub fn key_grants<'a>(snap: &'a Snapshot, reference: &str) -> Result<&'a [KmsGrant], Error> {
    let k = snap
        .kms_keys
        .get(reference)
        .ok_or_else(|| Error::NotCollected(format!("KMS key {reference}")))?;
    match &k.grants {
        Fetched::Ok { value } => Ok(value),
        other => Err(Error::Unreadable(format!(
            "KMS grants of key {reference} were not listed, so anyone a grant names may use the key: {}",
            other.why_missing().unwrap_or_default()
        ))),
    }
}

/// Who gets a grant's operations.
pub fn grantees(g: &KmsGrant) -> impl Iterator<Item = &str> {
    g.grantee_principal
        .as_deref()
        .into_iter()
        .chain(g.grantee_service_principal.as_deref())
        .filter(|p| !p.is_empty())
}

/// Whether a grant allows a KMS action (`kms:Decrypt`): its operations are the API names
/// (`Decrypt`, `GenerateDataKey`, ...).
pub fn allows(g: &KmsGrant, action: &str) -> bool {
    let op = action.strip_prefix("kms:").unwrap_or(action);
    g.operations.iter().any(|o| o.eq_ignore_ascii_case(op))
}

/// The first of `grants` that gives `grantee` (a principal ARN) `action` in a request whose
/// encryption context is `context`: "the grant allows the grantee principal to call the specified
/// grant operations on the KMS key provided that all conditions specified in the grant are met"
/// (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>). EncryptionContextSubset
/// needs its pairs in the request's context, EncryptionContextEquals the context exactly
/// (<https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html>); a grant
/// with a `SourceArn` constraint gives nothing here, as which service resource a request comes
/// from is not part of the question.
pub fn granting<'a>(
    grants: &'a [KmsGrant],
    grantee: &str,
    action: &str,
    context: &BTreeMap<String, String>,
) -> Option<&'a KmsGrant> {
    grants.iter().find(|g| {
        grantees(g).any(|p| p == grantee)
            && allows(g, action)
            && g.source_arn.is_none()
            && g.encryption_context_subset
                .as_ref()
                .is_none_or(|m| m.iter().all(|(k, v)| context.get(k) == Some(v)))
            && g.encryption_context_equals
                .as_ref()
                .is_none_or(|m| m == context)
    })
}

/// The grant as a reason: `KMS grant <id>` (and its name, when it has one).
pub fn reason(g: &KmsGrant) -> String {
    match g.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => format!("{REASON_PREFIX}{} (name {n})", g.grant_id),
        None => format!("{REASON_PREFIX}{}", g.grant_id),
    }
}

/// The grant's constraints as one condition text, `None` when it has none.
pub fn constraint(g: &KmsGrant) -> Option<String> {
    fn pairs(m: &BTreeMap<String, String>) -> String {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    let mut parts = Vec::new();
    if let Some(m) = &g.encryption_context_subset {
        parts.push(format!("EncryptionContextSubset {{{}}}", pairs(m)));
    }
    if let Some(m) = &g.encryption_context_equals {
        parts.push(format!("EncryptionContextEquals {{{}}}", pairs(m)));
    }
    if let Some(a) = &g.source_arn {
        parts.push(format!("SourceArn {a}"));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "{}: only requests that meet its constraint {}",
            reason(g),
            parts.join(" and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_constraints_and_grantees_read_as_documented() {
        let mut g = KmsGrant {
            grant_id: "g1".into(),
            grantee_principal: Some("arn:aws:iam::1:user/u".into()),
            retiring_principal: Some("arn:aws:iam::1:user/r".into()),
            operations: vec!["Decrypt".into(), "GenerateDataKey".into()],
            ..KmsGrant::default()
        };
        assert!(allows(&g, "kms:Decrypt") && !allows(&g, "kms:Encrypt"));
        assert_eq!(
            grantees(&g).collect::<Vec<_>>(),
            vec!["arn:aws:iam::1:user/u"],
            "the retiring principal gets no operation"
        );
        assert_eq!(constraint(&g), None);
        assert_eq!(reason(&g), "KMS grant g1");
        g.encryption_context_subset = Some(BTreeMap::from([(
            "aws:s3:arn".to_string(),
            "arn:aws:s3:::b".to_string(),
        )]));
        g.name = Some("n".into());
        assert_eq!(
            constraint(&g).unwrap(),
            "KMS grant g1 (name n): only requests that meet its constraint EncryptionContextSubset {aws:s3:arn=arn:aws:s3:::b}"
        );
    }

    #[test]
    fn a_grant_gives_its_grantee_its_operations_when_the_context_meets_its_constraints() {
        let ctx = |v: &str| BTreeMap::from([("aws:s3:arn".to_string(), v.to_string())]);
        let mut g = KmsGrant {
            grant_id: "g1".into(),
            grantee_principal: Some("arn:aws:iam::1:user/u".into()),
            operations: vec!["Decrypt".into()],
            ..KmsGrant::default()
        };
        let gs = |g: &KmsGrant| vec![g.clone()];
        let yes = |g: &KmsGrant, who: &str, action: &str, c: &str| {
            granting(&gs(g), who, action, &ctx(c)).is_some()
        };
        assert!(yes(
            &g,
            "arn:aws:iam::1:user/u",
            "kms:Decrypt",
            "arn:aws:s3:::b"
        ));
        assert!(!yes(
            &g,
            "arn:aws:iam::1:user/other",
            "kms:Decrypt",
            "arn:aws:s3:::b"
        ));
        assert!(!yes(
            &g,
            "arn:aws:iam::1:user/u",
            "kms:Encrypt",
            "arn:aws:s3:::b"
        ));
        g.encryption_context_subset = Some(ctx("arn:aws:s3:::b"));
        assert!(yes(
            &g,
            "arn:aws:iam::1:user/u",
            "kms:Decrypt",
            "arn:aws:s3:::b"
        ));
        assert!(!yes(
            &g,
            "arn:aws:iam::1:user/u",
            "kms:Decrypt",
            "arn:aws:s3:::c"
        ));
        g.encryption_context_subset = None;
        g.encryption_context_equals = Some(BTreeMap::new());
        assert!(!yes(
            &g,
            "arn:aws:iam::1:user/u",
            "kms:Decrypt",
            "arn:aws:s3:::b"
        ));
        g.encryption_context_equals = None;
        g.source_arn = Some("arn:aws:s3:::b".into());
        assert!(!yes(
            &g,
            "arn:aws:iam::1:user/u",
            "kms:Decrypt",
            "arn:aws:s3:::b"
        ));
    }
}
