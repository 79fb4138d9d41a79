//! `--deadline` and SIGINT/SIGTERM during collection: a scheduled job never hangs, and what was
//! done so far is still reported, and never as green. The "AWS" here confirms who the
//! credentials are and then never answers.

use crate::fake_aws;

use fake_aws::{FakeAws, Others, KEYS};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback "AWS" that confirms the accounts' identities (the set-up check passes) and then
/// accepts every other request and holds it open without a byte of reply.
fn black_hole() -> u16 {
    FakeAws::start(&KEYS, Others::Hold).port
}

/// `replaudit` with static keys for the seed's two profiles, sending every call to `port`.
fn replaudit(dir: &Path, port: u16) -> Command {
    fake_aws::credentials(dir, &[("xyz-audit", KEYS[0].0), ("abcd-audit", KEYS[1].0)]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaudit"));
    c.env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://localhost:{port}"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
    c
}

fn seed() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml")
}

fn command(dir: &Path, port: u16) -> Command {
    let mut c = replaudit(dir, port);
    c.args(["audit", "--quiet", "--timeout", "120", "--spec"])
        .arg(seed())
        .arg("--output-dir")
        .arg(dir.join("reports"));
    c
}

/// The last line of the table report: the summary.
fn summary_line(dir: &Path) -> String {
    let t = std::fs::read_to_string(dir.join("reports/audit-latest.txt")).unwrap();
    t.lines().last().unwrap_or_default().to_string()
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("reports/audit-latest.json")).unwrap())
        .unwrap()
}

#[test]
fn deadline_bounds_a_hanging_collection_and_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = command(dir.path(), black_hole())
        .args(["--deadline", "3"])
        .output()
        .unwrap();
    // Bounded (the per-call timeout is 120 s); no wall-clock figure is asserted beyond that.
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(dir.path());
    let findings = r["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["status"] != "pass"),
        "nothing read, nothing passes"
    );
    let errors: Vec<&Value> = findings.iter().filter(|f| f["status"] == "error").collect();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("--deadline reached")),
        "the cause is named: {}",
        errors[0]["message"]
    );
    // Every format says how the run ended.
    assert_eq!(r["run"]["status"], "deadline", "{}", r["run"]);
    let summary = summary_line(dir.path());
    assert!(
        summary.contains("DEADLINE") && !summary.contains("PASSED"),
        "{summary}"
    );
    let xml = std::fs::read_to_string(dir.path().join("reports/audit-latest.xml")).unwrap();
    assert!(xml.contains("DEADLINE reached"), "JUnit names the stop");
}

#[cfg(unix)]
fn signal_during_collection(signal: &str, code: i32, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path(), black_hole())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(dir.path());
    let errors: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "error")
        .collect();
    assert!(errors.iter().any(|f| f["message"]
        .as_str()
        .unwrap()
        .contains(&format!("interrupted by {name}"))));
    assert_eq!(r["run"]["status"], "interrupted", "{}", r["run"]);
    assert_eq!(r["run"]["signal"], name);
    let summary = summary_line(dir.path());
    assert!(
        summary.contains(&format!("INTERRUPTED by {name}")) && !summary.contains("PASSED"),
        "{summary}"
    );
}

#[cfg(unix)]
#[test]
fn sigint_during_collection_reports_and_exits_130() {
    signal_during_collection("-INT", 130, "SIGINT");
}

#[cfg(unix)]
#[test]
fn sigterm_during_collection_reports_and_exits_143() {
    signal_during_collection("-TERM", 143, "SIGTERM");
}

/// `simulate --spec` collects like `audit`: it stops at `--deadline`, and a matrix whose cells
/// could not be decided is not a success.
#[test]
fn simulate_matrix_honours_the_deadline_and_undecided_cells_fail() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = replaudit(dir.path(), black_hole())
        .args(["simulate", "--timeout", "120", "--deadline", "3", "--spec"])
        .arg(seed())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(started.elapsed() < Duration::from_secs(60), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not be decided"), "{stderr}");
    assert!(stderr.contains("--deadline reached"), "{stderr}");
}

/// `simulate --cases` runs locally and has nothing to stop: it refuses `--deadline` instead of
/// accepting and ignoring it.
#[test]
fn simulate_cases_does_not_accept_a_deadline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cases.json"), "[]").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_replaudit"))
        .args(["simulate", "--deadline", "5", "--cases"])
        .arg(dir.path().join("cases.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--deadline"));
}
