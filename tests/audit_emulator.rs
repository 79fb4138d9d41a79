//! `replaudit audit` end to end against the emulated pair of accounts: the seed set-up done
//! right, every planted defect, the offline path, and the ways a run can go wrong.

use crate::common;

use common::*;
use serde_json::Value;

#[test]
fn seed_setup_passes_and_reports_agree() {
    let s = Setup::seed(&[]);
    let (out, report) = s.audit(&[]);
    assert_eq!(
        rule_ids(&report, "fail"),
        Vec::<String>::new(),
        "correct set-up must not fail:\n{}",
        describe(&report)
    );
    assert_eq!(
        rule_ids(&report, "error"),
        Vec::<String>::new(),
        "{}",
        describe(&report)
    );
    assert_eq!(out.status.code(), Some(0), "exit code");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Summary:") && stdout.contains("PASSED"),
        "{stdout}"
    );
    for scenario in [
        "step-1",
        "step-2",
        "step-3",
        "step-4",
        "step-5",
        "scenario-A",
        "scenario-B",
        "scenario-C",
        "scenario-D",
    ] {
        assert!(stdout.contains(scenario), "table has a {scenario} group");
        let passed = with_status(&report, "pass")
            .iter()
            .any(|f| f["scenario"] == scenario);
        assert!(passed, "scenario {scenario} has passing findings");
    }
    // tom-cruise allowed, clint-eastwood denied, each with deciding statements.
    let access: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "access-expectation")
        .collect();
    assert_eq!(access.len(), 4, "two actions for each of two principals");
    for f in &access {
        assert_eq!(f["status"], "pass");
        let s3 = &f["evidence"]["s3"];
        if f["evidence"]["expected"] == "Allowed" {
            let deciding = s3["deciding_statements"].as_array().unwrap();
            assert!(
                deciding.iter().any(|d| d["kind"] == "Resource"),
                "bucket policy statement named: {f}"
            );
            assert!(
                deciding.iter().any(|d| d["kind"] == "Identity"),
                "identity statement named: {f}"
            );
        } else {
            assert_ne!(s3["decision"], "Allowed");
        }
    }

    // JSON and JUnit written and in agreement.
    let xml = std::fs::read_to_string(s.reports_dir().join("audit-latest.xml")).expect("junit");
    let junit = parse_junit(&xml);
    let summary = &report["summary"];
    // One testcase per stable name (findings sharing one, such as two PutBucketPolicy events
    // on a bucket, are one testcase).
    let names: std::collections::BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let f: replaudit::findings::Finding = serde_json::from_value(f.clone()).unwrap();
            (
                f.scenario.to_string(),
                replaudit::report::junit::case_name(&f),
            )
        })
        .collect();
    assert_eq!(junit.tests, names.len());
    assert_eq!(junit.failures, summary["fail"].as_u64().unwrap() as usize);
    assert_eq!(junit.errors, summary["error"].as_u64().unwrap() as usize);
    assert_eq!(junit.skipped, summary["skip"].as_u64().unwrap() as usize);
    assert!(
        std::fs::read_dir(s.reports_dir()).unwrap().count() >= 6,
        "timestamped + latest files"
    );
    // And a third-party JUnit parser (junitparser, as CI tools use) reads the same counts.
    let script = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
c = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "suites": 0}
for suite in xml:
    c["suites"] += 1
    for case in suite:
        c["tests"] += 1
        for r in case.result:
            if isinstance(r, Failure): c["failures"] += 1
            elif isinstance(r, Error): c["errors"] += 1
            elif isinstance(r, Skipped): c["skipped"] += 1
