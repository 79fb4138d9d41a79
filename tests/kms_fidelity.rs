//! KMS and encryption fidelity against the emulated accounts, as AWS documents it (issue 9,
//! items 2, 5, 6): S3 Bucket Keys change the encryption context and the replication role's
//! permission set, keys may be named by alias ARN and must be usable, and `Destination.Account`
//! is required only with an owner override.
//!
//! The harness provisions the seed with S3 Bucket Keys on and the KMS grants AWS documents for
//! that (tests/harness/README.md, "The seed is valid on AWS"); each defect below plants one
//! documented way to get it wrong.

use crate::common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// Audit a provisioned set-up, ignoring the provisioning's own CloudTrail history.
fn audit(s: &Setup) -> (std::process::Output, Value) {
    // CloudTrail start times are whole seconds: start after the provisioning second.
    let now = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    s.audit(&["--quiet", "--since", &now])
}

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// Provision `spec` with `defects`, audit, and check exactly `expected` rules fail, none errors.
fn planted_in(spec: &Path, defects: &[&str], expected: &[&str]) -> Value {
    let s = Setup::new(spec, defects);
    let (out, report) = audit(&s);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        rule_ids(&report, "fail"),
        want,
        "{defects:?}: failing rules\n{}",
        describe(&report)
    );
    assert_eq!(
        rule_ids(&report, "error"),
        Vec::<String>::new(),
        "{defects:?}: {}",
        describe(&report)
    );
    let code = if expected.is_empty() { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(code), "{defects:?}: exit code");
    report
}

fn planted(defect: &str, expected: &[&str]) -> Value {
    planted_in(&seed_spec(), &[defect], expected)
}

const SOURCE_ARN: &str = "arn:aws:s3:::rubes-s3-bucket";
const DEST_ARN: &str = "arn:aws:s3:::clint-s3-bucket";
const REPLICA_KEY: &str =
    "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// The seed uses S3 Bucket Keys on both buckets: every KMS question is asked in the bucket-ARN
/// encryption context, and the role needs (and has) kms:Decrypt on the replica key.
#[test]
fn seed_with_bucket_keys_is_judged_in_the_bucket_arn_context() {
    let s = Setup::seed(&[]);
    let (_, report) = audit(&s);
    for id in [
        "replication-kms-permissions",
        "encrypted-replica-readable",
        "replication-kms",
        "bucket-default-encryption",
        "access-expectation",
    ] {
        for f in findings(&report, id) {
            assert!(
                f["status"] == "pass" || f["status"] == "skip",
                "{id}: {f}\n{}",
                describe(&report)
            );
        }
    }
    let perms = findings(&report, "replication-kms-permissions");
    let reports_rule = perms
        .iter()
        .find(|f| f["status"] == "pass")
        .expect("a passing replication-kms-permissions finding");
    let checks = reports_rule["evidence"]["checks"].as_array().unwrap();
    let asked: Vec<(String, String, Value)> = checks
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["resource"].as_str().unwrap().to_string(),
                c["encryption_context"].clone(),
            )
        })
        .collect();
    assert!(
        asked.contains(&(
            "kms:Decrypt".into(),
            REPLICA_KEY.into(),
            serde_json::json!([DEST_ARN])
        )),
        "kms:Decrypt on the replica key, in the destination bucket's context: {asked:?}"
    );
    assert!(
        asked.contains(&(
            "kms:Encrypt".into(),
            REPLICA_KEY.into(),
            serde_json::json!([DEST_ARN])
        )),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|(a, _, c)| a == "kms:Decrypt" && c == &serde_json::json!([SOURCE_ARN])),
        "kms:Decrypt on the source key in the source bucket's context: {asked:?}"
    );
    let readable = findings(&report, "encrypted-replica-readable");
    assert_eq!(
        readable[0]["evidence"]["kms"]["encryption_context"],
        serde_json::json!([DEST_ARN]),
        "{}",
        readable[0]
    );
}

