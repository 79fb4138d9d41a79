//! The caller of a request, classified once (anonymous, a service, an account root, a user, a
//! role or its session, a federated user). Its own file so that evaluation ([`super::eval`]) and
//! the explanations of its decisions ([`super::explain`]) both use it without depending on each
//! other.

use crate::arn::{account_of, is_account_id, Arn};

/// The caller, classified once per request without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallerKind<'a> {
    Anonymous,
    /// An AWS service principal (`logs.amazonaws.com`) or anything that is not an ARN.
    Service(&'a str),
    Root,
    User,
    /// `arn:aws:sts::A:assumed-role/ROLE/SESSION`; `role` is the role name.
    Session {
        role: &'a str,
    },
    /// A role ARN given as the caller (a session whose name does not matter).
    Role {
        name: &'a str,
    },
    FederatedUser,
    /// Any other ARN (a SAML/OIDC provider for `AssumeRoleWith*`, ...): no identity policies.
    OtherArn,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub(crate) text: &'a str,
    pub(crate) kind: CallerKind<'a>,
    pub(crate) account: Option<&'a str>,
    /// A service-linked role or one of its sessions (SCPs do not apply).
    pub(crate) service_linked: bool,
    /// Federated-user callers: the IAM user who called GetFederationToken.
    pub(crate) federated_by: Option<&'a str>,
}

impl<'a> Caller<'a> {
    pub(crate) fn parse(principal: &'a str, account_hint: Option<&'a str>) -> Caller<'a> {
        let p = principal.trim();
        if p.eq_ignore_ascii_case("anonymous") || p == "*" || p.is_empty() {
            return Caller {
                text: p,
                kind: CallerKind::Anonymous,
                account: None,
                service_linked: false,
                federated_by: None,
            };
        }
        if is_account_id(p) {
            return Caller {
                text: p,
                kind: CallerKind::Root,
                account: Some(p),
                service_linked: false,
                federated_by: None,
            };
        }
        if !p.starts_with("arn:") {
            return Caller {
                text: p,
                kind: CallerKind::Service(p),
                account: None,
                service_linked: false,
                federated_by: None,
            };
        }
        let (service, res) = match Arn::split(p) {
            Some(a) => (a.service, a.resource),
            None => {
                return Caller {
                    text: p,
                    kind: CallerKind::OtherArn,
                    account: account_hint,
                    service_linked: false,
                    federated_by: None,
                }
            }
        };
        let account = account_hint.or_else(|| account_of(p));
        let kind = match service {
            "iam" if res == "root" => CallerKind::Root,
            "iam" if res.starts_with("user/") => CallerKind::User,
            "iam" if res.starts_with("role/") => CallerKind::Role {
                name: res.rsplit('/').next().unwrap_or(""),
            },
            "sts" if res.starts_with("assumed-role/") => {
                let mut it = res.splitn(3, '/');
                it.next();
                CallerKind::Session {
                    role: it.next().unwrap_or(""),
                }
            }
            "sts" if res.starts_with("federated-user/") => CallerKind::FederatedUser,
            _ => CallerKind::OtherArn,
        };
        Caller {
            text: p,
            kind,
            account,
            service_linked: is_service_linked(service, res),
            federated_by: None,
        }
    }

    /// IAM principals are the ones identity policies, boundaries, session policies and SCPs
    /// apply to.
    pub(crate) fn is_iam(&self) -> bool {
        matches!(
            self.kind,
            CallerKind::Root
                | CallerKind::User
                | CallerKind::Session { .. }
                | CallerKind::Role { .. }
                | CallerKind::FederatedUser
        )
    }

    pub(crate) fn is_service(&self) -> bool {
        matches!(self.kind, CallerKind::Service(_))
    }
}

/// Service-linked roles live under the path `/aws-service-role/` ("aws-service-role" is the
/// path IAM gives every role created by CreateServiceLinkedRole,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html>). A session
/// ARN drops the path, so a session is recognised by the role name: service-linked role names
/// are `AWSServiceRoleFor...` (same page, and every service's service-linked role
/// documentation). A role that merely copies that name outside the reserved path cannot be told
/// apart from its session ARN; give the role ARN as the caller to avoid the ambiguity.
fn is_service_linked(service: &str, res: &str) -> bool {
    match service {
        "iam" => res.starts_with("role/aws-service-role/"),
        "sts" => res
            .strip_prefix("assumed-role/")
            .is_some_and(|r| r.starts_with("AWSServiceRoleFor")),
        _ => false,
    }
}
