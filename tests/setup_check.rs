//! What is wrong with the set-up of a run is said once, in one line per account, within
//! seconds, before anything is collected: a missing profile, an SSO profile that is not logged
//! in, an unreachable endpoint, credentials of another account. Output locations are checked
//! before any AWS call. None of these tests needs the emulator.

use crate::fake_aws;

use fake_aws::{FakeAws, Others, KEYS};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The bound the issue sets for naming a set-up problem (a behaviour bound, not a benchmark:
/// the tool's own limit is 4 s per account, checked concurrently).
const WITHIN: Duration = Duration::from_secs(5);

fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml")
}

/// `replaudit` with only the given AWS files and endpoint (nothing from the environment).
fn replaudit(dir: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaudit"));
    c.env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("HOME", dir) // the SSO token cache is under ~/.aws/sso/cache
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    c
}

fn audit(dir: &Path, endpoint: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = replaudit(dir, endpoint)
        .args(["audit", "--quiet", "--spec"])
        .arg(seed())
        .arg("--output-dir")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    (out, started.elapsed())
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The stderr lines about one account.
fn lines_about<'a>(stderr: &'a str, alias: &str) -> Vec<&'a str> {
    let tag = format!("account '{alias}'");
    stderr.lines().filter(|l| l.contains(&tag)).collect()
}

/// Exit 2 within the bound, one line per account, each containing `want(alias, profile)`.
fn assert_refused(out: &Output, took: Duration, want: impl Fn(&str, &str) -> String) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < WITHIN, "took {took:?}: {stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for (alias, profile) in [("xyz", "xyz-audit"), ("abcd", "abcd-audit")] {
        let lines = lines_about(&stderr, alias);
        assert_eq!(lines.len(), 1, "one line for {alias}: {stderr}");
        let w = want(alias, profile);
        assert!(
            lines[0].contains(&w),
            "{alias}: wanted {w:?} in {}",
            lines[0]
        );
        assert!(
            lines[0].contains(profile),
            "names the profile: {}",
            lines[0]
        );
    }
    assert!(
        stderr.lines().count() <= 4,
        "a few lines, not a report: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_profiles_are_named_in_one_line_each_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    fake_aws::credentials(dir.path(), &[("someone-else", "AKIAEXAMPLEXYZ")]);
    let fake = FakeAws::start(&KEYS, Others::Hold);
    let (out, took) = audit(dir.path(), &fake.endpoint());
    assert_refused(&out, took, |_, p| {
        format!(
            "profile `{p}` is not defined in {}",
            dir.path().join("config").display()
        )
    });
    assert_eq!(fake.connections(), 0, "nothing was sent anywhere");
    assert!(
        !dir.path().join("reports/audit-latest.json").exists(),
        "nothing to report: the run did not happen"
    );
}

#[test]
fn sso_profile_without_a_login_says_aws_sso_login() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for (p, account) in [
        ("xyz-audit", "111122223333"),
        ("abcd-audit", "271089868719"),
    ] {
        config.push_str(&format!(
            "[profile {p}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = Auditor\nregion = ap-southeast-1\n\n"
        ));
    }
    config.push_str(
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = ap-southeast-1\nsso_registration_scopes = sso:account:access\n",
    );
    std::fs::write(dir.path().join("config"), config).unwrap();
    std::fs::write(dir.path().join("credentials"), "").unwrap();
    let fake = FakeAws::start(&KEYS, Others::Hold);
    let (out, took) = audit(dir.path(), &fake.endpoint());
    assert_refused(&out, took, |_, p| {
        format!("not logged in (no cached SSO token) — fix: run `aws sso login --profile {p}`")
    });
}

#[test]
fn unreachable_endpoint_is_named_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    fake_aws::credentials(
        dir.path(),
        &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)],
    );
    let endpoint = format!("http://localhost:{}", closed_port());
    let (out, took) = audit(dir.path(), &endpoint);
    assert_refused(&out, took, |_, _| format!("{endpoint} is unreachable"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--endpoint-url"), "names the fix: {stderr}");
}

/// An endpoint that accepts connections and never answers is named within the bound too.
#[test]
fn silent_endpoint_is_named_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    fake_aws::credentials(
        dir.path(),
        &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)],
    );
    // Accepts connections and never reads or answers, the identity call included.
    let hold_all = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                held.push(s);
            }
        });
        format!("http://localhost:{port}")
    };
    let (out, took) = audit(dir.path(), &hold_all);
    assert_refused(&out, took, |_, _| format!("{hold_all} is unreachable"));
}

