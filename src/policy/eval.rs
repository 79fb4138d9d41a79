//! The decision. The order is AWS's documented one
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html>):
//!
//! 1. An explicit `Deny` in any applicable policy wins.
//! 2. Organization guardrails: every SCP level must allow (principal side), every RCP level must
//!    allow (resource side; each level carries AWS's implicit `RCPFullAWSAccess`, so in practice
//!    only RCP Denies bite), every VPC endpoint policy the request passed through must allow.
//! 3. Same account: an Allow in an identity-based policy *or* the resource-based policy is
//!    enough ("If either the identity-based policy or the resource-based policy within the same
//!    account allows the request and the other doesn't, the request is still allowed",
//!    <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html>),
//!    except that permissions boundaries and session policies cap identity grants and grants
//!    to a role ARN, but not resource-policy grants made directly to an IAM user ARN or a role
//!    *session* ARN
//!    (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html>,
//!    <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_session.html>).
//! 4. Cross account: both sides must allow ("the request is allowed only if both evaluations
//!    return a decision of Allow",
//!    <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>).
//!
//! Exceptions handled here: role trust policies (`sts:AssumeRole*`) and KMS key policies
//! (`kms:*`) must themselves allow even within one account, and a grant there to the account
//! only *enables* identity policies
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/determining-access-key-policy.html>:
//! "Unless the key policy explicitly allows it, you cannot use IAM policies to allow access to a
//! KMS key"); anonymous callers and service principals are judged by the resource side only;
//! S3 Block Public Access `RestrictPublicBuckets` voids a public bucket policy's grants to
//! anyone outside the bucket owner's account except AWS services
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>).
//!
//! Not modelled: "SCPs don't affect users or roles in the management account"
//! (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html>)
//! — the evaluator cannot know which account is the management account, so whoever builds the
//! [`PolicySet`] passes no SCPs (and no RCPs) for it. Identity-side elements a policy type does
//! not support (a `Principal` in an identity policy or SCP) are ignored rather than rejected,
//! because the parser does not know what role a document will play.

use super::caller::{Caller, CallerKind};
use super::explain;
pub(crate) use super::model::{action_matches, resource_matches};
use super::model::{AwsTarget, Effect, Policy, PrincipalBlock, Statement, Target};
use super::public::is_public;
use super::{Context, Decision, Evaluation, PolicyKind, PolicySet, Request, StatementRef};
use crate::arn::Arn;

/// How a resource-policy statement reaches the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Names the caller itself (user ARN, session ARN, `*`, service, ...): within one account
    /// this grants on its own and is not capped by boundaries or session policies.
    Direct,
    /// Names the caller's role ARN: grants, but "are limited by an implicit deny in a
    /// permissions boundary or session policy"
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html>).
    /// Also a grant to the IAM user behind a federated-user session: "the permissions from the
    /// resource-based policy are added to the role or user's identity-based policy before the
    /// session is created. The session policy limits the total permissions"
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>).
    RoleArn,
    /// Names the caller's account: "This delegates authority to the account ... an
    /// administrator in that account must then grant access to an identity"
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>).
    Account,
}

/// Does a `Principal` element (or, negated, `NotPrincipal`) reach the caller?
pub(crate) fn principal_grant(
    block: &PrincipalBlock,
    caller: &Caller,
    effect: Effect,
    boundary_present: bool,
) -> Option<Grant> {
    if !block.negated {
        let mut best: Option<Grant> = None;
        for e in &block.entries {
            if let Some(g) = entry_grant(&e.target, caller) {
                best = Some(match (best, g) {
                    (_, Grant::Direct) | (Some(Grant::Direct), _) => Grant::Direct,
                    (_, Grant::RoleArn) | (Some(Grant::RoleArn), _) => Grant::RoleArn,
                    _ => Grant::Account,
                });
                if best == Some(Grant::Direct) {
                    break;
                }
            }
        }
        return best;
    }
    // NotPrincipal. AWS may check the account, then the role, then the session, so a caller is
    // exempt only if every identity in that chain is listed: "When you use NotPrincipal with
    // Deny, you must also specify the account ARN of the not-denied principal. Otherwise, the
    // policy might deny access to the entire account containing the principal"
    // (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html>).
    // For an Allow the same chain reading means listing any link excludes the caller.
    let chain = caller_chain(caller);
    let named = |link: &Link| {
        block
            .entries
            .iter()
            .any(|e| link_named(&e.target, link, caller))
    };
    match effect {
        Effect::Deny => {
            // "The NotPrincipal element with a Deny effect will always deny any IAM principal
            // that has a permissions boundary policy attached, regardless of the values
            // specified in the NotPrincipal element"
            // (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html>).
            if boundary_present
                && matches!(
                    caller.kind,
                    CallerKind::User | CallerKind::Session { .. } | CallerKind::Role { .. }
                )
            {
                return Some(Grant::Direct);
            }
            chain.iter().any(|l| !named(l)).then_some(Grant::Direct)
        }
        Effect::Allow => (!chain.iter().any(named)).then_some(Grant::Direct),
    }
}

