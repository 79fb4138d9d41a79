//! `replaudit who-can` keeps `audit`'s run contract without the emulator: the set-up check
//! names an unusable endpoint before anything is collected (exit 2), `--deadline` bounds a
//! hanging collection (exit 1, never a table that looks complete), and a snapshot of another
//! spec is refused rather than answered with the wrong accounts.

use crate::fake_aws;

use fake_aws::{FakeAws, Others, KEYS};
use replaudit::snapshot::{Snapshot, SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml")
}

/// `replaudit` with static keys for the seed's two profiles, sending every call to `endpoint`.
fn replaudit(dir: &Path, endpoint: &str) -> Command {
    fake_aws::credentials(dir, &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaudit"));
    c.env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
    c
}

#[test]
fn who_can_stops_at_the_set_up_check_when_no_account_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://localhost:{closed}");
    let out = replaudit(dir.path(), &endpoint)
        .args(["who-can", "--spec"])
        .arg(seed())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{endpoint} is unreachable")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no table from nothing read");
}

#[test]
fn who_can_honours_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let aws = FakeAws::start(&KEYS, Others::Hold);
    let started = Instant::now();
    let out = replaudit(dir.path(), &aws.endpoint())
        .args([
            "who-can",
            "--timeout",
            "120",
            "--deadline",
            "3",
            "--output",
            "json",
            "--spec",
        ])
        .arg(seed())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(started.elapsed() < Duration::from_secs(60), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--deadline reached"), "{stderr}");
}

#[test]
fn who_can_refuses_a_snapshot_of_another_spec() {
    let dir = tempfile::tempdir().unwrap();
    let snap = Snapshot {
        schema_version: SCHEMA_VERSION,
        tool_version: "test".into(),
        collected_at: chrono::Utc::now(),
        spec_name: "some other set-up".into(),
        endpoint_url: None,
        accounts: BTreeMap::new(),
        buckets: BTreeMap::new(),
        principals: BTreeMap::new(),
        kms_keys: BTreeMap::new(),
        replication_metrics: BTreeMap::new(),
        iam_accounts: BTreeMap::new(),
    };
    let path = dir.path().join("other.json");
    std::fs::write(&path, serde_json::to_string(&snap).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["who-can", "--spec"])
        .arg(seed())
        .arg("--snapshot")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("snapshot was collected for spec 'some other set-up'"),
        "{stderr}"
    );
}
