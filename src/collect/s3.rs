//! Bucket state: location, ownership, versioning, Block Public Access, ownership controls,
//! policy and policy status, default encryption, replication, tags.

use super::limit::Service::S3;
use super::{fetched, Clients};
use crate::snapshot::*;
use crate::spec::Spec;
use aws_sdk_s3::Client;
use std::collections::{BTreeMap, BTreeSet};

/// Which buckets each account owns: one `ListBuckets` per account ("Returns a list of all buckets
/// owned by the authenticated sender of the request"), not one per bucket.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html>
pub(super) async fn list_owned(spec: &Spec, clients: &Clients) -> Owned {
    let futs = spec.accounts.iter().map(|(alias, a)| async move {
        let Some(conf) = clients.get(alias, a.region.get_ref()) else {
            return (alias.clone(), clients.unavailable(alias));
        };
        let s3 = crate::aws::s3_client(conf, &clients.opts);
        let mut names = BTreeSet::new();
        let mut pages = s3.list_buckets().into_paginator().send();
        while let Some(page) = clients.run(alias, S3, pages.next()).await {
            match page {
                Ok(p) => names.extend(
                    p.buckets()
                        .iter()
                        .filter_map(|b| b.name())
                        .map(str::to_string),
                ),
                Err(e) => {
                    return (
                        alias.clone(),
                        fetched("s3:ListBuckets", &[], Err::<(), _>(e), |_| BTreeSet::new()),
                    )
                }
            }
        }
        (alias.clone(), Fetched::ok(names))
    });
    futures::future::join_all(futs).await.into_iter().collect()
}

/// Buckets owned by each account alias (from its `ListBuckets`).
pub(crate) type Owned = BTreeMap<String, Fetched<BTreeSet<String>>>;

/// The spec account that owns a bucket: `Ok(None)` when every account's `ListBuckets` was read and
/// none lists it (it belongs to an account outside the spec).
pub(super) fn owner_of(owned: &Owned, bucket: &str) -> Fetched<Option<String>> {
    let mut failed = None;
    for (alias, names) in owned {
        match names {
            Fetched::Ok { value } if value.contains(bucket) => {
                return Fetched::ok(Some(alias.clone()))
            }
            Fetched::Ok { .. } => {}
            other => failed = failed.or_else(|| Some(other.as_ref().map(|_| None))),
        }
    }
    failed.unwrap_or(Fetched::ok(None))
}

/// The real Region of every spec bucket (`HeadBucket` with the owning account's credentials, see
/// [`crate::aws::bucket_region`]); absent when S3 says there is no such bucket.
pub(super) async fn locate_buckets(
    spec: &Spec,
    clients: &Clients,
) -> BTreeMap<String, Fetched<String>> {
    let futs = spec.buckets.iter().map(|(alias, b)| async move {
        let Some(conf) = clients.get(b.account.get_ref(), b.region.get_ref()) else {
            return (alias.clone(), clients.unavailable(b.account.get_ref()));
        };
        let s3 = crate::aws::s3_client(conf, &clients.opts);
        let region = clients
            .run(
                b.account.get_ref(),
                S3,
                crate::aws::bucket_region(&s3, b.name.get_ref()),
            )
            .await;
        (alias.clone(), located(region))
    });
    futures::future::join_all(futs).await.into_iter().collect()
}

pub(super) fn located(r: crate::aws::BucketRegion) -> Fetched<String> {
    match r {
        crate::aws::BucketRegion::In(region) => Fetched::ok(region),
        crate::aws::BucketRegion::Missing => {
            Fetched::absent("s3:HeadBucket: NoSuchBucket (404 Not Found)")
        }
        crate::aws::BucketRegion::Unknown { code, reason } => {
            Fetched::unknown("s3:HeadBucket", code, reason)
        }
    }
}

