//! Least privilege for the auditor: the whole audit runs, in the emulator with IAM enforcement
//! on, as IAM users that hold exactly `docs/auditor-readonly-policy.json`, and gives the admin
//! run's findings; then every permission is removed in turn and must yield an `error` finding
//! naming the call it authorizes, while no other finding changes (except to `error`/`skip`).
//!
//! How: tests/hardening/auditor.py creates in each account the user `replaudit-auditor` with a
//! managed policy, writes a credentials file with those users under the spec's profile names,
//! and swaps policy versions on request; one emulator, one provisioning, ~40 audits.
//!
//! The emulator (moto 5.2.5) authorizes some calls under another action name than AWS does.
//! Where it does, the auditor also holds moto's name (the `EmulatorActionNames` statement, in
//! the test only, never in the shipped policy), and removing the AWS action alone cannot be
//! observed: the test then removes moto's name too and says so in the table (`via moto name`).
//! The AWS names are the documented ones:
//! <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>.

use crate::hardening;

use hardening::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Each permission of the read-only policy: the collector's calls it authorizes (as named in
/// findings, `service:ApiName`), and the name moto 5.2.5 checks for those calls where it is not
/// the AWS action.
const PERMISSIONS: &[(&str, &[&str], Option<&str>)] = &[
    ("s3:ListAllMyBuckets", &["s3:ListBuckets"], None),
    ("s3:GetBucketVersioning", &["s3:GetBucketVersioning"], None),
    // moto's S3 ACTION_MAP: `?ownershipControls`, `?encryption`, `?replication` are not in it,
    // and its bucket entry is spelt `public_access_block` while requests say
    // `?publicAccessBlock`: all four fall back to the bucket GET default, s3:ListBucket.
    (
        "s3:GetBucketPublicAccessBlock",
        &["s3:GetPublicAccessBlock"],
        Some("s3:ListBucket"),
    ),
    // moto: the S3 Control `publicAccessBlock` GET is checked as s3:GetPublicAccessBlock.
    (
        "s3:GetAccountPublicAccessBlock",
        &["s3:GetAccountPublicAccessBlock"],
        Some("s3:GetPublicAccessBlock"),
    ),
    (
        "s3:GetBucketOwnershipControls",
        &["s3:GetBucketOwnershipControls"],
        Some("s3:ListBucket"),
    ),
    ("s3:GetBucketPolicy", &["s3:GetBucketPolicy"], None),
    (
        "s3:GetBucketPolicyStatus",
        &["s3:GetBucketPolicyStatus"],
        None,
    ),
    (
        "s3:GetEncryptionConfiguration",
        &["s3:GetBucketEncryption"],
        Some("s3:ListBucket"),
    ),
    (
        "s3:GetReplicationConfiguration",
        &["s3:GetBucketReplication"],
        Some("s3:ListBucket"),
    ),
    ("s3:GetBucketTagging", &["s3:GetBucketTagging"], None),
    ("iam:GetUser", &["iam:GetUser"], None),
    ("iam:GetRole", &["iam:GetRole"], None),
    ("iam:ListUserPolicies", &["iam:ListUserPolicies"], None),
    ("iam:GetUserPolicy", &["iam:GetUserPolicy"], None),
    (
        "iam:ListAttachedUserPolicies",
        &["iam:ListAttachedUserPolicies"],
        None,
    ),
    ("iam:ListGroupsForUser", &["iam:ListGroupsForUser"], None),
    ("iam:ListGroupPolicies", &["iam:ListGroupPolicies"], None),
    ("iam:GetGroupPolicy", &["iam:GetGroupPolicy"], None),
    (
        "iam:ListAttachedGroupPolicies",
        &["iam:ListAttachedGroupPolicies"],
        None,
    ),
    ("iam:ListRolePolicies", &["iam:ListRolePolicies"], None),
    ("iam:GetRolePolicy", &["iam:GetRolePolicy"], None),
    (
        "iam:ListAttachedRolePolicies",
        &["iam:ListAttachedRolePolicies"],
        None,
    ),
    ("iam:GetPolicy", &["iam:GetPolicy"], None),
    ("iam:GetPolicyVersion", &["iam:GetPolicyVersion"], None),
    (
        "iam:GetAccountAuthorizationDetails",
        &["iam:GetAccountAuthorizationDetails"],
        None,
    ),
    ("kms:DescribeKey", &["kms:DescribeKey"], None),
    ("kms:GetKeyPolicy", &["kms:GetKeyPolicy"], None),
    // Grants decide who can decrypt (the who-can rule's `decrypt` class):
    // <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html>.
    ("kms:ListGrants", &["kms:ListGrants"], None),
    (
        "cloudtrail:DescribeTrails",
        &["cloudtrail:DescribeTrails"],
        None,
    ),
    (
        "cloudtrail:GetTrailStatus",
        &["cloudtrail:GetTrailStatus"],
        None,
    ),
    (
        "cloudtrail:GetEventSelectors",
        &["cloudtrail:GetEventSelectors"],
        None,
    ),
    (
        "cloudtrail:LookupEvents",
        &["cloudtrail:LookupEvents"],
        None,
    ),
    (
        "config:DescribeConfigurationRecorders",
        &["config:DescribeConfigurationRecorders"],
        None,
    ),
    (
        "config:DescribeConfigurationRecorderStatus",
        &["config:DescribeConfigurationRecorderStatus"],
        None,
    ),
    (
        "config:DescribeConfigRules",
        &["config:DescribeConfigRules"],
        None,
    ),
    (
        "config:GetComplianceDetailsByConfigRule",
        &["config:GetComplianceDetailsByConfigRule"],
        None,
    ),
    // moto uses the endpoint prefix `monitoring` as the IAM service prefix.
    (
        "cloudwatch:GetMetricStatistics",
        &["cloudwatch:GetMetricStatistics"],
        Some("monitoring:GetMetricStatistics"),
    ),
];

