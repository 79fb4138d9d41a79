//! Fault injection: `replaudit audit` through a proxy that throttles, fails, resets and stalls
//! a share of the requests (tests/hardening/faultproxy.py) never gives a wrong verdict and never
//! panics. Every finding is the baseline's (same status and message) or an `error` naming the
//! failed call and its cause.
//!
//! Retry behaviour this relies on (aws-smithy-runtime 1.16 / aws-smithy-types 1.9, src/aws/mod.rs,
//! src/run.rs):
//! - `RetryConfig::standard()` with `--max-attempts` (replaudit default 5; the SDK's own default
//!   is 3): attempt n+1 waits `rand[0,1) * min(1 s * 2^(n-1), 20 s)` (exponential backoff with
//!   full jitter; legacy retry behaviour 2.0: the same 1 s base for throttling and transient
//!   errors). A server `x-amz-retry-after` header would override the delay (max 20 s).
//! - Retried: throttling error codes (`Throttling`, `ThrottlingException`, `SlowDown`,
//!   `TooManyRequestsException`, `RequestLimitExceeded`, ...), transient codes
//!   (`RequestTimeout`, `RequestTimeoutException`), HTTP 500/502/503/504 whatever the body
//!   (so `InternalError`/`InternalFailure` and unparsable 5xx bodies), I/O errors (connection
//!   reset or closed before a response) and attempt timeouts. Not retried: other 4xx
//!   (`AccessDenied`, `NoSuch*`, signature errors).
//! - Retry quota: a token bucket of 500 per retry partition (service + region), shared by
//!   every client of the process; a retry costs 5 (10 after a timeout) and is refunded when
//!   the retried call succeeds. When it is empty, calls fail with their last error instead of
//!   retrying (the finding then says so: `error` naming the call).
//! - Timeouts: `--timeout T` bounds one call including retries and backoff
//!   (`operation_timeout`); one attempt is bounded by `min(T, 20 s)`
//!   (`operation_attempt_timeout`); connecting by 5 s. With T <= 20 s a stalled attempt
//!   therefore uses the whole budget (no retry after a stall); with the default 60 s a stalled
//!   call is retried twice at most.
//!
//! Runtime: one emulator, one proxy, a baseline, a fault-free run through the proxy, then
//! `REPLAUDIT_FAULT_RUNS` (default 3) runs for each of {10 %, 30 %} x {`--max-attempts` 5
//! (default), 1}, with `--timeout 6` and 8 s stalls: about 2 minutes.
//!
//! `canary_under_faults_leaves_nothing_behind` runs the canary through the same proxy at 10 % and
//! 30 % (`REPLAUDIT_CANARY_FAULT_SEEDS` runs each, default 2) and lists every bucket afterwards,
//! directly: canary leftovers must be 0. A preflight that cannot verify (a stall past `--timeout`)
//! refuses to run and writes nothing, which is the safe answer and counts as 0.

use crate::hardening;

use hardening::*;
use serde_json::json;
use std::collections::BTreeMap;

const TIMEOUT_SECS: &str = "6";
const STALL_SECS: f64 = 8.0;

#[derive(Default)]
struct Row {
    runs: usize,
    requests: u64,
    faulted: u64,
    by_kind: BTreeMap<String, u64>,
    unchanged: usize,
    turned_error: usize,
    wrong: usize,
    panics: usize,
    exit_codes: BTreeMap<String, usize>,
    unexplained: usize,
    secs: f64,
}