pub(super) async fn collect_bucket(
    spec: &Spec,
    clients: &Clients,
    alias: &str,
    location: Fetched<String>,
    owned: &Owned,
) -> BucketState {
    let b = &spec.buckets[alias];
    let account = b.account.get_ref();
    let name = b.name.get_ref().as_str();
    // Every read goes to the bucket's real Region: S3 answers a request sent elsewhere with a
    // redirect (301 PermanentRedirect or 400) that the SDK does not follow, which would turn one
    // misplaced bucket into an error on every one of its settings.
    // <https://docs.aws.amazon.com/AmazonS3/latest/API/UsingRouting.html>
    let region = location
        .value()
        .cloned()
        .unwrap_or_else(|| b.region.get_ref().clone());
    let conf = clients.config_in(spec, account, &region).await;
    let Some(conf) = conf else {
        return BucketState {
            alias: alias.into(),
            name: name.into(),
            read_as: account.clone(),
            owned_by_expected_account: clients.unavailable(account),
            region: clients.unavailable(account),
            versioning: clients.unavailable(account),
            public_access_block: clients.unavailable(account),
            ownership_controls: clients.unavailable(account),
            policy: clients.unavailable(account),
            policy_is_public: clients.unavailable(account),
            encryption: clients.unavailable(account),
            replication: clients.unavailable(account),
            tags: clients.unavailable(account),
        };
    };
    let s3 = crate::aws::s3_client(&conf, &clients.opts);
    let owned = match owned.get(account) {
        Some(Fetched::Ok { value }) => Fetched::ok(value.contains(name)),
        Some(other) => other.as_ref().map(|_| false),
        None => clients.unavailable(account),
    };
    let (versioning, pab, ownership, policy, status, encryption, replication, tags) = futures::join!(
        async {
            fetched(
                "s3:GetBucketVersioning",
                &[],
                clients
                    .run(account, S3, s3.get_bucket_versioning().bucket(name).send())
                    .await,
                |o| {
                    o.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "Disabled".to_string())
                },
            )
        },
        clients.run(account, S3, public_access_block(&s3, name)),
        async {
            fetched(
                "s3:GetBucketOwnershipControls",
                &["OwnershipControlsNotFoundError"],
                clients
                    .run(
                        account,
                        S3,
                        s3.get_bucket_ownership_controls().bucket(name).send(),
                    )
                    .await,
                |o| {
                    o.ownership_controls()
                        .and_then(|c| c.rules().first())
                        .map(|r| r.object_ownership().as_str().to_string())
                        .unwrap_or_else(|| "ObjectWriter".to_string())
                },
            )
        },
        async {
            fetched(
                "s3:GetBucketPolicy",
                &["NoSuchBucketPolicy"],
                clients
                    .run(account, S3, s3.get_bucket_policy().bucket(name).send())
                    .await,
                |o| o.policy().unwrap_or_default().to_string(),
            )
        },
        async {
            fetched(
                "s3:GetBucketPolicyStatus",
                &["NoSuchBucketPolicy"],
                clients
                    .run(
                        account,
                        S3,
                        s3.get_bucket_policy_status().bucket(name).send(),
                    )
                    .await,
                |o| {
                    o.policy_status()
                        .and_then(|s| s.is_public())
                        .unwrap_or(false)
                },
            )
        },
        async {
            fetched(
                "s3:GetBucketEncryption",
                &["ServerSideEncryptionConfigurationNotFoundError"],
                clients
                    .run(account, S3, s3.get_bucket_encryption().bucket(name).send())
                    .await,
                |o| convert_encryption(&o),
            )
        },
        async {
            fetched(
                "s3:GetBucketReplication",
                &["ReplicationConfigurationNotFoundError"],
                clients
                    .run(account, S3, s3.get_bucket_replication().bucket(name).send())
                    .await,
                |o| {
                    o.replication_configuration()
                        .map(convert_replication)
                        .unwrap_or(ReplicationConfiguration {
                            role: String::new(),
                            rules: vec![],
                        })
                },
            )
        },
        async {
            fetched(
                "s3:GetBucketTagging",
                &["NoSuchTagSet"],
                clients
                    .run(account, S3, s3.get_bucket_tagging().bucket(name).send())
                    .await,
                |o| {
                    o.tag_set()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect()
                },
            )
        },
    );
    BucketState {
        alias: alias.to_string(),
        name: name.to_string(),
        read_as: account.clone(),
        owned_by_expected_account: owned,
        region: location,
        versioning,
        public_access_block: pab,
        ownership_controls: ownership,
        policy,
        policy_is_public: status,
        encryption,
        replication,
        tags,
    }
}