#[test]
fn credentials_of_another_account_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    // Both profiles hold the other account's keys.
    fake_aws::credentials(
        dir.path(),
        &[("xyz-audit", KEYS[1].0), ("abcd-audit", KEYS[0].0)],
    );
    let fake = FakeAws::start(&KEYS, Others::Hold);
    let (out, took) = audit(dir.path(), &fake.endpoint());
    assert_refused(&out, took, |alias, _| {
        let (theirs, ours) = if alias == "xyz" {
            ("271089868719", "111122223333")
        } else {
            ("111122223333", "271089868719")
        };
        format!("the credentials belong to account {theirs} (arn:aws:iam::{theirs}:user/auditor), not {ours}")
    });
}

/// One account unusable, the other fine: the audit runs, every check of the unusable account
/// is an `error` carrying the one set-up line, and the run is not green.
#[test]
fn one_unusable_account_is_one_cause_not_one_message_per_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    fake_aws::credentials(dir.path(), &[("xyz-audit", KEYS[0].0)]);
    // Every call but the identity call is refused at once: the audit of xyz ends quickly.
    let fake = FakeAws::start(&KEYS, Others::Deny);
    let (out, _) = audit(dir.path(), &fake.endpoint());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let abcd = lines_about(&stderr, "abcd");
    assert_eq!(abcd.len(), 1, "{stderr}");
    assert!(lines_about(&stderr, "xyz").is_empty(), "{stderr}");
    let line = abcd[0].trim_start_matches("replaudit: ");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/audit-latest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["run"]["status"], "incomplete", "{}", report["run"]);
    let about_abcd: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains("account 'abcd'"))
        .collect();
    assert!(about_abcd.len() > 5, "abcd's checks carry the cause");
    for f in &about_abcd {
        assert_eq!(f["status"], "error", "{f}");
        assert!(
            f["message"].as_str().unwrap().contains(line),
            "the same one cause: {}",
            f["message"]
        );
    }
    // The destination bucket (ABCD's) was never read with anything else.
    let dest = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["id"] == "bucket-versioning" && f["resource"] == "arn:aws:s3:::clint-s3-bucket"
        })
        .collect::<Vec<_>>();
    assert_eq!(dest.len(), 1);
    assert!(dest[0]["message"].as_str().unwrap().contains(line));
}

/// An output folder that cannot be written is found before any AWS call: exit 2, one line.
#[test]
fn unwritable_output_dir_exits_2_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    fake_aws::credentials(
        dir.path(),
        &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)],
    );
    let fake = FakeAws::start(&KEYS, Others::Hold);
    // A folder below a plain file cannot be created (even by root).
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let bad = dir.path().join("a-file/reports");
    let out = replaudit(dir.path(), &fake.endpoint())
        .args(["audit", "--quiet", "--spec"])
        .arg(seed())
        .arg("--output-dir")
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("is not writable") && stderr.contains("--output-dir"),
        "{stderr}"
    );
    assert_eq!(fake.connections(), 0, "no AWS call before the check");

    let out = replaudit(dir.path(), &fake.endpoint())
        .args(["snapshot", "--spec"])
        .arg(seed())
        .arg("-o")
        .arg(dir.path().join("no-such-folder/state.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert_eq!(fake.connections(), 0, "no AWS call before the check");
}

/// `-v` logs each AWS call attempt with how it ended and how long it took — and never a
/// credential (the secret key, the access key id in the Authorization header).
#[test]
fn verbose_logs_each_call_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "").unwrap();
    fake_aws::credentials(
        dir.path(),
        &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)],
    );
    let endpoint = format!("http://localhost:{}", closed_port());
    let out = replaudit(dir.path(), &endpoint)
        .args(["-v", "audit", "--quiet", "--spec"])
        .arg(seed())
        .arg("--output-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let calls: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("aws POST ") && l.contains("Action=GetCallerIdentity"))
        .collect();
    assert!(!calls.is_empty(), "no call logged: {stderr}");
    assert!(
        calls
            .iter()
            .all(|l| l.contains(": failed after ") && l.contains(" ms")),
        "{calls:?}"
    );
    for secret in ["examplesecret", KEYS[0].0, KEYS[1].0] {
        assert!(!stderr.contains(secret), "{secret} printed: {stderr}");
    }
    // Without -v, no call lines.
    let (quiet, _) = audit(dir.path(), &endpoint);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("aws POST "));
}
