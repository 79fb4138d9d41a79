//! `replaudit who-can` and the `who-can` rule against the emulated accounts: the seed set-up
//! plus the `planted-admin-role` defect (an XYZ role with `s3:*`, and an XYZ user who may assume
//! it, neither named anywhere in the spec).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const XYZ: &str = "111122223333";
const ABCD: &str = "271089868719";

fn xyz(what: &str) -> String {
    format!("arn:aws:iam::{XYZ}:{what}")
}

fn abcd(what: &str) -> String {
    format!("arn:aws:iam::{ABCD}:{what}")
}

/// `bucket -> subject -> actions` of one class, with the chain of each (subject, action).
fn by_class(w: &Value, class: &str) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for g in w["grants"].as_array().unwrap() {
        if g["class"] == class {
            out.entry(g["bucket"].as_str().unwrap().into())
                .or_default()
                .entry(g["subject"].as_str().unwrap().into())
                .or_default()
                .insert(g["action"].as_str().unwrap().into());
        }
    }
    out
}

fn find<'a>(w: &'a Value, subject: &str, bucket: &str, action: &str) -> Option<&'a Value> {
    w["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["subject"] == subject && g["bucket"] == bucket && g["action"] == action)
}

fn audit_offline(s: &Setup, spec: &Path, snap: &Path, name: &str) -> Value {
    let dir = s.path(name);
    let out = s
        .cmd()
        .args(["audit", "--quiet", "--format", "json", "--spec"])
        .arg(spec)
        .arg("--snapshot")
        .arg(snap)
        .arg("--output-dir")
        .arg(&dir)
        .output()
        .expect("run replaudit audit");
    let text = std::fs::read_to_string(dir.join("audit-latest.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn who_can_names_the_planted_role_and_user_and_the_rule_fails_on_them_unless_expected() {
    let s = Setup::seed(&["planted-admin-role"]);
    // One snapshot, after provisioning (so the provisioning's own changes are not reported).
    let since = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let snap = s.path("state.json");
    let o = s
        .cmd()
        .args(["snapshot", "--since", &since, "--spec"])
        .arg(&s.spec)
        .arg("-o")
        .arg(&snap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = s
        .cmd()
        .args(["who-can", "--output", "json", "--spec"])
        .arg(&s.spec)
        .arg("--snapshot")
        .arg(&snap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "nothing left unevaluated: {stderr}"
    );
    let w: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(w["errors"].as_array().unwrap().len(), 0, "{}", w["errors"]);
    assert!(w["not_evaluated"][0].as_str().unwrap().contains("SCPs"));

    let role = xyz("role/support/l2-support-admin");
    let user = xyz("user/l2-contractor");
    let replication = xyz("role/s3_replication_role");
    let tom = abcd("user/tom-cruise");
    let clint = abcd("user/clint-eastwood");

    // Exactly who can read each bucket.
    let read = by_class(&w, "read");
    let readers = |b: &str| -> BTreeSet<String> {
        read.get(b)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| s.to_string()).collect() };
    let xyz_root = xyz("root");
    let xyz_admin = xyz("user/replaudit-admin");
    let abcd_root = abcd("root");
    let abcd_admin = abcd("user/replaudit-admin");
    assert_eq!(
        readers("source"),
        set(&[&xyz_root, &xyz_admin, &replication, &tom, &role, &user]),
    );
    assert_eq!(
        readers("destination"),
        set(&[&abcd_root, &abcd_admin, &tom])
    );
    assert_eq!(
        readers("logs"),
        set(&[&xyz_root, &xyz_admin, &replication, &role, &user])
    );
    assert_eq!(
        readers("logs-backup"),
        set(&[&xyz_root, &xyz_admin, &role, &user])
    );

    // The planted role by its own policy, the user through it.
    let own = find(&w, &role, "source", "s3:GetObject").expect("role reads");
    assert!(own.get("via").is_none(), "{own}");
    assert_eq!(own["level"], "yes");
    assert!(own["deciding"][0].as_str().unwrap().contains("Sid S3Admin"));
    let chained = find(&w, &user, "source", "s3:GetObject").expect("user reads");
    assert_eq!(chained["via"][0], role.as_str());
    let hop = &w["chains"][chained["chain"].as_u64().unwrap() as usize][0];
    assert_eq!(hop["role"], role.as_str());
    assert_eq!(hop["how"], "sts:AssumeRole");
    assert!(
        hop["deciding"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("trust policy of")),
        "{hop}"
    );
    // The replication role with its limited rights: it reads what replication reads, writes
    // replicas, and controls nothing.
    assert_eq!(
        read["source"][&replication],
        set(&["s3:GetObjectVersionForReplication", "s3:ListBucket"])
    );
    assert_eq!(
        by_class(&w, "write")["destination"][&replication],
        set(&["s3:ReplicateDelete", "s3:ReplicateObject"])
    );
    assert!(by_class(&w, "control")
        .values()
        .all(|m| !m.contains_key(&replication)));
    // tom reads the source (bucket policy + his identity policy, across accounts); clint nothing.
    assert_eq!(
        read["source"][&tom],
        set(&["s3:GetObject", "s3:ListBucket"])
    );
    assert!(find(&w, &tom, "source", "kms:Decrypt").is_some());
    assert!(w["grants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["subject"] != clint.as_str()));

    // The table names the chain.
    let o = s
        .cmd()
        .args([
            "who-can",
            "--bucket",
            "source",
            "--action",
            "s3:GetObject",
            "--spec",
        ])
        .arg(&s.spec)
        .arg("--snapshot")
        .arg(&snap)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table
        .lines()
        .find(|l| l.contains("user/l2-contractor"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("(sts:AssumeRole)"), "{row}");
    assert!(!table.contains("clint-eastwood"), "{table}");

    // The rule: fails on exactly the planted ones, for every class they reach.
    let report = audit_offline(&s, &s.spec, &snap, "reports-seed");
    assert_eq!(
        rule_ids(&report, "fail"),
        vec!["who-can".to_string()],
        "{}",
        describe(&report)
    );
    assert_eq!(rule_ids(&report, "error"), Vec::<String>::new());
    let fails = with_status(&report, "fail");
    let failed: BTreeSet<(String, String)> = fails
        .iter()
        .map(|f| {
            (
                f["resource"].as_str().unwrap().to_string(),
                f["evidence"]["class"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for b in ["rubes-s3-bucket", "xyz-app-logs", "xyz-app-logs-backup"] {
        for c in ["read", "write", "control"] {
            want.insert((format!("arn:aws:s3:::{b}"), c.to_string()));
        }
    }
    assert_eq!(failed, want);
    for f in &fails {
        let msg = f["message"].as_str().unwrap();
        assert!(msg.contains(&format!("{role} (role) can")), "{msg}");
        assert!(
            msg.contains(&format!("{user} (user) via {role} (sts:AssumeRole) can")),
            "{msg}"
        );
        assert!(!msg.contains("tom-cruise") && !msg.contains("s3_replication_role"));
    }

    // ...and passes once the spec expects them (the role named without its path).
    let text = std::fs::read_to_string(&s.spec).unwrap().replace(
        "\"arn:aws:iam::111122223333:user/replaudit-*\"",
        "\"arn:aws:iam::111122223333:user/replaudit-*\", \"arn:aws:iam::111122223333:user/l2-contractor\", \"arn:aws:iam::111122223333:role/l2-support-admin\"",
    );
    let allowing = s.path("allowing.toml");
    std::fs::write(&allowing, text).unwrap();
    let report = audit_offline(&s, &allowing, &snap, "reports-allowing");
    let who: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "who-can")
        .collect();
    assert_eq!(who.len(), 14, "3 classes on 4 buckets + decrypt on 2");
    assert!(
        who.iter().all(|f| f["status"] == "pass"),
        "{}",
        describe(&report)
    );
    assert_eq!(rule_ids(&report, "fail"), Vec::<String>::new());
}
