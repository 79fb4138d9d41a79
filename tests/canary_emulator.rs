//! `replaudit audit --canary` / `replaudit canary` end to end against the emulated pair of
//! accounts: the seed set-up done right, every replication failure mode the emulator can
//! produce, a denied reader, Ctrl-C, a crashed run cleaned up afterwards, a refused run, and a
//! pre-existing object at a canary key. Every test lists *all* versions of every spec bucket
//! before and after, and requires them to be identical: zero canary versions left behind and
//! nothing else touched.

use crate::common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

/// Set the emulator's replication mode and delay.
fn replication(s: &Setup, mode: &str, delay: f64) {
    s.emu.control(
        "/_harness/replication",
        &format!(r#"{{"mode": "{mode}", "delay_seconds": {delay}}}"#),
    );
}

/// GET the emulator's replication state (mode, delay, counters, pending).
fn harness_state(s: &Setup) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys,urllib.request as u;print(u.urlopen(sys.argv[1]).read().decode())",
            &format!("{}/_harness/replication", s.emu.endpoint),
        ])
        .output()
        .expect("harness state");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("harness state is JSON")
}

/// Wait until the emulator has no replication job scheduled (late replicas have landed).
fn wait_replication_idle(s: &Setup) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness_state(s)["pending"].as_u64() != Some(0) {
        assert!(Instant::now() < deadline, "replication never went idle");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run a Python snippet with boto3 against the set-up (argv[1] = the set-up's directory, which
/// holds provisioned.json and the AWS config files; the admin profiles of both accounts).
fn py(s: &Setup, code: &str, args: &[&str]) -> String {
    const PRELUDE: &str = r#"
import json, os, sys, boto3
from botocore.config import Config
D = sys.argv[1]
PROV = json.load(open(os.path.join(D, "provisioned.json")))
os.environ["AWS_CONFIG_FILE"] = os.path.join(D, "aws-config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(D, "aws-credentials")
for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
def client(profile, region):
    return boto3.Session(profile_name=profile).client("s3", region_name=region,
        endpoint_url=PROV["endpoint"], config=Config(s3={"addressing_style": "path"}))
def owner(alias):
    b = PROV["buckets"][alias]
    prof = next(a["profile"] for a in PROV["accounts"].values() if a["account_id"] == b["account_id"])
    return client(prof, b["region"]), b["name"]
def user(alias, region):
    return client(PROV["users"][alias]["profile"], region)
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(format!("{PRELUDE}\n{code}"))
        .arg(s.dir.path())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every object version and delete marker in every bucket of the spec:
/// (bucket, key, version id, is delete marker, ETag).
fn all_versions(s: &Setup) -> Vec<(String, String, String, bool, String)> {
    let text = py(
        s,
        r#"
out = []
for alias in sorted(PROV["buckets"]):
    s3, name = owner(alias)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for v in page.get("Versions", []):
            # CloudWatch Logs' own permission check, written by every export task at a fixed
            # key (the bucket root in moto): not a canary object, and not the canary's to delete.
            if v["Key"] == "aws-logs-write-test":
                continue
            out.append([name, v["Key"], v["VersionId"], False, v["ETag"]])
        for m in page.get("DeleteMarkers", []):
            out.append([name, m["Key"], m["VersionId"], True, ""])
print(json.dumps(sorted(out)))
"#,
        &[],
    );
    serde_json::from_str(&text).expect("versions JSON")
}

fn canary_versions(v: &[(String, String, String, bool, String)]) -> Vec<String> {
    v.iter()
        .filter(|x| x.1.contains("replaudit-canary/"))
        .map(|x| {
            format!(
                "s3://{}/{} {}{}",
                x.0,
                x.1,
                x.2,
                if x.3 { " (delete marker)" } else { "" }
            )
        })
        .collect()
}

/// `replaudit canary` on the set-up's spec; the process output and the JSON report.
fn run_canary(s: &Setup, extra: &[&str]) -> (Output, Value) {
    let out = s
        .cmd()
        .args(["canary", "--quiet", "--spec"])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(s.reports_dir())
        .args(extra)
        .output()
        .expect("run replaudit canary");
    let json =
        std::fs::read_to_string(s.reports_dir().join("canary-latest.json")).unwrap_or_else(|e| {
            panic!(
                "no canary report ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out, serde_json::from_str(&json).expect("report is JSON"))
}

fn canary_findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"].as_str().is_some_and(|id| id.starts_with("canary-")))
        .collect()
}

fn show(fs: &[&Value]) -> String {
    fs.iter()
        .map(|f| {
            format!(
                "  {} {} {}: {}",
                f["status"], f["id"], f["resource"], f["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one finding with this id whose resource contains `resource`.
fn finding<'a>(report: &'a Value, id: &str, resource: &str) -> &'a Value {
    let all = canary_findings(report);
    let hits: Vec<&&Value> = all
        .iter()
        .filter(|f| {
            f["id"] == id
                && f["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(resource)
        })
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one {id} finding for {resource}:\n{}",
        show(&all)
    );
    hits[0]
}

/// Zero canary versions anywhere, and every other version exactly as before the run.
fn assert_untouched(s: &Setup, before: &[(String, String, String, bool, String)]) {
    let after = all_versions(s);
    assert_eq!(
        canary_versions(&after),
        Vec::<String>::new(),
        "canary versions left behind"
    );
    assert_eq!(after, before, "bucket contents changed");
}

fn assert_cleanup_passed(report: &Value) {
    let c = finding(report, "canary-cleanup", "canary run");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["evidence"]["left_behind_count"], 0, "{c}");
}

const SOURCE_RULE: &str = "s3://rubes-s3-bucket/reports/";
const LOGS_RULE: &str = "s3://xyz-app-logs/exports/";

// ------------------------------------------------------------------ tests

#[test]
fn normal_audit_canary_passes_reports_latency_and_leaves_nothing() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 0.2);
    let before = all_versions(&s);
    let (out, report) = s.audit(&[
        "--canary",
        "--canary-timeout",
        "20",
        "--canary-observe",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fs = canary_findings(&report);
    let not_passed: Vec<&Value> = fs
        .iter()
        .copied()
        .filter(|f| f["status"] != "pass")
        .collect();
    assert!(
        not_passed.is_empty(),
        "every canary finding passes:\n{}",
        show(&not_passed)
    );
    for id in [
        "canary-write",
        "canary-replication-latency",
        "canary-replication-status",
        "canary-replica-encryption",
        "canary-access",
        "canary-prefix-filter",
        "canary-uploaders",
        "canary-delete-marker",
        "canary-cleanup",
        "canary-log-export",
        "canary-log-replication",
    ] {
        assert!(
            fs.iter().any(|f| f["id"] == id),
            "a {id} finding:\n{}",
            show(&fs)
        );
    }
    // Latency: per canary with evidence and JUnit time, and the min/median/max summary.
    let lat = finding(&report, "canary-replication-latency", SOURCE_RULE);
    let secs = lat["evidence"]["latency_secs"]
        .as_f64()
        .expect("latency_secs");
    assert!(secs > 0.0 && secs < 20.0, "{lat}");
    assert_eq!(lat["duration_secs"].as_f64(), Some(secs));
    // Replicas keep the source's creation time (issue 9 item 11): LastModified is evidence of
    // that, not a latency figure.
    assert_eq!(
        lat["evidence"]["replica_keeps_source_last_modified"], true,
        "{lat}"
    );
    assert!(
        !lat["message"].as_str().unwrap().contains("LastModified"),
        "{lat}"
    );
    let summary = finding(&report, "canary-replication-latency", "all canaries");
    assert_eq!(summary["evidence"]["canaries"], 2, "{summary}");
    assert!(summary["evidence"]["median_secs"].is_number(), "{summary}");
    assert!(
        stderr.contains("canaries replicated: min"),
        "latencies printed: {stderr}"
    );
    assert!(stderr.contains("0 left behind"), "{stderr}");
    // The run id and the cleanup command come first, before anything is written.
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("replaudit: canary run ")
            && first.contains("replaudit canary cleanup --spec ")
            && first.contains(" --run-id "),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Passing findings are counted, not listed, in the default table (issue 14): the canary's
    // findings are in its total.
    assert!(
        stdout.contains(&format!(
            "Summary: {} findings",
            report["findings"].as_array().unwrap().len()
        )),
        "table counts the canary: {stdout}"
    );
    let xml = std::fs::read_to_string(s.reports_dir().join("audit-latest.xml")).expect("junit");
    let tc = xml
        .split("<testcase ")
        .find(|t| t.contains("canary-replication-latency [s3://rubes-s3-bucket/reports/"))
        .expect("latency testcase in JUnit");
    assert!(
        tc.contains(" time=\""),
        "JUnit carries the latency as time: {tc}"
    );
    // Access as the spec's principals, with their own credentials.
    let access: Vec<&&Value> = fs.iter().filter(|f| f["id"] == "canary-access").collect();
    assert_eq!(
        access.len(),
        5,
        "tom list+get, clint list+get, tom reads the replica"
    );
    assert!(access
        .iter()
        .any(|f| f["resource"].as_str().unwrap().ends_with(" as clint")
            && f["message"].as_str().unwrap().contains("AccessDenied")));
    // Scenario A: the replica is under the rule's replica key.
    let enc = finding(&report, "canary-replica-encryption", SOURCE_RULE);
    assert_eq!(enc["scenario"], "scenario-A");
    assert_eq!(
        enc["evidence"]["replica_kms_key_id"],
        enc["evidence"]["expected_kms_key_id"]
    );
    // Delete markers: on for the incident rule, off for the logs rule, both as the spec says.
    assert!(
        finding(&report, "canary-delete-marker", SOURCE_RULE)["message"]
            .as_str()
            .unwrap()
            .contains("replicated")
    );
    assert!(
        finding(&report, "canary-delete-marker", LOGS_RULE)["message"]
            .as_str()
            .unwrap()
            .contains("no delete marker")
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
    wait_replication_idle(&s);
    assert_untouched(&s, &before);
}

/// Scenario D dynamically: when the log bucket's rule no longer covers the export prefix, the
/// exported logs never reach the backup bucket — and the export objects are still cleaned up.
#[test]
fn log_rule_missing_the_export_prefix_fails_log_replication() {
    let s = Setup::seed(&["log-rule-wrong-prefix"]);
    replication(&s, "normal", 0.2);
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "2", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let export = finding(&report, "canary-log-export", "xyz-app-logs");
    assert_eq!(export["status"], "pass", "{export}");
    let rep = finding(&report, "canary-log-replication", "xyz-app-logs-backup");
    assert_eq!(rep["status"], "fail", "{rep}");
    assert!(
        rep["message"]
            .as_str()
            .unwrap()
            .contains("did not reach xyz-app-logs-backup"),
        "{rep}"
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

#[test]
fn slow_replication_fails_latency_and_late_replicas_are_cleaned() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 2.5);
    let before = all_versions(&s);
    let replicated_before = harness_state(&s)["counters"]["replicated"]
        .as_u64()
        .unwrap();
    let (out, report) = run_canary(&s, &["--canary-timeout", "2", "--canary-observe", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let lat = finding(&report, "canary-replication-latency", SOURCE_RULE);
    assert_eq!(lat["status"], "fail", "{lat}");
    assert!(
        lat["message"].as_str().unwrap().contains("within 2 s"),
        "{lat}"
    );
    assert_eq!(
        finding(&report, "canary-replication-latency", "all canaries")["status"],
        "fail"
    );
    assert_eq!(
        finding(&report, "canary-replication-status", SOURCE_RULE)["status"],
        "fail"
    );
    assert_cleanup_passed(&report);
    // The replicas landed after the timeout, during cleanup's drain, and were deleted there.
    wait_replication_idle(&s);
    let replicated = harness_state(&s)["counters"]["replicated"]
        .as_u64()
        .unwrap();
    // The two rule canaries' late replicas, plus whatever the scenario D log export wrote.
    assert!(
        replicated >= replicated_before + 2,
        "both late replicas were written ({replicated_before} -> {replicated})"
    );
    assert_untouched(&s, &before);
}

#[test]
fn failed_replication_is_a_status_failure_naming_the_key() {
    let s = Setup::seed(&[]);
    replication(&s, "fail", 0.2);
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "5", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let st = finding(&report, "canary-replication-status", SOURCE_RULE);
    assert_eq!(st["status"], "fail", "{st}");
    let msg = st["message"].as_str().unwrap();
    assert!(
        msg.contains("FAILED") && msg.contains("s3://rubes-s3-bucket/reports/replaudit-canary/"),
        "{st}"
    );
    assert_eq!(st["evidence"]["source_replication_status"], "FAILED");
    let lat = finding(&report, "canary-replication-latency", SOURCE_RULE);
    assert_eq!(lat["status"], "fail");
    // FAILED ends the wait at once, well before the 5 s timeout.
    let m = lat["message"].as_str().unwrap();
    assert!(
        m.contains("replication status is FAILED")
            && m.contains("no replica is in s3://clint-s3-bucket"),
        "{lat}"
    );
    assert_eq!(
        finding(&report, "canary-uploaders", "as l2-engineer")["status"],
        "fail"
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

#[test]
fn never_replicated_fails_latency_and_status_pending() {
    let s = Setup::seed(&[]);
    replication(&s, "never", 0.2);
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "1.5", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let lat = finding(&report, "canary-replication-latency", SOURCE_RULE);
    assert_eq!(lat["status"], "fail");
    assert!(
        lat["message"].as_str().unwrap().contains("no replica"),
        "{lat}"
    );
    assert_eq!(lat["evidence"]["source_replication_status"], "PENDING");
    let st = finding(&report, "canary-replication-status", SOURCE_RULE);
    assert_eq!(st["status"], "fail");
    assert!(st["message"].as_str().unwrap().contains("PENDING"), "{st}");
    // Nothing to read or delete without a replica: skipped with the reason, never passed.
    let dm = finding(&report, "canary-delete-marker", SOURCE_RULE);
    assert_eq!(dm["status"], "skip", "{dm}");
    assert_eq!(
        finding(&report, "canary-access", "clint-s3-bucket/reports/")["status"],
        "skip"
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

#[test]
fn wrong_replica_key_fails_encryption() {
    let s = Setup::seed(&[]);
    replication(&s, "wrong-key", 0.2);
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "10", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let enc = finding(&report, "canary-replica-encryption", SOURCE_RULE);
    assert_eq!(enc["status"], "fail", "{enc}");
    assert_eq!(enc["scenario"], "scenario-A");
    let ev = &enc["evidence"];
    assert!(
        ev["replica_kms_key_id"]
            .as_str()
            .unwrap()
            .ends_with("00000000-0000-4000-8000-00000000dead"),
        "{ev}"
    );
    assert!(
        ev["expected_kms_key_id"]
            .as_str()
            .unwrap()
            .ends_with("9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
        "{ev}"
    );
    // Replication itself worked.
    assert_eq!(
        finding(&report, "canary-replication-latency", SOURCE_RULE)["status"],
        "pass"
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

/// The spec names the replica key by alias ARN, as S3 allows (ReplicaKmsKeyID: "Key ARN or Alias
/// ARN", <https://docs.aws.amazon.com/AmazonS3/latest/API/API_EncryptionConfiguration.html>), and
/// the live rule does too (provisioning defect `replica-key-alias`); S3 reports the key ARN on the
/// replica. The canary resolves the alias (DescribeKey) and passes; it compared the alias text
/// with the key ARN before, a false fail on every replica.
#[test]
fn replica_key_named_by_alias_arn_passes_encryption() {
    let mut s = Setup::seed(&["replica-key-alias"]);
    const KEY: &str =
        "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    // provision.py names the alias after the key id's first 8 characters.
    const ALIAS: &str = "arn:aws:kms:ap-southeast-2:271089868719:alias/replaudit-replica-9b8a7c6d";
    let text = std::fs::read_to_string(&s.spec).unwrap();
    let needle = format!("replica_kms_key_arn = \"{KEY}\"");
    assert!(text.contains(&needle));
    let aliased = s.path("seed-replica-key-alias.toml");
    std::fs::write(
        &aliased,
        text.replacen(&needle, &format!("replica_kms_key_arn = \"{ALIAS}\""), 1),
    )
    .unwrap();
    s.spec = aliased;
    replication(&s, "normal", 0.2);
    let before = all_versions(&s);
    let (_, report) = run_canary(&s, &["--canary-timeout", "10", "--canary-observe", "1"]);
    let enc = finding(&report, "canary-replica-encryption", SOURCE_RULE);
    assert_eq!(enc["status"], "pass", "{enc}");
    assert_eq!(enc["evidence"]["expected_kms_key_id"], ALIAS, "{enc}");
    assert_eq!(enc["evidence"]["expected_key_arn"], KEY, "{enc}");
    assert_eq!(enc["evidence"]["replica_kms_key_id"], KEY, "{enc}");
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

#[test]
fn delete_markers_off_fails_when_the_spec_expects_them() {
    let s = Setup::seed(&["delete-markers-off"]);
    replication(&s, "normal", 0.2);
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "2", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let dm = finding(&report, "canary-delete-marker", SOURCE_RULE);
    assert_eq!(dm["status"], "fail", "{dm}");
    assert_eq!(dm["evidence"]["expected"], "replicated");
    // The logs rule never replicated delete markers and the spec says so: still a pass.
    assert_eq!(
        finding(&report, "canary-delete-marker", LOGS_RULE)["status"],
        "pass"
    );
    assert_eq!(
        finding(&report, "canary-replication-latency", SOURCE_RULE)["status"],
        "pass"
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

/// No provision defect denies the authorized reader, so the test adds an explicit Deny for him
/// to the source bucket policy (the emulator evaluates bucket-policy Deny per caller, patch 3).
#[test]
fn reader_denied_fails_access_with_the_code_seen() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 0.2);
    py(
        &s,
        r#"
s3, name = owner("source")
tom = json.load(open(os.path.join(D, "provisioned.json")))["users"]["tom"]["arn"]
policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
policy["Statement"].append({"Sid": "TestDenyReader", "Effect": "Deny", "Principal": {"AWS": tom},
                            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"})
s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
"#,
        &[],
    );
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "10", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let fs = canary_findings(&report);
    let tom_get_source: Vec<&&Value> = fs
        .iter()
        .filter(|f| {
            f["id"] == "canary-access"
                && f["resource"]
                    .as_str()
                    .unwrap()
                    .starts_with("s3://rubes-s3-bucket/")
                && f["resource"].as_str().unwrap().ends_with(" as tom")
                && f["evidence"]["action"] == "s3:GetObject"
        })
        .collect();
    assert_eq!(tom_get_source.len(), 1, "{}", show(&fs));
    let f = tom_get_source[0];
    assert_eq!(f["status"], "fail", "{f}");
    assert_eq!(f["evidence"]["error"]["code"], "AccessDenied", "{f}");
    // Everything else about access still holds: clint denied, tom reads the replica.
    let others: Vec<&&Value> = fs
        .iter()
        .filter(|x| x["id"] == "canary-access" && !std::ptr::eq(**x, *f))
        .collect();
    assert_eq!(others.len(), 4);
    assert!(
        others.iter().all(|x| x["status"] == "pass"),
        "{}",
        show(&fs)
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

fn kill(pid: u32, signal: &str) {
    let st = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

/// Wait until the emulator has `n` replication jobs scheduled (the canaries are written).
fn wait_pending(s: &Setup, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness_state(s)["pending"].as_u64().unwrap_or(0) < n {
        assert!(Instant::now() < deadline, "canaries never written");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigint_stops_the_canary_and_cleans_up() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 3.0);
    let before = all_versions(&s);
    let child = s
        .cmd()
        .args(["canary", "--quiet", "--canary-observe", "5", "--spec"])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(s.reports_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn replaudit canary");
    wait_pending(&s, 2); // both replicated canaries written, replication in flight
    kill(child.id(), "-INT");
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "exit code 130 after SIGINT: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped promptly"
    );
    assert!(stderr.contains("SIGINT"), "{stderr}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(s.reports_dir().join("canary-latest.json"))
            .expect("report written"),
    )
    .unwrap();
    // The report says how the run ended (track E's run object): interrupted by SIGINT.
    assert_eq!(report["run"]["status"], "interrupted", "{}", report["run"]);
    assert_eq!(report["run"]["signal"], "SIGINT", "{}", report["run"]);
    // Nothing unfinished looks green: the checks still waiting are errors naming the signal.
    let lat = finding(&report, "canary-replication-latency", SOURCE_RULE);
    assert_eq!(lat["status"], "error", "{lat}");
    assert!(
        lat["message"]
            .as_str()
            .unwrap()
            .contains("interrupted by SIGINT"),
        "{lat}"
    );
    let fs = canary_findings(&report);
    assert!(
        !fs.iter()
            .any(|f| f["status"] == "skip" && f["message"].as_str().unwrap().contains("interrupt")),
        "no interrupted check is a skip:\n{}",
        show(&fs)
    );
    assert_eq!(
        finding(&report, "canary-replication-latency", "all canaries")["status"],
        "error"
    );
    assert!(
        stderr.contains("replaudit canary cleanup --spec"),
        "the cleanup command is printed: {stderr}"
    );
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
    wait_replication_idle(&s);
    assert_untouched(&s, &before);
}

/// Issue 10: `--deadline` with a replica that takes longer is not green: every check still
/// waiting is an `error` naming the deadline, the exit code is 1, and cleanup still runs.
#[test]
fn deadline_stops_the_canary_with_errors_not_skips() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 60.0);
    let before = all_versions(&s);
    let started = Instant::now();
    let (out, report) = run_canary(
        &s,
        &[
            "--deadline",
            "8",
            "--canary-timeout",
            "60",
            "--canary-observe",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Stopped by the deadline, not by a signal (before the merge with track E's run status,
    // the canary's deadline stop was reported as a signal and exited 130).
    assert_eq!(report["run"]["status"], "deadline", "{}", report["run"]);
    assert!(report["run"].get("signal").is_none(), "{}", report["run"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the deadline bounds the run (cleanup does not wait for the 60 s replicas)"
    );
    let fs = canary_findings(&report);
    for id in [
        "canary-replication-latency",
        "canary-replication-status",
        "canary-replica-encryption",
        "canary-delete-marker",
    ] {
        let f = finding(&report, id, SOURCE_RULE);
        assert_eq!(f["status"], "error", "{id}: {f}");
        assert!(
            f["message"].as_str().unwrap().contains("--deadline"),
            "{id}: {f}"
        );
    }
    assert!(
        !fs.iter().any(|f| f["status"] == "skip"),
        "nothing stopped is a skip:\n{}",
        show(&fs)
    );
    assert_eq!(
        finding(&report, "canary-replication-latency", "all canaries")["status"],
        "error"
    );
    assert!(stderr.contains("stopped at --deadline"), "{stderr}");
    assert_cleanup_passed(&report);
    assert_untouched(&s, &before);
}

/// Lines of a child's stderr as they come (a reader thread), for tests that act on progress.
struct StderrLines {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl StderrLines {
    fn follow(child: &mut std::process::Child) -> StderrLines {
        use std::io::BufRead;
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        StderrLines { lines, reader }
    }

    /// Wait until a line contains `needle`.
    fn wait_for(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
        {
            assert!(
                Instant::now() < deadline,
                "no stderr line with {needle:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn all(self) -> String {
        let _ = self.reader.join();
        self.lines.lock().unwrap().join("\n")
    }
}

/// Issue 10: a second Ctrl-C during cleanup stops it at once, says which versions may be left
/// and how to remove them; `canary cleanup` then removes them.
#[test]
fn second_sigint_stops_cleanup_at_once_and_says_what_may_be_left() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 6.0);
    let before = all_versions(&s);
    let run_id = "twice-interrupted-1";
    let mut child = s
        .cmd()
        .args([
            "canary",
            "--quiet",
            "--canary-observe",
            "40",
            "--canary-run-id",
            run_id,
            "--spec",
        ])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(s.reports_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn replaudit canary");
    let lines = StderrLines::follow(&mut child);
    wait_pending(&s, 2); // canaries written, replication in flight for 6 s
    kill(child.id(), "-INT");
    // Cleanup now waits for the in-flight replicas; the second signal stops it at once.
    lines.wait_for("in-flight replication", Duration::from_secs(20));
    kill(child.id(), "-INT");
    let stopped_at = Instant::now();
    let status = child.wait().expect("wait");
    let elapsed = stopped_at.elapsed();
    let stderr = lines.all();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        elapsed < Duration::from_secs(3),
        "cleanup stopped at once ({elapsed:?}): {stderr}"
    );
    assert!(
        stderr.contains("may be left")
            && stderr.contains(&format!(
                "replaudit canary cleanup --spec {} --run-id {run_id}",
                s.spec.display()
            )),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(s.reports_dir().join("canary-latest.json")).expect("report"),
    )
    .unwrap();
    let c = finding(&report, "canary-cleanup", "canary run");
    assert_eq!(c["status"], "error", "{c}");
    assert_eq!(c["evidence"]["aborted_by"], "SIGINT", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("may be left"),
        "{c}"
    );
    // What it said may be left is removed by the command it printed.
    wait_replication_idle(&s);
    let out = s
        .cmd()
        .args(["canary", "cleanup", "--run-id", run_id, "--spec"])
        .arg(&s.spec)
        .output()
        .expect("run cleanup");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_untouched(&s, &before);
}

/// Issue 9 item 10: with two destinations, one failing fast and one replicating late, the
/// source says FAILED before the good replica lands. Only the destination without its replica
/// fails; the other passes.
#[test]
fn failed_status_with_two_destinations_blames_only_the_missing_replica() {
    let specs = tempfile::tempdir().expect("tempdir");
    let spec = specs.path().join("two-destinations.toml");
    let text = std::fs::read_to_string(seed_spec())
        .unwrap()
        .replace(
            "# Scenario D: application logs",
            "[buckets.destination2]\nname = \"clint-backup-bucket\"\naccount = \"abcd\"\nregion = \"ap-southeast-2\"\nversioning = true\nblock_public_access = true\nobject_ownership = \"BucketOwnerEnforced\"\n\n# Scenario D: application logs",
        )
        .replace(
            "[[replication]]\nid = \"app-logs\"",
            "[[replication.rules]]\nid = \"reports-to-backup\"\npriority = 2\nprefix = \"reports/\"\ndestination = \"destination2\"\ndelete_marker_replication = true\nowner_override = true\nsse_kms_encrypted_objects = true\nreplica_kms_key_arn = \"arn:aws:kms:ap-southeast-2:271089868719:key/9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\"\n\n[[replication]]\nid = \"app-logs\"",
        );
    std::fs::write(&spec, text).unwrap();
    let s = Setup::new(&spec, &[]);
    // The second destination refuses replicas (versioning suspended after the configuration,
    // as AWS would otherwise refuse it): FAILED after 0.1 s; the first replicates after 2 s.
    py(
        &s,
        r#"
s3, name = owner("destination2")
s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
"#,
        &[],
    );
    s.emu.control(
        "/_harness/replication",
        r#"{"mode": "normal", "delay_seconds": 0.1, "destination_delays": {"clint-s3-bucket": 2.0}}"#,
    );
    let before = all_versions(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "15", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let fs = canary_findings(&report);
    let latency = |dest: &str| -> Vec<&&Value> {
        fs.iter()
            .filter(|f| {
                f["id"] == "canary-replication-latency"
                    && f["resource"].as_str().unwrap().starts_with(SOURCE_RULE)
                    && f["resource"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!("-> s3://{dest}"))
            })
            .collect()
    };
    let good = latency("clint-s3-bucket");
    assert!(!good.is_empty(), "{}", show(&fs));
    for f in &good {
        assert_eq!(
            f["status"],
            "pass",
            "the late but present replica passes:\n{}",
            show(&fs)
        );
    }
    let bad = latency("clint-backup-bucket");
    assert!(!bad.is_empty(), "{}", show(&fs));
    for f in &bad {
        assert_eq!(f["status"], "fail", "{f}");
        assert!(f["message"].as_str().unwrap().contains("FAILED"), "{f}");
    }
    for f in fs.iter().filter(|f| {
        f["id"] == "canary-replication-status"
            && f["resource"].as_str().unwrap().starts_with(SOURCE_RULE)
    }) {
        assert_eq!(f["status"], "fail", "{f}");
        let m = f["message"].as_str().unwrap();
        assert!(
            m.contains("no replica in s3://clint-backup-bucket")
                && m.contains("replicated to s3://clint-s3-bucket"),
            "{f}"
        );
    }
    assert_cleanup_passed(&report);
    wait_replication_idle(&s);
    assert_untouched(&s, &before);
}

/// Start a CloudWatch Logs export task of the log bucket's account outside the canary (another
/// user's), into a prefix the canary does not use.
fn foreign_export(s: &Setup) {
    py(
        s,
        r#"
import time
prof = next(a["profile"] for a in PROV["accounts"].values() if a["account_id"] == PROV["buckets"]["logs"]["account_id"])
logs = boto3.Session(profile_name=prof).client("logs", region_name="ap-southeast-1", endpoint_url=PROV["endpoint"])
now = int(time.time() * 1000)
logs.create_export_task(taskName="nightly", logGroupName="/xyz/incident-app", fromTime=now - 60000, to=now,
                        destination=PROV["buckets"]["logs"]["name"], destinationPrefix="nightly")
"#,
        &[],
    );
}

/// Issue 9 item 7: one active export task per account. The canary waits for the other task and
/// then exports; the export passes and says it waited.
#[test]
fn log_export_waits_for_another_active_export_task() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 0.2);
    // The foreign task runs its 4 s only from the canary's first refused CreateExportTask, so the
    // canary meets the limit however long its preflight takes (a fixed 12 s raced the preflight on
    // a loaded CI machine); the canary's own task then runs 4 s unheld.
    s.emu.control(
        "/_harness/logs-export",
        r#"{"duration_seconds": 4, "hold_until_refused": true}"#,
    );
    foreign_export(&s);
    s.emu
        .control("/_harness/logs-export", r#"{"duration_seconds": 4}"#);
    let (out, report) = run_canary(&s, &["--canary-timeout", "60", "--canary-observe", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let f = finding(&report, "canary-log-export", "xyz-app-logs");
    assert_eq!(f["status"], "pass", "{f}\n{stderr}");
    assert!(
        f["message"].as_str().unwrap().contains("after waiting"),
        "{f}"
    );
    assert_eq!(
        finding(&report, "canary-log-replication", "xyz-app-logs-backup")["status"],
        "pass"
    );
    assert_cleanup_passed(&report);
    assert_eq!(canary_versions(&all_versions(&s)), Vec::<String>::new());
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// Issue 9 item 7: another export task active past the canary's timeout is an `error` naming
/// the limit, not a `fail` of the set-up.
#[test]
fn log_export_blocked_past_the_timeout_is_an_error_naming_the_limit() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 0.2);
    // Held until it refuses the canary, so it is active when the canary gets there, however late.
    s.emu.control(
        "/_harness/logs-export",
        r#"{"duration_seconds": 120, "hold_until_refused": true}"#,
    );
    foreign_export(&s);
    let (out, report) = run_canary(&s, &["--canary-timeout", "3", "--canary-observe", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let f = finding(&report, "canary-log-export", "xyz-app-logs");
    assert_eq!(f["status"], "error", "{f}");
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains("LimitExceededException") && m.contains("only one may be active"),
        "{f}"
    );
    assert!(m.contains("nightly"), "names the active task: {f}");
    assert_cleanup_passed(&report);
    assert_eq!(canary_versions(&all_versions(&s)), Vec::<String>::new());
}

#[test]
fn crashed_run_is_cleaned_by_tag_and_run_id_only() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 0.2);
    let run_id = "crashed-run-1";
    // Someone else's object under the run prefix, without the run's tag: must survive.
    py(
        &s,
        r#"
s3, name = owner("source")
s3.put_object(Bucket=name, Key=f"scratch/replaudit-canary/{sys.argv[2]}/99", Body=b"not the canary's\n")
"#,
        &[run_id],
    );
    wait_replication_idle(&s);
    let before = all_versions(&s);
    let replicated = harness_state(&s)["counters"]["replicated"]
        .as_u64()
        .unwrap();
    let mut child = s
        .cmd()
        .args([
            "canary",
            "--quiet",
            "--canary-observe",
            "60",
            "--canary-run-id",
            run_id,
            "--spec",
        ])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(s.reports_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill -9 once both replicas exist (the scenario B canary keeps the run busy for 60 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness_state(&s)["counters"]["replicated"]
        .as_u64()
        .unwrap()
        < replicated + 2
    {
        assert!(Instant::now() < deadline, "replicas never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500)); // let the delete-marker test run too
    kill(child.id(), "-KILL");
    let _ = child.wait();
    wait_replication_idle(&s);
    let crashed = canary_versions(&all_versions(&s));
    assert!(
        crashed.len() > 3,
        "the crash left canary versions behind: {crashed:?}"
    );

    // `canary cleanup` honours --deadline: stopped before it finished, it exits non-zero and
    // says so, and deletes nothing more.
    let out = s
        .cmd()
        .args([
            "canary",
            "cleanup",
            "--deadline",
            "0.001",
            "--run-id",
            run_id,
            "--spec",
        ])
        .arg(&s.spec)
        .output()
        .expect("run cleanup");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stopped at --deadline"), "{stderr}");
    assert_eq!(canary_versions(&all_versions(&s)), crashed);

    let out = s
        .cmd()
        .args(["canary", "cleanup", "--run-id", run_id, "--spec"])
        .arg(&s.spec)
        .output()
        .expect("run cleanup");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("kept") && stdout.contains("/99"),
        "the untagged object is kept: {stdout}"
    );
    // Only the pre-existing untagged object is left under any run prefix, and nothing else changed.
    let after = all_versions(&s);
    assert_eq!(after, before, "{stdout}");
    assert_eq!(canary_versions(&after).len(), 1);

    // A run id that could reach beyond its own prefix is refused.
    let out = s
        .cmd()
        .args(["canary", "cleanup", "--run-id", "", "--spec"])
        .arg(&s.spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn wrong_region_refuses_to_run_and_writes_nothing() {
    let s = Setup::seed(&["wrong-region"]);
    let before = all_versions(&s);
    let out = s
        .cmd()
        .args(["canary", "--quiet", "--spec"])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(s.reports_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refused") && stderr.contains("rubes-s3-bucket"),
        "{stderr}"
    );
    assert!(!s.reports_dir().join("canary-latest.json").exists());
    assert_eq!(all_versions(&s), before);
}

#[test]
fn pre_existing_object_at_a_canary_key_is_never_overwritten_or_deleted() {
    let s = Setup::seed(&[]);
    replication(&s, "normal", 0.2);
    let run_id = "preexisting-1";
    let key = format!("reports/replaudit-canary/{run_id}/0");
    // Written by the permitted uploader (only uploaders may write reports/); it replicates too.
    py(
        &s,
        r#"
b = PROV["buckets"]["source"]
user("l2-engineer", b["region"]).put_object(Bucket=b["name"], Key=sys.argv[2], Body=b"precious, not a canary\n")
"#,
        &[&key],
    );
    wait_replication_idle(&s);
    let before = all_versions(&s);
    let precious: Vec<_> = before.iter().filter(|v| v.1 == key).cloned().collect();
    assert_eq!(
        precious.len(),
        2,
        "the object and its replica: {precious:?}"
    );

    let (out, report) = run_canary(
        &s,
        &[
            "--canary-run-id",
            run_id,
            "--canary-timeout",
            "10",
            "--canary-observe",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let w = finding(&report, "canary-write", &key);
    assert_eq!(w["status"], "error", "{w}");
    assert!(
        w["message"].as_str().unwrap().contains("already exists"),
        "{w}"
    );
    assert_eq!(w["evidence"]["error"]["code"], "PreconditionFailed", "{w}");
    let c = finding(&report, "canary-cleanup", "canary run");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["evidence"]["pre_existing_untouched"], 2, "{c}");
    // The other canaries ran as usual.
    assert_eq!(
        finding(&report, "canary-replication-latency", LOGS_RULE)["status"],
        "pass"
    );

    // Same versions everywhere (the object's version list unchanged), and the same bytes.
    wait_replication_idle(&s);
    assert_eq!(all_versions(&s), before);
    let body = py(
        &s,
        r#"
s3, name = owner("source")
print(s3.get_object(Bucket=name, Key=sys.argv[2])["Body"].read().decode(), end="")
"#,
        &[&key],
    );
    assert_eq!(body, "precious, not a canary\n");
}