#[derive(Debug, Clone, Copy)]
enum Link {
    Account,
    SelfArn,
    Role,
}

fn caller_chain(caller: &Caller) -> &'static [Link] {
    match caller.kind {
        CallerKind::Session { .. } => &[Link::Account, Link::Role, Link::SelfArn],
        CallerKind::Root => &[Link::Account],
        CallerKind::User | CallerKind::FederatedUser | CallerKind::Role { .. } => {
            &[Link::Account, Link::SelfArn]
        }
        _ => &[Link::SelfArn],
    }
}

fn link_named(t: &Target, link: &Link, caller: &Caller) -> bool {
    match (t, link) {
        (Target::Aws(AwsTarget::Any), _) => true,
        (Target::Aws(AwsTarget::Account(a)), Link::Account) => Some(a.as_str()) == caller.account,
        (Target::Aws(AwsTarget::Role { account, name, .. }), Link::Role) => {
            role_is(caller, account, name)
        }
        (t, Link::SelfArn) => entry_grant(t, caller) == Some(Grant::Direct),
        _ => false,
    }
}

fn role_is(caller: &Caller, account: &str, name: &str) -> bool {
    let caller_role = match caller.kind {
        CallerKind::Session { role } => role,
        CallerKind::Role { name } => name,
        _ => return false,
    };
    caller_role == name && caller.account == Some(account)
}

fn entry_grant(t: &Target, caller: &Caller) -> Option<Grant> {
    match t {
        // "For anonymous users, the following elements are equivalent: "Principal": "*" and
        // "Principal" : { "AWS" : "*" }"; "*" "grants access to all users, including anonymous
        // users" and "For IAM users and role principals within your account, no other
        // permissions are required" (principal element page), i.e. a direct grant.
        Target::Aws(AwsTarget::Any) => Some(Grant::Direct),
        Target::Aws(AwsTarget::Account(a)) => {
            if Some(a.as_str()) != caller.account || !caller.is_iam() {
                None
            } else if caller.kind == CallerKind::Root {
                Some(Grant::Direct)
            } else {
                Some(Grant::Account)
            }
        }
        Target::Aws(AwsTarget::User(arn)) => match caller.kind {
            CallerKind::User if caller.text == arn => Some(Grant::Direct),
            CallerKind::FederatedUser if caller.federated_by == Some(arn.as_str()) => {
                Some(Grant::RoleArn)
            }
            _ => None,
        },
        Target::Aws(AwsTarget::Role { arn, account, name }) => {
            if matches!(caller.kind, CallerKind::Role { .. }) && caller.text == arn {
                Some(Grant::RoleArn)
            } else {
                role_is(caller, account, name)
                    .then_some(())
                    .filter(|_| matches!(caller.kind, CallerKind::Session { .. }))
                    .map(|_| Grant::RoleArn)
            }
        }
        Target::Aws(AwsTarget::Session(arn)) | Target::Aws(AwsTarget::FederatedUser(arn)) => {
            (caller.text == arn).then_some(Grant::Direct)
        }
        Target::Aws(AwsTarget::Other(arn)) => (caller.text == arn).then_some(Grant::Direct),
        Target::Aws(AwsTarget::Wildcard) => None,
        Target::Service(s) => match caller.kind {
            CallerKind::Service(c) if c.eq_ignore_ascii_case(s) => Some(Grant::Direct),
            _ => None,
        },
        Target::Federated(f) | Target::CanonicalUser(f) => {
            (caller.text == f).then_some(Grant::Direct)
        }
    }
}