#[test]
fn audit_under_faults_never_gives_a_wrong_verdict() {
    let setup = Setup::seed(&[]);
    let cfg_dir = setup.dir.path();
    let proxy = FaultProxy::start(&setup.emu.endpoint);

    // Baseline, directly against the emulator.
    let base_run = audit(
        replaudit(cfg_dir, &setup.emu.endpoint),
        &setup.spec,
        &setup.path("baseline"),
        &[],
    );
    assert!(!base_run.panicked(), "baseline: {}", base_run.stderr);
    let baseline = base_run.report().clone();
    let n_findings = findings(&baseline).len();
    let base_errors: Vec<String> = findings(&baseline)
        .iter()
        .filter(|f| f["status"] == "error")
        .map(line)
        .collect();
    assert!(
        base_errors.is_empty(),
        "the fault-free baseline must have no error findings:\n{}",
        base_errors.join("\n")
    );

    // The proxy is transparent when it injects nothing.
    proxy.configure(&json!({"rate": 0.0, "seed": 0}));
    let clean = audit(
        replaudit(cfg_dir, &proxy.endpoint),
        &setup.spec,
        &setup.path("through-proxy"),
        &[],
    );
    let c = compare(&baseline, clean.report(), false);
    assert_eq!(
        (c.unchanged, c.turned_error, c.wrong.len()),
        (n_findings, 0, 0),
        "a fault-free run through the proxy must equal the baseline: {:?}",
        c.wrong
    );
    let clean_requests = proxy.stats()["requests"].as_u64().unwrap_or(0);
    assert!(clean_requests > 50, "the audit went through the proxy");

    let runs: usize = std::env::var("REPLAUDIT_FAULT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut rows: BTreeMap<(u32, u32), Row> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut causes: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for rate_pct in [10u32, 30] {
        for max_attempts in [5u32, 1] {
            let row = rows.entry((rate_pct, max_attempts)).or_default();
            for i in 0..runs {
                let seed = rate_pct * 1000 + max_attempts * 100 + i as u32;
                proxy.configure(&json!({
                    "rate": rate_pct as f64 / 100.0,
                    "seed": seed,
                    "stall_seconds": STALL_SECS,
                }));
                let label = format!("rate {rate_pct}% max-attempts {max_attempts} seed {seed}");
                let out = setup.path(&format!("run-{rate_pct}-{max_attempts}-{i}"));
                let ma = max_attempts.to_string();
                let run = audit(
                    replaudit(cfg_dir, &proxy.endpoint),
                    &setup.spec,
                    &out,
                    &["--max-attempts", &ma, "--timeout", TIMEOUT_SECS],
                );
                let stats = proxy.stats();
                row.runs += 1;
                row.secs += run.secs;
                row.requests += stats["requests"].as_u64().unwrap_or(0);
                row.faulted += stats["faulted"].as_u64().unwrap_or(0);
                if let Some(kinds) = stats["by_kind"].as_object() {
                    for (k, v) in kinds {
                        *row.by_kind.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                    }
                }
                *row.exit_codes.entry(format!("{:?}", run.code)).or_default() += 1;
                if run.panicked() {
                    row.panics += 1;
                    problems.push(format!(
                        "{label}: exit {:?}, stderr:\n{}",
                        run.code, run.stderr
                    ));
                }
                let Some(report) = &run.report else {
                    problems.push(format!("{label}: no JSON report"));
                    continue;
                };
                let c = compare(&baseline, report, false);
                row.unchanged += c.unchanged;
                row.turned_error += c.turned_error;
                row.wrong += c.wrong.len();
                row.unexplained += c.unexplained_errors.len();
                for w in &c.wrong {
                    problems.push(format!("{label}: wrong verdict: {w}"));
                }
                for u in &c.unexplained_errors {
                    problems.push(format!(
                        "{label}: error finding without call and cause: {u}"
                    ));
                }
                // An audit that saw an error never exits 0.
                let errors = findings(report).iter().any(|f| f["status"] == "error");
                if errors && run.code == Some(0) {
                    problems.push(format!("{label}: error findings but exit code 0"));
                }
                for (call, m) in c.causes {
                    for (cause, n) in m {
                        *causes
                            .entry(call.clone())
                            .or_default()
                            .entry(cause)
                            .or_default() += n;
                    }
                }
            }
        }
    }

    print_table(n_findings, clean_requests, &rows, &causes);
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    let total: usize = rows.values().map(|r| r.wrong + r.panics).sum();
    assert_eq!(total, 0, "wrong verdicts + panics");
    let faulted: u64 = rows.values().map(|r| r.faulted).sum();
    assert!(faulted > 0, "faults were injected");
}

fn print_table(
    n_findings: usize,
    clean_requests: u64,
    rows: &BTreeMap<(u32, u32), Row>,
    causes: &BTreeMap<String, BTreeMap<String, usize>>,
) {
    println!(
        "\nfault injection: {n_findings} findings per audit, {clean_requests} requests per fault-free audit; \
         --timeout {TIMEOUT_SECS}, stalls {STALL_SECS} s"
    );
    println!(
        "{:>5} {:>6} {:>4} {:>8} {:>8} {:>9} {:>13} {:>6} {:>6} {:>7} {:>6}  faults by kind / exit codes",
        "rate", "tries", "runs", "requests", "faulted", "unchanged", "turned-error", "wrong", "panic", "no-call", "secs"
    );
    let mut totals: BTreeMap<u32, Row> = BTreeMap::new();
    for ((rate, ma), r) in rows {
        println!(
            "{:>4}% {:>6} {:>4} {:>8} {:>8} {:>9} {:>13} {:>6} {:>6} {:>7} {:>6.1}  {:?} {:?}",
            rate,
            ma,
            r.runs,
            r.requests,
            r.faulted,
            r.unchanged,
            r.turned_error,
            r.wrong,
            r.panics,
            r.unexplained,
            r.secs,
            r.by_kind,
            r.exit_codes
        );
        let t = totals.entry(*rate).or_default();
        t.runs += r.runs;
        t.requests += r.requests;
        t.faulted += r.faulted;
        t.unchanged += r.unchanged;
        t.turned_error += r.turned_error;
        t.wrong += r.wrong;
        t.panics += r.panics;
        t.unexplained += r.unexplained;
        t.secs += r.secs;
    }
    println!("per fault rate:");
    for (rate, t) in &totals {
        println!(
            "{:>4}% {:>6} {:>4} {:>8} {:>8} {:>9} {:>13} {:>6} {:>6} {:>7} {:>6.1}",
            rate,
            "all",
            t.runs,
            t.requests,
            t.faulted,
            t.unchanged,
            t.turned_error,
            t.wrong,
            t.panics,
            t.unexplained,
            t.secs
        );
    }
    println!("error findings by failed call and cause (all runs):");
    for (call, m) in causes {
        let v: Vec<String> = m.iter().map(|(c, n)| format!("{c} x{n}")).collect();
        println!("  {call}: {}", v.join(", "));
    }
}

