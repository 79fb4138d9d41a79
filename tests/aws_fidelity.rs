//! Does replaudit read AWS the way AWS works? Each test provisions a set-up in the emulator whose
//! patches reproduce a documented AWS behaviour (tests/harness/README.md, patches 9-13) and checks
//! that the audit reads it right: metrics where S3 publishes them, buckets in their real Region,
//! one ListBuckets per account, every page of the Config rules, Config and trails in every Region
//! that matters, a trail delivering to another account's bucket, CloudTrail's rate limit, and
//! the change kinds that can break a rule.
//!
//! `REPLAUDIT_BIN=/path/to/replaudit cargo test --test it aws_fidelity::` runs the same tests against
//! another build (how each was seen to fail on the code before these fixes).

use crate::common;

use common::{python, repo, Emulator, Setup};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The binary under test: this build, or `REPLAUDIT_BIN`.
fn bin() -> String {
    std::env::var("REPLAUDIT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_replaudit").to_string())
}

/// Start an emulator and provision `spec` with defects and variants (provision.py `--variant`).
fn provision(spec: &Path, defects: &[&str], variants: &[&str]) -> Setup {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/harness/provision.py"))
        .args(["--endpoint", &emu.endpoint])
        .arg("--spec")
        .arg(spec)
        .arg("--out-dir")
        .arg(dir.path());
    for d in defects {
        cmd.args(["--defect", d]);
    }
    for v in variants {
        cmd.args(["--variant", v]);
    }
    let out = cmd.output().expect("run provision.py");
    assert!(
        out.status.success(),
        "provisioning failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Setup {
        emu,
        dir,
        spec: spec.to_path_buf(),
    }
}

/// A spec file in the set-up's folder: the seed with `edit` applied.
fn seed_variant(dir: &Path, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("checks/seed.toml")).expect("seed");
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    let p = dir.join("spec.toml");
    std::fs::write(&p, edited).expect("write spec");
    p
}

