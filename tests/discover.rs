//! `replaudit discover` round-trips: from the accounts alone it writes a spec that audits clean
//! against the state it was read from (the seed's two accounts; a generated estate), and a change
//! made after discovery is reported by auditing that spec.

use crate::common;

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

/// The seed's two accounts in an AWS Organization (the management account is XYZ), plus an
/// ACTIVE member without the member role and 21 SUSPENDED members listed before the seed's
/// second account (so that it is on ListAccounts' second page of 20).
/// Create (or update) the emulated organisation (patch 26).
fn organisation(setup: &Setup, body: serde_json::Value) {
    let org = Command::new(python())
        .args([
            "-c",
            "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + '/_harness/organization', data=sys.argv[2].encode(), method='POST')).read()",
            &setup.emu.endpoint,
            &body.to_string(),
        ])
        .output()
        .expect("create the organisation");
    assert!(
        org.status.success(),
        "{}",
        String::from_utf8_lossy(&org.stderr)
    );
}

/// `discover` through the organisation, from XYZ's profile, member role `replaudit-audit`.
fn discover_organisation(setup: &Setup, out_spec: &Path) -> Output {
    setup
        .cmd()
        .args([
            "discover",
            "--organization-profile",
            "xyz-audit",
            "--member-role",
            "replaudit-audit",
            "--region",
            "ap-southeast-1",
            "-o",
        ])
        .arg(out_spec)
        .output()
        .expect("run replaudit discover")
}

#[test]
fn discover_through_organizations_audits_clean_and_names_the_member_it_cannot_assume() {
    let setup = Setup::seed(&[]);
    let dir = tempfile::tempdir().unwrap();
    // The member role in the ABCD account only, trusted by the management account (XYZ), which
    // has none, as in a typical organisation (Organizations creates its access role only in the
    // accounts it creates): XYZ is read with the organisation profile's own credentials. moto
    // compares the caller's ARN literally (an account root does not cover its users, unlike AWS),
    // so the admin user is named too; AdministratorAccess as in tests/hardening/assume_role.py.
    let roles = Command::new(python())
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .args([
            "-c",
            r#"
import boto3, json, sys
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:user/replaudit-admin"]}}]}
for profile in ("abcd-audit",):
    iam = boto3.Session(profile_name=profile).client("iam", endpoint_url=sys.argv[1], region_name="us-east-1")
    iam.create_role(RoleName="replaudit-audit", AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName="replaudit-audit", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
"#,
            &setup.emu.endpoint,
        ])
        .output()
        .expect("create the member roles");
    assert!(
        roles.status.success(),
        "{}",
        String::from_utf8_lossy(&roles.stderr)
    );
    let mut accounts = vec![serde_json::json!({"id": "111122223333", "name": "XYZ"})];
    for i in 0..21 {
        accounts.push(serde_json::json!({"id": format!("9000000000{i:02}"), "name": format!("Closed {i}"), "state": "SUSPENDED"}));
    }
    accounts.push(serde_json::json!({"id": "271089868719", "name": "ABCD"}));
    accounts.push(serde_json::json!({"id": "777788889999", "name": "Support"}));
    organisation(
        &setup,
        serde_json::json!({"management": "111122223333", "accounts": accounts}),
    );

    let out_spec = dir.path().join("discovered.toml");
    let d = discover_organisation(&setup, &out_spec);
    let stderr = String::from_utf8_lossy(&d.stderr);
    // Not green: one member could not be read.
    assert_eq!(d.status.code(), Some(1), "discover: {stderr}");
    let named: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cannot be assumed"))
        .collect();
    assert_eq!(named.len(), 1, "{stderr}");
    for part in [
        "777788889999",
        "arn:aws:iam::777788889999:role/replaudit-audit",
        "AccessDenied",
        "fix: create the role replaudit-audit",
    ] {
        assert!(named[0].contains(part), "{part} missing: {}", named[0]);
    }
    assert!(
        stderr.contains(
            "account Closed 20 (900000000020) is SUSPENDED in the organisation: not discovered"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("discovered 2 replication(s) over 4 bucket(s)"),
        "{stderr}"
    );
    let spec = std::fs::read_to_string(&out_spec).expect("discovered spec written");
    for part in [
        "role_arn = \"arn:aws:iam::271089868719:role/replaudit-audit\"",
        "source_profile = \"xyz-audit\"",
        "rubes-s3-bucket",
        "clint-s3-bucket",
        "xyz-app-logs-backup",
        "# NOTE: account support (777788889999)",
    ] {
        assert!(spec.contains(part), "{part} missing from:\n{spec}");
    }
    assert!(
        !spec.contains("900000000020\""),
        "a suspended account is not in the spec:\n{spec}"
    );
    assert!(
        spec.contains("credentials = { profile = \"xyz-audit\" }")
            && !spec.contains("iam::111122223333:role/replaudit-audit"),
        "the management account is read with the organisation profile, not a member role:\n{spec}"
    );
    let (out, report) = audit(&setup, &out_spec, &dir.path().join("r"));
    assert_clean("organisation", &out, &report, &spec);

    // A typical organisation: every ACTIVE member has the member role but the management account.
    // Support leaves (SUSPENDED): discovery is green, and the management account is described.
    organisation(
        &setup,
        serde_json::json!({"management": "111122223333",
            "accounts": [{"id": "777788889999", "name": "Support", "state": "SUSPENDED"}]}),
    );
    let typical = dir.path().join("typical.toml");
    let d = discover_organisation(&setup, &typical);
    let stderr = String::from_utf8_lossy(&d.stderr);
    assert_eq!(d.status.code(), Some(0), "discover: {stderr}");
    assert!(!stderr.contains("cannot"), "{stderr}");
    let spec = std::fs::read_to_string(&typical).expect("discovered spec written");
    assert!(
        spec.contains("account_id = \"111122223333\"")
            && spec.contains("read with the organisation profile's own credentials")
            && spec.contains("rubes-s3-bucket"),
        "the management account is described:\n{spec}"
    );
}
