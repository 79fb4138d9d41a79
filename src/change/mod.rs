//! A proposed configuration change, as the AWS API requests that would make it, applied to a
//! copy of a snapshot in memory. `what-if` reads change sets; a fix plan writes them. The
//! request of each change is the one `aws <service> <operation> --cli-input-json` takes, so a
//! change set that passes here is the one an engineer deploys.
//!
//! A change set file (JSON) is one change, a list of changes, or `{"changes": [...]}`:
//!
//! ```json
//! {"changes": [
//!   {"operation": "PutBucketPolicy",
//!    "request": {"Bucket": "rubes-s3-bucket", "Policy": {"Version": "2012-10-17", "Statement": []}}},
//!   {"operation": "PutRolePolicy", "account": "xyz",
//!    "request": {"RoleName": "s3_replication_role", "PolicyName": "replication",
//!                "PolicyDocument": "{...}"}}
//! ]}
//! ```
//!
//! Policy documents may be JSON text (as the APIs take them) or a JSON object. `account` (a spec
//! account alias or id) is needed only when an IAM name or a bare KMS key id is ambiguous.
//! Applying refuses what AWS itself would refuse (a public bucket policy under
//! BlockPublicPolicy, replication on an unversioned bucket, a malformed policy): such a change
//! could not be deployed, so it proves nothing.

pub mod apply;
pub mod aws_shape;

use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

use crate::policy::Policy;
use crate::snapshot::{Fetched, InlinePolicy, NamedPolicy, ReplicationConfiguration, Snapshot};
use crate::spec::Spec;
use aws_shape::{
    EncryptionConfigJson, OwnershipControlsJson, PublicAccessBlockJson,
    ReplicationConfigurationJson, VersioningJson,
};

/// Why a change set cannot be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("cannot read the change set {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a change set ({source}); see docs/what-if.md for the format")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: the change set is empty")]
    Empty { path: String },
    /// The request does not name what the snapshot holds, or is not a valid request.
    #[error("change {index} ({operation}): {message}")]
    Invalid {
        index: usize,
        operation: String,
        message: String,
    },
    /// AWS would refuse the request: the change cannot be deployed as written.
    #[error("change {index} ({operation}): AWS would refuse it: {message}")]
    Refused {
        index: usize,
        operation: String,
        message: String,
    },
}

/// Why a request does not fit the snapshot (a bucket, principal or key the spec does not have,
/// a policy that does not parse): wrapped with the change's place by [`ChangeError`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unresolved(String);

impl From<Unresolved> for String {
    fn from(u: Unresolved) -> String {
        u.0
    }
}

/// One change as the file gives it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The AWS API operation (`PutBucketPolicy`, `PutRolePolicy`, `PutKeyPolicy`, ...).
    pub operation: String,
    /// Spec account alias or id whose credentials would make the call (IAM and KMS names are
    /// per account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The request, as `--cli-input-json` takes it.
    pub request: Value,
    /// Free text for people (a fix plan says what the change cures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Read a change set file.
pub fn load(path: &Path) -> Result<Vec<Change>, ChangeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ChangeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&path.display().to_string(), &text)
}

/// Parse a change set; `name` names it in errors.
pub fn parse(name: &str, text: &str) -> Result<Vec<Change>, ChangeError> {
    // Untagged enums hide the real cause; try the explicit forms first for a precise message.
    let v: Value = serde_json::from_str(text).map_err(|source| ChangeError::Parse {
        path: name.to_string(),
        source,
    })?;
    let changes = match v {
        Value::Object(ref m) if m.contains_key("changes") => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Set {
                changes: Vec<Change>,
            }
            serde_json::from_value::<Set>(v).map(|s| s.changes)
        }
        Value::Array(_) => serde_json::from_value::<Vec<Change>>(v),
        _ => serde_json::from_value::<Change>(v).map(|c| vec![c]),
    }
    .map_err(|source| ChangeError::Parse {
        path: name.to_string(),
        source,
    })?;
    if changes.is_empty() {
        return Err(ChangeError::Empty {
            path: name.to_string(),
        });
    }
    Ok(changes)
}

/// A policy document as the request carries it: JSON text, or (a convenience) the object.
#[derive(Deserialize)]
#[serde(untagged)]
enum Document {
    Text(String),
    Object(serde_json::Map<String, Value>),
}

impl Document {
    fn text(self) -> String {
        match self {
            Document::Text(t) => t,
            Document::Object(o) => Value::Object(o).to_string(),
        }
    }
}

