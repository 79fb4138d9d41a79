//! Shared helpers of the hardening tests (`tests/faults.rs`, `tests/least_privilege.rs`,
//! `tests/secrets.rs`), used with `#[path = "hardening/mod.rs"] mod hardening;`.
//!
//! The emulator and its provisioning come from tests/common; this module adds what only these
//! tests need: it runs the real `replaudit` binary with a chosen credentials folder and endpoint, drives this
//! folder's Python helpers (fault proxy, auditor users) over a JSON-lines stdin/stdout protocol,
//! and compares a run's findings with a baseline.
//!
//! Like tests/common, a missing virtualenv (`.moto/`) fails loudly: a green run must mean the
//! tests ran.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

// The emulator, its provisioning and the repo paths are tests/common's.
use crate::common;
pub use common::{python, repo, Setup};

/// A Python helper that prints one JSON line when ready, then answers one JSON line per JSON
/// line on its stdin, and exits on stdin EOF (so a crashed test never leaves it behind).
pub struct LineChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub banner: Value,
}

impl LineChild {
    pub fn spawn(script: &Path, args: &[&std::ffi::OsStr]) -> LineChild {
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read banner");
        let banner: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{} banner is not JSON ({e}): {line:?}", script.display()));
        LineChild {
            child,
            stdin,
            stdout,
            banner,
        }
    }

