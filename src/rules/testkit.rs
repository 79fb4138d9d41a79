//! Offline rule tests, as ruff does it: a golden snapshot of the seed set-up plus one small
//! mutation per test.
//!
//! `tests/fixtures/seed-snapshot.json` is what `replaudit snapshot` collected from the emulator
//! after provisioning `checks/seed.toml` with no defect (regenerate it with
//! `scripts/regen-fixtures`); on it every rule passes or skips with a stated reason. A test takes
//! [`seed()`], changes the one thing its situation needs (`f.bucket("source").versioning =
//! Fetched::ok("Suspended".into())`), runs one rule and asserts status *and* message. Rules are
//! pure, so this needs no emulator and runs in milliseconds; the emulator tests stay as the
//! end-to-end layer (collector, provisioner, moto patches).
//!
//! The fixture is parsed with the snapshot's own serde types, so fields added later with a
//! `#[serde(default)]` keep it loading; a field that becomes required makes [`seed()`] fail
//! with the regeneration command.
//!
//! For a test that needs a state the seed cannot be mutated into cheaply (an account read in
//! no Region, a bucket with nothing configured), [`spec`], [`snapshot`], [`account`] and
//! [`bucket`] build one from nothing.

use super::{AuditContext, Rule};
pub use crate::findings::{Finding, Scenario, Status};
pub use crate::snapshot::Fetched;
use crate::snapshot::{
    AccountState, BucketState, KmsKeyState, PrincipalDetails, PrincipalState,
    ReplicationConfiguration, ReplicationRule, Snapshot,
};
use crate::spec::Spec;
use std::collections::BTreeMap;
use std::path::Path;

const SEED_SNAPSHOT: &str = include_str!("../../tests/fixtures/seed-snapshot.json");
const SEED_SPEC: &str = include_str!("../../checks/seed.toml");

/// A spec and the snapshot of its accounts, for one rule test.
pub struct Fixture {
    pub spec: Spec,
    pub snap: Snapshot,
}

/// The golden seed snapshot with the seed spec it was collected for.
pub fn seed() -> Fixture {
    seed_with_spec(|_| {})
}

/// The golden seed snapshot with an edited seed spec (edit the TOML document: it is validated
/// again, so the spec a test uses is one `replaudit` would accept).
pub fn seed_with_spec(edit: impl FnOnce(&mut toml::Table)) -> Fixture {
    let mut doc: toml::Table = SEED_SPEC.parse().expect("checks/seed.toml is TOML");
    edit(&mut doc);
    let text = toml::to_string(&doc).expect("edited spec serialises");
    let spec = crate::spec::parse(Path::new("checks/seed.toml"), &text)
        .unwrap_or_else(|e| panic!("edited seed spec is invalid: {e}\n{text}"))
        .spec;
    let snap = Snapshot::from_json(SEED_SNAPSHOT).unwrap_or_else(|e| {
        panic!("tests/fixtures/seed-snapshot.json no longer loads ({e}); regenerate it with scripts/regen-fixtures")
    });
    Fixture { spec, snap }
}

/// The seed moved to the China partition: both Regions (ap-southeast-1 -> cn-north-1,
/// ap-southeast-2 -> cn-northwest-1) and every ARN (`arn:aws:` -> `arn:aws-cn:`) in the spec and
/// the snapshot alike. A rule that builds an ARN with a fixed `arn:aws:` asks about resources that
/// do not exist there and judges differently from [`seed()`]; the registry test compares the two.
pub fn seed_in_china() -> Fixture {
    let china = |t: &str| {
        t.replace("ap-southeast-1", "cn-north-1")
            .replace("ap-southeast-2", "cn-northwest-1")
            .replace("arn:aws:", "arn:aws-cn:")
    };
    let spec = crate::spec::parse(Path::new("checks/seed.toml"), &china(SEED_SPEC))
        .unwrap_or_else(|e| panic!("the seed spec moved to aws-cn is invalid: {e}"))
        .spec;
    let snap =
        Snapshot::from_json(&china(SEED_SNAPSHOT)).expect("the seed snapshot moved to aws-cn");
    Fixture { spec, snap }
}

