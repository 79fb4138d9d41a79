//! Writing a change to AWS (`fix --apply`, `fix --rollback`): the one place replaudit writes.
//!
//! Every change is written in three steps: (1) an optimistic lock — the resource's document is
//! read again and must be the one the plan was made from (for a rollback: the one apply wrote),
//! else nothing is written; (2) the write, the request of [`super::Change`] parsed by the same
//! shapes `what-if` reads ([`super::aws_shape`]); (3) a read-back that the document is now the
//! one written. Documents are compared as JSON values (S3 and IAM may re-serialise a policy),
//! configurations through the snapshot types (one conversion each way).
//!
//! Every call goes through [`Clients::run`], so the per-account limiter applies; a failed call
//! is a [`CallError`] named by the IAM permission it needs
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>,
//! <https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html>,
//! <https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html>),
//! so an AccessDenied says which permission of the fixer policy is missing.

use super::aws_shape::{
    EncryptionConfigJson, OwnershipControlsJson, PublicAccessBlockJson,
    ReplicationConfigurationJson, RuleJson, VersioningJson,
};
use super::{Change, Request};
use crate::aws::limit::Service;
use crate::aws::CallError;
use crate::aws::Clients;
use crate::snapshot::{EncryptionRule, ReplicationConfiguration};
use crate::spec::Spec;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The one document a change writes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    BucketPolicy(String),
    Replication(String),
    Versioning(String),
    BucketPublicAccessBlock(String),
    AccountPublicAccessBlock(String),
    Encryption(String),
    Ownership(String),
    RoleInline(String, String),
    UserInline(String, String),
    Trust(String),
    KeyPolicy(String),
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::BucketPolicy(b) => write!(f, "the bucket policy of {b}"),
            Resource::Replication(b) => write!(f, "the replication configuration of {b}"),
            Resource::Versioning(b) => write!(f, "the versioning of {b}"),
            Resource::BucketPublicAccessBlock(b) => write!(f, "the Block Public Access of {b}"),
            Resource::AccountPublicAccessBlock(a) => {
                write!(f, "the Block Public Access of account {a}")
            }
            Resource::Encryption(b) => write!(f, "the default encryption of {b}"),
            Resource::Ownership(b) => write!(f, "the object ownership of {b}"),
            Resource::RoleInline(r, p) => write!(f, "the inline policy {p} of role {r}"),
            Resource::UserInline(u, p) => write!(f, "the inline policy {p} of user {u}"),
            Resource::Trust(r) => write!(f, "the trust policy of role {r}"),
            Resource::KeyPolicy(k) => write!(f, "the key policy of {k}"),
        }
    }
}

/// A resource's document, normalised for comparison; `None`: there is none (no bucket policy,
/// no replication configuration, a bucket never versioned).
pub type Doc = Option<Value>;

/// Why a change was not written, or did not take.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The request cannot be sent (not a request replaudit writes, a name the spec lacks).
    #[error("{operation}: {message}")]
    Invalid { operation: String, message: String },
    /// The optimistic lock: the document is not the one the plan was made from.
    #[error("{resource} changed since {since} (expected {expected}, found {found})")]
    Changed {
        resource: String,
        since: &'static str,
        expected: String,
        found: String,
    },
    /// AWS refused or did not answer.
    #[error("{resource}: {}", .error.describe())]
    Call { resource: String, error: CallError },
    /// The write was accepted but reading it back shows something else.
    #[error("{resource}: the write did not take (read back {found}, wrote {wrote})")]
    NotTaken {
        resource: String,
        wrote: String,
        found: String,
    },
}

/// Where a call goes: the spec account alias whose credentials make it, and the Region.
#[derive(Debug, Clone)]
struct Place {
    account: String,
    region: String,
}

/// What a change writes: the resource, the document it leaves, and where to send it.
pub struct Target {
    pub resource: Resource,
    pub after: Doc,
    place: Place,
    request: Request,
}

fn invalid(c: &Change, message: impl Into<String>) -> WriteError {
    WriteError::Invalid {
        operation: c.operation.clone(),
        message: message.into(),
    }
}

/// A policy document as a JSON value (the text if it is not JSON, so it still compares).
fn policy_doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn replication_doc(c: &ReplicationConfiguration) -> Value {
    serde_json::to_value(ReplicationConfigurationJson::from(c)).expect("serialisable")
}

/// Default encryption, normalised: DeleteBucketEncryption leaves SSE-S3
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketEncryption.html>), so no
/// configuration and SSE-S3 without a bucket key are the same state.
fn encryption_doc(rules: &[EncryptionRule]) -> Value {
    let rules: Vec<Value> = if rules.is_empty() {
        vec![json!(["AES256", null, false])]
    } else {
        rules
            .iter()
            .map(|r| {
                json!([
                    r.sse_algorithm,
                    r.kms_master_key_id,
                    r.bucket_key_enabled.unwrap_or(false)
                ])
            })
            .collect()
    };
    Value::Array(rules)
}

