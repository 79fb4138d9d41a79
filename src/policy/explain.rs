//! The human sentences in [`Evaluation::reasons`](super::Evaluation). They are written for
//! an auditor reading a report, so they name the missing piece rather than the algorithm step.

use super::caller::{Caller, CallerKind};
use super::{PolicyKind, Request, StatementRef};

pub(crate) fn explicit_deny(r: &StatementRef) -> String {
    format!("explicit Deny in {r}")
}

pub(crate) fn scp_missing(level: usize, target: &str) -> String {
    format!("SCP level {level} ('{target}') has no matching Allow, so the organization blocks the request")
}

pub(crate) fn vpce_missing(name: &str) -> String {
    format!("VPC endpoint policy '{name}' has no matching Allow")
}

pub(crate) fn no_identity_allow(prefix: &str, req: &Request) -> String {
    format!(
        "{prefix}: no identity-based policy allows {} on {}",
        req.action, req.resource
    )
}

pub(crate) fn cap_missing(prefix: &str, kind: PolicyKind, name: &str) -> String {
    format!(
        "{prefix}: {kind} '{name}' has no matching Allow, which caps the identity's permissions"
    )
}

pub(crate) fn no_resource_policy(prefix: &str) -> String {
    format!("{prefix}: there is no resource-based policy, and one is required here")
}

pub(crate) fn restrict_public_buckets(prefix: &str, owner: Option<&str>) -> String {
    format!(
        "{prefix}: S3 Block Public Access RestrictPublicBuckets is on and the bucket policy is public, so its grants count only for AWS services and principals of the owner account{}",
        owner.map(|o| format!(" {o}")).unwrap_or_default()
    )
}

pub(crate) fn caller_label(caller: &Caller) -> &'static str {
    match caller.kind {
        CallerKind::Anonymous => "anonymous caller",
        CallerKind::Service(_) => "service principal",
        _ => "caller without identity policies",
    }
}

pub(crate) fn resource_no_allow(prefix: &str, caller: &Caller) -> String {
    format!(
        "{prefix}: the resource-based policy has no matching Allow for {}",
        caller.text
    )
}

pub(crate) fn special_no_allow(what: &str, caller: &Caller) -> String {
    format!(
        "{what}: it names neither {} nor its account, and identity-based policies cannot grant access without it",
        caller.text
    )
}

pub(crate) fn role_arn_capped(prefix: &str) -> String {
    format!("{prefix}: the resource-based policy grants the role ARN, and such grants are limited by the role's permissions boundary / session policy")
}

pub(crate) fn account_delegation(prefix: &str) -> String {
    format!("{prefix}: the resource-based policy grants only to the account, which delegates the decision to the caller's identity-based policies")
}

pub(crate) fn cross_identity_only() -> String {
    "cross-account: identity policy allows but the resource-based policy has no matching Allow"
        .to_string()
}

pub(crate) fn allowed(
    iam: bool,
    same_account: bool,
    use_identity: bool,
    use_resource: bool,
    special: Option<&str>,
    root: bool,
) -> String {
    let scope = if !iam {
        "resource-based policy grants the caller directly (no identity policies apply)"
    } else if root && use_identity && !use_resource {
        "the account root user has full access within its account"
    } else if !same_account {
        "cross-account: both the identity side and the resource-based policy allow"
    } else if use_identity && use_resource {
        "same-account: identity-based and resource-based policies both allow"
    } else if use_identity {
        "same-account: an identity-based policy allows"
    } else {
        "same-account: the resource-based policy grants the caller directly"
    };
    match special {
        Some(what) => format!("{scope}; the {what} allows as required"),
        None => scope.to_string(),
    }
}

pub(crate) fn get_caller_identity() -> String {
    "sts:GetCallerIdentity needs no permission and cannot be denied (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)".to_string()
}

pub(crate) fn federated_without_session_policy(prefix: &str) -> String {
    format!("{prefix}: a federated-user session created without a session policy has no permissions of its own; only resource-based policies naming the session grant it")
}

pub(crate) const SERVICE_LINKED_ROLE_PROTECTED: &str = "service-linked roles are protected: only the linked AWS service can change their policies, trust or existence, whatever the policies allow";

pub(crate) const AWS_MANAGED_POLICY_PROTECTED: &str =
    "AWS managed policies cannot be changed by anyone but AWS, whatever the policies allow";