/// `doc[path...]` as a mutable table, for spec edits (`table(doc, &["scenario_a"])`).
pub fn table<'a>(doc: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
    let mut t = doc;
    for p in path {
        t = t
            .get_mut(*p)
            .and_then(|v| v.as_table_mut())
            .unwrap_or_else(|| panic!("spec has no table {p}"));
    }
    t
}

/// The `i`-th `[[replication]]` of a spec document.
pub fn replication_doc(doc: &mut toml::Table, i: usize) -> &mut toml::Table {
    doc["replication"].as_array_mut().expect("[[replication]]")[i]
        .as_table_mut()
        .expect("replication table")
}

/// The `j`-th rule of the `i`-th `[[replication]]`.
pub fn rule_doc(doc: &mut toml::Table, i: usize, j: usize) -> &mut toml::Table {
    replication_doc(doc, i)["rules"]
        .as_array_mut()
        .expect("rules")[j]
        .as_table_mut()
        .expect("rule table")
}

pub const SOURCE_ARN: &str = "arn:aws:s3:::rubes-s3-bucket";
pub const DEST_ARN: &str = "arn:aws:s3:::clint-s3-bucket";
pub const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/s3_replication_role";
pub const SOURCE_KEY: &str =
    "arn:aws:kms:ap-southeast-1:111122223333:key/6f1e3c2a-0b7d-4e8f-9a51-2c3d4e5f6a7b";
pub const DEST_KEY: &str =
    "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// The error every "could not read" test plants.
pub fn denied<T>(call: &str) -> Fetched<T> {
    Fetched::unknown(call, Some("AccessDenied".into()), "denied by the test")
}

impl Fixture {
    pub fn run(&self, rule: &dyn Rule) -> Vec<Finding> {
        let out = rule.check(&AuditContext::new(&self.spec, &self.snap));
        for f in &out {
            assert_eq!(f.id, rule.meta().id, "a rule reports under its own id");
        }
        out
    }

    pub fn account(&mut self, alias: &str) -> &mut AccountState {
        self.snap
            .accounts
            .get_mut(alias)
            .unwrap_or_else(|| panic!("fixture has no account {alias}"))
    }

    pub fn bucket(&mut self, alias: &str) -> &mut BucketState {
        self.snap
            .buckets
            .get_mut(alias)
            .unwrap_or_else(|| panic!("fixture has no bucket {alias}"))
    }

    /// A principal by spec alias.
    pub fn principal(&mut self, alias: &str) -> &mut PrincipalState {
        let arn = self
            .spec
            .principal(alias)
            .unwrap_or_else(|| panic!("spec has no principal {alias}"))
            .arn
            .get_ref()
            .clone();
        self.snap
            .principals
            .get_mut(&arn)
            .unwrap_or_else(|| panic!("fixture has no principal {arn}"))
    }

    /// The collected details of a principal (spec alias).
    pub fn details(&mut self, alias: &str) -> &mut PrincipalDetails {
        match &mut self.principal(alias).details {
            Fetched::Ok { value } => value,
            _ => panic!("principal {alias} has no details in the fixture"),
        }
    }

    pub fn key(&mut self, arn: &str) -> &mut KmsKeyState {
        self.snap
            .kms_keys
            .get_mut(arn)
            .unwrap_or_else(|| panic!("fixture has no KMS key {arn}"))
    }

    /// The live replication configuration of a bucket (alias).
    pub fn replication(&mut self, alias: &str) -> &mut ReplicationConfiguration {
        match &mut self.bucket(alias).replication {
            Fetched::Ok { value } => value,
            _ => panic!("bucket {alias} has no replication configuration in the fixture"),
        }
    }

