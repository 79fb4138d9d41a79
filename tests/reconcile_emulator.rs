//! `replaudit reconcile` on the emulator: one object per class of the comparison, written by
//! tests/harness/reconcile_fixture.py into the provisioned seed; each must be reported exactly once,
//! in its own finding, and the Batch Replication manifest must list exactly the versions it repairs.

use crate::common;
use crate::inventory;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn fixture(setup: &Setup) -> Value {
    let out = Command::new(python())
        .arg(repo().join("tests/harness/reconcile_fixture.py"))
        .args(["--endpoint", &setup.emu.endpoint, "--spec"])
        .arg(&setup.spec)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run reconcile_fixture.py");
    assert!(
        out.status.success(),
        "fixture failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("fixture prints JSON")
}

fn reconcile(setup: &Setup, extra: &[&str]) -> (std::process::Output, Value) {
    reconcile_in(setup, "reconcile", extra)
}

/// `replaudit reconcile` writing into the set-up's folder `out`: its output and JSON report.
fn reconcile_in(setup: &Setup, out: &str, extra: &[&str]) -> (std::process::Output, Value) {
    let dir = setup.path(out);
    let out = setup
        .cmd()
        .args(["reconcile", "--quiet", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(&dir)
        .args(extra)
        .output()
        .expect("run replaudit reconcile");
    let text = std::fs::read_to_string(dir.join("reconcile-latest.json")).unwrap_or_else(|e| {
        panic!(
            "no reconcile report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, serde_json::from_str(&text).unwrap())
}

fn finding<'a>(report: &'a Value, id: &str, resource_part: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id && f["resource"].as_str().unwrap().contains(resource_part))
        .unwrap_or_else(|| panic!("no {id} finding for {resource_part}"))
}

#[test]
fn every_class_is_reported_exactly_once_and_the_manifest_lists_what_batch_replication_repairs() {
    let setup = Setup::seed(&[]);
    let fx = fixture(&setup);
    // Every fixture version is older than the in-flight window when reconcile lists it.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (out, report) = reconcile(&setup, &["--in-flight", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "failures found: {stderr}");
    let rule = "reports-to-abcd";
    for (class, id) in [
        ("failed", "reconcile-failed"),
        ("pending", "reconcile-pending"),
        ("encryption", "reconcile-encryption"),
        ("mismatched", "reconcile-mismatched"),
        ("missing", "reconcile-missing"),
        ("never-eligible", "reconcile-never-eligible"),
        ("no-source", "reconcile-no-source"),
    ] {
        let f = finding(&report, id, rule);
        assert_eq!(f["status"], "fail", "{id}: {f}");
        assert_eq!(f["evidence"]["count"], 1, "{id}: {f}");
        let s = &f["evidence"]["sample"][0];
        assert_eq!(s["key"], fx[class]["key"], "{id}: {f}");
        assert_eq!(s["version_id"], fx[class]["version_id"], "{id}: {f}");
    }
    let unverified = finding(&report, "reconcile-unverified", rule);
    assert_eq!(unverified["status"], "pass", "{unverified}");
    let ok = finding(&report, "reconcile-replicated", rule);
    assert_eq!(ok["status"], "pass");
    let counts = &ok["evidence"]["counts"];
    // The provisioned sample and the fixture's intact object; nothing in flight.
    assert_eq!(counts["intact"], 2, "{ok}");
    assert_eq!(counts["in-flight"], 0, "{ok}");
    // Each fixture version appears in exactly one class in the full list.
    let list = std::fs::read_to_string(ok["evidence"]["full_list"].as_str().unwrap()).unwrap();
    for (class, v) in fx.as_object().unwrap() {
        let rows: Vec<&str> = list
            .lines()
            .filter(|l| l.contains(v["version_id"].as_str().unwrap()))
            .collect();
        assert_eq!(rows.len(), 1, "{class}: {rows:?}");
    }
    // The logs rule has nothing to blame.
    let logs: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["resource"].as_str().unwrap().contains("logs-to-backup"))
        .collect();
    assert!(!logs.is_empty());
    assert!(
        logs.iter().all(|f| f["status"] == "pass"),
        "{}",
        describe(&report)
    );
    // The Batch Replication manifest: exactly the FAILED, never-eligible and (by choice) still
    // PENDING versions; the replica deleted at the destination by version id, which Batch
    // Replication cannot re-replicate, in the copy-in-place manifest alone (issue 21 item 6).
    let rows = |id: &str, field: &str, classes: &[&str]| {
        let path = finding(&report, id, rule)["evidence"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no {field}"))
            .to_string();
        let got: BTreeSet<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let want: BTreeSet<String> = classes
            .iter()
            .map(|c| {
                format!(
                    "rubes-s3-bucket,{},{}",
                    fx[c]["key"].as_str().unwrap(),
                    fx[c]["version_id"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(got, want, "{path}");
    };
    rows(
        "reconcile-failed",
        "batch_manifest",
        &["failed", "never-eligible", "pending"],
    );
    rows("reconcile-missing", "copy_in_place_manifest", &["missing"]);
    assert!(
        stderr
            .contains("aws s3control create-job --region ap-southeast-1 --account-id 111122223333"),
        "{stderr}"
    );
    assert!(stderr.contains("S3ReplicateObject"), "{stderr}");
    assert!(stderr.contains("S3PutObjectCopy"), "{stderr}");
    let ev = &ok["evidence"];
    println!(
        "reconcile {rule}: {} source + {} destination versions, requests {} ({} per 1,000 versions)",
        ev["source_versions"], ev["destination_versions"], ev["requests"], ev["requests_per_1000_versions"]
    );
}

/// The seed's reports rule names a replica key; an object written with SSE-S3 under it
/// replicates as SSE-S3 ("If objects in the source bucket are encrypted by using SSE-S3 ... the
/// replica objects in the destination bucket use the same type of encryption as the source
/// objects", S3 user guide, replicating encrypted objects; emulator patch 2 cites the same page):
/// intact, not an encryption mismatch. Reconcile used to require every replica to be SSE-KMS
/// under the key.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>
#[test]
fn an_sse_s3_source_under_a_rule_with_a_replica_key_replicates_as_sse_s3() {
    let setup = Setup::seed(&[]);
    setup.emu.control(
        "/_harness/replication",
        r#"{"mode": "normal", "delay_seconds": 0.05}"#,
    );
    let out = Command::new(python())
        .args([
            "-c",
            r#"
import sys, tomllib, boto3
from botocore.config import Config
spec = tomllib.load(open(sys.argv[2], "rb"))
src = spec["buckets"]["source"]
# Scenario C: only the uploaders may write under the replicated prefix.
profile = spec["principals"][spec["scenario_c"]["uploaders"][0]]["credentials"]["profile"]
s3 = boto3.Session(profile_name=profile).client("s3", region_name=src["region"], endpoint_url=sys.argv[1],
                                                config=Config(s3={"addressing_style": "path"}))
r = s3.put_object(Bucket=src["name"], Key="reports/reconcile/sse-s3.txt", Body=b"sse-s3\n",
                  ServerSideEncryption="AES256")
print(r["VersionId"])
"#,
            &setup.emu.endpoint,
        ])
        .arg(&setup.spec)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("write the SSE-S3 object");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (out, report) = reconcile(&setup, &["--in-flight", "2"]);
    let rule = "reports-to-abcd";
    let enc = finding(&report, "reconcile-encryption", rule);
    assert_eq!(enc["status"], "pass", "{}", describe(&report));
    let ok = finding(&report, "reconcile-replicated", rule);
    // The provisioned sample (SSE-KMS under the replica key) and the SSE-S3 object.
    assert_eq!(ok["evidence"]["counts"]["intact"], 2, "{ok}");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&report));
}

/// Run `script` (Python, boto3) with the set-up's profiles: argv = endpoint, spec, `arg`.
fn python_with_profiles(setup: &Setup, script: &str, arg: &str) -> String {
    let out = Command::new(python())
        .args(["-c", script, &setup.emu.endpoint])
        .arg(&setup.spec)
        .arg(arg)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 21 item 3, live: a source delete marker missing at the destination is `missing` while
/// the source bucket has no lifecycle rule; once an S3 Lifecycle expiration rule covers its key
/// (read with GetBucketLifecycleConfiguration), it is `lifecycle-marker` — "the delete markers
/// added by the S3 Lifecycle expiration rule won't be replicated"
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html>) —
/// and no longer `missing`.
#[test]
fn a_missing_delete_marker_is_a_lifecycle_marker_once_the_source_has_an_expiration_rule() {
    let setup = Setup::seed(&[]);
    setup.emu.control(
        "/_harness/replication",
        r#"{"mode": "normal", "delay_seconds": 0.05}"#,
    );
    const SCRIPT: &str = r#"
import sys, time, tomllib, boto3
from botocore.config import Config
spec = tomllib.load(open(sys.argv[2], "rb"))
def s3(bucket):
    b = spec["buckets"][bucket]
    profile = spec["accounts"][b["account"]]["credentials"]["profile"]
    return b["name"], boto3.Session(profile_name=profile).client(
        "s3", region_name=b["region"], endpoint_url=sys.argv[1], config=Config(s3={"addressing_style": "path"}))
src, owner_src = s3("source")
dst, owner_dst = s3("destination")
key = "reports/expired/a.txt"
if sys.argv[3] == "marker":
    profile = spec["principals"][spec["scenario_c"]["uploaders"][0]]["credentials"]["profile"]
    up = boto3.Session(profile_name=profile).client("s3", region_name=spec["buckets"]["source"]["region"],
        endpoint_url=sys.argv[1], config=Config(s3={"addressing_style": "path"}))
    up.put_object(Bucket=src, Key=key, Body=b"expires\n")
    marker = owner_src.delete_object(Bucket=src, Key=key)["VersionId"]
    time.sleep(1)
    # Whatever reached the destination of this marker is removed: the marker is missing there.
    for m in owner_dst.list_object_versions(Bucket=dst, Prefix=key).get("DeleteMarkers", []):
        owner_dst.delete_object(Bucket=dst, Key=key, VersionId=m["VersionId"])
    print(marker)
else:
    owner_src.put_bucket_lifecycle_configuration(Bucket=src, LifecycleConfiguration={"Rules": [
        {"ID": "expire-reports", "Status": "Enabled", "Filter": {"Prefix": "reports/expired/"},
         "Expiration": {"Days": 30}}]})
    print("ok")
"#;
    let marker = python_with_profiles(&setup, SCRIPT, "marker");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let rule = "reports-to-abcd";
    let (_, before) = reconcile_in(&setup, "no-lifecycle", &["--in-flight", "2"]);
    let missing = finding(&before, "reconcile-missing", rule);
    assert_eq!(missing["status"], "fail", "{}", describe(&before));
    assert_eq!(
        missing["evidence"]["sample"][0]["version_id"],
        marker.as_str()
    );
    assert_eq!(
        finding(&before, "reconcile-lifecycle-marker", rule)["status"],
        "pass"
    );

    python_with_profiles(&setup, SCRIPT, "lifecycle");
    let (_, after) = reconcile_in(&setup, "lifecycle", &["--in-flight", "2"]);
    let lc = finding(&after, "reconcile-lifecycle-marker", rule);
    assert_eq!(lc["status"], "fail", "{}", describe(&after));
    assert_eq!(lc["severity"], "low", "{lc}");
    assert_eq!(lc["evidence"]["sample"][0]["version_id"], marker.as_str());
    let msg = lc["message"].as_str().unwrap();
    assert!(
        msg.contains("never replicated") && msg.contains("expire-reports"),
        "{msg}"
    );
    assert_eq!(
        finding(&after, "reconcile-missing", rule)["status"],
        "pass",
        "{}",
        describe(&after)
    );
}

/// Issue 21 item 10, live: HeadObject of an SSE-C source version without the customer key
/// answers 400 (emulator patch 32, citing
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>); reconcile says the
/// metadata is not readable without the customer key — never a pass, and not a permission to
/// grant.
#[test]
fn an_sse_c_version_is_unverified_for_want_of_its_customer_key_not_a_permission() {
    let setup = Setup::seed(&[]);
    setup.emu.control(
        "/_harness/replication",
        r#"{"mode": "normal", "delay_seconds": 0.05}"#,
    );
    const SCRIPT: &str = r#"
import sys, base64, tomllib, boto3
from botocore.config import Config
spec = tomllib.load(open(sys.argv[2], "rb"))
src = spec["buckets"]["source"]
profile = spec["principals"][spec["scenario_c"]["uploaders"][0]]["credentials"]["profile"]
s3 = boto3.Session(profile_name=profile).client("s3", region_name=src["region"], endpoint_url=sys.argv[1],
                                                config=Config(s3={"addressing_style": "path"}))
r = s3.put_object(Bucket=src["name"], Key="reports/reconcile/sse-c.txt", Body=b"sse-c\n",
                  SSECustomerAlgorithm="AES256", SSECustomerKey=base64.b64encode(b"k" * 32).decode())
print(r["VersionId"])
"#;
    let vid = python_with_profiles(&setup, SCRIPT, "");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (_, report) = reconcile(&setup, &["--in-flight", "2"]);
    let rule = "reports-to-abcd";
    let f = finding(&report, "reconcile-unverified", rule);
    assert_eq!(f["status"], "error", "{}", describe(&report));
    assert_eq!(
        f["evidence"]["sample"][0]["version_id"],
        vid.as_str(),
        "{f}"
    );
    let detail = f["evidence"]["sample"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("SSE-C: metadata not readable without the customer key"),
        "{detail}"
    );
    assert!(!detail.contains("the caller needs"), "{detail}");
    // What it could be is not a pass either.
    assert_ne!(
        finding(&report, "reconcile-encryption", rule)["status"],
        "pass",
        "{}",
        describe(&report)
    );
}

/// Status decides before age (issue 21 item 1): of the young versions without a replica, only
/// the PENDING one is in flight; FAILED, a replica deleted (COMPLETED) and one written before
/// the rule (no status) are what they are at any age. One not HEADed (budget 0) is never a pass.
#[test]
fn young_versions_are_in_flight_only_if_their_status_says_so_and_unread_statuses_are_errors() {
    let setup = Setup::seed(&[]);
    let fx = fixture(&setup);
    let (_, report) = reconcile(&setup, &["--in-flight", "3600"]);
    let rule = "reports-to-abcd";
    for (class, id) in [
        ("failed", "reconcile-failed"),
        ("missing", "reconcile-missing"),
        ("never-eligible", "reconcile-never-eligible"),
    ] {
        let f = finding(&report, id, rule);
        assert_eq!(f["status"], "fail", "{id}: {f}");
        assert_eq!(f["evidence"]["sample"][0]["key"], fx[class]["key"], "{f}");
    }
    assert_eq!(
        finding(&report, "reconcile-pending", rule)["status"],
        "pass"
    );
    let ok = finding(&report, "reconcile-replicated", rule);
    // PENDING, younger than an hour: the only one in flight.
    assert_eq!(ok["evidence"]["counts"]["in-flight"], 1, "{ok}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (out, report) = reconcile(&setup, &["--in-flight", "1", "--max-heads", "0"]);
    let f = finding(&report, "reconcile-unverified", rule);
    assert_eq!(f["status"], "error", "{f}");
    // The four without a replica (status unread) and the three replicas whose encryption the
    // rule constrains (sample, intact, wrong key; the tampered one fails on its size first).
    assert_eq!(f["evidence"]["count"], 7, "{f}");
    assert_eq!(out.status.code(), Some(1));
    // What the unread versions could be is not a pass either: none was seen, none is proven.
    for id in [
        "reconcile-failed",
        "reconcile-pending",
        "reconcile-missing",
        "reconcile-never-eligible",
        "reconcile-encryption",
    ] {
        assert_eq!(finding(&report, id, rule)["status"], "error", "{id}");
    }
}

/// More than one page of ListObjectVersions (1,000 entries a page) on both sides, and the figure
/// of the issue: requests per 1,000 versions, with and without an encryption requirement (which
/// costs one HeadObject per replica).
#[test]
fn the_listing_pages_to_the_end_and_counts_its_requests() {
    const N: usize = 1500;
    let setup = Setup::seed(&[]);
    let out = Command::new(python())
        .arg(repo().join("tests/harness/reconcile_fixture.py"))
        .args([
            "--endpoint",
            &setup.emu.endpoint,
            "--bulk",
            &N.to_string(),
            "--spec",
        ])
        .arg(&setup.spec)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run reconcile_fixture.py --bulk");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let rule = "reports-to-abcd";
    let (_, report) = reconcile(&setup, &["--in-flight", "1"]);
    let ok = finding(&report, "reconcile-replicated", rule);
    let ev = &ok["evidence"];
    assert_eq!(ev["counts"]["intact"], N + 1, "{}", describe(&report));
    assert_eq!(ev["source_versions"], N + 1);
    assert_eq!(ev["requests"]["list_source"], 2, "{ev}");
    assert_eq!(ev["requests"]["list_destination"], 2, "{ev}");
    // A replica's encryption follows its source version's: both are read.
    assert_eq!(ev["requests"]["head_source"], N + 1, "{ev}");
    assert_eq!(ev["requests"]["head_destination"], N + 1, "{ev}");
    println!(
        "with replica_kms_key_arn: {} versions a side, requests {}, {} per 1,000 versions (both sides)",
        N + 1,
        ev["requests"],
        ev["requests_per_1000_versions"]
    );
    // The same rule without an encryption requirement: the listing alone decides.
    let text = std::fs::read_to_string(&setup.spec).unwrap();
    let plain: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("replica_kms_key_arn") && !l.starts_with("sse_kms_encrypted_objects")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let spec2 = setup.path("seed-no-replica-key.toml");
    std::fs::write(&spec2, plain).unwrap();
    let dir = setup.path("reconcile-plain");
    let o = setup
        .cmd()
        .args(["reconcile", "-v", "--quiet", "--in-flight", "1", "--spec"])
        .arg(&spec2)
        .arg("--output-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reconcile-latest.json")).unwrap())
            .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&report));
    let ev = &finding(&report, "reconcile-replicated", rule)["evidence"];
    assert_eq!(ev["counts"]["intact"], N + 1);
    assert_eq!(ev["requests"]["head_destination"], 0, "{ev}");
    // `-v` logs every attempt: the listing's own count is what went over the wire.
    let log = String::from_utf8_lossy(&o.stderr);
    let listed = |bucket: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("/{bucket}/?versions")))
            .count()
    };
    assert_eq!(listed("rubes-s3-bucket"), 2, "{log}");
    assert_eq!(listed("clint-s3-bucket"), 2, "{log}");
    println!(
        "without: requests {}, {} per 1,000 versions (both sides); -v shows {} + {} ListObjectVersions",
        ev["requests"],
        ev["requests_per_1000_versions"],
        listed("rubes-s3-bucket"),
        listed("clint-s3-bucket")
    );
}

