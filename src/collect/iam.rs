//! IAM principals: the replication role and every principal the spec names, with every policy
//! that applies to them (inline, attached with their default version, group policies,
//! permissions boundary) and, for roles, the trust policy.

use super::{fetched, no_account, Clients};
use crate::snapshot::*;
use crate::spec::{self, Spec};
use aws_sdk_iam::Client;
use std::collections::BTreeMap;

/// IAM returns policy documents URL-encoded (RFC 3986); emulators sometimes return them raw.
/// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html>
pub(crate) fn decode_policy(doc: &str) -> String {
    if doc.trim_start().starts_with('{') {
        return doc.to_string();
    }
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .map(|s| s.into_owned())
        .unwrap_or_else(|_| doc.to_string())
}

/// `("user"|"role", name)` of an IAM ARN (the name without its path).
pub(super) fn kind_and_name(arn: &str) -> (String, String) {
    let resource = crate::arn::Arn::split(arn).map_or("", |a| a.resource);
    let (kind, path_name) = resource.split_once('/').unwrap_or(("", ""));
    let name = path_name.rsplit('/').next().unwrap_or_default().to_string();
    (kind.to_string(), name)
}

pub(super) async fn collect_principal(
    spec: &Spec,
    clients: &Clients,
    arn: String,
) -> PrincipalState {
    let account = spec::arn_account(&arn).unwrap_or_default().to_string();
    let (kind, name) = kind_and_name(&arn);
    let alias = spec.account_alias_for_id(&account).map(str::to_string);
    let conf = alias
        .as_deref()
        .and_then(|a| clients.get(a, spec.accounts[a].region.get_ref()));
    let details = match conf {
        None => match &alias {
            Some(a) => clients.unavailable(a),
            None => no_account("iam:GetUser/GetRole", &account),
        },
        Some(conf) => {
            let iam = Client::new(conf);
            if kind == "role" {
                role_details(&iam, &name).await
            } else {
                user_details(&iam, &name).await
            }
        }
    };
    PrincipalState {
        arn,
        kind,
        name,
        account_id: account,
        read_as: alias,
        details,
    }
}

async fn role_details(iam: &Client, name: &str) -> Fetched<PrincipalDetails> {
    let role = match iam.get_role().role_name(name).send().await {
        Ok(o) => o.role,
        Err(e) => {
            return fetched("iam:GetRole", &["NoSuchEntity"], Err::<(), _>(e), |_| {
                unreachable_details()
            })
        }
    };
    let Some(role) = role else {
        return Fetched::unknown("iam:GetRole", None, "empty response");
    };
    let (inline, attached, boundary) = futures::join!(
        role_inline(iam, name),
        attached(iam, AttachedTo::Role(name)),
        boundary(
            iam,
            role.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
        ),
    );
    Fetched::ok(PrincipalDetails {
        inline_policies: inline,
        attached_policies: attached,
        groups: Fetched::ok(vec![]),
        permission_boundary: boundary,
        trust_policy: role.assume_role_policy_document().map(decode_policy),
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect::<BTreeMap<_, _>>(),
    })
}

async fn user_details(iam: &Client, name: &str) -> Fetched<PrincipalDetails> {
    let user = match iam.get_user().user_name(name).send().await {
        Ok(o) => o.user,
        Err(e) => {
            return fetched("iam:GetUser", &["NoSuchEntity"], Err::<(), _>(e), |_| {
                unreachable_details()
            })
        }
    };
    let Some(user) = user else {
        return Fetched::unknown("iam:GetUser", None, "empty response");
    };
    let (inline, attached_p, groups, boundary) = futures::join!(
        user_inline(iam, name),
        attached(iam, AttachedTo::User(name)),
        groups(iam, name),
        boundary(
            iam,
            user.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
        ),
    );
    Fetched::ok(PrincipalDetails {
        inline_policies: inline,
        attached_policies: attached_p,
        groups,
        permission_boundary: boundary,
        trust_policy: None,
        tags: user
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    })
}

/// Never constructed: `fetched` is only called with an `Err` on these paths.
fn unreachable_details() -> PrincipalDetails {
    PrincipalDetails {
        inline_policies: Fetched::ok(vec![]),
        attached_policies: Fetched::ok(vec![]),
        groups: Fetched::ok(vec![]),
        permission_boundary: Fetched::ok(None),
        trust_policy: None,
        tags: BTreeMap::new(),
    }
}

async fn role_inline(iam: &Client, role: &str) -> Fetched<Vec<NamedPolicy>> {
    let names = iam
        .list_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    let names = match names {
        Ok(n) => n,
        Err(e) => return fetched("iam:ListRolePolicies", &[], Err::<(), _>(e), |_| vec![]),
    };
    let docs = futures::future::join_all(names.iter().map(|n| async move {
        NamedPolicy {
            name: n.clone(),
            arn: None,
            document: fetched(
                "iam:GetRolePolicy",
                &[],
                iam.get_role_policy()
                    .role_name(role)
                    .policy_name(n)
                    .send()
                    .await,
                |o| decode_policy(o.policy_document()),
            ),
        }
    }))
    .await;
    Fetched::ok(docs)
}