/// Everything a statement match needs about the request.
pub(crate) struct Env<'a> {
    pub(crate) req: &'a Request,
    pub(crate) caller: Caller<'a>,
    pub(crate) ctx: &'a Context,
    pub(crate) boundary_present: bool,
}

/// Does the statement apply to the request? For statements with a principal element the
/// answer says how the caller was reached.
pub(crate) fn statement_matches(
    st: &Statement,
    checks_principal: bool,
    env: &Env,
) -> Option<Grant> {
    if !action_matches(st, &env.req.action, env.ctx) {
        return None;
    }
    if !resource_matches(st, &env.req.resource, env.ctx) {
        return None;
    }
    let grant = if checks_principal {
        match &st.principal {
            Some(b) => principal_grant(b, &env.caller, st.effect, env.boundary_present)?,
            // A resource-based policy statement without Principal names nobody; AWS rejects
            // such policies when they are saved.
            None => return None,
        }
    } else {
        Grant::Direct
    };
    st.conditions
        .iter()
        .all(|c| c.evaluate(env.ctx))
        .then_some(grant)
}

fn sref(policy: &Policy, kind: PolicyKind, st: &Statement) -> StatementRef {
    StatementRef {
        policy: policy.name.clone(),
        kind,
        sid: st.sid.clone(),
        index: st.index,
        effect: st.effect,
    }
}

/// Statements of `policy` that match the request with the given effect.
fn matching<'p>(
    policy: &'p Policy,
    kind: PolicyKind,
    effect: Effect,
    env: &'p Env,
) -> impl Iterator<Item = (&'p Statement, Grant)> + 'p {
    let checks_principal = matches!(
        kind,
        PolicyKind::Resource | PolicyKind::Rcp | PolicyKind::VpcEndpoint
    );
    policy
        .statements
        .iter()
        .filter(move |s| s.effect == effect)
        .filter_map(move |s| statement_matches(s, checks_principal, env).map(|g| (s, g)))
}

fn allows(policy: &Policy, kind: PolicyKind, env: &Env, out: &mut Vec<StatementRef>) -> bool {
    let before = out.len();
    for (s, _) in matching(policy, kind, Effect::Allow, env) {
        out.push(sref(policy, kind, s));
    }
    out.len() > before
}

/// A KMS action on a key. Actions without a key resource (`kms:CreateKey`, `kms:ListKeys`,
/// `kms:ListAliases`, `kms:GenerateRandom`) are controlled by IAM policies alone
/// (<https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html>,
/// "Policy type" column), so the key-policy rule applies only when the resource is a key ARN.
fn is_kms_key_request(action: &str, resource: &str) -> bool {
    action.len() > 4
        && action.as_bytes()[..4].eq_ignore_ascii_case(b"kms:")
        && Arn::split(resource)
            .is_some_and(|a| a.service == "kms" && a.resource.starts_with("key/"))
}

/// Changes AWS refuses on resources it reserves, whatever the policies allow; `Some(reason)`
/// when the request is one of them.
/// - Service-linked roles: "service-linked roles are protected Amazon Web Services resources.
///   Only the service that depends on the service-linked role can modify or delete the role on
///   your behalf" (IAM API, UnmodifiableEntityException,
///   <https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html>), and "The
///   service controls the attached policies and when the role can be deleted"
///   (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html>).
///   The description stays editable ("You can edit the description of any role",
///   <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_update-service-linked-role.html>)
///   and `iam:DeleteServiceLinkedRole` is how such a role is deleted, so both are left to the
///   policies.
/// - AWS managed policies (`arn:aws:iam::aws:policy/...`): "An AWS managed policy is a
///   standalone policy that is created and administered by AWS" and "You cannot change the
///   permissions defined in AWS managed policies"
///   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies>),
///   so nobody else creates, versions, deletes or tags one.
fn reserved_resource(action: &str, resource: &str) -> Option<&'static str> {
    const SLR_CHANGES: &[&str] = &[
        "iam:attachrolepolicy",
        "iam:detachrolepolicy",
        "iam:putrolepolicy",
        "iam:deleterolepolicy",
        "iam:updateassumerolepolicy",
        "iam:putrolepermissionsboundary",
        "iam:deleterolepermissionsboundary",
        "iam:deleterole",
    ];
    const MANAGED_CHANGES: &[&str] = &[
        "iam:createpolicy",
        "iam:createpolicyversion",
        "iam:deletepolicyversion",
        "iam:setdefaultpolicyversion",
        "iam:deletepolicy",
        "iam:tagpolicy",
        "iam:untagpolicy",
    ];
    if !resource.starts_with("arn:") || !action.is_ascii() || action.len() < 4 {
        return None;
    }
    if !action.as_bytes()[..4].eq_ignore_ascii_case(b"iam:") {
        return None;
    }
    let Arn {
        service,
        account,
        resource: res,
        ..
    } = Arn::split(resource)?;
    if service != "iam" {
        return None;
    }
    let is = |list: &[&str]| list.iter().any(|a| a.eq_ignore_ascii_case(action));
    if res.starts_with("role/aws-service-role/") && is(SLR_CHANGES) {
        return Some(explain::SERVICE_LINKED_ROLE_PROTECTED);
    }
    if account == "aws" && res.starts_with("policy/") && is(MANAGED_CHANGES) {
        return Some(explain::AWS_MANAGED_POLICY_PROTECTED);
    }
    None
}

