//! Hostile or broken state in the accounts, audited offline from a snapshot of the emulated
//! seed set-up with one thing broken at a time: a policy that is not JSON, an unknown condition
//! operator, a 20 KB policy, values nested deeper than any parser should follow, and odd object
//! key names in the spec. Each gives a clear `error` finding naming the policy (or an ordinary
//! verdict), never a panic.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

struct Offline {
    dir: tempfile::TempDir,
    snapshot: Value,
}

fn offline_base() -> Offline {
    let s = Setup::seed(&[]);
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("state.json");
    s.snapshot(&snap);
    let snapshot = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    Offline { dir, snapshot }
}

/// Audit a (mutated) snapshot with a spec; returns exit code, stderr and the report.
fn audit(o: &Offline, spec: &Path, snap: &Value, name: &str) -> (Option<i32>, String, Value) {
    let path = o.dir.path().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(snap).unwrap()).unwrap();
    let reports = o.dir.path().join(format!("{name}-reports"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["audit", "--quiet", "--spec"])
        .arg(spec)
        .arg("--snapshot")
        .arg(&path)
        .arg("--output-dir")
        .arg(&reports)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{name}: panic: {stderr}");
    let report = serde_json::from_str(
        &std::fs::read_to_string(reports.join("audit-latest.json"))
            .unwrap_or_else(|e| panic!("{name}: no report ({e}): {stderr}")),
    )
    .unwrap();
    (out.status.code(), stderr, report)
}

/// The document of tom-cruise's first inline policy, and the source bucket policy.
fn tom_policy(s: &mut Value) -> &mut Value {
    &mut s["principals"]["arn:aws:iam::271089868719:user/tom-cruise"]["details"]["value"]
        ["inline_policies"]["value"][0]["document"]["value"]
}

fn source_policy(s: &mut Value) -> &mut Value {
    &mut s["buckets"]["source"]["policy"]["value"]
}

fn errors_mentioning<'a>(r: &'a Value, needle: &str) -> Vec<&'a Value> {
    with_status(r, "error")
        .into_iter()
        .filter(|f| f["message"].as_str().unwrap_or_default().contains(needle))
        .collect()
}

#[test]
fn broken_policies_in_the_accounts_become_error_findings() {
    let o = offline_base();
    let spec = seed_spec();
    let (code, _, clean) = audit(&o, &spec, &o.snapshot, "clean");
    assert_eq!(code, Some(0), "{}", describe(&clean));

    // 1. Not JSON.
    let mut s = o.snapshot.clone();
    *tom_policy(&mut s) = Value::String("{\"Version\": \"2012-10-17\", \"Statement\": [".into());
    let (code, _, r) = audit(&o, &spec, &s, "not-json");
    assert_eq!(code, Some(1));
    let e = errors_mentioning(&r, "tom-cruise inline policy");
    assert!(
        !e.is_empty(),
        "the broken policy is named: {}",
        describe(&r)
    );
    assert!(
        with_status(&r, "pass")
            .iter()
            .all(|f| !(f["id"] == "access-expectation"
                && f["message"].as_str().unwrap().contains("tom-cruise"))),
        "no verdict on tom from a policy we cannot read"
    );

    // 2. An unknown condition operator in the bucket policy.
    let mut s = o.snapshot.clone();
    let mut p: Value = serde_json::from_str(source_policy(&mut s).as_str().unwrap()).unwrap();
    p["Statement"][0]["Condition"] =
        serde_json::json!({"StringLikeButNotQuite": {"aws:username": "x"}});
    *source_policy(&mut s) = Value::String(p.to_string());
    let (code, _, r) = audit(&o, &spec, &s, "unknown-operator");
    assert_eq!(code, Some(1));
    let e = errors_mentioning(&r, "StringLikeButNotQuite");
    assert!(!e.is_empty(), "operator named: {}", describe(&r));
    assert!(
        e.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("$.Statement[0].Condition")),
        "JSON path given: {}",
        describe(&r)
    );

    // 3. A 20 KB bucket policy (AWS's limit) of harmless Deny statements: still evaluated.
    let mut s = o.snapshot.clone();
    let mut p: Value = serde_json::from_str(source_policy(&mut s).as_str().unwrap()).unwrap();
    let stmts = p["Statement"].as_array_mut().unwrap();
    let mut i = 0;
    while serde_json::to_string(&stmts).unwrap().len() < 20_000 {
        stmts.push(serde_json::json!({"Sid": format!("Pad{i}"), "Effect": "Deny", "Principal": "*", "Action": "s3:PutBucketWebsite", "Resource": "arn:aws:s3:::rubes-s3-bucket"}));
        i += 1;
    }
    *source_policy(&mut s) = Value::String(p.to_string());
    let (code, _, r) = audit(&o, &spec, &s, "large");
    assert_eq!(
        code,
        Some(0),
        "a large valid policy changes nothing: {}",
        describe(&r)
    );

    // 4. A condition value nested 10,000 levels deep: refused, not followed.
    let mut s = o.snapshot.clone();
    let mut deep = String::from("\"x\"");
    for _ in 0..10_000 {
        deep = format!("[{deep}]");
    }
    let text = source_policy(&mut s).as_str().unwrap().replacen(
        "\"Statement\"",
        &format!("\"Deep\": {deep}, \"Statement\""),
        1,
    );
    *source_policy(&mut s) = Value::String(text);
    let (code, _, r) = audit(&o, &spec, &s, "deep");
    assert_eq!(code, Some(1));
    assert!(
        !errors_mentioning(&r, "bucket policy of rubes-s3-bucket").is_empty(),
        "{}",
        describe(&r)
    );
}

#[test]
fn odd_object_keys_in_the_spec_are_just_keys() {
    let o = offline_base();
    let long = "k".repeat(1000);
    for (name, key) in [
        ("unicode", "reports/ünïcødé 報告/𝔰𝔞𝔪𝔭𝔩𝔢.txt".to_string()),
        ("dotdot", "reports/../../etc/passwd".to_string()),
        ("long", format!("reports/{long}")),
    ] {
        let text = std::fs::read_to_string(seed_spec()).unwrap().replace(
            "sample_key = \"reports/sample.txt\"",
            &format!("sample_key = {}", toml_string(&key)),
        );
        let spec = o.dir.path().join(format!("{name}.toml"));
        std::fs::write(&spec, text).unwrap();
        let (code, stderr, r) = audit(&o, &spec, &o.snapshot, name);
        assert!(matches!(code, Some(0) | Some(1)), "{name}: {stderr}");
        let access: Vec<&Value> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "access-expectation")
            .collect();
        assert!(
            access
                .iter()
                .any(|f| f["resource"].as_str().unwrap().ends_with(&key)),
            "{name}: the key is used as given"
        );
        assert!(
            access.iter().all(|f| f["status"] != "error"),
            "{name}: {}",
            describe(&r)
        );
    }
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