async fn user_inline(iam: &Client, user: &str) -> Fetched<Vec<NamedPolicy>> {
    let names = iam
        .list_user_policies()
        .user_name(user)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    let names = match names {
        Ok(n) => n,
        Err(e) => return fetched("iam:ListUserPolicies", &[], Err::<(), _>(e), |_| vec![]),
    };
    let docs = futures::future::join_all(names.iter().map(|n| async move {
        NamedPolicy {
            name: n.clone(),
            arn: None,
            document: fetched(
                "iam:GetUserPolicy",
                &[],
                iam.get_user_policy()
                    .user_name(user)
                    .policy_name(n)
                    .send()
                    .await,
                |o| decode_policy(o.policy_document()),
            ),
        }
    }))
    .await;
    Fetched::ok(docs)
}

async fn group_inline(iam: &Client, group: &str) -> Fetched<Vec<NamedPolicy>> {
    let names = iam
        .list_group_policies()
        .group_name(group)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    let names = match names {
        Ok(n) => n,
        Err(e) => return fetched("iam:ListGroupPolicies", &[], Err::<(), _>(e), |_| vec![]),
    };
    let docs = futures::future::join_all(names.iter().map(|n| async move {
        NamedPolicy {
            name: n.clone(),
            arn: None,
            document: fetched(
                "iam:GetGroupPolicy",
                &[],
                iam.get_group_policy()
                    .group_name(group)
                    .policy_name(n)
                    .send()
                    .await,
                |o| decode_policy(o.policy_document()),
            ),
        }
    }))
    .await;
    Fetched::ok(docs)
}

enum AttachedTo<'a> {
    User(&'a str),
    Role(&'a str),
    Group(&'a str),
}

async fn attached(iam: &Client, to: AttachedTo<'_>) -> Fetched<Vec<NamedPolicy>> {
    let (call, list) = match to {
        AttachedTo::User(n) => (
            "iam:ListAttachedUserPolicies",
            iam.list_attached_user_policies()
                .user_name(n)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| super::error_parts(&e)),
        ),
        AttachedTo::Role(n) => (
            "iam:ListAttachedRolePolicies",
            iam.list_attached_role_policies()
                .role_name(n)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| super::error_parts(&e)),
        ),
        AttachedTo::Group(n) => (
            "iam:ListAttachedGroupPolicies",
            iam.list_attached_group_policies()
                .group_name(n)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| super::error_parts(&e)),
        ),
    };
    let list = match list {
        Ok(l) => l,
        Err((code, msg)) => return Fetched::unknown(call, code, msg),
    };
    let docs = futures::future::join_all(list.iter().map(|p| async move {
        let arn = p.policy_arn().unwrap_or_default();
        NamedPolicy {
            name: p.policy_name().unwrap_or_default().to_string(),
            arn: Some(arn.to_string()),
            document: managed_document(iam, arn).await,
        }
    }))
    .await;
    Fetched::ok(docs)
}

/// The default version's document of a managed policy.
async fn managed_document(iam: &Client, arn: &str) -> Fetched<String> {
    let version = match iam.get_policy().policy_arn(arn).send().await {
        Ok(o) => o
            .policy()
            .and_then(|p| p.default_version_id())
            .map(str::to_string),
        Err(e) => return fetched("iam:GetPolicy", &[], Err::<(), _>(e), |_| String::new()),
    };
    let Some(version) = version else {
        return Fetched::unknown(
            "iam:GetPolicy",
            None,
            format!("{arn} has no default version"),
        );
    };
    fetched(
        "iam:GetPolicyVersion",
        &[],
        iam.get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await,
        |o| {
            o.policy_version()
                .and_then(|v| v.document())
                .map(decode_policy)
                .unwrap_or_default()
        },
    )
}

async fn boundary(iam: &Client, arn: Option<&str>) -> Fetched<Option<NamedPolicy>> {
    let Some(arn) = arn else {
        return Fetched::ok(None);
    };
    Fetched::ok(Some(NamedPolicy {
        name: arn.rsplit('/').next().unwrap_or(arn).to_string(),
        arn: Some(arn.to_string()),
        document: managed_document(iam, arn).await,
    }))
}

async fn groups(iam: &Client, user: &str) -> Fetched<Vec<GroupPolicies>> {
    let groups = iam
        .list_groups_for_user()
        .user_name(user)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    let groups = match groups {
        Ok(g) => g,
        Err(e) => return fetched("iam:ListGroupsForUser", &[], Err::<(), _>(e), |_| vec![]),
    };
    let out = futures::future::join_all(groups.iter().map(|g| async move {
        let name = g.group_name();
        let (inline, att) = futures::join!(
            group_inline(iam, name),
            attached(iam, AttachedTo::Group(name))
        );
        GroupPolicies {
            name: name.to_string(),
            inline_policies: inline,
            attached_policies: att,
        }
    }))
    .await;
    Fetched::ok(out)
}

