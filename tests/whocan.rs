//! `replaudit who-can` and the `who-can` rule against the emulated accounts: the seed set-up
//! plus the `planted-admin-role` defect (an XYZ role with `s3:*`, and an XYZ user who may assume
//! it, neither named anywhere in the spec).

use crate::common;

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

/// A KMS grant is part of who can decrypt (issue 20 item 1): one grant of Decrypt on the seed's
/// destination key to clint, whom neither policy lets decrypt, makes `who-can` list him with
/// the grant id as the reason, and the `who-can` rule fail on him.
/// AWS: "When authorizing access to a KMS key, grants are considered along with key policies
/// and IAM policies" (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>).
#[test]
fn a_kms_grant_lists_its_grantee_with_the_grant_as_the_reason() {
    let s = Setup::seed(&[]);
    let key = format!("arn:aws:kms:ap-southeast-2:{ABCD}:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
    let clint = abcd("user/clint-eastwood");
    let script = r#"
import boto3, sys
endpoint, key, grantee = sys.argv[1:]
kms = boto3.Session(profile_name="abcd-audit").client("kms", endpoint_url=endpoint, region_name="ap-southeast-2")
print(kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"])["GrantId"])
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, &s.emu.endpoint, &key, &clint])
        .env("AWS_CONFIG_FILE", s.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", s.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "CreateGrant: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grant_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!grant_id.is_empty());

    let snap = s.path("state.json");
    s.snapshot(&snap);
    let o = s
        .cmd()
        .args(["who-can", "--output", "json", "--spec"])
        .arg(&s.spec)
        .arg("--snapshot")
        .arg(&snap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let w: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("who-can JSON ({e}): {stderr}"));
    assert_eq!(w["errors"].as_array().unwrap().len(), 0, "{}", w["errors"]);
    let g = find(&w, &clint, "destination", "kms:Decrypt")
        .unwrap_or_else(|| panic!("clint decrypts by the grant: {}", w["grants"]));
    assert_eq!(g["level"], "yes", "{g}");
    assert_eq!(g["deciding"][0], format!("KMS grant {grant_id}"), "{g}");
    assert_eq!(g["resource"], key.as_str());
    // The grant gives Decrypt on that key only: nothing on the buckets themselves.
    assert!(w["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["subject"] == clint.as_str())
        .all(|x| x["action"] == "kms:Decrypt" && x["bucket"] == "destination"));

    // The table names the grant as the way in.
    let o = s
        .cmd()
        .args(["who-can", "--bucket", "destination", "--spec"])
        .arg(&s.spec)
        .arg("--snapshot")
        .arg(&snap)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table
        .lines()
        .find(|l| l.contains("user/clint-eastwood"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(&format!("KMS grant {grant_id}")), "{row}");

    // The rule fails on clint's decrypt, and on nothing else.
    let report = audit_offline(&s, &s.spec, &snap, "reports-grant");
    let fails: Vec<&Value> = with_status(&report, "fail")
        .into_iter()
        .filter(|f| f["id"] == "who-can")
        .collect();
    assert_eq!(fails.len(), 1, "{}", describe(&report));
    let msg = fails[0]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "{clint} (user) can kms:Decrypt by KMS grant {grant_id}"
        )),
        "{msg}"
    );
    assert_eq!(fails[0]["evidence"]["class"], "decrypt");
}