/// A reconcile stopped by `--deadline` judges nothing: every rule is an error, the run says
/// DEADLINE, and no manifest is written.
#[test]
fn a_listing_stopped_by_the_deadline_is_never_green() {
    let setup = Setup::seed(&[]);
    let (out, report) = reconcile(&setup, &["--deadline", "0.001"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["run"]["status"], "deadline", "{}", report["run"]);
    let fs = report["findings"].as_array().unwrap();
    assert_eq!(fs.len(), 2, "one per rule: {fs:?}");
    assert!(fs
        .iter()
        .all(|f| f["status"] == "error" && f["id"] == "reconcile-listing"));
    let manifests = std::fs::read_dir(setup.path("reconcile"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("batch-manifest")
        })
        .count();
    assert_eq!(manifests, 0);
}

/// The same estate reconciled from the live listing and from S3 Inventory reports (written from
/// what the emulator holds, CSV.gz for the source and Parquet for the destination, uploaded to an
/// inventory bucket in each account) gives the same findings, except what an inventory cannot
/// show: the replica's KMS key (the wrong-key replica is SSE-KMS, so it is intact there, and the
/// encryption finding is a skip naming why).
#[test]
fn inventories_give_the_same_verdicts_as_the_live_listing() {
    let setup = Setup::seed(&[]);
    let fx = fixture(&setup);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (_, live) = reconcile(&setup, &["--in-flight", "2"]);
    inventory::publish(&setup.spec, setup.dir.path(), &setup.emu.endpoint);
    let (out, inv) = reconcile_in(
        &setup,
        "reconcile-inventory",
        &[
            "--in-flight",
            "2",
            "--source-inventory",
            inventory::SOURCE,
            "--dest-inventory",
            inventory::DEST,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rule = "reports-to-abcd";
    let samples = |f: &Value| -> BTreeSet<(String, String)> {
        f["evidence"]["sample"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["key"].as_str().unwrap().to_string(),
                            s["version_id"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for id in [
        "reconcile-missing",
        "reconcile-failed",
        "reconcile-pending",
        "reconcile-mismatched",
        "reconcile-never-eligible",
        "reconcile-no-source",
        "reconcile-unverified",
    ] {
        let (l, i) = (finding(&live, id, rule), finding(&inv, id, rule));
        assert_eq!(l["status"], i["status"], "{id}: live {l}\ninventory {i}");
        assert_eq!(l["evidence"]["count"], i["evidence"]["count"], "{id}");
        assert_eq!(samples(l), samples(i), "{id}");
    }
    // The documented difference: the wrong-key replica is SSE-KMS, which is all an inventory
    // shows; the encryption finding says the key was not visible instead of passing.
    let (l, i) = (
        finding(&live, "reconcile-encryption", rule),
        finding(&inv, "reconcile-encryption", rule),
    );
    assert_eq!(l["status"], "fail");
    assert_eq!(i["status"], "skip", "{i}");
    assert!(
        i["message"].as_str().unwrap().contains("no KMS key id"),
        "{i}"
    );
    let lc = &finding(&live, "reconcile-replicated", rule)["evidence"]["counts"];
    let ic = &finding(&inv, "reconcile-replicated", rule)["evidence"]["counts"];
    assert_eq!(
        ic["intact"],
        lc["intact"].as_u64().unwrap() + 1,
        "live {lc} inventory {ic}"
    );
    assert_eq!(ic["in-flight"], 0, "{ic}");
    // The same Batch Replication manifest.
    let manifest = |r: &Value| -> String {
        let p = finding(r, "reconcile-failed", rule)["evidence"]["batch_manifest"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::read_to_string(p).unwrap()
    };
    assert_eq!(manifest(&live), manifest(&inv));
    assert!(manifest(&inv).contains(fx["never-eligible"]["version_id"].as_str().unwrap()));
    // The logs replication has no inventory here: skipped with the reason, never a pass.
    let logs = finding(&inv, "reconcile-listing", "logs-to-backup");
    assert_eq!(logs["status"], "skip", "{logs}");

    // `configured`: the buckets' own inventory configurations lead to the same reports (the
    // current-versions-only configuration is passed over), so the same verdicts.
    let (out, conf) = reconcile_in(
        &setup,
        "reconcile-configured",
        &[
            "--in-flight",
            "2",
            "--source-inventory",
            "configured",
            "--dest-inventory",
            "configured",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("source inventory of s3://rubes-s3-bucket: configuration 'all-versions' at s3://xyz-inventory/rubes-s3-bucket/all-versions/")
            && stderr.contains("configuration 'all-versions' at s3://abcd-inventory/clint-s3-bucket/all-versions/"),
        "{stderr}\n{}",
        finding(&conf, "reconcile-listing", rule)
    );
    let verdicts = |r: &Value| -> Vec<(String, String, String, String)> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["resource"].as_str().unwrap().to_string(),
                    f["status"].as_str().unwrap().to_string(),
                    f["evidence"]["count"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(verdicts(&conf), verdicts(&inv), "{stderr}");
}

/// `audit --reconcile`: the audit's findings and reconcile's join one report; reconcile's files
/// go to the report folder. (With the default in-flight windows the fixture's versions are all
/// younger than 30 minutes: in flight, not blamed.)
#[test]
fn audit_with_reconcile_reports_both_in_one_report() {
    let setup = Setup::seed(&[]);
    fixture(&setup);
    let (out, report) = setup.audit(&["--reconcile"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ids: BTreeSet<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.iter().any(|i| !i.starts_with("reconcile-")), "{ids:?}");
    for id in [
        "reconcile-replicated",
        "reconcile-missing",
        "reconcile-failed",
    ] {
        assert!(ids.contains(id), "no {id}: {ids:?} {stderr}");
    }
    let ok = finding(&report, "reconcile-replicated", "reports-to-abcd");
    assert_eq!(ok["status"], "pass", "{ok}");
    assert!(
        ok["evidence"]["counts"]["in-flight"].as_u64().unwrap() > 0,
        "{ok}"
    );
    let list = ok["evidence"]["full_list"].as_str().unwrap();
    assert!(
        std::path::Path::new(list).starts_with(setup.reports_dir()),
        "{list}"
    );
    // Without --reconcile, no reconcile finding.
    let (_, plain) = setup.audit(&[]);
    assert!(plain["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| !f["id"].as_str().unwrap().starts_with("reconcile-")));
}