fn is_assume_role(action: &str) -> bool {
    const P: &[u8] = b"sts:assumerole";
    action.len() >= P.len() && action.as_bytes()[..P.len()].eq_ignore_ascii_case(P)
}

/// Evaluates one request against every policy that applies to it.
pub fn evaluate(req: &Request, set: &PolicySet) -> Evaluation {
    let mut caller = Caller::parse(&req.principal, req.principal_account.as_deref());
    if caller.kind == CallerKind::FederatedUser {
        caller.federated_by = set.federated_by;
    }
    // "No permissions are required to perform this operation. If an administrator attaches a
    // policy to your identity that explicitly denies access to the sts:GetCallerIdentity
    // action, you can still perform this operation"
    // (<https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>).
    // It is a signed call, so anonymous and service callers are left to the policies.
    if caller.is_iam() && req.action.eq_ignore_ascii_case("sts:GetCallerIdentity") {
        return Evaluation {
            decision: Decision::Allowed,
            deciding: Vec::new(),
            reasons: vec![explain::get_caller_identity()],
        };
    }
    let env = Env {
        req,
        caller,
        ctx: &req.context,
        boundary_present: set.permission_boundary.is_some(),
    };
    let iam = caller.is_iam();
    // "SCPs do not affect service-linked roles. Service-linked roles enable other AWS services
    // to integrate with AWS Organizations and can't be restricted by SCPs"
    // (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html>).
    let scps_apply = iam && !caller.service_linked;

    // 1. Explicit deny anywhere applicable. Identity-side policies only exist for IAM
    //    principals; SCPs "don't affect ... service principals" and never anonymous callers.
    let mut denies = Vec::new();
    let mut collect = |p: &Policy, kind: PolicyKind| {
        for (s, _) in matching(p, kind, Effect::Deny, &env) {
            denies.push(sref(p, kind, s));
        }
    };
    if iam {
        for p in set.identity {
            collect(p, PolicyKind::Identity);
        }
        if let Some(p) = set.permission_boundary {
            collect(p, PolicyKind::PermissionBoundary);
        }
        if let Some(p) = set.session {
            collect(p, PolicyKind::Session);
        }
    }
    if scps_apply {
        for level in set.scps {
            for p in &level.policies {
                collect(p, PolicyKind::Scp);
            }
        }
    }
    for level in set.rcps {
        for p in &level.policies {
            collect(p, PolicyKind::Rcp);
        }
    }
    for p in set.vpc_endpoint {
        collect(p, PolicyKind::VpcEndpoint);
    }
    if let Some(p) = set.resource {
        collect(p, PolicyKind::Resource);
    }
    if !denies.is_empty() {
        let reasons = denies.iter().map(explain::explicit_deny).collect();
        return Evaluation {
            decision: Decision::ExplicitDeny,
            deciding: denies,
            reasons,
        };
    }

    if !caller.is_service() {
        if let Some(why) = reserved_resource(&req.action, &req.resource) {
            return Evaluation {
                decision: Decision::ImplicitDeny,
                deciding: Vec::new(),
                reasons: vec![why.to_string()],
            };
        }
    }

    let mut deciding = Vec::new();
    let mut missing: Vec<String> = Vec::new();

    // 2. Guardrails. SCP levels need an explicit Allow each (no implicit FullAWSAccess); RCP
    //    levels always include RCPFullAWSAccess, so they cannot be missing an Allow.
    if scps_apply {
        for (i, level) in set.scps.iter().enumerate() {
            let mut any = false;
            for p in &level.policies {
                any |= allows(p, PolicyKind::Scp, &env, &mut deciding);
            }
            if !any {
                missing.push(explain::scp_missing(i, &level.target));
            }
        }
    }
    for p in set.vpc_endpoint {
        if !allows(p, PolicyKind::VpcEndpoint, &env, &mut deciding) {
            missing.push(explain::vpce_missing(p.name()));
        }
    }

    // 3. Identity side.
    let mut identity_refs = Vec::new();
    let mut identity_ok = false;
    let mut boundary_ok = true;
    let mut session_ok = true;
    if iam {
        if caller.kind == CallerKind::Root {
            // "all requests are implicitly denied with the exception of the AWS account root
            // user, which has full access" (enforcement logic page). Boundaries and session
            // policies cannot be attached to root.
            identity_ok = true;
        } else {
            for p in set.identity {
                identity_ok |= allows(p, PolicyKind::Identity, &env, &mut identity_refs);
            }
            if let Some(b) = set.permission_boundary {
                boundary_ok = allows(b, PolicyKind::PermissionBoundary, &env, &mut identity_refs);
            }
            if let Some(s) = set.session {
                session_ok = allows(s, PolicyKind::Session, &env, &mut identity_refs);
            } else if caller.kind == CallerKind::FederatedUser {
                // "if you do not pass a policy with the GetFederationToken API call, the
                // resulting temporary security credentials have no permissions. However, a
                // resource-based policy can provide additional permissions for the session"
                // (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_getfederationtoken.html>):
                // an absent session policy caps the identity side (and grants to the user
                // behind the session) at nothing; grants naming the session stay direct.
                session_ok = false;
            }
        }
    }
    let caps_ok = boundary_ok && session_ok;
    let identity_side = identity_ok && caps_ok;
    let identity_reasons = |prefix: &str| {
        let mut r = Vec::new();
        if !identity_ok {
            r.push(explain::no_identity_allow(prefix, req));
        }
        if let (false, Some(b)) = (boundary_ok, set.permission_boundary) {
            r.push(explain::cap_missing(
                prefix,
                PolicyKind::PermissionBoundary,
                b.name(),
            ));
        }
        match (session_ok, set.session) {
            (false, Some(s)) => r.push(explain::cap_missing(prefix, PolicyKind::Session, s.name())),
            (false, None) => r.push(explain::federated_without_session_policy(prefix)),
            _ => {}
        }
        r
    };

    // 4. Resource side.
    let same_account = match (caller.account, req.resource_account.as_deref()) {
        (Some(a), Some(b)) => a == b,
        // No owner given: the resource lives with the caller (resource "*", IAM, STS calls).
        (Some(_), None) => iam,
        _ => false,
    };
    let mut res_refs = Vec::new();
    let (mut direct, mut role_arn, mut account) = (false, false, false);
    let mut rpb_blocked = false;
    if let Some(p) = set.resource {
        rpb_blocked =
            set.restrict_public_buckets && !(caller.is_service() || same_account) && is_public(p);
        if !rpb_blocked {
            for (s, g) in matching(p, PolicyKind::Resource, Effect::Allow, &env) {
                res_refs.push(sref(p, PolicyKind::Resource, s));
                match g {
                    Grant::Direct => direct = true,
                    Grant::RoleArn => role_arn = true,
                    Grant::Account => account = true,
                }
            }
        }
    }
    let resource_grants_directly = direct || (role_arn && caps_ok);
    let resource_any = direct || role_arn || account;
    let resource_shortfall = |prefix: &str| -> Option<String> {
        if set.resource.is_none() {
            Some(explain::no_resource_policy(prefix))
        } else if rpb_blocked {
            Some(explain::restrict_public_buckets(
                prefix,
                req.resource_account.as_deref(),
            ))
        } else if !resource_any {
            Some(explain::resource_no_allow(prefix, &caller))
        } else {
            None
        }
    };

    let special = if is_kms_key_request(&req.action, &req.resource) {
        Some("KMS key policy")
    } else if is_assume_role(&req.action) {
        Some("role trust policy")
    } else {
        None
    };

    // 5. Combine the legs.
    let mut leg_reasons = Vec::new();
    let (allowed, use_identity, use_resource) = if !iam {
        // Anonymous callers and service principals have no identity-based policies: only the
        // resource-based policy can grant.
        if !direct {
            leg_reasons.extend(resource_shortfall(explain::caller_label(&caller)));
        }
        (direct, false, true)
    } else if let Some(what) = special {
        if let Some(r) = resource_shortfall(what) {
            leg_reasons.push(if set.resource.is_some() && !rpb_blocked {
                explain::special_no_allow(what, &caller)
            } else {
                r
            });
            (false, false, false)
        } else if same_account && resource_grants_directly {
            (true, false, true)
        } else if identity_side {
            (true, true, true)
        } else {
            leg_reasons.extend(identity_reasons(what));
            if role_arn && !caps_ok {
                leg_reasons.push(explain::role_arn_capped(what));
            }
            if account && !direct && !role_arn {
                leg_reasons.push(explain::account_delegation(what));
            }
            (false, true, true)
        }
    } else if same_account {
        if identity_side {
            (true, true, resource_grants_directly)
        } else if resource_grants_directly {
            (true, false, true)
        } else {
            leg_reasons.extend(identity_reasons("same-account"));
            if role_arn && !caps_ok {
                leg_reasons.push(explain::role_arn_capped("same-account"));
            } else if account && !direct {
                leg_reasons.push(explain::account_delegation("same-account"));
            }
            (false, true, true)
        }
    } else {
        // Cross-account: both accounts must allow.
        if !identity_side {
            leg_reasons.extend(identity_reasons("cross-account"));
        }
        if let Some(r) = resource_shortfall("cross-account") {
            leg_reasons.push(if identity_side && !rpb_blocked && set.resource.is_some() {
                explain::cross_identity_only()
            } else {
                r
            });
        }
        (identity_side && resource_any, true, true)
    };

    if allowed && missing.is_empty() {
        if use_identity {
            deciding.extend(identity_refs);
        }
        if use_resource {
            deciding.extend(res_refs);
        }
        let reasons = vec![explain::allowed(
            iam,
            same_account,
            use_identity,
            use_resource,
            special,
            caller.kind == CallerKind::Root,
        )];
        return Evaluation {
            decision: Decision::Allowed,
            deciding,
            reasons,
        };
    }
    if !allowed {
        missing.extend(leg_reasons);
    }
    if missing.is_empty() {
        missing.push("no policy allows the request".to_string());
    }
    Evaluation {
        decision: Decision::ImplicitDeny,
        deciding: Vec::new(),
        reasons: missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_classification() {
        let c = Caller::parse("arn:aws:sts::111122223333:assumed-role/Admin/alice", None);
        assert_eq!(c.kind, CallerKind::Session { role: "Admin" });
        assert_eq!(c.account, Some("111122223333"));
        assert_eq!(Caller::parse("anonymous", None).kind, CallerKind::Anonymous);
        assert_eq!(
            Caller::parse("logs.ap-southeast-1.amazonaws.com", None).kind,
            CallerKind::Service("logs.ap-southeast-1.amazonaws.com")
        );
        assert_eq!(
            Caller::parse("arn:aws:iam::111122223333:role/path/to/Admin", None).kind,
            CallerKind::Role { name: "Admin" }
        );
        assert_eq!(Caller::parse("111122223333", None).kind, CallerKind::Root);
        assert_eq!(
            Caller::parse("arn:aws:iam", None).kind,
            CallerKind::OtherArn
        );
    }
}