/// Every user, group and role of an account with the policies they use, from
/// `GetAccountAuthorizationDetails` (paginated): a few calls instead of several per principal.
/// "Retrieves information about all IAM users, groups, roles, and policies in your Amazon Web
/// Services account, including their relationships to one another"; documents are URL-encoded
/// (RFC 3986)
/// (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html>).
/// The `Policies` list carries each managed policy's versions; a policy an entity uses that the
/// list does not carry (AWS documents no guarantee that every AWS managed policy is listed) is
/// read with `GetPolicy` + `GetPolicyVersion`, so nothing attached is ever missing silently.
pub(super) async fn collect_authorization(
    spec: &Spec,
    clients: &Clients,
    alias: &str,
) -> Fetched<IamAccount> {
    let account = &spec.accounts[alias];
    let Some(conf) = clients.get(alias, account.region.get_ref()) else {
        return clients.unavailable(alias);
    };
    let iam = Client::new(conf);
    let pages = iam
        .get_account_authorization_details()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    let pages = match pages {
        Ok(p) => p,
        Err(e) => {
            return fetched(
                "iam:GetAccountAuthorizationDetails",
                &[],
                Err::<(), _>(e),
                |_| IamAccount::default(),
            )
        }
    };
    let inline = |list: &[aws_sdk_iam::types::PolicyDetail]| -> Vec<InlinePolicy> {
        list.iter()
            .map(|p| InlinePolicy {
                name: p.policy_name().unwrap_or_default().to_string(),
                document: decode_policy(p.policy_document().unwrap_or_default()),
            })
            .collect()
    };
    let attached = |list: &[aws_sdk_iam::types::AttachedPolicy]| -> Vec<String> {
        list.iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect()
    };
    let tags = |list: &[aws_sdk_iam::types::Tag]| -> BTreeMap<String, String> {
        list.iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    };
    let mut out = IamAccount {
        account_id: account.account_id.get_ref().clone(),
        ..IamAccount::default()
    };
    let mut listed: BTreeMap<String, Fetched<String>> = BTreeMap::new();
    for page in &pages {
        for u in page.user_detail_list() {
            out.users.push(IamUser {
                arn: u.arn().unwrap_or_default().to_string(),
                name: u.user_name().unwrap_or_default().to_string(),
                inline_policies: inline(u.user_policy_list()),
                attached_policies: attached(u.attached_managed_policies()),
                groups: u.group_list().to_vec(),
                permissions_boundary: u
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
                tags: tags(u.tags()),
            });
        }
        for g in page.group_detail_list() {
            out.groups.push(IamGroup {
                arn: g.arn().unwrap_or_default().to_string(),
                name: g.group_name().unwrap_or_default().to_string(),
                inline_policies: inline(g.group_policy_list()),
                attached_policies: attached(g.attached_managed_policies()),
            });
        }
        for r in page.role_detail_list() {
            out.roles.push(IamRole {
                arn: r.arn().unwrap_or_default().to_string(),
                name: r.role_name().unwrap_or_default().to_string(),
                trust_policy: r.assume_role_policy_document().map(decode_policy),
                inline_policies: inline(r.role_policy_list()),
                attached_policies: attached(r.attached_managed_policies()),
                permissions_boundary: r
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
                tags: tags(r.tags()),
            });
        }
        for p in page.policies() {
            let Some(arn) = p.arn() else { continue };
            let default = p.default_version_id();
            let doc = p
                .policy_version_list()
                .iter()
                .find(|v| {
                    v.is_default_version() || (default.is_some() && v.version_id() == default)
                })
                .and_then(|v| v.document());
            listed.insert(
                arn.to_string(),
                match doc {
                    Some(d) => Fetched::ok(decode_policy(d)),
                    None => Fetched::unknown(
                        "iam:GetAccountAuthorizationDetails",
                        None,
                        format!("{arn}: no default version document in the answer"),
                    ),
                },
            );
        }
    }
    // Keep only the managed policies something uses; read the ones the list did not carry.
    let mut used: Vec<String> = Vec::new();
    for u in &out.users {
        used.extend(u.attached_policies.iter().cloned());
        used.extend(u.permissions_boundary.iter().cloned());
    }
    for g in &out.groups {
        used.extend(g.attached_policies.iter().cloned());
    }
    for r in &out.roles {
        used.extend(r.attached_policies.iter().cloned());
        used.extend(r.permissions_boundary.iter().cloned());
    }
    used.sort();
    used.dedup();
    let missing: Vec<&String> = used.iter().filter(|a| !listed.contains_key(*a)).collect();
    let read = futures::future::join_all(
        missing
            .iter()
            .map(|arn| async { ((*arn).clone(), managed_document(&iam, arn).await) }),
    )
    .await;
    for arn in &used {
        if let Some(doc) = listed.remove(arn) {
            out.managed_policies.insert(arn.clone(), doc);
        }
    }
    out.managed_policies.extend(read);
    Fetched::ok(out)
}
