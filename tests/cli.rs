//! The CLI conventions of issue 14 end to end: selection, `--fail-on`, the mute file (with
//! expiry), comma-separated and repeated `--format`, `-o -`, `simulate --cases -`, durations,
//! `--version`, completions, man page, `rules --format json`.
//!
//! One emulated set-up with two planted defects is read once into a snapshot; the audits
//! below run offline on it (seconds each).

use crate::common;

use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_replaudit"))
}

struct Offline {
    _setup: Setup,
    snapshot: PathBuf,
    dir: tempfile::TempDir,
}

impl Offline {
    fn audit(&self, extra: &[&str]) -> Output {
        bin()
            .env("COLUMNS", "250")
            .args(["audit", "--spec"])
            .arg(seed_spec())
            .arg("--snapshot")
            .arg(&self.snapshot)
            .arg("--output-dir")
            .arg(self.dir.path().join("reports"))
            .args(extra)
            .output()
            .unwrap()
    }

    fn json(&self, extra: &[&str]) -> (Output, Value) {
        let mut args = vec!["--format", "json", "-o", "-"];
        args.extend_from_slice(extra);
        let out = self.audit(&args);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON report ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, v)
    }

    fn file(&self, name: &str, body: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    }
}

fn offline() -> Offline {
    let s = Setup::seed(&["dest-versioning-off", "clint-granted"]);
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snap.json");
    s.snapshot(&snapshot);
    Offline {
        _setup: s,
        snapshot,
        dir,
    }
}

