//! Secrets: no access key id, secret access key or session token ever appears in anything
//! replaudit writes — stdout, stderr with `-vv` trace logging, the table/JSON/JUnit reports,
//! snapshots — for a full run with static keys, a run through sts:AssumeRole (temporary
//! credentials, read back from the emulator), and failing runs (wrong secret, unknown key id).
//!
//! Also measured, not asserted for key ids: `REPLAUDIT_LOG=trace` (every crate at trace, an
//! expert override of the `-v` levels). The AWS SDK treats access key ids as non-secret and
//! logs them there; secret keys and session tokens it redacts — that part is asserted.

use crate::hardening;

use hardening::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything one run produced: (where, text).
type Outputs = Vec<(String, String)>;

fn run(label: &str, cmd: Command, out_dirs: &[&Path]) -> Outputs {
    run_exiting(label, cmd, out_dirs, &[0, 1])
}

/// [`run`], expecting one of `codes` as the exit code.
fn run_exiting(label: &str, mut cmd: Command, out_dirs: &[&Path], codes: &[i32]) -> Outputs {
    let out = cmd.output().expect("run replaudit");
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        code.is_some_and(|c| codes.contains(&c)) && !stderr.contains("panicked"),
        "{label}: exit {code:?}\n{stderr}"
    );
    let mut v = vec![
        (
            format!("{label}: stdout"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
        (format!("{label}: stderr"), stderr),
    ];
    for d in out_dirs {
        for f in files_under(d) {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
            v.push((format!("{label}: {}", f.display()), text));
        }
    }
    v
}

fn files_under(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if p.is_file() {
        out.push(p.to_path_buf());
    } else if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            out.extend(files_under(&e.path()));
        }
    }
    out
}

/// The forms a value could take in output: as is, percent-encoded, JSON-escaped.
fn forms(v: &str) -> Vec<String> {
    let pct = v
        .replace('%', "%25")
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    let json = v.replace('/', "\\/");
    let mut f = vec![v.to_string(), pct, json];
    f.sort();
    f.dedup();
    f
}

/// Every (secret name, output place) where a secret appears, with masked context.
fn leaks(secrets: &[(String, String)], outputs: &Outputs) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in secrets {
        assert!(value.len() >= 16, "{name} is too short to be a real secret");
        for form in forms(value) {
            for (place, text) in outputs {
                if let Some(i) = text.find(&form) {
                    let start = text[..i]
                        .char_indices()
                        .rev()
                        .nth(80)
                        .map(|(j, _)| j)
                        .unwrap_or(0);
                    found.push(format!(
                        "{name} in {place}: ...{}<{name}>...",
                        text[start..i].replace('\n', " ")
                    ));
                }
            }
        }
    }
    found
}

/// Temporary credentials the emulator issued to replaudit's sessions (`replaudit` is the
/// default session name).
fn sts_credentials(endpoint: &str) -> Vec<(String, String)> {
    let data = http(endpoint, "GET", "/moto-api/data.json", "");
    let mut out = Vec::new();
    for r in data["sts"]["AssumedRole"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if r["session_name"] != "replaudit" {
            continue;
        }
        for k in ["access_key_id", "secret_access_key", "session_token"] {
            out.push((
                format!("sts {} {k}", s(&r["role_arn"])),
                s(&r[k]).to_string(),
            ));
        }
    }
    out
}

fn is_key_id(name: &str) -> bool {
    name.ends_with("access_key_id")
}