print(json.dumps(c))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(s.reports_dir().join("audit-latest.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["tests"].as_u64().unwrap() as usize, junit.tests);
    assert_eq!(
        parsed["failures"].as_u64().unwrap() as usize,
        junit.failures
    );
    assert_eq!(parsed["errors"].as_u64().unwrap() as usize, junit.errors);
    assert_eq!(parsed["skipped"].as_u64().unwrap() as usize, junit.skipped);
    assert!(parsed["suites"].as_u64().unwrap() >= 5);
}

struct JunitCounts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

/// Count testcases by outcome with an XML parser, independently of the writer.
fn parse_junit(xml: &str) -> JunitCounts {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut c = JunitCounts {
        tests: 0,
        failures: 0,
        errors: 0,
        skipped: 0,
    };
    let mut suites = 0;
    loop {
        match r.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testsuite" => suites += 1,
                "testcase" => c.tests += 1,
                "failure" => c.failures += 1,
                "error" => c.errors += 1,
                "skipped" => c.skipped += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(suites >= 5, "one testsuite per scenario");
    c
}

#[test]
fn offline_snapshot_gives_the_same_findings() {
    let s = Setup::seed(&["rtc-off"]);
    let (_, live) = s.audit(&[]);
    let snap = s.dir.path().join("state.json");
    let out = s
        .cmd()
        .args(["snapshot", "--spec"])
        .arg(&s.spec)
        .arg("-o")
        .arg(&snap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Offline: no endpoint, and an unroutable one in the environment to prove no call is made.
    let offline_dir = s.dir.path().join("offline");
    let out = s
        .cmd()
        .env("AWS_ENDPOINT_URL", "http://192.0.2.1:9")
        .args(["audit", "--quiet", "--spec"])
        .arg(&s.spec)
        .arg("--snapshot")
        .arg(&snap)
        .arg("--output-dir")
        .arg(&offline_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "rtc-off still fails offline");
    let offline: Value = serde_json::from_str(
        &std::fs::read_to_string(offline_dir.join("audit-latest.json")).unwrap(),
    )
    .unwrap();
    let key = |r: &Value| -> Vec<(String, String, String, String)> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["status"].as_str().unwrap().to_string(),
                    f["resource"].as_str().unwrap().to_string(),
                    f["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(key(&live), key(&offline));
    // The RTC change was recorded by CloudTrail, and broke a rule: both offline too.
    assert_eq!(
        rule_ids(&offline, "fail"),
        vec!["change-history", "replication-rtc"]
    );
}

/// Plant one defect and check that exactly the rules that should fail do.
fn planted(defect: &str, expected: &[&str]) -> Value {
    let s = Setup::seed(&[defect]);
    // Provisioning itself is a series of recorded changes; only later ones are of interest
    // here (`change-history` has its own test).
    // CloudTrail start times are whole seconds: start after the provisioning second.
    let now = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (out, report) = s.audit(&["--quiet", "--since", &now]);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        rule_ids(&report, "fail"),
        want,
        "defect {defect}: failing rules\n{}",
        describe(&report)
    );
    assert_eq!(
        rule_ids(&report, "error"),
        Vec::<String>::new(),
        "defect {defect}: {}",
        describe(&report)
    );
    assert_eq!(out.status.code(), Some(1), "defect {defect}: exit code");
    report
}

/// The grantee failure names the statement that grants, and who it grants.
fn grant_named(report: &Value, who: &str) {
    let f = with_status(report, "fail")
        .into_iter()
        .find(|f| f["id"] == "bucket-policy-grantees")
        .expect("grantee failure");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("statement") && msg.contains("bucket policy of rubes-s3-bucket"),
        "{msg}"
    );
    assert!(msg.contains(who), "names {who}: {msg}");
}

macro_rules! defect_tests {
    ($($name:ident: $defect:literal => [$($rule:literal),*];)*) => {
        $(
            #[test]
            fn $name() {
                planted($defect, &[$($rule),*]);
            }
        )*
    };
}

defect_tests! {
    // The source's KMS key stays in the spec's Region: S3 cannot use it from the bucket's actual one.
    defect_wrong_region: "wrong-region" => ["bucket-location", "bucket-default-encryption"];
    defect_bucket_bpa_off: "bpa-off" => ["bucket-public-access-block"];
    defect_account_bpa_off: "account-bpa-off" => ["account-public-access-block"];
    defect_destination_versioning_off: "dest-versioning-off" => ["bucket-versioning"];
    defect_role_trusted_by_wrong_service: "role-wrong-trust" => ["role-trust"];
    defect_role_trusted_by_extra_principal: "role-extra-trust" => ["role-trust"];
    defect_role_missing_replicate_object: "role-missing-replicate-object" => ["role-destination-permissions"];
    // The role can then read, write and control every bucket of its account: who-can names it.
    defect_role_s3_admin: "role-s3-admin" => ["role-least-privilege", "who-can"];
    defect_rtc_off: "rtc-off" => ["replication-rtc"];
    defect_delete_markers_off: "delete-markers-off" => ["replication-delete-markers"];
    defect_destination_policy_missing: "dest-policy-missing" => ["destination-policy-allows-role"];
    defect_wrong_prefix: "wrong-prefix" => ["prefix-scope", "replication-filter"];
    defect_rule_disabled: "rule-disabled" => ["prefix-scope", "replication-rule-enabled"];
    defect_no_owner_override: "no-owner-override" => ["replication-owner-override"];
    defect_no_replica_key: "no-replica-key" => ["replication-kms"];
    defect_intern_can_upload: "intern-can-upload" => ["uploader-restriction"];
    defect_no_replication: "no-replication" => ["replication-configured"];
    // Scenario D.
    defect_log_policy_without_service: "log-policy-no-service" => ["log-export-permissions"];
    defect_log_policy_without_conditions: "log-policy-no-condition" => ["log-export-permissions"];
    defect_log_rule_wrong_prefix: "log-rule-wrong-prefix" => ["replication-filter"];
    defect_backup_versioning_off: "backup-versioning-off" => ["bucket-versioning"];
    // AWS's own evidence.
    defect_trail_without_data_events: "trail-no-data-events" => ["trail-data-events"];
    defect_recorder_stopped: "recorder-stopped" => ["config-recorder"];
    // AWS Config is regional: recording in the home region says nothing about ap-southeast-2.
    defect_recorder_home_region_only: "recorder-home-region-only" => ["config-recorder"];
    defect_failed_replication_metrics: "failed-replication-metrics" => ["replication-metrics"];
    defect_late_replication_metrics: "late-replication-metrics" => ["replication-metrics"];
    defect_config_rule_disagrees: "config-stale" => ["config-rule-agreement"];
}

/// Plain HTTP allowed on the source: `bucket-tls-only` fails, and AWS Config's
/// `s3-bucket-ssl-requests-only` agreement names that rule instead of reading as a clean pass.
#[test]
fn defect_no_tls_deny() {
    let r = planted("no-tls-deny", &["bucket-tls-only"]);
    let f = with_status(&r, "fail")
        .into_iter()
        .find(|f| f["id"] == "bucket-tls-only")
        .unwrap();
    assert_eq!(f["resource"], "arn:aws:s3:::rubes-s3-bucket");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("without TLS are allowed"),
        "{f}"
    );
    let agree = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["id"] == "config-rule-agreement"
                && f["resource"] == "arn:aws:s3:::rubes-s3-bucket"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("s3-bucket-ssl-requests-only")
        })
        .expect("Config's TLS rule is compared");
    assert_eq!(
        agree["message"],
        "s3-bucket-ssl-requests-only: AWS Config and replaudit's bucket-tls-only agree: NON_COMPLIANT; the problem itself is reported by bucket-tls-only"
    );
}

