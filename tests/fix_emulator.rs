//! `replaudit fix` end to end on the emulator: the harness plants configuration defects, `fix`
//! reads the live state and writes its plan, the plan's `commands.sh` is run as printed (each
//! request validated against the AWS service model by botocore, as the AWS CLI does), and a
//! new audit finds nothing failing: the plan cured every defect and broke nothing else.

use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;

/// The defects a configuration change cures, planted together (they touch different fields).
const CURABLE: &[&str] = &[
    "dest-versioning-off",
    "backup-versioning-off",
    "rtc-off",
    "delete-markers-off",
    "no-tls-deny",
    "bpa-off",
    "account-bpa-off",
    "role-missing-replicate-object",
    "dest-policy-missing",
];

fn failing(s: &Setup) -> Vec<String> {
    let o = s
        .cmd()
        .args(["audit", "--spec"])
        .arg(seed_spec())
        .args(["--format", "json", "-o", "-", "--output-dir"])
        .arg(s.path("reports"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "audit printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail" || f["status"] == "error")
        .map(|f| format!("{} {} {}", f["id"], f["resource"], f["message"]))
        .collect()
}

/// More curable defects, that rewrite the same replication rules the first group does.
const CURABLE_RULES: &[&str] = &[
    "no-owner-override",
    "no-replica-key",
    "no-destination-account",
    "rule-disabled",
    "log-rule-wrong-prefix",
];

#[test]
fn a_plan_run_as_printed_cures_the_planted_defects_and_breaks_nothing() {
    cures(CURABLE);
}

#[test]
fn a_plan_rebuilds_the_replication_rules_and_a_missing_configuration() {
    cures(CURABLE_RULES);
    cures(&["no-replication"]);
}

#[test]
fn what_needs_a_person_is_left_to_a_person() {
    // Who may read and who may become the role are the owner's to decide: no change is written.
    let s = Setup::seed(&["clint-granted", "role-extra-trust"]);
    let plan = s.path("plan");
    let o = s
        .cmd()
        .args(["fix", "--spec"])
        .arg(seed_spec())
        .args(["--format", "json", "-o"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let decided: Vec<&str> = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["check"].as_str().unwrap())
        .collect();
    assert!(decided.contains(&"role-trust"), "{v:#}");
    assert!(
        decided.contains(&"access-expectation") || decided.contains(&"bucket-policy-grantees"),
        "{v:#}"
    );
    assert_eq!(v["changes"].as_array().unwrap().len(), 0, "{v:#}");
    let sh = std::fs::read_to_string(plan.join("commands.sh")).unwrap();
    assert!(!sh.lines().any(|l| l.starts_with("aws ")), "{sh}");
}

fn cures(defects: &[&str]) {
    let s = Setup::seed(defects);
    let before = failing(&s);
    assert!(!before.is_empty(), "defects not planted: {defects:?}");
    let plan = s.path("plan");
    let o = s
        .cmd()
        .args(["fix", "--spec"])
        .arg(seed_spec())
        .arg("-o")
        .arg(&plan)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the plan does not cure everything:\n{table}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(table.contains("plan verified"), "{table}");
    let run = Command::new(python())
        .arg(repo().join("tests/harness/run_commands.py"))
        .arg(&plan)
        .env("AWS_CONFIG_FILE", s.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", s.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let ran = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the printed commands fail: {ran}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let after = failing(&s);
    assert!(
        after.is_empty(),
        "still failing after the plan ({ran}):\n{after:#?}\nplan:\n{table}"
    );
}

#[test]
fn what_if_on_live_state_gates_a_policy_change() {
    // The same command CI runs on a pull request that edits the source bucket policy: removing
    // tom's read breaks the spec (exit 1); the policy as it is breaks nothing (exit 0).
    let s = Setup::seed(&[]);
    let snap = s.path("snap.json");
    s.snapshot(&snap);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    let policy: Value =
        serde_json::from_str(v["buckets"]["source"]["policy"]["value"].as_str().unwrap()).unwrap();
    let change = |p: &Value| {
        let f = s.path("change.json");
        let c = serde_json::json!({"operation": "PutBucketPolicy",
            "request": {"Bucket": "rubes-s3-bucket", "Policy": p}});
        std::fs::write(&f, c.to_string()).unwrap();
        s.cmd()
            .args(["what-if", "--spec"])
            .arg(seed_spec())
            .arg("--change")
            .arg(&f)
            .output()
            .unwrap()
    };
    let same = change(&policy);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let mut without_tom = policy.clone();
    without_tom["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|st| !st.to_string().contains("tom-cruise") || st["Effect"] == "Deny");
    let broken = change(&without_tom);
    let out = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{out}");
    assert!(out.contains("tom-cruise") && out.contains("loses"), "{out}");
}

/// `fix -o DIR` on the set-up; the plan must be green (it cures everything planted).
fn make_plan(s: &Setup, name: &str) -> std::path::PathBuf {
    let plan = s.path(name);
    let o = s
        .cmd()
        .args(["fix", "--spec"])
        .arg(seed_spec())
        .arg("-o")
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    plan
}

/// `fix --apply DIR` or `fix --rollback DIR`.
fn fix_in(
    s: &Setup,
    flag: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut c = s.cmd();
    c.args(["fix", "--spec"])
        .arg(seed_spec())
        .arg(flag)
        .arg(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every document a fix can write, as the snapshot recorded it: bucket settings, the
/// principals' policies, the accounts' Block Public Access.
fn documents(s: &Setup, name: &str) -> Vec<(String, Value)> {
    let path = s.path(name);
    s.snapshot(&path);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut out = Vec::new();
    for (alias, b) in v["buckets"].as_object().unwrap() {
        for field in [
            "policy",
            "replication",
            "versioning",
            "public_access_block",
            "encryption",
            "ownership_controls",
        ] {
            out.push((format!("{alias} {field}"), b[field]["value"].clone()));
        }
    }
    for (arn, p) in v["principals"].as_object().unwrap() {
        out.push((arn.clone(), p["details"].clone()));
    }
    for (alias, a) in v["accounts"].as_object().unwrap() {
        out.push((
            format!("{alias} public_access_block"),
            a["public_access_block"]["value"].clone(),
        ));
    }
    out
}

/// The documents after a rollback are the ones before, byte for byte, except versioning:
/// S3 cannot make a bucket unversioned again, only Suspended
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html>).
fn assert_restored(was: &[(String, Value)], now: &[(String, Value)]) {
    assert_eq!(was.len(), now.len());
    for ((k, a), (_, b)) in was.iter().zip(now) {
        if k.ends_with(" versioning") && a == "Disabled" {
            assert_eq!(b, "Suspended", "{k}");
        } else {
            assert_eq!(a, b, "{k} not restored");
        }
    }
}

fn changes_of(path: &std::path::Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    v["changes"].as_array().unwrap().clone()
}

#[test]
fn apply_cures_the_planted_defects_and_rollback_restores_every_document() {
    apply_and_roll_back(CURABLE);
}

#[test]
fn apply_rebuilds_the_replication_rules_and_rollback_restores_them() {
    apply_and_roll_back(CURABLE_RULES);
    // No configuration before: the rollback deletes the one apply wrote.
    apply_and_roll_back(&["no-replication"]);
}

/// Plant `defects`, plan, apply: nothing fails; roll back: every document as it was.
fn apply_and_roll_back(defects: &[&str]) {
    let s = Setup::seed(defects);
    let was = documents(&s, "before.json");
    assert!(!failing(&s).is_empty());
    let plan = make_plan(&s, "plan");
    let o = fix_in(&s, "--apply", &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("failing findings before:"),
        "{}",
        text(&o)
    );
    let after = failing(&s);
    assert!(after.is_empty(), "still failing after apply:\n{after:#?}");
    assert_eq!(
        changes_of(&plan.join("applied.json")),
        changes_of(&plan.join("changes.json"))
    );
    let o = fix_in(&s, "--rollback", &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_restored(&was, &documents(&s, "after.json"));
    // Nothing is applied any more: the record is empty, and the plan can be applied again.
    assert!(changes_of(&plan.join("applied.json")).is_empty());
}

#[test]
fn an_interrupted_apply_leaves_a_record_the_rollback_undoes() {
    let s = Setup::seed(CURABLE);
    let was = documents(&s, "before.json");
    let plan = make_plan(&s, "plan");
    let o = fix_in(
        &s,
        "--apply",
        &plan,
        &[("REPLAUDIT_TEST_STOP_AFTER_CHANGES", "2")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("2 of"), "{}", text(&o));
    let all = changes_of(&plan.join("changes.json"));
    assert!(all.len() > 2, "{all:#?}");
    assert_eq!(changes_of(&plan.join("applied.json")), all[..2].to_vec());
    let o = fix_in(&s, "--rollback", &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_restored(&was, &documents(&s, "after.json"));
    // Nothing is applied any more: the record is empty, and the plan can be applied again.
    assert!(changes_of(&plan.join("applied.json")).is_empty());
}

#[test]
fn apply_refuses_a_plan_whose_documents_changed_and_writes_nothing() {
    // Two plans made on the same state; once the first is applied, the second's documents are
    // not the ones it was made from.
    let s = Setup::seed(&["no-tls-deny", "rtc-off"]);
    let first = make_plan(&s, "first");
    let second = make_plan(&s, "second");
    let o = fix_in(&s, "--apply", &first, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let was = documents(&s, "before.json");
    let o = fix_in(&s, "--apply", &second, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("changed since the plan was made; run fix again"),
        "{out}"
    );
    assert!(out.contains("rubes-s3-bucket"), "{out}");
    assert_eq!(was, documents(&s, "after.json"));
    assert!(!second.join("applied.json").exists());
}

/// The fixer's permissions: each write the 17 operations need (named as the writer names a
/// failed call, by its IAM action) and the name moto 5.2.5 authorizes it under where that is
/// not the AWS action (none: moto checks the AWS name). moto's S3 action map lacks
/// `?replication`, `?encryption`, `?ownershipControls` and misspells `?publicAccessBlock`, so
/// those PUTs are checked as s3:CreateBucket and their DELETEs as s3:DeleteBucket; its S3
/// Control map names the account-level call s3:PutPublicAccessBlock.
const FIXER_WRITES: &[(&str, &[&str])] = &[
    ("s3:PutBucketPolicy", &[]),
    ("s3:DeleteBucketPolicy", &[]),
    (
        "s3:PutReplicationConfiguration",
        &["s3:CreateBucket", "s3:DeleteBucket"],
    ),
    ("s3:PutBucketVersioning", &[]),
    (
        "s3:PutBucketPublicAccessBlock",
        &["s3:CreateBucket", "s3:DeleteBucket"],
    ),
    (
        "s3:PutAccountPublicAccessBlock",
        &["s3:PutPublicAccessBlock", "s3:DeletePublicAccessBlock"],
    ),
    (
        "s3:PutEncryptionConfiguration",
        &["s3:CreateBucket", "s3:DeleteBucket"],
    ),
    (
        "s3:PutBucketOwnershipControls",
        &["s3:CreateBucket", "s3:DeleteBucket"],
    ),
    ("iam:PassRole", &[]),
    ("iam:PutRolePolicy", &[]),
    ("iam:DeleteRolePolicy", &[]),
    ("iam:PutUserPolicy", &[]),
    ("iam:DeleteUserPolicy", &[]),
    ("iam:UpdateAssumeRolePolicy", &[]),
    ("kms:PutKeyPolicy", &[]),
];

/// Least privilege for `fix --apply`: the plan applies as IAM users holding exactly
/// docs/auditor-readonly-policy.json plus docs/fixer-policy.json (and, test-only, moto's names
/// for the same calls, see tests/least_privilege.rs); without one of the writes the plan uses,
/// apply fails naming that permission, and nothing after it is written.
#[test]
fn apply_works_with_the_fixer_policy_and_needs_each_write_it_uses() {
    use crate::hardening::{replaudit, LineChild};
    let s = Setup::seed(CURABLE);
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(repo().join(p)).unwrap()).unwrap()
    };
    let fixer = read("docs/fixer-policy.json");
    let mut statements = read("docs/auditor-readonly-policy.json")["Statement"]
        .as_array()
        .unwrap()
        .clone();
    for st in fixer["Statement"].as_array().unwrap() {
        let mut st = st.clone();
        // moto treats a Condition it cannot evaluate as a Deny (tests/hardening/README.md).
        st.as_object_mut().unwrap().remove("Condition");
        statements.push(st);
    }
    let actions: Vec<String> = fixer["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| match &st["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            _ => vec![],
        })
        .filter(|a| !a.contains(":Get"))
        .collect();
    let mut table: Vec<String> = FIXER_WRITES.iter().map(|w| w.0.to_string()).collect();
    let mut listed = actions.clone();
    listed.sort();
    table.sort();
    assert_eq!(
        listed, table,
        "docs/fixer-policy.json and FIXER_WRITES differ"
    );
    let mut moto: Vec<&str> = FIXER_WRITES
        .iter()
        .flat_map(|w| w.1.iter().copied())
        .chain(["s3:ListBucket", "s3:GetPublicAccessBlock"])
        .collect();
    moto.sort();
    moto.dedup();
    statements.push(
        json!({"Sid": "EmulatorActionNames", "Effect": "Allow", "Action": moto, "Resource": "*"}),
    );
    let policy_file = s.path("fixer-policy.json");
    std::fs::write(
        &policy_file,
        json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
    )
    .unwrap();
    // The plan first: the fixer users, who may write the buckets' settings, are grantees the
    // who-can check reports, and the plan leaves those to a person.
    let plan = make_plan(&s, "plan");
    let users = s.path("fixer-users");
    let mut helper = LineChild::spawn(
        &repo().join("tests/hardening/auditor.py"),
        &[
            "--provisioned-dir".as_ref(),
            s.dir.path().as_os_str(),
            "--out-dir".as_ref(),
            users.as_os_str(),
            "--policy".as_ref(),
            policy_file.as_os_str(),
        ],
    );
    assert_eq!(helper.banner["ok"], true, "{}", helper.banner);
    let fixer_run = |flag: &str, dir: &std::path::Path| {
        replaudit(&users, &s.emu.endpoint)
            .args(["fix", "--spec"])
            .arg(seed_spec())
            .arg(flag)
            .arg(dir)
            .output()
            .unwrap()
    };
    let ops: Vec<String> = changes_of(&plan.join("changes.json"))
        .iter()
        .map(|c| c["operation"].as_str().unwrap().to_string())
        .collect();
    // Each write the plan uses that moto checks under a name of its own (not shared with
    // another call of the plan), removed in turn.
    let removable: &[(&str, &str, &[&str])] = &[
        ("PutBucketVersioning", "s3:PutBucketVersioning", &[]),
        ("PutBucketPolicy", "s3:PutBucketPolicy", &[]),
        ("PutRolePolicy", "iam:PutRolePolicy", &[]),
        (
            "PutPublicAccessBlock",
            "s3:PutAccountPublicAccessBlock",
            &["s3:PutPublicAccessBlock"],
        ),
        // moto checks it as s3:CreateBucket, as it does PutBucketReplication: the bucket's
        // Block Public Access comes first in the plan, so it is the call that fails.
        (
            "PutPublicAccessBlock",
            "s3:PutBucketPublicAccessBlock",
            &["s3:CreateBucket"],
        ),
    ];
    for (op, perm, extra) in removable {
        assert!(ops.iter().any(|o| o == op), "the plan has no {op}: {ops:?}");
        let drop: Vec<&str> = std::iter::once(*perm)
            .chain(extra.iter().copied())
            .collect();
        let a = helper.ask(&json!({"op": "set", "drop": drop}));
        assert_eq!(a["ok"], true, "{a}");
        let o = fixer_run("--apply", &plan);
        let out = text(&o);
        assert_ne!(o.status.code(), Some(0), "apply without {perm}: {out}");
        assert!(out.contains(perm), "apply without {perm} names it: {out}");
        let a = helper.ask(&json!({"op": "set", "drop": []}));
        assert_eq!(a["ok"], true, "{a}");
        let o = fixer_run("--rollback", &plan);
        assert_eq!(
            o.status.code(),
            Some(0),
            "rollback after {perm}: {}",
            text(&o)
        );
    }
    let o = fixer_run("--apply", &plan);
    assert_eq!(o.status.code(), Some(0), "apply as the fixer: {}", text(&o));
    let left: Vec<String> = failing(&s)
        .into_iter()
        .filter(|f| !f.contains("replaudit-auditor"))
        .collect();
    assert!(left.is_empty(), "{left:#?}");
}