/// Every canary version left in any bucket of the spec, listed directly (not through the proxy).
fn canary_leftovers(setup: &Setup) -> Vec<String> {
    let script = r#"
import boto3, botocore, json, sys, tomllib
spec = tomllib.load(open(sys.argv[2], "rb"))
out = []
for alias, b in spec["buckets"].items():
    prof = spec["accounts"][b["account"]]["credentials"]["profile"]
    s3 = boto3.Session(profile_name=prof).client("s3", endpoint_url=sys.argv[1], region_name=b["region"],
        config=botocore.config.Config(s3={"addressing_style": "path"}))
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b["name"]):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if "replaudit-canary/" in v["Key"]:
                out.append(f"s3://{b['name']}/{v['Key']} {v['VersionId']}")
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, &setup.emu.endpoint])
        .arg(&setup.spec)
        .env("AWS_CONFIG_FILE", setup.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", setup.path("aws-credentials"))
        .output()
        .expect("list versions");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn seeds() -> u64 {
    std::env::var("REPLAUDIT_CANARY_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

/// The canary under faults: whatever fails, it must not panic and must leave nothing behind.
#[test]
fn canary_under_faults_leaves_nothing_behind() {
    let setup = Setup::seed(&[]);
    let proxy = FaultProxy::start(&setup.emu.endpoint);
    println!("canary under faults: rate, runs, requests, faulted, exit code, canary leftovers");
    for (i, rate) in [0.1, 0.3].into_iter().enumerate() {
        for seed in 0..seeds() {
            proxy.configure(&json!({"rate": rate, "seed": 100 + seed + 10 * i as u64, "stall_seconds": STALL_SECS}));
            let out = replaudit(setup.dir.path(), &proxy.endpoint)
                .args([
                    "canary",
                    "--quiet",
                    "--timeout",
                    "6",
                    "--canary-timeout",
                    "8",
                    "--canary-observe",
                    "3",
                ])
                // A fixed run id makes the requests, and so the injected faults, reproducible.
                .args(["--canary-run-id", &format!("faults-{i}-{seed}"), "--spec"])
                .arg(&setup.spec)
                .arg("--output-dir")
                .arg(setup.path(&format!("canary-{rate}-{seed}")))
                .output()
                .expect("run canary");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "panic: {stderr}");
            let code = out.status.code();
            assert!(
                matches!(code, Some(0) | Some(1) | Some(2)),
                "exit {code:?}: {stderr}"
            );
            // Late replicas of an interrupted wait land after the run; give them their time.
            std::thread::sleep(std::time::Duration::from_secs(2));
            let left = canary_leftovers(&setup);
            let st = proxy.stats();
            println!(
                "  {:>3.0}%  seed {seed}  requests {}  faulted {}  exit {code:?}  leftovers {}",
                rate * 100.0,
                st["requests"],
                st["faulted"],
                left.len()
            );
            if code == Some(2) {
                println!(
                    "        refused: {}",
                    stderr.lines().last().unwrap_or_default()
                );
            }
            let cleanup = std::fs::read_to_string(
                setup
                    .path(&format!("canary-{rate}-{seed}"))
                    .join("canary-latest.json"),
            )
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|r| {
                r["findings"]
                    .as_array()?
                    .iter()
                    .find(|f| f["id"] == "canary-cleanup")
                    .cloned()
            });
            assert!(
                left.is_empty(),
                "canary leftovers at {rate}: {left:?}\ncleanup finding: {cleanup:?}\n{stderr}"
            );
        }
    }
}
