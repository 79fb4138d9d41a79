//! KMS keys: metadata and key policy of every key the spec or a live configuration names.
//!
//! A reference may be an alias ARN: S3 accepts one for `ReplicaKmsKeyID` ("Key ARN or Alias ARN",
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html>) and for
//! default encryption (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ServerSideEncryptionByDefault.html>).
//! DescribeKey accepts a key ARN or an alias ARN and answers with the key's ARN
//! (<https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html>); GetKeyPolicy
//! takes only a key id or key ARN and works only in the key's own account
//! (<https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html>). So the key is
//! described first, in its account and Region, and its policy read by the resolved key ARN.

use super::{fetched, no_account, Clients};
use crate::access::kms::{is_key_arn, live_default_key, live_replica_key};
use crate::snapshot::*;
use crate::spec::{self, Spec};
use std::collections::BTreeMap;

pub(super) async fn collect_key(spec: &Spec, clients: &Clients, arn: String) -> KmsKeyState {
    let account = spec::arn_account(&arn).unwrap_or_default().to_string();
    let region = spec::arn_region(&arn).unwrap_or_default().to_string();
    let alias = spec.account_alias_for_id(&account).map(str::to_string);
    let conf = alias.as_deref().and_then(|a| clients.get(a, &region));
    let Some(conf) = conf else {
        let (metadata, key_policy) = match &alias {
            Some(a) => (clients.unavailable(a), clients.unavailable(a)),
            None => (
                no_account("kms:DescribeKey", &account),
                no_account("kms:GetKeyPolicy", &account),
            ),
        };
        return KmsKeyState {
            arn,
            read_as: alias,
            metadata,
            key_policy,
        };
    };
    let kms = aws_sdk_kms::Client::new(conf);
    let metadata = fetched(
        "kms:DescribeKey",
        &["NotFoundException"],
        kms.describe_key().key_id(&arn).send().await,
        |o| {
            let m = o.key_metadata();
            KmsKeyMetadata {
                key_id: m.map(|m| m.key_id().to_string()).unwrap_or_default(),
                arn: m.and_then(|m| m.arn()).unwrap_or_default().to_string(),
                enabled: m.map(|m| m.enabled()).unwrap_or(false),
                key_state: m
                    .and_then(|m| m.key_state())
                    .map(|s| s.as_str().to_string()),
                key_manager: m
                    .and_then(|m| m.key_manager())
                    .map(|s| s.as_str().to_string()),
                key_spec: m.and_then(|m| m.key_spec()).map(|s| s.as_str().to_string()),
                key_usage: m
                    .and_then(|m| m.key_usage())
                    .map(|s| s.as_str().to_string()),
            }
        },
    );
    // The key ARN to read the policy with: the resolved one, else the reference if it is a key.
    let key_arn = match &metadata {
        Fetched::Ok { value } if !value.arn.is_empty() => Some(value.arn.clone()),
        _ if is_key_arn(&arn) => Some(arn.clone()),
        _ => None,
    };
    let key_policy = match key_arn {
        Some(k) => fetched(
            "kms:GetKeyPolicy",
            &["NotFoundException"],
            kms.get_key_policy()
                .key_id(&k)
                .policy_name("default")
                .send()
                .await,
            |o| o.policy().unwrap_or_default().to_string(),
        ),
        None => match metadata.why_missing() {
            Some(why) => Fetched::unknown(
                "kms:GetKeyPolicy",
                None,
                format!(
                    "alias {arn} was not resolved to a key ({why}); GetKeyPolicy needs the key ARN"
                ),
            ),
            None => Fetched::unknown(
                "kms:GetKeyPolicy",
                None,
                format!("DescribeKey of {arn} returned no key ARN"),
            ),
        },
    };
    KmsKeyState {
        arn,
        read_as: alias,
        metadata,
        key_policy,
    }
}

/// Every KMS key reference to read, as ARNs: the spec's, plus the keys the live configurations
/// name (default encryption `KMSMasterKeyID`, replication `ReplicaKmsKeyID`), qualified in the
/// account and Region KMS would resolve them in.
pub(super) fn key_references(spec: &Spec, buckets: &BTreeMap<String, BucketState>) -> Vec<String> {
    let mut keys = spec.kms_key_arns();
    for alias in buckets.keys() {
        keys.extend(live_default_key(spec, buckets, alias));
        if let Some(Fetched::Ok { value }) = buckets.get(alias).map(|b| &b.replication) {
            for r in &value.rules {
                keys.extend(live_replica_key(spec, buckets, alias, r));
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}