    /// The live replication rule with this id on a bucket (alias).
    pub fn live_rule(&mut self, alias: &str, id: &str) -> &mut ReplicationRule {
        self.replication(alias)
            .rules
            .iter_mut()
            .find(|r| r.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no live rule {id} on {alias}"))
    }

    /// Edit a bucket's policy as JSON (an empty policy when the bucket has none).
    pub fn bucket_policy(&mut self, alias: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let b = self.bucket(alias);
        let text = b
            .policy
            .value()
            .cloned()
            .unwrap_or_else(|| r#"{"Version": "2012-10-17", "Statement": []}"#.into());
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("policy JSON");
        edit(&mut v);
        b.policy = Fetched::ok(v.to_string());
    }

    /// Edit a KMS key's policy as JSON.
    pub fn key_policy(&mut self, arn: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let k = self.key(arn);
        let text = k
            .key_policy
            .value()
            .expect("key has a policy in the fixture");
        let mut v: serde_json::Value = serde_json::from_str(text).expect("policy JSON");
        edit(&mut v);
        k.key_policy = Fetched::ok(v.to_string());
    }

    /// Edit every inline policy of a principal (alias) as JSON.
    pub fn inline_policies(&mut self, alias: &str, mut edit: impl FnMut(&mut serde_json::Value)) {
        let d = self.details(alias);
        let Fetched::Ok { value: policies } = &mut d.inline_policies else {
            panic!("principal {alias} has no inline policies in the fixture");
        };
        for p in policies {
            let mut v: serde_json::Value =
                serde_json::from_str(p.document.value().expect("document")).expect("JSON");
            edit(&mut v);
            p.document = Fetched::ok(v.to_string());
        }
    }
}

/// Every statement of a policy document, mutable.
pub fn statements(policy: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    policy["Statement"]
        .as_array_mut()
        .expect("Statement is an array")
}

fn dump(out: &[Finding]) -> String {
    out.iter()
        .map(|f| format!("  {} {}: {}", f.status, f.resource, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The finding with this status whose message contains `message`.
#[track_caller]
pub fn has(out: &[Finding], status: Status, message: &str) -> Finding {
    out.iter()
        .find(|f| f.status == status && f.message.contains(message))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no {status} finding containing {message:?}; findings:\n{}",
                dump(out)
            )
        })
}

/// Exactly one finding has this status, and its message contains `message`.
#[track_caller]
pub fn only(out: &[Finding], status: Status, message: &str) -> Finding {
    let with: Vec<&Finding> = out.iter().filter(|f| f.status == status).collect();
    assert_eq!(
        with.len(),
        1,
        "expected exactly one {status} finding; findings:\n{}",
        dump(out)
    );
    assert!(
        with[0].message.contains(message),
        "the {status} finding does not contain {message:?}; findings:\n{}",
        dump(out)
    );
    with[0].clone()
}

/// Nothing failed or errored and at least one finding passed, with `message` in a pass.
#[track_caller]
pub fn clean(out: &[Finding], message: &str) {
    assert!(
        out.iter()
            .all(|f| matches!(f.status, Status::Pass | Status::Skip)),
        "expected only pass/skip; findings:\n{}",
        dump(out)
    );
    has(out, Status::Pass, message);
}

/// How many findings have this status.
pub fn count(out: &[Finding], status: Status) -> usize {
    out.iter().filter(|f| f.status == status).count()
}

/// Remove an action from every statement of a policy document (statements left without
/// actions are dropped).
pub fn remove_action(policy: &mut serde_json::Value, action: &str) {
    let st = statements(policy);
    for s in st.iter_mut() {
        match &mut s["Action"] {
            serde_json::Value::Array(a) => a.retain(|x| x != action),
            serde_json::Value::String(a) if a == action => s["Action"] = serde_json::json!([]),
            _ => {}
        }
    }
    st.retain(|s| s["Action"] != serde_json::json!([]));
}

/// The seed spec's text, for tests that edit it as text.
pub const SEED: &str = SEED_SPEC;

/// A spec from TOML text (it must be valid).
pub fn spec(text: &str) -> Spec {
    crate::spec::parse(Path::new("test.toml"), text)
        .expect("test spec must be valid")
        .spec
}

/// The seed spec alone, for tests that build their snapshot from nothing.
pub fn seed_spec() -> Spec {
    spec(SEED)
}

/// A snapshot with nothing in it.
pub fn snapshot() -> Snapshot {
    Snapshot {
        schema_version: crate::snapshot::SCHEMA_VERSION,
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
    use crate::snapshot::{CallerIdentity, ChangeEvents, ConfigState};
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

/// The seed plus `n` generated replications through the seed's one replication role (the
/// common set-up issue 22 measured): pair `i` replicates `xyz-pair-NNNN` to
/// `xyz-pair-NNNN-backup` in the XYZ account, each bucket a copy of the seed's log buckets and
/// each name of one length whatever `n` is, and the role's policy covers every pair (by
/// wildcard, as a shared role does to stay within IAM's policy-size limit). For tests of how
/// a report grows with the estate.
pub fn shared_role_estate(n: usize) -> (crate::spec::LoadedSpec, Snapshot) {
    let mut doc: toml::Table = SEED_SPEC.parse().expect("checks/seed.toml is TOML");
    let logs = table(&mut doc, &["buckets", "logs"]).clone();
    let backup = table(&mut doc, &["buckets", "logs-backup"]).clone();
    let app_logs = replication_doc(&mut doc, 1).clone();
    assert_eq!(app_logs["id"].as_str(), Some("app-logs"), "seed changed");
    let name = |i: usize| format!("xyz-pair-{i:04}");
    for i in 0..n {
        let buckets = table(&mut doc, &["buckets"]);
        let mut src = logs.clone();
        src.insert("name".into(), name(i).into());
        buckets.insert(format!("pair-{i:04}"), src.into());
        let mut dst = backup.clone();
        dst.insert("name".into(), format!("{}-backup", name(i)).into());
        buckets.insert(format!("pair-{i:04}-backup"), dst.into());
        let mut r = app_logs.clone();
        r.insert("id".into(), format!("pair-{i:04}").into());
        r.insert("source".into(), format!("pair-{i:04}").into());
        let rule = r["rules"].as_array_mut().expect("rules")[0]
            .as_table_mut()
            .expect("rule");
        rule.insert("destination".into(), format!("pair-{i:04}-backup").into());
        doc["replication"]
            .as_array_mut()
            .expect("[[replication]]")
            .push(r.into());
    }
    let text = toml::to_string(&doc).expect("spec serialises");
    let spec = crate::spec::parse(Path::new("checks/estate.toml"), &text)
        .unwrap_or_else(|e| panic!("generated estate spec is invalid: {e}"));
    let mut f = Fixture {
        spec: spec.spec.clone(),
        snap: seed().snap,
    };
    f.inline_policies("replication-role", |p| {
        statements(p).push(serde_json::json!({"Sid": "Pairs", "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket",
                "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging", "s3:ReplicateObject", "s3:ReplicateDelete",
                "s3:ReplicateTags"],
            "Resource": ["arn:aws:s3:::xyz-pair-*"]}));
        statements(p).push(serde_json::json!({"Sid": "PairObjects", "Effect": "Allow",
            "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging", "s3:ReplicateObject", "s3:ReplicateDelete",
                "s3:ReplicateTags"],
            "Resource": ["arn:aws:s3:::xyz-pair-*/*"]}));
    });
    let copy = |alias: &str, new_alias: &str, i: usize, snap: &Snapshot| -> BucketState {
        let text = serde_json::to_string(&snap.buckets[alias]).expect("bucket state");
        let text = text.replace("xyz-app-logs", &name(i)).replace(
            &format!("\"alias\":\"{alias}\""),
            &format!("\"alias\":\"{new_alias}\""),
        );
        serde_json::from_str(&text).expect("renamed bucket state")
    };
    let metrics = f.snap.replication_metrics["app-logs/rule 'logs-to-backup'"].clone();
    for i in 0..n {
        let a = format!("pair-{i:04}");
        let b = copy("logs", &a, i, &f.snap);
        f.snap.buckets.insert(a.clone(), b);
        let d = copy("logs-backup", &format!("{a}-backup"), i, &f.snap);
        f.snap.buckets.insert(format!("{a}-backup"), d);
        let text = serde_json::to_string(&metrics)
            .expect("metrics")
            .replace("xyz-app-logs", &name(i));
        f.snap.replication_metrics.insert(
            format!("{a}/rule 'logs-to-backup'"),
            serde_json::from_str(&text).expect("renamed metrics"),
        );
    }
    (spec, f.snap)
}