#[test]
fn defect_clint_granted() {
    let r = planted("clint-granted", &["bucket-policy-grantees"]);
    grant_named(&r, "arn:aws:iam::271089868719:user/clint-eastwood");
}

/// A public statement makes the whole policy public; with RestrictPublicBuckets on, S3 then
/// honours only grants to AWS services and the owner account: tom-cruise's cross-account grant
/// stops working too, which the access proof must (and does) catch.
#[test]
fn defect_grant_star() {
    // Within the bucket's account "*" reaches every user and role directly: who-can names the
    // ones the spec does not expect to read (l2-engineer, xyz-intern).
    let r = planted(
        "grant-star",
        &["access-expectation", "bucket-policy-grantees", "who-can"],
    );
    grant_named(&r, "\"*\" (anyone)");
    let denied = with_status(&r, "fail")
        .into_iter()
        .find(|f| f["id"] == "access-expectation")
        .unwrap();
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("RestrictPublicBuckets"),
        "{denied}"
    );
}

#[test]
fn defect_grant_whole_account() {
    // ABCD's root user and its administrator (identity policy `*`) can then read the source.
    let r = planted("grant-account", &["bucket-policy-grantees", "who-can"]);
    grant_named(&r, "271089868719");
    let who = with_status(&r, "fail")
        .into_iter()
        .find(|f| f["id"] == "who-can")
        .unwrap();
    let msg = who["message"].as_str().unwrap();
    assert!(
        msg.contains("arn:aws:iam::271089868719:root (account-root)")
            && msg.contains("arn:aws:iam::271089868719:user/replaudit-admin (user)"),
        "{msg}"
    );
}