/// `replaudit audit` with the credentials in `config_dir`; returns exit code and JSON report.
fn audit_as(s: &Setup, config_dir: &Path, extra: &[&str]) -> (Option<i32>, String, Value) {
    let out_dir = tempfile::tempdir_in(s.dir.path()).expect("report dir");
    let out = Command::new(bin())
        .env("AWS_CONFIG_FILE", config_dir.join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            config_dir.join("aws-credentials"),
        )
        .env("AWS_ENDPOINT_URL", &s.emu.endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("REPLAUDIT_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["audit", "--quiet", "--spec"])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(out_dir.path())
        .args(extra)
        .output()
        .expect("run replaudit");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = std::fs::read_to_string(out_dir.path().join("audit-latest.json"))
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"));
    (
        out.status.code(),
        stderr,
        serde_json::from_str(&report).expect("report is JSON"),
    )
}

fn audit(s: &Setup, extra: &[&str]) -> Value {
    audit_as(s, s.dir.path(), extra).2
}

/// An audit that looks at no change history (provisioning is a series of changes).
fn audit_now(s: &Setup, extra: &[&str]) -> Value {
    let since = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let mut args = vec!["--since", since.as_str()];
    args.extend_from_slice(extra);
    audit(s, &args)
}

fn findings<'a>(r: &'a Value, id: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

fn ids(r: &Value, status: &str) -> Vec<String> {
    let mut v: Vec<String> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == status)
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn bad(r: &Value) -> String {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail" || f["status"] == "error")
        .map(|f| {
            format!(
                "  {} {} {}: {}",
                f["status"], f["id"], f["resource"], f["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn get(endpoint: &str, path: &str) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys,urllib.request as u;print(u.urlopen(sys.argv[1]).read().decode())",
            &format!("{endpoint}{path}"),
        ])
        .output()
        .expect("GET");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// tests/hardening/auditor.py: creates the auditor users, prints one JSON line, and keeps them
/// until its stdin closes (when this is dropped).
struct Helper(Child);

impl Helper {
    fn spawn(script: &Path, args: &[&std::ffi::OsStr]) -> Helper {
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start helper");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("banner");
        let banner: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(banner["ok"], true, "{banner}");
        Helper(child)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provisioned(s: &Setup) -> Value {
    serde_json::from_str(&std::fs::read_to_string(s.path("provisioned.json")).unwrap()).unwrap()
}

/// Run a boto3 snippet as the account admins (profiles of the set-up); `sys.argv[1]` is the
/// endpoint.
fn as_admin(s: &Setup, script: &str) {
    let out = Command::new(python())
        .args(["-c", script, &s.emu.endpoint])
        .env("AWS_CONFIG_FILE", s.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", s.path("aws-credentials"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The seed, audited with one attempt per call (no retry may hide a throttled or misdirected
/// call): replication metrics come from the destination's Region (latency) and the source's
/// (failures); ListBuckets is called once per account; LookupEvents stays within CloudTrail's
/// two requests per second per account and Region and reports the provisioning's changes.
#[test]
fn seed_is_read_where_aws_keeps_it_within_aws_rates() {
    let s = Setup::seed(&[]);
    let r = audit(&s, &["--max-attempts", "1"]);
    assert_eq!(ids(&r, "error"), Vec::<String>::new(), "{}", bad(&r));
    assert_eq!(ids(&r, "fail"), Vec::<String>::new(), "{}", bad(&r));

    let metrics = findings(&r, "replication-metrics");
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    for f in &metrics {
        let msg = f["message"].as_str().unwrap();
        assert_eq!(f["status"], "pass", "{msg}");
        assert!(
            msg.contains("max latency") && !msg.contains("n/a"),
            "a latency was seen: {msg}"
        );
    }
    let reports = metrics
        .iter()
        .find(|f| f["resource"] == "arn:aws:s3:::rubes-s3-bucket")
        .unwrap();
    assert_eq!(
        reports["evidence"]["metrics"]["latency_region"],
        "ap-southeast-2"
    );
    assert_eq!(
        reports["evidence"]["metrics"]["failures_region"],
        "ap-southeast-1"
    );

    let calls = get(&s.emu.endpoint, "/_harness/requests");
    assert_eq!(
        calls["s3:ListBuckets"],
        json!({"111122223333": 1, "271089868719": 1}),
        "one ListBuckets per account"
    );
    let rate = get(&s.emu.endpoint, "/_harness/lookup-rate");
    assert_eq!(rate["throttled"], 0, "LookupEvents paced: {rate}");
    assert!(
        findings(&r, "change-history").iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .starts_with("PutBucketReplication on rubes-s3-bucket")),
        "the provisioning's changes are reported"
    );
}

/// A rule the spec gives no `id`: S3 generated one, and the metrics are published under it.
#[test]
fn metrics_are_read_under_the_live_rule_id() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = seed_variant(tmp.path(), |t| t.replace("id = \"logs-to-backup\"\n", ""));
    let s = provision(&spec, &[], &[]);
    let live = provisioned(&s)["replication_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source"] == "xyz-app-logs")
        .expect("metrics published for the logs rule")["rule_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(live.len(), 30, "S3 (moto) generated the rule ID: {live}");
    let r = audit_now(&s, &[]);
    let f = findings(&r, "replication-metrics")
        .into_iter()
        .find(|f| f["resource"] == "arn:aws:s3:::xyz-app-logs")
        .expect("finding for the logs rule")
        .clone();
    assert_eq!(f["status"], "pass", "{f}");
    assert_eq!(f["evidence"]["metrics"]["rule_id"], live.as_str());
}

/// With the wrong-region defect the source bucket is in ap-southeast-3 (an opt-in Region: S3
/// answers 400 IllegalLocationConstraintException to requests signed for another Region). The
/// auditor holds exactly the shipped read-only policy, which has no s3:GetBucketLocation: the
/// bucket is located with HeadBucket, read there, and `bucket-location` is the one failure.
#[test]
fn a_misplaced_bucket_is_one_failure_and_is_read_in_its_real_region() {
    let s = Setup::seed(&["wrong-region"]);
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/auditor-readonly-policy.json")).unwrap(),
    )
    .unwrap();
    let mut policy = shipped.clone();
    // The names moto 5.2.5 checks for some of the same calls (see tests/least_privilege.rs).
    policy["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "EmulatorActionNames",
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetPublicAccessBlock", "monitoring:GetMetricStatistics"],
        "Resource": "*"
    }));
    let policy_file = s.path("auditor-policy.json");
    std::fs::write(&policy_file, policy.to_string()).unwrap();
    let auditor_dir = s.path("auditor");
    let helper = Helper::spawn(
        &repo().join("tests/hardening/auditor.py"),
        &[
            "--provisioned-dir".as_ref(),
            s.dir.path().as_os_str(),
            "--out-dir".as_ref(),
            auditor_dir.as_os_str(),
            "--policy".as_ref(),
            policy_file.as_os_str(),
        ],
    );
    let since = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (_, stderr, r) = audit_as(&s, &auditor_dir, &["--since", &since]);
    assert_eq!(
        ids(&r, "error"),
        Vec::<String>::new(),
        "{}\n{stderr}",
        bad(&r)
    );
    // The wrong-region defect keeps the source's default-encryption key in the spec's Region,
    // which S3 cannot use from the bucket's real Region, so `bucket-default-encryption` rightly
    // fails too (see `defect_wrong_region` in tests/audit_emulator.rs); nothing else does.
    assert_eq!(
        ids(&r, "fail"),
        vec!["bucket-default-encryption", "bucket-location"],
        "{}",
        bad(&r)
    );
    let loc = findings(&r, "bucket-location")
        .into_iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    assert!(
        loc["message"]
            .as_str()
            .unwrap()
            .contains("is in ap-southeast-3, expected ap-southeast-1"),
        "{loc}"
    );
    // Everything else about the bucket was read (in ap-southeast-3) and passes.
    for id in [
        "bucket-versioning",
        "bucket-public-access-block",
        "replication-configured",
    ] {
        assert!(
            findings(&r, id)
                .iter()
                .any(|f| f["resource"] == "arn:aws:s3:::rubes-s3-bucket" && f["status"] == "pass"),
            "{id} read the misplaced bucket"
        );
    }
    drop(helper);
    // The canary finds the bucket's Region with HeadBucket too (no s3:GetBucketLocation in its
    // policy) and refuses to write into a bucket that is not where the spec says.
    let out_dir = tempfile::tempdir_in(s.dir.path()).expect("report dir");
    let out = Command::new(bin())
        .env("AWS_CONFIG_FILE", s.dir.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            s.dir.path().join("aws-credentials"),
        )
        .env("AWS_ENDPOINT_URL", &s.emu.endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["canary", "--quiet", "--spec"])
        .arg(&s.spec)
        .arg("--output-dir")
        .arg(out_dir.path())
        .output()
        .expect("run replaudit canary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is in ap-southeast-3, the spec says ap-southeast-1; refusing to run"),
        "{stderr}"
    );
}

/// 25 other AWS Config rules fill DescribeConfigRules' first page (moto pages by 25); the S3
/// managed rules are on the second, and their verdicts are compared.
#[test]
fn config_rules_past_the_first_page_are_read() {
    let s = provision(
        &repo().join("checks/seed.toml"),
        &[],
        &["many-config-rules"],
    );
    let r = audit_now(&s, &[]);
    assert_eq!(ids(&r, "error"), Vec::<String>::new(), "{}", bad(&r));
    assert_eq!(ids(&r, "fail"), Vec::<String>::new(), "{}", bad(&r));
    let agreed: Vec<&Value> = findings(&r, "config-rule-agreement")
        .into_iter()
        .filter(|f| f["resource"] == "arn:aws:s3:::rubes-s3-bucket" && f["status"] == "pass")
        .collect();
    assert_eq!(agreed.len(), 5, "the five S3 managed rules: {agreed:?}");
}

/// The spec names a bucket in each of xyz's Regions for data events; the provisioner makes one
/// single-region trail in each (no multi-region trail). A trail of ap-southeast-2 is listed only
/// by ap-southeast-2's DescribeTrails.
#[test]
fn single_region_trails_in_each_bucket_region_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = seed_variant(tmp.path(), |t| {
        t.replace(
            "data_events_for = [\"source\"]",
            "data_events_for = [\"source\", \"logs-backup\"]",
        )
    });
    let s = provision(&spec, &[], &["trail-per-region"]);
    let r = audit_now(&s, &[]);
    assert_eq!(ids(&r, "error"), Vec::<String>::new(), "{}", bad(&r));
    let trail = findings(&r, "trail-data-events");
    assert_eq!(trail.len(), 2, "{trail:?}");
    for f in trail {
        assert_eq!(f["status"], "pass", "{f}");
    }
    assert!(findings(&r, "trail-data-events")
        .iter()
        .any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("replaudit-trail-ap-southeast-2")));
}

/// The trail delivers to a log-archive bucket of an account the spec does not name: the data
/// events are proven from the trail's account; the bucket's public status cannot be, and says so.
#[test]
fn a_central_log_archive_bucket_is_reported_not_an_error() {
    let s = provision(
        &repo().join("checks/seed.toml"),
        &[],
        &["central-trail-bucket"],
    );
    let r = audit_now(&s, &[]);
    assert_eq!(ids(&r, "error"), Vec::<String>::new(), "{}", bad(&r));
    assert_eq!(ids(&r, "fail"), Vec::<String>::new(), "{}", bad(&r));
    let trail = findings(&r, "trail-data-events");
    assert!(trail.iter().any(|f| f["status"] == "pass"), "{trail:?}");
    let skip = trail
        .iter()
        .find(|f| f["status"] == "skip")
        .unwrap_or_else(|| panic!("what cannot be proven is said: {trail:?}"));
    let msg = skip["message"].as_str().unwrap();
    assert!(
        msg.contains("replaudit-trail-archive-111122223333")
            && msg.contains("outside the spec")
            && msg.contains("AccessDenied"),
        "{msg}"
    );
}

/// An admin deletes tom-cruise's inline policy (a user policy change, not looked up before): the
/// change is reported with the access it broke.
#[test]
fn a_user_policy_change_is_reported_with_the_access_it_broke() {
    let s = Setup::seed(&[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    as_admin(
        &s,
        r#"
import boto3, sys
iam = boto3.Session(profile_name="abcd-audit").client("iam", endpoint_url=sys.argv[1], region_name="us-east-1")
iam.delete_user_policy(UserName="tom-cruise", PolicyName="replaudit-spec")
"#,
    );
    let r = audit(&s, &["--since", &since]);
    let change = findings(&r, "change-history")
        .into_iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .starts_with("DeleteUserPolicy on tom-cruise")
        })
        .unwrap_or_else(|| panic!("the change is reported: {}", bad(&r)));
    assert_eq!(change["status"], "fail", "{change}");
    assert!(
        change["message"]
            .as_str()
            .unwrap()
            .contains("now failing: access-expectation"),
        "{change}"
    );
}

/// CloudTrail throttles a paged lookup part-way (the emulator's rate lowered, one attempt per
/// call): the first page's changes are still reported, and the missing rest is an error
/// naming the Region.
#[test]
fn a_lookup_that_fails_part_way_keeps_what_it_read() {
    let s = Setup::seed(&[]);
    // More than one page (50 events) of history in ap-southeast-1.
    as_admin(
        &s,
        r#"
import boto3, botocore, sys
c = boto3.Session(profile_name="xyz-audit").client("s3", endpoint_url=sys.argv[1], region_name="ap-southeast-1",
    config=botocore.config.Config(s3={"addressing_style": "path"}))
for _ in range(55):
    c.put_bucket_versioning(Bucket="xyz-app-logs", VersioningConfiguration={"Status": "Enabled"})
"#,
    );
    // One lookup per account and Region per minute: a second page is always refused, however
    // slowly this machine serves the first.
    s.emu.control(
        "/_harness/lookup-rate",
        r#"{"per_second": 1, "window_seconds": 60}"#,
    );
    let r = audit(&s, &["--max-attempts", "1"]);
    let history = findings(&r, "change-history");
    let gap = history
        .iter()
        .find(|f| f["status"] == "error")
        .unwrap_or_else(|| panic!("the gap is an error: {history:?}"));
    let msg = gap["message"].as_str().unwrap();
    assert!(
        msg.contains("ap-southeast-1")
            && msg.contains("incomplete")
            && msg.contains("ThrottlingException"),
        "{msg}"
    );
    assert!(
        history.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .starts_with("PutBucketVersioning on xyz-app-logs")),
        "the first page's changes are kept"
    );
}