fn show(d: &Doc) -> String {
    match d {
        None => "none".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The spec account alias of `account` (an alias or an account id).
fn alias_of(spec: &Spec, account: &str) -> Option<String> {
    if spec.accounts.contains_key(account) {
        return Some(account.to_string());
    }
    spec.account_alias_for_id(account).map(str::to_string)
}

fn home(spec: &Spec, alias: &str) -> Place {
    Place {
        account: alias.to_string(),
        region: spec.accounts[alias].region.get_ref().clone(),
    }
}

fn bucket_place(spec: &Spec, c: &Change, name: &str) -> Result<Place, WriteError> {
    let b = spec
        .buckets
        .values()
        .find(|b| b.name.get_ref() == name)
        .ok_or_else(|| invalid(c, format!("bucket {name} is not in the spec")))?;
    Ok(Place {
        account: b.account.get_ref().clone(),
        region: b.region.get_ref().clone(),
    })
}

/// The account of an IAM user or role: the change's `account`, else the one account whose
/// user or role of that name the spec names (a replication role or a principal).
fn iam_place(spec: &Spec, c: &Change, kind: &str, name: &str) -> Result<Place, WriteError> {
    if let Some(a) = &c.account {
        let alias = alias_of(spec, a)
            .ok_or_else(|| invalid(c, format!("account {a} is not in the spec")))?;
        return Ok(home(spec, &alias));
    }
    let mut accounts: Vec<String> = spec
        .principal_arns()
        .into_iter()
        .chain(spec.replication.iter().map(|r| r.role.get_ref().clone()))
        .filter(|arn| {
            let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
            resource
                .split_once('/')
                .is_some_and(|(k, rest)| k == kind && rest.rsplit('/').next() == Some(name))
        })
        .filter_map(|arn| crate::spec::arn_account(&arn).map(str::to_string))
        .collect();
    accounts.sort();
    accounts.dedup();
    match accounts.as_slice() {
        [one] => {
            let alias = alias_of(spec, one).ok_or_else(|| {
                invalid(
                    c,
                    format!("{kind} {name} is in account {one}, which the spec does not have"),
                )
            })?;
            Ok(home(spec, &alias))
        }
        [] => Err(invalid(
            c,
            format!("{kind} {name} is not named by the spec: say which account with \"account\""),
        )),
        _ => Err(invalid(
            c,
            format!("{kind} {name} is in several accounts: say which with \"account\""),
        )),
    }
}

/// What `c` writes and where. Pure: parses the request with the shapes `what-if` uses.
pub fn target(spec: &Spec, c: &Change) -> Result<Target, WriteError> {
    let request: Request = serde_json::from_value(json!({
        "operation": c.operation,
        "request": c.request,
    }))
    .map_err(|e| invalid(c, format!("not a request replaudit writes: {e}")))?;
    let bucket = |name: &str, resource: Resource, after: Doc| -> Result<_, WriteError> {
        Ok((resource, after, bucket_place(spec, c, name)?))
    };
    let (resource, after, place) = match &request {
        Request::PutBucketPolicy(r) => {
            let text = match &r.policy {
                super::Document::Text(t) => t.clone(),
                super::Document::Object(o) => Value::Object(o.clone()).to_string(),
            };
            bucket(
                &r.bucket,
                Resource::BucketPolicy(r.bucket.clone()),
                Some(policy_doc(&text)),
            )?
        }
        Request::DeleteBucketPolicy(r) => {
            bucket(&r.bucket, Resource::BucketPolicy(r.bucket.clone()), None)?
        }
        Request::PutBucketReplication(r) => bucket(
            &r.bucket,
            Resource::Replication(r.bucket.clone()),
            Some(replication_doc(&ReplicationConfiguration::from(
                &r.replication_configuration,
            ))),
        )?,
        Request::DeleteBucketReplication(r) => {
            bucket(&r.bucket, Resource::Replication(r.bucket.clone()), None)?
        }
        Request::PutBucketVersioning(r) => bucket(
            &r.bucket,
            Resource::Versioning(r.bucket.clone()),
            Some(Value::String(r.versioning_configuration.status.clone())),
        )?,
        Request::PutPublicAccessBlock(r) => {
            let doc = Some(
                serde_json::to_value(r.public_access_block_configuration).expect("serialisable"),
            );
            match (&r.bucket, &r.account_id) {
                (Some(b), None) => bucket(b, Resource::BucketPublicAccessBlock(b.clone()), doc)?,
                (None, Some(id)) => account_pab(spec, c, id, doc)?,
                _ => return Err(invalid(c, "give Bucket or AccountId, not both")),
            }
        }
        Request::DeletePublicAccessBlock(r) => match (&r.bucket, &r.account_id) {
            (Some(b), None) => bucket(b, Resource::BucketPublicAccessBlock(b.clone()), None)?,
            (None, Some(id)) => account_pab(spec, c, id, None)?,
            _ => return Err(invalid(c, "give Bucket or AccountId, not both")),
        },
        Request::DeleteBucketEncryption(r) => bucket(
            &r.bucket,
            Resource::Encryption(r.bucket.clone()),
            Some(encryption_doc(&[])),
        )?,
        Request::PutBucketEncryption(r) => {
            let rules: Vec<EncryptionRule> = (&r.server_side_encryption_configuration).into();
            bucket(
                &r.bucket,
                Resource::Encryption(r.bucket.clone()),
                Some(encryption_doc(&rules)),
            )?
        }
        Request::DeleteBucketOwnershipControls(r) => {
            bucket(&r.bucket, Resource::Ownership(r.bucket.clone()), None)?
        }
        Request::PutBucketOwnershipControls(r) => {
            let [rule] = r.ownership_controls.rules.as_slice() else {
                return Err(invalid(c, "OwnershipControls takes exactly one rule"));
            };
            bucket(
                &r.bucket,
                Resource::Ownership(r.bucket.clone()),
                Some(Value::String(rule.object_ownership.clone())),
            )?
        }
        Request::PutRolePolicy(r) => (
            Resource::RoleInline(r.role_name.clone(), r.policy_name.clone()),
            Some(policy_doc(&doc_text(&r.policy_document))),
            iam_place(spec, c, "role", &r.role_name)?,
        ),
        Request::DeleteRolePolicy(r) => (
            Resource::RoleInline(r.role_name.clone(), r.policy_name.clone()),
            None,
            iam_place(spec, c, "role", &r.role_name)?,
        ),
        Request::PutUserPolicy(r) => (
            Resource::UserInline(r.user_name.clone(), r.policy_name.clone()),
            Some(policy_doc(&doc_text(&r.policy_document))),
            iam_place(spec, c, "user", &r.user_name)?,
        ),
        Request::DeleteUserPolicy(r) => (
            Resource::UserInline(r.user_name.clone(), r.policy_name.clone()),
            None,
            iam_place(spec, c, "user", &r.user_name)?,
        ),
        Request::UpdateAssumeRolePolicy(r) => (
            Resource::Trust(r.role_name.clone()),
            Some(policy_doc(&doc_text(&r.policy_document))),
            iam_place(spec, c, "role", &r.role_name)?,
        ),
        Request::PutKeyPolicy(r) => {
            // KeyId is a key id or key ARN; the ARN says the account and Region
            // (<https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html>).
            let place =
                match (
                    crate::spec::arn_account(&r.key_id),
                    crate::spec::arn_region(&r.key_id),
                ) {
                    (Some(acct), Some(region)) => Place {
                        account: alias_of(spec, acct).ok_or_else(|| {
                            invalid(
                                c,
                                format!("account {acct} of {} is not in the spec", r.key_id),
                            )
                        })?,
                        region: region.to_string(),
                    },
                    _ => match c.account.as_deref().and_then(|a| alias_of(spec, a)) {
                        Some(alias) => home(spec, &alias),
                        None => return Err(invalid(
                            c,
                            "a bare key id needs \"account\" (a spec account); or give the key ARN",
                        )),
                    },
                };
            (
                Resource::KeyPolicy(r.key_id.clone()),
                Some(policy_doc(&doc_text(&r.policy))),
                place,
            )
        }
    };
    Ok(Target {
        resource,
        after,
        place,
        request,
    })
}

fn doc_text(d: &super::Document) -> String {
    match d {
        super::Document::Text(t) => t.clone(),
        super::Document::Object(o) => Value::Object(o.clone()).to_string(),
    }
}

fn account_pab(
    spec: &Spec,
    c: &Change,
    id: &str,
    doc: Doc,
) -> Result<(Resource, Doc, Place), WriteError> {
    let alias =
        alias_of(spec, id).ok_or_else(|| invalid(c, format!("account {id} is not in the spec")))?;
    Ok((
        Resource::AccountPublicAccessBlock(id.to_string()),
        doc,
        home(spec, &alias),
    ))
}

/// Whether the document found is the one expected. Versioning cannot return to "never
/// versioned" (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html>), so a
/// rollback's `Suspended` stands for both a suspended and a never-versioned bucket; no
/// default encryption configuration is SSE-S3 (see [`encryption_doc`]).
pub fn same(resource: &Resource, expected: &Doc, found: &Doc) -> bool {
    match (resource, expected, found) {
        (Resource::Versioning(_), Some(Value::String(s)), None) => s == "Suspended",
        (Resource::Encryption(_), e, f) => {
            let d = Some(encryption_doc(&[]));
            e.as_ref().or(d.as_ref()) == f.as_ref().or(d.as_ref())
        }
        _ => expected == found,
    }
}

/// An SDK result, with the error codes that mean "there is none" as `None`.
fn absent_or<T, E>(
    call: &str,
    absent: &[&str],
    r: Result<T, SdkError<E, HttpResponse>>,
) -> Result<Option<T>, CallError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(o) => Ok(Some(o)),
        Err(e) => {
            let err = CallError::from_sdk(call, &e);
            match &err.code {
                Some(code) if absent.contains(&code.as_str()) => Ok(None),
                _ => Err(err),
            }
        }
    }
}