fn failing(v: &Value) -> Vec<&Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail" || f["status"] == "error")
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn selection_thresholds_mutes_and_output_conventions() {
    let o = offline();

    // `-o -` writes exactly one format to stdout: a JSON document, nothing else.
    let (out, all) = o.json(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let fails = failing(&all);
    let fail_ids: Vec<&str> = fails.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(fail_ids.contains(&"bucket-versioning"), "{fail_ids:?}");
    assert!(fail_ids.contains(&"bucket-policy-grantees"), "{fail_ids:?}");
    assert!(
        !o.dir.path().join("reports").exists(),
        "-o writes no report folder"
    );
    // Every failing finding carries the spec line of its expectation.
    for f in &fails {
        assert_eq!(f["location"]["file"], seed_spec().display().to_string());
        assert!(f["location"]["line"].as_u64().unwrap() > 1, "{f}");
    }

    // -o with several formats is a usage error before any work.
    let out = o.audit(&["--format", "json,junit", "-o", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs exactly one --format"));

    // Comma-separated and repeated --format both work.
    let out = o.audit(&["--quiet", "--format", "json,junit", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for ext in ["json", "xml", "sarif"] {
        assert!(
            o.dir
                .path()
                .join(format!("reports/audit-latest.{ext}"))
                .exists(),
            "{ext} written"
        );
    }
    assert!(!o.dir.path().join("reports/audit-latest.txt").exists());

    // --rules / --skip-rules: ids and globs; a pattern matching no rule is a usage error.
    let (_, v) = o.json(&["--rules", "bucket-*,role-trust"]);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert!(
        ids.iter()
            .all(|i| i.starts_with("bucket-") || *i == "role-trust"),
        "{ids:?}"
    );
    let (out, v) = o.json(&[
        "--skip-rules",
        "bucket-versioning",
        "--skip-rules",
        "bucket-policy-*,change-*",
    ]);
    assert!(v["findings"].as_array().unwrap().iter().all(|f| {
        let id = f["id"].as_str().unwrap();
        id != "bucket-versioning" && !id.starts_with("bucket-policy-") && !id.starts_with("change-")
    }));
    let remaining_fail = !failing(&v).is_empty();
    assert_eq!(out.status.code(), Some(if remaining_fail { 1 } else { 0 }));
    let out = o.audit(&["--rules", "buket-*"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--rules buket-*: no rule matches"),
        "{}",
        stderr(&out)
    );

    // --fail-on: only findings at or above the threshold count; the report still shows all.
    let max = fails
        .iter()
        .map(|f| severity_rank(f["severity"].as_str().unwrap()))
        .max()
        .unwrap();
    let name = |r: usize| ["info", "low", "medium", "high", "critical"][r];
    let (out, v) = o.json(&["--fail-on", name(max)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(failing(&v).len(), fails.len());
    if max < 4 {
        let (out, v) = o.json(&["--fail-on", name(max + 1)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "nothing at or above {}",
            name(max + 1)
        );
        assert_eq!(
            failing(&v).len(),
            fails.len(),
            "the report still shows every finding"
        );
    }

    // Mutes: every failure muted until a future date -> exit 0, statuses kept, reason shown
    // in every format.
    let mut mute = String::new();
    for f in &fails {
        mute.push_str(&format!(
            "[[mute]]\nrule = \"{}\"\nresource = \"{}\"\nreason = \"SEC-7 accepted until the migration\"\nexpires = 2099-12-31\n\n",
            f["id"].as_str().unwrap(),
            f["resource"].as_str().unwrap()
        ));
    }
    let mute_file = o.file("mutes.toml", &mute);
    let m = mute_file.to_str().unwrap();
    let (out, v) = o.json(&["--mute", m]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for f in failing(&v) {
        assert_eq!(
            f["muted"]["reason"], "SEC-7 accepted until the migration",
            "{f}"
        );
    }
    assert_eq!(failing(&v).len(), fails.len(), "a mute keeps the status");
    for (format, marker) in [
        ("table", "muted: SEC-7 accepted until the migration"),
        ("junit", "[muted: SEC-7 accepted until the migration]"),
        (
            "sarif",
            "\"justification\": \"SEC-7 accepted until the migration\"",
        ),
    ] {
        let out = o.audit(&["--mute", m, "--format", format, "-o", "-"]);
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(body.contains(marker), "{format} shows the mute: {body}");
    }
    // An expired mute no longer mutes, and says so.
    let expired = o.file("expired.toml", &mute.replace("2099-12-31", "2020-01-31"));
    let (out, v) = o.json(&["--mute", expired.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(failing(&v).iter().all(|f| f.get("muted").is_none()));
    let notices = v["notices"].as_array().unwrap();
    assert!(
        notices
            .iter()
            .any(|n| n.as_str().unwrap().contains("expired on 2020-01-31")),
        "{notices:?}"
    );
    assert!(stderr(&out).contains("expired on 2020-01-31"));
    // A mute file that does not parse is a usage error naming the file.
    let bad = o.file("bad.toml", "[[mute]]\nrule = \"x\"\n");
    let out = o.audit(&["--mute", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.toml"), "{}", stderr(&out));
}

fn severity_rank(s: &str) -> usize {
    ["info", "low", "medium", "high", "critical"]
        .iter()
        .position(|x| *x == s)
        .unwrap()
}

#[test]
fn simulate_reads_cases_from_stdin() {
    let cases = std::fs::read_to_string(repo().join("tests/vectors/seed_scenario.json")).unwrap();
    let file_out = bin()
        .args(["simulate", "--cases"])
        .arg(repo().join("tests/vectors/seed_scenario.json"))
        .output()
        .unwrap();
    let mut child = bin()
        .args(["simulate", "--cases", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        file_out.status.code(),
        "{}",
        stderr(&out)
    );
    assert!(!out.stdout.is_empty());
    assert_eq!(
        out.stdout, file_out.stdout,
        "stdin and file give the same lines"
    );
}

#[test]
fn durations_share_one_syntax() {
    // Parsing happens before any work: a bad duration is a usage error naming the flag value.
    for (flag, bad) in [
        ("--deadline", "15 parsecs"),
        ("--metrics-window", "30s"),
        ("--canary-timeout", "0"),
        ("--since", "yesterday-ish"),
    ] {
        let out = bin()
            .args(["audit", "--spec", "does-not-matter.toml", flag, bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
        assert!(stderr(&out).contains(flag), "{flag}: {}", stderr(&out));
    }
    // Good ones parse: the run then fails on the missing spec, not on the flags.
    let out = bin()
        .args([
            "audit",
            "--spec",
            "does-not-exist.toml",
            "--deadline",
            "15m",
            "--metrics-window",
            "24h",
            "--canary-timeout",
            "900s",
            "--timeout",
            "1m",
            "--since",
            "7d",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid spec"),
        "flags accepted: {}",
        stderr(&out)
    );
    let out = bin()
        .args([
            "audit",
            "--spec",
            "does-not-exist.toml",
            "--since",
            "2026-11-30T05:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("invalid spec"), "{}", stderr(&out));
}

#[test]
fn version_completions_man_and_rules_json() {
    let out = bin().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert!(
        v.starts_with(&format!("replaudit {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    if let Some(h) = head {
        assert!(v.contains(&h), "--version names the commit {h}: {v}");
    }

    for shell in ["bash", "zsh", "fish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("fail-on") && s.contains("skip-rules"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("replaudit.bash");
    std::fs::write(
        &script,
        bin().args(["completions", "bash"]).output().unwrap().stdout,
    )
    .unwrap();
    let ok = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(ok.success(), "bash completion script parses");

    let out = bin().arg("man").output().unwrap();
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(
        man.starts_with(".ie") || man.contains(".TH replaudit"),
        "{man}"
    );
    assert!(man.contains("audit"));

    let out = bin().env("COLUMNS", "100").arg("rules").output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().all(|l| l.chars().count() <= 100),
        "rules fits COLUMNS=100:\n{table}"
    );

    let out = bin().args(["rules", "--format", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = v.as_array().unwrap();
    assert!(rules.len() > 30);
    assert!(rules
        .iter()
        .any(|r| r["id"] == "bucket-versioning" && r["severity"].is_string()));
    let out = bin()
        .args(["simulate", "--cases", "x", "--output", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--output is a value enum");
}

#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    p.exists()
}
