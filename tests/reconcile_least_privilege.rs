//! Least privilege for `replaudit reconcile`: as IAM users holding exactly
//! `docs/reconcile-readonly-policy.json` (tests/hardening/auditor.py, IAM enforcement on), reconcile
//! gives the admin run's findings; with each permission removed it gives an `error` finding naming
//! the call and the permission, and never a pass for what it could not read.
//!
//! moto 5.2.5 authorizes HeadObject as `s3:GetObject` whatever the `versionId` (its S3 ACTION_MAP
//! has `"HEAD": {"DEFAULT": "GetObject"}`); AWS requires `s3:GetObjectVersion` for a HeadObject of a
//! version (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>). The installed
//! policy therefore also holds moto's name (never the shipped one), and removing
//! `s3:GetObjectVersion` removes moto's name with it.

use crate::hardening;
use crate::inventory;

use hardening::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;

/// Each permission of the policy: the call it authorizes, the finding that must turn `error`, and
/// moto's name for the same call where it differs.
const PERMISSIONS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "s3:ListBucketVersions",
        "s3:ListObjectVersions",
        "reconcile-listing",
        None,
    ),
    (
        "s3:GetObjectVersion",
        "s3:HeadObject",
        "reconcile-unverified",
        Some("s3:GetObject"),
    ),
];

/// The permissions of reconcile from S3 Inventory (`--source-inventory configured`): the call each
/// authorizes; without one, the rules read from the inventories are one `reconcile-listing` error.
const INVENTORY_PERMISSIONS: &[(&str, &str)] = &[
    (
        "s3:GetInventoryConfiguration",
        "s3:ListBucketInventoryConfigurations",
    ),
    ("s3:ListBucket", "s3:ListObjectsV2"),
    ("s3:GetObject", "s3:GetObject"),
];

/// Permissions of the policy that this test's seed does not exercise, with why: the live path
/// describes a replica key only when the spec names it by alias ARN (to compare the key ARN S3
/// reports on a replica), and the seed names it by key ARN, which needs no call. kms:Decrypt is
/// what S3 calls for the reader of SSE-KMS-encrypted inventory files
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/configure-inventory.html#configure-inventory-kms-key-policy>);
/// the emulator (patch 11, tests/harness/README.md) records the KMS calls S3 makes for writes
/// and replicas but never checks the reader's kms:Decrypt on GetObject, and the seed's
/// inventories are written unencrypted, so removing it could not fail here: its error wording is
/// unit-tested (`a_denied_or_kms_failed_inventory_read_names_kms_decrypt_and_the_fix`).
const NOT_EXERCISED: &[(&str, &str)] = &[
    (
        "kms:DescribeKey",
        "resolves a replica key named by alias ARN (the seed names it by key ARN)",
    ),
    (
        "kms:Decrypt",
        "reads SSE-KMS-encrypted inventory files (the emulator does not enforce it on GetObject)",
    ),
    (
        "s3:GetLifecycleConfiguration",
        "decides the class of a source delete marker missing at the destination (lifecycle-marker \
         or missing); the seed's fixture has no such marker, so nothing changes without it: \
         unit-tested (a_missing_delete_marker_under_a_lifecycle_expiration_rule_is_a_lifecycle_marker)",
    ),
];

fn run(config_dir: &std::path::Path, setup: &Setup, out: &str) -> (Option<i32>, Value) {
    run_with(config_dir, setup, out, &[])
}

fn run_inventory(config_dir: &std::path::Path, setup: &Setup, out: &str) -> (Option<i32>, Value) {
    run_with(
        config_dir,
        setup,
        out,
        // `configured`: found through the buckets' inventory configurations, so the run needs
        // every permission of the inventory path (the explicit s3:// form needs a subset).
        &[
            "--source-inventory",
            "configured",
            "--dest-inventory",
            "configured",
        ],
    )
}