/// Today's broken seed: the role has only kms:Encrypt on the replica key. With S3 Bucket Keys
/// that replication fails on AWS; replaudit must say so.
#[test]
fn replica_key_without_decrypt_fails_with_bucket_keys() {
    let report = planted("replica-key-encrypt-only", &["replication-kms-permissions"]);
    let f = findings(&report, "replication-kms-permissions")
        .into_iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("kms:Decrypt on {REPLICA_KEY}")) && msg.contains("S3 Bucket Key"),
        "{msg}"
    );
}

/// KMS statements conditioned on object-ARN encryption contexts do not match what S3 sends
/// with Bucket Keys (the bucket ARN).
#[test]
fn object_arn_context_conditions_fail_with_bucket_keys() {
    let report = planted("kms-object-arn-context", &["replication-kms-permissions"]);
    let f = findings(&report, "replication-kms-permissions")
        .into_iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("encryption context {SOURCE_ARN}"))
            || msg.contains(&format!("encryption context {DEST_ARN}")),
        "{msg}"
    );
}

/// A rule may name its replica key by alias ARN: replaudit resolves it and compares key ARNs.
#[test]
fn replica_key_named_by_alias_arn_passes() {
    let report = planted("replica-key-alias", &[]);
    let f = findings(&report, "replication-kms")
        .into_iter()
        .find(|f| f["status"] == "pass" && f["evidence"]["actual_replica_key"].is_string())
        .expect("replication-kms passes for the alias rule");
    assert!(
        f["evidence"]["actual_replica_key"]
            .as_str()
            .unwrap()
            .contains(":alias/"),
        "{f}"
    );
    assert_eq!(f["evidence"]["actual_replica_key_arn"], REPLICA_KEY, "{f}");
}

/// A disabled replica key (also the destination's default key and scenario A's key) is a fail
/// wherever replaudit relies on it, though every policy still allows.
#[test]
fn disabled_replica_key_fails() {
    let report = planted(
        "replica-key-disabled",
        &[
            "bucket-default-encryption",
            "encrypted-replica-readable",
            "replication-kms",
        ],
    );
    for id in ["replication-kms", "bucket-default-encryption"] {
        let f = findings(&report, id)
            .into_iter()
            .find(|f| f["status"] == "fail")
            .unwrap();
        assert!(
            f["message"].as_str().unwrap().contains("is Disabled"),
            "{f}"
        );
    }
}

/// Owner override without Destination.Account: fail (S3 needs both).
#[test]
fn owner_override_without_destination_account_fails() {
    let report = planted("no-destination-account", &["replication-destination"]);
    let f = findings(&report, "replication-destination")
        .into_iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("AccessControlTranslation"),
        "{f}"
    );
}

/// Cross-account without owner override and without Destination.Account, into a
/// BucketOwnerEnforced destination: valid on AWS, so nothing fails.
#[test]
fn cross_account_without_destination_account_is_valid_when_bucket_owner_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("no-override.toml");
    let text = std::fs::read_to_string(seed_spec()).unwrap().replacen(
        "owner_override = true",
        "owner_override = false",
        1,
    );
    std::fs::write(&spec, text).unwrap();
    let report = planted_in(&spec, &["no-destination-account"], &[]);
    let dest: Vec<&Value> = findings(&report, "replication-destination");
    assert!(
        dest.iter().any(|f| f["status"] == "pass"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("Destination.Account is not set")),
        "{dest:?}"
    );
    let owner = findings(&report, "replication-owner-override");
    assert!(
        owner.iter().any(|f| f["status"] == "pass"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("BucketOwnerEnforced")),
        "{owner:?}"
    );
}

