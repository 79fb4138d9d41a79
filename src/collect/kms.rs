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

use super::limit::Service;
use super::{fetched, no_account, Clients};
use crate::access::kms::{is_key_arn, live_default_key, live_replica_key, Described};
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
        let grants = match &alias {
            Some(a) => clients.unavailable(a),
            None => no_account("kms:ListGrants", &account),
        };
        return KmsKeyState {
            arn,
            read_as: alias,
            metadata,
            key_policy,
            grants,
        };
    };
    let kms = aws_sdk_kms::Client::new(conf);
    let metadata = metadata_of(
        clients
            .run(
                alias.as_deref().unwrap_or_default(),
                Service::Kms,
                kms.describe_key().key_id(&arn).send(),
            )
            .await,
    );
    // The key ARN to read the policy with: the resolved one, else the reference if it is a key.
    let key_arn = match &metadata {
        Fetched::Ok { value } if !value.arn.is_empty() => Some(value.arn.clone()),
        _ if is_key_arn(&arn) => Some(arn.clone()),
        _ => None,
    };
    let grants = match &key_arn {
        Some(k) => {
            super::grants::list_grants(clients, alias.as_deref().unwrap_or_default(), &kms, k).await
        }
        None => Fetched::unknown(
            "kms:ListGrants",
            None,
            format!("{arn} was not resolved to a key; ListGrants needs the key ARN"),
        ),
    };
    let key_policy = match key_arn {
        Some(k) => fetched(
            "kms:GetKeyPolicy",
            &["NotFoundException"],
            clients
                .run(
                    alias.as_deref().unwrap_or_default(),
                    Service::Kms,
                    kms.get_key_policy()
                        .key_id(&k)
                        .policy_name("default")
                        .send(),
                )
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
        grants,
    }
}

/// A DescribeKey answer as the snapshot records it.
fn metadata_of(
    r: Result<
        aws_sdk_kms::operation::describe_key::DescribeKeyOutput,
        aws_smithy_runtime_api::client::result::SdkError<
            aws_sdk_kms::operation::describe_key::DescribeKeyError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
) -> Fetched<KmsKeyMetadata> {
    fetched("kms:DescribeKey", &["NotFoundException"], r, |o| {
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
    })
}

/// What DescribeKey says of each alias among `references` (ARNs), for the canary and reconcile,
/// which compare the key ARN S3 reports on a replica with a spec key that may be named by alias
/// ARN. Key ARNs need no call (they stand for themselves). Each alias is described in its own
/// account and Region with the spec's credentials for that account, as [`collect_key`] does: it
/// needs `kms:DescribeKey` on the key (docs/reconcile-readonly-policy.json,
/// docs/auditor-readonly-policy.json). A failure is kept as the reason the alias did not
/// resolve, so that every comparison with it is undecidable, never a pass or a false fail.
pub async fn describe_aliases(
    spec: &Spec,
    opts: &crate::aws::AwsOptions,
    references: impl IntoIterator<Item = String>,
) -> Described {
    let mut aliases: Vec<String> = references.into_iter().filter(|r| !is_key_arn(r)).collect();
    aliases.sort();
    aliases.dedup();
    futures::future::join_all(aliases.into_iter().map(|arn| async move {
        let account = spec::arn_account(&arn).unwrap_or_default().to_string();
        let region = spec::arn_region(&arn).unwrap_or_default().to_string();
        let Some((alias, acct)) = spec
            .account_alias_for_id(&account)
            .and_then(|a| spec.accounts.get(a).map(|x| (a, x)))
        else {
            return (arn, no_account("kms:DescribeKey", &account));
        };
        // Outside a collection (canary, reconcile): the process's shared gates.
        let kms: crate::aws::Gated<aws_sdk_kms::Client> = crate::aws::Factory::shared(opts)
            .client_for(alias, &acct.credentials, &region)
            .await;
        let m = metadata_of(kms.run(kms.describe_key().key_id(&arn).send()).await);
        (arn, m)
    }))
    .await
    .into_iter()
    .collect()
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
