//! `who-can`: every principal that can read, write or control the audited buckets, or decrypt
//! their objects with the bucket's KMS key, and how — proven with the policy engine over every
//! principal of the spec's accounts, not only the ones the spec names.
//!
//! Who is asked:
//! - every IAM user (with its groups' policies) and role of every account in the spec
//!   (`iam:GetAccountAuthorizationDetails`), and each account's root user;
//! - every principal a bucket policy, key policy or role trust policy names that lives outside
//!   the spec's accounts (its account's root stands for "whoever that account lets"; a named
//!   user or role of such an account is asked with its identity side unknown), every service
//!   principal, federated provider and `aws:PrincipalOrgID` organisation they name;
//! - anonymous callers.
//!
//! How: each question is one request to [`crate::policy::evaluate`] with the principal's own
//! request context ([`super::IdentitySide::context`]), so same-account grants need one side and
//! cross-account grants both
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>),
//! boundaries cap, explicit Denies win, and Block Public Access RestrictPublicBuckets voids public
//! grants as the engine models it. Conditions on values a caller brings to each request (source
//! IP or VPC, MFA, request tags, `s3:prefix`, organisation membership, a service's
//! `aws:SourceAccount`, ...) cannot be known from configuration: every answer is therefore
//! computed twice, once with those conditions unmet (what the principal can do for sure) and
//! once with them assumed met and Denies that depend on them assumed not to apply (what it could
//! do at best). Both allowed: `yes`; only the second: `conditional`, naming the condition keys.
//! The decision is monotone in both directions (more Allows and fewer Denies never deny), so
//! the two bound every request context.
//!
//! Becoming someone else: a principal that can assume a role (the trust policy allows it, and
//! across accounts its identity side allows `sts:AssumeRole` too — "To allow a user to assume a
//! role in the same account, you can do either of the following: attach a policy to the user
//! ... or add the user as a principal directly in the role's trust policy",
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>) inherits the
//! role's access, transitively; so does, conditionally, a principal that may pass a role to a
//! service the role trusts (`iam:PassRole`,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html>), since it can
//! then have that service act as the role. The chain is the evidence.
//!
//! KMS grants: `kms:Decrypt` is also given by the key's grants, which AWS considers along with
//! the key policy and IAM policies (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>);
//! each grantee is asked like any principal (added when no policy names it) and listed with the
//! grant as the reason, conditional when the grant has constraints ([`super::grants`]). Keys
//! whose grants were not listed are an error-grade unknown for `decrypt`.
//!
//! What is not evaluated is said, never taken as "nobody": organisation SCPs and RCPs and VPC
//! endpoint policies (they can only take access away, so what is listed may still be denied),
//! bucket and object ACLs on buckets without `BucketOwnerEnforced`, access points the bucket
//! policy delegates to, and anything whose policies could not be read — the last three could
//! grant access, so they are [`WhoCan::errors`]-grade unknowns.

use super::grants as kms_grants;
use super::kms::{object_bucket_key, resolved_key_arn, S3KmsContext};
use super::restrict_public_buckets;
use super::Error;
use crate::arn::Arn;
use crate::policy::eval::{action_matches, resource_matches};
use crate::policy::{
    self, Context, Decision, Effect, Policy, PolicySet, PrincipalEntry, Request, StatementRef,
};
use crate::policy::{s3_resource_kind, S3ResourceKind};
use crate::snapshot::{Fetched, IamAccount, InlinePolicy, KmsGrant, Snapshot};
use crate::spec::{self, AccessClass, Spec};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Reading data: the object and its versions, listing, and what replication reads.
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>
pub const READ: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetObjectVersionForReplication",
];

/// Changing or destroying data: writes, deletes, and what replication writes.
pub const WRITE: &[&str] = &[
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
];

/// Changing who can do what, or where data goes: every one of these can undo the set-up.
pub const CONTROL: &[&str] = &[
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutReplicationConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketAcl",
    "s3:PutLifecycleConfiguration",
];

/// Opening SSE-KMS objects: S3 calls `kms:Decrypt` as the reader
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#aws-managed-customer-managed-keys>).
pub const DECRYPT: &[&str] = &["kms:Decrypt"];

/// The actions of one class.
pub fn class_actions(c: AccessClass) -> &'static [&'static str] {
    match c {
        AccessClass::Read => READ,
        AccessClass::Write => WRITE,
        AccessClass::Control => CONTROL,
        AccessClass::Decrypt => DECRYPT,
    }
}

/// The class an action belongs to, if any.
pub fn class_of(action: &str) -> Option<AccessClass> {
    AccessClass::ALL.into_iter().find(|c| {
        class_actions(*c)
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
    })
}

/// Every action `who-can` asks about, in table order.
pub fn all_actions() -> Vec<&'static str> {
    AccessClass::ALL
        .iter()
        .flat_map(|c| class_actions(*c).iter().copied())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
/// What kind of principal a subject is.
pub enum SubjectKind {
    User,
    Role,
    /// The root user of an account of the spec.
    AccountRoot,
    /// An account outside the spec, named by a policy: whoever that account lets.
    ExternalAccount,
    /// A user or role of an account outside the spec, named by a policy.
    ExternalPrincipal,
    Anonymous,
    Service,
    Federated,
    CanonicalUser,
    /// Every principal of an AWS Organizations organisation (an `aws:PrincipalOrgID` grant).
    Organization,
}

impl SubjectKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Role => "role",
            SubjectKind::AccountRoot => "account-root",
            SubjectKind::ExternalAccount => "external-account",
            SubjectKind::ExternalPrincipal => "external-principal",
            SubjectKind::Anonymous => "anonymous",
            SubjectKind::Service => "service",
            SubjectKind::Federated => "federated",
            SubjectKind::CanonicalUser => "canonical-user",
            SubjectKind::Organization => "organization",
        }
    }
}

/// A principal that was asked.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    /// ARN, `anonymous`, a service principal, or `organization:o-...`.
    pub id: String,
    pub kind: SubjectKind,
    pub account: Option<String>,
    /// Roles: the AWS services its trust policy lets assume it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_services: Vec<String>,
}

/// How sure an access is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Allowed only when conditions on per-request values hold (named in `conditions`).
    Conditional,
    /// Allowed with nothing more than the principal's own identity.
    Yes,
}

/// One step of becoming another principal.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hop {
    /// The role the previous principal becomes.
    pub role: String,
    /// `sts:AssumeRole`, or `iam:PassRole to <service>`.
    pub how: String,
    pub level: Level,
    pub deciding: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

/// One thing a subject can do on an audited bucket or its key.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub subject: String,
    /// Bucket alias.
    pub bucket: String,
    pub class: Option<AccessClass>,
    pub action: String,
    /// The resource it was decided on (bucket ARN, an object ARN, or the key ARN).
    pub resource: String,
    pub level: Level,
    /// The statements that decided the last step (the role's own access at the end of a chain).
    pub deciding: Vec<String>,
    /// Condition keys the answer depends on (`conditional`), and other reasons it is not sure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// The roles the subject becomes to get this access, in order; empty for its own access.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// The chain in full (how each role is become, and the deciding statements): an index
    /// into [`WhoCan::chains`], shared by every grant that takes the same chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<usize>,
}

/// Something that decides access and could not be read, so no bucket can be proven to have
/// only the expected principals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unknown {
    /// Bucket alias, or `None` for every bucket.
    pub bucket: Option<String>,
    /// The classes it matters for; empty for all (a key policy matters for `decrypt` only, an
    /// S3 ACL for everything but `decrypt`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<AccessClass>,
    pub reason: String,
}

/// Every class but `decrypt`: what S3's own access controls (bucket policy, ACLs, access
/// points) decide.
const S3_CLASSES: [AccessClass; 3] = [AccessClass::Read, AccessClass::Write, AccessClass::Control];

#[derive(Debug, Clone, Serialize)]
pub struct BucketInfo {
    pub alias: String,
    pub name: String,
    pub arn: String,
    pub account: String,
    /// The KMS key (key ARN) whose `kms:Decrypt` was asked, if the bucket uses one.
    pub key: Option<String>,
    /// Object ARNs asked for object actions.
    pub objects: Vec<String>,
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct WhoCan {
    pub buckets: Vec<BucketInfo>,
    pub subjects: Vec<Subject>,
    /// The best way each subject can do each action on each bucket (own access first, then
    /// the shortest chain), `yes` before `conditional`.
    pub grants: Vec<Grant>,
    /// The role chains grants take (see [`Grant::chain`]).
    pub chains: Vec<Vec<Hop>>,
    /// What could grant access and was not evaluated (never "nobody").
    pub errors: Vec<Unknown>,
    /// What was not evaluated but can only take access away.
    pub not_evaluated: Vec<String>,
    /// Number of policy decisions made.
    pub decisions: usize,
}

impl WhoCan {
    /// Unknowns that matter for one bucket and class.
    pub fn unknowns_for(&self, bucket: &str, class: AccessClass) -> Vec<&Unknown> {
        self.errors
            .iter()
            .filter(|u| u.bucket.as_deref().is_none_or(|b| b == bucket))
            .filter(|u| u.classes.is_empty() || u.classes.contains(&class))
            .collect()
    }

    pub fn subject(&self, id: &str) -> Option<&Subject> {
        self.subjects.iter().find(|s| s.id == id)
    }

    /// The chain of a grant, empty for the subject's own access.
    pub fn chain(&self, g: &Grant) -> &[Hop] {
        g.chain
            .and_then(|i| self.chains.get(i))
            .map_or(&[], |c| c.as_slice())
    }

    /// `role a (sts:AssumeRole) -> role b (iam:PassRole to ...)`, for messages.
    pub fn path(&self, g: &Grant) -> String {
        self.chain(g)
            .iter()
            .map(|h| format!("{} ({})", h.role, h.how))
            .collect::<Vec<_>>()
            .join(" -> ")
    }
}

/// Which buckets and actions to ask about.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// One bucket alias; all of the spec's buckets when `None`.
    pub bucket: Option<String>,
    /// One action; every action of the four classes when `None`.
    pub action: Option<String>,
}