#[test]
fn simulate_matrix_over_the_live_state() {
    let s = Setup::seed(&[]);
    let out = s
        .cmd()
        .args(["simulate", "--output", "json", "--spec"])
        .arg(&s.spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let cell = |who: &str, bucket: &str, action: &str| -> String {
        cells
            .iter()
            .find(|c| {
                c["principal"].as_str().unwrap().ends_with(who)
                    && c["bucket"] == bucket
                    && c["action"] == action
            })
            .unwrap_or_else(|| panic!("no cell {who} {bucket} {action}"))["decision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        cell("tom-cruise", "rubes-s3-bucket", "s3:ListBucket"),
        "Allowed"
    );
    assert_eq!(
        cell("tom-cruise", "rubes-s3-bucket", "s3:GetObject"),
        "Allowed"
    );
    // Scenario C: the source bucket policy denies writes into reports/ to all but the uploaders.
    assert_eq!(
        cell("tom-cruise", "rubes-s3-bucket", "s3:PutObject"),
        "ExplicitDeny"
    );
    assert_eq!(
        cell("l2-engineer", "rubes-s3-bucket", "s3:PutObject"),
        "Allowed"
    );
    assert_eq!(
        cell("clint-eastwood", "rubes-s3-bucket", "s3:GetObject"),
        "ImplicitDeny"
    );
    assert_eq!(
        cell("xyz-intern", "rubes-s3-bucket", "s3:PutObject"),
        "ExplicitDeny"
    );
}

/// A change made after the previous report is reported with who made it, and fails because it
/// broke a rule; changes before the previous report are not reported again.
#[test]
fn change_since_previous_report_is_named_and_fails() {
    let s = Setup::seed(&[]);
    let (_, first) = s.audit(&["--quiet"]);
    assert!(rule_ids(&first, "fail").is_empty(), "{}", describe(&first));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // An operator turns RTC off on the source bucket, through the API (recorded by CloudTrail).
    let script = r#"
import boto3, botocore, sys
s = boto3.Session(profile_name="xyz-audit")
c = s.client("s3", endpoint_url=sys.argv[1], config=botocore.config.Config(s3={"addressing_style": "path"}))
cfg = c.get_bucket_replication(Bucket="rubes-s3-bucket")["ReplicationConfiguration"]
for r in cfg["Rules"]:
    r["Destination"].pop("ReplicationTime", None)
    r["Destination"].pop("Metrics", None)
c.put_bucket_replication(Bucket="rubes-s3-bucket", ReplicationConfiguration=cfg)
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, &s.emu.endpoint])
        .env("AWS_CONFIG_FILE", s.dir.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            s.dir.path().join("aws-credentials"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, second) = s.audit(&["--quiet"]);
    assert_eq!(
        rule_ids(&second, "fail"),
        vec!["change-history", "replication-rtc"],
        "{}",
        describe(&second)
    );
    let changes: Vec<&Value> = second["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "change-history" && f["evidence"]["event"].is_object())
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "only the change since the first report: {changes:?}"
    );
    let msg = changes[0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "PutBucketReplication on rubes-s3-bucket by arn:aws:iam::111122223333:user/"
        ),
        "{msg}"
    );
    assert!(msg.contains("now failing: replication-rtc"), "{msg}");
}

/// Nothing reachable: the set-up check says so in one line per account and the audit does not
/// run (exit 2, no report that could be mistaken for a result). tests/setup_check.rs has the
/// other set-up problems.
#[test]
fn unreachable_endpoint_is_a_set_up_error_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credentials"),
        "[xyz-audit]\naws_access_key_id=AKIAEXAMPLE\naws_secret_access_key=example\n[abcd-audit]\naws_access_key_id=AKIAEXAMPLE\naws_secret_access_key=example\n",
    )
    .unwrap();
    // A port nothing listens on: every call fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials"),
        )
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "audit",
            "--quiet",
            "--max-attempts",
            "1",
            "--timeout",
            "5",
            "--endpoint-url",
        ])
        .arg(format!("http://localhost:{port}"))
        .arg("--spec")
        .arg(seed_spec())
        .arg("--output-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for alias in ["xyz", "abcd"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("account '{alias}'"))
                    && l.contains("is unreachable")
                    && l.contains("Connection refused")),
            "cause named: {stderr}"
        );
    }
    assert!(!dir.path().join("reports/audit-latest.json").exists());
}

#[test]
fn missing_profile_is_an_error_finding_naming_the_cause() {
    let s = Setup::seed(&[]);
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(seed_spec()).unwrap().replace(
        "credentials = { profile = \"abcd-audit\" }",
        "credentials = { profile = \"no-such-profile\" }",
    );
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let out = s
        .cmd()
        .args(["audit", "--quiet", "--max-attempts", "1", "--spec"])
        .arg(&spec_path)
        .arg("--output-dir")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("r/audit-latest.json")).unwrap(),
    )
    .unwrap();
    let dest_versioning = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "bucket-versioning" && f["resource"] == "arn:aws:s3:::clint-s3-bucket")
        .expect("destination versioning finding");
    assert_eq!(dest_versioning["status"], "error", "{dest_versioning}");
    assert!(
        dest_versioning["message"]
            .as_str()
            .unwrap()
            .contains("no-such-profile"),
        "names the profile: {}",
        dest_versioning["message"]
    );
    // The source account is unaffected.
    let src = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "bucket-versioning" && f["resource"] == "arn:aws:s3:::rubes-s3-bucket")
        .unwrap();
    assert_eq!(src["status"], "pass");
}

#[test]
fn bad_spec_exits_2_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "version = 1\nname = \"x\"\n[accounts.a]\naccount_id = 12\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["audit", "--spec"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line reason: {err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["audit", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
