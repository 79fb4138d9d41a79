//! `--deadline` and SIGINT/SIGTERM during collection: a scheduled job never hangs, and what was
//! done so far is still reported. The "AWS" here accepts connections and never answers.

use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback server that accepts connections and holds them open without a byte of reply.
fn black_hole() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

fn command(dir: &Path, port: u16) -> Command {
    std::fs::write(
        dir.join("credentials"),
        "[xyz-audit]\naws_access_key_id=AKIAEXAMPLEXYZ\naws_secret_access_key=examplesecret\n\
         [abcd-audit]\naws_access_key_id=AKIAEXAMPLEABCD\naws_secret_access_key=examplesecret\n",
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaudit"));
    c.env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .args(["audit", "--quiet", "--timeout", "120", "--endpoint-url"])
        .arg(format!("http://localhost:{port}"))
        .arg("--spec")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/seed.toml"))
        .arg("--output-dir")
        .arg(dir.join("reports"));
    c
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
}

#[cfg(unix)]
#[test]
fn sigint_during_collection_reports_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path(), black_hole())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
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
        .contains("interrupted by SIGINT")));
}