#[test]
fn credentials_never_appear_in_any_output() {
    let setup = Setup::seed(&[]);
    let cfg = setup.dir.path();
    let ep = &setup.emu.endpoint;
    let mut secrets = secrets_in(&setup.path("aws-credentials"));
    assert!(
        secrets.len() >= 4,
        "credentials file has the accounts' and principals' keys: {}",
        secrets.len()
    );
    // The matcher works: it finds the keys in the credentials file itself.
    let cred_text = std::fs::read_to_string(setup.path("aws-credentials")).unwrap();
    assert_eq!(
        leaks(
            &secrets,
            &vec![("credentials file".into(), cred_text.clone())]
        )
        .len(),
        secrets.len(),
        "the matcher finds every key in the credentials file"
    );

    let mut outputs: Outputs = Vec::new();
    // 1. Full audit with static keys: every format, the table on stdout, trace logging.
    let reports = setup.path("reports");
    let mut c = replaudit(cfg, ep);
    c.args(["-vv", "audit", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(&reports)
        .args(["--format", "table", "--format", "json", "--format", "junit"]);
    outputs.extend(run("audit -vv", c, &[&reports]));
    // 2. Snapshot.
    let snap = setup.path("snapshot.json");
    let mut c = replaudit(cfg, ep);
    c.args(["-vv", "snapshot", "--spec"])
        .arg(&setup.spec)
        .arg("-o")
        .arg(&snap);
    outputs.extend(run("snapshot -vv", c, &[&snap]));
    assert!(snap.exists(), "snapshot written");
    // 3. The principal x action matrix over the live state.
    let mut c = replaudit(cfg, ep);
    c.args(["-vv", "simulate", "--spec"]).arg(&setup.spec);
    outputs.extend(run("simulate -vv", c, &[]));

    // 4. Through sts:AssumeRole: the spec's accounts use role_arn + source_profile.
    let role_spec = setup.path("assume-role.toml");
    let out = Command::new(python())
        .arg(repo().join("tests/hardening/assume_role.py"))
        .arg("--provisioned-dir")
        .arg(cfg)
        .arg("--spec")
        .arg(&setup.spec)
        .arg("--out-spec")
        .arg(&role_spec)
        .output()
        .expect("assume_role.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let role_reports = setup.path("role-reports");
    let mut c = replaudit(cfg, ep);
    c.args(["-vv", "audit", "--spec"])
        .arg(&role_spec)
        .arg("--output-dir")
        .arg(&role_reports);
    outputs.extend(run("assume-role audit -vv", c, &[&role_reports]));
    let role_report: Value = serde_json::from_str(
        &std::fs::read_to_string(role_reports.join("audit-latest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        role_report["summary"]["error"], 0,
        "the assume-role audit read everything: {}",
        role_report["summary"]
    );
    let role_snap = setup.path("role-snapshot.json");
    let mut c = replaudit(cfg, ep);
    c.args(["-vv", "snapshot", "--spec"])
        .arg(&role_spec)
        .arg("-o")
        .arg(&role_snap);
    outputs.extend(run("assume-role snapshot -vv", c, &[&role_snap]));

    // 5. Failing: a wrong secret for one account, an unknown key id for the other.
    let bad_dir = setup.path("bad-credentials");
    std::fs::create_dir_all(&bad_dir).unwrap();
    std::fs::copy(setup.path("aws-config"), bad_dir.join("aws-config")).unwrap();
    let mut bad_text = cred_text.clone();
    let mut wrong: Vec<(String, String)> = Vec::new();
    let prov: Value =
        serde_json::from_str(&std::fs::read_to_string(setup.path("provisioned.json")).unwrap())
            .unwrap();
    let profiles: Vec<String> = prov["accounts"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| s(&a["profile"]).to_string())
        .collect();
    for (i, p) in profiles.iter().enumerate() {
        let (field, len) = if i % 2 == 0 {
            ("aws_secret_access_key", 40)
        } else {
            ("aws_access_key_id", 20)
        };
        let real = secrets
            .iter()
            .find(|(n, _)| n == &format!("{p}.{field}"))
            .map(|x| x.1.clone())
            .expect("profile key");
        let fake: String = format!("WRONG{}{}", i, "Q7x9Z2k4".repeat(6))[..len].to_string();
        bad_text = bad_text.replace(&real, &fake);
        wrong.push((format!("wrong {p}.{field}"), fake));
    }
    std::fs::write(bad_dir.join("aws-credentials"), &bad_text).unwrap();
    let bad_reports = setup.path("bad-reports");
    let mut c = replaudit(&bad_dir, ep);
    c.args(["-vv", "audit", "--spec"])
        .arg(&setup.spec)
        .arg("--output-dir")
        .arg(&bad_reports);
    // Every account's keys are wrong: the set-up check stops the run (exit 2) with one line
    // per account, before any other call.
    let bad = run_exiting("wrong-keys audit -vv", c, &[&bad_reports], &[2]);
    let bad_stderr = &bad[1].1;
    for p in &profiles {
        assert!(
            bad_stderr
                .lines()
                .any(|l| l.contains(&format!("(profile {p}, ")) && l.contains("rejected")),
            "the wrong keys of {p} are named: {bad_stderr}"
        );
    }
    outputs.extend(bad);
    let bad_snap = setup.path("bad-snapshot.json");
    let mut c = replaudit(&bad_dir, ep);
    c.args(["-vv", "snapshot", "--spec"])
        .arg(&setup.spec)
        .arg("-o")
        .arg(&bad_snap);
    outputs.extend(run_exiting(
        "wrong-keys snapshot -vv",
        c,
        &[&bad_snap],
        &[2],
    ));

    let sts = sts_credentials(ep);
    assert!(
        sts.len() >= 6,
        "the assume-role runs obtained temporary credentials in both accounts: {}",
        sts.len()
    );
    secrets.extend(sts.iter().cloned());
    secrets.extend(wrong);

    // Full trace of every crate (measured; only secret keys and tokens asserted).
    let trace_reports = setup.path("trace-reports");
    let mut c = replaudit(cfg, ep);
    c.env("REPLAUDIT_LOG", "trace")
        .args(["audit", "--quiet", "--spec"])
        .arg(&role_spec)
        .arg("--output-dir")
        .arg(&trace_reports);
    let trace = run(
        "REPLAUDIT_LOG=trace assume-role audit",
        c,
        &[&trace_reports],
    );
    let all_secrets: Vec<(String, String)> =
        secrets.iter().cloned().chain(sts_credentials(ep)).collect();
    let trace_leaks = leaks(&all_secrets, &trace);
    let trace_key_ids = trace_leaks
        .iter()
        .filter(|l| is_key_id(l.split(" in ").next().unwrap_or_default()))
        .count();
    let trace_bytes: usize = trace.iter().map(|(_, t)| t.len()).sum();

    let total_bytes: usize = outputs.iter().map(|(_, t)| t.len()).sum();
    let found = leaks(&secrets, &outputs);
    println!(
        "\nsecrets: {} values ({} key ids, {} secret keys, {} session tokens) searched in {} outputs ({} bytes)",
        secrets.len(),
        secrets.iter().filter(|x| is_key_id(&x.0)).count(),
        secrets.iter().filter(|x| x.0.ends_with("secret_access_key")).count(),
        secrets.iter().filter(|x| x.0.ends_with("session_token")).count(),
        outputs.len(),
        total_bytes
    );
    let kind = |l: &String| {
        let name = l.split(" in ").next().unwrap_or_default();
        if is_key_id(name) {
            "access key id"
        } else if name.ends_with("session_token") {
            "session token"
        } else {
            "secret access key"
        }
    };
    for k in ["access key id", "secret access key", "session token"] {
        let places: std::collections::BTreeSet<&str> = found
            .iter()
            .filter(|l| kind(l) == k)
            .filter_map(|l| l.split(" in ").nth(1))
            .map(|p| p.split(": ").next().unwrap_or_default())
            .collect();
        let n = found.iter().filter(|l| kind(l) == k).count();
        println!(
            "  {k}: found {n} time(s){}",
            if n > 0 {
                format!(" in {places:?}")
            } else {
                String::new()
            }
        );
    }
    for f in found.iter().take(3) {
        println!("    e.g. {f}");
    }
    println!(
        "  REPLAUDIT_LOG=trace, every crate ({trace_bytes} bytes): {} access key id(s) appear (the SDK logs key ids at INFO/DEBUG; not asserted), {} secret key(s) / token(s)",
        trace_key_ids,
        trace_leaks.len() - trace_key_ids
    );
    let trace_secret_leaks: Vec<&String> = trace_leaks
        .iter()
        .filter(|l| !is_key_id(l.split(" in ").next().unwrap_or_default()))
        .collect();
    assert!(
        trace_secret_leaks.is_empty(),
        "secret keys or session tokens in the full trace:\n{trace_secret_leaks:#?}"
    );
    assert!(
        found.is_empty(),
        "{} credential occurrence(s) in outputs:\n{}",
        found.len(),
        found.join("\n")
    );
}