fn ok<T, E>(call: &str, r: Result<T, SdkError<E, HttpResponse>>) -> Result<T, CallError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    r.map_err(|e| CallError::from_sdk(call, &e))
}

/// The writer: a spec (which account owns what) and the clients of its accounts.
pub struct Writer<'a> {
    spec: &'a Spec,
    clients: &'a Clients,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(spec: &'a Spec, clients: &'a Clients) -> Writer<'a> {
        Writer { spec, clients }
    }

    async fn conf(&self, p: &Place) -> Result<aws_config::SdkConfig, CallError> {
        self.clients
            .config_in(self.spec, &p.account, &p.region)
            .await
            .ok_or_else(|| {
                CallError::local(
                    "credentials",
                    format!(
                        "the credentials of account {} cannot be used (see the set-up check)",
                        p.account
                    ),
                )
            })
    }

    /// The current document of what `t` writes.
    pub async fn read(&self, t: &Target) -> Result<Doc, WriteError> {
        self.read_doc(t).await.map_err(|error| WriteError::Call {
            resource: t.resource.to_string(),
            error,
        })
    }

    async fn read_doc(&self, t: &Target) -> Result<Doc, CallError> {
        let p = &t.place;
        let conf = self.conf(p).await?;
        let acct = p.account.as_str();
        let c = self.clients;
        match &t.resource {
            Resource::BucketPolicy(b)
            | Resource::Replication(b)
            | Resource::Versioning(b)
            | Resource::BucketPublicAccessBlock(b)
            | Resource::Encryption(b)
            | Resource::Ownership(b) => {
                let s3 = c.client::<aws_sdk_s3::Client>(acct, &conf);
                let s = Service::S3;
                Ok(match &t.resource {
                    Resource::BucketPolicy(_) => absent_or(
                        "s3:GetBucketPolicy",
                        &["NoSuchBucketPolicy"],
                        c.run(acct, s, s3.get_bucket_policy().bucket(b).send())
                            .await,
                    )?
                    .map(|o| policy_doc(o.policy().unwrap_or_default())),
                    Resource::Replication(_) => absent_or(
                        "s3:GetReplicationConfiguration",
                        &["ReplicationConfigurationNotFoundError"],
                        c.run(acct, s, s3.get_bucket_replication().bucket(b).send())
                            .await,
                    )?
                    .and_then(|o| {
                        o.replication_configuration()
                            .map(crate::collect::s3::convert_replication)
                    })
                    .map(|r| replication_doc(&r)),
                    Resource::Versioning(_) => ok(
                        "s3:GetBucketVersioning",
                        c.run(acct, s, s3.get_bucket_versioning().bucket(b).send())
                            .await,
                    )?
                    .status()
                    .map(|s| Value::String(s.as_str().to_string())),
                    Resource::BucketPublicAccessBlock(_) => absent_or(
                        "s3:GetBucketPublicAccessBlock",
                        &["NoSuchPublicAccessBlockConfiguration"],
                        c.run(acct, s, s3.get_public_access_block().bucket(b).send())
                            .await,
                    )?
                    .map(|o| {
                        let g = o.public_access_block_configuration();
                        serde_json::to_value(PublicAccessBlockJson {
                            block_public_acls: g
                                .and_then(|g| g.block_public_acls())
                                .unwrap_or(false),
                            ignore_public_acls: g
                                .and_then(|g| g.ignore_public_acls())
                                .unwrap_or(false),
                            block_public_policy: g
                                .and_then(|g| g.block_public_policy())
                                .unwrap_or(false),
                            restrict_public_buckets: g
                                .and_then(|g| g.restrict_public_buckets())
                                .unwrap_or(false),
                        })
                        .expect("serialisable")
                    }),
                    Resource::Encryption(_) => absent_or(
                        "s3:GetEncryptionConfiguration",
                        &["ServerSideEncryptionConfigurationNotFoundError"],
                        c.run(acct, s, s3.get_bucket_encryption().bucket(b).send())
                            .await,
                    )?
                    .map(|o| {
                        let rules = crate::collect::s3::convert_encryption(&o);
                        encryption_doc(&rules)
                    }),
                    _ => absent_or(
                        "s3:GetBucketOwnershipControls",
                        &["OwnershipControlsNotFoundError"],
                        c.run(acct, s, s3.get_bucket_ownership_controls().bucket(b).send())
                            .await,
                    )?
                    .and_then(|o| {
                        o.ownership_controls()
                            .and_then(|c| c.rules().first())
                            .map(|r| Value::String(r.object_ownership().as_str().to_string()))
                    }),
                })
            }
            Resource::AccountPublicAccessBlock(id) => {
                let s3c = c.client::<aws_sdk_s3control::Client>(acct, &conf);
                Ok(absent_or(
                    "s3:GetAccountPublicAccessBlock",
                    &["NoSuchPublicAccessBlockConfiguration"],
                    c.run(
                        acct,
                        Service::S3Control,
                        s3c.get_public_access_block().account_id(id).send(),
                    )
                    .await,
                )?
                .map(|o| {
                    let g = o.public_access_block_configuration();
                    serde_json::to_value(PublicAccessBlockJson {
                        block_public_acls: g.and_then(|g| g.block_public_acls()).unwrap_or(false),
                        ignore_public_acls: g.and_then(|g| g.ignore_public_acls()).unwrap_or(false),
                        block_public_policy: g
                            .and_then(|g| g.block_public_policy())
                            .unwrap_or(false),
                        restrict_public_buckets: g
                            .and_then(|g| g.restrict_public_buckets())
                            .unwrap_or(false),
                    })
                    .expect("serialisable")
                }))
            }
            Resource::RoleInline(role, name) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                Ok(absent_or(
                    "iam:GetRolePolicy",
                    &["NoSuchEntity"],
                    c.run(
                        acct,
                        Service::Iam,
                        iam.get_role_policy()
                            .role_name(role)
                            .policy_name(name)
                            .send(),
                    )
                    .await,
                )?
                .map(|o| policy_doc(&crate::collect::iam::decode_policy(o.policy_document()))))
            }
            Resource::UserInline(user, name) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                Ok(absent_or(
                    "iam:GetUserPolicy",
                    &["NoSuchEntity"],
                    c.run(
                        acct,
                        Service::Iam,
                        iam.get_user_policy()
                            .user_name(user)
                            .policy_name(name)
                            .send(),
                    )
                    .await,
                )?
                .map(|o| policy_doc(&crate::collect::iam::decode_policy(o.policy_document()))))
            }
            Resource::Trust(role) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                let o = ok(
                    "iam:GetRole",
                    c.run(acct, Service::Iam, iam.get_role().role_name(role).send())
                        .await,
                )?;
                Ok(o.role()
                    .and_then(|r| r.assume_role_policy_document())
                    .map(|d| policy_doc(&crate::collect::iam::decode_policy(d))))
            }
            Resource::KeyPolicy(key) => {
                let kms = c.client::<aws_sdk_kms::Client>(acct, &conf);
                let o = ok(
                    "kms:GetKeyPolicy",
                    c.run(
                        acct,
                        Service::Kms,
                        kms.get_key_policy()
                            .key_id(key)
                            .policy_name("default")
                            .send(),
                    )
                    .await,
                )?;
                Ok(o.policy().map(policy_doc))
            }
        }
    }

    /// Lock, write, read back: `expected` is the document that must be there now, `since`
    /// says whence it came, for the lock's message.
    pub async fn write(
        &self,
        c: &Change,
        expected: &Doc,
        since: &'static str,
    ) -> Result<(), WriteError> {
        let t = target(self.spec, c)?;
        let resource = t.resource.to_string();
        let found = self.read(&t).await?;
        if !same(&t.resource, expected, &found) {
            return Err(WriteError::Changed {
                resource,
                since,
                expected: show(expected),
                found: show(&found),
            });
        }
        self.send(&t).await.map_err(|error| WriteError::Call {
            resource: resource.clone(),
            error,
        })?;
        let found = self.read(&t).await?;
        if !same(&t.resource, &t.after, &found) {
            return Err(WriteError::NotTaken {
                resource,
                wrote: show(&t.after),
                found: show(&found),
            });
        }
        Ok(())
    }

    async fn send(&self, t: &Target) -> Result<(), CallError> {
        let p = &t.place;
        let conf = self.conf(p).await?;
        let acct = p.account.as_str();
        let c = self.clients;
        let s3 = || c.client::<aws_sdk_s3::Client>(acct, &conf);
        let local = |call: &str, e: &dyn std::fmt::Display| CallError::local(call, e);
        use aws_sdk_s3::types as s3t;
        let pab = |j: &PublicAccessBlockJson| {
            s3t::PublicAccessBlockConfiguration::builder()
                .block_public_acls(j.block_public_acls)
                .ignore_public_acls(j.ignore_public_acls)
                .block_public_policy(j.block_public_policy)
                .restrict_public_buckets(j.restrict_public_buckets)
                .build()
        };
        let s = Service::S3;
        match &t.request {
            Request::PutBucketPolicy(r) => {
                let call = "s3:PutBucketPolicy";
                ok(
                    call,
                    c.run(
                        acct,
                        s,
                        s3().put_bucket_policy()
                            .bucket(&r.bucket)
                            .policy(doc_text(&r.policy))
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::DeleteBucketPolicy(r) => {
                ok(
                    "s3:DeleteBucketPolicy",
                    c.run(
                        acct,
                        s,
                        s3().delete_bucket_policy()
                            .bucket(&r.bucket)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutBucketReplication(r) => {
                let call = "s3:PutReplicationConfiguration";
                let conf =
                    sdk_replication(&r.replication_configuration).map_err(|e| local(call, &e))?;
                ok(
                    call,
                    c.run(
                        acct,
                        s,
                        s3().put_bucket_replication()
                            .bucket(&r.bucket)
                            .replication_configuration(conf)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::DeleteBucketReplication(r) => {
                // DeleteBucketReplication needs s3:PutReplicationConfiguration
                // (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketReplication.html>).
                ok(
                    "s3:PutReplicationConfiguration",
                    c.run(
                        acct,
                        s,
                        s3().delete_bucket_replication()
                            .bucket(&r.bucket)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutBucketVersioning(r) => {
                let VersioningJson { status, mfa_delete } = &r.versioning_configuration;
                let v = s3t::VersioningConfiguration::builder()
                    .status(s3t::BucketVersioningStatus::from(status.as_str()))
                    .set_mfa_delete(mfa_delete.as_deref().map(s3t::MfaDelete::from))
                    .build();
                ok(
                    "s3:PutBucketVersioning",
                    c.run(
                        acct,
                        s,
                        s3().put_bucket_versioning()
                            .bucket(&r.bucket)
                            .versioning_configuration(v)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutPublicAccessBlock(r) => match (&r.bucket, &r.account_id) {
                (Some(b), _) => {
                    ok(
                        "s3:PutBucketPublicAccessBlock",
                        c.run(
                            acct,
                            s,
                            s3().put_public_access_block()
                                .bucket(b)
                                .public_access_block_configuration(pab(
                                    &r.public_access_block_configuration
                                ))
                                .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                                .send(),
                        )
                        .await,
                    )?;
                }
                (None, id) => {
                    let j = &r.public_access_block_configuration;
                    let cfg = aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(j.block_public_acls)
                        .ignore_public_acls(j.ignore_public_acls)
                        .block_public_policy(j.block_public_policy)
                        .restrict_public_buckets(j.restrict_public_buckets)
                        .build();
                    ok(
                        "s3:PutAccountPublicAccessBlock",
                        c.run(
                            acct,
                            Service::S3Control,
                            c.client::<aws_sdk_s3control::Client>(acct, &conf)
                                .put_public_access_block()
                                .set_account_id(id.clone())
                                .public_access_block_configuration(cfg)
                                .send(),
                        )
                        .await,
                    )?;
                }
            },
            Request::DeletePublicAccessBlock(r) => match (&r.bucket, &r.account_id) {
                (Some(b), _) => {
                    ok(
                        "s3:PutBucketPublicAccessBlock",
                        c.run(
                            acct,
                            s,
                            s3().delete_public_access_block()
                                .bucket(b)
                                .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                                .send(),
                        )
                        .await,
                    )?;
                }
                (None, id) => {
                    ok(
                        "s3:PutAccountPublicAccessBlock",
                        c.run(
                            acct,
                            Service::S3Control,
                            c.client::<aws_sdk_s3control::Client>(acct, &conf)
                                .delete_public_access_block()
                                .set_account_id(id.clone())
                                .send(),
                        )
                        .await,
                    )?;
                }
            },
            Request::DeleteBucketEncryption(r) => {
                ok(
                    "s3:PutEncryptionConfiguration",
                    c.run(
                        acct,
                        s,
                        s3().delete_bucket_encryption()
                            .bucket(&r.bucket)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutBucketEncryption(r) => {
                let call = "s3:PutEncryptionConfiguration";
                let cfg = sdk_encryption(&r.server_side_encryption_configuration)
                    .map_err(|e| local(call, &e))?;
                ok(
                    call,
                    c.run(
                        acct,
                        s,
                        s3().put_bucket_encryption()
                            .bucket(&r.bucket)
                            .server_side_encryption_configuration(cfg)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::DeleteBucketOwnershipControls(r) => {
                ok(
                    "s3:PutBucketOwnershipControls",
                    c.run(
                        acct,
                        s,
                        s3().delete_bucket_ownership_controls()
                            .bucket(&r.bucket)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutBucketOwnershipControls(r) => {
                let call = "s3:PutBucketOwnershipControls";
                let cfg = sdk_ownership(&r.ownership_controls).map_err(|e| local(call, &e))?;
                ok(
                    call,
                    c.run(
                        acct,
                        s,
                        s3().put_bucket_ownership_controls()
                            .bucket(&r.bucket)
                            .ownership_controls(cfg)
                            .set_expected_bucket_owner(r.expected_bucket_owner.clone())
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutRolePolicy(r) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                ok(
                    "iam:PutRolePolicy",
                    c.run(
                        acct,
                        Service::Iam,
                        iam.put_role_policy()
                            .role_name(&r.role_name)
                            .policy_name(&r.policy_name)
                            .policy_document(doc_text(&r.policy_document))
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::DeleteRolePolicy(r) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                ok(
                    "iam:DeleteRolePolicy",
                    c.run(
                        acct,
                        Service::Iam,
                        iam.delete_role_policy()
                            .role_name(&r.role_name)
                            .policy_name(&r.policy_name)
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutUserPolicy(r) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                ok(
                    "iam:PutUserPolicy",
                    c.run(
                        acct,
                        Service::Iam,
                        iam.put_user_policy()
                            .user_name(&r.user_name)
                            .policy_name(&r.policy_name)
                            .policy_document(doc_text(&r.policy_document))
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::DeleteUserPolicy(r) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                ok(
                    "iam:DeleteUserPolicy",
                    c.run(
                        acct,
                        Service::Iam,
                        iam.delete_user_policy()
                            .user_name(&r.user_name)
                            .policy_name(&r.policy_name)
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::UpdateAssumeRolePolicy(r) => {
                let iam = c.client::<aws_sdk_iam::Client>(acct, &conf);
                ok(
                    "iam:UpdateAssumeRolePolicy",
                    c.run(
                        acct,
                        Service::Iam,
                        iam.update_assume_role_policy()
                            .role_name(&r.role_name)
                            .policy_document(doc_text(&r.policy_document))
                            .send(),
                    )
                    .await,
                )?;
            }
            Request::PutKeyPolicy(r) => {
                let kms = c.client::<aws_sdk_kms::Client>(acct, &conf);
                ok(
                    "kms:PutKeyPolicy",
                    c.run(
                        acct,
                        Service::Kms,
                        kms.put_key_policy()
                            .key_id(&r.key_id)
                            .policy_name(r.policy_name.as_deref().unwrap_or("default"))
                            .policy(doc_text(&r.policy))
                            .set_bypass_policy_lockout_safety_check(
                                r._bypass_policy_lockout_safety_check,
                            )
                            .send(),
                    )
                    .await,
                )?;
            }
        }
        Ok(())
    }
}

fn sdk_ownership(
    j: &OwnershipControlsJson,
) -> Result<aws_sdk_s3::types::OwnershipControls, aws_smithy_types::error::operation::BuildError> {
    use aws_sdk_s3::types as t;
    let rules = j
        .rules
        .iter()
        .map(|r| {
            t::OwnershipControlsRule::builder()
                .object_ownership(t::ObjectOwnership::from(r.object_ownership.as_str()))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    t::OwnershipControls::builder()
        .set_rules(Some(rules))
        .build()
}

fn sdk_encryption(
    j: &EncryptionConfigJson,
) -> Result<
    aws_sdk_s3::types::ServerSideEncryptionConfiguration,
    aws_smithy_types::error::operation::BuildError,
> {
    use aws_sdk_s3::types as t;
    let rules = j
        .rules
        .iter()
        .map(|r| {
            let d = r
                .apply_server_side_encryption_by_default
                .as_ref()
                .map(|d| {
                    t::ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(t::ServerSideEncryption::from(d.sse_algorithm.as_str()))
                        .set_kms_master_key_id(d.kms_master_key_id.clone())
                        .build()
                })
                .transpose()?;
            Ok(t::ServerSideEncryptionRule::builder()
                .set_apply_server_side_encryption_by_default(d)
                .set_bucket_key_enabled(r.bucket_key_enabled)
                .build())
        })
        .collect::<Result<Vec<_>, aws_smithy_types::error::operation::BuildError>>()?;
    t::ServerSideEncryptionConfiguration::builder()
        .set_rules(Some(rules))
        .build()
}

/// The SDK's `ReplicationConfiguration` of the request shape, member for member.
fn sdk_replication(
    j: &ReplicationConfigurationJson,
) -> Result<
    aws_sdk_s3::types::ReplicationConfiguration,
    aws_smithy_types::error::operation::BuildError,
> {
    use aws_sdk_s3::types as t;
    let rules = j
        .rules
        .iter()
        .map(sdk_rule)
        .collect::<Result<Vec<_>, _>>()?;
    t::ReplicationConfiguration::builder()
        .role(&j.role)
        .set_rules(Some(rules))
        .build()
}

fn sdk_rule(
    r: &RuleJson,
) -> Result<aws_sdk_s3::types::ReplicationRule, aws_smithy_types::error::operation::BuildError> {
    use aws_sdk_s3::types as t;
    let tag = |k: &super::aws_shape::TagJson| t::Tag::builder().key(&k.key).value(&k.value).build();
    let filter = match &r.filter {
        None => None,
        Some(f) => {
            let and = match &f.and {
                None => None,
                Some(a) => Some(
                    t::ReplicationRuleAndOperator::builder()
                        .set_prefix(a.prefix.clone())
                        .set_tags(Some(a.tags.iter().map(tag).collect::<Result<Vec<_>, _>>()?))
                        .build(),
                ),
            };
            Some(
                t::ReplicationRuleFilter::builder()
                    .set_prefix(f.prefix.clone())
                    .set_tag(f.tag.as_ref().map(tag).transpose()?)
                    .set_and(and)
                    .build(),
            )
        }
    };
    let sel = match &r.source_selection_criteria {
        None => None,
        Some(s) => Some(
            t::SourceSelectionCriteria::builder()
                .set_sse_kms_encrypted_objects(
                    s.sse_kms_encrypted_objects
                        .as_ref()
                        .map(|x| {
                            t::SseKmsEncryptedObjects::builder()
                                .status(t::SseKmsEncryptedObjectsStatus::from(x.status.as_str()))
                                .build()
                        })
                        .transpose()?,
                )
                .set_replica_modifications(
                    s.replica_modifications
                        .as_ref()
                        .map(|x| {
                            t::ReplicaModifications::builder()
                                .status(t::ReplicaModificationsStatus::from(x.status.as_str()))
                                .build()
                        })
                        .transpose()?,
                )
                .build(),
        ),
    };
    let d = &r.destination;
    let dest = t::Destination::builder()
        .bucket(&d.bucket)
        .set_account(d.account.clone())
        .set_storage_class(d.storage_class.as_deref().map(t::StorageClass::from))
        .set_access_control_translation(
            d.access_control_translation
                .as_ref()
                .map(|o| {
                    t::AccessControlTranslation::builder()
                        .owner(t::OwnerOverride::from(o.owner.as_str()))
                        .build()
                })
                .transpose()?,
        )
        .set_encryption_configuration(d.encryption_configuration.as_ref().map(|e| {
            t::EncryptionConfiguration::builder()
                .set_replica_kms_key_id(e.replica_kms_key_id.clone())
                .build()
        }))
        .set_replication_time(
            d.replication_time
                .as_ref()
                .map(|rt| {
                    t::ReplicationTime::builder()
                        .status(t::ReplicationTimeStatus::from(rt.status.as_str()))
                        .set_time(rt.time.as_ref().map(|m| {
                            t::ReplicationTimeValue::builder()
                                .minutes(m.minutes)
                                .build()
                        }))
                        .build()
                })
                .transpose()?,
        )
        .set_metrics(
            d.metrics
                .as_ref()
                .map(|m| {
                    t::Metrics::builder()
                        .status(t::MetricsStatus::from(m.status.as_str()))
                        .set_event_threshold(m.event_threshold.as_ref().map(|x| {
                            t::ReplicationTimeValue::builder()
                                .minutes(x.minutes)
                                .build()
                        }))
                        .build()
                })
                .transpose()?,
        )
        .build()?;
    #[allow(deprecated)]
    t::ReplicationRule::builder()
        .set_id(r.id.clone())
        .set_priority(r.priority)
        .set_prefix(r.prefix.clone())
        .set_filter(filter)
        .status(t::ReplicationRuleStatus::from(r.status.as_str()))
        .set_source_selection_criteria(sel)
        .set_existing_object_replication(
            r.existing_object_replication
                .as_ref()
                .map(|x| {
                    t::ExistingObjectReplication::builder()
                        .status(t::ExistingObjectReplicationStatus::from(x.status.as_str()))
                        .build()
                })
                .transpose()?,
        )
        .destination(dest)
        .set_delete_marker_replication(r.delete_marker_replication.as_ref().map(|x| {
            t::DeleteMarkerReplication::builder()
                .status(t::DeleteMarkerReplicationStatus::from(x.status.as_str()))
                .build()
        }))
        .build()
}

/// The documents a run expects to find before each write, by resource: filled from the
/// state a plan was made on, then moved on by each change written.
#[derive(Debug, Default, Clone)]
pub struct Expected(pub BTreeMap<Resource, Doc>);

impl Expected {
    /// From a rollback change set: each resource's undo, the last one for a resource (the undo
    /// of its first change) being the document the plan was made from.
    pub fn from_undo(spec: &Spec, undo: &[Change]) -> Result<Expected, WriteError> {
        let mut m = BTreeMap::new();
        for u in undo {
            let t = target(spec, u)?;
            m.insert(t.resource, t.after);
        }
        Ok(Expected(m))
    }

    /// From changes written: each resource's document after the last of them.
    pub fn from_written(spec: &Spec, written: &[Change]) -> Result<Expected, WriteError> {
        Self::from_undo(spec, written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::seed;

    fn change(operation: &str, request: Value) -> Change {
        Change {
            operation: operation.into(),
            account: None,
            request,
            description: None,
        }
    }

    /// Every operation the change set knows has a resource, a document and a place: the writer
    /// sends every one of them to the account that owns what it names.
    #[test]
    fn each_of_the_17_operations_names_its_resource_and_account() {
        let f = seed();
        let doc = json!({"Version": "2012-10-17", "Statement": []});
        let key =
            "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
        let pab = json!({"BlockPublicAcls": true});
        let cases = [
            (
                "PutBucketPolicy",
                json!({"Bucket": "clint-s3-bucket", "Policy": doc}),
                "abcd",
                Some(doc.clone()),
            ),
            (
                "DeleteBucketPolicy",
                json!({"Bucket": "clint-s3-bucket"}),
                "abcd",
                None,
            ),
            (
                "PutBucketReplication",
                json!({"Bucket": "rubes-s3-bucket", "ReplicationConfiguration": {"Role": "r", "Rules": [{"Status": "Enabled", "Filter": {"Prefix": ""}, "Destination": {"Bucket": "arn:aws:s3:::clint-s3-bucket"}}]}}),
                "xyz",
                None,
            ),
            (
                "DeleteBucketReplication",
                json!({"Bucket": "rubes-s3-bucket"}),
                "xyz",
                None,
            ),
            (
                "PutBucketVersioning",
                json!({"Bucket": "rubes-s3-bucket", "VersioningConfiguration": {"Status": "Enabled"}}),
                "xyz",
                Some(json!("Enabled")),
            ),
            (
                "PutPublicAccessBlock",
                json!({"Bucket": "rubes-s3-bucket", "PublicAccessBlockConfiguration": pab}),
                "xyz",
                None,
            ),
            (
                "PutPublicAccessBlock",
                json!({"AccountId": "271089868719", "PublicAccessBlockConfiguration": pab}),
                "abcd",
                None,
            ),
            (
                "DeletePublicAccessBlock",
                json!({"Bucket": "rubes-s3-bucket"}),
                "xyz",
                None,
            ),
            (
                "DeletePublicAccessBlock",
                json!({"AccountId": "111122223333"}),
                "xyz",
                None,
            ),
            (
                "DeleteBucketEncryption",
                json!({"Bucket": "rubes-s3-bucket"}),
                "xyz",
                None,
            ),
            (
                "PutBucketEncryption",
                json!({"Bucket": "rubes-s3-bucket", "ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}),
                "xyz",
                None,
            ),
            (
                "DeleteBucketOwnershipControls",
                json!({"Bucket": "rubes-s3-bucket"}),
                "xyz",
                None,
            ),
            (
                "PutBucketOwnershipControls",
                json!({"Bucket": "rubes-s3-bucket", "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}),
                "xyz",
                Some(json!("BucketOwnerEnforced")),
            ),
            (
                "PutRolePolicy",
                json!({"RoleName": "s3_replication_role", "PolicyName": "p", "PolicyDocument": doc.to_string()}),
                "xyz",
                Some(doc.clone()),
            ),
            (
                "DeleteRolePolicy",
                json!({"RoleName": "s3_replication_role", "PolicyName": "p"}),
                "xyz",
                None,
            ),
            (
                "PutUserPolicy",
                json!({"UserName": "tom-cruise", "PolicyName": "p", "PolicyDocument": doc}),
                "abcd",
                Some(doc.clone()),
            ),
            (
                "DeleteUserPolicy",
                json!({"UserName": "tom-cruise", "PolicyName": "p"}),
                "abcd",
                None,
            ),
            (
                "UpdateAssumeRolePolicy",
                json!({"RoleName": "s3_replication_role", "PolicyDocument": doc.to_string()}),
                "xyz",
                Some(doc.clone()),
            ),
            (
                "PutKeyPolicy",
                json!({"KeyId": key, "Policy": doc.to_string()}),
                "abcd",
                Some(doc.clone()),
            ),
        ];
        let mut ops = BTreeMap::new();
        for (op, request, account, after) in cases {
            let t = target(&f.spec, &change(op, request)).unwrap_or_else(|e| panic!("{op}: {e}"));
            assert_eq!(t.place.account, account, "{op}");
            if after.is_some() {
                assert_eq!(t.after, after, "{op}");
            }
            if op.starts_with("Delete") && op != "DeleteBucketEncryption" {
                assert_eq!(t.after, None, "{op} leaves nothing");
            }
            ops.insert(op, t.resource);
        }
        assert_eq!(ops.len(), 17, "{ops:?}");
        assert_eq!(
            ops["PutKeyPolicy"].to_string(),
            format!("the key policy of {key}")
        );
        assert_eq!(
            ops["UpdateAssumeRolePolicy"],
            Resource::Trust("s3_replication_role".into())
        );
    }

    #[test]
    fn what_the_spec_does_not_name_is_refused_before_any_call() {
        let f = seed();
        let cases = [
            (
                "PutBucketPolicy",
                json!({"Bucket": "not-ours", "Policy": "{}"}),
                "bucket not-ours is not in the spec",
            ),
            (
                "PutRolePolicy",
                json!({"RoleName": "nobody", "PolicyName": "p", "PolicyDocument": "{}"}),
                "role nobody is not named by the spec",
            ),
            (
                "PutKeyPolicy",
                json!({"KeyId": "1234", "Policy": "{}"}),
                "a bare key id needs \"account\"",
            ),
            (
                "PutBucketAcl",
                json!({"Bucket": "rubes-s3-bucket"}),
                "not a request replaudit writes",
            ),
            (
                "PutBucketVersioning",
                json!({"Bucket": "rubes-s3-bucket", "VersioningConfiguration": {"Status": "Enabled"}, "Typo": 1}),
                "Typo",
            ),
        ];
        for (op, request, want) in cases {
            let e = target(&f.spec, &change(op, request))
                .err()
                .unwrap_or_else(|| panic!("{op} accepted"));
            assert!(e.to_string().contains(want), "{op}: {e}");
        }
    }

    /// The lock's comparison: policies as JSON (S3 and IAM may re-serialise them), a rollback's
    /// `Suspended` also matching a never-versioned bucket, no default encryption being SSE-S3.
    #[test]
    fn the_lock_compares_documents_not_their_spelling() {
        let p = Resource::BucketPolicy("b".into());
        let a: Doc = Some(policy_doc(r#"{"Version":"2012-10-17","Statement":[]}"#));
        let b: Doc = Some(policy_doc(
            "{ \"Statement\": [],\n \"Version\": \"2012-10-17\" }",
        ));
        assert!(same(&p, &a, &b));
        assert!(!same(&p, &a, &None));
        assert!(!same(
            &p,
            &a,
            &Some(policy_doc(r#"{"Version":"2012-10-17","Statement":[{}]}"#))
        ));
        let v = Resource::Versioning("b".into());
        assert!(same(&v, &Some(json!("Suspended")), &None));
        assert!(!same(
            &v,
            &Some(json!("Suspended")),
            &Some(json!("Enabled"))
        ));
        assert!(!same(&v, &Some(json!("Enabled")), &None));
        let e = Resource::Encryption("b".into());
        assert!(same(&e, &None, &Some(encryption_doc(&[]))));
        let kms = encryption_doc(&[EncryptionRule {
            sse_algorithm: "aws:kms".into(),
            kms_master_key_id: Some("k".into()),
            bucket_key_enabled: Some(true),
        }]);
        assert!(!same(&e, &None, &Some(kms)));
    }

    /// Two changes to one document: the rollback's last undo (of the first change) is what the
    /// plan was made from.
    #[test]
    fn the_expected_document_is_the_last_undo_of_a_resource() {
        let f = seed();
        let undo = [
            change(
                "PutBucketPolicy",
                json!({"Bucket": "rubes-s3-bucket", "Policy": "{\"Statement\":[1]}"}),
            ),
            change("DeleteBucketPolicy", json!({"Bucket": "rubes-s3-bucket"})),
        ];
        let e = Expected::from_undo(&f.spec, &undo).unwrap();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[&Resource::BucketPolicy("rubes-s3-bucket".into())], None);
    }

    /// The SDK request carries every member of the request shape.
    #[test]
    fn the_replication_request_keeps_every_member() {
        let text = r#"{"Role":"arn:aws:iam::111122223333:role/r","Rules":[
            {"ID":"a","Priority":1,"Filter":{"Prefix":"reports/"},"Status":"Enabled",
             "SourceSelectionCriteria":{"SseKmsEncryptedObjects":{"Status":"Enabled"}},
             "DeleteMarkerReplication":{"Status":"Enabled"},
             "Destination":{"Bucket":"arn:aws:s3:::d","Account":"271089868719",
               "AccessControlTranslation":{"Owner":"Destination"},
               "EncryptionConfiguration":{"ReplicaKmsKeyID":"k"},
               "ReplicationTime":{"Status":"Enabled","Time":{"Minutes":15}},
               "Metrics":{"Status":"Enabled","EventThreshold":{"Minutes":15}}}}]}"#;
        let json: ReplicationConfigurationJson = serde_json::from_str(text).unwrap();
        let sdk = sdk_replication(&json).unwrap();
        let back = crate::collect::s3::convert_replication(&sdk);
        assert_eq!(ReplicationConfigurationJson::from(&back), json);
    }
}
