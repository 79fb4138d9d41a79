//! Building blocks for offline rule tests: the seed spec (or a variant of its text) and a
//! snapshot holding exactly the states a test gives it.

use crate::snapshot::*;
use crate::spec::Spec;
use std::collections::BTreeMap;

pub const SEED: &str = include_str!("../../checks/seed.toml");

pub fn spec(text: &str) -> Spec {
    crate::spec::parse(std::path::Path::new("test.toml"), text)
        .expect("test spec must be valid")
        .spec
}

pub fn seed() -> Spec {
    spec(SEED)
}

/// A snapshot with nothing in it.
pub fn snapshot() -> Snapshot {
    Snapshot {
        schema_version: SCHEMA_VERSION,
        tool_version: "test".into(),
        collected_at: chrono::Utc::now(),
        spec_name: "test".into(),
        endpoint_url: None,
        accounts: BTreeMap::new(),
        buckets: BTreeMap::new(),
        principals: BTreeMap::new(),
        kms_keys: BTreeMap::new(),
        replication_metrics: BTreeMap::new(),
        iam_accounts: BTreeMap::new(),
    }
}

/// An account state where every value reads as not configured, for tests to overwrite.
pub fn account(spec: &Spec, alias: &str) -> AccountState {
    let a = &spec.accounts[alias];
    AccountState {
        alias: alias.into(),
        expected_account_id: a.account_id.get_ref().clone(),
        caller: Fetched::ok(CallerIdentity {
            account: a.account_id.get_ref().clone(),
            arn: format!("arn:aws:iam::{}:user/auditor", a.account_id.get_ref()),
        }),
        public_access_block: Fetched::absent("NoSuchPublicAccessBlockConfiguration"),
        trails: Fetched::ok(vec![]),
        config: Fetched::ok(ConfigState::default()),
        config_compliance: Fetched::ok(vec![]),
        change_events: Fetched::ok(ChangeEvents::default()),
        config_by_region: BTreeMap::new(),
    }
}

/// A bucket state where every value reads as not configured, for tests to overwrite.
pub fn bucket(spec: &Spec, alias: &str) -> BucketState {
    let b = &spec.buckets[alias];
    BucketState {
        alias: alias.into(),
        name: b.name.get_ref().clone(),
        read_as: b.account.get_ref().clone(),
        owned_by_expected_account: Fetched::ok(true),
        region: Fetched::ok(b.region.get_ref().clone()),
        versioning: Fetched::ok("Enabled".into()),
        public_access_block: Fetched::absent("NoSuchPublicAccessBlockConfiguration"),
        ownership_controls: Fetched::absent("OwnershipControlsNotFoundError"),
        policy: Fetched::absent("NoSuchBucketPolicy"),
        policy_is_public: Fetched::absent("NoSuchBucketPolicy"),
        encryption: Fetched::absent("ServerSideEncryptionConfigurationNotFoundError"),
        replication: Fetched::absent("ReplicationConfigurationNotFoundError"),
        tags: Fetched::absent("NoSuchTagSet"),
    }
}