/// Permissions whose removal no audit rule can show, with the reason; for these the test
/// requires the failure in the snapshot (`replaudit snapshot`) instead.
const SNAPSHOT_ONLY: &[(&str, &str)] = &[
    (
        "s3:GetBucketTagging",
        "bucket tags are collected, no rule reads them",
    ),
    (
        "kms:DescribeKey",
        "key metadata (enabled, state) is collected, no rule reads it",
    ),
];

fn policy_actions(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in doc["Statement"].as_array().expect("Statement") {
        match &st["Action"] {
            Value::String(a) => out.push(a.clone()),
            Value::Array(a) => out.extend(a.iter().map(|x| s(x).to_string())),
            _ => panic!("statement without Action: {st}"),
        }
    }
    out
}

/// `doc` without the given actions (statements left empty are dropped).
fn without(doc: &Value, drop: &BTreeSet<&str>) -> Value {
    let mut d = doc.clone();
    let sts: Vec<Value> = d["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|st| {
            let actions: Vec<Value> = match &st["Action"] {
                Value::String(a) => vec![Value::String(a.clone())],
                Value::Array(a) => a.clone(),
                _ => vec![],
            };
            let kept: Vec<Value> = actions
                .into_iter()
                .filter(|a| !drop.contains(s(a)))
                .collect();
            if kept.is_empty() {
                return None;
            }
            let mut st = st.clone();
            st["Action"] = Value::Array(kept);
            Some(st)
        })
        .collect();
    d["Statement"] = Value::Array(sts);
    d
}

/// Error findings of a report naming one of `calls`: rule ids, and one example message.
fn errors_naming(report: &Value, calls: &[&str]) -> (BTreeSet<String>, Option<String>) {
    let mut ids = BTreeSet::new();
    let mut example = None;
    for f in findings(report) {
        if f["status"] != "error" {
            continue;
        }
        let msg = s(&f["message"]);
        if let Some((call, _)) = named_call(msg) {
            if calls.contains(&call.as_str()) {
                ids.insert(s(&f["id"]).to_string());
                example.get_or_insert_with(|| msg.to_string());
            }
        }
    }
    (ids, example)
}

struct Row {
    permission: String,
    how: String,
    rules: Vec<String>,
    turned_error: usize,
    turned_skip: usize,
    example: String,
}