/// Bucket-level Block Public Access (absent: no configuration, so nothing is blocked).
pub(super) async fn public_access_block(s3: &Client, name: &str) -> Fetched<PublicAccessBlock> {
    fetched(
        "s3:GetPublicAccessBlock",
        &["NoSuchPublicAccessBlockConfiguration"],
        s3.get_public_access_block().bucket(name).send().await,
        |o| {
            let c = o.public_access_block_configuration();
            PublicAccessBlock {
                block_public_acls: c.and_then(|c| c.block_public_acls()).unwrap_or(false),
                ignore_public_acls: c.and_then(|c| c.ignore_public_acls()).unwrap_or(false),
                block_public_policy: c.and_then(|c| c.block_public_policy()).unwrap_or(false),
                restrict_public_buckets: c
                    .and_then(|c| c.restrict_public_buckets())
                    .unwrap_or(false),
            }
        },
    )
}

/// A bucket's default encryption rules as the snapshot holds them (the collector's reading,
/// also `fix --apply`'s read-back, so the two cannot differ).
pub(crate) fn convert_encryption(
    o: &aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput,
) -> Vec<EncryptionRule> {
    o.server_side_encryption_configuration()
        .map(|c| {
            c.rules()
                .iter()
                .filter_map(|r| {
                    let d = r.apply_server_side_encryption_by_default()?;
                    Some(EncryptionRule {
                        sse_algorithm: d.sse_algorithm().as_str().to_string(),
                        kms_master_key_id: d.kms_master_key_id().map(str::to_string),
                        bucket_key_enabled: r.bucket_key_enabled(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn convert_replication(
    c: &aws_sdk_s3::types::ReplicationConfiguration,
) -> ReplicationConfiguration {
    ReplicationConfiguration {
        role: c.role().to_string(),
        rules: c.rules().iter().map(convert_rule).collect(),
    }
}

fn convert_rule(r: &aws_sdk_s3::types::ReplicationRule) -> ReplicationRule {
    let mut filter = RuleFilter::default();
    match r.filter() {
        Some(f) => {
            if let Some(and) = f.and() {
                filter.prefix = and.prefix().map(str::to_string);
                for t in and.tags() {
                    filter
                        .tags
                        .insert(t.key().to_string(), t.value().to_string());
                }
            } else if let Some(t) = f.tag() {
                filter
                    .tags
                    .insert(t.key().to_string(), t.value().to_string());
            } else {
                filter.prefix = f.prefix().map(str::to_string);
            }
        }
        None => {
            // V1 schema: a top-level Prefix and no Filter.
            #[allow(deprecated)]
            let p = r.prefix();
            filter.prefix = p.map(str::to_string);
            filter.legacy = true;
        }
    }
    let d = r.destination();
    let toggle_rt = |s: &str, m: Option<i32>| Toggle {
        status: s.to_string(),
        minutes: m,
    };
    ReplicationRule {
        id: r.id().map(str::to_string),
        priority: r.priority(),
        status: r.status().as_str().to_string(),
        filter,
        delete_marker_replication: r
            .delete_marker_replication()
            .and_then(|d| d.status())
            .map(|s| s.as_str().to_string()),
        destination: ReplicationDestination {
            bucket: d.map(|d| d.bucket().to_string()).unwrap_or_default(),
            account: d.and_then(|d| d.account()).map(str::to_string),
            storage_class: d
                .and_then(|d| d.storage_class())
                .map(|s| s.as_str().to_string()),
            access_control_owner: d
                .and_then(|d| d.access_control_translation())
                .map(|a| a.owner().as_str().to_string()),
            replica_kms_key_id: d
                .and_then(|d| d.encryption_configuration())
                .and_then(|e| e.replica_kms_key_id())
                .map(str::to_string),
            replication_time: d
                .and_then(|d| d.replication_time())
                .map(|t| toggle_rt(t.status().as_str(), t.time().and_then(|v| v.minutes()))),
            metrics: d.and_then(|d| d.metrics()).map(|m| {
                toggle_rt(
                    m.status().as_str(),
                    m.event_threshold().and_then(|v| v.minutes()),
                )
            }),
        },
        sse_kms_encrypted_objects: r
            .source_selection_criteria()
            .and_then(|s| s.sse_kms_encrypted_objects())
            .map(|s| s.status().as_str().to_string()),
        replica_modifications: r
            .source_selection_criteria()
            .and_then(|s| s.replica_modifications())
            .map(|s| s.status().as_str().to_string()),
        existing_object_replication: r
            .existing_object_replication()
            .map(|e| e.status().as_str().to_string()),
    }
}
