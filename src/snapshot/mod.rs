//! The collected state of the audited accounts: the only input rules ever see.
//!
//! It is plain serde data so that `replaudit snapshot` can save it and `audit --snapshot` can
//! audit it offline. Every value read from AWS is a [`Fetched`]: a call that failed is kept as
//! `Unknown` with the call and the cause, so that no rule can mistake "could not see" for
//! "is fine".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped whenever a field changes meaning or is removed; adding optional fields keeps it.
pub const SCHEMA_VERSION: u32 = 1;

/// A value read from AWS, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Fetched<T> {
    /// The call succeeded.
    Ok { value: T },
    /// The call succeeded and said the thing is not configured (e.g. `NoSuchBucketPolicy`).
    Absent { reason: String },
    /// The call failed (access denied, throttled past retries, unreachable, ...).
    Unknown {
        call: String,
        code: Option<String>,
        reason: String,
    },
}

impl<T> Fetched<T> {
    pub fn ok(value: T) -> Self {
        Fetched::Ok { value }
    }

    pub fn absent(reason: impl Into<String>) -> Self {
        Fetched::Absent {
            reason: reason.into(),
        }
    }

    pub fn unknown(
        call: impl Into<String>,
        code: Option<String>,
        reason: impl Into<String>,
    ) -> Self {
        Fetched::Unknown {
            call: call.into(),
            code,
            reason: reason.into(),
        }
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            Fetched::Ok { value } => Some(value),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Fetched::Unknown { .. })
    }

    pub fn as_ref(&self) -> Fetched<&T> {
        match self {
            Fetched::Ok { value } => Fetched::Ok { value },
            Fetched::Absent { reason } => Fetched::Absent {
                reason: reason.clone(),
            },
            Fetched::Unknown { call, code, reason } => Fetched::Unknown {
                call: call.clone(),
                code: code.clone(),
                reason: reason.clone(),
            },
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fetched<U> {
        match self {
            Fetched::Ok { value } => Fetched::Ok { value: f(value) },
            Fetched::Absent { reason } => Fetched::Absent { reason },
            Fetched::Unknown { call, code, reason } => Fetched::Unknown { call, code, reason },
        }
    }

    /// One-line description of why there is no value, for finding messages.
    pub fn why_missing(&self) -> Option<String> {
        match self {
            Fetched::Ok { .. } => None,
            Fetched::Absent { reason } => Some(reason.clone()),
            Fetched::Unknown { call, code, reason } => Some(match code {
                Some(c) => format!("{call} failed: {c}: {reason}"),
                None => format!("{call} failed: {reason}"),
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: u32,
    pub tool_version: String,
    pub collected_at: DateTime<Utc>,
    pub spec_name: String,
    /// Endpoint override in use when collected (emulators), so a report says what it audited.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    pub accounts: BTreeMap<String, AccountState>,
    pub buckets: BTreeMap<String, BucketState>,
    /// Keyed by principal ARN.
    pub principals: BTreeMap<String, PrincipalState>,
    /// Keyed by the key ARN as the spec or a replication configuration names it.
    pub kms_keys: BTreeMap<String, KmsKeyState>,
    /// CloudWatch replication metrics per spec rule, keyed `<replication id>/<rule label>`.
    #[serde(default)]
    pub replication_metrics: BTreeMap<String, Fetched<ReplicationMetrics>>,
    /// Every IAM user, group, role and the managed policies they use, per account alias
    /// (`iam:GetAccountAuthorizationDetails`): what `who-can` enumerates. Absent in snapshots
    /// taken before it was collected, which `who-can` reports as not collected.
    #[serde(default)]
    pub iam_accounts: BTreeMap<String, Fetched<IamAccount>>,
}

/// One account's IAM principals and policies, as `GetAccountAuthorizationDetails` returns them
/// (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html>).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IamAccount {
    pub account_id: String,
    pub users: Vec<IamUser>,
    pub groups: Vec<IamGroup>,
    pub roles: Vec<IamRole>,
    /// Managed policies some user, group or role of the account uses (attached, or as a
    /// permissions boundary), keyed by ARN: the default version's document. Policies nothing
    /// uses grant nothing and are not kept.
    pub managed_policies: BTreeMap<String, Fetched<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamUser {
    pub arn: String,
    pub name: String,
    /// Inline policies: (name, document).
    pub inline_policies: Vec<InlinePolicy>,
    /// ARNs of the attached managed policies.
    pub attached_policies: Vec<String>,
    /// Names of the groups the user is in.
    pub groups: Vec<String>,
    /// ARN of the permissions boundary.
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamGroup {
    pub arn: String,
    pub name: String,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamRole {
    pub arn: String,
    pub name: String,
    /// The trust policy (who may assume the role).
    pub trust_policy: Option<String>,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policies: Vec<String>,
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InlinePolicy {
    pub name: String,
    pub document: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplicationMetrics {
    pub source_bucket: String,
    pub destination_bucket: String,
    pub rule_id: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Maximum of `ReplicationLatency` (seconds) over the window; `None` without datapoints.
    pub max_latency_seconds: Option<f64>,
    /// Maximum of `OperationsPendingReplication`.
    pub max_pending_operations: Option<f64>,
    /// Sum of `OperationsFailedReplication`.
    pub failed_operations: Option<f64>,
    pub datapoints: usize,
    /// Where latency and pending operations were read (the destination bucket's Region).
    #[serde(default)]
    pub latency_region: Option<String>,
    /// Where failed operations were read (the source bucket's Region).
    #[serde(default)]
    pub failures_region: Option<String>,
    /// `ReplicationLatency` datapoints seen (`None` in snapshots that did not count them).
    #[serde(default)]
    pub latency_datapoints: Option<usize>,
    /// `OperationsFailedReplication` datapoints seen.
    #[serde(default)]
    pub failure_datapoints: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountState {
    pub alias: String,
    pub expected_account_id: String,
    pub caller: Fetched<CallerIdentity>,
    pub public_access_block: Fetched<PublicAccessBlock>,
    pub trails: Fetched<Vec<Trail>>,
    pub config: Fetched<ConfigState>,
    /// Compliance of the deployed AWS Config managed rules that cover this scenario.
    #[serde(default = "not_collected")]
    pub config_compliance: Fetched<Vec<ConfigCompliance>>,
    /// CloudTrail management events that changed audited configuration since `since`.
    #[serde(default = "not_collected")]
    pub change_events: Fetched<ChangeEvents>,
    /// AWS Config in every Region that matters for the account (home Region and the Regions of its
    /// buckets); `config` is the home Region's. Empty in snapshots that read the home Region only.
    #[serde(default)]
    pub config_by_region: BTreeMap<String, Fetched<ConfigState>>,
}

fn not_collected<T>() -> Fetched<T> {
    Fetched::unknown("snapshot", None, "not collected in this snapshot")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigCompliance {
    pub rule_name: String,
    pub source_identifier: String,
    pub resource_type: String,
    pub resource_id: String,
    /// `COMPLIANT`, `NON_COMPLIANT`, `NOT_APPLICABLE`, `INSUFFICIENT_DATA`.
    pub compliance: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ChangeEvents {
    pub since: Option<DateTime<Utc>>,
    pub events: Vec<ChangeEvent>,
    /// The Regions whose history was looked up.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Regions whose history could not be read to the end: `events` lacks what is missing there.
    #[serde(default)]
    pub incomplete: Vec<IncompleteHistory>,
}

/// A Region whose CloudTrail history lookup stopped early.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncompleteHistory {
    pub region: String,
    pub call: String,
    pub code: Option<String>,
    pub reason: String,
    /// Pages read before the failure (events come newest first: what is missing is older).
    pub pages_read: usize,
    /// Reported changes kept from those pages.
    pub events_read: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeEvent {
    pub event_name: String,
    pub event_source: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub username: Option<String>,
    /// Principal ARN from the event's userIdentity, when the event carries it.
    pub principal_arn: Option<String>,
    pub region: String,
    /// Names of the resources the event touched (bucket names, role names, key ids).
    pub resources: Vec<String>,
    #[serde(default)]
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    pub fn all_on(&self) -> bool {
        self.block_public_acls
            && self.ignore_public_acls
            && self.block_public_policy
            && self.restrict_public_buckets
    }

    /// Names of the settings that are off.
    pub fn off(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if !self.block_public_acls {
            v.push("BlockPublicAcls");
        }
        if !self.ignore_public_acls {
            v.push("IgnorePublicAcls");
        }
        if !self.block_public_policy {
            v.push("BlockPublicPolicy");
        }
        if !self.restrict_public_buckets {
            v.push("RestrictPublicBuckets");
        }
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketState {
    pub alias: String,
    pub name: String,
    /// The account alias whose credentials were used to read this bucket.
    pub read_as: String,
    /// Whether the bucket is listed by `ListBuckets` in the expected account (i.e. owned by it).
    pub owned_by_expected_account: Fetched<bool>,
    pub region: Fetched<String>,
    /// `Enabled`, `Suspended`, or `Disabled` (never enabled).
    pub versioning: Fetched<String>,
    pub public_access_block: Fetched<PublicAccessBlock>,
    pub ownership_controls: Fetched<String>,
    /// The bucket policy JSON text.
    pub policy: Fetched<String>,
    pub policy_is_public: Fetched<bool>,
    pub encryption: Fetched<Vec<EncryptionRule>>,
    pub replication: Fetched<ReplicationConfiguration>,
    pub tags: Fetched<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncryptionRule {
    pub sse_algorithm: String,
    pub kms_master_key_id: Option<String>,
    pub bucket_key_enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplicationConfiguration {
    pub role: String,
    pub rules: Vec<ReplicationRule>,
}

impl ReplicationConfiguration {
    /// The live rule that implements a spec rule: the one with the spec's ID if it has one and it
    /// exists, else the rule replicating the same prefix to the same destination bucket ARN.
    pub fn rule_for(
        &self,
        id: Option<&str>,
        destination_arn: &str,
        prefix: &str,
    ) -> Option<&ReplicationRule> {
        rule_for(&self.rules, id, destination_arn, prefix)
    }
}

/// See [`ReplicationConfiguration::rule_for`].
pub fn rule_for<'a>(
    rules: &'a [ReplicationRule],
    id: Option<&str>,
    destination_arn: &str,
    prefix: &str,
) -> Option<&'a ReplicationRule> {
    if let Some(id) = id {
        if let Some(r) = rules.iter().find(|r| r.id.as_deref() == Some(id)) {
            return Some(r);
        }
    }
    rules.iter().find(|r| {
        r.destination.bucket == destination_arn
            && r.filter.prefix.as_deref().unwrap_or("") == prefix
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReplicationRule {
    pub id: Option<String>,
    pub priority: Option<i32>,
    /// `Enabled` or `Disabled`.
    pub status: String,
    pub filter: RuleFilter,
    /// `Enabled` / `Disabled`; absent on legacy (V1) rules.
    pub delete_marker_replication: Option<String>,
    pub destination: ReplicationDestination,
    pub sse_kms_encrypted_objects: Option<String>,
    pub replica_modifications: Option<String>,
    pub existing_object_replication: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RuleFilter {
    /// Key prefix; `None` or `""` means every key.
    pub prefix: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// True for the deprecated top-level `Prefix` form (V1 schema), which cannot carry RTC
    /// or delete-marker replication.
    pub legacy: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReplicationDestination {
    pub bucket: String,
    pub account: Option<String>,
    pub storage_class: Option<String>,
    /// `Destination` when ownership is translated to the destination bucket owner.
    pub access_control_owner: Option<String>,
    pub replica_kms_key_id: Option<String>,
    pub replication_time: Option<Toggle>,
    pub metrics: Option<Toggle>,
}

/// A status with an optional threshold in minutes (RTC time, metrics event threshold).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Toggle {
    pub status: String,
    pub minutes: Option<i32>,
}

impl Toggle {
    pub fn enabled(&self) -> bool {
        self.status.eq_ignore_ascii_case("Enabled")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrincipalState {
    pub arn: String,
    /// `user` or `role`.
    pub kind: String,
    pub name: String,
    pub account_id: String,
    /// The account alias whose credentials read it; `None` when the spec has no account for it.
    pub read_as: Option<String>,
    pub details: Fetched<PrincipalDetails>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrincipalDetails {
    pub inline_policies: Fetched<Vec<NamedPolicy>>,
    pub attached_policies: Fetched<Vec<NamedPolicy>>,
    /// Users only; empty for roles.
    pub groups: Fetched<Vec<GroupPolicies>>,
    pub permission_boundary: Fetched<Option<NamedPolicy>>,
    /// Roles only: the trust (assume-role) policy.
    pub trust_policy: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NamedPolicy {
    /// Inline policy name, or managed policy name.
    pub name: String,
    /// Managed policy ARN (absent for inline policies).
    pub arn: Option<String>,
    /// The policy JSON text (default version for managed policies).
    pub document: Fetched<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupPolicies {
    pub name: String,
    pub inline_policies: Fetched<Vec<NamedPolicy>>,
    pub attached_policies: Fetched<Vec<NamedPolicy>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmsKeyState {
    /// The reference as the spec or a live configuration names it, made an ARN (a key ARN, or an
    /// alias ARN, which `metadata.arn` resolves to the key ARN).
    pub arn: String,
    pub read_as: Option<String>,
    pub metadata: Fetched<KmsKeyMetadata>,
    /// Read with the resolved key ARN: GetKeyPolicy takes only a key id or key ARN.
    pub key_policy: Fetched<String>,
    /// Every grant of the key (`kms:ListGrants`, all pages), read with the resolved key ARN:
    /// grants decide access along with the key policy and IAM policies
    /// (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>). Snapshots taken
    /// before grants were collected have no such field: "not collected", never "no grants".
    #[serde(default = "not_collected")]
    pub grants: Fetched<Vec<KmsGrant>>,
}

/// One grant as ListGrants answers it
/// (<https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantListEntry.html>).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KmsGrant {
    pub grant_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The key the grant is for (the key ARN).
    #[serde(default)]
    pub key_id: Option<String>,
    /// Who gets the operations: an account, user, role, assumed-role session, or (in older
    /// grants made for a service) a service principal.
    #[serde(default)]
    pub grantee_principal: Option<String>,
    /// A service principal that gets the operations (grants made with `GranteeServicePrincipal`).
    #[serde(default)]
    pub grantee_service_principal: Option<String>,
    /// Who may retire the grant; it gets none of the operations.
    #[serde(default)]
    pub retiring_principal: Option<String>,
    #[serde(default)]
    pub issuing_account: Option<String>,
    /// `Decrypt`, `GenerateDataKey`, ...
    #[serde(default)]
    pub operations: Vec<String>,
    /// Constraint: the request's encryption context must include these pairs.
    #[serde(default)]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// Constraint: the request's encryption context must be exactly these pairs.
    #[serde(default)]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// Constraint: the request must come from a service acting for this resource.
    #[serde(default)]
    pub source_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KmsKeyMetadata {
    pub key_id: String,
    /// The key ARN (DescribeKey resolves aliases to it).
    pub arn: String,
    pub enabled: bool,
    pub key_state: Option<String>,
    pub key_manager: Option<String>,
    /// `SYMMETRIC_DEFAULT` for the only keys S3 can use.
    #[serde(default)]
    pub key_spec: Option<String>,
    #[serde(default)]
    pub key_usage: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trail {
    pub name: String,
    pub arn: Option<String>,
    pub home_region: Option<String>,
    pub is_multi_region: bool,
    pub s3_bucket: Option<String>,
    /// Whether S3 considers the delivery bucket's policy public (`GetBucketPolicyStatus`).
    #[serde(default = "not_collected")]
    pub delivery_bucket_public: Fetched<bool>,
    #[serde(default = "not_collected")]
    pub delivery_bucket_public_access_block: Fetched<PublicAccessBlock>,
    /// The spec account (alias) that owns the delivery bucket; `Ok(None)` when no audited account
    /// does (a central log-archive bucket of another account).
    #[serde(default = "not_collected")]
    pub delivery_bucket_owner: Fetched<Option<String>>,
    /// The delivery bucket's Region, where it was read.
    #[serde(default)]
    pub delivery_bucket_region: Option<String>,
    pub is_logging: Fetched<bool>,
    pub event_selectors: Fetched<TrailSelectors>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TrailSelectors {
    pub basic: Vec<BasicEventSelector>,
    pub advanced: Vec<AdvancedEventSelector>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BasicEventSelector {
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write_type: String,
    pub include_management_events: bool,
    /// (type, values), e.g. ("AWS::S3::Object", ["arn:aws:s3:::bucket/"]).
    pub data_resources: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdvancedEventSelector {
    pub name: Option<String>,
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AdvancedFieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ConfigState {
    pub recorders: Vec<ConfigRecorder>,
    pub rules: Vec<ConfigRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigRecorder {
    pub name: String,
    pub recording: bool,
    pub last_status: Option<String>,
    pub all_supported: bool,
    pub resource_types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigRule {
    pub name: String,
    pub source_identifier: Option<String>,
    pub state: Option<String>,
}

/// Why a snapshot file cannot be read; the JSON error (with its line and column) is the source.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("snapshot is not a JSON object: {0}")]
    NotAnObject(#[source] serde_json::Error),
    #[error("snapshot is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("snapshot schema_version {0} is not supported (this build reads {SCHEMA_VERSION})")]
    Unsupported(u64),
    #[error("snapshot has no schema_version")]
    NoVersion,
    #[error("snapshot does not match schema {SCHEMA_VERSION}: {0}")]
    Schema(#[source] serde_json::Error),
}

impl Snapshot {
    /// A snapshot is only trusted when its schema is the one this build understands.
    /// The version is read first, from the top level only (values are skipped, not built), so
    /// that an older snapshot is named as such; the snapshot itself is then read straight from
    /// the text, so that an error carries its line and column (a `serde_json::Value` in
    /// between would lose them).
    pub fn from_json(text: &str) -> Result<Snapshot, LoadError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: Option<serde_json::Value>,
        }
        let v: Version = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => LoadError::NotAnObject(e),
            _ => LoadError::NotJson(e),
        })?;
        match v.schema_version.as_ref().and_then(|s| s.as_u64()) {
            Some(n) if n == u64::from(SCHEMA_VERSION) => {}
            Some(n) => return Err(LoadError::Unsupported(n)),
            None => return Err(LoadError::NoVersion),
        }
        serde_json::from_str(text).map_err(LoadError::Schema)
    }

    /// The fuzz body of the snapshot reader (cargo-fuzz target `snapshot_parse`): any bytes
    /// give a snapshot or an error, never a panic.
    #[doc(hidden)]
    pub fn fuzz_one(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = Snapshot::from_json(text);
        }
    }

    pub fn bucket(&self, alias: &str) -> Option<&BucketState> {
        self.buckets.get(alias)
    }

    pub fn principal(&self, arn: &str) -> Option<&PrincipalState> {
        self.principals.get(arn)
    }
}

/// The enabled live rule that decides, instead of `rule` (one of `live`), how some of `rule`'s
/// objects replicate: the highest-priority other rule to the same destination bucket whose
/// filter can match an object `rule` matches (one prefix contains the other; the tag filters
/// agree on every key both name) and whose priority is higher. "If there are two or more rules
/// with the same destination bucket, then objects will be replicated according to the rule with
/// the highest priority. The higher the number, the higher the priority."
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationRule.html>
pub fn outranked_by<'a>(
    live: &'a [ReplicationRule],
    rule: &ReplicationRule,
) -> Option<&'a ReplicationRule> {
    let prefix = |r: &ReplicationRule| r.filter.prefix.clone().unwrap_or_default();
    let (p, mine) = (prefix(rule), rule.priority.unwrap_or(0));
    live.iter()
        .filter(|o| !std::ptr::eq(*o, rule) && o.status.eq_ignore_ascii_case("Enabled"))
        .filter(|o| o.destination.bucket == rule.destination.bucket)
        .filter(|o| o.priority.unwrap_or(0) > mine)
        .filter(|o| {
            let q = prefix(o);
            p.starts_with(&q) || q.starts_with(&p)
        })
        .filter(|o| {
            o.filter
                .tags
                .iter()
                .all(|(k, v)| rule.filter.tags.get(k).is_none_or(|w| w == v))
        })
        .max_by_key(|o| o.priority.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Snapshot {
        Snapshot {
            schema_version: SCHEMA_VERSION,
            tool_version: "t".into(),
            collected_at: Utc::now(),
            spec_name: "s".into(),
            endpoint_url: None,
            accounts: BTreeMap::new(),
            buckets: BTreeMap::new(),
            principals: BTreeMap::new(),
            kms_keys: BTreeMap::new(),
            replication_metrics: BTreeMap::new(),
            iam_accounts: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_and_checks_the_schema_version() {
        let mut s = empty();
        s.replication_metrics.insert(
            "r/rule".into(),
            Fetched::unknown(
                "cloudwatch:GetMetricStatistics",
                Some("Throttling".into()),
                "slow down",
            ),
        );
        let text = serde_json::to_string(&s).unwrap();
        let back = Snapshot::from_json(&text).unwrap();
        assert_eq!(back.replication_metrics, s.replication_metrics);
        let v2 = text.replace("\"schema_version\":1", "\"schema_version\":2");
        assert!(Snapshot::from_json(&v2)
            .unwrap_err()
            .to_string()
            .contains("schema_version 2"));
        assert!(Snapshot::from_json("{}")
            .unwrap_err()
            .to_string()
            .contains("no schema_version"));
        assert!(Snapshot::from_json("not json").is_err());
    }

    #[test]
    fn a_key_from_before_grants_were_collected_has_grants_not_collected_not_none() {
        let old = r#"{"arn":"arn:aws:kms:r:1:key/k","read_as":null,
            "metadata":{"state":"absent","reason":"x"},"key_policy":{"state":"absent","reason":"x"}}"#;
        let k: KmsKeyState = serde_json::from_str(old).unwrap();
        assert!(k.grants.is_unknown(), "{:?}", k.grants);
        assert!(k
            .grants
            .why_missing()
            .unwrap()
            .contains("not collected in this snapshot"));
    }

    #[test]
    fn fetched_states_say_why_they_have_no_value() {
        let u: Fetched<bool> =
            Fetched::unknown("s3:GetBucketPolicy", Some("AccessDenied".into()), "denied");
        assert_eq!(
            u.why_missing().unwrap(),
            "s3:GetBucketPolicy failed: AccessDenied: denied"
        );
        assert!(u.value().is_none() && u.is_unknown());
        let a: Fetched<bool> = Fetched::absent("NoSuchBucketPolicy");
        assert_eq!(a.why_missing().unwrap(), "NoSuchBucketPolicy");
        assert_eq!(Fetched::ok(3).map(|x| x + 1).value(), Some(&4));
        let json = serde_json::to_value(&u).unwrap();
        assert_eq!(json["state"], "unknown");
        assert_eq!(json["code"], "AccessDenied");
    }
}