impl Options {
    /// A bucket the spec has, and an action `who-can` can ask about: an S3 action on a bucket or
    /// its objects, or `kms:Decrypt`.
    pub fn check(&self, spec: &Spec) -> Result<(), OptionsError> {
        if let Some(b) = &self.bucket {
            if !spec.buckets.contains_key(b) {
                return Err(OptionsError::UnknownBucket {
                    bucket: b.clone(),
                    known: spec.buckets.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        if let Some(a) = &self.action {
            if s3_resource_kind(a).is_none() && !a.eq_ignore_ascii_case("kms:Decrypt") {
                return Err(OptionsError::UnsupportedAction(a.clone()));
            }
        }
        Ok(())
    }
}

/// A `who-can` question that cannot be asked of this spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("--bucket '{bucket}' is not a bucket alias of the spec (known: {known})")]
    UnknownBucket { bucket: String, known: String },
    #[error("--action '{0}': expected an S3 action on a bucket or object (e.g. s3:GetObject) or kms:Decrypt")]
    UnsupportedAction(String),
}

// ------------------------------------------------------------------------------------------
// Relaxing conditions.

/// Condition keys whose value (or absence) for a principal is known from configuration:
/// the principal keys AWS sets from who is calling, and the keys `who-can` sets itself for
/// the request it asks about. Every other key is a per-request value — except that the
/// confused-deputy keys are known to be absent unless a service calls: "the aws:SourceAccount
/// condition key is only available when the call to your resource is made directly by an AWS
/// service principal" (the same holds for `aws:SourceArn`, `aws:SourceOrgID`,
/// `aws:SourceOrgPaths`), so an IAM principal or anonymous caller can never meet a condition
/// that requires them.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>
fn known_key(key_lc: &str, service: bool) -> bool {
    const SERVICE_ONLY: &[&str] = &[
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
    ];
    if SERVICE_ONLY.contains(&key_lc) {
        return !service;
    }
    const KNOWN: &[&str] = &[
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:username",
        "aws:principalisawsservice",
        "aws:principalservicename",
        "aws:securetransport",
        "aws:currenttime",
        "aws:epochtime",
        "aws:viaawsservice",
        "kms:viaservice",
        "kms:calleraccount",
        "kms:encryptioncontext:aws:s3:arn",
        "iam:passedtoservice",
    ];
    KNOWN.contains(&key_lc) || key_lc.starts_with("aws:principaltag/")
}

/// The most permissive reading of a policy over unknown request values: Allow conditions on
/// unknown keys assumed met, Deny statements with such conditions assumed not to apply.
/// `service`: for requests made by a service principal. Returns the policy and whether
/// anything changed.
fn relax(p: &Policy, service: bool) -> (Policy, bool) {
    let mut r = p.clone();
    let mut changed = false;
    r.statements.retain_mut(|st| {
        let before = st.conditions.len();
        match st.effect {
            Effect::Allow => {
                st.conditions.retain(|c| known_key(&c.key_lc, service));
                changed |= st.conditions.len() != before;
                true
            }
            Effect::Deny => {
                let keep = st.conditions.iter().all(|c| known_key(&c.key_lc, service));
                changed |= !keep;
                keep
            }
        }
    });
    (r, changed)
}

/// A policy with its relaxed readings, for IAM or anonymous callers and for services.
#[derive(Debug, Clone)]
struct Relaxed {
    strict: Policy,
    relaxed: Policy,
    differs: bool,
    relaxed_service: Policy,
    differs_service: bool,
}

impl Relaxed {
    fn new(p: Policy) -> Relaxed {
        let (relaxed, differs) = relax(&p, false);
        let (relaxed_service, differs_service) = relax(&p, true);
        Relaxed {
            strict: p,
            relaxed,
            differs,
            relaxed_service,
            differs_service,
        }
    }

    fn relaxed(&self, service: bool) -> (&Policy, bool) {
        if service {
            (&self.relaxed_service, self.differs_service)
        } else {
            (&self.relaxed, self.differs)
        }
    }
}

/// Unknown condition keys of the statements `refs` points at.
fn unknown_keys(
    policies: &[&Policy],
    refs: &[StatementRef],
    service: bool,
    out: &mut BTreeSet<String>,
) {
    for r in refs {
        let Some(p) = policies.iter().find(|p| p.name() == r.policy) else {
            continue;
        };
        if let Some(st) = p.statements().iter().find(|s| s.index() == r.index) {
            for c in &st.conditions {
                if !known_key(&c.key_lc, service) {
                    out.insert(c.key.clone());
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Callers.

/// Everything needed to ask about one subject.
struct Caller {
    principal: String,
    account: Option<String>,
    identity: Vec<Policy>,
    relaxed_identity: Vec<Policy>,
    boundary: Option<Relaxed>,
    identity_differs: bool,
    ctx: Context,
    /// Why the answer cannot be `yes` whatever the policies say (identity side unknown).
    cap: Option<String>,
    /// An AWS service principal (the confused-deputy keys are then unknown, not absent).
    service: bool,
}

impl Caller {
    fn new(
        principal: String,
        account: Option<String>,
        policies: Vec<Policy>,
        ctx: Context,
    ) -> Self {
        let mut relaxed_identity = Vec::with_capacity(policies.len());
        let mut identity_differs = false;
        for p in &policies {
            let (r, d) = relax(p, false);
            identity_differs |= d;
            relaxed_identity.push(r);
        }
        Caller {
            principal,
            account,
            identity: policies,
            relaxed_identity,
            boundary: None,
            identity_differs,
            ctx,
            cap: None,
            service: false,
        }
    }
}

enum Side {
    Ask(Box<Caller>),
    /// Judged from the resource policies' grants alone (federated, canonical, organisation).
    GrantsOnly,
    /// Its policies could not be used; the reason is in the errors.
    Unusable,
}

struct SubjectData {
    subject: Subject,
    side: Side,
    /// Roles: the parsed trust policy (`None` when unreadable or absent).
    trust: Option<Relaxed>,
}

/// What one decision found.
#[derive(Debug, Clone)]
struct Found {
    level: Level,
    /// The deciding statements as text; the engine's reason when no statement decided (the
    /// root user of the resource's account).
    deciding: Vec<String>,
    conditions: BTreeSet<String>,
}

fn deciding_text(e: &policy::Evaluation) -> Vec<String> {
    if e.deciding.is_empty() {
        e.reasons.clone()
    } else {
        e.deciding.iter().map(|s| s.to_string()).collect()
    }
}

/// A resource policy with its relaxed reading and the RestrictPublicBuckets flag of the
/// original (relaxing only ever makes a policy more public, so the original decides).
struct ResourceSide<'a> {
    policy: Option<&'a Relaxed>,
    restrict_public_buckets: bool,
}

/// Decide one request both ways (see the module doc).
fn decide(
    caller: &Caller,
    req: &Request,
    res: &ResourceSide,
    decisions: &mut usize,
) -> Option<Found> {
    let boundary = caller.boundary.as_ref();
    let strict = PolicySet {
        identity: &caller.identity,
        resource: res.policy.map(|r| &r.strict),
        permission_boundary: boundary.map(|b| &b.strict),
        restrict_public_buckets: res.restrict_public_buckets,
        ..PolicySet::default()
    };
    let svc = caller.service;
    let differs = caller.identity_differs
        || boundary.is_some_and(|b| b.relaxed(svc).1)
        || res.policy.is_some_and(|r| r.relaxed(svc).1);
    let capped = |mut f: Found| {
        if let Some(why) = &caller.cap {
            f.level = Level::Conditional;
            f.conditions.insert(why.clone());
        }
        f
    };
    if !differs {
        *decisions += 1;
        let e = policy::evaluate(req, &strict);
        return (e.decision == Decision::Allowed).then(|| {
            capped(Found {
                level: Level::Yes,
                deciding: deciding_text(&e),
                conditions: BTreeSet::new(),
            })
        });
    }
    let upper = PolicySet {
        identity: &caller.relaxed_identity,
        resource: res.policy.map(|r| r.relaxed(svc).0),
        permission_boundary: boundary.map(|b| b.relaxed(svc).0),
        restrict_public_buckets: res.restrict_public_buckets,
        ..PolicySet::default()
    };
    *decisions += 1;
    let up = policy::evaluate(req, &upper);
    if up.decision != Decision::Allowed {
        return None;
    }
    *decisions += 1;
    let low = policy::evaluate(req, &strict);
    if low.decision == Decision::Allowed {
        return Some(capped(Found {
            level: Level::Yes,
            deciding: deciding_text(&low),
            conditions: BTreeSet::new(),
        }));
    }
    let mut originals: Vec<&Policy> = caller.identity.iter().collect();
    originals.extend(res.policy.map(|r| &r.strict));
    originals.extend(boundary.map(|b| &b.strict));
    let mut conditions = BTreeSet::new();
    unknown_keys(&originals, &up.deciding, svc, &mut conditions);
    if low.decision == Decision::ExplicitDeny {
        unknown_keys(&originals, &low.deciding, svc, &mut conditions);
    }
    Some(capped(Found {
        level: Level::Conditional,
        deciding: deciding_text(&up),
        conditions,
    }))
}

/// Grants of a resource policy to a subject the engine cannot stand in for (federated users,
/// canonical users, organisation members): every Allow statement naming it for the action and
/// resource, `conditional` since who they are is decided outside the snapshot.
fn grants_only(subject: &Subject, p: &Policy, action: &str, resource: &str) -> Option<Found> {
    let ctx = Context::new();
    let mut found: Option<Found> = None;
    for st in p.statements() {
        if st.effect() != Effect::Allow
            || !action_matches(st, action, &ctx)
            || !resource_matches(st, resource, &ctx)
        {
            continue;
        }
        let Some((negated, entries)) = st.principals() else {
            continue;
        };
        let named = match subject.kind {
            SubjectKind::Federated => entries
                .iter()
                .any(|e| matches!(e, PrincipalEntry::Federated(f) if *f == subject.id)),
            SubjectKind::CanonicalUser => entries
                .iter()
                .any(|e| matches!(e, PrincipalEntry::CanonicalUser(c) if *c == subject.id)),
            SubjectKind::Organization => {
                let org = subject.id.trim_start_matches("organization:");
                (negated || entries.iter().any(|e| **e == PrincipalEntry::Any))
                    && st.conditions.iter().any(|c| {
                        is_org_key(&c.key_lc) && c.raw_values.iter().any(|v| v.contains(org))
                    })
            }
            _ => false,
        };
        if !named {
            continue;
        }
        let f = found.get_or_insert_with(|| Found {
            level: Level::Conditional,
            deciding: Vec::new(),
            conditions: BTreeSet::new(),
        });
        f.deciding.push(
            StatementRef {
                policy: p.name().to_string(),
                kind: policy::PolicyKind::Resource,
                sid: st.sid().map(str::to_string),
                index: st.index(),
                effect: st.effect(),
            }
            .to_string(),
        );
        for c in &st.conditions {
            f.conditions.insert(c.key.clone());
        }
        f.conditions.insert(format!(
            "who is a {} principal is decided outside the accounts",
            match subject.kind {
                SubjectKind::Organization => "organisation",
                SubjectKind::Federated => "federated",
                _ => "canonical-user",
            }
        ));
    }
    found
}

fn is_org_key(key_lc: &str) -> bool {
    key_lc == "aws:principalorgid" || key_lc == "aws:principalorgpaths"
}

// ------------------------------------------------------------------------------------------
// Building the subjects.

/// `arn:<partition>:iam::<account>:root`: the root of an account is named in its partition
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>), so in China the
/// `aws:PrincipalArn` a condition compares is `arn:aws-cn:iam::<account>:root`.
fn root_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:root")
}

/// The partition of the spec's accounts (replication and cross-account access do not cross
/// partitions, so one spec is in one), for principals a policy names by bare account id.
fn spec_partition(spec: &Spec) -> &'static str {
    spec.accounts
        .values()
        .next()
        .map(|a| crate::aws::partition_of_region(a.region.get_ref()))
        .unwrap_or("aws")
}

/// `(account, "user"|"role", name)` of a user, role or role-session ARN (sessions name their
/// role), ignoring paths: IAM names are unique in an account whatever the path.
fn iam_identity(arn: &str) -> Option<(String, &'static str, String)> {
    let a = Arn::split(arn)?;
    let (kind, rest) = a.resource.split_once('/')?;
    let (kind, name) = match (a.service, kind) {
        ("iam", "user") => ("user", rest.rsplit('/').next()?),
        ("iam", "role") => ("role", rest.rsplit('/').next()?),
        ("sts", "assumed-role") => ("role", rest.split('/').next()?),
        _ => return None,
    };
    Some((a.account.to_string(), kind, name.to_string()))
}

/// The base request context of a subject: [`super::IdentitySide::context`] for IAM principals,
/// the time and transport keys for everyone else.
fn base_context(at: chrono::DateTime<chrono::Utc>) -> Context {
    let mut c = Context::new();
    c.insert("aws:SecureTransport", "true");
    c.insert(
        "aws:CurrentTime",
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    c.insert("aws:EpochTime", at.timestamp().to_string());
    c.insert("aws:ViaAWSService", "false");
    c
}

/// Parse an account's managed policies once.
fn managed(acct: &IamAccount) -> HashMap<&str, Result<Policy, Error>> {
    acct.managed_policies
        .iter()
        .map(|(arn, doc)| {
            let p = match doc {
                Fetched::Ok { value } => Policy::parse(arn, value).map_err(Error::Policy),
                other => Err(Error::Unreadable(format!(
                    "managed policy {arn} could not be read: {}",
                    other.why_missing().unwrap_or_default()
                ))),
            };
            (arn.as_str(), p)
        })
        .collect()
}

fn inline(owner: &str, list: &[InlinePolicy], out: &mut Vec<Policy>) -> Result<(), Error> {
    for p in list {
        let label = format!("{owner} inline policy {}", p.name);
        out.push(Policy::parse(&label, &p.document)?);
    }
    Ok(())
}

fn attached(
    managed: &HashMap<&str, Result<Policy, Error>>,
    arns: &[String],
    out: &mut Vec<Policy>,
) -> Result<(), Error> {
    for arn in arns {
        match managed.get(arn.as_str()) {
            Some(Ok(p)) => out.push(p.clone()),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(Error::NotCollected(format!("managed policy {arn}"))),
        }
    }
    Ok(())
}

fn boundary(
    managed: &HashMap<&str, Result<Policy, Error>>,
    arn: Option<&String>,
) -> Result<Option<Relaxed>, Error> {
    match arn {
        None => Ok(None),
        Some(a) => match managed.get(a.as_str()) {
            Some(Ok(p)) => Ok(Some(Relaxed::new(p.clone()))),
            Some(Err(e)) => Err(Error::Boundary(Box::new(e.clone()))),
            None => Err(Error::NotCollected(format!("permissions boundary {a}"))),
        },
    }
}

/// Every subject of the spec's accounts, plus the ones policies name.
struct Universe {
    subjects: Vec<SubjectData>,
    index: HashMap<String, usize>,
    errors: Vec<Unknown>,
}

impl Universe {
    fn add(&mut self, d: SubjectData) -> usize {
        if let Some(i) = self.index.get(&d.subject.id) {
            return *i;
        }
        let i = self.subjects.len();
        self.index.insert(d.subject.id.clone(), i);
        self.subjects.push(d);
        i
    }

    fn error(&mut self, reason: String) {
        self.errors.push(Unknown {
            bucket: None,
            classes: vec![],
            reason,
        });
    }
}

fn iam_subjects(spec: &Spec, snap: &Snapshot, u: &mut Universe) {
    let at = snap.collected_at;
    for (alias, a) in &spec.accounts {
        let id = a.account_id.get_ref().clone();
        let partition = crate::aws::partition_of_region(a.region.get_ref());
        // The root user: "has complete access to all AWS services and resources in the
        // account" (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html>).
        let mut ctx = base_context(at);
        ctx.insert("aws:PrincipalArn", root_arn(partition, &id));
        ctx.insert("aws:PrincipalAccount", id.as_str());
        ctx.insert("aws:PrincipalType", "Account");
        u.add(SubjectData {
            subject: Subject {
                id: root_arn(partition, &id),
                kind: SubjectKind::AccountRoot,
                account: Some(id.clone()),
                trusted_services: vec![],
            },
            side: Side::Ask(Box::new(Caller::new(
                root_arn(partition, &id),
                Some(id.clone()),
                vec![],
                ctx,
            ))),
            trust: None,
        });
        let acct = match snap.iam_accounts.get(alias) {
            Some(Fetched::Ok { value }) => value,
            Some(f) => {
                u.error(format!(
                    "the IAM users and roles of account '{alias}' ({id}) are unknown: {}",
                    f.why_missing().unwrap_or_default()
                ));
                continue;
            }
            None => {
                u.error(format!(
                    "the IAM users and roles of account '{alias}' ({id}) were not collected in this snapshot (iam:GetAccountAuthorizationDetails)"
                ));
                continue;
            }
        };
        let managed = managed(acct);
        let groups: HashMap<&str, &crate::snapshot::IamGroup> =
            acct.groups.iter().map(|g| (g.name.as_str(), g)).collect();
        for user in &acct.users {
            let built = (|| -> Result<Caller, Error> {
                let mut policies = Vec::new();
                inline(&user.name, &user.inline_policies, &mut policies)?;
                attached(&managed, &user.attached_policies, &mut policies)?;
                for g in &user.groups {
                    let group = groups.get(g.as_str()).ok_or_else(|| {
                        Error::Undecided(format!("group {g} is not in the account's details"))
                    })?;
                    inline(&format!("group {g}"), &group.inline_policies, &mut policies)?;
                    attached(&managed, &group.attached_policies, &mut policies)?;
                }
                let side = super::IdentitySide {
                    arn: user.arn.clone(),
                    account: id.clone(),
                    kind: "user".into(),
                    name: user.name.clone(),
                    policies: vec![],
                    boundary: None,
                    tags: user.tags.clone(),
                };
                let mut c = Caller::new(
                    side.caller_arn(),
                    Some(id.clone()),
                    policies,
                    side.context(at),
                );
                c.boundary = boundary(&managed, user.permissions_boundary.as_ref())?;
                Ok(c)
            })();
            let side = match built {
                Ok(c) => Side::Ask(Box::new(c)),
                Err(e) => {
                    u.error(format!("cannot tell what {} can do: {e}", user.arn));
                    Side::Unusable
                }
            };
            u.add(SubjectData {
                subject: Subject {
                    id: user.arn.clone(),
                    kind: SubjectKind::User,
                    account: Some(id.clone()),
                    trusted_services: vec![],
                },
                side,
                trust: None,
            });
        }
        for role in &acct.roles {
            let built = (|| -> Result<Caller, Error> {
                let mut policies = Vec::new();
                inline(&role.name, &role.inline_policies, &mut policies)?;
                attached(&managed, &role.attached_policies, &mut policies)?;
                let side = super::IdentitySide {
                    arn: role.arn.clone(),
                    account: id.clone(),
                    kind: "role".into(),
                    name: role.name.clone(),
                    policies: vec![],
                    boundary: None,
                    tags: role.tags.clone(),
                };
                let mut c = Caller::new(
                    side.caller_arn(),
                    Some(id.clone()),
                    policies,
                    side.context(at),
                );
                c.boundary = boundary(&managed, role.permissions_boundary.as_ref())?;
                Ok(c)
            })();
            let side = match built {
                Ok(c) => Side::Ask(Box::new(c)),
                Err(e) => {
                    u.error(format!("cannot tell what {} can do: {e}", role.arn));
                    Side::Unusable
                }
            };
            let trust = match role.trust_policy.as_deref() {
                Some(doc) => match Policy::parse(&format!("trust policy of {}", role.arn), doc) {
                    Ok(p) => Some(Relaxed::new(p)),
                    Err(e) => {
                        u.error(format!("cannot tell who can assume {}: {e}", role.arn));
                        None
                    }
                },
                None => None,
            };
            u.add(SubjectData {
                subject: Subject {
                    id: role.arn.clone(),
                    kind: SubjectKind::Role,
                    account: Some(id.clone()),
                    trusted_services: vec![],
                },
                side,
                trust,
            });
        }
    }
}

/// Subjects a resource or trust policy names that are not principals of the spec's accounts.
fn named_subjects(spec: &Spec, p: &Policy, at: chrono::DateTime<chrono::Utc>, u: &mut Universe) {
    let spec_account = |a: &str| spec.account_alias_for_id(a).is_some();
    let partition = spec_partition(spec);
    let add_external_account = |u: &mut Universe, a: &str| {
        if spec_account(a) || !spec::is_account_id(a) {
            return;
        }
        let mut ctx = base_context(at);
        ctx.insert("aws:PrincipalArn", root_arn(partition, a));
        ctx.insert("aws:PrincipalAccount", a);
        ctx.insert("aws:PrincipalType", "Account");
        u.add(SubjectData {
            subject: Subject {
                id: root_arn(partition, a),
                kind: SubjectKind::ExternalAccount,
                account: Some(a.to_string()),
                trusted_services: vec![],
            },
            side: Side::Ask(Box::new(Caller::new(
                root_arn(partition, a),
                Some(a.to_string()),
                vec![],
                ctx,
            ))),
            trust: None,
        });
    };
    for st in p.statements() {
        if let Some((_, entries)) = st.principals() {
            for e in entries {
                match e {
                    PrincipalEntry::Account(_) => {
                        if let Some(a) = e.account_id() {
                            add_external_account(u, a);
                        }
                    }
                    PrincipalEntry::Arn(arn) => {
                        let Some(a) = spec::arn_account(arn) else {
                            continue;
                        };
                        if spec_account(a) {
                            continue;
                        }
                        let Some(side) = super::IdentitySide::from_arn(arn).or_else(|| {
                            iam_identity(arn).map(|(acct, kind, name)| super::IdentitySide {
                                arn: format!(
                                    "arn:{}:iam::{acct}:{kind}/{name}",
                                    crate::arn::partition_of(arn).unwrap_or(partition)
                                ),
                                account: acct,
                                kind: kind.into(),
                                name,
                                policies: vec![],
                                boundary: None,
                                tags: Default::default(),
                            })
                        }) else {
                            continue;
                        };
                        // Only its allow-all policies are used: the partition is the named principal's.
                        let partition = side.partition();
                        let admin =
                            super::IdentitySide::synthetic_admin(partition, a, &side.name).policies;
                        let mut c = Caller::new(
                            side.caller_arn(),
                            Some(a.to_string()),
                            admin,
                            side.context(at),
                        );
                        c.cap = Some(format!(
                            "the identity policies of account {a} (not in the spec) were not evaluated"
                        ));
                        u.add(SubjectData {
                            subject: Subject {
                                id: side.arn.clone(),
                                kind: SubjectKind::ExternalPrincipal,
                                account: Some(a.to_string()),
                                trusted_services: vec![],
                            },
                            side: Side::Ask(Box::new(c)),
                            trust: None,
                        });
                    }
                    PrincipalEntry::Service(s) => {
                        let mut ctx = base_context(at);
                        ctx.insert("aws:PrincipalServiceName", s.as_str());
                        ctx.insert("aws:PrincipalIsAWSService", "true");
                        let mut c = Caller::new(s.clone(), None, vec![], ctx);
                        c.service = true;
                        u.add(SubjectData {
                            subject: Subject {
                                id: s.clone(),
                                kind: SubjectKind::Service,
                                account: None,
                                trusted_services: vec![],
                            },
                            side: Side::Ask(Box::new(c)),
                            trust: None,
                        });
                    }
                    PrincipalEntry::Federated(f) => {
                        u.add(SubjectData {
                            subject: Subject {
                                id: f.clone(),
                                kind: SubjectKind::Federated,
                                account: spec::arn_account(f).map(str::to_string),
                                trusted_services: vec![],
                            },
                            side: Side::GrantsOnly,
                            trust: None,
                        });
                    }
                    PrincipalEntry::CanonicalUser(c) => {
                        u.add(SubjectData {
                            subject: Subject {
                                id: c.clone(),
                                kind: SubjectKind::CanonicalUser,
                                account: None,
                                trusted_services: vec![],
                            },
                            side: Side::GrantsOnly,
                            trust: None,
                        });
                    }
                    PrincipalEntry::Any => {}
                }
            }
        }
        for c in &st.conditions {
            if is_org_key(&c.key_lc) {
                for v in &c.raw_values {
                    let org = v.split('/').next().unwrap_or(v);
                    if spec::is_org_id(org) {
                        u.add(SubjectData {
                            subject: Subject {
                                id: format!("organization:{org}"),
                                kind: SubjectKind::Organization,
                                account: None,
                                trusted_services: vec![],
                            },
                            side: Side::GrantsOnly,
                            trust: None,
                        });
                    }
                }
            } else if c.key_lc == "aws:principalaccount" {
                for v in &c.raw_values {
                    add_external_account(u, v);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// The buckets.

struct KeyCtx {
    arn: String,
    account: String,
    policy: Relaxed,
    cx: S3KmsContext,
    /// The key's grants; empty when they were not listed (an error says so).
    grants: Vec<KmsGrant>,
}

struct BucketCtx {
    info: BucketInfo,
    policy: Option<Relaxed>,
    restrict_public_buckets: bool,
    /// False when the bucket policy could not be read: nothing is asked of this bucket.
    usable: bool,
    key: Option<KeyCtx>,
}

/// Object keys worth asking about in a bucket: one anywhere, and one under every prefix the spec
/// gives the bucket (access sample keys, replicated prefixes, scenario C and D prefixes), since a
/// policy often grants or denies by prefix.
fn probe_keys(spec: &Spec, alias: &str) -> Vec<String> {
    const PROBE: &str = "replaudit-who-can-probe";
    let mut keys = vec![PROBE.to_string()];
    for a in &spec.access {
        if a.bucket.get_ref() == alias {
            keys.push(a.sample_key.clone());
        }
    }
    for r in &spec.replication {
        for rule in &r.rules {
            if r.source.get_ref() == alias || rule.destination.get_ref() == alias {
                keys.push(format!("{}{PROBE}", rule.prefix_or_empty()));
            }
        }
    }
    if let Some(c) = &spec.scenario_c {
        if c.bucket.get_ref() == alias {
            keys.extend(c.prefixes.iter().map(|p| format!("{p}{PROBE}")));
        }
    }
    if let Some(d) = &spec.scenario_d {
        if d.log_bucket.get_ref() == alias || d.backup_bucket.get_ref() == alias {
            keys.push(format!("{}{PROBE}", d.export_prefix));
        }
    }
    if let Some(a) = &spec.scenario_a {
        if a.bucket.get_ref() == alias {
            keys.push(a.sample_key.clone());
        }
    }
    let mut seen = BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

fn buckets(
    spec: &Spec,
    snap: &Snapshot,
    opts: &Options,
    errors: &mut Vec<Unknown>,
) -> Vec<BucketCtx> {
    let mut out = Vec::new();
    for (alias, b) in &spec.buckets {
        if opts.bucket.as_deref().is_some_and(|x| x != alias) {
            continue;
        }
        let name = b.name.get_ref().clone();
        // In the bucket's partition: a policy in China names `arn:aws-cn:s3:::<bucket>`, and
        // asking about `arn:aws:s3:::<bucket>` there matched none of its statements (nobody could
        // do anything). <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>
        let arn =
            crate::aws::s3_bucket_arn(crate::aws::partition_of_region(b.region.get_ref()), &name);
        let bucket_arn = arn.clone();
        let account = spec
            .bucket_account_id(alias)
            .unwrap_or_default()
            .to_string();
        let mut err = |classes: &[AccessClass], reason: String| {
            errors.push(Unknown {
                bucket: Some(alias.clone()),
                classes: classes.to_vec(),
                reason,
            })
        };
        let objects: Vec<String> = probe_keys(spec, alias)
            .iter()
            .map(|k| format!("{arn}/{k}"))
            .collect();
        let state = snap.bucket(alias);
        let (policy, usable) = match super::bucket_policy(snap, alias) {
            Ok(p) => (p.map(Relaxed::new), true),
            Err(e) => {
                err(&S3_CLASSES, e.to_string());
                (None, false)
            }
        };
        let restrict_public_buckets =
            match restrict_public_buckets(snap, spec, alias, policy.as_ref().map(|p| &p.strict)) {
                Ok(r) => r,
                Err(e) => {
                    // Unknown: assume it does not restrict (the larger set of principals) and say so.
                    err(&S3_CLASSES, e.to_string());
                    false
                }
            };
        // ACLs: with Object Ownership BucketOwnerEnforced "ACLs are disabled and no longer
        // affect permissions"; otherwise bucket and object ACLs can grant access on their own
        // (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html>).
        match state.map(|s| &s.ownership_controls) {
            Some(Fetched::Ok { value }) if value == "BucketOwnerEnforced" => {}
            Some(Fetched::Ok { value }) => err(
                &S3_CLASSES,
                format!("ACLs are enabled on {name} (Object Ownership {value}): bucket and object ACLs can grant access and are not evaluated; set BucketOwnerEnforced"),
            ),
            Some(Fetched::Absent { .. }) => err(
                &S3_CLASSES,
                format!("ACLs are enabled on {name} (no Object Ownership setting): bucket and object ACLs can grant access and are not evaluated; set BucketOwnerEnforced"),
            ),
            Some(f) => err(
                &S3_CLASSES,
                format!(
                    "whether ACLs are enabled on {name} is unknown: {}",
                    f.why_missing().unwrap_or_default()
                ),
            ),
            None => err(&[], format!("bucket {name} was not collected")),
        }
        // Access points: a bucket policy can delegate to access point policies, which then
        // decide (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-points-policies.html>).
        if let Some(p) = &policy {
            let delegates = p.strict.statements().iter().any(|st| {
                st.effect() == Effect::Allow
                    && st.conditions.iter().any(|c| {
                        c.key_lc == "s3:dataaccesspointaccount"
                            || c.key_lc == "s3:dataaccesspointarn"
                    })
            });
            if delegates {
                err(
                    &S3_CLASSES,
                    format!("the bucket policy of {name} delegates access to access points (s3:DataAccessPointAccount/Arn), whose policies are not collected"),
                );
            }
        }
        // The key S3 uses for new objects: the live default encryption's, else the spec's —
        // unless the live setting could not be read, when the key may be another one.
        if let Some(f @ Fetched::Unknown { .. }) = state.map(|s| &s.encryption) {
            err(
                &[AccessClass::Decrypt],
                format!(
                    "the default encryption of {name} could not be read, so its key may not be the one asked about: {}",
                    f.why_missing().unwrap_or_default()
                ),
            );
        }
        let key_ref = super::kms::live_default_key(spec, &snap.buckets, alias)
            .or_else(|| b.kms_key_arn.as_ref().map(|k| k.get_ref().clone()));
        let key = match key_ref {
            None => None,
            Some(reference) => {
                let resolved = resolved_key_arn(snap, &reference);
                let kp = super::key_policy(snap, &reference);
                match (resolved, kp) {
                    (Ok(arn), Ok(kp)) => {
                        let region = state
                            .and_then(|s| s.region.value().cloned())
                            .unwrap_or_else(|| b.region.get_ref().clone());
                        let probe = objects.first().cloned().unwrap_or_default();
                        let bk = object_bucket_key(spec, snap, alias, &probe);
                        let grants = match kms_grants::key_grants(snap, &reference) {
                            Ok(g) => g.to_vec(),
                            Err(e) => {
                                err(&[AccessClass::Decrypt], e.to_string());
                                Vec::new()
                            }
                        };
                        Some(KeyCtx {
                            grants,
                            account: spec::arn_account(&arn).unwrap_or_default().to_string(),
                            arn,
                            policy: Relaxed::new(kp),
                            cx: S3KmsContext::new(bk, &bucket_arn, &probe, &region),
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        err(&[AccessClass::Decrypt], e.to_string());
                        None
                    }
                }
            }
        };
        out.push(BucketCtx {
            info: BucketInfo {
                alias: alias.clone(),
                name,
                arn,
                account,
                key: key.as_ref().map(|k| k.arn.clone()),
                objects,
            },
            policy,
            restrict_public_buckets,
            usable,
            key,
        });
    }
    out
}

// ------------------------------------------------------------------------------------------
// Direct access.

struct Direct {
    bucket: usize,
    action: &'static str,
    resource: String,
    found: Found,
}

/// What one subject can do itself on every bucket.
fn direct_access(
    d: &SubjectData,
    buckets: &[BucketCtx],
    actions: &[&'static str],
    decisions: &mut usize,
) -> Vec<Direct> {
    let mut out = Vec::new();
    let caller = match &d.side {
        Side::Ask(c) => c,
        Side::Unusable => return out,
        Side::GrantsOnly => {
            for (bi, b) in buckets.iter().enumerate() {
                for action in actions {
                    if let Some(k) = b.key.as_ref().filter(|_| action.starts_with("kms:")) {
                        let by_policy = grants_only(&d.subject, &k.policy.strict, action, &k.arn);
                        if let Some(found) =
                            best_of(by_policy, grant_access(&d.subject, None, k, action, &mut 0))
                        {
                            out.push(Direct {
                                bucket: bi,
                                action,
                                resource: k.arn.clone(),
                                found,
                            });
                        }
                        continue;
                    }
                    let on: Vec<(String, Option<&Relaxed>)> = if action.starts_with("kms:") {
                        b.key
                            .iter()
                            .map(|k| (k.arn.clone(), Some(&k.policy)))
                            .collect()
                    } else {
                        targets(b, action)
                    };
                    for (resource, p) in on {
                        if let Some(found) =
                            p.and_then(|p| grants_only(&d.subject, &p.strict, action, &resource))
                        {
                            out.push(Direct {
                                bucket: bi,
                                action,
                                resource,
                                found,
                            });
                            break;
                        }
                    }
                }
            }
            return out;
        }
    };
    let mut req = Request {
        principal: caller.principal.clone(),
        principal_account: caller.account.clone(),
        action: String::new(),
        resource: String::new(),
        resource_account: None,
        context: caller.ctx.clone(),
    };
    for (bi, b) in buckets.iter().enumerate() {
        for action in actions {
            if action.starts_with("kms:") {
                if let Some(k) = &b.key {
                    let by_policy = decide_kms(caller, k, action, decisions);
                    let by_grant = grant_access(&d.subject, Some(caller), k, action, decisions);
                    if let Some(found) = best_of(by_policy, by_grant) {
                        out.push(Direct {
                            bucket: bi,
                            action,
                            resource: k.arn.clone(),
                            found,
                        });
                    }
                }
                continue;
            }
            // Without the bucket policy nothing S3 decides can be told (an error says so).
            if !b.usable {
                continue;
            }
            let res = ResourceSide {
                policy: b.policy.as_ref(),
                restrict_public_buckets: b.restrict_public_buckets,
            };
            req.action.clear();
            req.action.push_str(action);
            req.resource_account = Some(b.info.account.clone());
            let mut best: Option<(String, Found)> = None;
            for (resource, _) in targets(b, action) {
                req.resource = resource;
                if let Some(f) = decide(caller, &req, &res, decisions) {
                    let better = best.as_ref().is_none_or(|(_, x)| f.level > x.level);
                    if better {
                        let yes = f.level == Level::Yes;
                        best = Some((std::mem::take(&mut req.resource), f));
                        if yes {
                            break;
                        }
                    }
                }
            }
            if let Some((resource, found)) = best {
                out.push(Direct {
                    bucket: bi,
                    action,
                    resource,
                    found,
                });
            }
        }
    }
    out
}

/// The resources an action is asked on in a bucket, with the bucket policy.
fn targets<'a>(b: &'a BucketCtx, action: &str) -> Vec<(String, Option<&'a Relaxed>)> {
    match s3_resource_kind(action) {
        Some(S3ResourceKind::Bucket) => vec![(b.info.arn.clone(), b.policy.as_ref())],
        _ => b
            .info
            .objects
            .iter()
            .map(|o| (o.clone(), b.policy.as_ref()))
            .collect(),
    }
}

/// The KMS request `caller` makes for `action` on key `k`, with one of the key's request
/// contexts (`extra`: the encryption context and via-service keys S3 would send).
fn key_request(
    caller: &Caller,
    k: &KeyCtx,
    action: &str,
    extra: &[(&'static str, String)],
) -> Request {
    let mut ctx = caller.ctx.clone();
    for (key, v) in extra {
        ctx.insert(key, v.as_str());
    }
    Request {
        principal: caller.principal.clone(),
        principal_account: caller.account.clone(),
        action: action.to_string(),
        resource: k.arn.clone(),
        resource_account: Some(k.account.clone()),
        context: ctx,
    }
}

/// `kms:Decrypt` as S3 asks it when the subject reads an object: key policy as the resource
/// policy, `kms:ViaService`, `kms:CallerAccount` and the encryption context S3 uses (bucket ARN
/// with an S3 Bucket Key, object ARN without; both when that setting is unknown).
fn decide_kms(caller: &Caller, k: &KeyCtx, action: &str, decisions: &mut usize) -> Option<Found> {
    let caller_account = caller.account.clone().unwrap_or_default();
    let res = ResourceSide {
        policy: Some(&k.policy),
        restrict_public_buckets: false,
    };
    let mut results = Vec::new();
    for extra in k.cx.request_contexts(&caller_account) {
        let req = key_request(caller, k, action, &extra);
        results.push(decide(caller, &req, &res, decisions));
    }
    let all_yes = results
        .iter()
        .all(|r| r.as_ref().is_some_and(|f| f.level == Level::Yes));
    let mut any = results.into_iter().flatten();
    let mut f = any.next()?;
    if !all_yes && f.level == Level::Yes {
        f.level = Level::Conditional;
        f.conditions
            .insert(format!("the S3 Bucket Key setting ({})", k.cx.describe()));
    }
    Some(f)
}

/// The surer of two ways to the same access; the first (the policies') on a tie.
fn best_of(a: Option<Found>, b: Option<Found>) -> Option<Found> {
    match (a, b) {
        (Some(a), Some(b)) if b.level > a.level => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// Whether a grantee (as ListGrants names it) is `s`: the same ARN, the same IAM user or role
/// whatever its path, the role of an assumed-role session (then only that session: returned as
/// the condition), an account's root by account, or the same service principal.
fn grantee_is(grantee: &str, s: &Subject) -> Option<Option<String>> {
    if grantee == s.id {
        return Some(None);
    }
    if let (Some(g), Some(x)) = (iam_identity(grantee), iam_identity(&s.id)) {
        if g == x {
            return Some(
                Arn::split(grantee)
                    .is_some_and(|a| a.resource_type() == Some("assumed-role"))
                    .then(|| format!("only the role session {grantee}")),
            );
        }
    }
    // `arn:<partition>:iam::<account>:root`: an account id belongs to one partition, so the
    // account alone says which root it is
    // (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>).
    let root_of = |a: &'_ str| {
        Arn::split(a)
            .filter(|a| a.service == "iam" && a.resource == "root" && !a.account.is_empty())
            .map(|a| a.account.to_string())
    };
    if matches!(
        s.kind,
        SubjectKind::AccountRoot | SubjectKind::ExternalAccount
    ) && root_of(grantee).is_some_and(|a| s.account.as_deref() == Some(a.as_str()))
    {
        return Some(None);
    }
    None
}

/// Whether an explicit Deny of the key policy or the caller's policies stops `action` on the
/// key for every request (`Err(())`), for some (`Ok(keys)`: the per-request keys it depends on),
/// or never (`Ok(empty)`): a grant allows only what no policy explicitly denies.
fn explicit_deny(
    caller: &Caller,
    k: &KeyCtx,
    action: &str,
    decisions: &mut usize,
) -> Result<BTreeSet<String>, ()> {
    let svc = caller.service;
    let boundary = caller.boundary.as_ref();
    let strict = PolicySet {
        identity: &caller.identity,
        resource: Some(&k.policy.strict),
        permission_boundary: boundary.map(|b| &b.strict),
        ..PolicySet::default()
    };
    let upper = PolicySet {
        identity: &caller.relaxed_identity,
        resource: Some(k.policy.relaxed(svc).0),
        permission_boundary: boundary.map(|b| b.relaxed(svc).0),
        ..PolicySet::default()
    };
    let caller_account = caller.account.clone().unwrap_or_default();
    let mut keys = BTreeSet::new();
    let mut always = true;
    for extra in k.cx.request_contexts(&caller_account) {
        let req = key_request(caller, k, action, &extra);
        *decisions += 1;
        let low = policy::evaluate(&req, &strict);
        if low.decision != Decision::ExplicitDeny {
            always = false;
            continue;
        }
        *decisions += 1;
        if policy::evaluate(&req, &upper).decision == Decision::ExplicitDeny {
            continue;
        }
        always = false;
        let mut originals: Vec<&Policy> = caller.identity.iter().collect();
        originals.push(&k.policy.strict);
        originals.extend(boundary.map(|b| &b.strict));
        unknown_keys(&originals, &low.deciding, svc, &mut keys);
        if keys.is_empty() {
            keys.insert(format!("the S3 Bucket Key setting ({})", k.cx.describe()));
        }
    }
    if always {
        Err(())
    } else {
        Ok(keys)
    }
}

/// What the key's grants give `s` for `action`: the surest grant naming it, conditional when
/// the grant has a constraint, names a role session, or an explicit Deny may apply. `caller`:
/// the subject's policies, for the Deny (`None` for subjects the engine cannot stand in for).
fn grant_access(
    s: &Subject,
    caller: Option<&Caller>,
    k: &KeyCtx,
    action: &str,
    decisions: &mut usize,
) -> Option<Found> {
    let mut best: Option<Found> = None;
    let mut deny: Option<Result<BTreeSet<String>, ()>> = None;
    for g in &k.grants {
        if !kms_grants::allows(g, action) {
            continue;
        }
        let Some(session) = kms_grants::grantees(g).find_map(|p| grantee_is(p, s)) else {
            continue;
        };
        let mut f = Found {
            level: Level::Yes,
            deciding: vec![kms_grants::reason(g)],
            conditions: BTreeSet::new(),
        };
        f.conditions.extend(kms_grants::constraint(g));
        f.conditions.extend(session);
        if let Some(c) = caller {
            match deny.get_or_insert_with(|| explicit_deny(c, k, action, decisions)) {
                Err(()) => return None,
                Ok(keys) => f.conditions.extend(keys.iter().cloned()),
            }
            // Policies that were not read may hold a Deny.
            f.conditions.extend(c.cap.iter().cloned());
        }
        if !f.conditions.is_empty() {
            f.level = Level::Conditional;
        }
        if best.as_ref().is_none_or(|b| f.level > b.level) {
            best = Some(f);
        }
    }
    best
}

/// A subject for every grantee of the buckets' keys that no principal of the spec's accounts
/// or of a policy already stands for: who a grant names can use the key whatever the policies
/// say of it, so it is listed even when nothing else names it.
fn grantee_subjects(spec: &Spec, buckets: &[BucketCtx], u: &mut Universe) {
    let grantees: BTreeSet<String> = buckets
        .iter()
        .filter_map(|b| b.key.as_ref())
        .flat_map(|k| k.grants.iter())
        .filter(|g| DECRYPT.iter().any(|a| kms_grants::allows(g, a)))
        .flat_map(|g| kms_grants::grantees(g).map(str::to_string))
        .collect();
    for g in grantees {
        if u.subjects
            .iter()
            .any(|d| grantee_is(&g, &d.subject).is_some())
        {
            continue;
        }
        let account = spec::arn_account(&g)
            .filter(|a| !a.is_empty())
            .map(str::to_string);
        let in_spec = account
            .as_deref()
            .is_some_and(|a| spec.account_alias_for_id(a).is_some());
        let kind = if !g.starts_with("arn:") {
            SubjectKind::Service
        } else if g.ends_with(":root") {
            if in_spec {
                SubjectKind::AccountRoot
            } else {
                SubjectKind::ExternalAccount
            }
        } else {
            match (iam_identity(&g), in_spec) {
                (Some((_, "user", _)), true) => SubjectKind::User,
                (Some((_, "role", _)), true) => SubjectKind::Role,
                _ => SubjectKind::ExternalPrincipal,
            }
        };
        u.add(SubjectData {
            subject: Subject {
                id: g,
                kind,
                account,
                trusted_services: vec![],
            },
            side: Side::GrantsOnly,
            trust: None,
        });
    }
}

// ------------------------------------------------------------------------------------------
// Becoming a role.

struct Edge {
    to: usize,
    hop: Hop,
}

/// Who a trust policy could let in at all, to avoid asking everyone about every role.
#[derive(Default)]
struct TrustNames {
    any: bool,
    accounts: BTreeSet<String>,
    principals: BTreeSet<(String, &'static str, String)>,
    services: BTreeSet<String>,
}

fn trust_names(p: &Policy) -> TrustNames {
    let mut t = TrustNames::default();
    for st in p.statements() {
        if st.effect() != Effect::Allow {
            continue;
        }
        let Some((negated, entries)) = st.principals() else {
            continue;
        };
        if negated {
            t.any = true;
        }
        for e in entries {
            match e {
                PrincipalEntry::Any => t.any = true,
                PrincipalEntry::Account(_) => {
                    t.accounts.extend(e.account_id().map(str::to_string));
                }
                PrincipalEntry::Arn(a) => {
                    t.principals.extend(iam_identity(a));
                }
                PrincipalEntry::Service(s) => {
                    t.services.insert(s.clone());
                }
                _ => {}
            }
        }
    }
    t
}

/// Whether a trust policy could let `s` in: it names everyone, the subject itself, or the
/// subject's account — the last only delegates to the account, so it needs the subject's own
/// permission (`may_assume`).
fn may_be_trusted(
    t: &TrustNames,
    s: &Subject,
    identity: Option<&(String, &'static str, String)>,
    may_assume: bool,
) -> bool {
    if t.any {
        return true;
    }
    if may_assume && s.account.as_ref().is_some_and(|a| t.accounts.contains(a)) {
        return true;
    }
    identity.is_some_and(|i| t.principals.contains(i))
}

fn to_hop(role: &str, how: String, f: Found) -> Hop {
    Hop {
        role: role.to_string(),
        how,
        level: f.level,
        deciding: f.deciding,
        conditions: f.conditions.into_iter().collect(),
    }
}

/// Every way one subject becomes a role: `sts:AssumeRole` through the role's trust policy, and
/// `iam:PassRole` of a same-account role to a service that role trusts.
fn edges_from(
    si: usize,
    subjects: &[SubjectData],
    trusts: &[(usize, TrustNames)],
    decisions: &mut usize,
) -> Vec<Edge> {
    let d = &subjects[si];
    let mut out = Vec::new();
    let caller = match &d.side {
        Side::Ask(c)
            if !matches!(
                d.subject.kind,
                SubjectKind::Anonymous | SubjectKind::Service
            ) =>
        {
            c
        }
        Side::GrantsOnly if d.subject.kind == SubjectKind::Federated => {
            // A web-identity or SAML federated user assumes roles with AssumeRoleWith*.
            for (ri, _) in trusts {
                let r = &subjects[*ri];
                if let Some(t) = &r.trust {
                    for action in ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"] {
                        if let Some(f) = grants_only(&d.subject, &t.strict, action, &r.subject.id) {
                            out.push(Edge {
                                to: *ri,
                                hop: to_hop(&r.subject.id, action.to_string(), f),
                            });
                            break;
                        }
                    }
                }
            }
            return out;
        }
        _ => return out,
    };
    // A trust policy that names only the caller's account (not the caller) lets in nobody whose
    // own policies allow no `sts:AssumeRole`; `iam:PassRole` is granted by identity policies
    // alone. Checking that first (actions only, so a superset) skips most questions.
    let empty = Context::new();
    let identity_allows = |action: &str| {
        caller.principal.ends_with(":root")
            || caller.relaxed_identity.iter().any(|p| {
                p.statements()
                    .iter()
                    .any(|st| st.effect() == Effect::Allow && action_matches(st, action, &empty))
            })
    };
    let may_assume = identity_allows("sts:AssumeRole");
    let may_pass = identity_allows("iam:PassRole");
    let identity = iam_identity(&d.subject.id);
    let mut req = Request {
        principal: caller.principal.clone(),
        principal_account: caller.account.clone(),
        action: "sts:AssumeRole".into(),
        resource: String::new(),
        resource_account: None,
        context: caller.ctx.clone(),
    };
    for (ri, names) in trusts {
        if *ri == si {
            continue;
        }
        let r = &subjects[*ri];
        let Some(trust) = &r.trust else { continue };
        if may_be_trusted(names, &d.subject, identity.as_ref(), may_assume) {
            req.resource.clone_from(&r.subject.id);
            req.resource_account.clone_from(&r.subject.account);
            let res = ResourceSide {
                policy: Some(trust),
                restrict_public_buckets: false,
            };
            if let Some(f) = decide(caller, &req, &res, decisions) {
                out.push(Edge {
                    to: *ri,
                    hop: to_hop(&r.subject.id, "sts:AssumeRole".into(), f),
                });
                continue;
            }
        }
        // Passing the role to a service it trusts: only within the role's account, and only
        // conditionally (the subject must also be able to make that service act with it).
        if !may_pass || names.services.is_empty() || r.subject.account != d.subject.account {
            continue;
        }
        for service in &names.services {
            let mut ctx = caller.ctx.clone();
            ctx.insert("iam:PassedToService", service.as_str());
            let pr = Request {
                principal: caller.principal.clone(),
                principal_account: caller.account.clone(),
                action: "iam:PassRole".into(),
                resource: r.subject.id.clone(),
                resource_account: r.subject.account.clone(),
                context: ctx,
            };
            let none = ResourceSide {
                policy: None,
                restrict_public_buckets: false,
            };
            if let Some(mut f) = decide(caller, &pr, &none, decisions) {
                f.level = Level::Conditional;
                f.conditions.insert(format!(
                    "the principal must also be able to have {service} act with the role (not evaluated)"
                ));
                out.push(Edge {
                    to: *ri,
                    hop: to_hop(&r.subject.id, format!("iam:PassRole to {service}"), f),
                });
                break;
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Putting it together.

/// Run `who-can` over the spec's buckets. Pure: reads the spec and the snapshot only.
pub fn analyze(spec: &Spec, snap: &Snapshot, opts: &Options) -> WhoCan {
    let at = snap.collected_at;
    let mut u = Universe {
        subjects: Vec::new(),
        index: HashMap::new(),
        errors: Vec::new(),
    };
    iam_subjects(spec, snap, &mut u);
    let mut errors = std::mem::take(&mut u.errors);
    let buckets = buckets(spec, snap, opts, &mut errors);
    // Anonymous callers: "Principal": "*" "grants access to all users, including anonymous
    // users" (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>).
    u.add(SubjectData {
        subject: Subject {
            id: "anonymous".into(),
            kind: SubjectKind::Anonymous,
            account: None,
            trusted_services: vec![],
        },
        side: Side::Ask(Box::new(Caller::new(
            "anonymous".into(),
            None,
            vec![],
            base_context(at),
        ))),
        trust: None,
    });
    let mut named: Vec<Policy> = Vec::new();
    for b in &buckets {
        named.extend(b.policy.iter().map(|p| p.strict.clone()));
        named.extend(b.key.iter().map(|k| k.policy.strict.clone()));
    }
    let trusts: Vec<Policy> = u
        .subjects
        .iter()
        .filter_map(|s| s.trust.as_ref().map(|t| t.strict.clone()))
        .collect();
    for p in named.iter().chain(trusts.iter()) {
        named_subjects(spec, p, at, &mut u);
    }
    grantee_subjects(spec, &buckets, &mut u);
    errors.append(&mut u.errors);
    let subjects = u.subjects;

    let actions: Vec<&'static str> = match &opts.action {
        Some(a) => vec![leak_action(a)],
        None => all_actions(),
    };

    // Trust policies, and the services each role trusts.
    let trust_list: Vec<(usize, TrustNames)> = subjects
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.trust.as_ref().map(|t| (i, trust_names(&t.strict))))
        .collect();
    let mut subjects = subjects;
    for (i, names) in &trust_list {
        subjects[*i].subject.trusted_services = names.services.iter().cloned().collect();
    }

    // Each subject's own access and its edges, on every core.
    let per: Vec<(Vec<Direct>, Vec<Edge>, usize)> = policy::cases::par_map(&subjects, |i, d| {
        let mut n = 0;
        let direct = direct_access(d, &buckets, &actions, &mut n);
        let edges = edges_from(i, &subjects, &trust_list, &mut n);
        (direct, edges, n)
    });
    let decisions = per.iter().map(|p| p.2).sum();

    // Inherit along chains, then share each distinct chain between the grants that take it.
    let inherited: Vec<Vec<(Grant, Steps)>> =
        policy::cases::par_map(&subjects, |si, _| inherit(si, &subjects, &buckets, &per));
    let mut chains: Vec<Vec<Hop>> = Vec::new();
    let mut chain_ids: HashMap<Vec<(usize, usize)>, usize> = HashMap::new();
    let mut grants = Vec::with_capacity(inherited.iter().map(Vec::len).sum());
    for (mut g, steps) in inherited.into_iter().flatten() {
        if !steps.is_empty() {
            let id = *chain_ids.entry(steps).or_insert_with_key(|steps| {
                chains.push(
                    steps
                        .iter()
                        .map(|(from, ei)| per[*from].1[*ei].hop.clone())
                        .collect(),
                );
                chains.len() - 1
            });
            g.chain = Some(id);
        }
        grants.push(g);
    }

    WhoCan {
        buckets: buckets.into_iter().map(|b| b.info).collect(),
        subjects: subjects.into_iter().map(|s| s.subject).collect(),
        grants,
        chains,
        errors,
        not_evaluated: vec![
            "AWS Organizations SCPs and RCPs: not read (no organisation profile); they can only remove access (\"SCPs do not grant permissions\", https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html), so a principal listed here may still be denied by them".into(),
            "VPC endpoint policies: not read; they can only restrict requests made through an endpoint (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html)".into(),
            "session policies: a session can only have less than its role (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session)".into(),
            "conditions on per-request values (source IP or VPC, MFA, request tags, s3:prefix, organisation membership, a service's aws:SourceAccount/aws:SourceArn) are not known from configuration: access that depends on them is listed as conditional, naming the keys".into(),
        ],
        decisions,
    }
}

/// Actions given on the command line live for the whole run; the table keys on `&'static str`.
fn leak_action(a: &str) -> &'static str {
    all_actions()
        .into_iter()
        .find(|x| x.eq_ignore_ascii_case(a))
        .unwrap_or_else(|| Box::leak(a.to_string().into_boxed_str()))
}

/// A role (or the subject itself, at position 0) reached from a subject.
struct Reached {
    node: usize,
    /// Position of the previous step in the reached list; `usize::MAX` for the subject.
    parent: usize,
    /// Index of the edge taken, in `per[parent node].1`.
    edge: usize,
    level: Level,
    depth: usize,
}

/// Every role a subject can become, with a shortest path among the surest: first breadth-first
/// over `yes` edges only, then over all edges for the roles that only conditional steps reach.
fn reach(si: usize, n: usize, per: &[(Vec<Direct>, Vec<Edge>, usize)]) -> Vec<Reached> {
    let mut out = vec![Reached {
        node: si,
        parent: usize::MAX,
        edge: usize::MAX,
        level: Level::Yes,
        depth: 0,
    }];
    if per[si].1.is_empty() {
        return out;
    }
    let mut position = vec![usize::MAX; n];
    position[si] = 0;
    for sure_only in [true, false] {
        let mut visited = vec![false; n];
        visited[si] = true;
        let mut queue: VecDeque<usize> = VecDeque::from([0]);
        while let Some(pos) = queue.pop_front() {
            let from = out[pos].node;
            for (ei, e) in per[from].1.iter().enumerate() {
                if visited[e.to] || (sure_only && e.hop.level != Level::Yes) {
                    continue;
                }
                visited[e.to] = true;
                if position[e.to] == usize::MAX {
                    position[e.to] = out.len();
                    out.push(Reached {
                        node: e.to,
                        parent: pos,
                        edge: ei,
                        level: out[pos].level.min(e.hop.level),
                        depth: out[pos].depth + 1,
                    });
                }
                queue.push_back(position[e.to]);
            }
        }
    }
    out
}

/// A chain as `(node, edge index)` steps: the edge `per[node].1[edge index]` of each role.
type Steps = Vec<(usize, usize)>;

/// The best grants of one subject, each with its chain.
fn inherit(
    si: usize,
    subjects: &[SubjectData],
    buckets: &[BucketCtx],
    per: &[(Vec<Direct>, Vec<Edge>, usize)],
) -> Vec<(Grant, Steps)> {
    let reached = reach(si, subjects.len(), per);
    // (bucket, action) -> (level, depth, reached position, direct index)
    let mut best: BTreeMap<(usize, &'static str), (Level, usize, usize, usize)> = BTreeMap::new();
    for (pos, r) in reached.iter().enumerate() {
        for (di, d) in per[r.node].0.iter().enumerate() {
            let level = r.level.min(d.found.level);
            let key = (d.bucket, d.action);
            let better = match best.get(&key) {
                None => true,
                Some((l, depth, _, _)) => level > *l || (level == *l && r.depth < *depth),
            };
            if better {
                best.insert(key, (level, r.depth, pos, di));
            }
        }
    }
    let subject = &subjects[si].subject;
    best.into_values()
        .map(|(level, _, pos, di)| {
            let d = &per[reached[pos].node].0[di];
            let mut steps = Vec::new();
            let mut p = pos;
            while reached[p].parent != usize::MAX {
                steps.push((reached[reached[p].parent].node, reached[p].edge));
                p = reached[p].parent;
            }
            steps.reverse();
            let mut conditions: BTreeSet<String> = d.found.conditions.clone();
            let mut via = Vec::with_capacity(steps.len());
            for (from, ei) in &steps {
                let hop = &per[*from].1[*ei].hop;
                conditions.extend(hop.conditions.iter().cloned());
                via.push(hop.role.clone());
            }
            let grant = Grant {
                subject: subject.id.clone(),
                bucket: buckets[d.bucket].info.alias.clone(),
                class: class_of(d.action),
                action: d.action.to_string(),
                resource: d.resource.clone(),
                level,
                deciding: d.found.deciding.clone(),
                conditions: conditions.into_iter().collect(),
                via,
                chain: None,
            };
            (grant, steps)
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Output.

/// One row per subject and bucket it can do anything on; one column per class (the actions,
/// `?` marking conditional ones) and the chain.
pub fn render_table(w: &WhoCan, action: Option<&str>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    let classes: Vec<AccessClass> = match action {
        Some(a) => class_of(a).into_iter().collect(),
        None => AccessClass::ALL.to_vec(),
    };
    let mut header = vec!["principal".to_string(), "kind".into(), "bucket".into()];
    match action {
        Some(a) if classes.is_empty() => header.push(a.to_string()),
        _ => header.extend(classes.iter().map(|c| c.to_string())),
    }
    header.push("via".into());
    t.set_header(header);
    let mut rows: BTreeMap<(String, String), Vec<&Grant>> = BTreeMap::new();
    for g in &w.grants {
        rows.entry((g.bucket.clone(), g.subject.clone()))
            .or_default()
            .push(g);
    }
    let kinds: HashMap<&str, &'static str> = w
        .subjects
        .iter()
        .map(|s| (s.id.as_str(), s.kind.as_str()))
        .collect();
    for ((bucket, subject), gs) in rows {
        let kind = kinds
            .get(subject.as_str())
            .copied()
            .unwrap_or_default()
            .to_string();
        let mut row = vec![subject.clone(), kind, bucket.clone()];
        let cell = |gs: &[&&Grant]| -> String {
            if gs.is_empty() {
                return "-".into();
            }
            let full = gs.iter().all(|g| g.level == Level::Yes)
                && gs.first().and_then(|g| g.class).is_some_and(|c| {
                    class_actions(c).len() == gs.len() && class_actions(c).len() > 1
                });
            if full {
                return "all".into();
            }
            gs.iter()
                .map(|g| {
                    let short = g.action.split_once(':').map_or(g.action.as_str(), |x| x.1);
                    match g.level {
                        Level::Yes => short.to_string(),
                        Level::Conditional => format!("{short}?"),
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        if classes.is_empty() {
            let all: Vec<&&Grant> = gs.iter().collect();
            row.push(cell(&all));
        } else {
            for c in &classes {
                let of: Vec<&&Grant> = gs.iter().filter(|g| g.class == Some(*c)).collect();
                row.push(cell(&of));
            }
        }
        // The chain, or the KMS grant, that gives the access; "own policies" otherwise.
        let mut vias: Vec<String> = gs
            .iter()
            .filter_map(|g| {
                if !g.via.is_empty() {
                    return Some(w.path(g));
                }
                g.deciding
                    .iter()
                    .find(|d| d.starts_with(kms_grants::REASON_PREFIX))
                    .cloned()
            })
            .collect();
        vias.sort();
        vias.dedup();
        row.push(if vias.is_empty() {
            "own policies".into()
        } else {
            vias.join("; ")
        });
        t.add_row(row);
    }
    let mut out = t.to_string();
    out.push_str("\n(? = conditional: allowed only when conditions on per-request values hold; see --output json)\n");
    if !w.errors.is_empty() {
        out.push_str("\nNOT EVALUATED, could grant access (the list above may be incomplete):\n");
        for e in &w.errors {
            out.push_str(&format!(
                "  - {}{}{}\n",
                e.bucket
                    .as_deref()
                    .map(|b| format!("[{b}] "))
                    .unwrap_or_default(),
                if e.classes.is_empty() {
                    String::new()
                } else {
                    format!(
                        "({}) ",
                        e.classes
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                e.reason
            ));
        }
    }
    out.push_str("\nNot evaluated, can only remove access:\n");
    for n in &w.not_evaluated {
        out.push_str(&format!("  - {n}\n"));
    }
    out
}

/// Offline fixtures: a two-account spec and a snapshot built in code, for this module's tests
/// and the `who-can` rule's.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::snapshot::*;
    use crate::spec::Spec;
    use std::collections::BTreeMap;

    pub const A: &str = "111111111111";
    pub const B: &str = "222222222222";

    const SPEC: &str = r#"
version = 1
name = "t"
[accounts.a]
account_id = "111111111111"
region = "ap-southeast-1"
[accounts.b]
account_id = "222222222222"
region = "ap-southeast-2"
[buckets.data]
name = "data-bucket"
account = "a"
region = "ap-southeast-1"
[principals.reader]
arn = "arn:aws:iam::222222222222:user/reader"
"#;

    pub fn spec(extra: &str) -> Spec {
        crate::spec::parse(std::path::Path::new("t.toml"), &format!("{SPEC}{extra}"))
            .unwrap_or_else(|e| panic!("{e}"))
            .spec
    }

    fn bpa_on() -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        }
    }

    /// Both accounts with no IAM principals; `data-bucket` in A, BucketOwnerEnforced, no policy.
    pub fn snapshot() -> Snapshot {
        let mut buckets = BTreeMap::new();
        buckets.insert(
            "data".to_string(),
            BucketState {
                alias: "data".into(),
                name: "data-bucket".into(),
                read_as: "a".into(),
                owned_by_expected_account: Fetched::ok(true),
                region: Fetched::ok("ap-southeast-1".into()),
                versioning: Fetched::ok("Enabled".into()),
                public_access_block: Fetched::ok(bpa_on()),
                ownership_controls: Fetched::ok("BucketOwnerEnforced".into()),
                policy: Fetched::absent("NoSuchBucketPolicy"),
                policy_is_public: Fetched::ok(false),
                encryption: Fetched::absent("none"),
                replication: Fetched::absent("none"),
                tags: Fetched::ok(BTreeMap::new()),
            },
        );
        let mut iam_accounts = BTreeMap::new();
        for (alias, id) in [("a", A), ("b", B)] {
            iam_accounts.insert(
                alias.to_string(),
                Fetched::ok(IamAccount {
                    account_id: id.into(),
                    ..IamAccount::default()
                }),
            );
        }
        Snapshot {
            schema_version: SCHEMA_VERSION,
            tool_version: "t".into(),
            collected_at: chrono::Utc::now(),
            spec_name: "t".into(),
            endpoint_url: None,
            accounts: BTreeMap::new(),
            buckets,
            principals: BTreeMap::new(),
            kms_keys: BTreeMap::new(),
            replication_metrics: BTreeMap::new(),
            iam_accounts,
        }
    }

    pub fn policy(statements: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
    }

    fn inline(policies: &[&str]) -> Vec<InlinePolicy> {
        policies
            .iter()
            .enumerate()
            .map(|(i, s)| InlinePolicy {
                name: format!("p{i}"),
                document: policy(s),
            })
            .collect()
    }

    fn account<'s>(snap: &'s mut Snapshot, alias: &str) -> &'s mut IamAccount {
        match snap.iam_accounts.get_mut(alias) {
            Some(Fetched::Ok { value }) => value,
            _ => panic!("account {alias} is not Ok"),
        }
    }

    pub fn add_user(snap: &mut Snapshot, alias: &str, name: &str, statements: &[&str]) -> String {
        let id = if alias == "a" { A } else { B };
        let arn = format!("arn:aws:iam::{id}:user/{name}");
        account(snap, alias).users.push(IamUser {
            arn: arn.clone(),
            name: name.into(),
            inline_policies: inline(statements),
            attached_policies: vec![],
            groups: vec![],
            permissions_boundary: None,
            tags: BTreeMap::new(),
        });
        arn
    }

    pub fn add_role(
        snap: &mut Snapshot,
        alias: &str,
        name: &str,
        trust: &str,
        statements: &[&str],
    ) -> String {
        let id = if alias == "a" { A } else { B };
        let arn = format!("arn:aws:iam::{id}:role/{name}");
        account(snap, alias).roles.push(IamRole {
            arn: arn.clone(),
            name: name.into(),
            trust_policy: Some(policy(trust)),
            inline_policies: inline(statements),
            attached_policies: vec![],
            permissions_boundary: None,
            tags: BTreeMap::new(),
        });
        arn
    }

    pub fn set_bucket_policy(snap: &mut Snapshot, statements: &str) {
        snap.buckets.get_mut("data").unwrap().policy = Fetched::ok(policy(statements));
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    const S3_ALL: &str = r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#;

    fn run(snap: &Snapshot) -> WhoCan {
        analyze(&spec(""), snap, &Options::default())
    }

    fn grant<'a>(w: &'a WhoCan, subject: &str, action: &str) -> Option<&'a Grant> {
        w.grants
            .iter()
            .find(|g| g.subject == subject && g.action == action)
    }

    /// A grant to an account's root written in another form than the subject's id (here the
    /// China partition's, where subjects are named `arn:aws:iam::<id>:root`) is still that
    /// root; it used to match nothing, as the account was read from the ARN cut short of its
    /// `:root`.
    #[test]
    fn a_grant_to_an_account_root_is_that_root_whatever_the_partition() {
        let root = Subject {
            id: root_arn("aws", "111122223333"),
            kind: SubjectKind::AccountRoot,
            account: Some("111122223333".into()),
            trusted_services: vec![],
        };
        assert_eq!(
            grantee_is("arn:aws-cn:iam::111122223333:root", &root),
            Some(None)
        );
        assert_eq!(grantee_is("arn:aws-cn:iam::444455556666:root", &root), None);
        assert_eq!(
            grantee_is("arn:aws-cn:iam::111122223333:user/root", &root),
            None
        );
    }

    /// In the China partition an account's root is `arn:aws-cn:iam::<id>:root`, in who-can's
    /// subjects and in the `aws:PrincipalArn` its policies' conditions compare: a bucket policy
    /// granting an outside account on condition of that ARN grants it (it granted nothing when
    /// roots were named `arn:aws:` whatever the partition).
    #[test]
    fn account_roots_are_named_in_their_partition() {
        let mut f = crate::rules::testkit::seed_in_china();
        let xyz = f.spec.accounts["xyz"].account_id.get_ref().clone();
        let root = format!("arn:aws-cn:iam::{xyz}:root");
        let w = analyze(&f.spec, &f.snap, &Options::default());
        assert!(
            w.subjects.iter().any(|s| s.id == root),
            "{:?}",
            w.subjects.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
        assert!(
            w.subjects.iter().all(|s| !s.id.starts_with("arn:aws:")),
            "{:?}",
            w.subjects.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
        // An outside account's root, named only by its id in a policy, is in the same partition.
        f.bucket("source").policy = crate::snapshot::Fetched::ok(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "999988887777"},
                "Action": "s3:ListBucket", "Resource": "arn:aws-cn:s3:::rubes-s3-bucket",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws-cn:iam::999988887777:root"}}}]})
            .to_string(),
        );
        let w = analyze(&f.spec, &f.snap, &Options::default());
        assert!(
            grant(&w, "arn:aws-cn:iam::999988887777:root", "s3:ListBucket").is_some(),
            "{:?} {:?}",
            w.subjects.iter().map(|s| &s.id).collect::<Vec<_>>(),
            w.errors
        );
    }

    #[test]
    fn a_user_inherits_what_a_role_it_can_assume_can_do_with_the_chain() {
        let mut snap = snapshot();
        let user = add_user(&mut snap, "a", "contractor", &[]);
        let role = add_role(
            &mut snap,
            "a",
            "support-admin",
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{user}"}},"Action":"sts:AssumeRole"}}"#
            ),
            &[S3_ALL],
        );
        let w = run(&snap);
        let own = grant(&w, &role, "s3:GetObject").expect("the role reads");
        assert!(own.via.is_empty() && own.level == Level::Yes, "{own:?}");
        let g = grant(&w, &user, "s3:GetObject").expect("the user reads through the role");
        assert_eq!(g.level, Level::Yes);
        assert_eq!(g.via, vec![role.clone()]);
        assert_eq!(w.chain(g)[0].role, role);
        assert_eq!(w.chain(g)[0].how, "sts:AssumeRole");
        assert!(
            g.deciding[0].contains("support-admin inline policy p0"),
            "{g:?}"
        );
        assert!(grant(&w, &user, "s3:PutBucketPolicy").is_some());
    }

    #[test]
    fn chains_are_followed_transitively_and_cycles_end() {
        let mut snap = snapshot();
        let user = add_user(&mut snap, "a", "u", &[]);
        let r1_arn = format!("arn:aws:iam::{A}:role/r1");
        let r2_arn = format!("arn:aws:iam::{A}:role/r2");
        add_role(
            &mut snap,
            "a",
            "r1",
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":["{user}","{r2_arn}"]}},"Action":"sts:AssumeRole"}}"#
            ),
            &[],
        );
        add_role(
            &mut snap,
            "a",
            "r2",
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{r1_arn}"}},"Action":"sts:AssumeRole"}}"#
            ),
            &[S3_ALL],
        );
        let w = run(&snap);
        let g = grant(&w, &user, "s3:ListBucket").expect("u -> r1 -> r2");
        assert_eq!(g.via, vec![r1_arn.clone(), r2_arn.clone()]);
        let hops: Vec<&str> = w.chain(g).iter().map(|h| h.role.as_str()).collect();
        assert_eq!(hops, vec![r1_arn.as_str(), r2_arn.as_str()]);
        // r1 reaches r2 directly; r2 -> r1 -> r2 is a cycle, not a longer path.
        assert_eq!(grant(&w, &r1_arn, "s3:ListBucket").unwrap().via.len(), 1);
    }

    #[test]
    fn across_accounts_the_caller_also_needs_sts_assume_role() {
        let mut snap = snapshot();
        let trust = format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"sts:AssumeRole"}}"#
        );
        add_role(&mut snap, "a", "shared", &trust, &[S3_ALL]);
        let without = add_user(&mut snap, "b", "without", &[]);
        let with = add_user(
            &mut snap,
            "b",
            "with",
            &[r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#],
        );
        let w = run(&snap);
        assert!(grant(&w, &without, "s3:GetObject").is_none());
        let g = grant(&w, &with, "s3:GetObject").expect("trusted account + permission");
        assert_eq!(g.via.len(), 1);
        assert!(
            w.chain(g)[0]
                .deciding
                .iter()
                .any(|d| d.contains("trust policy")),
            "{:?}",
            w.chain(g)
        );
    }

    #[test]
    fn conditions_on_request_values_make_access_conditional_and_are_named() {
        let mut snap = snapshot();
        let u = add_user(
            &mut snap,
            "a",
            "office",
            &[
                r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#,
            ],
        );
        // A Deny on a known key (who the caller is) stays exact.
        let v = add_user(&mut snap, "a", "vetoed", &[S3_ALL]);
        set_bucket_policy(
            &mut snap,
            &format!(
                r#"{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::data-bucket/*","Condition":{{"ArnEquals":{{"aws:PrincipalArn":"{v}"}}}}}},
                {{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::data-bucket/*","Condition":{{"StringNotEquals":{{"aws:SourceVpce":"vpce-1"}}}}}}"#
            ),
        );
        let w = run(&snap);
        let g = grant(&w, &u, "s3:GetObject").expect("from the office network");
        assert_eq!(g.level, Level::Conditional);
        assert_eq!(g.conditions, vec!["aws:SourceIp".to_string()]);
        assert!(grant(&w, &v, "s3:PutObject").is_none(), "denied by ARN: no");
        let d = grant(&w, &v, "s3:DeleteObject").expect("through the endpoint");
        assert_eq!(d.level, Level::Conditional);
        assert!(
            d.conditions.contains(&"aws:SourceVpce".to_string()),
            "{d:?}"
        );
        assert_eq!(grant(&w, &v, "s3:GetObject").unwrap().level, Level::Yes);
    }

    #[test]
    fn cross_account_needs_both_sides_and_outside_accounts_are_asked() {
        let mut snap = snapshot();
        let reader = add_user(
            &mut snap,
            "b",
            "reader",
            &[r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#],
        );
        let idle = add_user(&mut snap, "b", "idle", &[]);
        set_bucket_policy(
            &mut snap,
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":["{reader}","{idle}","333333333333"]}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::data-bucket/*"}}"#
            ),
        );
        let w = run(&snap);
        assert_eq!(
            grant(&w, &reader, "s3:GetObject").unwrap().level,
            Level::Yes
        );
        assert!(
            grant(&w, &idle, "s3:GetObject").is_none(),
            "no identity side"
        );
        let outside = "arn:aws:iam::333333333333:root";
        assert_eq!(
            w.subject(outside).map(|s| s.kind),
            Some(SubjectKind::ExternalAccount)
        );
        assert!(grant(&w, outside, "s3:GetObject").is_some());
        assert!(grant(&w, "anonymous", "s3:GetObject").is_none());
        // The bucket owner's root user can do everything.
        assert!(grant(&w, &format!("arn:aws:iam::{A}:root"), "s3:PutBucketPolicy").is_some());
    }

    #[test]
    fn passing_a_role_to_a_service_it_trusts_is_a_conditional_way_in() {
        let mut snap = snapshot();
        let role = add_role(
            &mut snap,
            "a",
            "worker",
            r#"{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
            &[S3_ALL],
        );
        let u = add_user(
            &mut snap,
            "a",
            "deployer",
            &[&format!(
                r#"{{"Effect":"Allow","Action":"iam:PassRole","Resource":"{role}","Condition":{{"StringEquals":{{"iam:PassedToService":"ec2.amazonaws.com"}}}}}}"#
            )],
        );
        let w = run(&snap);
        let g = grant(&w, &u, "s3:GetObject").expect("via the instance role");
        assert_eq!(g.level, Level::Conditional);
        assert_eq!(w.chain(g)[0].how, "iam:PassRole to ec2.amazonaws.com");
        assert_eq!(
            w.subject(&role).unwrap().trusted_services,
            vec!["ec2.amazonaws.com".to_string()]
        );
    }

    #[test]
    fn what_could_grant_and_was_not_read_is_an_unknown_not_nobody() {
        let mut snap = snapshot();
        snap.iam_accounts.insert(
            "b".into(),
            Fetched::unknown(
                "iam:GetAccountAuthorizationDetails",
                Some("AccessDenied".into()),
                "not authorized",
            ),
        );
        snap.buckets.get_mut("data").unwrap().ownership_controls =
            Fetched::ok("ObjectWriter".into());
        let w = run(&snap);
        let u = w.unknowns_for("data", AccessClass::Read);
        assert!(
            u.iter().any(|x| x
                .reason
                .contains("iam:GetAccountAuthorizationDetails failed: AccessDenied")),
            "{u:?}"
        );
        assert!(u.iter().any(|x| x.reason.contains("ACLs are enabled")));
        assert!(w
            .unknowns_for("data", AccessClass::Decrypt)
            .iter()
            .all(|x| !x.reason.contains("ACLs")));
        let mut snap = snapshot();
        snap.buckets.get_mut("data").unwrap().encryption = Fetched::unknown(
            "s3:GetBucketEncryption",
            Some("SlowDown".into()),
            "throttled",
        );
        let w = run(&snap);
        let d = w.unknowns_for("data", AccessClass::Decrypt);
        assert!(
            d.iter().any(|x| x
                .reason
                .contains("s3:GetBucketEncryption failed: SlowDown: throttled")),
            "{d:?}"
        );
        assert!(w.unknowns_for("data", AccessClass::Read).is_empty());
        let mut snap = snapshot();
        set_bucket_policy(
            &mut snap,
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"s3:DataAccessPointAccount":"111111111111"}}}"#,
        );
        let w = run(&snap);
        assert!(w
            .unknowns_for("data", AccessClass::Read)
            .iter()
            .any(|x| x.reason.contains("access points")));
    }

    #[test]
    fn a_broken_policy_makes_its_principal_unknown() {
        let mut snap = snapshot();
        add_user(&mut snap, "a", "broken", &[r#"{"Effect":"Allow""#]);
        let w = run(&snap);
        assert!(
            w.errors.iter().any(|e| e
                .reason
                .contains("cannot tell what arn:aws:iam::111111111111:user/broken can do")),
            "{:?}",
            w.errors
        );
    }

    #[test]
    fn kms_decrypt_follows_the_key_policy_and_the_s3_context() {
        let mut s = spec("");
        let key = "arn:aws:kms:ap-southeast-1:111111111111:key/k1";
        s.buckets.get_mut("data").unwrap().kms_key_arn =
            Some(toml::Spanned::new(0..0, key.to_string()));
        let mut snap = snapshot();
        snap.kms_keys.insert(
            key.into(),
            crate::snapshot::KmsKeyState {
                arn: key.into(),
                read_as: None,
                metadata: Fetched::absent("n/a"),
                grants: Fetched::ok(vec![]),
                key_policy: Fetched::ok(policy(&format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}},
                       {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:user/reader"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"s3.ap-southeast-1.amazonaws.com"}}}}}}"#
                ))),
            },
        );
        let reader = add_user(
            &mut snap,
            "b",
            "reader",
            &[r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#],
        );
        let local = add_user(
            &mut snap,
            "a",
            "local",
            &[r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#],
        );
        let none = add_user(&mut snap, "a", "none", &[]);
        let w = analyze(&s, &snap, &Options::default());
        assert_eq!(grant(&w, &reader, "kms:Decrypt").unwrap().level, Level::Yes);
        assert_eq!(grant(&w, &local, "kms:Decrypt").unwrap().level, Level::Yes);
        assert!(
            grant(&w, &none, "kms:Decrypt").is_none(),
            "root grant only enables IAM"
        );
    }

    #[test]
    fn confused_deputy_keys_are_absent_for_principals_and_unknown_for_services() {
        let mut snap = snapshot();
        // The replication-role shape with an extra account in the trust: the aws:SourceAccount
        // condition never holds for a principal's own AssumeRole call.
        add_role(
            &mut snap,
            "a",
            "replication",
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"Service":"s3.amazonaws.com","AWS":"arn:aws:iam::{B}:root"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:SourceAccount":"{A}"}}}}}}"#
            ),
            &[S3_ALL],
        );
        let b_admin = add_user(
            &mut snap,
            "b",
            "admin",
            &[r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#],
        );
        set_bucket_policy(
            &mut snap,
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"Service":"logs.amazonaws.com"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::data-bucket/*","Condition":{{"StringEquals":{{"aws:SourceAccount":"{A}"}}}}}}"#
            ),
        );
        let w = run(&snap);
        assert!(
            grant(&w, &b_admin, "s3:GetObject").is_none(),
            "{:?}",
            grant(&w, &b_admin, "s3:GetObject")
        );
        let g =
            grant(&w, "logs.amazonaws.com", "s3:PutObject").expect("the service, for account A");
        assert_eq!(g.level, Level::Conditional);
        assert_eq!(g.conditions, vec!["aws:SourceAccount".to_string()]);
    }

    const KEY: &str = "arn:aws:kms:ap-southeast-1:111111111111:key/k1";

    /// `data` encrypted with KEY, whose policy enables IAM in account A only, with `grants`.
    fn with_key(grants: Fetched<Vec<KmsGrant>>, extra_statements: &str) -> (Spec, Snapshot) {
        let mut s = spec("");
        s.buckets.get_mut("data").unwrap().kms_key_arn =
            Some(toml::Spanned::new(0..0, KEY.to_string()));
        let mut snap = snapshot();
        snap.kms_keys.insert(
            KEY.into(),
            crate::snapshot::KmsKeyState {
                arn: KEY.into(),
                read_as: Some("a".into()),
                metadata: Fetched::absent("n/a"),
                key_policy: Fetched::ok(policy(&format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}}{extra_statements}"#
                ))),
                grants,
            },
        );
        (s, snap)
    }

    fn decrypt_grant(id: &str, grantee: &str) -> KmsGrant {
        KmsGrant {
            grant_id: id.into(),
            key_id: Some(KEY.into()),
            grantee_principal: Some(grantee.into()),
            operations: vec!["Decrypt".into(), "GenerateDataKey".into()],
            ..KmsGrant::default()
        }
    }

    #[test]
    fn a_kms_grant_gives_its_grantee_decrypt_with_the_grant_as_reason() {
        let outsider = format!("arn:aws:iam::{B}:user/outsider");
        let stranger = "arn:aws:iam::333333333333:role/stranger";
        let (s, mut snap) = with_key(
            Fetched::ok(vec![
                decrypt_grant("g-outsider", &outsider),
                decrypt_grant("g-stranger", stranger),
            ]),
            "",
        );
        add_user(&mut snap, "b", "outsider", &[]);
        let w = analyze(&s, &snap, &Options::default());
        let g = grant(&w, &outsider, "kms:Decrypt").expect("the grantee can decrypt");
        assert_eq!(g.level, Level::Yes, "{g:?}");
        assert_eq!(g.deciding, vec!["KMS grant g-outsider".to_string()]);
        assert_eq!(g.resource, KEY);
        // A grantee no policy names and no spec account holds is listed all the same.
        let x = grant(&w, stranger, "kms:Decrypt").expect("the outside grantee is listed");
        assert_eq!(x.deciding, vec!["KMS grant g-stranger".to_string()]);
        assert_eq!(
            w.subject(stranger).map(|s| s.kind),
            Some(SubjectKind::ExternalPrincipal)
        );
        let table = render_table(&w, None);
        assert!(table.contains("KMS grant g-outsider"), "{table}");
        // Grants give only their operations on their key: nothing on S3.
        assert!(grant(&w, &outsider, "s3:GetObject").is_none());
    }

    #[test]
    fn a_grant_constraint_is_a_condition_and_the_retiring_principal_gets_nothing() {
        let constrained = format!("arn:aws:iam::{B}:user/constrained");
        let retiring = format!("arn:aws:iam::{B}:user/retiring");
        let mut g = decrypt_grant("g-ctx", &constrained);
        g.encryption_context_subset = Some(BTreeMap::from([(
            "aws:s3:arn".to_string(),
            "arn:aws:s3:::data-bucket/reports/".to_string(),
        )]));
        let mut r = decrypt_grant("g-ret", &format!("arn:aws:iam::{B}:user/someone-else"));
        r.retiring_principal = Some(retiring.clone());
        let (s, mut snap) = with_key(Fetched::ok(vec![g, r]), "");
        add_user(&mut snap, "b", "constrained", &[]);
        add_user(&mut snap, "b", "retiring", &[]);
        let w = analyze(&s, &snap, &Options::default());
        let c = grant(&w, &constrained, "kms:Decrypt").expect("conditional");
        assert_eq!(c.level, Level::Conditional);
        assert!(
            c.conditions.iter().any(|x| x.contains(
                "EncryptionContextSubset {aws:s3:arn=arn:aws:s3:::data-bucket/reports/}"
            )),
            "{c:?}"
        );
        assert!(
            grant(&w, &retiring, "kms:Decrypt").is_none(),
            "a retiring principal may retire the grant, not use it"
        );
    }

    #[test]
    fn an_explicit_deny_in_the_key_policy_wins_over_a_grant() {
        let denied = format!("arn:aws:iam::{B}:user/denied");
        let (s, mut snap) = with_key(
            Fetched::ok(vec![decrypt_grant("g-denied", &denied)]),
            &format!(
                r#",{{"Effect":"Deny","Principal":{{"AWS":"{denied}"}},"Action":"kms:Decrypt","Resource":"*"}}"#
            ),
        );
        add_user(&mut snap, "b", "denied", &[]);
        let w = analyze(&s, &snap, &Options::default());
        assert!(grant(&w, &denied, "kms:Decrypt").is_none());
    }

    #[test]
    fn grants_that_were_not_listed_are_an_unknown_for_decrypt_never_nobody() {
        for grants in [
            Fetched::unknown(
                "kms:ListGrants",
                Some("AccessDeniedException".into()),
                "not authorized",
            ),
            Fetched::unknown("snapshot", None, "not collected in this snapshot"),
        ] {
            let (s, snap) = with_key(grants, "");
            let w = analyze(&s, &snap, &Options::default());
            let d = w.unknowns_for("data", AccessClass::Decrypt);
            assert!(
                d.iter().any(|x| x
                    .reason
                    .starts_with(&format!("KMS grants of key {KEY} were not listed"))),
                "{d:?}"
            );
            assert!(w.unknowns_for("data", AccessClass::Read).is_empty());
        }
    }

    #[test]
    fn options_are_checked_against_the_spec() {
        let s = spec("");
        assert!(Options {
            bucket: Some("nope".into()),
            action: None
        }
        .check(&s)
        .unwrap_err()
        .to_string()
        .contains("known: data"));
        assert!(Options {
            bucket: None,
            action: Some("ec2:RunInstances".into())
        }
        .check(&s)
        .is_err());
        assert!(Options {
            bucket: Some("data".into()),
            action: Some("s3:GetObjectTagging".into())
        }
        .check(&s)
        .is_ok());
    }
}