/// The requests this module knows, by operation
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html>,
/// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html>,
/// <https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html>).
#[derive(Deserialize)]
#[serde(tag = "operation", content = "request")]
enum Request {
    PutBucketPolicy(PutBucketPolicy),
    DeleteBucketPolicy(BucketOnly),
    PutBucketReplication(PutBucketReplication),
    DeleteBucketReplication(BucketOnly),
    PutBucketVersioning(PutBucketVersioning),
    PutPublicAccessBlock(PutPublicAccessBlock),
    DeletePublicAccessBlock(DeletePublicAccessBlock),
    DeleteBucketEncryption(BucketOnly),
    DeleteBucketOwnershipControls(BucketOnly),
    PutBucketEncryption(PutBucketEncryption),
    PutBucketOwnershipControls(PutBucketOwnershipControls),
    PutRolePolicy(PutRolePolicy),
    DeleteRolePolicy(DeleteRolePolicy),
    PutUserPolicy(PutUserPolicy),
    DeleteUserPolicy(DeleteUserPolicy),
    UpdateAssumeRolePolicy(UpdateAssumeRolePolicy),
    PutKeyPolicy(PutKeyPolicy),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutBucketPolicy {
    bucket: String,
    policy: Document,
    #[serde(default, rename = "ConfirmRemoveSelfBucketAccess")]
    _confirm_remove_self_bucket_access: Option<bool>,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BucketOnly {
    bucket: String,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutBucketReplication {
    bucket: String,
    replication_configuration: ReplicationConfigurationJson,
    #[serde(default, rename = "Token")]
    _token: Option<String>,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutBucketVersioning {
    bucket: String,
    versioning_configuration: VersioningJson,
    #[serde(default, rename = "MFA")]
    _mfa: Option<String>,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

/// S3's (with `Bucket`) or S3 Control's (with `AccountId`) PutPublicAccessBlock: the same
/// configuration, at bucket or account level.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutPublicAccessBlock {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    public_access_block_configuration: PublicAccessBlockJson,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

/// S3's (with `Bucket`) or S3 Control's (with `AccountId`) DeletePublicAccessBlock.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DeletePublicAccessBlock {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutBucketEncryption {
    bucket: String,
    server_side_encryption_configuration: EncryptionConfigJson,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutBucketOwnershipControls {
    bucket: String,
    ownership_controls: OwnershipControlsJson,
    #[serde(default)]
    expected_bucket_owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutRolePolicy {
    role_name: String,
    policy_name: String,
    policy_document: Document,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DeleteRolePolicy {
    role_name: String,
    policy_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutUserPolicy {
    user_name: String,
    policy_name: String,
    policy_document: Document,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DeleteUserPolicy {
    user_name: String,
    policy_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UpdateAssumeRolePolicy {
    role_name: String,
    policy_document: Document,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutKeyPolicy {
    key_id: String,
    #[serde(default)]
    policy_name: Option<String>,
    policy: Document,
    #[serde(default, rename = "BypassPolicyLockoutSafetyCheck")]
    _bypass_policy_lockout_safety_check: Option<bool>,
}

/// Apply the changes, in order, to `snap`. Returns one line per change saying what it
/// changed. Stops at the first change that is invalid or that AWS would refuse.
pub fn apply_all(
    spec: &Spec,
    snap: &mut Snapshot,
    changes: &[Change],
) -> Result<Vec<String>, ChangeError> {
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| apply(spec, snap, i + 1, c))
        .collect()
}

/// Apply one change (`index` counts from 1, for messages).
pub fn apply(
    spec: &Spec,
    snap: &mut Snapshot,
    index: usize,
    c: &Change,
) -> Result<String, ChangeError> {
    let invalid = |message: String| ChangeError::Invalid {
        index,
        operation: c.operation.clone(),
        message,
    };
    let refused = |message: String| ChangeError::Refused {
        index,
        operation: c.operation.clone(),
        message,
    };
    let req: Request = serde_json::from_value(serde_json::json!({
        "operation": c.operation,
        "request": c.request,
    }))
    .map_err(|e| {
        invalid(if e.to_string().starts_with("unknown variant") {
            format!(
                "replaudit cannot apply this operation ({e}); what-if knows the S3, IAM and KMS writes a fix needs"
            )
        } else {
            format!("not a valid request: {e}")
        })
    })?;
    match req {
        Request::PutBucketPolicy(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let text = r.policy.text();
            let policy = parse_policy(&format!("bucket policy of {}", r.bucket), &text)
                .map_err(|m| refused(format!("MalformedPolicy: {m}")))?;
            let public = crate::policy::is_public(&policy);
            // BlockPublicPolicy, at bucket or account level, makes S3 reject a public policy
            // (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>).
            if public && block_public_policy(spec, snap, &alias) {
                return Err(refused(format!(
                    "the policy is public and Block Public Access (BlockPublicPolicy) is on for {}: S3 answers AccessDenied",
                    r.bucket
                )));
            }
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.policy = Fetched::ok(text);
            b.policy_is_public = Fetched::ok(public);
            Ok(format!("bucket policy of {} ({alias}) replaced", r.bucket))
        }
        Request::DeleteBucketPolicy(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.policy = Fetched::absent("NoSuchBucketPolicy");
            b.policy_is_public = Fetched::absent("NoSuchBucketPolicy");
            Ok(format!("bucket policy of {} ({alias}) deleted", r.bucket))
        }
        Request::PutBucketReplication(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            if let Some(why) = r.replication_configuration.refusal() {
                return Err(refused(why));
            }
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            // "Both source and destination buckets must have versioning enabled"
            // (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html>);
            // S3 refuses the configuration on an unversioned source.
            if let Fetched::Ok { value } = &b.versioning {
                if value != "Enabled" {
                    return Err(refused(format!(
                        "versioning of {} is {value}, and replication needs it Enabled (InvalidRequest); put PutBucketVersioning first",
                        r.bucket
                    )));
                }
            }
            b.replication =
                Fetched::ok(ReplicationConfiguration::from(&r.replication_configuration));
            Ok(format!(
                "replication configuration of {} ({alias}) replaced",
                r.bucket
            ))
        }
        Request::DeleteBucketReplication(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.replication = Fetched::absent("ReplicationConfigurationNotFoundError");
            Ok(format!(
                "replication configuration of {} ({alias}) deleted",
                r.bucket
            ))
        }
        Request::PutBucketVersioning(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let status = r.versioning_configuration.status.as_str();
            if status != "Enabled" && status != "Suspended" {
                return Err(invalid(format!(
                    "VersioningConfiguration.Status must be Enabled or Suspended, not {status:?}"
                )));
            }
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.versioning = Fetched::ok(status.to_string());
            Ok(format!(
                "versioning of {} ({alias}) set to {status}",
                r.bucket
            ))
        }
        Request::PutPublicAccessBlock(r) => {
            let pab = r.public_access_block_configuration.into();
            match (r.bucket, r.account_id) {
                (Some(bucket), None) => {
                    let alias = bucket_alias(spec, snap, &bucket, &r.expected_bucket_owner).map_err(|u| invalid(u.into()))?;
                    let b = snap.buckets.get_mut(&alias).expect("alias found above");
                    b.public_access_block = Fetched::ok(pab);
                    Ok(format!("Block Public Access of {bucket} ({alias}) replaced"))
                }
                (None, Some(id)) => {
                    let alias = account_alias(spec, &id).map_err(|u| invalid(u.into()))?;
                    let a = snap.accounts.get_mut(&alias).ok_or_else(|| {
                        invalid(format!("account {alias} is not in the snapshot"))
                    })?;
                    a.public_access_block = Fetched::ok(pab);
                    Ok(format!("account Block Public Access of {id} ({alias}) replaced"))
                }
                _ => Err(invalid(
                    "give Bucket (S3 PutPublicAccessBlock) or AccountId (S3 Control PutPublicAccessBlock), not both".into(),
                )),
            }
        }
        Request::DeletePublicAccessBlock(r) => {
            let none = || Fetched::absent("NoSuchPublicAccessBlockConfiguration");
            match (r.bucket, r.account_id) {
                (Some(bucket), None) => {
                    let alias = bucket_alias(spec, snap, &bucket, &r.expected_bucket_owner)
                        .map_err(|u| invalid(u.into()))?;
                    let b = snap.buckets.get_mut(&alias).expect("alias found above");
                    b.public_access_block = none();
                    Ok(format!("Block Public Access of {bucket} ({alias}) deleted"))
                }
                (None, Some(id)) => {
                    let alias = account_alias(spec, &id).map_err(|u| invalid(u.into()))?;
                    let a = snap.accounts.get_mut(&alias).ok_or_else(|| {
                        invalid(format!("account {alias} is not in the snapshot"))
                    })?;
                    a.public_access_block = none();
                    Ok(format!(
                        "account Block Public Access of {id} ({alias}) deleted"
                    ))
                }
                _ => Err(invalid(
                    "give Bucket (S3 DeletePublicAccessBlock) or AccountId (S3 Control), not both"
                        .into(),
                )),
            }
        }
        Request::DeleteBucketEncryption(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            // DeleteBucketEncryption "resets the default encryption for the bucket as server-side
            // encryption with Amazon S3 managed keys (SSE-S3)"
            // (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketEncryption.html>).
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.encryption = Fetched::ok(vec![crate::snapshot::EncryptionRule {
                sse_algorithm: "AES256".into(),
                kms_master_key_id: None,
                bucket_key_enabled: Some(false),
            }]);
            Ok(format!(
                "default encryption of {} ({alias}) reset to SSE-S3",
                r.bucket
            ))
        }
        Request::DeleteBucketOwnershipControls(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.ownership_controls = Fetched::absent("OwnershipControlsNotFoundError");
            Ok(format!(
                "object ownership controls of {} ({alias}) deleted",
                r.bucket
            ))
        }
        Request::PutBucketEncryption(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let rules: Vec<_> = (&r.server_side_encryption_configuration).into();
            if rules.is_empty() {
                return Err(invalid(
                    "ServerSideEncryptionConfiguration has no ApplyServerSideEncryptionByDefault"
                        .into(),
                ));
            }
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.encryption = Fetched::ok(rules);
            Ok(format!(
                "default encryption of {} ({alias}) replaced",
                r.bucket
            ))
        }
        Request::PutBucketOwnershipControls(r) => {
            let alias = bucket_alias(spec, snap, &r.bucket, &r.expected_bucket_owner)
                .map_err(|u| invalid(u.into()))?;
            let [rule] = r.ownership_controls.rules.as_slice() else {
                return Err(invalid("OwnershipControls takes exactly one rule".into()));
            };
            let b = snap.buckets.get_mut(&alias).expect("alias found above");
            b.ownership_controls = Fetched::ok(rule.object_ownership.clone());
            Ok(format!(
                "object ownership of {} ({alias}) set to {}",
                r.bucket, rule.object_ownership
            ))
        }
        Request::PutRolePolicy(r) => {
            let text = r.policy_document.text();
            parse_policy(&r.policy_name, &text)
                .map_err(|m| refused(format!("MalformedPolicyDocument: {m}")))?;
            let arn = principal_arn(spec, snap, "role", &r.role_name, c.account.as_deref())
                .map_err(|u| invalid(u.into()))?;
            put_inline(snap, &arn, &r.policy_name, Some(text)).map_err(|u| invalid(u.into()))?;
            Ok(format!("inline policy {} of {arn} put", r.policy_name))
        }
        Request::DeleteRolePolicy(r) => {
            let arn = principal_arn(spec, snap, "role", &r.role_name, c.account.as_deref())
                .map_err(|u| invalid(u.into()))?;
            put_inline(snap, &arn, &r.policy_name, None).map_err(|u| invalid(u.into()))?;
            Ok(format!("inline policy {} of {arn} deleted", r.policy_name))
        }
        Request::PutUserPolicy(r) => {
            let text = r.policy_document.text();
            parse_policy(&r.policy_name, &text)
                .map_err(|m| refused(format!("MalformedPolicyDocument: {m}")))?;
            let arn = principal_arn(spec, snap, "user", &r.user_name, c.account.as_deref())
                .map_err(|u| invalid(u.into()))?;
            put_inline(snap, &arn, &r.policy_name, Some(text)).map_err(|u| invalid(u.into()))?;
            Ok(format!("inline policy {} of {arn} put", r.policy_name))
        }
        Request::DeleteUserPolicy(r) => {
            let arn = principal_arn(spec, snap, "user", &r.user_name, c.account.as_deref())
                .map_err(|u| invalid(u.into()))?;
            put_inline(snap, &arn, &r.policy_name, None).map_err(|u| invalid(u.into()))?;
            Ok(format!("inline policy {} of {arn} deleted", r.policy_name))
        }
        Request::UpdateAssumeRolePolicy(r) => {
            let text = r.policy_document.text();
            parse_policy("trust policy", &text)
                .map_err(|m| refused(format!("MalformedPolicyDocument: {m}")))?;
            let arn = principal_arn(spec, snap, "role", &r.role_name, c.account.as_deref())
                .map_err(|u| invalid(u.into()))?;
            set_trust(snap, &arn, text).map_err(|u| invalid(u.into()))?;
            Ok(format!("trust policy of {arn} replaced"))
        }
        Request::PutKeyPolicy(r) => {
            // "The only valid value is default"
            // (<https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html>).
            if let Some(n) = r.policy_name.as_deref().filter(|n| *n != "default") {
                return Err(refused(format!(
                    "PolicyName must be \"default\", not {n:?}"
                )));
            }
            let text = r.policy.text();
            parse_policy("key policy", &text)
                .map_err(|m| refused(format!("MalformedPolicyDocument: {m}")))?;
            let key = key_arn(spec, snap, &r.key_id, c.account.as_deref())
                .map_err(|u| invalid(u.into()))?;
            let mut hit = 0;
            for k in snap.kms_keys.values_mut() {
                let same = match &k.metadata {
                    Fetched::Ok { value } => value.arn == key,
                    _ => k.arn == key,
                };
                if same {
                    k.key_policy = Fetched::ok(text.clone());
                    hit += 1;
                }
            }
            if hit == 0 {
                return Err(invalid(format!(
                    "key {} is not in the snapshot (replaudit reads the keys the spec and the live configurations name)",
                    r.key_id
                )));
            }
            Ok(format!("key policy of {key} replaced"))
        }
    }
}

fn parse_policy(name: &str, text: &str) -> Result<Policy, Unresolved> {
    Policy::parse(name, text).map_err(|e| Unresolved(e.to_string()))
}

/// The spec alias of the bucket a request names (bucket names are global). A request's
/// `ExpectedBucketOwner` that is not the bucket's account makes S3 answer 403 Access Denied
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html>).
fn bucket_alias(
    spec: &Spec,
    snap: &Snapshot,
    name: &str,
    expected_owner: &Option<String>,
) -> Result<String, Unresolved> {
    let alias = snap
        .buckets
        .iter()
        .find(|(_, b)| b.name == name)
        .map(|(a, _)| a.clone())
        .ok_or_else(|| {
            Unresolved(format!(
                "bucket {name} is not in the spec (what-if changes the buckets it audits)"
            ))
        })?;
    if let (Some(want), Some(owner)) = (expected_owner, spec.bucket_account_id(&alias)) {
        if want != owner {
            return Err(Unresolved(format!(
                "ExpectedBucketOwner {want} is not the owner of {name} ({owner}): S3 answers 403 Access Denied"
            )));
        }
    }
    Ok(alias)
}

fn account_alias(spec: &Spec, account: &str) -> Result<String, Unresolved> {
    if spec.accounts.contains_key(account) {
        return Ok(account.to_string());
    }
    spec.account_alias_for_id(account)
        .map(str::to_string)
        .ok_or_else(|| Unresolved(format!("account {account} is not in the spec")))
}

/// Whether S3 would refuse a public bucket policy on this bucket: BlockPublicPolicy on the
/// bucket or its account. Unknown settings do not refuse (what-if cannot tell).
fn block_public_policy(spec: &Spec, snap: &Snapshot, alias: &str) -> bool {
    let bucket = snap
        .bucket(alias)
        .and_then(|b| b.public_access_block.value())
        .is_some_and(|p| p.block_public_policy);
    let account = spec
        .bucket(alias)
        .and_then(|b| snap.accounts.get(b.account.get_ref()))
        .and_then(|a| a.public_access_block.value())
        .is_some_and(|p| p.block_public_policy);
    bucket || account
}

/// The ARN of the user or role a request names: the snapshot's principals of that kind and
/// name, narrowed to `account` when given.
fn principal_arn(
    spec: &Spec,
    snap: &Snapshot,
    kind: &str,
    name: &str,
    account: Option<&str>,
) -> Result<String, Unresolved> {
    let account_id = account_id_of(spec, account);
    let found: Vec<&String> = snap
        .principals
        .iter()
        .filter(|(_, p)| p.kind == kind && p.name == name)
        .filter(|(_, p)| account_id.as_ref().is_none_or(|id| &p.account_id == id))
        .map(|(arn, _)| arn)
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Unresolved(format!(
            "{kind} {name}{} is not a principal of the spec (what-if changes the principals it audits)",
            account.map(|a| format!(" in account {a}")).unwrap_or_default()
        ))),
        _ => Err(Unresolved(format!(
            "{kind} {name} exists in several accounts: say which with \"account\""
        ))),
    }
}

/// Put (or with `None` delete) an inline policy of a principal, in the principal's collected
/// details and in its account's IAM listing, so every reader sees the same change.
fn put_inline(
    snap: &mut Snapshot,
    arn: &str,
    name: &str,
    document: Option<String>,
) -> Result<(), Unresolved> {
    let p = snap
        .principals
        .get_mut(arn)
        .expect("found by principal_arn");
    let details = match &mut p.details {
        Fetched::Ok { value } => value,
        other => {
            return Err(Unresolved(format!(
                "the policies of {arn} were not collected ({}): what-if cannot say what the change does",
                other.why_missing().unwrap_or_default()
            )))
        }
    };
    let inline = match &mut details.inline_policies {
        Fetched::Ok { value } => value,
        other => {
            return Err(Unresolved(format!(
                "the inline policies of {arn} were not collected ({})",
                other.why_missing().unwrap_or_default()
            )))
        }
    };
    let at = inline.iter().position(|p| p.name == name);
    match (&document, at) {
        (Some(d), Some(i)) => inline[i].document = Fetched::ok(d.clone()),
        (Some(d), None) => inline.push(NamedPolicy {
            name: name.to_string(),
            arn: None,
            document: Fetched::ok(d.clone()),
        }),
        (None, Some(i)) => {
            inline.remove(i);
        }
        // DeleteRolePolicy/DeleteUserPolicy of a policy that is not there: NoSuchEntity.
        (None, None) => {
            return Err(Unresolved(format!(
                "{arn} has no inline policy {name} (NoSuchEntity)"
            )))
        }
    }
    for acct in snap.iam_accounts.values_mut() {
        let Fetched::Ok { value } = acct else {
            continue;
        };
        let lists = value
            .roles
            .iter_mut()
            .filter(|r| r.arn == arn)
            .map(|r| &mut r.inline_policies)
            .chain(
                value
                    .users
                    .iter_mut()
                    .filter(|u| u.arn == arn)
                    .map(|u| &mut u.inline_policies),
            );
        for list in lists {
            list.retain(|p| p.name != name);
            if let Some(d) = &document {
                list.push(InlinePolicy {
                    name: name.to_string(),
                    document: d.clone(),
                });
            }
        }
    }
    Ok(())
}

fn set_trust(snap: &mut Snapshot, arn: &str, text: String) -> Result<(), Unresolved> {
    let p = snap
        .principals
        .get_mut(arn)
        .expect("found by principal_arn");
    match &mut p.details {
        Fetched::Ok { value } => value.trust_policy = Some(text.clone()),
        other => {
            return Err(Unresolved(format!(
                "the trust policy of {arn} was not collected ({})",
                other.why_missing().unwrap_or_default()
            )))
        }
    }
    for acct in snap.iam_accounts.values_mut() {
        if let Fetched::Ok { value } = acct {
            for r in value.roles.iter_mut().filter(|r| r.arn == arn) {
                r.trust_policy = Some(text.clone());
            }
        }
    }
    Ok(())
}

/// The key ARN a PutKeyPolicy `KeyId` names. KeyId takes a key id or key ARN (not an alias,
/// <https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html>); a bare key id
/// is matched against the snapshot's keys of `account` (or of any account when it is unique).
fn key_arn(
    spec: &Spec,
    snap: &Snapshot,
    key_id: &str,
    account: Option<&str>,
) -> Result<String, Unresolved> {
    if key_id.starts_with("alias/") || key_id.contains(":alias/") {
        return Err(Unresolved(format!(
            "KeyId {key_id} is an alias: PutKeyPolicy takes a key id or key ARN"
        )));
    }
    if key_id.starts_with("arn:") {
        return Ok(key_id.to_string());
    }
    let account_id = account_id_of(spec, account);
    let mut found: Vec<String> = snap
        .kms_keys
        .values()
        .filter_map(|k| k.metadata.value())
        .filter(|m| m.key_id == key_id)
        .filter(|m| {
            account_id
                .as_ref()
                .is_none_or(|id| crate::spec::arn_account(&m.arn) == Some(id.as_str()))
        })
        .map(|m| m.arn.clone())
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Unresolved(format!("key {key_id} is not in the snapshot"))),
        _ => Err(Unresolved(format!(
            "key id {key_id} is in several accounts: give the key ARN"
        ))),
    }
}

/// The account id a change's `account` names (a spec alias, or the id itself).
fn account_id_of(spec: &Spec, account: Option<&str>) -> Option<String> {
    account.map(|a| {
        spec.account(a)
            .map(|x| x.account_id.get_ref().clone())
            .unwrap_or_else(|| a.to_string())
    })
}