/// Offline, from one snapshot of the seed: states AWS can be in that the emulator is not asked
/// to reproduce. Each must be a fail or an error, never a pass.
#[test]
fn key_states_and_unknown_bucket_keys_offline() {
    let s = Setup::seed(&[]);
    let snap_path = s.path("state.json");
    s.snapshot(&snap_path);
    let base: Value = serde_json::from_str(&std::fs::read_to_string(&snap_path).unwrap()).unwrap();
    let source_key =
        "arn:aws:kms:ap-southeast-1:111122223333:key/6f1e3c2a-0b7d-4e8f-9a51-2c3d4e5f6a7b";

    let run = |name: &str, edit: &dyn Fn(&mut Value)| -> Value {
        let mut v = base.clone();
        edit(&mut v);
        let p = s.path(&format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
        let out_dir = s.path(name);
        let out = s
            .cmd()
            .env("AWS_ENDPOINT_URL", "http://192.0.2.1:9")
            .args(["audit", "--quiet", "--spec"])
            .arg(&s.spec)
            .arg("--snapshot")
            .arg(&p)
            .arg("--output-dir")
            .arg(&out_dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: exit code");
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("audit-latest.json")).unwrap())
            .unwrap()
    };

    // The source's default key is pending deletion.
    let r = run("pending-deletion", &|v| {
        let m = &mut v["kms_keys"][source_key]["metadata"]["value"];
        m["enabled"] = false.into();
        m["key_state"] = "PendingDeletion".into();
    });
    let f = findings(&r, "bucket-default-encryption")
        .into_iter()
        .find(|f| f["resource"] == SOURCE_ARN)
        .unwrap();
    assert_eq!(f["status"], "fail", "{f}");
    assert!(
        f["message"].as_str().unwrap().contains("PendingDeletion"),
        "{f}"
    );

    // The destination's default encryption names a key in another Region.
    let other = REPLICA_KEY.replace("ap-southeast-2", "ap-southeast-1");
    let r = run("other-region", &|v| {
        v["buckets"]["destination"]["encryption"]["value"][0]["kms_master_key_id"] =
            other.clone().into();
        let mut k = v["kms_keys"][REPLICA_KEY].clone();
        k["arn"] = other.clone().into();
        k["metadata"]["value"]["arn"] = other.clone().into();
        v["kms_keys"][other.as_str()] = k;
    });
    let f = findings(&r, "bucket-default-encryption")
        .into_iter()
        .find(|f| f["resource"] == DEST_ARN)
        .unwrap();
    assert_eq!(f["status"], "fail", "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("not in the bucket's Region ap-southeast-2"),
        "{f}"
    );

    // The same, but the key in the other Region could not be described (no credentials there):
    // its ARN says the Region, so it is still a fail.
    let r = run("other-region-undescribed", &|v| {
        v["buckets"]["destination"]["encryption"]["value"][0]["kms_master_key_id"] =
            other.clone().into();
        v["kms_keys"][other.as_str()] = serde_json::json!({
            "arn": other, "read_as": "abcd",
            "metadata": {"state": "unknown", "call": "configuration", "code": null,
                         "reason": "no SDK configuration for this account and region"},
            "key_policy": {"state": "unknown", "call": "configuration", "code": null,
                           "reason": "no SDK configuration for this account and region"}});
    });
    let f = findings(&r, "bucket-default-encryption")
        .into_iter()
        .find(|f| f["resource"] == DEST_ARN)
        .unwrap();
    assert_eq!(f["status"], "fail", "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("is in ap-southeast-1"),
        "{f}"
    );

    // Neither bucket's encryption (so Bucket-Key setting) could be read. The source key's policy
    // names the role without conditions (same account: that alone allows, in any context), but
    // the cross-account replica key needs the role's own policy too, which is conditioned on
    // the bucket-ARN context: the decision depends on what could not be read: error, not pass.
    let r = run("bucket-key-unknown", &|v| {
        for b in ["source", "destination"] {
            v["buckets"][b]["encryption"] = serde_json::json!({
                "state": "unknown", "call": "s3:GetBucketEncryption",
                "code": "AccessDenied", "reason": "denied"});
        }
    });
    let perms = findings(&r, "replication-kms-permissions");
    let f = perms
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("reports-to-abcd"))
        .unwrap();
    assert_eq!(f["status"], "error", "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("depends on the encryption context"),
        "{f}"
    );
}
