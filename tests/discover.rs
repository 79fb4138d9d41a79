//! `replaudit discover` round-trips: from the accounts alone it writes a spec that audits clean
//! against the state it was read from (the seed's two accounts; a generated estate), and a change
//! made after discovery is reported by auditing that spec.

mod common;

use common::{python, repo, with_status, Setup};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SINCE: &str = "2020-01-01T00:00:00Z";

/// `replaudit discover --accounts INPUT -o OUT` against the set-up.
fn discover(setup: &Setup, input: &Path, out: &Path) -> Output {
    setup
        .cmd()
        .args(["discover", "--accounts"])
        .arg(input)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run replaudit discover")
}

/// Audit `spec` against the set-up; the JSON report.
fn audit(setup: &Setup, spec: &Path, out_dir: &Path) -> (Output, serde_json::Value) {
    let out = setup
        .cmd()
        .args(["audit", "--spec"])
        .arg(spec)
        .arg("--output-dir")
        .arg(out_dir)
        .args(["--since", SINCE, "--quiet"])
        .output()
        .expect("run replaudit audit");
    let json = std::fs::read_to_string(out_dir.join("audit-latest.json")).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, serde_json::from_str(&json).expect("report is JSON"))
}

fn assert_clean(what: &str, out: &Output, report: &serde_json::Value, spec: &str) {
    let bad = with_status(report, "fail").len() + with_status(report, "error").len();
    assert!(
        bad == 0 && out.status.code() == Some(0),
        "{what}: the discovered spec does not audit clean (exit {:?}):\n{}\nstderr:\n{}\nspec:\n{spec}",
        out.status.code(),
        common::describe(report),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The accounts of a spec only (what a user starting from scratch has).
fn accounts_only(spec: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(spec).expect("read spec");
    let v: toml::Value = toml::from_str(&text).expect("spec is TOML");
    let mut t = toml::map::Map::new();
    t.insert("accounts".into(), v["accounts"].clone());
    let path = dir.join("accounts.toml");
    std::fs::write(&path, toml::to_string(&toml::Value::Table(t)).unwrap()).unwrap();
    path
}

#[test]
fn discover_on_the_seed_audits_clean_and_reports_a_later_change() {
    let setup = Setup::seed(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = accounts_only(&common::seed_spec(), dir.path());
    let out_spec = dir.path().join("discovered.toml");
    let d = discover(&setup, &input, &out_spec);
    let stderr = String::from_utf8_lossy(&d.stderr);
    assert_eq!(d.status.code(), Some(0), "discover: {stderr}");
    let spec = std::fs::read_to_string(&out_spec).expect("discovered spec written");
    // Both replications of the seed, their four buckets and the replication role.
    for name in [
        "rubes-s3-bucket",
        "clint-s3-bucket",
        "xyz-app-logs",
        "xyz-app-logs-backup",
        "arn:aws:iam::111122223333:role/s3_replication_role",
        "reports/",
        "exports/",
    ] {
        assert!(spec.contains(name), "{name} missing from:\n{spec}");
    }
    assert!(
        stderr.contains("discovered 2 replication(s) over 4 bucket(s)"),
        "{stderr}"
    );
    let (out, report) = audit(&setup, &out_spec, &dir.path().join("r1"));
    assert_clean("seed", &out, &report, &spec);

    // A change after discovery: the destination's versioning suspended.
    let change = Command::new(python())
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .args([
            "-c",
            "import boto3,sys; boto3.Session(profile_name='abcd-audit').client('s3', endpoint_url=sys.argv[1])\
             .put_bucket_versioning(Bucket='clint-s3-bucket', VersioningConfiguration={'Status': 'Suspended'})",
            &setup.emu.endpoint,
        ])
        .output()
        .expect("plant a change");
    assert!(
        change.status.success(),
        "{}",
        String::from_utf8_lossy(&change.stderr)
    );
    let (out, report) = audit(&setup, &out_spec, &dir.path().join("r2"));
    assert_eq!(out.status.code(), Some(1));
    let versioning: Vec<_> = with_status(&report, "fail")
        .into_iter()
        .filter(|f| f["id"] == "bucket-versioning")
        .filter(|f| f.to_string().contains("clint-s3-bucket"))
        .collect();
    assert_eq!(
        versioning.len(),
        1,
        "the suspended versioning is reported:\n{}",
        common::describe(&report)
    );
}

#[test]
fn discover_on_a_generated_estate_audits_clean() {
    let dir = tempfile::tempdir().unwrap();
    let gen = Command::new(python())
        .arg(repo().join("benches/estate.py"))
        .args(["--buckets", "20", "--pairs-per-role", "5"])
        .output()
        .expect("run benches/estate.py");
    assert!(gen.status.success());
    let estate = dir.path().join("estate.toml");
    std::fs::write(&estate, &gen.stdout).unwrap();
    let setup = Setup::new(&estate, &[]);
    let input = accounts_only(&estate, dir.path());
    let out_spec = dir.path().join("discovered.toml");
    let d = discover(&setup, &input, &out_spec);
    let stderr = String::from_utf8_lossy(&d.stderr);
    assert_eq!(d.status.code(), Some(0), "discover: {stderr}");
    assert!(
        stderr.contains("discovered 10 replication(s) over 20 bucket(s)"),
        "{stderr}"
    );
    let spec = std::fs::read_to_string(&out_spec).unwrap();
    let (out, report) = audit(&setup, &out_spec, &dir.path().join("r"));
    assert_clean("estate", &out, &report, &spec);
}