#[test]
fn auditor_needs_exactly_the_read_only_policy() {
    let setup = Setup::seed(&[]);
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/auditor-readonly-policy.json"))
            .expect("read policy"),
    )
    .expect("policy is JSON");

    // The table covers the shipped policy exactly (no action without a row, no row without
    // an action), so the policy and this test cannot drift apart.
    let in_policy: BTreeSet<String> = policy_actions(&shipped).into_iter().collect();
    let in_table: BTreeSet<String> = PERMISSIONS.iter().map(|p| p.0.to_string()).collect();
    assert_eq!(
        in_policy, in_table,
        "docs/auditor-readonly-policy.json and this test's PERMISSIONS differ"
    );

    // The policy as installed: the shipped one plus moto's names for the same calls.
    let moto_names: BTreeSet<&str> = PERMISSIONS.iter().filter_map(|p| p.2).collect();
    let mut full = shipped.clone();
    full["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "EmulatorActionNames",
        "Effect": "Allow",
        "Action": moto_names.iter().collect::<Vec<_>>(),
        "Resource": "*"
    }));
    let policy_file = setup.path("auditor-policy.json");
    std::fs::write(&policy_file, full.to_string()).unwrap();
    let auditor_dir = setup.path("auditor");
    let mut helper = LineChild::spawn(
        &repo().join("tests/hardening/auditor.py"),
        &[
            "--provisioned-dir".as_ref(),
            setup.dir.path().as_os_str(),
            "--out-dir".as_ref(),
            auditor_dir.as_os_str(),
            "--policy".as_ref(),
            policy_file.as_os_str(),
            "--exercise-user".as_ref(),
            "tom".as_ref(),
        ],
    );
    assert_eq!(helper.banner["ok"], true, "{}", helper.banner);

    // Baseline: the provisioned admins.
    let admin = audit(
        replaudit(setup.dir.path(), &setup.emu.endpoint),
        &setup.spec,
        &setup.path("admin"),
        &[],
    );
    let baseline = admin.report().clone();
    let n = findings(&baseline).len();

    // The auditors with the full policy: the same findings.
    let run = audit(
        replaudit(&auditor_dir, &setup.emu.endpoint),
        &setup.spec,
        &setup.path("auditor-full"),
        &[],
    );
    assert!(!run.panicked(), "{}", run.stderr);
    let c = compare(&baseline, run.report(), false);
    let errs: Vec<String> = findings(run.report())
        .iter()
        .filter(|f| f["status"] == "error")
        .map(line)
        .collect();
    assert!(
        c.wrong.is_empty() && errs.is_empty() && c.unchanged == n,
        "the read-only auditors must see what the admins see ({} of {n} unchanged):\n{}\n{}",
        c.unchanged,
        c.wrong.join("\n"),
        errs.join("\n")
    );
    assert_eq!(run.code, admin.code, "same exit code as the admin run");

    let mut rows: Vec<Row> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut step = 0;
    for (permission, calls, moto_name) in PERMISSIONS {
        // 1. Without the AWS action.
        let mut drop: BTreeSet<&str> = BTreeSet::from([*permission]);
        let mut how = "enforced".to_string();
        let mut attempt = |drop: &BTreeSet<&str>, helper: &mut LineChild| {
            let answer = helper.ask(&json!({"op": "set", "document": without(&full, drop)}));
            assert_eq!(answer["ok"], true, "{answer}");
            step += 1;
            let run = audit(
                replaudit(&auditor_dir, &setup.emu.endpoint),
                &setup.spec,
                &setup.path(&format!("lp-{step}")),
                &[],
            );
            assert!(!run.panicked(), "{permission}: {}", run.stderr);
            run
        };
        let mut run = attempt(&drop, &mut helper);
        let (mut ids, mut example) = errors_naming(run.report(), calls);
        // 2. The emulator checks another name for these calls: remove that one too.
        if ids.is_empty() {
            if let Some(m) = moto_name {
                drop.insert(m);
                let shared: Vec<&str> = PERMISSIONS
                    .iter()
                    .filter(|p| p.2 == Some(*m) && p.0 != *permission)
                    .map(|p| p.0)
                    .collect();
                how = if shared.is_empty() {
                    format!("via moto name {m}")
                } else {
                    format!("via moto name {m} (shared*)")
                };
                run = attempt(&drop, &mut helper);
                (ids, example) = errors_naming(run.report(), calls);
            }
        }
        let c = compare(&baseline, run.report(), true);
        for p in &c.proven_despite {
            println!("without {permission}: still proven, the missing data named: {p}");
        }
        for w in &c.wrong {
            problems.push(format!("without {permission}: {w}"));
        }
        for u in &c.unexplained_errors {
            problems.push(format!(
                "without {permission}: error without call and cause: {u}"
            ));
        }
        // 3. No rule shows it: the snapshot must still record the failed call.
        if ids.is_empty() {
            let snap = setup.path(&format!("lp-{step}-snapshot.json"));
            let out = replaudit(&auditor_dir, &setup.emu.endpoint)
                .args(["snapshot", "--since", SINCE, "--spec"])
                .arg(&setup.spec)
                .arg("-o")
                .arg(&snap)
                .output()
                .expect("run snapshot");
            let text = std::fs::read_to_string(&snap).unwrap_or_default();
            let recorded = calls.iter().any(|c| {
                text.contains(&format!("\"call\": \"{c}\""))
                    || text.contains(&format!("\"call\":\"{c}\""))
            });
            match SNAPSHOT_ONLY.iter().find(|x| x.0 == *permission) {
                Some((_, why)) if recorded => how = format!("snapshot only: {why}"),
                Some(_) => problems.push(format!(
                    "without {permission}: not even the snapshot records a failed {} (exit {:?}: {})",
                    calls.join("/"),
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                )),
                None if recorded => {
                    how = "snapshot only".into();
                    problems.push(format!(
                        "without {permission}: no finding names {} (only the snapshot records it)",
                        calls.join("/")
                    ))
                }
                None => {
                    how = "NOT ENFORCED by the emulator".into();
                    problems.push(format!(
                        "without {permission}: nothing shows a failed {}",
                        calls.join("/")
                    ))
                }
            }
        }
        rows.push(Row {
            permission: permission.to_string(),
            how,
            rules: ids.into_iter().collect(),
            turned_error: c.turned_error,
            turned_skip: c.turned_skip,
            example: example.unwrap_or_default(),
        });
    }

    // Back to the full policy: the auditors see everything again.
    let answer = helper.ask(&json!({"op": "set", "document": full}));
    assert_eq!(answer["ok"], true, "{answer}");
    let again = audit(
        replaudit(&auditor_dir, &setup.emu.endpoint),
        &setup.spec,
        &setup.path("auditor-full-again"),
        &[],
    );
    let c = compare(&baseline, again.report(), false);
    assert_eq!(c.unchanged, n, "full policy restored: {:?}", c.wrong);

    println!(
        "\nleast privilege: {n} findings in the admin and the full read-only run; {} permissions",
        rows.len()
    );
    println!(
        "{:<44} {:>5} {:>5}  {:<40} rules that turned error",
        "permission removed", "error", "skip", "how"
    );
    for r in &rows {
        println!(
            "{:<44} {:>5} {:>5}  {:<40} {}",
            r.permission,
            r.turned_error,
            r.turned_skip,
            r.how,
            r.rules.join(", ")
        );
    }
    let mut shared: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, _, m) in PERMISSIONS {
        if let Some(m) = m {
            shared.entry(m).or_default().push(p);
        }
    }
    for (m, ps) in shared.iter().filter(|(_, ps)| ps.len() > 1) {
        println!(
            "* moto authorizes the calls of {} all as {m}: removing it denies them together, so each of these rows shows the errors of its own call only",
            ps.join(", ")
        );
    }
    println!("example message per permission:");
    for r in &rows {
        if !r.example.is_empty() {
            println!("  {}: {}", r.permission, r.example);
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The canary runs, and cleans up after itself, as users holding the read-only policy plus
/// `docs/canary-policy.json` (and the emulator action names above, except `s3:ListBucket`).
///
/// Neither policy grants `s3:ListBucket`, and the emulator answers as S3 does without it: a
/// HeadObject/GetObject of a key that does not exist (yet) is 403, not 404 (harness patch 15,
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>). The canary must
/// therefore watch for replicas in a way the documented policy allows (it lists the key's
/// versions, s3:ListBucketVersions). `s3:ListBucket` is moto's name for a few configuration
/// reads the audit makes, none of which the canary makes, so it is left out here: granting it
/// would hide exactly the 403 this test is about.
///
/// What the emulator cannot show: moto 5.2.5 evaluates an Allow statement whose Condition it
/// cannot verify (it knows only `sts:ExternalId`) as an explicit Deny, and authorizes CloudWatch
/// Logs calls against resource `*`. The installed copy therefore drops the conditions
/// (`s3:prefix` on ListBucketVersions, `kms:ViaService` on GenerateDataKey) and widens the
/// logs statements to `*`: this proves the *action list* is complete for the canary, not the
/// scoping, which follows the AWS documentation.
#[test]
fn canary_runs_with_read_only_plus_canary_policy() {
    let setup = Setup::seed(&[]);
    let read: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/auditor-readonly-policy.json")).unwrap(),
    )
    .unwrap();
    let canary: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/canary-policy.json")).unwrap(),
    )
    .unwrap();
    for doc in [&read, &canary] {
        assert!(
            !policy_actions(doc).iter().any(|a| a == "s3:ListBucket"),
            "the documented policies grant no s3:ListBucket"
        );
    }
    let mut statements: Vec<Value> = read["Statement"].as_array().unwrap().clone();
    for st in canary["Statement"].as_array().unwrap() {
        let mut st = st.clone();
        st.as_object_mut().unwrap().remove("Condition");
        let logs = policy_actions(&json!({"Statement": [st.clone()]}))
            .iter()
            .any(|a| a.starts_with("logs:"));
        if logs {
            st["Resource"] = json!("*");
        }
        statements.push(st);
    }
    let moto_names: BTreeSet<&str> = PERMISSIONS
        .iter()
        .filter_map(|p| p.2)
        .filter(|m| *m != "s3:ListBucket")
        .collect();
    statements.push(json!({
        "Sid": "EmulatorActionNames",
        "Effect": "Allow",
        "Action": moto_names.iter().collect::<Vec<_>>(),
        "Resource": "*"
    }));
    let policy_file = setup.path("canary-policy.json");
    std::fs::write(
        &policy_file,
        json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
    )
    .unwrap();
    let dir = setup.path("canary-users");
    let helper = LineChild::spawn(
        &repo().join("tests/hardening/auditor.py"),
        &[
            "--provisioned-dir".as_ref(),
            setup.dir.path().as_os_str(),
            "--out-dir".as_ref(),
            dir.as_os_str(),
            "--policy".as_ref(),
            policy_file.as_os_str(),
        ],
    );
    assert_eq!(helper.banner["ok"], true, "{}", helper.banner);
    let reports = setup.path("canary-reports");
    let out = replaudit(&dir, &setup.emu.endpoint)
        .args(["canary", "--quiet", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(&reports)
        .args(["--canary-timeout", "60", "--canary-observe", "3"])
        .output()
        .expect("run replaudit canary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("canary-latest.json"))
            .unwrap_or_else(|e| panic!("no canary report ({e}): {stderr}")),
    )
    .unwrap();
    let bad: Vec<String> = findings(&report)
        .iter()
        .filter(|f| f["status"] == "error" || f["status"] == "fail")
        .map(line)
        .collect();
    println!(
        "\ncanary as read-only + canary-policy users: exit {:?}, {}",
        out.status.code(),
        report["summary"]
    );
    assert!(
        bad.is_empty(),
        "the canary's calls must all be covered by docs/canary-policy.json:\n{}\n{stderr}",
        bad.join("\n")
    );
    let cleanup: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["id"] == "canary-cleanup")
        .collect();
    assert!(
        !cleanup.is_empty() && cleanup.iter().all(|f| f["status"] == "pass"),
        "cleanup left nothing behind: {cleanup:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