    /// Send one JSON command, read one JSON answer.
    pub fn ask(&mut self, cmd: &Value) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write command");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {line:?}"))
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `replaudit` command using the AWS config files in `config_dir` and sending every call to
/// `endpoint`, with nothing of the caller's own AWS environment.
pub fn replaudit(config_dir: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaudit"));
    c.env("AWS_CONFIG_FILE", config_dir.join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            config_dir.join("aws-credentials"),
        )
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("REPLAUDIT_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// The change-history window used by every run of a test, so that runs ask identical
/// questions (the default window starts 24 h before *now*, or at the previous report).
pub const SINCE: &str = "2020-01-01T00:00:00Z";

/// One `replaudit audit` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub report: Option<Value>,
    pub secs: f64,
}

impl Run {
    pub fn panicked(&self) -> bool {
        !matches!(self.code, Some(0) | Some(1)) || self.stderr.contains("panicked")
    }

    pub fn report(&self) -> &Value {
        self.report.as_ref().unwrap_or_else(|| {
            panic!(
                "no JSON report (exit {:?}); stderr:\n{}",
                self.code, self.stderr
            )
        })
    }
}

/// `replaudit audit --spec SPEC --output-dir OUT --since SINCE --quiet ARGS...`.
pub fn audit(mut cmd: Command, spec: &Path, out_dir: &Path, extra: &[&str]) -> Run {
    let t = std::time::Instant::now();
    let out = cmd
        .arg("audit")
        .arg("--spec")
        .arg(spec)
        .arg("--output-dir")
        .arg(out_dir)
        .args(["--since", SINCE, "--quiet"])
        .args(extra)
        .output()
        .expect("run replaudit");
    let report = std::fs::read_to_string(out_dir.join("audit-latest.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
        secs: t.elapsed().as_secs_f64(),
    }
}

pub fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().expect("findings array")
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `id resource status: message` of one finding, for messages.
pub fn line(f: &Value) -> String {
    format!(
        "{} {} {} {}: {}",
        s(&f["status"]),
        s(&f["id"]),
        s(&f["resource"]),
        s(&f["scenario"]),
        s(&f["message"])
    )
}

/// The call an `error` finding names and the cause it gives: the message contains
/// `<service>:<Api> failed: <cause>` (the collector's wording for `Fetched::Unknown`).
pub fn named_call(message: &str) -> Option<(String, String)> {
    let mut rest = message;
    while let Some(i) = rest.find(" failed: ") {
        let before = &rest[..i];
        let token = before.rsplit([' ', '(']).next().unwrap_or_default();
        let cause = rest[i + " failed: ".len()..].trim();
        if is_call_name(token) && !cause.is_empty() {
            return Some((token.to_string(), cause.to_string()));
        }
        rest = &rest[i + 1..];
    }
    None
}

fn is_call_name(t: &str) -> bool {
    let Some((svc, api)) = t.split_once(':') else {
        return false;
    };
    !svc.is_empty()
        && svc
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && api.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && api.chars().all(|c| c.is_ascii_alphanumeric())
}

/// How a run's findings relate to the baseline's.
#[derive(Default, Debug)]
pub struct Comparison {
    /// Baseline findings present again with the same id, resource, status and message.
    pub unchanged: usize,
    /// Baseline findings replaced by an `error` of the same rule (same resource, or a
    /// coarser one: a failed list call yields one error where the baseline had one finding
    /// per listed item).
    pub turned_error: usize,
    /// Baseline findings replaced by a `skip` of the same rule and resource (only counted
    /// when the comparison allows it; otherwise they are wrong verdicts).
    pub turned_skip: usize,
    /// Rule ids of the findings that turned error / skip.
    pub error_rules: BTreeMap<String, usize>,
    pub skip_rules: BTreeMap<String, usize>,
    /// Status flips (pass<->fail, pass->skip, ...), non-error findings the baseline does not
    /// have, baseline findings that vanished without an error of their rule.
    pub wrong: Vec<String>,
    /// Findings that kept their status while their message changed to name a call that failed
    /// (`... s3:GetBucketEncryption failed: AccessDenied ...`): the rule saw the data was missing
    /// and proved its verdict for every value it could have had (e.g. access-expectation with
    /// an unknown Bucket Key setting evaluates both KMS contexts). Not a wrong verdict.
    pub proven_despite: Vec<String>,
    /// `error` findings that do not name the failed call and its cause.
    pub unexplained_errors: Vec<String>,
    /// Call and cause of every error finding (`call -> cause -> count`).
    pub causes: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Compare a run with the baseline. A finding is matched on (rule id, resource, status,
/// message); the message is part of the key because one rule reports several findings on one
/// resource (change history, config rules, access expectations), and it is deterministic for
/// the same state. `allow_skip`: a finding may turn `skip` (least privilege: "no pass that
/// depended on the missing data").
pub fn compare(baseline: &Value, run: &Value, allow_skip: bool) -> Comparison {
    type Key = (String, String, String, String);
    let key = |f: &Value| -> Key {
        (
            s(&f["id"]).to_string(),
            s(&f["resource"]).to_string(),
            s(&f["status"]).to_string(),
            s(&f["message"]).to_string(),
        )
    };
    let mut c = Comparison::default();
    let mut base: BTreeMap<Key, usize> = BTreeMap::new();
    for f in findings(baseline) {
        *base.entry(key(f)).or_default() += 1;
    }
    let mut extra: Vec<&Value> = Vec::new();
    let mut errors: Vec<&Value> = Vec::new();
    for f in findings(run) {
        if f["status"] == "error" {
            errors.push(f);
            match named_call(s(&f["message"])) {
                Some((call, cause)) => {
                    // Group causes by error code (the text before the first ':').
                    let cause = cause.split(": ").next().unwrap_or_default().to_string();
                    *c.causes.entry(call).or_default().entry(cause).or_default() += 1;
                }
                None => c.unexplained_errors.push(line(f)),
            }
            continue;
        }
        match base.get_mut(&key(f)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                c.unchanged += 1;
            }
            _ => extra.push(f),
        }
    }
    // Baseline findings not seen again, by (id, resource, message) for flip detection.
    let mut missing: Vec<Key> = Vec::new();
    for (k, n) in base {
        for _ in 0..n {
            missing.push(k.clone());
        }
    }
    for f in extra {
        let (id, res, status, msg) = key(f);
        if allow_skip && status == "skip" {
            if let Some(i) = missing.iter().position(|m| m.0 == id && m.1 == res) {
                missing.remove(i);
                c.turned_skip += 1;
                *c.skip_rules.entry(id).or_default() += 1;
                continue;
            }
        }
        if let Some(i) = missing
            .iter()
            .position(|m| m.0 == id && m.1 == res && m.3 == msg)
        {
            let m = missing.remove(i);
            c.wrong
                .push(format!("{} -> {status}: {id} {res}: {msg}", m.2));
        } else if let Some(i) = missing
            .iter()
            .position(|m| m.0 == id && m.1 == res && m.2 == status && named_call(&msg).is_some())
        {
            missing.remove(i);
            c.proven_despite
                .push(format!("{status}: {id} {res}: now '{msg}'"));
        } else if let Some(i) = missing.iter().position(|m| m.0 == id && m.1 == res) {
            let m = missing.remove(i);
            c.wrong.push(format!(
                "{} -> {status}: {id} {res}: baseline '{}', now '{msg}'",
                m.2, m.3
            ));
        } else {
            c.wrong
                .push(format!("new {status} finding: {id} {res}: {msg}"));
        }
    }
    for (id, res, status, msg) in missing {
        let same_resource = errors.iter().any(|e| e["id"] == id && e["resource"] == res);
        let same_rule = errors.iter().any(|e| e["id"] == id);
        if same_resource || same_rule {
            c.turned_error += 1;
            *c.error_rules.entry(id).or_default() += 1;
        } else {
            c.wrong.push(format!(
                "{status} finding vanished without an error of its rule: {id} {res}: {msg}"
            ));
        }
    }
    c
}

/// A minimal HTTP/1.1 request to a loopback helper (no client crate in dev-dependencies).
pub fn http(endpoint: &str, method: &str, path: &str, body: &str) -> Value {
    let hostport = endpoint.trim_start_matches("http://");
    let port = hostport.rsplit(':').next().expect("port");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port")))
        .expect("connect helper");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("read timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"))
}

/// The fault-injecting proxy (tests/hardening/faultproxy.py) in front of `upstream`.
pub struct FaultProxy {
    _proc: LineChild,
    pub endpoint: String,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        let proc = LineChild::spawn(
            &repo().join("tests/hardening/faultproxy.py"),
            &["--upstream".as_ref(), upstream.as_ref()],
        );
        let endpoint = proc.banner["endpoint"]
            .as_str()
            .expect("endpoint")
            .to_string();
        FaultProxy {
            _proc: proc,
            endpoint,
        }
    }

    /// Set rate / seed / stall / weights and reset the counters.
    pub fn configure(&self, cfg: &Value) -> Value {
        http(&self.endpoint, "POST", "/_faults/config", &cfg.to_string())
    }

    pub fn stats(&self) -> Value {
        http(&self.endpoint, "GET", "/_faults/stats", "")
    }
}

/// Every access key id and secret access key in an AWS shared credentials file.
pub fn secrets_in(credentials_file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(credentials_file).expect("read credentials file");
    let mut out = Vec::new();
    let mut profile = String::new();
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            profile = l.trim_matches(['[', ']']).to_string();
        } else if let Some((k, v)) = l.split_once('=') {
            let k = k.trim();
            if k == "aws_access_key_id" || k == "aws_secret_access_key" || k == "aws_session_token"
            {
                out.push((format!("{profile}.{k}"), v.trim().to_string()));
            }
        }
    }
    out
}
