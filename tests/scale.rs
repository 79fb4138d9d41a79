//! The collector at scale (issue 12), on a generated estate (`benches/estate.py`: source/destination
//! pairs replicating cross-account and cross-Region, provisioned exactly as the spec says, so an
//! audit of it is clean): it completes with one call in flight per account and service, through an
//! emulator that throttles a share of the calls, and under a low open-files limit, with no `error`
//! finding in any of them.
//!
//! The benchmark figures (40 / 400 / 2,000 buckets, latency proxy, Prowler) come from
//! `benches/scale.py`, not from here: these tests are small (20 buckets) and only check outcomes.

use crate::hardening;

use hardening::{python, repo, Setup};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Findings of a report with the given status.
fn with_status<'a>(report: &'a serde_json::Value, status: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["status"] == status)
        .collect()
}

/// The change-history window of every run (runs ask the same questions).
const SINCE: &str = "2020-01-01T00:00:00Z";

/// Write a generated estate spec of `buckets` buckets into `dir`.
fn estate(dir: &Path, buckets: usize) -> PathBuf {
    let out = Command::new(python())
        .arg(repo().join("benches/estate.py"))
        .args(["--buckets", &buckets.to_string(), "--pairs-per-role", "5"])
        .output()
        .expect("run benches/estate.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("estate-{buckets}.toml"));
    std::fs::write(&path, &out.stdout).expect("write estate spec");
    path
}

fn estate_setup(buckets: usize) -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = estate(dir.path(), buckets);
    let setup = Setup::new(&spec, &[]);
    (dir, setup)
}

/// Every non-pass finding, one a line, for assertion messages.
fn not_passing(report: &serde_json::Value) -> String {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["status"] == "fail" || f["status"] == "error")
                .map(|f| {
                    format!(
                        "  {} {} {}: {}",
                        f["status"], f["id"], f["resource"], f["message"]
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn assert_clean(what: &str, out: &std::process::Output, report: &serde_json::Value) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what}: panicked: {stderr}");
    let errors = with_status(report, "error");
    let fails = with_status(report, "fail");
    assert!(
        errors.is_empty() && fails.is_empty(),
        "{what}: {} error and {} fail findings on a clean estate:\n{}\nstderr:\n{stderr}",
        errors.len(),
        fails.len(),
        not_passing(report)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit code; stderr:\n{stderr}"
    );
}

/// One call in flight per (account, service) is slow but finishes: nothing deadlocks on the
/// gates (an IAM principal holds its permit while its own calls run; a bucket's nine calls queue
/// behind each other) and every read is complete.
#[test]
fn a_concurrency_limit_of_one_still_completes() {
    let (_dir, setup) = estate_setup(20);
    let (out, report) = setup.audit(&["--since", SINCE, "--quiet", "--max-concurrency", "1"]);
    assert_clean("--max-concurrency 1", &out, &report);
    let buckets = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "bucket-versioning")
        .count();
    assert_eq!(
        buckets,
        20,
        "every bucket was read:\n{}",
        not_passing(&report)
    );
}

/// An emulator that answers 30 % of all calls with its protocol's throttling error (S3 `503
/// SlowDown`, IAM/STS `Throttling`, JSON `ThrottlingException`, ...) is audited without a single
/// `error` given enough attempts, and the collector says it slowed down.
#[test]
fn a_throttling_emulator_completes_without_errors() {
    let (_dir, setup) = estate_setup(20);
    let proxy = hardening::FaultProxy::start(&setup.emu.endpoint);
    let stats = proxy.configure(&serde_json::json!({
        "rate": 0.3,
        "seed": 12,
        "weights": {"throttle": 1, "internal": 0, "reset": 0, "lost": 0, "stall": 0},
    }));
    assert_eq!(stats["config"]["rate"], 0.3);
    let out = setup
        .cmd()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .args(["audit", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(setup.reports_dir())
        .args(["--since", SINCE, "--quiet", "--max-attempts", "12"])
        .output()
        .expect("run replaudit");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(setup.reports_dir().join("audit-latest.json"))
            .expect("JSON report"),
    )
    .expect("report is JSON");
    let stats = proxy.stats();
    let throttled = stats["by_kind"]["throttle"].as_u64().unwrap_or(0);
    assert!(throttled > 50, "the proxy throttled: {stats}");
    assert_clean("30 % throttling", &out, &report);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AWS throttled") && stderr.contains("the collector slowed down"),
        "the run says it was throttled and slowed down:\n{stderr}"
    );
}

/// Under `ulimit -n 48` the collector keeps its connections within the limit (it reads
/// `RLIMIT_NOFILE`) and says so; no call is reported as an unreachable endpoint, which is what
/// running out of file descriptors used to look like.
#[cfg(unix)]
#[test]
fn a_low_open_files_limit_is_reported_as_such() {
    let (_dir, setup) = estate_setup(20);
    let bin = env!("CARGO_BIN_EXE_replaudit");
    // The same environment as `setup.cmd()`, through a shell that lowers the limit first.
    let out = Command::new("sh")
        .envs(setup.cmd().get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("AWS_PROFILE")
        .arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec '{bin}' audit --spec '{}' --output-dir '{}' --since {SINCE} --quiet",
            setup.spec.display(),
            setup.reports_dir().display()
        ))
        .output()
        .expect("run replaudit under ulimit");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(setup.reports_dir().join("audit-latest.json"))
            .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{stderr}")),
    )
    .expect("report is JSON");
    let unreachable: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap_or("").contains("unreachable"))
        .map(|f| format!("{} {}: {}", f["id"], f["resource"], f["message"]))
        .collect();
    assert!(
        unreachable.is_empty(),
        "a local limit reported as an unreachable endpoint:\n{}",
        unreachable.join("\n")
    );
    assert!(
        stderr.contains("open-files limit is 48"),
        "the run names the limit it works within:\n{stderr}"
    );
    assert_clean("ulimit -n 48", &out, &report);
}