fn run_with(
    config_dir: &std::path::Path,
    setup: &Setup,
    out: &str,
    extra: &[&str],
) -> (Option<i32>, Value) {
    let dir = setup.path(out);
    let o = replaudit(config_dir, &setup.emu.endpoint)
        .args(["reconcile", "--quiet", "--in-flight", "1", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(&dir)
        .args(extra)
        .output()
        .expect("run reconcile");
    let text = std::fs::read_to_string(dir.join("reconcile-latest.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), serde_json::from_str(&text).unwrap())
}

fn statuses(report: &Value) -> BTreeMap<(String, String), String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["resource"].as_str().unwrap().to_string(),
                ),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn actions(doc: &Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reconcile_needs_exactly_its_read_only_policy() {
    let setup = Setup::seed(&[]);
    // Versions missing at the destination make reconcile HEAD source versions too.
    let fx = Command::new(python())
        .arg(repo().join("tests/harness/reconcile_fixture.py"))
        .args(["--endpoint", &setup.emu.endpoint, "--spec"])
        .arg(&setup.spec)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(
        fx.status.success(),
        "{}",
        String::from_utf8_lossy(&fx.stderr)
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    inventory::publish(&setup.spec, setup.dir.path(), &setup.emu.endpoint);

    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/reconcile-readonly-policy.json")).unwrap(),
    )
    .unwrap();
    let mut in_policy = actions(&shipped);
    in_policy.sort();
    let mut in_table: Vec<String> = PERMISSIONS
        .iter()
        .map(|p| p.0.to_string())
        .chain(INVENTORY_PERMISSIONS.iter().map(|p| p.0.to_string()))
        .chain(NOT_EXERCISED.iter().map(|p| p.0.to_string()))
        .collect();
    in_table.sort();
    assert_eq!(
        in_policy, in_table,
        "the policy and this test's table differ"
    );

    let mut full = shipped.clone();
    full["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "EmulatorActionNames", "Effect": "Allow",
        "Action": PERMISSIONS.iter().filter_map(|p| p.3).collect::<Vec<_>>(), "Resource": "*"
    }));
    let policy_file = setup.path("reconcile-policy.json");
    std::fs::write(&policy_file, full.to_string()).unwrap();
    let users = setup.path("reconcile-users");
    let mut helper = LineChild::spawn(
        &repo().join("tests/hardening/auditor.py"),
        &[
            "--provisioned-dir".as_ref(),
            setup.dir.path().as_os_str(),
            "--out-dir".as_ref(),
            users.as_os_str(),
            "--policy".as_ref(),
            policy_file.as_os_str(),
        ],
    );
    assert_eq!(helper.banner["ok"], true, "{}", helper.banner);

    let (admin_code, admin) = run(setup.dir.path(), &setup, "admin");
    let (code, full_run) = run(&users, &setup, "full");
    assert_eq!(
        statuses(&admin),
        statuses(&full_run),
        "the policy's users see what the admins see"
    );
    assert_eq!(code, admin_code);
    let (inv_admin_code, inv_admin) = run_inventory(setup.dir.path(), &setup, "inv-admin");
    let (inv_code, inv_full) = run_inventory(&users, &setup, "inv-full");
    assert_eq!(
        statuses(&inv_admin),
        statuses(&inv_full),
        "the policy's users read the inventories as the admins do"
    );
    assert_eq!(inv_code, inv_admin_code);
    for (permission, call) in INVENTORY_PERMISSIONS {
        let answer = helper.ask(&json!({"op": "set", "drop": [permission]}));
        assert_eq!(answer["ok"], true, "{answer}");
        let (code, report) = run_inventory(
            &users,
            &setup,
            &format!("inv-without-{}", permission.replace(':', "-")),
        );
        assert_ne!(code, Some(0), "without {permission}");
        let rule = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["id"] == "reconcile-listing"
                    && f["resource"].as_str().unwrap().contains("reports-to-abcd")
            })
            .unwrap_or_else(|| panic!("without {permission}: no reconcile-listing finding"));
        assert_eq!(rule["status"], "error", "without {permission}: {rule}");
        let msg = rule["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("{call} failed: ")) && msg.contains(permission),
            "without {permission}: the error names neither {call} nor {permission}: {rule}"
        );
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["status"] != "pass"),
            "without {permission}: a pass from unread inventories"
        );
        println!("without {permission} (inventory): {msg}");
    }

    for (permission, call, id, moto) in PERMISSIONS {
        let mut drop = vec![*permission];
        drop.extend(moto.iter());
        let answer = helper.ask(&json!({"op": "set", "drop": drop}));
        assert_eq!(answer["ok"], true, "{answer}");
        let (code, report) = run(
            &users,
            &setup,
            &format!("without-{}", permission.replace(':', "-")),
        );
        assert_eq!(code, Some(1), "without {permission}");
        let errors: Vec<&Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "error")
            .collect();
        assert!(
            errors.iter().any(|f| f["id"] == *id),
            "without {permission}: no {id} error"
        );
        // Every error (the classes the unread versions could be in are errors too) names the
        // call that failed and the permission.
        for f in &errors {
            let msg = f["message"].as_str().unwrap();
            assert!(
                msg.contains(&format!("{call} failed: ")) && msg.contains(permission),
                "without {permission}: the error names neither {call} nor {permission}: {f}"
            );
        }
        // Nothing it could not read passed: every status is what the admin saw, or error/skip.
        let base = statuses(&admin);
        for (k, st) in statuses(&report) {
            if let Some(b) = base.get(&k) {
                assert!(
                    st == *b || st == "error" || (st == "pass" && b == "pass"),
                    "without {permission}: {k:?} {b} -> {st}"
                );
            }
        }
        println!(
            "without {permission}: {} error finding(s) {id}, e.g. {}",
            errors.len(),
            errors[0]["message"]
        );
    }
}
